//! Mark termination with a real mark worker, and an assist on a mutator that loads and
//! stores, model-checked.
//!
//! Under loom the collector starts no threads; a model thread runs a mark worker's own
//! loop (`Heap::run_mark_worker`: `mark::workers::serve`, the `worker` loop that the
//! worker threads of `mark::workers::run` run), in slices of one reference slot's scan
//! work, so that every slice ends with grey work to publish. The cycle's thread runs the
//! real coordinator (`ConcurrentCycle::mark_with_workers_inline`: `mark::workers::run`
//! scans the roots, waits until no marker is busy and both pools are empty, stops the
//! workers and joins them), then mark termination (`ConcurrentCycle::finish`).
//!
//! Setup (before the threads start): a global G → A → B → C. Threads: a mark worker; a
//! mutator that waits (blocked) until the cycle has begun, loads A from G and B from A
//! (a handle: a root), deletes A → B, runs an assist (`Mutator::mark_assist`), then blocks
//! until the model is over and checks B and C; the main thread begins a cycle, starts
//! the others, runs the concurrent mark with its worker, and finishes the cycle.
//! Property: nothing reachable is lost (checkmark verification, in the termination
//! pause), the marked bytes that the worker and the assist count match the mark bits
//! (checked in the same pause), and B and C are intact.
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

fn workers_model(faults: LoomFaults, with_mutator: bool) {
    let heap = heap(faults);
    let g = {
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
        g
    };
    let (began_w, began_m, done) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let (h, bw) = (heap.clone(), began_w.clone());
    let worker = thread::spawn(move || {
        bw.wait();
        h.run_mark_worker();
    });
    let (h, bm, d) = (heap.clone(), began_m.clone(), done.clone());
    let mutator = with_mutator.then(|| {
        thread::spawn(move || {
            let m = h.mutator();
            m.blocking(|| bm.wait());
            let a = m.global(&g).get(0).unwrap();
            let b = a.get(0).unwrap();
            a.set(0, None);
            m.mark_assist(1);
            m.blocking(|| d.wait());
            assert_eq!(b.read(0), 22, "B was freed");
            assert_eq!(b.get(0).unwrap().read(0), 33, "C was freed");
        })
    });
    {
        let mut cycle = heap.begin_cycle();
        began_w.notify();
        began_m.notify();
        cycle.mark_with_workers_inline();
        cycle.finish();
    }
    assert_nothing_lost(&heap.stats());
    done.notify();
    worker.join().unwrap();
    if let Some(t) = mutator {
        t.join().unwrap();
    }
}

#[test]
fn mark_termination_with_a_worker_loses_nothing() {
    explore("workers: a mark worker beside termination", || {
        workers_model(LoomFaults::default(), false)
    });
}

#[test]
fn negative_control_termination_without_joining_the_worker() {
    assert_control(
        "workers/unjoined",
        || workers_model(faults(|f| f.workers_unjoined = true), false),
        "collector: internal error: the mark counted 0 bytes marked, the mark bits hold 48",
    );
}

#[test]
fn negative_control_a_worker_that_drops_its_grey_objects() {
    assert_control(
        "workers/drops grey",
        || workers_model(faults(|f| f.worker_drops_grey = true), false),
        "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 2 (1 refs + 1 \
         words) reached from reference slot 0 of object span 2 slot 1\"]",
    );
}
