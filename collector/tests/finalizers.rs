//! Finalizers against `SEMANTICS.md` (items cited as Sn), and Go's `mfinal_test.go`
//! where it applies:
//! - TestFinalizerType: its six parameter conversions cannot be written (S9 is a type
//!   error here); its core — the finalizer gets its object and reads 97531 — is
//!   `a_finalizer_runs_once_with_its_object`.
//! - TestFinalizerInterfaceBig: an `any` parameter has no counterpart.
//! - TestFinalizerZeroSizedStruct, TestFinalizerOnGlobal: `zero_sized_and_global_...`.
//! - TestEmptySlice / TestEmptyString: a handle cannot point one past the end of an
//!   object, so the past-the-end case cannot arise.
//! - TestDeferKeepAlive: `keep_alive_holds_the_object_until_its_call`.
//!
//! No test waits with a sleep: `gc()` returns with finalizers queued (S55) and
//! `drain_finalizers` waits for the finalizer thread to go idle.

mod common;

use common::{gc_and_drain, verified_heap, Log};

use collector::{keep_alive, CallbackPanic, Gogc, Heap, HeapConfig, Shape};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};

/// One reference slot, two data words (kept out of the tiny allocator, as Go's tests do).
static OBJ: Shape = Shape::new("obj", 1, 2);
/// A holder for resurrected objects.
static HOLDER: Shape = Shape::new("holder", 1, 0);
/// A one-word pointer-free object: tiny-allocated.
static TINY: Shape = Shape::new("tiny", 0, 1);
static EMPTY: Shape = Shape::new("empty", 0, 0);

#[test]
fn a_finalizer_runs_once_with_its_object() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let obj = m.alloc(&OBJ);
    obj.write(0, 97531);
    let l = log.clone();
    m.set_finalizer(&obj, move |h| l.push(format!("fin {}", h.read(0))));
    drop(obj);
    gc_and_drain(&m);
    assert_eq!(log.take(), ["fin 97531"]);
    gc_and_drain(&m);
    gc_and_drain(&m);
    assert!(log.take().is_empty(), "a finalizer runs once");
    let s = heap.stats().finalizers;
    assert_eq!(
        (s.registered, s.queued, s.executed, s.pending),
        (1, 1, 1, 0)
    );
    assert_eq!(s.runners, 1, "exactly one finalizer thread (S38)");
}

/// S43: the cycle that finds the object dead queues its finalizer and keeps it (and what
/// it reaches); the first cycle after the finalizer has returned frees it.
#[test]
fn one_cycle_queues_and_a_later_cycle_frees() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    let child = m.alloc(&OBJ);
    obj.set(0, Some(&child));
    let (r, rc) = (obj.reference(), child.reference());
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    // The finalizer waits for the test, so the state between the cycles is observable.
    m.set_finalizer(&obj, move |_| rx.lock().unwrap().recv().unwrap());
    drop((obj, child));
    m.gc();
    assert_eq!(
        heap.stats().finalizers.queued,
        1,
        "queued by the first cycle"
    );
    assert!(
        heap.is_allocated(r) && heap.is_allocated(rc),
        "resurrected with its child"
    );
    m.gc();
    assert!(
        heap.is_allocated(r) && heap.is_allocated(rc),
        "kept while its finalizer is queued or running"
    );
    tx.send(()).unwrap();
    m.drain_finalizers();
    m.gc();
    assert!(
        !heap.is_allocated(r) && !heap.is_allocated(rc),
        "freed after it returned"
    );
    assert_eq!(heap.stats().lost_objects, 0);
}

/// S55: `gc()` returns with the finalizers queued, not necessarily run.
#[test]
fn gc_returns_with_finalizers_queued_not_run() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..3 {
        let o = m.alloc(&OBJ);
        let rx = rx.clone();
        m.set_finalizer(&o, move |_| rx.lock().unwrap().recv().unwrap());
    }
    m.gc();
    let s = heap.stats().finalizers;
    assert_eq!(s.queued, 3);
    assert_eq!(
        s.executed, 0,
        "the first one is blocked, so none has finished"
    );
    for _ in 0..3 {
        tx.send(()).unwrap();
    }
    m.drain_finalizers();
    assert_eq!(heap.stats().finalizers.executed, 3);
}

