//! gcbench as a user runs it: concurrent by default and `--stw` for stop-the-world, a
//! complete report in `--out` and the same summary on stdout with `--json`, the text
//! report otherwise; invalid flags exit 2 with a clear message. Also allocbench's run.

mod common;

use common::{assert_stdout_is_summary, assert_usage_error, check_report, run_ok, Scratch};
use serde_json::Value;

const GCBENCH: &str = env!("CARGO_BIN_EXE_gcbench");

/// Runs gcbench with `args --json --out <scratch>/run`; returns the summary after
/// checking the report.
fn gcbench_json(tag: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--json", "--out", &out_dir]);
    let out = run_ok(GCBENCH, &all);
    let dir = scratch.0.join("run");
    assert_stdout_is_summary(&out, &dir);
    check_report(&dir, "gcbench")
}

#[test]
fn stw_verified_run_loses_nothing_and_checks_every_cycle() {
    let v = gcbench_json("stw", &["--stw", "--verify", "--check-leaks"]);
    assert_eq!(v["config"]["verify"], true);
    assert_eq!(v["config"]["stw"], true);
    assert_eq!(v["config"]["gogc"], "100");
    let cycles = v["gc_cycles"].as_u64().unwrap();
    assert!(cycles > 0);
    assert_eq!(v["verify"]["enabled"], true);
    assert_eq!(v["verify"]["lost_objects"], 0);
    assert!(v["verify"]["cycles_checked"].as_u64().unwrap() >= cycles);
    assert!(
        v["heap_peak_bytes"].as_u64().unwrap() > 4_000_000,
        "the array alone is 4 MB"
    );
    assert_eq!(
        v["pause_ns"]["count"].as_u64().unwrap(),
        cycles,
        "one pause per stop-the-world cycle"
    );
    assert_eq!(v["leaks"]["checked"], true);
    assert_eq!(v["leaks"]["leaked_objects"], 0);
    assert_eq!(v["leaks"]["leaked_bytes"], 0);
    let f = &v["findings"];
    assert_eq!(f["long_lived_ok"], true);
    assert_eq!(f["long_lived_nodes"], (1 << 17) - 1);
    assert_eq!(f["array_ok"], true);
    let trees = f["trees"].as_array().unwrap();
    let depths: Vec<u64> = trees.iter().map(|t| t["depth"].as_u64().unwrap()).collect();
    assert_eq!(depths, [4, 6, 8, 10, 12, 14, 16]);
    assert_eq!(trees[0]["count"], 33824);
    assert_eq!(trees[6]["count"], 8);
    // Each tree, built either way, is one operation.
    let built: u64 = trees.iter().map(|t| 2 * t["count"].as_u64().unwrap()).sum();
    assert_eq!(v["mutator_latency_ns"]["count"].as_u64().unwrap(), built);
}

#[test]
fn both_apis_build_the_same_trees_and_lose_nothing() {
    for api in ["handle", "scope"] {
        let v = gcbench_json(&format!("api-{api}"), &["--stw", "--verify", "--api", api]);
        let f = &v["findings"];
        assert_eq!(f["api"], api);
        assert_eq!(f["long_lived_nodes"], (1 << 17) - 1, "{api}");
        assert_eq!(f["long_lived_ok"], true, "{api}");
        assert_eq!(v["verify"]["lost_objects"], 0, "{api}");
        assert!(v["gc_cycles"].as_u64().unwrap() > 0, "{api}");
    }
}

/// A concurrent run under `barrier`, verified: nothing lost, two pauses a cycle.
fn concurrent_run_loses_nothing(barrier: &str) {
    let v = gcbench_json(barrier, &["--barrier", barrier, "--verify"]);
    assert_eq!(v["config"]["barrier"], barrier);
    assert_eq!(v["config"]["stw"], false);
    let cycles = v["gc_cycles"].as_u64().unwrap();
    assert!(cycles > 0);
    assert_eq!(v["verify"]["lost_objects"], 0, "{barrier}");
    assert!(v["verify"]["cycles_checked"].as_u64().unwrap() >= cycles);
    assert!(
        v["pause_ns"]["count"].as_u64().unwrap() >= 2 * cycles,
        "two pauses a cycle"
    );
    assert_eq!(v["findings"]["long_lived_ok"], true);
}

