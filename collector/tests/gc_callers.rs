//! `gc()` with concurrent callers follows Go's `runtime.GC`: a caller notes how many
//! cycles have begun (n), waits for the cycle in progress, starts cycle n + 1 unless some
//! other caller has, and returns when n + 1 is complete. Callers that arrive while a cycle
//! runs therefore share the next cycle, and each still gets a complete cycle begun after
//! its call.

use collector::{Gogc, Heap, Shape};
use std::sync::{mpsc, Arc, Barrier};

mod common;

static NODE: Shape = Shape::new("node", 1, 1);
const CALLERS: usize = 8;

/// Spawns `CALLERS` threads that each drop their only handle to an object, wait (blocked)
/// until `coordinate` releases them through its argument, call `gc()`, and report whether
/// the object is gone when `gc()` returns; returns their answers.
fn callers_during(heap: &Heap, coordinate: impl FnOnce(&dyn Fn())) -> Vec<bool> {
    let (tx, rx) = mpsc::channel();
    let start = Arc::new(Barrier::new(CALLERS + 1));
    let threads: Vec<_> = (0..CALLERS)
        .map(|_| {
            let heap = heap.clone();
            let tx = tx.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let m = heap.mutator();
                let weak = {
                    let obj = m.alloc(&NODE);
                    m.weak(&obj)
                };
                m.blocking(|| start.wait());
                m.gc();
                tx.send(weak.upgrade(&m).is_none()).unwrap();
            })
        })
        .collect();
    drop(tx);
    coordinate(&|| {
        start.wait();
    });
    let gone = rx.iter().collect();
    for t in threads {
        t.join().unwrap();
    }
    gone
}

/// On a thread with no mutator: steps a cycle, releases the callers after its root scan,
/// and finishes it once all of them are inside gc().
fn step_a_cycle_as_callers_arrive(heap: &Heap, release: &dyn Fn()) {
    let mut cycle = heap.begin_cycle();
    cycle.scan_roots();
    release();
    while heap.stats().gc_callers < CALLERS {
        std::thread::yield_now();
    }
    cycle.mark();
    cycle.finish();
}

#[test]
fn callers_arriving_during_a_cycle_share_the_next_one_and_each_sees_a_whole_cycle() {
    let heap = common::verified_heap(Gogc::Off);
    // This thread has no mutator: it steps cycle 1, which is in progress while every
    // caller arrives, and then waits for the callers' answers without holding up a pause.
    let gone = callers_during(&heap, |release| {
        step_a_cycle_as_callers_arrive(&heap, release)
    });
    assert_eq!(
        gone,
        vec![true; CALLERS],
        "a caller returned before a whole cycle"
    );
    // Go's rule: the cycle in progress, then one cycle shared by all eight callers.
    assert_eq!(heap.stats().gc_cycles, 2);
    assert_eq!(heap.stats().gc_callers, 0);
    assert_eq!(heap.lost_objects(), 0);
}

#[test]
fn callers_without_a_cycle_in_progress_each_get_a_whole_cycle() {
    let heap = common::verified_heap(Gogc::Off);
    let gone = callers_during(&heap, |release| release());
    assert_eq!(
        gone,
        vec![true; CALLERS],
        "a caller returned before a whole cycle"
    );
    let cycles = heap.stats().gc_cycles as usize;
    assert!(
        (1..=CALLERS).contains(&cycles),
        "{cycles} cycles for {CALLERS} callers"
    );
    assert_eq!(heap.lost_objects(), 0);
}

/// A caller whose gc() waited behind a cycle that was then abandoned (a stepped cycle
/// whose stepper panicked) still returns only after a complete cycle begun after its call.
#[test]
fn a_cycle_abandoned_after_a_caller_arrived_does_not_count_as_its_cycle() {
    for _ in 0..10 {
        let heap = common::verified_heap(Gogc::Off);
        let gone = callers_during(&heap, |release| {
            step_a_cycle_as_callers_arrive(&heap, release);
            // The callers may or may not get the lock first; if this thread does, its
            // cycle is abandoned, and must not count as theirs.
            let abandoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _c = heap.begin_cycle();
                panic!("the stepper's own code panics");
            }));
            assert!(abandoned.is_err());
        });
        assert_eq!(
            gone,
            vec![true; CALLERS],
            "a caller returned before a whole cycle"
        );
        assert_eq!(heap.lost_objects(), 0);
    }
}