/// S45: A → B, both finalized and unreachable: A runs at cycle N, B only after A's
/// finalizer has returned and a later cycle ran; a chain of k takes k cycles.
#[test]
fn a_chain_of_finalizers_runs_one_link_per_cycle() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let k = 5;
    let nodes: Vec<_> = (0..k).map(|_| m.alloc(&OBJ)).collect();
    for (i, n) in nodes.iter().enumerate() {
        if i + 1 < k {
            n.set(0, Some(&nodes[i + 1]));
        }
        let l = log.clone();
        m.set_finalizer(n, move |_| l.push(format!("{i}")));
    }
    drop(nodes);
    for cycle in 0..k {
        gc_and_drain(&m);
        assert_eq!(
            log.take(),
            [format!("{cycle}")],
            "cycle {cycle}: exactly one link"
        );
    }
    gc_and_drain(&m);
    assert!(log.take().is_empty());
    assert_eq!(heap.stats().lost_objects, 0);
}

/// S45: the order passes through an object without a finalizer (A → X → B).
#[test]
fn ordering_passes_through_objects_without_finalizers() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let a = m.alloc(&OBJ);
    let x = m.alloc(&OBJ);
    let b = m.alloc(&OBJ);
    a.set(0, Some(&x));
    x.set(0, Some(&b));
    let (la, lb) = (log.clone(), log.clone());
    m.set_finalizer(&a, move |_| la.push("a"));
    m.set_finalizer(&b, move |_| lb.push("b"));
    drop((a, x, b));
    gc_and_drain(&m);
    assert_eq!(log.take(), ["a"]);
    gc_and_drain(&m);
    assert_eq!(log.take(), ["b"]);
}

/// S46: a cycle through two objects with finalizers is never collected; a self-pointer
/// is not a cycle (S28).
#[test]
fn a_finalizer_cycle_is_never_collected_but_a_self_pointer_is() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let a = m.alloc(&OBJ);
    let b = m.alloc(&OBJ);
    a.set(0, Some(&b));
    b.set(0, Some(&a));
    let e = m.alloc(&OBJ);
    e.set(0, Some(&e));
    for (name, o) in [("a", &a), ("b", &b), ("e", &e)] {
        let l = log.clone();
        m.set_finalizer(o, move |_| l.push(name));
    }
    let (ra, rb) = (a.reference(), b.reference());
    drop((a, b, e));
    gc_and_drain(&m);
    assert_eq!(log.take(), ["e"], "the self-pointer is finalized at once");
    for _ in 0..3 {
        gc_and_drain(&m);
    }
    assert!(log.take().is_empty(), "the two-object cycle never runs");
    assert!(
        heap.is_allocated(ra) && heap.is_allocated(rb),
        "and is never freed"
    );
}

/// S47: the finalizer may store its object (resurrection); it ran once, and runs again
/// only when re-registered, which it may do itself.
#[test]
fn resurrection_runs_once_and_re_registering_re_arms() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let holder = m.alloc_global(&HOLDER);
    let count = Arc::new(AtomicUsize::new(0));
    let obj = m.alloc(&OBJ);
    let c = count.clone();
    m.set_finalizer(&obj, move |h| {
        c.fetch_add(1, SeqCst);
        h.mutator().global(&holder).set(0, Some(&h));
    });
    let r = obj.reference();
    drop(obj);
    for _ in 0..3 {
        gc_and_drain(&m);
    }
    assert_eq!(count.load(SeqCst), 1, "it ran once");
    assert!(heap.is_allocated(r), "resurrected: the global holds it");
    // A finalizer that re-registers itself runs at every cycle.
    fn rearm(m: &collector::Mutator, h: &collector::Handle<'_>, c: Arc<AtomicUsize>) {
        m.set_finalizer(h, move |h| {
            c.fetch_add(1, SeqCst);
            rearm(h.mutator(), &h, c);
        });
    }
    let again = Arc::new(AtomicUsize::new(0));
    let obj = m.alloc(&OBJ);
    rearm(&m, &obj, again.clone());
    drop(obj);
    for i in 1..=3 {
        gc_and_drain(&m);
        assert_eq!(again.load(SeqCst), i, "re-armed, it runs at cycle {i}");
    }
}

