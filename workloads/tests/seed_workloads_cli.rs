//! finalizer-chain and head-of-line as a user runs them, checked on structural facts
//! only (counts, cycles, orderings recorded inside the callbacks), never on timings: a
//! chain of finalizers takes one cycle per link and a chain of cleanups one cycle; quick
//! finalizers all start after the slow one finished (one finalizer thread), and with two
//! cleanup workers the quick cleanups all run before the slow one finishes (it waits for
//! the last of them, so the run could not end otherwise). `--help` works and invalid
//! flags are usage errors (exit status 2).

mod common;

use common::{assert_usage_error, names, run_ok, Scratch};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use workloads::harness::run::FILES;

const CHAIN: &str = env!("CARGO_BIN_EXE_finalizer-chain");
const HOL: &str = env!("CARGO_BIN_EXE_head-of-line");

/// How long a run may take before the test calls it hung and kills it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `bin args --quiet --out <scratch>` under the hang guard, asserts exit 0 and the
/// report's files, and returns its summary.
fn run_report(bin: &str, workload: &str, args: &[&str]) -> Value {
    let scratch = Scratch::new(workload);
    let out_dir = scratch.join("run");
    let mut all = args.to_vec();
    all.extend(["--quiet", "--out", &out_dir]);
    let mut child = Command::new(bin)
        .args(&all)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{workload} {args:?}: still running after {HANG_GUARD:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{workload} {args:?}: {status:?}\n{err}");
    let dir = scratch.0.join("run");
    let mut want: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(names(&dir), want, "exactly the report files");
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let v: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["workload"], workload);
    v
}

#[test]
fn finalizer_chain_scope_and_handle_apis_agree_across_scopes() {
    // 1200 links: the scope API builds them in two scopes (1000 a scope), so the link
    // between scopes goes through a handle; were it lost, two heads would be finalized
    // by the first cycle. Either API: one finalizer per cycle, L cycles (S45); one cycle
    // for all cleanups (S42, S44).
    let mut seen = Vec::new();
    for api in ["scope", "handle"] {
        let v = run_report(
            CHAIN,
            "finalizer-chain",
            &["--length", "1200", "--api", api],
        );
        let f = &v["findings"];
        assert_eq!(f["api"], api);
        assert_eq!(f["finalizer"]["ok"], true, "{api}: {f}");
        assert_eq!(f["cleanup"]["ok"], true, "{api}: {f}");
        let pick = |p: &str| {
            let x = &f[p];
            (
                x["cycles"].clone(),
                x["max_per_cycle"].clone(),
                x["executed"].clone(),
            )
        };
        seen.push((pick("finalizer"), pick("cleanup")));
    }
    assert_eq!(seen[0], seen[1], "scope vs handle");
    assert_eq!(seen[0].0 .0, 1200, "one cycle per link");
}

#[test]
fn finalizer_chain_takes_a_cycle_per_link_and_cleanups_one() {
    let v = run_report(CHAIN, "finalizer-chain", &["--length", "20"]);
    assert_eq!(v["config"]["length"], 20);
    let f = &v["findings"];
    assert_eq!(f["length"], 20);
    let fin = &f["finalizer"];
    assert_eq!(fin["cycles"], 20, "{fin}");
    assert_eq!(fin["max_per_cycle"], 1, "{fin}");
    assert_eq!(fin["executed"], 20, "{fin}");
    assert_eq!(fin["ok"], true);
    let cl = &f["cleanup"];
    assert_eq!(cl["cycles"], 1, "{cl}");
    assert_eq!(cl["max_per_cycle"], 20, "{cl}");
    assert_eq!(cl["executed"], 20, "{cl}");
    assert_eq!(cl["ok"], true);
    for phase in [fin, cl] {
        let wall = phase["wall_ms"].as_f64().unwrap();
        assert!(
            wall.is_finite() && wall > 0.0,
            "{phase}: the phase was not timed"
        );
    }
    assert_eq!(v["finalizers"]["executed"], 20);
    assert_eq!(v["cleanups"]["executed"], 20);
    // One latency sample per gc() call with its drain.
    assert_eq!(v["mutator_latency_ns"]["count"], 21);
}

