//! barrier-fastpath as a user runs it: each barrier runs with a few stores and loads and
//! prints its one-line summary (or its JSON object), and bad flags are usage errors.

mod common;

use common::{assert_usage_error, run_ok};
use serde_json::Value;

/// The binary, whether Cargo named it from its `[[bin]]` stanza or from its file.
fn bin() -> &'static str {
    option_env!("CARGO_BIN_EXE_barrier-fastpath")
        .or(option_env!("CARGO_BIN_EXE_barrier_fastpath"))
        .expect("the barrier-fastpath binary")
}

#[test]
fn every_barrier_runs_and_summarises() {
    for barrier in ["hybrid", "dijkstra", "yuasa", "none"] {
        let out = run_ok(bin(), &["--barrier", barrier, "--stores", "1001"]);
        let line = String::from_utf8(out.stdout).expect("UTF-8 output");
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        assert!(
            line.starts_with(&format!("barrier={barrier} stores=1001 ns/store=")),
            "{line}"
        );
        assert!(line.contains("loads=1001 ns/load="), "{line}");
    }
}

#[test]
fn the_scope_api_runs_under_every_barrier() {
    for barrier in ["hybrid", "go-hybrid", "dijkstra", "yuasa", "none"] {
        for stores in ["0", "1", "1001", "1002"] {
            let out = run_ok(
                bin(),
                &[
                    "--api",
                    "scope",
                    "--barrier",
                    barrier,
                    "--stores",
                    stores,
                    "--loads",
                    "5",
                    "--json",
                ],
            );
            let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
            assert_eq!(v["api"], "scope");
            assert_eq!(v["barrier"], barrier);
            assert_eq!(v["loads"], 5);
        }
    }
}

#[test]
fn json_and_zero_counts() {
    let out = run_ok(
        bin(),
        &[
            "--barrier",
            "none",
            "--stores",
            "0",
            "--loads",
            "7",
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["barrier"], "none");
    assert_eq!(v["stores"], 0);
    assert_eq!(v["loads"], 7);
    assert_eq!(v["ns_per_store"], 0.0);
    assert!(v["ns_per_load"].as_f64().unwrap() >= 0.0, "{v}");
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_usage_error(bin(), &["--barrier", "bogus"], Some("hybrid"));
    assert_usage_error(bin(), &["--stores", "-1"], None);
    assert_usage_error(bin(), &["--stores", "many"], None);
    assert_usage_error(bin(), &["--loads", "x"], None);
    assert_usage_error(bin(), &["--bogus"], None);
}
