//! binary-trees-rayon as a user runs it: the Benchmarks Game's check values with the
//! depths in parallel on a rayon pool of mutators, under each barrier with verification
//! on, whatever the pool's size.

mod common;

use common::{assert_stdout_is_summary, assert_usage_error, check_report, run_ok, Scratch};
use serde_json::Value;

const BINARY_TREES_RAYON: &str = env!("CARGO_BIN_EXE_binary-trees-rayon");

fn run_json(tag: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--json", "--out", &out_dir]);
    let out = run_ok(BINARY_TREES_RAYON, &all);
    let dir = scratch.0.join("run");
    assert_stdout_is_summary(&out, &dir);
    check_report(&dir, "binary-trees-rayon")
}

/// (depth, trees, check) per depth row.
fn rows(v: &Value) -> Vec<(u64, u64, u64)> {
    v["findings"]["depths"]
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
        .collect()
}

#[test]
fn checks_match_the_benchmarks_game_on_every_barrier_and_pool_size() {
    for (barrier, threads) in [
        ("hybrid", "2"),
        ("go-hybrid", "3"),
        ("dijkstra", "1"),
        ("yuasa", "4"),
    ] {
        let v = run_json(
            &format!("checks-{barrier}"),
            &[
                "--depth",
                "10",
                "--verify",
                "--gogc",
                "10",
                "--barrier",
                barrier,
                "--mutators",
                threads,
            ],
        );
        let f = &v["findings"];
        assert_eq!(f["checks_ok"], true, "{barrier}");
        assert_eq!(
            f["stretch"],
            serde_json::json!({"depth": 11, "check": 4095, "ok": true})
        );
        assert_eq!(
            f["long_lived"],
            serde_json::json!({"depth": 10, "check": 2047, "ok": true})
        );
        // 2^(10 - d + 4) trees of 2^(d+1) - 1 nodes at each depth d, however the depths
        // were spread over the pool.
        assert_eq!(
            rows(&v),
            [
                (4, 1024, 31744),
                (6, 256, 32512),
                (8, 64, 32704),
                (10, 16, 32752)
            ]
        );
        assert_eq!(
            f["pool_threads"].as_u64(),
            threads.parse().ok(),
            "--mutators sizes the pool"
        );
        assert_eq!(v["mutator_latency_ns"]["count"], 1024 + 256 + 64 + 16);
        assert!(v["gc_cycles"].as_u64().unwrap() > 0, "GOGC=10 collects");
        assert_eq!(v["verify"]["lost_objects"], 0, "{barrier}");
    }
}

#[test]
fn iterations_repeat_the_parallel_rounds() {
    let v = run_json("rounds", &["--depth", "6", "--iterations", "3"]);
    assert_eq!(v["findings"]["rounds"], serde_json::json!([3]));
    assert_eq!(rows(&v), [(4, 3 * 64, 3 * 1984), (6, 3 * 16, 3 * 2032)]);
    assert_eq!(v["mutator_latency_ns"]["count"], 3 * (64 + 16));
}

#[test]
fn bad_depths_are_usage_errors() {
    for depth in ["3", "25", "deep"] {
        assert_usage_error(BINARY_TREES_RAYON, &["--depth", depth], Some("--depth"));
    }
    assert_usage_error(BINARY_TREES_RAYON, &["--iterations", "0"], None);
}
