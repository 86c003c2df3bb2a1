//! The span table: span index → span, readable without locks.
//!
//! Two levels (a directory of chunks of span pointers), grown under the heap's span lock
//! and published with release stores; entries are never removed while the heap lives, so
//! a looked-up `&Span` is valid for the table's lifetime.
//!
//! Invariant: pushes are serialized by the heap's span lock, and each entry is written
//! once, before `len` is raised with a release store; so for every `i < len()`, `get(i)`
//! is `Some` and names the same span until the table is dropped, and nothing is freed
//! before then.

use crate::heap::span::Span;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering::*};
use std::ptr;

#[cfg(not(loom))]
const CHUNK_SHIFT: usize = 12;
#[cfg(not(loom))]
const DIR_LEN: usize = 1 << 14;
#[cfg(loom)]
const CHUNK_SHIFT: usize = 2;
#[cfg(loom)]
const DIR_LEN: usize = 4;

const CHUNK_LEN: usize = 1 << CHUNK_SHIFT;

struct Chunk {
    spans: Box<[AtomicPtr<Span>]>,
}

/// Maps span indices to spans.
pub(crate) struct SpanTable {
    dir: Box<[AtomicPtr<Chunk>]>,
    len: AtomicUsize,
}

impl SpanTable {
    /// The most spans a table can hold.
    pub(crate) const CAPACITY: usize = DIR_LEN * CHUNK_LEN;

    pub(crate) fn new() -> SpanTable {
        SpanTable {
            dir: (0..DIR_LEN)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// The number of spans created so far.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// The span at `index`, if one has been created there.
    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> Option<&Span> {
        let chunk = self.dir.get(index >> CHUNK_SHIFT)?.load(Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: a non-null directory entry was made by `Box::into_raw` in `push` and
        // published with a release store; chunks are freed only in `Drop`, which needs
        // `&mut self`, so the chunk outlives this `&self` borrow.
        let chunk = unsafe { &*chunk };
        let span = chunk.spans[index & (CHUNK_LEN - 1)].load(Acquire);
        if span.is_null() {
            return None;
        }
        // SAFETY: as for the chunk: made by `Box::into_raw` in `push`, published with a
        // release store, freed only in `Drop`.
        Some(unsafe { &*span })
    }

    /// Adds a span made by `make(index)` and returns its index, or `None` when the table
    /// is full. Callers serialize pushes (the heap's span lock).
    pub(crate) fn push(&self, make: impl FnOnce(usize) -> Span) -> Option<usize> {
        let index = self.len.load(Relaxed);
        if index >= Self::CAPACITY {
            return None;
        }
        let slot = &self.dir[index >> CHUNK_SHIFT];
        let mut chunk = slot.load(Acquire);
        if chunk.is_null() {
            let fresh = Box::new(Chunk {
                spans: (0..CHUNK_LEN)
                    .map(|_| AtomicPtr::new(ptr::null_mut()))
                    .collect(),
            });
            chunk = Box::into_raw(fresh);
            slot.store(chunk, Release);
        }
        let span = Box::into_raw(Box::new(make(index)));
        // SAFETY: `chunk` is non-null and live (see `get`); pushes are serialized, so no
        // other thread writes this entry.
        unsafe { &*chunk }.spans[index & (CHUNK_LEN - 1)].store(span, Release);
        self.len.store(index + 1, Release);
        Some(index)
    }
}

impl Drop for SpanTable {
    fn drop(&mut self) {
        for slot in self.dir.iter() {
            let chunk = slot.load(Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: made by `Box::into_raw` in `push`; `&mut self` means no borrow of
            // the table (and so of any chunk or span) is alive.
            let chunk = unsafe { Box::from_raw(chunk) };
            for s in chunk.spans.iter() {
                let span = s.load(Acquire);
                if !span.is_null() {
                    // SAFETY: as for the chunk.
                    drop(unsafe { Box::from_raw(span) });
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_and_get_across_chunks() {
        let t = SpanTable::new();
        assert!(t.get(0).is_none());
        for i in 0..CHUNK_LEN + 3 {
            let idx = t.push(|index| Span::new(index, 1, 64, 8)).unwrap();
            assert_eq!(idx, i);
        }
        assert_eq!(t.len(), CHUNK_LEN + 3);
        assert_eq!(t.get(CHUNK_LEN + 2).unwrap().index, CHUNK_LEN + 2);
        assert!(t.get(CHUNK_LEN + 3).is_none());
        assert!(t.get(usize::MAX >> 1).is_none());
    }
}
