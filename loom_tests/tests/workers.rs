//! Mark termination with a real mark worker, model-checked. (The assist beside
//! termination, on a mutator that loads and stores, is `mark.rs`'s model: the two
//! together in one model did not finish in 15 minutes at the suite's bound.)
//!
//! Under loom the collector starts no threads; a model thread runs a mark worker's own
//! loop (`Heap::run_mark_worker`: `mark::workers::serve`, the `worker` loop that the
//! worker threads of `mark::workers::run` run), in slices of one reference slot's scan
//! work, so that every slice ends with grey work to publish. The cycle's thread runs the
//! real coordinator (`ConcurrentCycle::mark_with_workers_inline`: `mark::workers::run`
//! scans the roots, waits until no marker is busy and both pools are empty, stops the
//! workers and joins them), then mark termination (`ConcurrentCycle::finish`).
//!
//! Setup (before the threads start): a global G → A → B → C. Threads: a mark worker that
//! starts once the cycle has begun; the main thread begins a cycle, runs the concurrent
//! mark with its worker, and finishes the cycle. Property: nothing reachable is lost
//! (checkmark verification, in the termination pause), and the marked bytes the worker
//! counts match the mark bits (checked in the same pause).
//!
//! Negative controls (`LoomFaults`):
//! - `workers_unjoined`: the coordinator stops its worker without waiting for it to
//!   exit, so mark termination begins while the worker may hold grey work (its pause
//!   does not stop workers, which are not mutators).
//! - `worker_drops_grey`: the worker drops what a slice leaves instead of publishing it.
#![cfg(loom)]

use collector::{Gogc, Heap, HeapConfig, Hybrid, LoomFaults, Shape};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost, explore, faults};

/// One reference slot and one data word.
static NODE: Shape = Shape::new("node", 1, 1);

fn heap(faults: LoomFaults) -> Heap<Hybrid> {
    Heap::<Hybrid>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: true,
        mark_workers: Some(1),
        faults,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// G → A → B → C, one real mark worker beside the cycle's coordinator and termination.
/// (A mutator loading and deleting beside them, with an assist, made a model that did not
/// finish in 15 minutes at the suite's bound: `mark.rs` models the assist on its own.)
fn workers_model(faults: LoomFaults) {
    let heap = heap(faults);
    {
        let m0 = heap.mutator();
        let g = m0.alloc_global(&NODE);
        let a = m0.alloc(&NODE);
        let b = m0.alloc(&NODE);
        let c = m0.alloc(&NODE);
        b.write(0, 22);
        c.write(0, 33);
        b.set(0, Some(&c));
        a.set(0, Some(&b));
        m0.global(&g).set(0, Some(&a));
    }
    let began = Arc::new(Notify::new());
    let (h, b) = (heap.clone(), began.clone());
    let worker = thread::spawn(move || {
        b.wait();
        h.run_mark_worker();
    });
    {
        let mut cycle = heap.begin_cycle();
        began.notify();
        cycle.mark_with_workers_inline();
        cycle.finish();
    }
    assert_nothing_lost(&heap.stats());
    worker.join().unwrap();
}

#[test]
fn mark_termination_with_a_worker_loses_nothing() {
    explore("workers: a mark worker beside termination", || {
        workers_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_termination_without_joining_the_worker() {
    assert_control(
        "workers/unjoined",
        || workers_model(faults(|f| f.workers_unjoined = true)),
        "collector: internal error: the mark counted 0 bytes marked, the mark bits hold 48",
    );
}

#[test]
fn negative_control_a_worker_that_drops_its_grey_objects() {
    assert_control(
        "workers/drops grey",
        || workers_model(faults(|f| f.worker_drops_grey = true)),
        "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 2 (1 refs + 1 \
         words) reached from reference slot 0 of object span 2 slot 1\"]",
    );
}
