//! Weak handles (`Mutator::weak`, Go's `weak.Pointer`) against `SEMANTICS.md` (items
//! cited as Sn), and Go's `weak/pointer_test.go` where it applies:
//! - TestPointerFinalizer: `a_weak_handle_is_gone_before_the_finalizer_runs_and_stays_gone`.
//! - TestPointerCleanup: `a_weak_handle_is_gone_before_the_cleanup_runs`.
//! - TestPointer / TestPointerEquality: `upgrade_…` and `weak_handles_of_one_object_…`.
//! - The rest of `pointer_test.go` is not carried over: `weak.Make(nil)` has no
//!   counterpart (a handle is never null), and the tiny-block rule (S51) belongs to the
//!   finalizer tests.
//!
//! No test waits with a sleep: `gc()` returns with callbacks queued and weak handles of
//! dead objects cleared (S55); `drain_finalizers` / `drain_cleanups` wait for the runners.

mod common;

use collector::{Gogc, Shape, WeakHandle};
use common::{gc_and_drain, verified_heap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// One reference slot, two data words (kept out of the tiny allocator).
static OBJ: Shape = Shape::new("obj", 1, 2);
/// A holder for resurrected objects, and an environment box.
static HOLDER: Shape = Shape::new("holder", 1, 0);
static EMPTY: Shape = Shape::new("e", 0, 0);

/// What a callback saw, for the test thread to check.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// TestPointerFinalizer (S34, S47): the weak handle survives a gc while the object is
/// live; the gc that finds it dead clears it before the finalizer runs (checked inside
/// the finalizer, where the object is in hand), and it stays gone after the finalizer
/// resurrects the object into a global.
#[test]
fn a_weak_handle_is_gone_before_the_finalizer_runs_and_stays_gone() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let seen = Seen::default();
    let holder = m.alloc_global(&HOLDER);
    let obj = m.alloc(&OBJ);
    obj.write(0, 97531);
    let weak = m.weak(&obj);
    let (w, s) = (weak.clone(), seen.clone());
    m.set_finalizer(&obj, move |h| {
        s.push(format!(
            "fin {}: gone {}, upgrade {}",
            h.read(0),
            w.is_gone(),
            w.upgrade(h.mutator()).is_some()
        ));
        h.mutator().global(&holder).set(0, Some(&h));
    });
    m.gc();
    assert!(!weak.is_gone(), "gone too soon: the object is live");
    collector::keep_alive(obj);
    m.gc();
    assert!(weak.is_gone(), "not gone when the finalizer was queued");
    m.drain_finalizers();
    assert_eq!(seen.take(), ["fin 97531: gone true, upgrade false"]);
    let back = m.global(&holder).get(0).expect("resurrected");
    assert_eq!(back.read(0), 97531);
    gc_and_drain(&m);
    assert!(weak.is_gone(), "back after the resurrection");
    assert!(weak.upgrade(&m).is_none());
    assert!(heap.is_allocated(back.reference()));
}

/// TestPointerCleanup (S34, S44): the gc that queues the cleanup clears the weak handle
/// first (checked inside the cleanup, which upgrades through its box's mutator).
#[test]
fn a_weak_handle_is_gone_before_the_cleanup_runs() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let seen = Seen::default();
    let obj = m.alloc(&OBJ);
    let env = m.alloc(&HOLDER);
    let weak = m.weak(&obj);
    let (w, s) = (weak.clone(), seen.clone());
    m.add_cleanup_with(&obj, &env, (), move |env, ()| {
        s.push(format!(
            "cleanup: gone {}, upgrade {}",
            w.is_gone(),
            w.upgrade(env.mutator()).is_some()
        ));
    });
    drop(env);
    m.gc();
    assert!(!weak.is_gone(), "gone too soon: the object is live");
    let r = obj.reference();
    drop(obj);
    m.gc();
    assert!(weak.is_gone(), "not gone when the cleanup was queued");
    assert!(!heap.is_allocated(r), "freed by the same sweep (S44)");
    m.drain_cleanups();
    assert_eq!(seen.take(), ["cleanup: gone true, upgrade false"]);
    gc_and_drain(&m);
    assert!(weak.is_gone());
}

/// S30: a weak handle does not keep its object alive.
#[test]
fn a_weak_handle_does_not_keep_its_object() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    let child = m.alloc(&OBJ);
    obj.set(0, Some(&child));
    let (weak, weak_child) = (m.weak(&obj), m.weak(&child));
    let (r, rc) = (obj.reference(), child.reference());
    drop((obj, child));
    m.gc();
    assert!(weak.is_gone() && weak_child.is_gone());
    assert!(weak.upgrade(&m).is_none() && weak_child.upgrade(&m).is_none());
    assert!(!heap.is_allocated(r) && !heap.is_allocated(rc));
    assert_eq!(heap.stats().lost_objects, 0);
}

/// Go's weak pointers made from one object compare equal (one cell per object), before
/// and after it dies; those of different objects do not.
#[test]
fn weak_handles_of_one_object_compare_equal() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&OBJ);
    let b = m.alloc(&OBJ);
    let (a1, a2, b1) = (m.weak(&a), m.weak(&a.clone()), m.weak(&b));
    assert_eq!(a1, a2);
    assert_eq!(a1, a1.clone());
    assert_ne!(a1, b1);
    // Made again from a handle upgraded from the weak one: still the same.
    let again = m.weak(&a1.upgrade(&m).unwrap());
    assert_eq!(again, a1);
    drop((a, b));
    m.gc();
    assert!(a1.is_gone() && a2.is_gone());
    assert_eq!(a1, a2, "still equal once gone");
    assert_ne!(a1, b1);
}

