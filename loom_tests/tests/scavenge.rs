//! The scavenger releasing free spans' pages racing an allocator that takes a free span
//! and reads and writes its new object's words (`heap::scavenge`).
//!
//! A release drops a free span's pages: its words and slot metadata read as zero after
//! (loom's stand-in for `madvise` stores zero into each). It must never reach a span that
//! has left the page pool, whose words now belong to a live object. The scavenger holds
//! the span lock from choosing a free span to releasing it, and the allocator takes a
//! span from the pool under the same lock, so the two never meet.
//!
//! What is modelled: the real allocation path (`Mutator::alloc` refilling its cache from
//! the page pool, `Space::take_free_span`) and the real release (`Space::free_os_memory`,
//! through `Heap::run_scavenger`); the pages' release is the loom stand-in above, not the
//! kernel's. Not modelled: the background thread's pacing (plain `std` time and sleep).
//!
//! Setup (before the threads start): an object allocated, dropped and collected, so its
//! span is free and in the pool, its pages still held. Threads: a plain thread (no
//! mutator) runs the scavenger; the main thread allocates an object of the same class
//! (its refill takes the free span), writes a data word and reads it back, then again
//! after the scavenger is done. Property: the live object's word keeps its value.
//!
//! Negative control: `scavenge_outside_lock` chooses the spans under the lock and
//! releases them after dropping it; loom finds the allocation in between, and the word
//! reads as released.
#![cfg(loom)]

use collector::{Hybrid, LoomFaults, Shape};
use loom::thread;
use loom_tests::{assert_control, concurrent_heap, explore, faults};

/// Two data words.
static BLOB: Shape = Shape::new("blob", 0, 2);

fn scavenge_model(faults: LoomFaults) {
    let heap = concurrent_heap::<Hybrid>(faults);
    let m = heap.mutator();
    drop(m.alloc(&BLOB));
    m.gc();
    let h2 = heap.clone();
    let scavenger = thread::spawn(move || h2.run_scavenger());
    let obj = m.alloc(&BLOB);
    obj.write(1, 7);
    assert_eq!(obj.read(1), 7, "a live object's word was released under it");
    m.blocking(|| scavenger.join().unwrap());
    assert_eq!(obj.read(1), 7, "a live object's word was released under it");
}

#[test]
fn a_release_never_reaches_a_span_taken_from_the_pool() {
    explore(
        "scavenge: release against an allocation from the pool",
        || scavenge_model(LoomFaults::default()),
    );
}

#[test]
fn negative_control_a_release_outside_the_lock_zeroes_a_live_object() {
    assert_control(
        "scavenge/outside lock",
        || scavenge_model(faults(|f| f.scavenge_outside_lock = true)),
        "assertion `left == right` failed: a live object's word was released under it\n  \
         left: 0\n right: 7",
    );
}
