//! finbench and cleanupbench as a user runs them: a small run exits 0, writes the whole
//! report, and every registered callback was queued and executed (counted by the heap
//! in summary.json and by the callbacks themselves in the findings); invalid flags are
//! usage errors (exit status 2).

mod common;

use common::{assert_stdout_is_summary, assert_usage_error, names, run_ok, Scratch};
use serde_json::Value;
use workloads::harness::run::FILES;

const FINBENCH: &str = env!("CARGO_BIN_EXE_finbench");
const CLEANUPBENCH: &str = env!("CARGO_BIN_EXE_cleanupbench");

/// Objects of the test runs: enough for several spans and automatic cycles, fast.
const OBJECTS: u64 = 20_000;

/// Runs `bin` with `args --quiet --out <scratch>`, checks the report's files and returns
/// its summary.json.
fn run_report(bin: &str, tag: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--quiet", "--out", &out_dir]);
    let out = run_ok(bin, &all);
    let dir = scratch.0.join("run");
    let mut want: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(names(&dir), want, "exactly the report files");
    if args.contains(&"--json") {
        assert_stdout_is_summary(&out, &dir);
    } else {
        assert!(out.stdout.is_empty(), "--quiet prints nothing");
    }
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every phase is a positive number of milliseconds and they add up.
fn check_phases(f: &Value) {
    let ms = |k: &str| f[k].as_f64().unwrap_or_else(|| panic!("findings.{k}"));
    for k in [
        "register_ms",
        "gc_ms",
        "drain_ms",
        "collect_run_ms",
        "total_ms",
    ] {
        // Every phase was measured: a phase left at its initial value would read 0.
        assert!(ms(k).is_finite() && ms(k) > 0.0, "{k}: {}", ms(k));
    }
    assert!((ms("gc_ms") + ms("drain_ms") - ms("collect_run_ms")).abs() < 1e-6);
    assert!(ms("total_ms") >= ms("collect_run_ms"));
}

#[test]
fn finbench_runs_every_finalizer() {
    let n = OBJECTS.to_string();
    let v = run_report(FINBENCH, "finbench", &["--objects", &n, "--json"]);
    assert_eq!(v["workload"], "finbench");
    assert_eq!(v["config"]["objects"], OBJECTS);
    let c = &v["finalizers"];
    assert_eq!(c["registered"], OBJECTS, "{c}");
    assert_eq!(c["queued"], OBJECTS, "{c}");
    assert_eq!(c["executed"], OBJECTS, "{c}");
    assert_eq!(c["stopped"], 0);
    assert_eq!(v["cleanups"]["registered"], 0);
    let f = &v["findings"];
    assert_eq!(f["executed"], OBJECTS);
    assert_eq!(f["executed_ok"], true);
    assert!(f["finalizers_per_s"].as_f64().unwrap() > 0.0);
    check_phases(f);
    assert!(v["gc_cycles"].as_u64().unwrap() >= 1, "the forced cycle");
    // One latency sample per batch of 1000 registrations.
    assert_eq!(v["mutator_latency_ns"]["count"], OBJECTS / 1000);
}

#[test]
fn cleanupbench_runs_every_cleanup_on_its_workers() {
    let n = OBJECTS.to_string();
    let args = ["--objects", &n, "--work-us", "1", "--cleanup-workers", "2"];
    let v = run_report(CLEANUPBENCH, "cleanupbench", &args);
    assert_eq!(v["workload"], "cleanupbench");
    assert_eq!(v["config"]["cleanup_workers"], "2");
    assert_eq!(v["config"]["work_us"], 1);
    let c = &v["cleanups"];
    assert_eq!(c["registered"], OBJECTS, "{c}");
    assert_eq!(c["queued"], OBJECTS, "{c}");
    assert_eq!(c["executed"], OBJECTS, "{c}");
    assert_eq!(v["finalizers"]["registered"], 0);
    let f = &v["findings"];
    assert_eq!(f["executed"], OBJECTS);
    assert_eq!(f["executed_ok"], true);
    assert_eq!(f["args_ok"], true, "each cleanup got its own argument");
    assert_eq!(
        f["cleanup_workers"], 2,
        "--cleanup-workers reaches the heap"
    );
    // S40: every registration came before the collection, so one worker ran them all.
    assert_eq!(f["cleanup_workers_started"], 1, "{f}");
    assert!(f["cleanups_per_s"].as_f64().unwrap() > 0.0);
    check_phases(f);
}

#[test]
fn scope_and_handle_apis_register_run_and_lose_the_same() {
    // GOGC=10 runs automatic cycles during registration, so objects stored from a scope
    // and registered through a handle made there must survive them (verified), and
    // every callback runs once either way (S3, S34).
    let n = OBJECTS.to_string();
    for (bin, counters) in [(FINBENCH, "finalizers"), (CLEANUPBENCH, "cleanups")] {
        let mut seen = Vec::new();
        for api in ["scope", "handle"] {
            let args = ["--objects", &n, "--gogc", "10", "--verify", "--api", api];
            let v = run_report(bin, &format!("api-{counters}-{api}"), &args);
            let (c, f) = (&v[counters], &v["findings"]);
            assert_eq!(f["api"], api);
            assert_eq!(v["verify"]["lost_objects"], 0, "{counters} {api}");
            assert!(
                v["gc_cycles"].as_u64().unwrap() > 1,
                "{counters} {api}: {v}"
            );
            assert_eq!(f["executed_ok"], true, "{counters} {api}");
            if counters == "cleanups" {
                assert_eq!(f["args_ok"], true, "{api}: each cleanup got its argument");
            }
            seen.push((
                c["registered"].clone(),
                c["queued"].clone(),
                c["executed"].clone(),
                f["executed"].clone(),
            ));
        }
        assert_eq!(seen[0], seen[1], "{counters}: scope vs handle");
        assert_eq!(seen[0].2, OBJECTS, "{counters}");
    }
}

#[test]
fn invalid_flags_exit_2() {
    let scratch = Scratch::new("callbench-invalid");
    let out_dir = scratch.join("never");
    for bin in [FINBENCH, CLEANUPBENCH] {
        for (args, says) in [
            (&["--objects", "0"][..], "--objects"),
            (&["--objects", "many"], "--objects"),
            (&["--mutators", "2"], "at most 1 mutator"),
            (&["--gogc", "fast"], "invalid GOGC value"),
            (&["--frobnicate"], "--frobnicate"),
            (&["--api", "gc"], "--api"),
        ] {
            let mut all = args.to_vec();
            all.extend(["--out", &out_dir]);
            assert_usage_error(bin, &all, Some(says));
        }
    }
    for (args, says) in [
        (&["--work-us", "-1"][..], "--work-us"),
        (&["--work-us", "2000000"], "--work-us"),
        (&["--cleanup-workers", "0"], "invalid worker count"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--out", &out_dir]);
        assert_usage_error(CLEANUPBENCH, &all, Some(says));
    }
    assert!(
        !scratch.0.join("never").exists(),
        "a usage error leaves no report"
    );
}
