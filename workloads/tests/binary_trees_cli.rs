//! binary-trees as a user runs it: the Benchmarks Game's check values on several mutator
//! threads, one latency sample per short-lived tree, the full report, and its text.

mod common;

use common::{assert_stdout_is_summary, assert_usage_error, check_report, run_ok, Scratch};
use serde_json::Value;

const BINARY_TREES: &str = env!("CARGO_BIN_EXE_binary-trees");

fn binary_trees_json(tag: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--json", "--out", &out_dir]);
    let out = run_ok(BINARY_TREES, &all);
    let dir = scratch.0.join("run");
    assert_stdout_is_summary(&out, &dir);
    check_report(&dir, "binary-trees")
}

#[test]
fn checks_match_the_benchmarks_game() {
    let v = binary_trees_json(
        "checks",
        &["--depth", "10", "--verify", "--check-leaks", "--gogc", "10"],
    );
    let f = &v["findings"];
    assert_eq!(f["checks_ok"], true);
    assert_eq!(
        f["stretch"],
        serde_json::json!({"depth": 11, "check": 4095, "ok": true})
    );
    assert_eq!(
        f["long_lived"],
        serde_json::json!({"depth": 10, "check": 2047, "ok": true})
    );
    // 2^(10 - d + 4) trees of 2^(d+1) - 1 nodes at each depth d.
    let rows: Vec<(u64, u64, u64)> = f["depths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["check"], r["expected"]);
            (
                r["depth"].as_u64().unwrap(),
                r["trees"].as_u64().unwrap(),
                r["check"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (4, 1024, 31744),
            (6, 256, 32512),
            (8, 64, 32704),
            (10, 16, 32752)
        ]
    );
    assert_eq!(
        f["rounds"],
        serde_json::json!([1, 1]),
        "two mutators by default"
    );
    assert_eq!(v["mutator_latency_ns"]["count"], 1024 + 256 + 64 + 16);
    assert_eq!(v["config"]["mutators"], 2);
    assert_eq!(v["config"]["depth"], 10);
    assert!(v["gc_cycles"].as_u64().unwrap() > 0, "GOGC=10 collects");
    assert_eq!(v["verify"]["lost_objects"], 0);
    assert_eq!(v["leaks"]["leaked_objects"], 0);
}

#[test]
fn iterations_and_mutators_share_the_work() {
    let v = binary_trees_json(
        "share",
        &[
            "--depth",
            "6",
            "--iterations",
            "3",
            "--mutators",
            "3",
            "--stw",
            "--barrier",
            "yuasa",
        ],
    );
    let f = &v["findings"];
    assert_eq!(f["checks_ok"], true);
    assert_eq!(f["rounds"], serde_json::json!([3, 3, 3]));
    let trees: Vec<u64> = f["depths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trees"].as_u64().unwrap())
        .collect();
    assert_eq!(trees, [3 * 64, 3 * 16]);
    assert_eq!(v["mutator_latency_ns"]["count"], 3 * (64 + 16));
    assert_eq!(v["config"]["stw"], true);
}

#[test]
fn both_apis_check_every_tree_and_lose_nothing() {
    for api in ["handle", "scope"] {
        let v = binary_trees_json(
            &format!("api-{api}"),
            &["--depth", "10", "--verify", "--gogc", "10", "--api", api],
        );
        let f = &v["findings"];
        assert_eq!(f["api"], api);
        assert_eq!(f["checks_ok"], true, "{api}");
        assert_eq!(v["verify"]["lost_objects"], 0, "{api}");
        assert!(v["gc_cycles"].as_u64().unwrap() > 0, "{api}");
    }
}

#[test]
fn duration_repeats_rounds() {
    let v = binary_trees_json("duration", &["--depth", "6", "--duration", "0.2"]);
    let f = &v["findings"];
    assert_eq!(f["checks_ok"], true);
    for r in f["rounds"].as_array().unwrap() {
        assert!(r.as_u64().unwrap() >= 1);
    }
    assert_eq!(v["config"]["duration"], 0.2);
}

#[test]
fn text_report_has_the_benchmarks_game_lines() {
    let scratch = Scratch::new("text");
    let out = run_ok(
        BINARY_TREES,
        &["--depth", "6", "--out", &scratch.join("run")],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "stretch tree of depth 7\t check: 255",
        "64\t trees of depth 4\t check: 1984",
        "16\t trees of depth 6\t check: 2032",
        "long lived tree of depth 6\t check: 127",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}

#[test]
fn bad_depths_are_usage_errors() {
    for depth in ["3", "25", "deep"] {
        assert_usage_error(BINARY_TREES, &["--depth", depth], Some("--depth"));
    }
    assert_usage_error(BINARY_TREES, &["--iterations", "0"], None);
}
