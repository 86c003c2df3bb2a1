//! The span table: span index → span, readable without locks.
//!
//! Two levels (a directory of chunks of span pointers), grown under the heap's span lock
//! and published with release stores; entries are never removed while the heap lives, so
//! a looked-up `&Span` is valid for the table's lifetime. Beside them a flat index of the
//! first `FAST_LEN - 1` spans, indexed by a reference's high half (the span index plus
//! one), serves scope loads with one bounds check and one load (Go's `spanOf`: a shift and
//! a table load); its zeroed pages cost memory only once touched.
//!
//! Invariant: pushes are serialized by the heap's span lock, and each entry is written
//! once, before `len` is raised with a release store; so for every `i < len()`, `get(i)`
//! is `Some` and names the same span until the table is dropped, and nothing is freed
//! before then; `fast[i + 1]` is written with span `i` (when `i + 1 < FAST_LEN`) before
//! `len` is raised, and null or that span ever after.

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

/// Entries of the flat index (entry 0 unused): 2^20 spans, at least 8 GiB of heap.
#[cfg(not(loom))]
const FAST_LEN: usize = 1 << 20;
#[cfg(loom)]
const FAST_LEN: usize = 8;

type FastIndex = [AtomicPtr<Span>; FAST_LEN];

/// A flat index of null entries.
#[cfg(not(loom))]
fn fast_index() -> Box<FastIndex> {
    let layout = std::alloc::Layout::new::<FastIndex>();
    // SAFETY: the layout's size is not zero.
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<FastIndex>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` was allocated with the global allocator for `FastIndex`'s layout, as
    // `Box` requires; `std`'s `AtomicPtr<T>` has the in-memory representation of `*mut T`,
    // for which all-zero bytes are the null pointer, so the zeroed memory is a valid array
    // of nulls.
    unsafe { Box::from_raw(p) }
}

/// A flat index of null entries (loom's atomics are built one by one).
#[cfg(loom)]
fn fast_index() -> Box<FastIndex> {
    Box::new(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())))
}

struct Chunk {
    spans: Box<[AtomicPtr<Span>]>,
}

/// Maps span indices to spans.
pub(crate) struct SpanTable {
    /// `fast[i + 1]`: span `i`, for the first `FAST_LEN - 1` spans.
    fast: Box<FastIndex>,
    dir: Box<[AtomicPtr<Chunk>]>,
    len: AtomicUsize,
}

impl SpanTable {
    /// The most spans a table can hold.
    pub(crate) const CAPACITY: usize = DIR_LEN * CHUNK_LEN;

    pub(crate) fn new() -> SpanTable {
        SpanTable {
            fast: fast_index(),
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

    /// The span a reference word's high half names (`key` = span index + 1): the flat
    /// index for the first spans, the two levels beyond. `None` for no span.
    #[inline(always)]
    pub(crate) fn get_by_key(&self, key: usize) -> Option<&Span> {
        if key < FAST_LEN {
            let span = self.fast[key].load(Acquire);
            // SAFETY: as in `get`: a non-null entry was made by `Box::into_raw` in `push`,
            // published with a release store, and is freed only in `Drop`.
            return unsafe { span.as_ref() };
        }
        self.get_far(key)
    }

    #[cold]
    #[inline(never)]
    fn get_far(&self, key: usize) -> Option<&Span> {
        self.get(key.wrapping_sub(1))
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
        if let Some(e) = self.fast.get(index + 1) {
            e.store(span, Release);
        }
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
        for i in 0..CHUNK_LEN + 3 {
            assert_eq!(t.get_by_key(i + 1).unwrap().index, i);
        }
        assert!(t.get_by_key(0).is_none());
        assert!(t.get_by_key(CHUNK_LEN + 4).is_none());
        assert!(t.get_by_key(FAST_LEN + 1).is_none());
    }
}
