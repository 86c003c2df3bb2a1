//! A cycle abandoned at any step leaves the heap in a state from which the next cycle is
//! correct. Go user code cannot be inside a GC phase; here a caller stepping a
//! `ConcurrentCycle` can, and a panic (its own, or a documented misuse panic of a step)
//! unwinds through the cycle. The next cycles must lose nothing: no lost object under
//! verification, and no other object's data read through a live reference without it.

use collector::{Gogc, Heap, HeapConfig, Mutator, Shape};
use std::panic::{catch_unwind, AssertUnwindSafe};

mod common;

static NODE: Shape = Shape::new("node", 1, 1);

/// How far the abandoned cycle got before the panic.
#[derive(Clone, Copy, Debug)]
enum AbandonAt {
    /// Right after sweep termination.
    Begin,
    /// After the roots were scanned.
    ScanRoots,
    /// After a mark step (the old parent is black).
    Mark,
    /// A misuse panic of a step (`mark` from a thread whose mutator is running).
    MisuseInMark,
}

const ALL: [AbandonAt; 4] = [
    AbandonAt::Begin,
    AbandonAt::ScanRoots,
    AbandonAt::Mark,
    AbandonAt::MisuseInMark,
];

/// Steps a cycle of `heap` to `at` and panics there, on `m`'s thread; the panic is caught.
fn abandon(heap: &Heap, m: &Mutator, at: AbandonAt) {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let cycle = m.blocking(|| {
            let mut c = heap.begin_cycle();
            if !matches!(at, AbandonAt::Begin) {
                c.scan_roots();
            }
            if matches!(at, AbandonAt::Mark) {
                c.mark();
            }
            c
        });
        match at {
            // `mark` refuses a caller whose mutator is running: a documented misuse panic.
            AbandonAt::MisuseInMark => {
                let mut c = cycle;
                c.mark();
            }
            _ => {
                let _c = cycle;
                panic!("the caller's own code panics while it holds the cycle");
            }
        }
    }));
    assert!(caught.is_err(), "the step at {at:?} was meant to panic");
}

/// A parent allocated before the abandoned cycle (so that its mark may reach it), a
/// child linked to it after, one more cycle, then enough garbage to reuse any freed slot:
/// returns the child's data word as read through the parent.
fn child_after_abandoning(verify: bool, at: AbandonAt) -> (u64, u64) {
    let heap = Heap::new(HeapConfig {
        verify,
        gogc: Gogc::Off,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let parent = m.alloc(&NODE);
    abandon(&heap, &m, at);
    let child = m.alloc(&NODE);
    child.write(0, 1111);
    parent.set(0, Some(&child));
    drop(child);
    m.gc();
    for _ in 0..1000 {
        m.alloc(&NODE).write(0, 5000);
    }
    m.gc();
    let read = std::panic::catch_unwind(AssertUnwindSafe(|| parent.get(0).unwrap().read(0)));
    let value = read.unwrap_or_else(|p| panic!("at {at:?}: {}", common::panic_message(&*p)));
    (value, heap.lost_objects())
}

#[test]
fn the_cycle_after_an_abandoned_one_loses_nothing_under_verification() {
    for at in ALL {
        let (value, lost) = child_after_abandoning(true, at);
        assert_eq!(lost, 0, "abandoned at {at:?}: lost objects");
        assert_eq!(value, 1111, "abandoned at {at:?}");
    }
}

#[test]
fn a_live_reference_reads_its_own_object_after_an_abandoned_cycle() {
    for at in ALL {
        let (value, _) = child_after_abandoning(false, at);
        assert_eq!(value, 1111, "abandoned at {at:?}: another object's data");
    }
}

#[test]
fn cycles_abandoned_back_to_back_leave_a_heap_that_collects_its_garbage() {
    let heap = common::verified_heap(Gogc::Off);
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    for at in ALL {
        abandon(&heap, &m, at);
    }
    let weak = {
        let garbage = m.alloc(&NODE);
        m.weak(&garbage)
    };
    m.gc();
    assert!(
        weak.upgrade(&m).is_none(),
        "garbage survived a complete cycle"
    );
    assert_eq!(heap.lost_objects(), 0);
    assert_eq!(heap.stats().cycles_checked, heap.stats().gc_cycles);
    drop(keep);
}

/// A cycle dropped unfinished on a thread whose mutator runs (a misuse: finishing it would
/// wait for that mutator) panics, and the panic abandons the cycle instead of leaving the
/// collector in its mark phase: later cycles run, and collect.
#[test]
fn a_cycle_dropped_unfinished_by_a_running_caller_is_abandoned() {
    let heap = common::verified_heap(Gogc::Off);
    let m = heap.mutator();
    let cycle = m.blocking(|| heap.begin_cycle());
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(cycle)));
    let message = common::panic_message(&*dropped.expect_err("finishing needs a blocked caller"));
    assert!(message.contains("whose mutator is running"), "{message}");
    let weak = {
        let garbage = m.alloc(&NODE);
        m.weak(&garbage)
    };
    m.gc();
    m.gc();
    assert!(weak.upgrade(&m).is_none(), "garbage survived two cycles");
    assert_eq!(heap.lost_objects(), 0);
}