/// S49: a finalizer whose environment box holds its own object never runs.
#[test]
fn a_finalizer_whose_box_holds_its_object_never_runs() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let ran = Arc::new(AtomicBool::new(false));
    let obj = m.alloc(&OBJ);
    let env = m.alloc(&HOLDER);
    env.set(0, Some(&obj));
    let r = ran.clone();
    m.set_finalizer_with(&obj, &env, move |_, _| r.store(true, SeqCst));
    let ro = obj.reference();
    let weak = m.weak(&obj);
    drop((obj, env));
    for _ in 0..3 {
        gc_and_drain(&m);
    }
    assert!(!ran.load(SeqCst));
    assert!(heap.is_allocated(ro));
    // Clearing it lets the object go in one cycle (S49).
    let obj = weak.upgrade(&m).expect("never found dead");
    m.clear_finalizer(&obj);
    drop(obj);
    gc_and_drain(&m);
    assert!(!heap.is_allocated(ro));
    assert_eq!(heap.stats().finalizers.stopped, 1);
}

/// S50: an interior handle keeps the whole object alive; finalizers on interior data
/// words each get their own field.
#[test]
fn interior_finalizers_get_their_own_fields_and_interior_handles_keep_the_object() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let obj = m.alloc(&OBJ);
    for field in [1usize, 2] {
        let l = log.clone();
        m.set_finalizer_at(&obj.interior(field), move |f| {
            l.push(format!("field {}", f.field()))
        });
    }
    let l = log.clone();
    m.set_finalizer(&obj, move |_| l.push("base"));
    let inner = obj.interior(2);
    drop(obj);
    gc_and_drain(&m);
    assert!(
        log.take().is_empty(),
        "the interior handle keeps the whole object"
    );
    drop(inner);
    gc_and_drain(&m);
    let mut got = log.take();
    got.sort();
    assert_eq!(got, ["base", "field 1", "field 2"]);
}

/// S32: an object allocated during marking is black: finalized no earlier than the next
/// cycle.
#[test]
fn an_object_allocated_during_marking_is_finalized_the_cycle_after() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    m.blocking(|| {
        let mut c = heap.begin_cycle();
        c.scan_roots();
        let obj = m.alloc(&OBJ);
        let l = log.clone();
        m.set_finalizer(&obj, move |_| l.push("fin"));
        drop(obj);
        c.mark();
        c.finish();
    });
    m.drain_finalizers();
    assert!(
        log.take().is_empty(),
        "floating garbage in the cycle that made it"
    );
    gc_and_drain(&m);
    assert_eq!(log.take(), ["fin"]);
}

/// S4, S12, S52: zero-sized and globals-space objects: registration is a silent no-op
/// that starts nothing; clearing never starts the thread (S6).
#[test]
fn zero_sized_and_global_objects_take_no_finalizer_and_start_no_thread() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let ran = Arc::new(AtomicBool::new(false));
    let z = m.alloc(&EMPTY);
    let g = m.alloc_global(&HOLDER);
    let gh = m.global(&g);
    let obj = m.alloc(&OBJ);
    m.clear_finalizer(&obj);
    for h in [&z, &gh] {
        let r = ran.clone();
        m.set_finalizer(h, move |_| r.store(true, SeqCst));
        let r = ran.clone();
        // A second registration is no "already set" either.
        m.set_finalizer(h, move |_| r.store(true, SeqCst));
    }
    drop((z, gh, obj));
    gc_and_drain(&m);
    let s = heap.stats().finalizers;
    assert_eq!(s.runners, 0, "no finalizer thread was started");
    assert_eq!(s.registered, 0);
    assert!(!ran.load(SeqCst));
}

/// S51: tiny objects share a 16-byte block: a finalizer on one cannot run while its
/// neighbour is reachable; when the block dies, both run in one cycle.
#[test]
fn a_tiny_neighbour_keeps_a_finalized_tiny_object() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let log = Log::default();
    let a = m.alloc(&TINY);
    let b = m.alloc(&TINY);
    assert_eq!(a.reference().span(), b.reference().span());
    assert_eq!(a.reference().slot(), b.reference().slot(), "one tiny block");
    for (name, h) in [("a", &a), ("b", &b)] {
        let l = log.clone();
        m.set_finalizer(h, move |_| l.push(name));
    }
    drop(a);
    for _ in 0..3 {
        gc_and_drain(&m);
    }
    assert!(log.take().is_empty(), "b keeps the block, and a with it");
    drop(b);
    gc_and_drain(&m);
    let mut got = log.take();
    got.sort();
    assert_eq!(got, ["a", "b"]);
}

