//! Helpers shared by the integration tests.
#![allow(dead_code)]

use collector::{Heap, HeapConfig};

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

/// A heap with verification on and automatic collection off unless asked.
pub fn verified_heap(gogc: collector::Gogc) -> Heap {
    Heap::new(HeapConfig {
        gogc,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap()
}
