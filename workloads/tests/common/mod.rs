//! Helpers the workload CLI tests share: a scratch directory per test, running a binary,
//! and the checks every report must pass (its files, the summary's keys, the `.hgrm` and
//! `.hlog` files, the SVGs, the page, the MMU table and the gctrace log). Each test crate
//! uses a subset.
#![allow(dead_code)]

pub mod trace_check;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use workloads::harness::hlog::{read_intervals, LATENCY_TAG, PAUSE_TAG};
use workloads::harness::parse_percentile_distribution;
use workloads::harness::run::FILES;
use workloads::harness::summary::SUMMARY_KEYS;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("workloads-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path inside the directory, as a string for a command line.
    pub fn join(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bin` (a `CARGO_BIN_EXE_*` path) with `args`.
pub fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `bin` (a `CARGO_BIN_EXE_*` path) with `args` in the directory `dir`, so that
/// anything it writes to a relative path (a default `--out`) lands there.
pub fn run_in(dir: &Path, bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// Runs `bin` and asserts it succeeded; returns its output.
pub fn run_ok(bin: &str, args: &[&str]) -> Output {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts that `bin args` is a usage error: exit status 2, a message on stderr that
/// says `error` (and `expect`, when given), nothing on stdout.
pub fn assert_usage_error(bin: &str, args: &[&str], expect: Option<&str>) {
    let out = run(bin, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains("error"), "{args:?}: {err}");
    if let Some(want) = expect {
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

/// The names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// Checks the report in `dir` of a run of `workload` and returns its summary: exactly the
/// documented files; summary.json with the documented keys; `.hgrm` files that parse and
/// count what the summary counts; interval logs that read back (one pause interval per
/// cycle) with the same counts; well-formed SVG documents; a page that embeds them and
/// links the other files; the
/// MMU table; a gctrace line per cycle.
pub fn check_report(dir: &Path, workload: &str) -> Value {
    let mut want: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(names(dir), want, "exactly the report files, no temporaries");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();

    let v: Value = serde_json::from_str(&read("summary.json")).expect("summary.json is JSON");
    let mut top: BTreeSet<&str> = SUMMARY_KEYS.into();
    if v.get("leaks").is_some() {
        top.insert("leaks");
        assert_eq!(
            keys(&v["leaks"]),
            [
                "checked",
                "leaked_objects",
                "leaked_bytes",
                "callback_leaks",
                "callback_leak_reports"
            ]
            .into()
        );
    }
    assert_eq!(keys(&v), top);
    assert_eq!(v["workload"], workload);
    let latency: BTreeSet<&str> = ["count", "p50", "p90", "p99", "p999", "max"].into();
    for field in [
        "pause_ns",
        "ttsp_ns",
        "mutator_latency_ns",
        "callback_latency_ns",
    ] {
        assert_eq!(keys(&v[field]), latency, "{field}");
        let s = &v[field];
        for q in ["p50", "p90", "p99", "p999"] {
            assert!(
                s[q].as_u64().unwrap() <= s["max"].as_u64().unwrap(),
                "{field}.{q}"
            );
        }
    }
    for field in ["finalizers", "cleanups"] {
        assert_eq!(
            v[field],
            serde_json::json!({"registered": 0, "queued": 0, "executed": 0, "stopped": 0})
        );
    }
    assert_eq!(v["callback_latency_ns"]["count"], 0);
    assert_eq!(
        keys(&v["verify"]),
        ["enabled", "cycles_checked", "lost_objects"].into()
    );
    assert!(v["wall_s"].as_f64().unwrap() > 0.0);
    for flag in [
        "gogc", "barrier", "stw", "mutators", "seed", "out", "verify",
    ] {
        assert!(v["config"].get(flag).is_some(), "config.{flag}");
    }

    let pauses = parse_percentile_distribution(&read("pauses.hgrm")).expect("pauses.hgrm");
    assert_eq!(pauses.total_count, v["pause_ns"]["count"].as_u64().unwrap());
    let lat = parse_percentile_distribution(&read("latency.hgrm")).expect("latency.hgrm");
    assert_eq!(
        lat.total_count,
        v["mutator_latency_ns"]["count"].as_u64().unwrap()
    );
    if lat.total_count > 0 {
        // µs in the file, ns in the summary (within the histogram's precision).
        let max_ns = v["mutator_latency_ns"]["max"].as_f64().unwrap();
        assert!((lat.max * 1000.0 - max_ns).abs() <= max_ns / 500.0 + 1.0);
    }

    check_interval_logs(dir, &v);
    trace_check::check_trace(dir, &v);
    for svg in ["latency.svg", "mmu.svg", "pauses.svg", "timeline.svg"] {
        let text = read(svg);
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{svg}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{svg}");
    }
    let page = read("index.html");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&page, options).expect("index.html");
    let sources: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("src"))
        .collect();
    assert_eq!(
        sources,
        ["latency.svg", "pauses.svg", "mmu.svg", "timeline.svg"],
        "the plots"
    );
    let links: BTreeSet<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("href"))
        .collect();
    for file in FILES.iter().filter(|f| **f != "index.html") {
        assert!(links.contains(file), "index.html links {file}");
    }

    let csv = read("mmu.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("window_s,utilization"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), v["mmu"].as_array().unwrap().len());
    for row in rows {
        let (w, u) = row.split_once(',').unwrap();
        assert!(w.parse::<f64>().unwrap() > 0.0);
        assert!((0.0..=1.0).contains(&u.parse::<f64>().unwrap()), "{row}");
    }

    let trace = read("gctrace.log");
    let cycles = v["gc_cycles"].as_u64().unwrap();
    assert_eq!(trace.lines().count() as u64, cycles, "{trace}");
    for (i, line) in trace.lines().enumerate() {
        assert!(line.starts_with(&format!("gc {} @", i + 1)), "{line}");
        assert!(
            line.contains(" ms clock, ") && line.contains(" MB goal, "),
            "{line}"
        );
    }
    v
}

/// Reads `pauses.hlog` and `latency.hlog` back interval by interval: one `pause` interval
/// per cycle whose counts add up to the summary's pause count, and `latency` intervals
/// (one a second) holding every operation the summary counts between them.
fn check_interval_logs(dir: &Path, v: &Value) {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let pauses = read_intervals(&read("pauses.hlog")).expect("pauses.hlog");
    assert_eq!(pauses.len() as u64, v["gc_cycles"].as_u64().unwrap());
    assert!(pauses.iter().all(|i| i.tag.as_deref() == Some(PAUSE_TAG)));
    let counted: u64 = pauses.iter().map(|i| i.histogram.len()).sum();
    assert_eq!(counted, v["pause_ns"]["count"].as_u64().unwrap());
    let latency = read_intervals(&read("latency.hlog")).expect("latency.hlog");
    assert!(latency
        .iter()
        .all(|i| i.tag.as_deref() == Some(LATENCY_TAG)));
    let count = v["mutator_latency_ns"]["count"].as_u64().unwrap();
    let counted: u64 = latency.iter().map(|i| i.histogram.len()).sum();
    assert_eq!(counted, count, "the intervals hold every operation");
    assert_eq!(latency.is_empty(), count == 0);
    // One interval a second (the first may start at 0, before its full second).
    for pair in latency.windows(2) {
        assert!(pair[0].start <= pair[1].start, "intervals in time order");
        assert!(pair[0].length <= std::time::Duration::from_millis(1001));
    }
}

/// Checks that `--json` printed exactly the summary.json of the report in `dir`.
pub fn assert_stdout_is_summary(out: &Output, dir: &Path) {
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(printed, file);
}