#[test]
fn head_of_line_finalizers_wait_and_cleanups_do_not() {
    let args = [
        "--quick",
        "200",
        "--slow-ms",
        "50",
        "--cleanup-workers",
        "2",
        "--cleanup-eager-start",
        "--cleanup-batches",
        "adaptive",
    ];
    let v = run_report(HOL, "head-of-line", &args);
    let f = &v["findings"];
    assert_eq!(f["quick"], 200);
    assert_eq!(f["slow_ms"], 50);
    assert_eq!(f["cleanup_workers"], 2);
    let fin = &f["finalizer"];
    assert_eq!(fin["quick_latency_ns"]["count"], 200, "{fin}");
    assert_eq!(fin["slow_ran"], true);
    assert!(fin["slow_object"].as_u64().unwrap() <= 200, "{fin}");
    // One finalizer thread: every quick finalizer started after the slow one finished.
    assert_eq!(fin["quick_after_slow_done"], 200, "{fin}");
    assert_eq!(fin["quick_before_slow_done"], 0, "{fin}");
    let cl = &f["cleanup"];
    assert_eq!(cl["quick_latency_ns"]["count"], 200, "{cl}");
    assert_eq!(cl["slow_ran"], true);
    // The slow cleanup waited for the last quick one: all ran before it finished.
    assert_eq!(cl["quick_before_slow_done"], 200, "{cl}");
    assert_eq!(cl["quick_after_slow_done"], 0, "{cl}");
    for p in [fin, cl] {
        let l = &p["quick_latency_ns"];
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(l[k].is_u64(), "{k}: {l}");
        }
        assert!(l["p50"].as_u64() <= l["max"].as_u64());
    }
    assert_eq!(v["finalizers"]["executed"], 201);
    assert_eq!(v["cleanups"]["executed"], 201);
    assert_eq!(v["mutator_latency_ns"]["count"], 400);
}

/// With one cleanup worker (GOMAXPROCS 2) and Go's defaults, every quick cleanup waits
/// for the slow one (S40, S41), and phase C repeats the cleanups on a heap with the
/// standby (two threads). With the testbed's standby and adaptive batches (whose latch
/// makes it certain) the standby runs every quick cleanup beside the slow one, and there
/// is no phase C.
#[test]
fn head_of_line_one_worker_with_and_without_the_standby() {
    for standby in [false, true] {
        let mut args = vec!["--quick", "200", "--slow-ms", "20", "--gomaxprocs", "2"];
        if standby {
            args.extend(["--cleanup-standby", "--cleanup-batches", "adaptive"]);
        }
        let v = run_report(HOL, "head-of-line", &args);
        let f = &v["findings"];
        assert_eq!(f["cleanup_workers"], 1, "{f}");
        assert_eq!(f["cleanup_standby"], standby, "{f}");
        assert_eq!(f["cleanup_runners"], 1 + standby as u64, "{f}");
        assert_eq!(v["config"]["cleanup_standby"], standby, "{v}");
        let cl = &f["cleanup"];
        let (before, after) = if standby { (200, 0) } else { (0, 200) };
        assert_eq!(
            (&cl["quick_before_slow_done"], &cl["quick_after_slow_done"]),
            (&before.into(), &after.into()),
            "standby {standby}: {cl}"
        );
        let c = &f["cleanup_with_standby"];
        if standby {
            assert!(c.is_null(), "{c}");
        } else {
            assert_eq!(c["runners"], 2, "{c}");
            assert_eq!(c["quick_latency_ns"]["count"], 200, "{c}");
            assert_eq!(c["slow_ran"], true, "{c}");
            let ran = c["quick_before_slow_done"].as_u64().unwrap()
                + c["quick_after_slow_done"].as_u64().unwrap();
            assert_eq!(ran, 200, "{c}");
        }
    }
}

#[test]
fn help_works_and_bad_flags_are_usage_errors() {
    for (bin, own) in [(CHAIN, "--length"), (HOL, "--quick")] {
        let out = run_ok(bin, &["--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(own), "{text}");
        assert!(text.contains("--cleanup-workers"), "{text}");
    }
    assert!(String::from_utf8_lossy(&run_ok(HOL, &["--help"]).stdout).contains("--slow-ms"));
    for (bin, args) in [
        (CHAIN, &["--length", "0"][..]),
        (CHAIN, &["--length", "many"]),
        (CHAIN, &["--no-such-flag"]),
        (CHAIN, &["--gogc", "fast"]),
        (HOL, &["--quick", "0"]),
        (HOL, &["--slow-ms", "-1"]),
        (HOL, &["--cleanup-workers", "0"]),
        (HOL, &["--bogus"]),
    ] {
        assert_usage_error(bin, args, None);
    }
}
