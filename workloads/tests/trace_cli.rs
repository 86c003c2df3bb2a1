//! `--trace`: a run's `trace.json` gets a track per thread that did something the
//! collector records (issue 22). Every report's trace.json is checked for structure
//! (`common::trace_check`: slices complete and nested, tracks named, one pause slice per
//! pause, one cycle slice per cycle) by `common::check_report`; these runs check that the per-thread tracks are there with `--trace` and absent
//! without it.

mod common;

use common::trace_check::check_trace;
use common::{run_ok, Scratch};

/// Runs `bin` with `args --quiet --out <scratch>/run` and returns the track names and the
/// slices of its checked trace.json.
fn traced(
    bin: &str,
    tag: &str,
    args: &[&str],
) -> (std::collections::BTreeMap<u64, String>, Vec<(u64, String)>) {
    let scratch = Scratch::new(tag);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--quiet", "--out", &out_dir]);
    run_ok(bin, &all);
    let dir = scratch.0.join("run");
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    check_trace(&dir, &v)
}

#[test]
fn a_traced_concurrent_gcbench_has_mark_worker_and_sweeper_tracks() {
    let gcbench = env!("CARGO_BIN_EXE_gcbench");
    let (names, slices) = traced(gcbench, "trace-gcbench", &["--trace", "--gomaxprocs", "2"]);
    // Thread tracks only: the record-drawn tracks (1 and 2) hold the phases, among them
    // "sweep termination".
    let on_threads = |n: &str| slices.iter().any(|(t, s)| *t > 2 && s.starts_with(n));
    assert!(
        on_threads("mark worker ("),
        "mark workers recorded: {names:?}"
    );
    assert!(
        slices.iter().any(|(t, s)| *t > 2 && s == "sweep"),
        "the sweeper: {names:?}"
    );
    assert!(names.values().any(|n| n == "gc-sweeper"), "{names:?}");
    // Without --trace only the two record-drawn tracks remain.
    let (names, slices) = traced(gcbench, "untraced-gcbench", &["--gomaxprocs", "2"]);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(slices.iter().any(|(_, s)| s == "mark"));
}

#[test]
fn a_traced_finbench_shows_the_finalizer_thread() {
    let finbench = env!("CARGO_BIN_EXE_finbench");
    let (names, slices) = traced(
        finbench,
        "trace-finbench",
        &["--trace", "--objects", "20000"],
    );
    let finalizer = names
        .iter()
        .find(|(_, n)| n.contains("final"))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("no finalizer thread track: {names:?}"));
    assert!(
        slices.iter().any(|(t, _)| *t == finalizer),
        "the finalizer thread recorded nothing"
    );
    // A batch is recorded when it ends, and the report is taken once the queue is
    // drained, possibly before the runner has left its batch: so a batch may be missing,
    // but every batch recorded is a runner's.
    let batches = slices.iter().filter(|(_, s)| s == "callback batch");
    assert!(batches.clone().all(|(t, _)| *t == finalizer), "{names:?}");
}
