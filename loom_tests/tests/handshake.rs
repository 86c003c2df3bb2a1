//! The stop-the-world handshake, model-checked: a cycle never reads a mutator's roots or
//! allocation cache while the mutator is running, whatever the interleaving.
//!
//! Threads: one mutator (registers, allocates two objects, links them, drops one handle)
//! and the collector (`Heap::gc`) on the model's main thread. Property: no unsynchronized
//! access to the mutator-private cells (loom's `UnsafeCell` tracking) and, after both
//! finish, verification found no lost object and the linked object is intact.
//! Negative control: the `stop_without_waiting` fault makes the pause start without
//! waiting for the running mutator; loom must report a causality violation.
#![cfg(loom)]

use collector::{Gogc, Heap, HeapConfig, LoomFaults, Shape};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost};

static NODE: Shape = Shape::new("node", 1, 1);

fn handshake_model(faults: LoomFaults) {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        // The whole cycle in one pause: this model checks the stop-the-world handshake.
        concurrent: false,
        faults,
        ..HeapConfig::default()
    })
    .unwrap();
    let h = heap.clone();
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let a = m.alloc(&NODE);
        let b = m.alloc(&NODE);
        b.write(0, 7);
        a.set(0, Some(&b));
        drop(b);
        m.safepoint();
        assert_eq!(a.get(0).expect("a keeps b alive").read(0), 7);
    });
    heap.gc();
    mutator.join().unwrap();
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 1);
    assert_nothing_lost(&s);
}

#[test]
fn stop_the_world_never_overlaps_a_running_mutator() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    loom::model(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        handshake_model(LoomFaults::default())
    });
    let n = runs.load(std::sync::atomic::Ordering::Relaxed);
    println!("handshake: {n} executions");
    assert!(n > 1, "loom explored interleavings");
}

#[test]
fn negative_control_stop_without_waiting_is_caught() {
    assert_control(
        "handshake/stop without waiting",
        || {
            handshake_model(LoomFaults {
                stop_without_waiting: true,
                ..LoomFaults::default()
            })
        },
        "Causality violation: Concurrent write accesses to `UnsafeCell`.\n",
    );
}
