//! intern and fd-churn as a user runs them, checked on counts only, never on timings:
//! intern's map ends no larger than what it inserted and its cleanups ran; fd-churn
//! releases every entry in each release mode, with one entry open at a time when closed
//! explicitly. Invalid flags are usage errors (exit status 2).

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

#[test]
fn bad_flags_are_usage_errors() {
    let scratch = Scratch::new("intern-fd-bad");
    let out = scratch.join("never");
    for args in [
        &["--duration", "0"][..],
        &["--duration", "-1"],
        &["--sample-every", "0"],
        &["--cleanup-workers", "0"],
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
        &["--mutators", "2"],
        &["--bogus"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--out", &out]);
        assert_usage_error(FD_CHURN, &all, None);
    }
    assert!(!scratch.0.join("never").exists(), "nothing written");
}
