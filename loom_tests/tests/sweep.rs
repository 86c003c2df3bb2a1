//! The concurrent sweep, model-checked: the lazy sweep by generation that a concurrent
//! cycle leaves behind, raced by the background sweeper, a mutator whose allocation
//! sweeps its own class, and the next cycle's sweep termination and mark termination
//! count (`collector/src/heap/sweeping.rs`).
//!
//! Setup (before the threads start): a global G → A and a dead object D, in one span S;
//! a cycle run as the background GC thread runs one (`Heap::run_background_cycle`)
//! leaves S unswept (A marked, D not).
//!
//! **Model 1: the sweeper and the next cycle.** Threads: the background sweeper
//! (`Heap::run_background_sweep`, its thread's work for one request: sweep every span,
//! wait for sweeps in progress), and the main thread, which steps the next cycle (begin:
//! finish the previous sweep, then a pause; scan roots; mark; finish: the termination
//! pause verifies, counts the mark bits against the mark's count and starts the next
//! generation, then the cycle sweeps). Property: every span is listed for sweeping when
//! a generation starts and the marked bytes match the mark bits (verification checks
//! both, in the pause), nothing reachable is lost, A is intact and nothing is left
//! unswept. Run at bound 3 (two threads, a few hundred executions).
//!
//! **Model 2: with a refilling mutator.** Model 1 plus a mutator that allocates N (its
//! refill sweeps S for a slot, unless the sweeper or the cycle has) and holds it across
//! the next cycle; N must be intact afterwards.
//!
//! Negative controls, one per historical sweep bug, each restored by a `LoomFaults`
//! switch (model 1; model 2 with the second):
//! - `sweepgen_before_count` (fixed by 67d46f1): the generation advances before the
//!   termination counts the mark bits; the sweeper, running through the pause, claims S
//!   mid-count and clears its bits.
//! - `finish_sweep_on_empty_lists` (fixed by 21c3deb): sweep termination returns once
//!   the unswept lists are empty, while the sweeper holds S, popped and not yet swept;
//!   the next generation starts with S on no list.
//! - `publish_before_filing` (fixed by 2b6aa44): the sweeper publishes S as swept before
//!   it files it; sweep termination stops waiting for it, and the next generation
//!   starts with S on no list.
#![cfg(loom)]

use collector::{Global, Heap, Hybrid, LoomFaults, Shape};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{
    assert_control, assert_control_with, assert_nothing_lost, builder_with_bound, concurrent_heap,
    explore, explore_with, faults,
};

/// The preemption bound of model 1: two threads and a few hundred executions, so one
/// more than the suite's.
const BOUND: usize = 3;

/// What verification reports when a generation starts with S (span 2) on no list.
const NO_LIST: &str =
    "collector: internal error: span 2 (Some(Small)) is on no list: it would never be swept";

/// One reference slot and one data word: four to a span under loom.
static NODE: Shape = Shape::new("node", 1, 1);

/// Objects of the setup: the global G, which holds A; D is dead.
struct Setup {
    g: Global,
}

/// A heap whose span S holds A (reachable from the global G) and D (dead), left unswept
/// by a cycle run as the background GC thread runs one.
fn setup(faults: LoomFaults) -> (Heap<Hybrid>, Setup) {
    let heap = concurrent_heap::<Hybrid>(faults);
    let g = {
        let m0 = heap.mutator();
        let g = m0.alloc_global(&NODE);
        let a = m0.alloc(&NODE);
        a.write(0, 42);
        drop(m0.alloc(&NODE)); // D, dead from the start
        m0.global(&g).set(0, Some(&a));
        g
    };
    heap.run_background_cycle();
    (heap, Setup { g })
}

/// The next cycle, stepped on the calling thread: sweep termination, roots, mark, and
/// the termination pause (verification, the count, the new generation), then its sweep.
fn next_cycle(heap: &Heap<Hybrid>) {
    let mut cycle = heap.begin_cycle();
    cycle.scan_roots();
    cycle.mark();
    cycle.finish();
    assert_nothing_lost(&heap.stats());
}

/// G → A is intact, and the heap has swept everything.
fn check_a(heap: &Heap<Hybrid>, s: &Setup) {
    let m = heap.mutator();
    let a = m.global(&s.g).get(0).expect("G holds A");
    assert_eq!(a.read(0), 42, "A was damaged");
    assert_eq!(heap.stats().unswept_spans, 0);
}

/// Model 1: the background sweeper races the next cycle's sweep termination and mark
/// termination.
fn sweeper_model(faults: LoomFaults) {
    let (heap, s) = setup(faults);
    let h = heap.clone();
    let sweeper = thread::spawn(move || h.run_background_sweep());
    next_cycle(&heap);
    sweeper.join().unwrap();
    check_a(&heap, &s);
}

/// Model 2: model 1 with a mutator that allocates N (its refill sweeps S for a slot,
/// unless the sweeper or the cycle has) and holds it across the next cycle.
fn refill_model(faults: LoomFaults) {
    let (heap, s) = setup(faults);
    let h = heap.clone();
    let sweeper = thread::spawn(move || h.run_background_sweep());
    let done = Arc::new(Notify::new());
    let (h, d) = (heap.clone(), done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let n = m.alloc(&NODE);
        n.write(0, 7);
        m.blocking(|| d.wait());
        assert_eq!(n.read(0), 7, "N was damaged");
    });
    next_cycle(&heap);
    done.notify();
    sweeper.join().unwrap();
    mutator.join().unwrap();
    check_a(&heap, &s);
}

#[test]
fn the_sweeper_racing_the_next_cycle_loses_nothing_and_counts_what_the_mark_marked() {
    explore_with(
        builder_with_bound(BOUND),
        "sweep: sweeper and next cycle",
        || sweeper_model(LoomFaults::default()),
    );
}

#[test]
fn a_refilling_mutator_beside_the_sweeper_and_the_next_cycle_loses_nothing() {
    explore("sweep: refill, sweeper and next cycle", || {
        refill_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_advancing_the_generation_before_the_count() {
    assert_control_with(
        builder_with_bound(BOUND),
        "sweep/generation before count",
        || sweeper_model(faults(|f| f.sweepgen_before_count = true)),
        "collector: internal error: the mark counted 16 bytes marked, the mark bits hold 0",
    );
}

#[test]
fn negative_control_finishing_the_sweep_on_empty_lists() {
    assert_control_with(
        builder_with_bound(BOUND),
        "sweep/finish on empty lists",
        || sweeper_model(faults(|f| f.finish_sweep_on_empty_lists = true)),
        NO_LIST,
    );
}

#[test]
fn negative_control_publishing_a_span_before_filing_it() {
    assert_control_with(
        builder_with_bound(BOUND),
        "sweep/publish before filing",
        || sweeper_model(faults(|f| f.publish_before_filing = true)),
        NO_LIST,
    );
}

#[test]
fn negative_control_refill_finishing_the_sweep_on_empty_lists() {
    assert_control(
        "sweep/refill, finish on empty lists",
        || refill_model(faults(|f| f.finish_sweep_on_empty_lists = true)),
        NO_LIST,
    );
}