/// S38: finalizers run one at a time: no finalizer starts while another is running, so
/// a blocked finalizer stalls every later one.
#[test]
fn finalizers_run_one_at_a_time_and_a_blocked_one_stalls_the_rest() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let running = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let order = Log::default();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..8 {
        let o = m.alloc(&OBJ);
        let (running, overlaps, order, rx) =
            (running.clone(), overlaps.clone(), order.clone(), rx.clone());
        m.set_finalizer(&o, move |_| {
            if running.swap(true, SeqCst) {
                overlaps.fetch_add(1, SeqCst);
            }
            order.push(format!("{i}"));
            if i == 0 {
                rx.lock().unwrap().recv().unwrap();
            }
            running.store(false, SeqCst);
        });
    }
    m.gc();
    assert_eq!(heap.stats().finalizers.queued, 8);
    tx.send(()).unwrap();
    m.drain_finalizers();
    assert_eq!(overlaps.load(SeqCst), 0, "two finalizers ran at once");
    assert_eq!(order.take().len(), 8);
}

/// S53 (TestDeferKeepAlive): the object stays alive up to `keep_alive`.
#[test]
fn keep_alive_holds_the_object_until_its_call() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let ran = Arc::new(AtomicBool::new(false));
    let obj = m.alloc(&OBJ);
    let r = ran.clone();
    m.set_finalizer(&obj, move |_| r.store(true, SeqCst));
    gc_and_drain(&m);
    assert!(!ran.load(SeqCst), "alive: the handle is still to be used");
    keep_alive(obj);
    gc_and_drain(&m);
    assert!(ran.load(SeqCst), "dead after its last use");
}

/// A panicking finalizer under `CallbackPanic::Report` is counted, and the finalizers
/// after it still run (nothing else queued is lost).
#[test]
fn a_panicking_finalizer_is_reported_and_the_rest_run() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        callback_panic: CallbackPanic::Report,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..4 {
        let o = m.alloc(&OBJ);
        let r = ran.clone();
        m.set_finalizer(&o, move |_| {
            if i == 1 {
                panic!("finalizer {i} fails");
            }
            r.fetch_add(1, SeqCst);
        });
    }
    gc_and_drain(&m);
    let s = heap.stats().finalizers;
    assert_eq!((s.executed, s.panicked), (4, 1));
    assert_eq!(ran.load(SeqCst), 3);
}

/// S54: at shutdown, queued finalizers are not run, and stay counted as pending. The
/// first finalizer runs until it sees the heap shut down; the four behind it never start.
#[test]
fn shutdown_leaves_queued_finalizers_unrun() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let ran = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let started_tx = Arc::new(started_tx);
    for i in 0..5 {
        let o = m.alloc(&OBJ);
        let (ran, h, tx) = (ran.clone(), heap.clone(), started_tx.clone());
        m.set_finalizer(&o, move |_| {
            if i == 0 {
                tx.lock().unwrap().send(()).unwrap();
                while !h.is_shut_down() {
                    std::thread::yield_now();
                }
            }
            ran.fetch_add(1, SeqCst);
        });
    }
    m.gc();
    drop(m);
    started.recv().unwrap();
    heap.shutdown();
    let s = heap.stats().finalizers;
    assert_eq!(ran.load(SeqCst), 1, "only the one already running finished");
    assert_eq!((s.queued, s.executed, s.pending), (5, 1, 4));
}

/// S10 and S5: SetFinalizer mistakes are fatal, with Go's message and exit status 2.
/// Each runs in a child process (this test binary, re-run on one test).
#[test]
fn set_finalizer_mistakes_are_fatal_with_gos_message() {
    for (case, msg) in [
        (
            "already-set",
            "fatal error: runtime.SetFinalizer: finalizer already set",
        ),
        (
            "reference-field",
            "fatal error: runtime.SetFinalizer: pointer not at beginning of allocated block",
        ),
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fatal_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FATAL_CASE", case)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{case}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{case}: {err}");
    }
}

/// The child of `set_finalizer_mistakes_are_fatal_with_gos_message`, which runs it with
/// `--ignored` and `FATAL_CASE` set. Ignored otherwise: on its own it has nothing to
/// check, and a test that passes by doing nothing must not count as a check (run with
/// `--ignored` but without `FATAL_CASE`, it returns at once).
#[test]
#[ignore = "the child process of set_finalizer_mistakes_are_fatal_with_gos_message"]
fn fatal_child() {
    let Ok(case) = std::env::var("FATAL_CASE") else {
        return;
    };
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    match case.as_str() {
        "already-set" => {
            m.set_finalizer(&obj, |_| {});
            m.set_finalizer(&obj, |_| {});
        }
        "reference-field" => m.set_finalizer_at(&obj.interior(0), |_| {}),
        _ => panic!("unknown FATAL_CASE {case}"),
    }
    unreachable!("the registration should have been fatal");
}
