//! The barrier models.
//!
//! **(a) A mutator hides a pointer during concurrent mark.**
//!
//! Setup (before the threads start): a global G → Y → Z. Threads: the model's main
//! thread is the collector (an inline concurrent cycle: begin, scan roots, mark, finish);
//! one mutator thread registers, loads Y from G and Z from Y (so Z is now held by a
//! handle: a root), deletes Y → Z, then blocks until the cycle is over and checks Z.
//! Property: whatever the interleaving, verification finds no lost object and Z is intact
//! (not poisoned) under `hybrid`, `yuasa` and `dijkstra`. Negative control: under `none`
//! loom finds an interleaving (the mutator's roots scanned before it loads Z, Y scanned
//! after the delete) in which Z is freed while held.
//!
//! **(b) A barrier-buffer entry recorded just before termination is never lost.** The
//! same scenario under `yuasa`, where Z survives only through the entry the deletion
//! barrier puts in the mutator's buffer. Negative control: the `skip_termination_flush`
//! fault (mark termination neither runs the ragged flush nor takes buffers in its pause);
//! loom finds the execution in which the entry is never marked.
#![cfg(loom)]

use collector::{
    Barrier, Dijkstra, Gogc, Heap, HeapConfig, Hybrid, LoomFaults, NoBarrier, Shape, Yuasa, POISON,
};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static NODE: Shape = Shape::new("node", 1, 1);

/// What verification reports when the hide-pointer model loses Z (span 2 slot 1), held
/// by the mutator's handle.
const LOST_Z: &str = "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 1 (1 refs + 1 words) reached from handle 0 of mutator 1\"]";

fn hide_pointer_model<B: Barrier>() {
    hide_pointer_with_faults::<B>(LoomFaults::default());
}

fn hide_pointer_with_faults<B: Barrier>(faults: LoomFaults) {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: true,
        faults,
        ..HeapConfig::default()
    })
    .unwrap();
    let g = {
        let m0 = heap.mutator();
        let g = m0.alloc_global(&NODE);
        let y = m0.alloc(&NODE);
        let z = m0.alloc(&NODE);
        z.write(0, 42);
        y.set(0, Some(&z));
        m0.global(&g).set(0, Some(&y));
        g
    };
    let cycle_done = Arc::new(Notify::new());
    let (h, done) = (heap.clone(), cycle_done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let y = m.global(&g).get(0).expect("G holds Y");
        let z = y.get(0).expect("Y holds Z");
        y.set(0, None);
        drop(y);
        m.blocking(|| done.wait());
        assert_ne!(
            z.read(0),
            POISON as u64,
            "Z was freed while a handle held it"
        );
        assert_eq!(z.read(0), 42);
    });
    {
        let mut cycle = heap.begin_cycle();
        cycle.scan_roots();
        cycle.mark();
        cycle.finish();
    }
    let s = heap.stats();
    assert_nothing_lost(&s);
    cycle_done.notify();
    mutator.join().unwrap();
}

fn check<B: Barrier>(name: &str) {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let t = std::time::Instant::now();
    loom::model(move || {
        r.fetch_add(1, Relaxed);
        hide_pointer_model::<B>();
    });
    println!(
        "barriers/{name}: {} executions in {:.2} s",
        runs.load(Relaxed),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn hybrid_never_loses_a_hidden_pointer() {
    check::<Hybrid>("hybrid");
}

#[test]
fn yuasa_never_loses_a_hidden_pointer() {
    check::<Yuasa>("yuasa");
}

#[test]
fn dijkstra_never_loses_a_hidden_pointer() {
    check::<Dijkstra>("dijkstra");
}

#[test]
fn negative_control_no_barrier_loses_the_hidden_pointer() {
    assert_control("barriers/none", hide_pointer_model::<NoBarrier>, LOST_Z);
}

#[test]
fn negative_control_skipping_the_termination_flush_loses_the_buffered_entry() {
    assert_control(
        "barriers/skipped flush",
        || {
            hide_pointer_with_faults::<Yuasa>(LoomFaults {
                skip_termination_flush: true,
                ..LoomFaults::default()
            })
        },
        LOST_Z,
    );
}
