//! The scope root protocol (`collector/src/mutator/scope.rs`): a scope's `Gc`
//! references are not roots, so no root scan may happen while one is live — a scope is
//! non-preemptible, and the collector's pauses and root-scanning handshakes wait for it.
//!
//! **A mutator hides a pointer inside a scope during a cycle.**
//!
//! Setup (before the threads start): a global G → Y → Z. Threads: the model's main
//! thread is the collector (an inline concurrent cycle: begin — the sweep-termination
//! pause —, scan roots by handshake, mark, finish — the termination pause with
//! verification). One mutator thread registers and opens a scope in which it loads Y from
//! G and Z from Y (both `Gc`s, not roots), deletes Y → Z through `Scope::store`, polls two
//! safepoints, and roots Z (`Scope::root`); after the scope it blocks until the cycle is
//! over and checks Z. Property: whatever the interleaving, verification finds no lost
//! object and Z is intact, under `hybrid` and `dijkstra` (whose rescan at termination
//! sees the root). The safepoints inside the scope do nothing: a pause or handshake
//! requested meanwhile waits for the scope to end.
//!
//! Negative control (`preemptible_scopes`: a safepoint inside a scope parks for a pause
//! and serves handshakes): loom finds the execution in which the delete lands before the
//! first pause (marking off: nothing shaded), the first in-scope safepoint parks for that
//! pause, the second serves the root-scanning handshake while Z is only a `Gc`, and Z,
//! rooted after its mutator's roots were scanned, is never marked (`hybrid`, whose rules
//! do not rescan roots at termination): verification reports it lost.
#![cfg(loom)]

use collector::{Barrier, Dijkstra, Hybrid, LoomFaults, Shape, POISON};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{
    assert_control, assert_nothing_lost, concurrent_heap, explore, faults, step_cycle,
};

static NODE: Shape = Shape::new("node", 1, 1);

/// What verification reports when the model loses Z (span 2 slot 1), held by the
/// mutator's handle.
const LOST_Z: &str = "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 1 \
                      (1 refs + 1 words) reached from handle 1 of mutator 1\"]";

fn scope_model<B: Barrier>(faults: LoomFaults) {
    let heap = concurrent_heap::<B>(faults);
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
        let gh = m.global(&g);
        let z = m.scope(|s| {
            let y = s.load(s.get(&gh), 0).expect("G holds Y");
            let z = s.load(y, 0).expect("Y holds Z");
            s.store(y, 0, None);
            m.safepoint();
            m.safepoint();
            s.root(z)
        });
        m.blocking(|| done.wait());
        assert_ne!(
            z.read(0),
            POISON as u64,
            "Z was freed while a handle held it"
        );
        assert_eq!(z.read(0), 42);
    });
    step_cycle(&heap);
    assert_nothing_lost(&heap.stats());
    cycle_done.notify();
    mutator.join().unwrap();
}

#[test]
fn hybrid_never_loses_a_pointer_hidden_in_a_scope() {
    explore("scopes/hybrid", || {
        scope_model::<Hybrid>(LoomFaults::default())
    });
}

#[test]
fn dijkstra_never_loses_a_pointer_hidden_in_a_scope() {
    explore("scopes/dijkstra", || {
        scope_model::<Dijkstra>(LoomFaults::default())
    });
}

#[test]
fn negative_control_a_preemptible_scope_loses_the_hidden_pointer() {
    assert_control(
        "scopes/preemptible",
        || scope_model::<Hybrid>(faults(|f| f.preemptible_scopes = true)),
        LOST_Z,
    );
}
