//! Faults (issue 11): callbacks that panic under each `CallbackPanic` policy, callbacks
//! that never return (collection goes on; shutdown returns within `RUNNER_EXIT_WAIT`),
//! and shutdown with callbacks queued (they never run; nothing crashes). The heap cap's
//! out-of-memory error is tested in `pacing.rs`; `Report` also in `finalizers.rs` and
//! `cleanups.rs`.

mod common;

use collector::{CallbackPanic, Gogc, Heap, HeapConfig, Shape};
use common::Rng;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

static OBJ: Shape = Shape::new("obj", 1, 1);
static GARBAGE: Shape = Shape::new("garbage", 2, 6);

fn config(policy: CallbackPanic) -> HeapConfig {
    HeapConfig {
        gogc: Gogc::Percent(100),
        min_heap_bytes: 256 << 10,
        verify: true,
        cleanup_workers: Some(1),
        callback_panic: policy,
        ..HeapConfig::default()
    }
}

fn heap(policy: CallbackPanic) -> Heap {
    Heap::new(config(policy)).unwrap()
}

/// A gate a callback waits at until the test drops the sender (the callback then
/// returns), and a channel that says when it got there.
struct Gate {
    release: Option<mpsc::Sender<()>>,
    arrived: mpsc::Receiver<()>,
}

/// A callback body that announces itself and blocks until the gate is released.
type Blocker = Box<dyn FnOnce() + Send>;

fn new_gate() -> (Gate, Blocker) {
    let (release, wait) = mpsc::channel::<()>();
    let (arrive, arrived) = mpsc::channel::<()>();
    let body = Box::new(move || {
        let _ = arrive.send(());
        let _ = wait.recv(); // Err once the sender is dropped: then return.
    });
    (
        Gate {
            release: Some(release),
            arrived,
        },
        body,
    )
}

/// Allocates garbage and rewires a small live graph: enough to run automatic cycles.
fn churn(m: &collector::Mutator, rounds: usize) {
    let mut rng = Rng::new(7);
    let live: Vec<_> = (0..64).map(|_| m.alloc(&GARBAGE)).collect();
    for _ in 0..rounds {
        let g = m.alloc(&GARBAGE);
        let (a, b) = (rng.below(live.len()), rng.below(live.len()));
        live[a].set(0, Some(&live[b]));
        g.set(1, Some(&live[a]));
    }
}

/// S38 with a finalizer that never returns: the finalizers behind it wait (one
/// finalizer thread), but cycles, automatic and forced, still complete, cleanups still
/// run, and shutdown returns, leaving the blocked runner and the queue unrun (S54).
#[test]
fn a_finalizer_that_never_returns_stops_neither_collection_nor_shutdown() {
    let heap = heap(CallbackPanic::Exit);
    let m = heap.mutator();
    let (mut gate, body) = new_gate();
    let ran_after = Arc::new(Mutex::new(0usize));
    let o = m.alloc(&OBJ);
    m.set_finalizer(&o, move |_| body());
    drop(o);
    m.gc();
    m.blocking(|| gate.arrived.recv()).unwrap();
    for _ in 0..10 {
        let o = m.alloc(&OBJ);
        let r = ran_after.clone();
        m.set_finalizer(&o, move |_| *r.lock().unwrap() += 1);
    }
    let cleaned = Arc::new(Mutex::new(0usize));
    for _ in 0..10 {
        let o = m.alloc(&OBJ);
        let c = cleaned.clone();
        m.add_cleanup(&o, (), move |()| *c.lock().unwrap() += 1);
    }
    let before = m.gc_cycles();
    m.gc();
    churn(&m, 100_000);
    m.gc();
    m.drain_cleanups();
    assert!(
        m.gc_cycles() >= before + 3,
        "cycles went on: {before} → {}",
        m.gc_cycles()
    );
    assert_eq!(*cleaned.lock().unwrap(), 10, "the cleanups ran meanwhile");
    assert_eq!(
        *ran_after.lock().unwrap(),
        0,
        "no finalizer passed the blocked one"
    );
    let queued = heap.stats().finalizers;
    assert_eq!((queued.queued, queued.executed), (11, 0));
    drop(m);
    heap.shutdown();
    let after = heap.stats().finalizers;
    assert_eq!(
        after.pending, 11,
        "nothing queued was run or lost: {after:?}"
    );
    // Released after shutdown, the finalizer returns and its thread exits on its own.
    gate.release.take();
    assert_eq!(*ran_after.lock().unwrap(), 0);
}

