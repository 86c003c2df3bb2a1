//! Hostile but realistic use (issue 18): draining a queue from inside its own callback,
//! a mutator kept in a `thread_local!`, a forgotten mutator, `CallbackPanic::Propagate`
//! with a batch behind the panicking callback, the fatal message's count, and
//! `Heap::mutator` inside a callback. Each case failed (hung, aborted, lost callbacks or
//! said the wrong thing) before the fix its test names.
//!
//! Cases that end the process (the default `CallbackPanic::Exit`), abort it, or would
//! hang run in a child process (this binary re-run on `child`); a child still running
//! after `CHILD_LIMIT` is killed and the case fails.

mod common;

use collector::{CallbackPanic, Gogc, Heap, HeapConfig, Mutator, Shape};
use common::{panic_message, Log};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

static OBJ: Shape = Shape::new("obj", 1, 1);

/// How long a child may run before it counts as hung (it needs well under a second).
const CHILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A heap with automatic collection off, one cleanup worker and no standby, so a test
/// knows which runner takes which callbacks.
fn heap(policy: CallbackPanic) -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        cleanup_workers: Some(1),
        cleanup_standby: false,
        callback_panic: policy,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// Runs `child` with `MISUSE_CASE=case`: its exit code (`None`: killed by a signal) and
/// its stderr.
fn run_child(case: &str) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MISUSE_CASE", case)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(CHILD_LIMIT) else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("{case}: the child still ran after {CHILD_LIMIT:?} (hung), killed");
    };
    let out = out.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), err)
}

/// A callback body that says it has started and returns once the test drops the
/// returned sender; and the receiver that hears it start.
fn gate() -> (mpsc::Sender<()>, mpsc::Receiver<()>, impl FnOnce() + Send) {
    let (release, wait) = mpsc::channel::<()>();
    let (arrive, arrived) = mpsc::channel::<()>();
    let body = move || {
        let _ = arrive.send(());
        let _ = wait.recv();
    };
    (release, arrived, body)
}

/// Holds the heap's finalizer thread inside a finalizer until the returned sender is
/// dropped, so that the finalizers queued meanwhile wait for whoever steps the queue.
fn hold_finalizer_thread(m: &Mutator) -> mpsc::Sender<()> {
    let (release, arrived, body) = gate();
    let o = m.alloc(&OBJ);
    m.set_finalizer(&o, move |_| body());
    drop(o);
    m.gc();
    m.blocking(|| arrived.recv()).unwrap();
    release
}

/// Holds the heap's (one) cleanup worker inside a cleanup, as `hold_finalizer_thread`.
fn hold_cleanup_worker(m: &Mutator) -> mpsc::Sender<()> {
    let (release, arrived, body) = gate();
    let o = m.alloc(&OBJ);
    m.add_cleanup(&o, (), move |()| body());
    drop(o);
    m.gc();
    m.blocking(|| arrived.recv()).unwrap();
    release
}

