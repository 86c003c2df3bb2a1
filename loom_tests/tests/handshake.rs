//! The stop-the-world handshake, model-checked: a cycle never reads a mutator's roots or
//! allocation cache while the mutator is running, whatever the interleaving.
//!
//! Threads: one mutator (registers, allocates two objects, links them, drops one handle)
//! and the collector (`Heap::gc`) on the model's main thread. Property: no unsynchronized
//! access to the mutator-private cells (loom's `UnsafeCell` tracking) and, after both
//! finish, verification found no lost object and the linked object is intact.
//! Negative control: the `stop_without_waiting` fault makes the pause start without
//! waiting for the running mutator; loom must report a causality violation.
//!
//! The second model: a blocked mutator drops a handle (as the finalizer thread drops each
//! finalizer's) without re-entering the running state, while a pause, which does not wait
//! for blocked mutators, reads its root table. Property: no unsynchronized access (the
//! blocked owner's clear is an atomic store through a shared reference), and a cycle that
//! begins after the drop (the mutator, still blocked, says so through a `Notify`) finds
//! the object unreachable. Negative control: `blocking_clear_unsynchronized` clears the
//! slot as a running owner does, through exclusive access; loom must report a causality
//! violation.
#![cfg(loom)]

use collector::{Gogc, Heap, HeapConfig, LoomFaults, Shape, WeakHandle};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex, Notify};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost, explore};

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
    let n = explore("handshake", || handshake_model(LoomFaults::default()));
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

/// A one-shot signal: loom's `Notify::wait` may return spuriously, so the flag says
/// whether it has really been given.
#[derive(Default)]
struct Signal(AtomicBool, Notify);

impl Signal {
    fn give(&self) {
        self.0.store(true, SeqCst);
        self.1.notify();
    }

    fn wait(&self) {
        while !self.0.load(SeqCst) {
            self.1.wait();
        }
    }
}

fn blocked_drop_model(faults: LoomFaults) {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: false,
        faults,
        ..HeapConfig::default()
    })
    .unwrap();
    let weak: Arc<Mutex<Option<WeakHandle>>> = Arc::new(Mutex::new(None));
    let (dropped, release) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
    let (h, w, d, r) = (heap.clone(), weak.clone(), dropped.clone(), release.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let o = m.alloc(&NODE);
        *w.lock().unwrap() = Some(m.weak(&o));
        m.blocking(|| {
            drop(o);
            d.give();
            r.wait();
        });
    });
    // Races the drop: reads the mutator's roots while it is not running (blocked, or not
    // yet registered), and once it is blocked, without waiting for it.
    heap.gc();
    dropped.wait();
    heap.gc();
    let gone = weak.lock().unwrap().as_ref().unwrap().is_gone();
    release.give();
    mutator.join().unwrap();
    assert!(
        gone,
        "a cycle after the blocked drop found the object still rooted"
    );
    assert_nothing_lost(&heap.stats());
}

#[test]
fn a_blocked_mutator_drops_a_handle_while_a_pause_reads_its_roots() {
    let n = explore("blocked drop", || blocked_drop_model(LoomFaults::default()));
    assert!(n > 1, "loom explored interleavings");
}

#[test]
fn negative_control_blocking_clear_unsynchronized_is_caught() {
    assert_control(
        "handshake/blocking clear unsynchronized",
        || {
            blocked_drop_model(LoomFaults {
                blocking_clear_unsynchronized: true,
                ..LoomFaults::default()
            })
        },
        "Causality violation: Concurrent read and write accesses.\n",
    );
}
