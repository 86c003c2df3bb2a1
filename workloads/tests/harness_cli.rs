//! The flags every workload binary shares, checked on each: invalid values exit 2 with a
//! message and nothing on stdout (and no report directory), an unusable `--out` exits 2
//! and creates nothing, and `--help` documents the workload's defaults. Also
//! `results-index`, the page over a results tree of such reports.

mod common;

use common::{assert_usage_error, check_report, names, run, run_ok, Scratch};

const BINARIES: [(&str, &str); 3] = [
    ("gcbench", env!("CARGO_BIN_EXE_gcbench")),
    ("binary-trees", env!("CARGO_BIN_EXE_binary-trees")),
    ("lru", env!("CARGO_BIN_EXE_lru")),
];

#[test]
fn invalid_shared_flags_exit_2_and_write_nothing() {
    let scratch = Scratch::new("invalid");
    let out_dir = scratch.join("never");
    for (name, bin) in BINARIES {
        for (args, says) in [
            (&["--gogc", "fast"][..], "invalid GOGC value"),
            (
                &["--barrier", "steele"],
                "expected one of hybrid, go-hybrid, dijkstra, yuasa, none",
            ),
            (&["--mark-workers", "many"], "invalid worker count"),
            (&["--cleanup-workers", "-1"], "invalid worker count"),
            (&["--heap-limit", "12XB"], "invalid size"),
            (&["--memory-limit", "0"], "invalid size"),
            (&["--duration", "0"], "invalid duration"),
            (&["--duration", "-1"], "invalid duration"),
            (&["--gomaxprocs", "-2"], "invalid GOMAXPROCS"),
            (&["--duration", "NaN"], "invalid duration"),
            (&["--mutators", "0"], "invalid mutator count"),
            (&["--gomaxprocs", "0"], "invalid GOMAXPROCS"),
            (&["--seed", "x"], "--seed"),
            (&["--seed", "-1"], "--seed"),
            (&["--verify=maybe"], "error"),
            (&["--frobnicate"], "--frobnicate"),
            (&["--concurrent"], "--concurrent"),
        ] {
            let mut all = args.to_vec();
            all.extend(["--out", &out_dir]);
            assert_usage_error(bin, &all, Some(says));
        }
        assert!(names(&scratch.0).is_empty(), "{name} created something");
    }
}

#[test]
fn an_out_dir_under_a_file_exits_2_and_creates_nothing() {
    let scratch = Scratch::new("unwritable");
    let file = scratch.0.join("plain");
    std::fs::write(&file, "not a directory").unwrap();
    let target = file.join("sub/run").display().to_string();
    for (name, bin) in BINARIES {
        let out = run(bin, &["--duration", "0.1", "--out", &target]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("cannot create the output directory"),
            "{name}: {err}"
        );
        assert!(err.contains(&file.display().to_string()), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(names(&scratch.0), ["plain"], "{name}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
    }
}

#[test]
fn help_shows_each_workloads_defaults() {
    for (name, bin) in BINARIES {
        let out = run(bin, &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{name}");
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in [
            "--gogc",
            "--barrier",
            "--stw",
            "--mutators",
            "--mark-workers",
            "--cleanup-workers",
            "--heap-limit",
            "--memory-limit",
            "--gomaxprocs",
            "--duration",
            "--seed",
            "--verify",
            "--check-leaks",
            "--gctrace",
            "--out",
            "--json",
            "--quiet",
        ] {
            assert!(help.contains(flag), "{name}: {flag}");
        }
        assert!(
            help.contains(&format!("[default: results/{name}/latest]")),
            "{name}: {help}"
        );
    }
    let help = |bin: &str| String::from_utf8(run(bin, &["--help"]).stdout).unwrap();
    assert!(help(BINARIES[0].1).contains("Ignored (validated only)"));
    assert!(
        help(BINARIES[1].1).contains("[default: 2]"),
        "binary-trees runs 2 mutators"
    );
    let lru = help(BINARIES[2].1);
    assert!(
        lru.contains("concurrent least-recently-used cache"),
        "{lru}"
    );
    let duration = lru.split("--duration").nth(1).unwrap();
    assert!(
        duration.contains("Seconds to run") && duration.contains("[default: 2]"),
        "{lru}"
    );
}

/// A heap cap too small for the workload: one line saying so, status 3 (no panic
/// report), on the main thread (gcbench) and on mutator threads (binary-trees), and the
/// report directories the run created are gone again.
#[test]
fn reaching_the_heap_cap_is_a_clear_out_of_memory_exit() {
    let scratch = Scratch::new("oom");
    for (name, bin) in [BINARIES[0], BINARIES[1]] {
        let parent = scratch.join(&format!("{name}-new"));
        let out_dir = format!("{parent}/run");
        let out = run(bin, &["--heap-limit", "1MiB", "--out", &out_dir]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}: out of memory: the heap holds")),
            "{name}: {err}"
        );
        assert!(err.contains("--heap-limit"), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(
            !std::path::Path::new(&parent).exists(),
            "{name}: {parent} left behind"
        );
    }
}

/// `results-index` over a results tree holding one fresh report: the page links the run's
/// own page, which the run wrote; a missing tree exits 2 and writes nothing.
#[test]
fn results_index_links_a_fresh_run() {
    let scratch = Scratch::new("index");
    let report = scratch.0.join("results/gcbench/small");
    let report_arg = report.display().to_string();
    run_ok(BINARIES[0].1, &["--quiet", "--out", &report_arg]);
    check_report(&report, "gcbench");
    let index = env!("CARGO_BIN_EXE_results-index");
    let results = scratch.join("results");
    let out = run_ok(index, &["--results", &results]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 runs, 0 workloads"));
    let page = std::fs::read_to_string(scratch.0.join("results/index.html")).unwrap();
    assert!(page.contains("href=\"gcbench/small/index.html\""), "{page}");
    assert!(page.contains("No comparison runs found."), "{page}");

    let missing = scratch.join("nowhere");
    let out = run(index, &["--results", &missing]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nowhere") && err.contains("not a directory"),
        "{err}"
    );
    assert_eq!(names(&scratch.0), ["results"]);
}
