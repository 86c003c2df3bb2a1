//! Mark termination with a mark assist beside it: a mutator pays for an allocation with
//! mark work (`Mutator::mark_assist`, the real `mark::assist` that an allocation during a
//! concurrent mark runs) while the cycle's thread terminates the mark.
//!
//! Setup (before the threads start): a global G → A → B. Threads: a mutator registers,
//! waits (blocked) until the cycle has begun, runs an assist, then blocks until the model
//! is over; the main thread steps a cycle (begin, which shades what G holds; scan roots;
//! finish, whose termination drains, stops the world, and counts the marked bytes
//! against the mark bits). The assist may take A from the shaded pool and hold it, marked
//! and unscanned, on its own stack. Property: mark termination never ends while an
//! assist holds grey objects (the assist runs in the mutator's running state, so the
//! pause waits for it to publish what it holds); nothing reachable is lost, and the
//! bytes the assist marked are counted (verification checks the count in the pause).
//!
//! A second run has the mutator load A from G and B from A (a handle), delete A → B, and
//! then assist: the assist beside a mutator that loads and stores, and the termination;
//! B must be intact afterwards. Its control is `unshaded_old` (the hybrid barrier without
//! shading the deleted B): B, hidden in a root scanned before the load, is lost.
//!
//! Negative control: `assist_while_blocking`, the assist run in the blocking state, where
//! a pause does not wait for it; loom finds the termination pause running while the
//! assist still works: the pause's count misses the bytes the assist marked (A and B,
//! recorded only when the assist returns), and verification reports it.
#![cfg(loom)]

use collector::{Hybrid, LoomFaults, Shape};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{
    assert_control, assert_nothing_lost, concurrent_heap, explore, faults, global_to_a_to_b,
};

/// One reference slot and one data word.
static NODE: Shape = Shape::new("node", 1, 1);

fn assist_model(faults: LoomFaults, loads_and_stores: bool) {
    let heap = concurrent_heap::<Hybrid>(faults);
    let g = global_to_a_to_b(&heap, &NODE);
    let began = Arc::new(Notify::new());
    let done = Arc::new(Notify::new());
    let (h, bg, d) = (heap.clone(), began.clone(), done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        m.blocking(|| bg.wait());
        if loads_and_stores {
            let a = m.global(&g).get(0).unwrap();
            let b = a.get(0).unwrap();
            a.set(0, None);
            m.mark_assist(1);
            m.blocking(|| d.wait());
            assert_eq!(b.read(0), 22, "B was freed");
        } else {
            m.mark_assist(1);
            m.blocking(|| d.wait());
        }
    });
    {
        let mut cycle = heap.begin_cycle();
        began.notify();
        cycle.scan_roots();
        cycle.finish();
    }
    assert_nothing_lost(&heap.stats());
    done.notify();
    mutator.join().unwrap();
}

#[test]
fn mark_termination_waits_for_an_assist_and_counts_its_work() {
    explore("mark: assist beside termination", || {
        assist_model(LoomFaults::default(), false)
    });
}

#[test]
fn an_assist_after_loads_and_a_store_beside_termination_loses_nothing() {
    explore("mark: assist after loads and a store", || {
        assist_model(LoomFaults::default(), true)
    });
}

#[test]
fn negative_control_an_assist_in_the_blocking_state_races_termination_and_miscounts() {
    assert_control(
        "mark/assist while blocking",
        || assist_model(faults(|f| f.assist_while_blocking = true), false),
        "collector: internal error: the mark counted 0 bytes marked, the mark bits hold 32",
    );
}

#[test]
fn negative_control_an_assist_after_an_unshaded_delete_loses_the_hidden_object() {
    assert_control(
        "mark/assist after an unshaded delete",
        || assist_model(faults(|f| f.unshaded_old = true), true),
        "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 1 (1 refs + 1 \
         words) reached from handle 0 of mutator 1\"]",
    );
}