/// A cleanup that never returns, with one worker and the standby (the testbed's option,
/// `cleanup_standby`; Go has none): the standby runs the cleanups queued behind it (once the worker has not come for work for `CLEANUP_STALL`); a second
/// one that never returns holds the standby too; then the cleanups queued behind both
/// wait, collection goes on, and shutdown returns without running them (S54).
#[test]
fn a_cleanup_that_never_returns_stops_neither_collection_nor_shutdown() {
    let heap = Heap::new(HeapConfig {
        cleanup_standby: true,
        ..config(CallbackPanic::Exit)
    })
    .unwrap();
    let m = heap.mutator();
    let (mut gate, body) = new_gate();
    let o = m.alloc(&OBJ);
    m.add_cleanup(&o, (), move |()| body());
    drop(o);
    m.gc();
    m.blocking(|| gate.arrived.recv()).unwrap();
    // The worker is held: the standby takes these (the last one says so; were they
    // held back, this would wait forever).
    let (done_tx, done) = mpsc::channel::<()>();
    let left = Arc::new(Mutex::new(50usize));
    for _ in 0..50 {
        let o = m.alloc(&OBJ);
        let (left, done_tx) = (left.clone(), done_tx.clone());
        m.add_cleanup(&o, (), move |()| {
            let mut l = left.lock().unwrap();
            *l -= 1;
            if *l == 0 {
                let _ = done_tx.send(());
            }
        });
    }
    m.gc();
    m.blocking(|| done.recv()).unwrap();
    // Now hold the standby as well.
    let (mut gate2, body2) = new_gate();
    let o = m.alloc(&OBJ);
    m.add_cleanup(&o, (), move |()| body2());
    drop(o);
    m.gc();
    m.blocking(|| gate2.arrived.recv()).unwrap();
    let ran = Arc::new(Mutex::new(0usize));
    for _ in 0..100 {
        let o = m.alloc(&OBJ);
        let r = ran.clone();
        m.add_cleanup(&o, (), move |()| *r.lock().unwrap() += 1);
    }
    let before = m.gc_cycles();
    m.gc();
    churn(&m, 100_000);
    m.gc();
    assert!(m.gc_cycles() >= before + 3);
    let s = heap.stats().cleanups;
    assert_eq!((s.queued, s.executed, s.runners), (152, 50, 2), "{s:?}");
    drop(m);
    heap.shutdown();
    assert_eq!(heap.stats().cleanups.pending, 102);
    // Released, the blocked cleanups return; their threads then exit without taking more.
    gate.release.take();
    gate2.release.take();
    while heap.stats().cleanups.executed < 52 {
        std::thread::yield_now();
    }
    assert_eq!(*ran.lock().unwrap(), 0, "a cleanup ran after shutdown");
}

/// `Report`: a panicking finalizer and a panicking cleanup are counted, and the
/// callbacks after them run.
#[test]
fn report_counts_panics_and_goes_on() {
    let heap = heap(CallbackPanic::Report);
    let m = heap.mutator();
    let ran = Arc::new(Mutex::new(0usize));
    for i in 0..6 {
        let o = m.alloc(&OBJ);
        let (r1, r2) = (ran.clone(), ran.clone());
        if i % 2 == 0 {
            m.set_finalizer(&o, move |_| {
                if i == 2 {
                    panic!("finalizer {i} fails");
                }
                *r1.lock().unwrap() += 1;
            });
        } else {
            m.add_cleanup(&o, i, move |i| {
                if i == 3 {
                    panic!("cleanup {i} fails");
                }
                *r2.lock().unwrap() += 1;
            });
        }
    }
    common::gc_and_drain(&m);
    let s = heap.stats();
    assert_eq!((s.finalizers.executed, s.finalizers.panicked), (3, 1));
    assert_eq!((s.cleanups.executed, s.cleanups.panicked), (3, 1));
    assert_eq!(*ran.lock().unwrap(), 4);
}

/// `Propagate`: a callback run by a thread that steps the queue itself
/// (`run_finalizers`) unwinds to that caller with its own payload. The heap's finalizer
/// thread is held in an earlier finalizer so the stepping thread is the one that runs it.
#[test]
fn propagate_unwinds_to_the_thread_that_steps_the_queue() {
    let heap = heap(CallbackPanic::Propagate);
    let m = heap.mutator();
    let (mut gate, body) = new_gate();
    let o = m.alloc(&OBJ);
    m.set_finalizer(&o, move |_| body());
    drop(o);
    m.gc();
    m.blocking(|| gate.arrived.recv()).unwrap();
    let o = m.alloc(&OBJ);
    m.set_finalizer(&o, |_| panic!("the propagated finalizer"));
    drop(o);
    m.gc();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.run_finalizers()));
    let payload = caught.expect_err("the finalizer's panic reached the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the propagated finalizer")
    );
    assert_eq!(heap.stats().finalizers.panicked, 1);
    gate.release.take();
    m.drain_finalizers();
    assert_eq!(heap.stats().finalizers.pending, 0);
}

/// `Exit` (the default, Go's behaviour) and `Propagate` on the heap's own runner
/// threads: a panicking callback prints its message and the count still queued, and
/// the process exits with status 2. Each case runs in a child process (this test binary
/// re-run on `panic_child`).
#[test]
fn exit_and_propagate_on_runner_threads_end_the_process_with_status_2() {
    for case in [
        "exit-finalizer",
        "exit-cleanup",
        "propagate-finalizer",
        "propagate-cleanup",
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "panic_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PANIC_CASE", case)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert!(
            err.contains(&format!("callback of {case} fails")),
            "{case}: {err}"
        );
        assert!(
            err.contains("more callbacks were queued and will not run"),
            "{case}: {err}"
        );
    }
}

/// The child of `exit_and_propagate_on_runner_threads_end_the_process_with_status_2`,
/// which runs it with `--ignored` and `PANIC_CASE` set (on its own it has nothing to
/// check, so it is not run with the other tests).
#[test]
#[ignore = "the child process of exit_and_propagate_on_runner_threads_end_the_process_with_status_2"]
fn panic_child() {
    let Ok(case) = std::env::var("PANIC_CASE") else {
        return;
    };
    let policy = if case.starts_with("exit") {
        CallbackPanic::Exit
    } else {
        CallbackPanic::Propagate
    };
    let heap = heap(policy);
    let m = heap.mutator();
    for _ in 0..3 {
        let o = m.alloc(&OBJ);
        let msg = format!("callback of {case} fails");
        if case.ends_with("finalizer") {
            m.set_finalizer(&o, move |_| panic!("{msg}"));
        } else {
            m.add_cleanup(&o, msg, |msg| panic!("{msg}"));
        }
    }
    common::gc_and_drain(&m);
    unreachable!("the panic should have ended the process");
}
