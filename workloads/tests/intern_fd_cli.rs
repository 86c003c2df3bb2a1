//! intern and fd-churn as a user runs them, checked on counts only, never on timings:
//! intern's map ends no larger than what it inserted and its cleanups ran, and its serial
//! runner finishes at most one waiting cleanup per wait; fd-churn
//! releases every entry in each release mode, with one entry open at a time when closed
//! explicitly, gives a finalized object's memory back one `gc()` round after a cleaned-up
//! one's, and leaves dropped descriptors open while the program does not allocate.
//! Invalid flags are usage errors (exit status 2).

mod common;

use common::{assert_usage_error, names, run_ok, Scratch};
use serde_json::Value;
use workloads::harness::run::FILES;

const INTERN: &str = env!("CARGO_BIN_EXE_intern");
const FD_CHURN: &str = env!("CARGO_BIN_EXE_fd-churn");

/// Runs `bin args --quiet --out <scratch>`, asserts exit 0 and the report's files, and
/// returns its summary.
fn report(bin: &str, workload: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(workload);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--quiet", "--out", &out_dir]);
    run_ok(bin, &all);
    let dir = scratch.0.join("run");
    let mut want: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(names(&dir), want, "exactly the report files");
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let v: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["workload"], workload);
    v
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is a count"))
}

#[test]
fn intern_map_is_bounded_by_its_inserts_and_cleanups_run() {
    for workers in ["1", "2"] {
        let v = report(
            INTERN,
            "intern",
            &["--duration", "0.3", "--cleanup-workers", workers],
        );
        let f = &v["findings"];
        assert_eq!(f["cleanup_workers"].to_string(), workers, "{f}");
        let (ops, inserted, hits) = (u(&f["ops"]), u(&f["inserted"]), u(&f["hits"]));
        assert!(inserted > 0, "{f}");
        assert_eq!(inserted + hits, ops, "{f}");
        let size = &f["map_size"];
        for key in ["max", "median", "samples", "before_drain", "final"] {
            assert!(size[key].is_u64(), "map_size.{key}: {f}");
        }
        assert!(u(&size["final"]) <= inserted, "{f}");
        assert!(u(&size["median"]) <= u(&size["max"]), "{f}");
        assert!(u(&size["max"]) <= inserted, "{f}");
        let ran = u(&f["cleanups_run"]);
        assert!(ran > 0, "{f}");
        assert!(ran <= inserted, "{f}");
        assert_eq!(u(&v["cleanups"]["executed"]), ran, "{v}");
    }
}

#[test]
fn fd_churn_releases_every_entry_in_each_mode() {
    for mode in ["explicit", "finalizer", "cleanup"] {
        let v = report(
            FD_CHURN,
            "fd-churn",
            &["--objects", "2000", "--release", mode],
        );
        let f = &v["findings"];
        assert_eq!(f["release"], mode, "{f}");
        assert_eq!(u(&f["objects"]), 2000, "{f}");
        assert_eq!(u(&f["released"]), 2000, "{f}");
        assert_eq!(u(&f["leaked"]), 0, "{f}");
        assert_eq!(u(&f["double_releases"]), 0, "{f}");
        assert!(u(&f["heap_peak_bytes"]) > 0, "{f}");
        assert!(
            f["mean_release_delay_cycles"].as_f64().unwrap() >= 0.0,
            "{f}"
        );
        let peak = u(&f["peak_open"]);
        if mode == "explicit" {
            assert_eq!(peak, 1, "{f}");
            assert_eq!(u(&f["max_release_delay_cycles"]), 0, "{f}");
        } else {
            assert!((1..=2000).contains(&peak), "{f}");
        }
    }
}

/// intern's serial runner (golang/go#71825; S40: one cleanup worker below GOMAXPROCS 8):
/// with cleanups that each wait 5 ms, one worker can have finished at most t / 5 ms + 1 of
/// them t ms into the run, whatever the machine's speed (a wait is never shorter), and the
/// series shows it at every sample; the clock-paced rate never runs ahead of its schedule.
/// Fails if cleanups ran on more threads than Go's rule allows, or the pacing let
/// operations through early.
#[test]
fn intern_paced_serial_runner_finishes_at_most_one_cleanup_per_wait() {
    let v = report(
        INTERN,
        "intern",
        &[
            "--mutators",
            "1",
            "--rate",
            "1000",
            "--value-words",
            "512",
            "--cleanup-work-us",
            "5000",
            "--duration",
            "0.5",
            "--gogc",
            "10",
            "--gomaxprocs",
            "4",
            "--sample-ms",
            "20",
        ],
    );
    let f = &v["findings"];
    assert_eq!(u(&f["cleanup_workers"]), 1, "{f}");
    assert!(
        u(&f["ops"]) <= 501,
        "paced: at most rate x duration + 1: {f}"
    );
    let series = f["series"].as_array().unwrap();
    assert!(series.len() >= 2, "{f}");
    let mut queued_behind = false;
    for s in series {
        let (t_ms, size, inserted, ran) = (u(&s[0]), u(&s[1]), u(&s[2]), u(&s[3]));
        assert!(ran <= t_ms / 5 + 1, "one worker, 5 ms each: {s} in {f}");
        assert!(size <= inserted, "{s}");
        queued_behind |= size > 0 && ran > 0;
    }
    assert!(queued_behind, "cycles queued cleanups during the run: {f}");
    assert!(f["growth_per_s"].is_f64(), "{f}");
    assert_eq!(
        u(&f["map_size"]["final"]),
        0,
        "every cleanup ran by the end: {f}"
    );
}