/// Break 2: `drain_finalizers` inside a finalizer and `drain_cleanups` inside a cleanup
/// (of the same heap) would wait for themselves; they panic, saying so and what to do.
/// Draining the *other* queue from a callback still works.
#[test]
fn draining_a_queue_from_its_own_callback_panics_with_a_message() {
    let heap = heap(CallbackPanic::Report);
    let m = heap.mutator();
    let (tx, rx) = mpsc::channel::<(&str, String)>();
    let attempt = |what: &'static str, tx: &mpsc::Sender<(&'static str, String)>, f: &dyn Fn()| {
        let msg = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => "returned".to_string(),
            Err(p) => panic_message(&*p),
        };
        tx.send((what, msg)).unwrap();
    };
    let o = m.alloc(&OBJ);
    let (h1, tx1) = (heap.clone(), tx.clone());
    m.set_finalizer(&o, move |obj| {
        attempt("Heap::drain_finalizers", &tx1, &|| h1.drain_finalizers());
        attempt("Mutator::drain_finalizers", &tx1, &|| {
            obj.mutator().drain_finalizers()
        });
        attempt("Heap::drain", &tx1, &|| h1.drain());
        attempt("drain_cleanups in a finalizer", &tx1, &|| {
            h1.drain_cleanups()
        });
    });
    let (h2, tx2) = (heap.clone(), tx.clone());
    m.add_cleanup(&o, (), move |()| {
        attempt("Heap::drain_cleanups", &tx2, &|| h2.drain_cleanups());
        attempt("drain_finalizers in a cleanup", &tx2, &|| {
            h2.drain_finalizers()
        });
    });
    drop((o, tx));
    m.gc(); // queues the finalizer (the cleanup waits for the object to die again, S48)
    m.drain_finalizers();
    m.gc();
    m.drain_cleanups();
    let got: std::collections::HashMap<_, _> = rx.iter().collect();
    for (what, kind) in [
        ("Heap::drain_finalizers", "finalizer"),
        ("Mutator::drain_finalizers", "finalizer"),
        ("Heap::drain", "finalizer"),
        ("Heap::drain_cleanups", "cleanup"),
    ] {
        let msg = &got[what];
        assert!(
            msg.contains(&format!("inside a {kind}")) && msg.contains("would never return"),
            "{what}: {msg}"
        );
    }
    // Draining the other kind is refused too: a finalizer draining cleanups while a
    // cleanup drains finalizers would wait for each other.
    for what in [
        "drain_cleanups in a finalizer",
        "drain_finalizers in a cleanup",
    ] {
        let msg = &got[what];
        assert!(msg.contains("neither would ever return"), "{what}: {msg}");
    }
    let s = heap.stats();
    assert_eq!((s.finalizers.pending, s.cleanups.pending), (0, 0));
}

/// Break 2 under the default policy: the panic ends the process as Go's would, with the
/// message on stderr.
#[test]
fn draining_from_inside_a_finalizer_exits_with_the_message_by_default() {
    let (code, err) = run_child("drain-inside-finalizer");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("Heap::drain_finalizers called inside a finalizer"),
        "{err}"
    );
}

/// Break 3: a mutator kept in a `thread_local!` is dropped during the thread's
/// thread-local destruction, whichever was set up first: the collector's own
/// bookkeeping, or the user's slot.
#[test]
fn a_mutator_in_a_thread_local_is_dropped_at_thread_exit() {
    for case in [
        "thread-local-slot-first",
        "thread-local-mutator-first",
        "thread-local-used-after-exit",
    ] {
        let (code, err) = run_child(case);
        assert_eq!(code, Some(0), "{case}: {err}");
        if case == "thread-local-used-after-exit" {
            assert!(
                err.contains("used at exit"),
                "the destructor never ran: {err}"
            );
        }
    }
}

/// Break 4: a mutator forgotten on a thread that then exits does not hold up pauses,
/// and the handles forgotten with it still keep their objects alive.
#[test]
fn a_forgotten_mutator_does_not_hang_collection() {
    let (code, err) = run_child("forgotten-mutator");
    assert_eq!(code, Some(0), "{err}");
}

