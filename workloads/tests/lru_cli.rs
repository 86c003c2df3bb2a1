//! lru as a user runs it: operations at a fixed rate with latency from the intended start
//! (every scheduled operation accounted for), a consistent cache, nothing lost under
//! verification, nothing leaked, and the full report.

mod common;

use common::{assert_stdout_is_summary, assert_usage_error, check_report, run_ok, Scratch};
use serde_json::Value;

const LRU: &str = env!("CARGO_BIN_EXE_lru");

fn lru_json(tag: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--json", "--out", &out_dir]);
    let out = run_ok(LRU, &all);
    let dir = scratch.0.join("run");
    assert_stdout_is_summary(&out, &dir);
    check_report(&dir, "lru")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn verified_run_is_consistent_and_loses_nothing() {
    let v = lru_json(
        "verify",
        &[
            "--duration",
            "0.3",
            "--verify",
            "--check-leaks",
            "--gogc",
            "25",
        ],
    );
    let f = &v["findings"];
    assert!(u(&f["ops"]) > 0);
    assert_eq!(u(&f["ops"]), u(&f["gets"]) + u(&f["puts"]));
    assert_eq!(u(&f["gets"]), u(&f["hits"]) + u(&f["misses"]));
    let hit_rate = f["hit_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&hit_rate));
    assert!(hit_rate > 0.0, "the warmed cache hits");
    assert_eq!(f["structure_ok"], true);
    assert_eq!(f["corrupt_values"], 0);
    assert_eq!(f["verified"], true);
    assert_eq!(f["lost_objects"], 0);
    assert_eq!(v["verify"]["lost_objects"], 0);
    assert!(u(&v["verify"]["cycles_checked"]) > 0, "GOGC=25 collects");
    assert!(u(&f["entries"]) <= 10_000);
    assert_eq!(
        u(&v["mutator_latency_ns"]["count"]),
        u(&f["ops"]),
        "one sample per op"
    );
    assert_eq!(v["leaks"]["leaked_objects"], 0);
    assert_eq!(v["leaks"]["leaked_bytes"], 0);
    assert_eq!(v["config"]["mutators"], 2);
    assert_eq!(v["config"]["duration"], 0.3);
    assert_eq!(v["config"]["rate"], 50_000);
}

#[test]
fn every_scheduled_operation_is_run_or_counted_missed() {
    // 1000 ops/s for 0.3 s on two mutators: 300 due on each.
    let v = lru_json(
        "schedule",
        &[
            "--rate",
            "1000",
            "--duration",
            "0.3",
            "--stw",
            "--dist",
            "uniform",
        ],
    );
    let f = &v["findings"];
    assert_eq!(u(&f["ops"]) + u(&f["ops_missed"]), 600);
    assert_eq!(f["structure_ok"], true);
    assert_eq!(v["config"]["dist"], "uniform");
}

#[test]
fn a_small_cache_evicts_down_to_its_capacity() {
    let v = lru_json(
        "evict",
        &[
            "--capacity",
            "16",
            "--keys",
            "1000",
            "--duration",
            "0.2",
            "--mutators",
            "3",
            "--barrier",
            "dijkstra",
            "--verify",
        ],
    );
    let f = &v["findings"];
    assert_eq!(f["entries"], 16);
    assert!(u(&f["evictions"]) > 0);
    assert_eq!(f["structure_ok"], true);
    assert_eq!(f["lost_objects"], 0);
}

#[test]
fn bad_workload_flags_are_usage_errors() {
    assert_usage_error(LRU, &["--rate", "0"], Some("--rate"));
    assert_usage_error(LRU, &["--dist", "pareto"], Some("--dist"));
    assert_usage_error(LRU, &["--writes", "101"], Some("--writes"));
    assert_usage_error(LRU, &["--value-words", "2"], Some("--value-words"));
    assert_usage_error(LRU, &["--capacity", "0"], Some("--capacity"));
}

#[test]
fn scope_and_handle_apis_run_the_same_cache() {
    // One mutator at a rate it keeps up with: the same keys in the same order on either
    // API, so the same hits, evictions and entries; values of 1024 words make cycles run
    // during the operations (verified: nothing reachable is lost on either API).
    let run = |api: &str| {
        lru_json(
            &format!("api-{api}"),
            &[
                "--mutators",
                "1",
                "--rate",
                "4000",
                "--duration",
                "0.5",
                "--capacity",
                "300",
                "--keys",
                "2000",
                "--value-words",
                "1024",
                "--gogc",
                "25",
                "--verify",
                "--api",
                api,
                // However slow the machine, every operation runs: a run that fell behind
                // would give up on some and no longer compare with the other.
                "--give-up",
                "600",
            ],
        )
    };
    let (scope, handle) = (run("scope"), run("handle"));
    for (api, v) in [("scope", &scope), ("handle", &handle)] {
        let f = &v["findings"];
        assert_eq!(f["api"], api);
        assert_eq!(
            f["ops_missed"], 0,
            "{api}: the comparison needs every op run"
        );
        assert_eq!(f["structure_ok"], true, "{api}");
        assert_eq!(f["corrupt_values"], 0, "{api}");
        assert_eq!(f["lost_objects"], 0, "{api}");
        assert!(
            u(&v["gc_cycles"]) > 0,
            "{api}: cycles ran during the operations"
        );
    }
    for k in ["ops", "gets", "puts", "hits", "evictions", "entries"] {
        assert_eq!(scope["findings"][k], handle["findings"][k], "{k}");
    }
    assert!(u(&scope["findings"]["evictions"]) > 0);
}

/// `--give-up` before the end of the run: every operation due from then on is counted in
/// `ops_missed`, not run (a mutator waits until an operation is due before it compares
/// the clock with the give-up time, so this holds however slow the machine), and the
/// report's config records the flag.
#[test]
fn give_up_counts_the_operations_due_after_it_as_missed() {
    let v = lru_json(
        "give-up",
        &[
            "--mutators",
            "1",
            "--rate",
            "1000",
            "--duration",
            "0.5",
            "--give-up",
            "0.1",
        ],
    );
    let f = &v["findings"];
    // 500 operations due, one a millisecond; the 400 due at 0.1 s or later are missed.
    assert!(u(&f["ops_missed"]) >= 400, "{f}");
    assert_eq!(u(&f["ops"]) + u(&f["ops_missed"]), 500, "{f}");
    assert_eq!(v["config"]["give_up_s"], 0.1, "{}", v["config"]);
}
