//! The real `Cleanup::stop` racing a concurrent cycle's mark termination and its sweep.
//!
//! `stop` sweeps its object's span, then removes the cleanup special under the span's
//! specials lock (S21, S25). It may run on any thread, a mutator or none, so a pause does
//! not wait for it: a whole cycle can run between its sweep and its edit, and the cycle's
//! mark termination begins a new sweep generation, leaving the span unswept. The edit
//! must not land there: the span's sweep would then read a list that the mark it acts on
//! never saw. `stop` checks, under the lock, that the span is still swept in the current
//! generation, and sweeps again if not (`Space::edit_specials_swept`).
//!
//! Setup (before the threads start): a global G → O, and a cleanup C on O. Threads: a
//! plain thread (no mutator) calls `C.stop()`; the main thread runs a cycle as the
//! background GC thread does (`Heap::run_background_cycle`: its termination begins a
//! generation and leaves the sweep), then the background sweeper's work
//! (`Heap::run_background_sweep`). Afterwards the main thread runs the cleanups.
//! Property: no sweep finds its span's specials changed in its own generation (a debug
//! check in `Space::sweep_span`), C never runs (O stays reachable), and it is counted
//! stopped.
//!
//! Negative control: `stop_edits_unswept` restores the old `stop` (the edit right after
//! `ensure_swept`, unchecked); loom finds the cycle's termination between the two, and
//! the sweep reports the edit.
#![cfg(loom)]

use collector::{Hybrid, LoomFaults, Shape};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost, concurrent_heap, explore, faults};

/// One reference slot and one data word.
static NODE: Shape = Shape::new("node", 1, 1);

fn stop_model(faults: LoomFaults) {
    let heap = concurrent_heap::<Hybrid>(faults);
    let ran = Arc::new(AtomicBool::new(false));
    let (g, c) = {
        let m0 = heap.mutator();
        let g = m0.alloc_global(&NODE);
        let o = m0.alloc(&NODE);
        m0.global(&g).set(0, Some(&o));
        let r = ran.clone();
        let c = m0.add_cleanup(&o, r, |r| r.store(true, SeqCst));
        (g, c)
    };
    let stopper = thread::spawn(move || c.stop());
    heap.run_background_cycle();
    heap.run_background_sweep();
    stopper.join().unwrap();
    let stats = heap.stats();
    assert_nothing_lost(&stats);
    let m = heap.mutator();
    m.run_cleanups();
    assert!(!ran.load(SeqCst), "the stopped cleanup ran");
    assert_eq!(
        heap.stats().cleanups.stopped,
        1,
        "the cleanup was not stopped"
    );
    let _ = g;
}

#[test]
fn stop_never_edits_a_span_a_new_generation_left_unswept() {
    explore("stop: Cleanup::stop against termination and sweep", || {
        stop_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_an_unchecked_stop_edits_an_unswept_span() {
    assert_control(
        "stop/edits unswept",
        || stop_model(faults(|f| f.stop_edits_unswept = true)),
        "collector: internal error: span 2's specials were changed after its mark ended \
         and before its sweep (S25)",
    );
}
