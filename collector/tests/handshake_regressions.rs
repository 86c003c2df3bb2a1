//! Regressions from a review of the handshake: each of these deadlocked, panicked
//! spuriously or leaked before its fix. Deadlocks are caught by a hang detector (a
//! generous bound on a run that takes milliseconds), not by a timing threshold.

mod common;

use collector::{Gogc, Shape};
use common::verified_heap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

static NODE: Shape = Shape::new("node", 1, 1);
static BIG: Shape = Shape::new("big", 0, 10_000); // 80 KB: a large object
static SMALL: Shape = Shape::new("small", 0, 3);

/// Runs `f` on a thread and reports whether it finished within the hang bound.
fn finishes(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(120)).is_ok()
}

#[test]
fn an_allocation_inside_blocking_may_start_a_cycle() {
    let heap = verified_heap(Gogc::Percent(100));
    let h = heap.clone();
    assert!(finishes(move || {
        let m = h.mutator();
        m.blocking(|| {
            for _ in 0..200 {
                drop(m.alloc(&BIG));
            }
        });
    }));
    assert!(
        heap.stats().gc_cycles > 0,
        "16 MB of large objects started cycles"
    );
    assert_eq!(heap.stats().lost_objects, 0);
}

#[test]
#[should_panic(expected = "already has a mutator of this heap")]
fn a_second_mutator_of_one_heap_on_one_thread_is_refused() {
    let heap = verified_heap(Gogc::Off);
    let _m1 = heap.mutator();
    let _m2 = heap.mutator();
}

/// A thread may hold mutators of two heaps: a collection of heap B, started with A's
/// mutator running, waits only for B's mutators (before the one-mutator-per-heap rule
/// it would have waited for A's and hung), and collects B alone.
#[test]
fn a_thread_may_hold_mutators_of_different_heaps() {
    let (a, b) = (verified_heap(Gogc::Off), verified_heap(Gogc::Off));
    let (a2, b2) = (a.clone(), b.clone());
    assert!(finishes(move || {
        let (a, b) = (a2, b2);
        let ma = a.mutator();
        let mb = b.mutator();
        let x = ma.alloc(&NODE);
        let y = mb.alloc(&NODE);
        x.write(0, 1);
        y.write(0, 2);
        // Heap B's collection does not wait for heap A's running mutator.
        mb.blocking(|| b.gc());
        mb.gc();
        assert_eq!((x.read(0), y.read(0)), (1, 2));
        drop((x, y));
        drop(ma);
        // After the mutator is gone, the thread may register a new one of the same heap.
        let ma2 = a.mutator();
        ma2.gc();
    }));
    assert_eq!(b.stats().gc_cycles, 2, "two collections of heap B");
    assert_eq!(
        a.stats().gc_cycles,
        1,
        "heap A collected only by its own gc()"
    );
    assert_eq!(a.stats().lost_objects + b.stats().lost_objects, 0);
}

#[test]
fn shutdown_while_another_thread_collects_does_not_deadlock() {
    let heap = verified_heap(Gogc::Off);
    let h = heap.clone();
    assert!(finishes(move || {
        let m = h.mutator();
        let h2 = h.clone();
        // The cycle runs, or (if the shutdown came first) `gc` panics: either way the
        // threads end.
        let collector = std::thread::spawn(move || h2.gc());
        h.shutdown();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.safepoint()));
        let _ = m.blocking(|| collector.join());
    }));
}

#[test]
fn spans_of_departed_mutators_are_reused_before_the_next_sweep() {
    let heap = verified_heap(Gogc::Off);
    for _ in 0..100 {
        let m = heap.mutator();
        drop(m.alloc(&SMALL));
    }
    let [small, ..] = heap.stats().spans;
    assert_eq!(
        small, 1,
        "one small span serves all 100 short-lived mutators"
    );
}

#[test]
fn a_load_inside_blocking_never_sees_an_object_freed_by_a_pause() {
    static G: Shape = Shape::new("g", 1, 0);
    let heap = verified_heap(Gogc::Off);
    let g = heap.mutator().alloc_global(&G);
    let stop = Arc::new(AtomicBool::new(false));
    let spurious = Arc::new(AtomicU64::new(0));
    let reader = {
        let (h, stop, spurious) = (heap.clone(), stop.clone(), spurious.clone());
        std::thread::spawn(move || {
            let m = h.mutator();
            let gh = m.global(&g);
            for _ in 0..200_000 {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    m.blocking(|| gh.get(0).map(|x| x.read(0)))
                }));
                if r.is_err() {
                    spurious.fetch_add(1, Relaxed);
                }
            }
            stop.store(true, Relaxed);
        })
    };
    let writer = {
        let (h, stop) = (heap.clone(), stop.clone());
        std::thread::spawn(move || {
            let m = h.mutator();
            let gh = m.global(&g);
            while !stop.load(Relaxed) {
                let c = m.alloc(&NODE);
                gh.set(0, Some(&c));
                drop(c);
                gh.set(0, None);
                m.safepoint();
            }
        })
    };
    let collector = {
        let (h, stop) = (heap.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                h.gc();
            }
        })
    };
    for t in [reader, writer, collector] {
        t.join().unwrap();
    }
    assert_eq!(spurious.load(Relaxed), 0, "a load inside blocking panicked");
    assert_eq!(heap.stats().lost_objects, 0);
}

/// A large allocation during a concurrent mark whose assist waits out the cycle (past the
/// hard goal, with no grey work to pay its debt with) must still get a live object. The
/// assist used to come after the span was allocated: the object was counted live and its
/// span joined the new sweep generation, but it was blackened only after the wait, with
/// marking off, so the sweep freed it under its new handle (poisoned words, and the next
/// checkmark reported the handle's object lost).
#[test]
fn a_large_object_whose_assist_waits_out_the_cycle_stays_live() {
    let heap = verified_heap(Gogc::Percent(100));
    let h = heap.clone();
    assert!(finishes(move || {
        let m = h.mutator();
        let mut kept = Vec::new();
        for i in 0..400u64 {
            let big = m.alloc(&BIG);
            big.write(0, i);
            big.write(9_999, !i);
            kept.push((i, big));
            if kept.len() > 16 {
                kept.remove(0);
            }
            // A freed span is soon reused for another large object: its first word then
            // names that object.
            for (j, k) in &kept {
                assert_eq!(
                    (k.read(0), k.read(9_999)),
                    (*j, !*j),
                    "large object {j} freed"
                );
            }
        }
        drop(kept);
        drop(m);
        h.gc();
    }));
    let stats = heap.stats();
    assert!(stats.gc_cycles > 0, "32 MB of large objects started cycles");
    assert_eq!(stats.lost_objects, 0);
}
