//! gcbench as a user runs it: valid flags exit 0 with a complete JSON summary, invalid
//! ones exit 2 with a clear message.

use std::process::Command;

fn gcbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gcbench"))
        .args(args)
        .output()
        .expect("gcbench runs")
}

#[test]
fn verified_run_loses_nothing_and_checks_every_cycle() {
    let out = gcbench(&["--verify", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["workload"], "gcbench");
    assert_eq!(v["config"]["verify"], true);
    assert_eq!(v["config"]["gogc"], "100");
    let cycles = v["gc_cycles"].as_u64().unwrap();
    assert!(cycles > 0);
    assert_eq!(v["verify"]["enabled"], true);
    assert_eq!(v["verify"]["lost_objects"], 0);
    assert!(v["verify"]["cycles_checked"].as_u64().unwrap() >= cycles);
    assert!(v["wall_s"].as_f64().unwrap() > 0.0);
    assert!(
        v["heap_peak_bytes"].as_u64().unwrap() > 4_000_000,
        "the array alone is 4 MB"
    );
    let p = &v["pause_ns"];
    assert_eq!(
        p["count"].as_u64().unwrap(),
        cycles,
        "one pause per stop-the-world cycle"
    );
    for k in ["p50", "p90", "p99", "p999"] {
        assert!(
            p[k].as_u64().unwrap() <= p["max"].as_u64().unwrap(),
            "{k} <= max"
        );
    }
}

#[test]
fn every_real_barrier_marks_concurrently_without_loss() {
    for barrier in ["hybrid", "dijkstra", "yuasa"] {
        let out = gcbench(&["--concurrent", "--barrier", barrier, "--verify", "--json"]);
        assert!(
            out.status.success(),
            "{barrier}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["config"]["barrier"], barrier);
        assert_eq!(v["config"]["concurrent"], true);
        let cycles = v["gc_cycles"].as_u64().unwrap();
        assert!(cycles > 0);
        assert_eq!(v["verify"]["lost_objects"], 0, "{barrier}");
        assert!(
            v["verify"]["cycles_checked"].as_u64().unwrap() >= cycles,
            "{barrier}"
        );
        assert!(
            v["pause_ns"]["count"].as_u64().unwrap() >= 2 * cycles,
            "two pauses a cycle"
        );
    }
}

#[test]
fn mark_workers_zero_marks_by_assists_alone() {
    let out = gcbench(&["--concurrent", "--mark-workers", "0", "--verify", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["mark_workers"], "0");
    assert!(v["gc_cycles"].as_u64().unwrap() > 0);
    assert_eq!(v["verify"]["lost_objects"], 0);
}

#[test]
fn gogc_off_runs_no_cycle() {
    let out = gcbench(&["--gogc", "off", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["gc_cycles"], 0);
    assert_eq!(v["config"]["gogc"], "off");
    assert_eq!(v["verify"]["enabled"], false);
}

#[test]
fn text_report_names_the_phases() {
    let out = gcbench(&["--gogc", "400"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Stretching memory with a binary tree of depth 18"));
    assert!(text.contains("Creating 8 trees of depth 16"));
    assert!(text.contains("Completed in"));
}

#[test]
fn invalid_flags_exit_2_with_a_message() {
    for args in [
        &["--gogc", "fast"][..],
        &["--gogc", ""],
        &["--verify=maybe"],
        &["--frobnicate"],
        &["--mark-workers", "-1"],
        &["--mark-workers", "many"],
    ] {
        let out = gcbench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let err = String::from_utf8_lossy(&gcbench(&["--gogc", "fast"]).stderr).to_string();
    assert!(err.contains("invalid GOGC value \"fast\""), "{err}");
}

#[test]
fn allocbench_runs_and_reports_both_allocators() {
    let out = Command::new(env!("CARGO_BIN_EXE_allocbench"))
        .args(["--objects", "10000", "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(r["testbed_ns"].as_f64().unwrap() > 0.0);
        assert!(r["mimalloc_ns"].as_f64().unwrap() > 0.0);
    }
}
