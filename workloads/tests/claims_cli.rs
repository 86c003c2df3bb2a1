//! cycles, resurrection and exit-flush as a user runs them: a small run of each reports
//! in summary.json's `findings` what `SEMANTICS.md` S46, S47/S48 and S54 say (observed by
//! the binaries, not assumed); `cycles --check-leaks` has the leak checker report the
//! finalizer cycle's two members; invalid flags are usage errors (exit status 2). No
//! timing thresholds, no sleeps.

mod common;

use common::{assert_usage_error, run, run_ok, Scratch};
use serde_json::Value;
use std::collections::BTreeSet;

const CYCLES: &str = env!("CARGO_BIN_EXE_cycles");
const RESURRECTION: &str = env!("CARGO_BIN_EXE_resurrection");
const EXIT_FLUSH: &str = env!("CARGO_BIN_EXE_exit-flush");

/// Runs `bin args --quiet --out <scratch>` expecting exit status `code`; returns its
/// summary.json.
fn summary(bin: &str, tag: &str, args: &[&str], code: i32) -> Value {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--quiet", "--out", &out_dir]);
    let out = if code == 0 {
        run_ok(bin, &all)
    } else {
        run(bin, &all)
    };
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(scratch.0.join("run").join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn cycles_reports_s46() {
    let v = summary(CYCLES, "cycles", &["--rounds", "3"], 0);
    assert_eq!(v["workload"], "cycles");
    assert_eq!(v["config"]["rounds"], 3);
    let f = &v["findings"];
    assert_eq!(f["finalizer_cycle"]["collected"], false);
    assert_eq!(f["finalizer_cycle"]["finalizers_run"], 0);
    assert_eq!(f["cleanup_cycle"]["collected"], true);
    assert_eq!(f["cleanup_cycle"]["cleanups_run"], 2);
    assert_eq!(f["cleanup_cycle"]["in_cycles"], 1);
    assert_eq!(f["self_pointer"]["finalized_in_cycle"], 1);
    assert_eq!(f["self_pointer"]["finalizers_run"], 1);
    assert_eq!(f["matches_semantics"], true);
    assert!(v.get("leaks").is_none() || v["leaks"].is_null());
}

#[test]
fn cycles_check_leaks_reports_the_finalizer_cycle() {
    // The leak checker runs at every mark termination: each of the run's cycles and the
    // harness's two reports both members of A <-> B, and nothing else. A leak is exit 1.
    let rounds = 2;
    let v = summary(
        CYCLES,
        "cycles-leaks",
        &["--rounds", "2", "--check-leaks"],
        1,
    );
    assert_eq!(v["findings"]["matches_semantics"], true);
    let l = &v["leaks"];
    assert_eq!(l["checked"], true);
    let reports: Vec<&str> = l["callback_leak_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(l["callback_leaks"], 2 * (rounds + 2));
    assert_eq!(reports.len() as u64, 2 * (rounds + 2));
    let objects: BTreeSet<&str> = reports
        .iter()
        .map(|r| {
            assert!(r.contains("is reachable from its finalizer"), "{r}");
            let start = r.find("finalizer on ").unwrap();
            let end = r.find(" is reachable").unwrap();
            &r[start..end]
        })
        .collect();
    assert_eq!(
        objects.len(),
        2,
        "exactly the cycle's two members: {objects:?}"
    );
    assert_eq!(l["leaked_objects"], 2, "A and B stay reachable");
}

#[test]
fn resurrection_reports_s47_s48() {
    let v = summary(RESURRECTION, "resurrection", &["--rounds", "2"], 0);
    assert_eq!(v["workload"], "resurrection");
    let f = &v["findings"];
    assert_eq!(f["finalizer_runs"], 1);
    assert_eq!(f["weak_cleared_at_cycle"], 1);
    assert_eq!(f["weak_stays_cleared"], true);
    assert_eq!(f["weak_gone_in_finalizer"], true);
    assert_eq!(f["cleanup_ran_after_finalizer"], true);
    assert_eq!(f["cleanup_runs"], 1);
    assert_eq!(
        f["cleanup_round"], 3,
        "the first cycle after the global was cleared"
    );
    assert_eq!(f["second_death_runs_finalizer"], false);
    assert_eq!(f["collected"], true);
    assert_eq!(f["matches_semantics"], true);
}

#[test]
fn exit_flush_explicit_loses_nothing() {
    let v = summary(EXIT_FLUSH, "exit-explicit", &["--bytes", "100000"], 0);
    assert_eq!(v["workload"], "exit-flush");
    let f = &v["findings"];
    assert_eq!(f["flush"], "explicit");
    assert_eq!(f["bytes_written"], 100_000);
    assert_eq!(f["bytes_flushed"], 100_000);
    assert_eq!(f["bytes_lost"], 0);
}

#[test]
fn exit_flush_by_finalizer_loses_the_buffer() {
    // 100,000 bytes in 1000-byte writes through a 4096-byte buffer: flushes of 4000, and
    // the last 4000 never reach the file: no cycle runs, so the finalizer is never queued.
    let args = ["--bytes", "100000", "--flush", "finalizer"];
    let v = summary(EXIT_FLUSH, "exit-finalizer", &args, 0);
    let f = &v["findings"];
    assert_eq!(f["bytes_written"], 100_000);
    assert_eq!(f["bytes_flushed"], 96_000);
    assert_eq!(f["bytes_lost"], 4_000);
    assert_eq!(f["finalizer_ran"], false);
    assert_eq!(v["finalizers"]["registered"], 1);
    assert_eq!(v["finalizers"]["executed"], 0);
}

#[test]
fn exit_flush_queued_exits_with_the_finalizer_queued() {
    // A cycle queues the writer's finalizer behind one that never returns, and the
    // process exits: the finalizer was queued (2 queued: the blocker's and the writer's),
    // neither finished, and the last 4000 bytes never reach the file.
    let args = ["--bytes", "100000", "--flush", "queued"];
    let v = summary(EXIT_FLUSH, "exit-queued", &args, 0);
    let f = &v["findings"];
    assert_eq!(f["flush"], "queued");
    assert_eq!(f["bytes_flushed"], 96_000);
    assert_eq!(f["bytes_lost"], 4_000);
    assert_eq!(f["finalizer_ran"], false);
    assert_eq!(f["finalizers_queued"], 2);
    assert_eq!(f["finalizers_pending"], 2);
    assert!(v["gc_cycles"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["finalizers"]["registered"], 2);
    assert_eq!(v["finalizers"]["executed"], 0);
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_usage_error(CYCLES, &["--rounds", "0"], None);
    assert_usage_error(CYCLES, &["--rounds", "x"], None);
    assert_usage_error(CYCLES, &["--bogus"], None);
    assert_usage_error(RESURRECTION, &["--rounds", "-1"], None);
    assert_usage_error(RESURRECTION, &["--gogc", "nope"], None);
    assert_usage_error(EXIT_FLUSH, &["--flush", "never"], None);
    assert_usage_error(EXIT_FLUSH, &["--bytes", "0"], None);
    assert_usage_error(EXIT_FLUSH, &["--check-leaks"], Some("--check-leaks"));
}
