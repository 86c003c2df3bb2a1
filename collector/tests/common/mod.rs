//! Helpers shared by the integration tests.
#![allow(dead_code)]

use collector::{Heap, HeapConfig, Mutator};
use std::sync::{Arc, Mutex};

/// A deterministic xorshift64* generator (tests need no `rand`).
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The message of a caught panic's payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string panic payload)".to_string())
}

/// Runs `f` on a heap made from `config` with barrier `B` (a panic in `f` becomes an
/// error), then shuts the heap down.
pub fn on_heap<B: collector::Barrier, T>(
    config: HeapConfig,
    f: impl FnOnce(&Heap<B>) -> Result<T, String>,
) -> Result<T, String> {
    let heap = Heap::<B>::with_barrier(config)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&heap)))
        .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(&*p))));
    heap.shutdown();
    result
}

/// A heap with verification on and automatic collection off unless asked.
pub fn verified_heap(gogc: collector::Gogc) -> Heap {
    Heap::new(HeapConfig {
        gogc,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// A log of events that callbacks append to, shared with the test thread.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Appends an event.
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }

    /// Takes the events so far, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    /// Takes the events so far, sorted (for callbacks that promise no order).
    pub fn take_sorted(&self) -> Vec<String> {
        let mut v = self.take();
        v.sort();
        v
    }
}

/// A list of `n` objects of `shape` linked through reference slot 0 behind a head of the
/// same shape, all live while the returned head is held.
pub fn live_list<'m>(m: &'m Mutator, shape: &collector::Shape, n: u64) -> collector::Handle<'m> {
    let head = m.alloc(shape);
    let mut tail = head.clone();
    for _ in 0..n {
        let next = m.alloc(shape);
        tail.set(0, Some(&next));
        tail = next;
    }
    head
}

/// `gc()`, then waits until the finalizers and cleanups it queued have run.
pub fn gc_and_drain(m: &Mutator) {
    m.gc();
    m.drain_finalizers();
    m.drain_cleanups();
}

/// Allocates garbage `NODE`-sized objects with `m`: at least `at_least` of them, and on
/// until two automatic cycles have completed (under valgrind one slow mark can last any
/// fixed count, every object allocated black). Panics, with the heap's stats, if
/// `bound` allocations pass with fewer than two cycles: the collector is not keeping up.
pub fn allocate_until_two_cycles(
    heap: &Heap,
    m: &Mutator,
    shape: &collector::Shape,
    at_least: u64,
    bound: u64,
) {
    let mut allocated = 0u64;
    while allocated < at_least || heap.stats().gc_cycles < 2 {
        assert!(
            allocated < bound,
            "{allocated} allocations and under two cycles: {:?}",
            heap.stats()
        );
        for _ in 0..10_000 {
            drop(m.alloc(shape));
        }
        allocated += 10_000;
    }
}
