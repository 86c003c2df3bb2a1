//! A report directory shows one whole run or none (issue 18, "reports that mix runs"):
//! a run replaces an older report whole, two runs into one `--out` at once end with one
//! run's files, an `--out` too long for the report's files fails at start, and SIGTERM
//! or SIGINT during a run leaves the previous report as it was. Each runs `lru`, whose
//! length is its `--duration`.

mod common;

use common::{check_report, names, run, run_ok, Scratch};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LRU: &str = env!("CARGO_BIN_EXE_lru");

/// A short `lru` run with seed `seed` into `out`.
fn lru_args<'a>(seed: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["--duration", "0.2", "--seed", seed, "--quiet", "--out", out]
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The `StartTime` header of an interval log in `dir`.
fn start_time(dir: &Path, log: &str) -> String {
    let text = std::fs::read_to_string(dir.join(log)).unwrap();
    let line = text.lines().find(|l| l.starts_with("#[StartTime: "));
    line.unwrap_or_else(|| panic!("{log}: {text}")).to_string()
}

#[test]
fn a_report_replaces_an_older_one_whole() {
    let scratch = Scratch::new("replace");
    let out = scratch.0.join("run");
    let out_s = out.display().to_string();
    run_ok(LRU, &lru_args("11", &out_s));
    // A file of the older report that the new one does not write.
    std::fs::write(out.join("notes.txt"), "older report").unwrap();
    run_ok(LRU, &lru_args("12", &out_s));
    let v = check_report(&out, "lru");
    assert_eq!(v["config"]["seed"], 12);
    assert_eq!(names(&scratch.0), ["run"], "no staging or aside left");
}

/// Four runs with different seeds into one `--out` at once (a new one, so they also race
/// to create it), five times: all succeed, and the report is one of them: a whole report
/// (its histograms count what its summary counts) whose page shows the summary's seed
/// (no other) and wall time, and whose two interval logs start at the same time.
#[test]
fn runs_into_one_out_at_once_end_with_one_runs_files() {
    let scratch = Scratch::new("parallel");
    for round in 0..5 {
        let out = scratch.0.join(format!("round{round}/run"));
        let out_s = out.display().to_string();
        let seeds = ["424242", "737373", "515151", "868686"];
        let children: Vec<_> = seeds
            .iter()
            .map(|seed| {
                Command::new(LRU)
                    .args(lru_args(seed, &out_s))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let done = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&done.stderr);
            assert!(done.status.success(), "round {round}: {err}");
        }
        let v = check_report(&out, "lru");
        let seed = v["config"]["seed"].to_string();
        assert!(seeds.contains(&seed.as_str()), "round {round}: {seed}");
        let page = std::fs::read_to_string(out.join("index.html")).unwrap();
        for s in seeds {
            assert_eq!(
                page.contains(s),
                s == seed,
                "round {round}: {seed}'s page, {s}"
            );
        }
        let wall = format!("{:.3} s", v["wall_s"].as_f64().unwrap());
        assert!(page.contains(&wall), "round {round}: {wall}");
        assert_eq!(
            start_time(&out, "pauses.hlog"),
            start_time(&out, "latency.hlog"),
            "round {round}"
        );
        assert_eq!(names(&out.with_file_name("")), ["run"], "round {round}");
    }
}

/// An `--out` whose own write check (`.write-check…`) fits in PATH_MAX but whose report
/// files (staged one directory level longer) do not: refused at start, status 2, the
/// path named, nothing written (the parents made on the way are removed again). The
/// length is set for a child pid with as many digits as this test's pid, where the
/// harness's old per-file temporary names (`.latency.hgrm.tmp-<pid>-2`) did not fit
/// after the whole run.
#[test]
fn an_out_too_long_for_the_report_fails_at_start() {
    let scratch = Scratch::new("long");
    let digits = std::process::id().to_string().len();
    let want = 4095 - 20 - digits;
    let mut out = scratch.0.display().to_string();
    while want - out.len() > 250 {
        out.push('/');
        out.push_str(&"y".repeat(200));
    }
    let last = want - out.len() - 1;
    out.push('/');
    out.push_str(&"z".repeat(last));
    assert_eq!(out.len(), want);
    let done = run(LRU, &["--duration", "0.2", "--json", "--out", &out]);
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("lru: cannot create the output directory {out}")),
        "{err}"
    );
    assert!(err.contains("staging directory"), "{err}");
    assert!(done.stdout.is_empty());
    assert!(names(&scratch.0).is_empty(), "{:?}", names(&scratch.0));
}

/// SIGTERM and SIGINT sent to a running `lru` once its staging directory exists (polled
/// for, bounded by the run's own length): status 143 or 130, the message, the staging
/// directory gone and the previous report exactly as it was.
#[test]
fn an_interrupted_run_keeps_the_previous_report() {
    let scratch = Scratch::new("signal");
    let out = scratch.0.join("run");
    let out_s = out.display().to_string();
    run_ok(LRU, &lru_args("5", &out_s));
    let before: Vec<(String, Vec<u8>)> = names(&out)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap()))
        .collect();
    for (signal, status) in [("TERM", 143), ("INT", 130)] {
        let mut child = Command::new(LRU)
            .args(["--duration", "60", "--quiet", "--out", &out_s])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let staged = |names: &[String]| names.iter().any(|n| n.starts_with(".run.staging-"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !staged(&names(&scratch.0)) {
            let exited = child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "no staging dir"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = child.id().to_string();
        run_ok("kill", &[&format!("-{signal}"), &pid]);
        let done = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(status), "SIG{signal}: {err}");
        assert!(
            err.contains(&format!("lru: interrupted by SIG{signal}; wrote no report")),
            "{err}"
        );
        assert_eq!(names(&scratch.0), ["run"], "SIG{signal}: staging removed");
        for (name, bytes) in &before {
            assert_eq!(&std::fs::read(out.join(name)).unwrap(), bytes, "{name}");
        }
        assert_eq!(names(&out).len(), before.len());
    }
    assert_eq!(summary(&out)["config"]["seed"], 5);
}