#[test]
fn concurrent_hybrid_loses_nothing() {
    concurrent_run_loses_nothing("hybrid");
}

#[test]
fn concurrent_dijkstra_loses_nothing() {
    concurrent_run_loses_nothing("dijkstra");
}

#[test]
fn concurrent_yuasa_loses_nothing() {
    concurrent_run_loses_nothing("yuasa");
}

#[test]
fn mark_workers_zero_marks_by_assists_alone() {
    let v = gcbench_json("assists", &["--mark-workers", "0", "--verify"]);
    assert_eq!(v["config"]["mark_workers"], "0");
    assert!(v["gc_cycles"].as_u64().unwrap() > 0);
    assert_eq!(v["verify"]["lost_objects"], 0);
}

#[test]
fn gogc_off_runs_no_cycle() {
    let v = gcbench_json("off", &["--gogc", "off"]);
    assert_eq!(v["gc_cycles"], 0);
    assert_eq!(v["pause_ns"]["count"], 0);
    assert_eq!(v["config"]["gogc"], "off");
    assert_eq!(v["verify"]["enabled"], false);
}

#[test]
fn text_report_names_the_phases() {
    let scratch = Scratch::new("text");
    let out = run_ok(GCBENCH, &["--gogc", "400", "--out", &scratch.join("run")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Stretching memory with a binary tree of depth 18"));
    assert!(text.contains("Creating 8 trees of depth 16"));
    assert!(text.contains("Top down construction took"));
    assert!(text.contains("Completed in"));
    assert!(text.contains("Mark CPU (total)"), "concurrent by default");
    assert!(scratch.0.join("run/summary.json").is_file());
}

#[test]
fn invalid_flags_exit_2_with_a_message() {
    for args in [
        &["--gogc", "fast"][..],
        &["--gogc", ""],
        &["--verify=maybe"],
        &["--frobnicate"],
        &["--concurrent"],
        &["--mark-workers", "-1"],
        &["--mark-workers", "many"],
    ] {
        assert_usage_error(GCBENCH, args, None);
    }
    assert_usage_error(
        GCBENCH,
        &["--gogc", "fast"],
        Some("invalid GOGC value \"fast\""),
    );
    assert_usage_error(GCBENCH, &["--mutators", "2"], Some("at most 1 mutator"));
}

#[test]
fn allocbench_runs_and_reports_both_allocators() {
    let out = run_ok(
        env!("CARGO_BIN_EXE_allocbench"),
        &["--objects", "10000", "--runs", "1", "--json"],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        for k in ["testbed_ns", "scope_ns", "handle_ns", "mimalloc_ns"] {
            assert!(f(k) > 0.0, "{k} in {r}");
        }
        // testbed_ns, which the comparison with Go reads, is the scope API's.
        assert_eq!(f("testbed_ns"), f("scope_ns"));
        let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(near(f("ratio"), f("scope_ns") / f("mimalloc_ns")), "{r}");
        assert!(
            near(f("handle_ratio"), f("handle_ns") / f("mimalloc_ns")),
            "{r}"
        );
    }
    // The loops callgrind measures run alone and print nothing.
    for only in ["scope", "handle", "mimalloc"] {
        let out = run_ok(
            env!("CARGO_BIN_EXE_allocbench"),
            &[
                "--objects",
                "1000",
                "--runs",
                "1",
                "--only",
                only,
                "--shape",
                "2",
            ],
        );
        assert!(out.stdout.is_empty(), "--only {only}");
    }
}