/// S43/S44 (fd-churn, heap bloat): with GOGC off nothing is collected during the churn, so
/// the end's first `gc()` round finds every object dead. It closes every descriptor in
/// every mode, but a finalized object's memory comes back only in the second round (its
/// finalizer revived it through the first), a cleaned-up or explicitly closed one's in the
/// first. Fails if sweep freed finalized objects at once, or kept cleaned-up ones.
#[test]
fn fd_churn_finalized_memory_comes_back_a_round_after_cleaned_up_memory() {
    for (mode, reclaim) in [("explicit", 1), ("finalizer", 2), ("cleanup", 1)] {
        let v = report(
            FD_CHURN,
            "fd-churn",
            &["--objects", "4000", "--release", mode, "--gogc", "off"],
        );
        let f = &v["findings"];
        assert_eq!(u(&f["close_rounds"]), 1, "{mode}: {f}");
        assert_eq!(u(&f["reclaim_rounds"]), reclaim, "{mode}: {f}");
        let rounds = f["end_rounds"].as_array().unwrap();
        assert!(rounds.len() >= 3, "{f}");
        let (first, last) = (u(&rounds[0]["span_bytes"]), u(&rounds[2]["span_bytes"]));
        // 4,000 objects of 66 words: about 2 MiB held through the first round or not.
        if mode == "finalizer" {
            assert!(first >= last + 1_000_000, "{mode}: {f}");
        } else {
            assert!(first <= last + 65_536, "{mode}: {f}");
        }
    }
}

/// Timing depends on allocation (S57: cycles are paced by allocation; S43/S44: callbacks
/// are queued by a cycle): after a churn that ran cycles, a program that allocates
/// nothing for a while leaves the descriptors of the objects it dropped since the last
/// cycle open under finalizers and cleanups (no cycle starts, beyond one already running
/// when the churn ended), where explicit closes leave none open.
#[test]
fn fd_churn_idle_program_leaves_dropped_descriptors_open() {
    for mode in ["explicit", "finalizer", "cleanup"] {
        let v = report(
            FD_CHURN,
            "fd-churn",
            &["--objects", "20000", "--release", mode, "--idle-ms", "100"],
        );
        let f = &v["findings"];
        let idle = &f["idle"];
        let (c0, c1) = (u(&idle["cycles_at_start"]), u(&idle["cycles_at_end"]));
        assert!(c0 >= 1, "the churn ran cycles: {f}");
        assert!(c1 <= c0 + 1, "no cycle started while idle: {idle}");
        let open = u(&idle["open_at_end"]);
        if mode == "explicit" {
            assert_eq!(open, 0, "{idle}");
        } else {
            assert!(open >= 1, "{mode}: dropped descriptors stay open: {idle}");
        }
        let series = f["series"].as_array().unwrap();
        assert!(series.len() >= 2, "{f}");
        assert_eq!(
            u(&f["released"]),
            20000,
            "released by the end's rounds: {f}"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let scratch = Scratch::new("intern-fd-bad");
    let out = scratch.join("never");
    for args in [
        &["--duration", "0"][..],
        &["--duration", "-1"],
        &["--sample-every", "0"],
        &["--cleanup-workers", "0"],
        &["--rate", "10000001"],
        &["--value-words", "1"],
        &["--cleanup-work-us", "1000001"],
        &["--sample-ms", "0"],
        &["--bogus"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--out", &out]);
        assert_usage_error(INTERN, &all, None);
    }
    for args in [
        &["--objects", "0"][..],
        &["--release", "never"],
        &["--payload-words", "-1"],
        &["--idle-ms", "600001"],
        &["--sample-ms", "0"],
        &["--mutators", "2"],
        &["--bogus"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--out", &out]);
        assert_usage_error(FD_CHURN, &all, None);
    }
    assert!(!scratch.0.join("never").exists(), "nothing written");
}