/// One kind of callback, for the tests that treat both alike.
struct Kind {
    name: &'static str,
    /// Holds the heap's runner of this kind inside a callback (see `hold_finalizer_thread`).
    hold: fn(&Mutator) -> mpsc::Sender<()>,
    /// Registers a callback of this kind on `obj` that calls `f`.
    register: fn(&Mutator, &collector::Handle<'_>, Box<dyn FnOnce() + Send>),
    /// Steps the queue (`run_finalizers` / `run_cleanups`).
    run: fn(&Mutator) -> usize,
    drain: fn(&Mutator),
    stats: fn(&collector::HeapStats) -> collector::CallbackStats,
}

const FINALIZERS: Kind = Kind {
    name: "finalizer",
    hold: hold_finalizer_thread,
    register: |m, obj, f| m.set_finalizer(obj, move |_| f()),
    run: |m| m.run_finalizers(),
    drain: |m| m.drain_finalizers(),
    stats: |s| s.finalizers,
};

const CLEANUPS: Kind = Kind {
    name: "cleanup",
    hold: hold_cleanup_worker,
    register: |m, obj, f| drop(m.add_cleanup(obj, (), move |()| f())),
    run: |m| m.run_cleanups(),
    drain: |m| m.drain_cleanups(),
    stats: |s| s.cleanups,
};

/// Break 5: under `Propagate`, a panicking callback unwinds to the caller that steps the
/// queue, and the rest of the batch it took (ten queued: the lone cleanup worker and the
/// finalizer thread take them all at once) stays queued: a later call runs it, and the
/// counters end right.
fn propagate_keeps_the_rest_of_the_batch(kind: Kind) {
    let heap = heap(CallbackPanic::Propagate);
    let m = heap.mutator();
    let release = (kind.hold)(&m);
    let log = Log::default();
    for i in 0..10u32 {
        let o = m.alloc(&OBJ);
        let (log, name) = (log.clone(), kind.name);
        (kind.register)(
            &m,
            &o,
            Box::new(move || {
                if i == 0 {
                    panic!("{name} 0 fails");
                }
                log.push(i.to_string());
            }),
        );
    }
    m.gc();
    let caught = catch_unwind(AssertUnwindSafe(|| (kind.run)(&m)));
    assert_eq!(
        panic_message(&*caught.unwrap_err()),
        format!("{} 0 fails", kind.name)
    );
    (kind.run)(&m);
    // The rest run in their queue order, as they would have without the panic.
    let ran: Vec<u32> = log.take().iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(ran, (1..10).collect::<Vec<_>>(), "{}s", kind.name);
    drop(release);
    (kind.drain)(&m);
    let s = (kind.stats)(&heap.stats());
    assert_eq!(
        (s.queued, s.executed, s.panicked, s.pending),
        (11, 11, 1, 0),
        "{}s",
        kind.name
    );
}

#[test]
fn propagate_keeps_the_rest_of_a_finalizer_batch() {
    propagate_keeps_the_rest_of_the_batch(FINALIZERS);
}

#[test]
fn propagate_keeps_the_rest_of_a_cleanup_batch() {
    propagate_keeps_the_rest_of_the_batch(CLEANUPS);
}

/// Break 5 with environment boxes (S43, S49): the runner keeps a chunk's box handles beside
/// the chunk; each finalizer, run at once or queued again after the panic, gets its own
/// object's box. Odd finalizers have a box, even ones none; the object and its box each
/// point at one tag object of their own, so a finalizer handed another's box sees two tags.
#[test]
fn propagate_keeps_each_finalizers_environment_box() {
    let heap = heap(CallbackPanic::Propagate);
    let m = heap.mutator();
    let release = hold_finalizer_thread(&m);
    let log = Log::default();
    for i in 0..10u32 {
        let (o, tag) = (m.alloc(&OBJ), m.alloc(&OBJ));
        o.set(0, Some(&tag));
        let log = log.clone();
        if i % 2 == 0 {
            m.set_finalizer(&o, move |_| log.push(format!("{i} none")));
            continue;
        }
        let env = m.alloc(&OBJ);
        env.set(0, Some(&tag));
        m.set_finalizer_with(&o, &env, move |o, env| {
            let own = o.get(0).unwrap().same_object(&env.get(0).unwrap());
            log.push(format!("{i} {}", if own { "own" } else { "another's" }));
            assert!(i != 1, "finalizer 1 fails");
        });
    }
    m.gc();
    let caught = catch_unwind(AssertUnwindSafe(|| m.run_finalizers()));
    assert_eq!(panic_message(&*caught.unwrap_err()), "finalizer 1 fails");
    m.run_finalizers();
    let want: Vec<String> = (0..10)
        .map(|i| format!("{i} {}", if i % 2 == 0 { "none" } else { "own" }))
        .collect();
    assert_eq!(log.take(), want);
    drop(release);
}

/// Break 6: under `Exit`, the fatal message counts the callbacks of the runner's own
/// batch that will not run, not only those left in the queue.
#[test]
fn the_fatal_message_counts_the_rest_of_the_batch() {
    for case in ["exit-finalizer-batch", "exit-cleanup-batch"] {
        let (code, err) = run_child(case);
        assert_eq!(code, Some(2), "{case}: {err}");
        assert!(
            err.contains("collector: 3 more callbacks were queued and will not run"),
            "{case}: {err}"
        );
    }
}

/// Break 9: `Heap::mutator` inside a callback says that the callback runs on a thread
/// that already is a mutator of the heap, and which API gives the callback that mutator.
#[test]
fn heap_mutator_inside_a_callback_says_what_to_use_instead() {
    let heap = heap(CallbackPanic::Report);
    let m = heap.mutator();
    let (tx, rx) = mpsc::channel::<(&str, String)>();
    let try_mutator = |heap: &Heap| match catch_unwind(AssertUnwindSafe(|| drop(heap.mutator()))) {
        Ok(()) => "returned".to_string(),
        Err(p) => panic_message(&*p),
    };
    let o = m.alloc(&OBJ);
    let (h1, tx1) = (heap.clone(), tx.clone());
    m.add_cleanup(&o, (), move |()| {
        tx1.send(("cleanup", try_mutator(&h1))).unwrap();
    });
    let p = m.alloc(&OBJ);
    let (h2, tx2) = (heap.clone(), tx.clone());
    m.set_finalizer(&p, move |_| {
        tx2.send(("finalizer", try_mutator(&h2))).unwrap();
    });
    drop((o, p, tx));
    common::gc_and_drain(&m);
    let got: std::collections::HashMap<_, _> = rx.iter().collect();
    let cleanup = &got["cleanup"];
    assert!(
        cleanup.contains("inside a cleanup")
            && cleanup.contains("already is a mutator of this heap")
            && cleanup.contains("add_cleanup_with"),
        "{cleanup}"
    );
    let finalizer = &got["finalizer"];
    assert!(
        finalizer.contains("inside a finalizer") && finalizer.contains(".mutator()"),
        "{finalizer}"
    );
}

thread_local! {
    /// Where `thread-local-*` children keep their mutator.
    static SLOT: RefCell<Option<Mutator>> = const { RefCell::new(None) };
    /// Where `thread-local-used-after-exit` keeps its mutator.
    static USED_AT_EXIT: RefCell<UsesItsMutatorWhenDropped> =
        const { RefCell::new(UsesItsMutatorWhenDropped(None)) };
}

/// A thread-local value whose destructor (run after the collector's own record of the
/// thread is gone, as it was touched first) still allocates, links, collects and reads
/// through its mutator before dropping it: every use must re-enter the running state
/// through the heap, or the collector could read the mutator's roots while it writes
/// them (and its `gc()`, counting it blocked twice, would never finish).
struct UsesItsMutatorWhenDropped(Option<Mutator>);

impl Drop for UsesItsMutatorWhenDropped {
    fn drop(&mut self) {
        let Some(m) = self.0.take() else { return };
        let parent = m.alloc(&OBJ);
        let child = m.alloc(&OBJ);
        child.write(0, 42);
        parent.set(0, Some(&child));
        drop(child);
        m.gc();
        assert_eq!(parent.get(0).unwrap().read(0), 42);
        eprintln!("used at exit");
    }
}

/// The child process of the tests above, which run it with `--ignored` and
/// `MISUSE_CASE` set (on its own it has nothing to check: run with `--ignored` but
/// without `MISUSE_CASE`, it returns at once).
#[test]
#[ignore = "the child process of the tests that call run_child"]
fn child() {
    let Ok(case) = std::env::var("MISUSE_CASE") else {
        return;
    };
    match case.as_str() {
        "drain-inside-finalizer" => {
            let heap = heap(CallbackPanic::Exit);
            let m = heap.mutator();
            let h = heap.clone();
            let o = m.alloc(&OBJ);
            m.set_finalizer(&o, move |_| h.drain_finalizers());
            drop(o);
            common::gc_and_drain(&m);
        }
        "thread-local-slot-first" | "thread-local-mutator-first" => {
            child_thread_local(case == "thread-local-slot-first")
        }
        "thread-local-used-after-exit" => child_used_after_exit(),
        "forgotten-mutator" => child_forgotten_mutator(),
        "exit-finalizer-batch" => child_exit_batch(FINALIZERS),
        "exit-cleanup-batch" => child_exit_batch(CLEANUPS),
        _ => panic!("unknown case {case}"),
    }
    eprintln!("child returned");
}

/// The runner of `kind`, held in a callback while four panicking ones are queued, then
/// released: it takes all four, and the first one's panic exits the process.
fn child_exit_batch(kind: Kind) {
    let heap = heap(CallbackPanic::Exit);
    let m = heap.mutator();
    let release = (kind.hold)(&m);
    for i in 0..4 {
        let o = m.alloc(&OBJ);
        let name = kind.name;
        (kind.register)(&m, &o, Box::new(move || panic!("{name} {i} fails")));
    }
    m.gc();
    drop(release);
    (kind.drain)(&m);
}

/// A thread keeps its mutator in `SLOT` and exits. `slot_first`: the slot is touched
/// before the mutator is created (the collector's thread-local is then destroyed first).
fn child_thread_local(slot_first: bool) {
    let heap = heap(CallbackPanic::Exit);
    let h = heap.clone();
    let t = std::thread::spawn(move || {
        if slot_first {
            SLOT.with(|s| *s.borrow_mut() = Some(h.mutator()));
        } else {
            let m = h.mutator();
            SLOT.with(|s| *s.borrow_mut() = Some(m));
        }
        SLOT.with(|s| {
            let s = s.borrow();
            let m = s.as_ref().unwrap();
            let o = m.alloc(&OBJ);
            o.write(0, 7);
            m.gc();
            assert_eq!(o.read(0), 7);
        });
    });
    t.join().unwrap();
    heap.gc();
    assert_eq!(heap.stats().mutators, 0, "the thread's mutator was dropped");
}

/// A thread whose thread-local value uses its mutator in its destructor, after the
/// collector's record of the thread is gone; the main thread collects meanwhile.
fn child_used_after_exit() {
    let heap = heap(CallbackPanic::Exit);
    let h = heap.clone();
    let t = std::thread::spawn(move || {
        // Touched first, so destroyed after the collector's record (made by mutator()).
        USED_AT_EXIT.with(|_| {});
        let m = h.mutator();
        USED_AT_EXIT.with(|s| s.borrow_mut().0 = Some(m));
    });
    for _ in 0..20 {
        heap.gc();
    }
    t.join().unwrap();
    heap.gc();
    assert_eq!(heap.stats().mutators, 0, "the thread's mutator was dropped");
    assert_eq!(heap.lost_objects(), 0);
}

/// A thread forgets its mutator and a handle, and exits; collections still complete,
/// and the handle's object stays alive.
fn child_forgotten_mutator() {
    let heap = heap(CallbackPanic::Exit);
    let h = heap.clone();
    let kept = std::thread::spawn(move || {
        let m = h.mutator();
        let o = m.alloc(&OBJ);
        o.write(0, 42);
        let r = o.reference();
        std::mem::forget(o);
        std::mem::forget(m);
        r
    })
    .join()
    .unwrap();
    heap.gc();
    // A collection that is already waiting for a running mutator when its thread
    // forgets it and exits (or that starts just after: either order must finish).
    let (ready_tx, ready) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let h = heap.clone();
    let t = std::thread::spawn(move || {
        let m = h.mutator();
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap(); // running, not blocking: a pause waits for this thread
        std::mem::forget(m);
    });
    ready.recv().unwrap();
    let h = heap.clone();
    let collector = std::thread::spawn(move || h.gc());
    go.send(()).unwrap();
    t.join().unwrap();
    collector.join().unwrap();
    let m = heap.mutator();
    for _ in 0..1000 {
        drop(m.alloc(&OBJ));
    }
    m.gc();
    drop(m);
    heap.gc();
    assert!(
        heap.is_allocated(kept),
        "a forgotten handle's object was freed"
    );
    assert_eq!(heap.stats().lost_objects, 0);
}