/// TestPointer: `upgrade` returns the object while it is alive, through several cycles
/// (the handle it returns is a root like any other), and `None` once it has died.
#[test]
fn upgrade_returns_the_object_while_alive_and_none_after() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    obj.write(1, 1234);
    let weak = m.weak(&obj);
    for _ in 0..3 {
        m.gc();
        let up = weak.upgrade(&m).expect("alive: a handle is held");
        assert!(up.same_object(&obj));
        assert_eq!(up.read(1), 1234);
    }
    // An upgraded handle keeps the object alive by itself.
    let up = weak.upgrade(&m).unwrap();
    drop(obj);
    m.gc();
    assert_eq!(up.read(1), 1234);
    assert!(!weak.is_gone());
    let r = up.reference();
    drop(up);
    m.gc();
    assert!(weak.upgrade(&m).is_none());
    assert!(!heap.is_allocated(r));
}

/// Go's `weak.Make` shades the object it makes strong during a mark: a handle upgraded
/// after this mutator's roots were scanned, from an object reachable only weakly, keeps
/// it through that cycle.
#[test]
fn upgrade_during_a_mark_keeps_the_object() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    obj.write(0, 42);
    let weak = m.weak(&obj);
    drop(obj);
    let mut cycle = m.blocking(|| heap.begin_cycle());
    m.blocking(|| cycle.scan_roots());
    let up = weak
        .upgrade(&m)
        .expect("not found dead: the mark is not over");
    m.blocking(|| {
        cycle.mark();
        cycle.finish();
    });
    assert_eq!(up.read(0), 42, "the object survived the cycle");
    assert!(!weak.is_gone());
    assert_eq!(heap.stats().lost_objects, 0);
    drop(up);
    m.gc();
    assert!(weak.is_gone());
}

/// A weak handle to a global, or to the zero-sized sentinel, never goes (S52), and
/// upgrades before any cycle.
#[test]
fn a_weak_handle_to_a_global_never_goes() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let g = m.alloc_global(&OBJ);
    m.global(&g).write(0, 7);
    let (weak_g, weak_z) = (m.weak(&m.global(&g)), m.weak(&m.alloc(&EMPTY)));
    let up = weak_g.upgrade(&m).expect("a global never goes");
    assert!(up.same_object(&m.global(&g)));
    assert_eq!(up.read(0), 7);
    assert!(weak_z.upgrade(&m).is_some());
    drop(up);
    for _ in 0..3 {
        m.gc();
    }
    assert!(!weak_g.is_gone() && !weak_z.is_gone());
}

/// S52: a weak handle to a global, or to the zero-sized sentinel, still upgrades after
/// cycles have run. The upgrades run on a helper thread so that a hang fails the test
/// (the timeout is a hang guard, not a measured threshold).
#[test]

fn a_weak_handle_to_a_global_upgrades_after_a_gc() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let g = m.alloc_global(&OBJ);
    m.global(&g).write(0, 7);
    let (weak_g, weak_z) = (m.weak(&m.global(&g)), m.weak(&m.alloc(&EMPTY)));
    m.gc();
    let (tx, rx) = mpsc::channel();
    let h = heap.clone();
    std::thread::spawn(move || {
        let m2 = h.mutator();
        let read = weak_g.upgrade(&m2).map(|o| (o.reference(), o.read(0)));
        let _ = tx.send((read, weak_z.upgrade(&m2).is_some()));
    });
    let (read, zero) = m
        .blocking(|| rx.recv_timeout(Duration::from_secs(20)))
        .expect("upgrading a weak handle to a global hung (hang guard)");
    assert_eq!(read, Some((g.reference(), 7)));
    assert!(zero, "the sentinel never goes");
}

/// A weak handle is `Send`; upgrading it with a mutator of another heap panics.
#[test]
fn upgrading_with_another_heaps_mutator_panics() {
    fn is_send<T: Send + Sync>(_: &T) {}
    let (h1, h2) = (verified_heap(Gogc::Off), verified_heap(Gogc::Off));
    let (m1, m2) = (h1.mutator(), h2.mutator());
    let obj = m1.alloc(&OBJ);
    let weak: WeakHandle = m1.weak(&obj);
    is_send(&weak);
    let err = catch_unwind(AssertUnwindSafe(|| weak.upgrade(&m2).is_some()))
        .expect_err("upgrading through another heap should panic");
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("different heap"), "{msg}");
    assert!(weak.upgrade(&m1).is_some(), "its own heap still works");
}

/// A weak handle moved to another thread upgrades there, with that thread's mutator.
#[test]
fn a_weak_handle_upgrades_on_another_thread() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&OBJ);
    obj.write(0, 99);
    let weak = m.weak(&obj);
    let h = heap.clone();
    let read = m.blocking(|| {
        std::thread::spawn(move || {
            let m2 = h.mutator();
            weak.upgrade(&m2).map(|o| o.read(0))
        })
        .join()
        .unwrap()
    });
    assert_eq!(read, Some(99));
}

/// Go's `weak.Make` returns equal pointers for one object, globals and the zero-sized
/// sentinel included (S30, S52): two weak handles to one global compare equal, so do two
/// to the sentinel, and a handle to one global differs from one to another global.
#[test]
fn weak_handles_to_one_global_or_the_sentinel_compare_equal() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let g = m.alloc_global(&OBJ);
    let g2 = m.alloc_global(&OBJ);
    assert_eq!(m.weak(&m.global(&g)), m.weak(&m.global(&g)));
    assert_ne!(m.weak(&m.global(&g)), m.weak(&m.global(&g2)));
    assert_eq!(m.weak(&m.alloc(&EMPTY)), m.weak(&m.alloc(&EMPTY)));
    m.gc();
    let w = m.weak(&m.global(&g));
    assert_eq!(w, m.weak(&m.global(&g)));
    assert!(!w.is_gone());
}
