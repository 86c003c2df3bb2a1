//! The span table: span index → span, readable without locks.
//!
//! Two levels (a directory of chunks of span pointers), grown under the heap's span lock
//! and published with release stores. Beside them a flat index of the first
//! `FAST_LEN - 1` spans, indexed by a reference's key (`Ref::key`: the span index plus
//! one), serves scope loads and the marker with one bounds check (against `fast.len`, the
//! keys it holds) and one load (Go's `spanOf`: a shift and a table load); its zeroed pages
//! cost memory only once touched. Its entries are never null up to `fast.len`: entry 0
//! (key 0, no span's) and a retired span's entry hold the table's empty span
//! ([`SpanTable::span_or_empty`]: no storage, no slots, `Free`), so a scope load's
//! metadata bounds check rejects them with no null test of its own.
//!
//! A span can be retired ([`SpanTable::retire`]): its two-level entry is nulled, its flat
//! entry set to the empty span, and the span is dropped through the table's epoch domain
//! (`crate::epoch`), once every reader pinned before those stores has unpinned. Span
//! indices are never reused, so a reference to a retired span finds no span. Readers that
//! may race a retirement look spans up with [`SpanTable::lookup`] /
//! [`SpanTable::lookup_by_key`], whose `&Span` the compiler ties to the guard.
//! [`SpanTable::get`], [`SpanTable::get_by_key`] and [`SpanTable::span_or_empty`] take no
//! guard: they serve mutators while running (the heap retires spans only with the world
//! stopped, see `heap::retire`, so a pause is their grace period) and threads holding
//! the span lock, which retirement takes too.
//!
//! Invariant: pushes and retirements are serialized by the heap's span lock; each
//! two-level entry is written once, before `len` is raised with a release store, and later
//! only nulled by `retire` (never written again: indices are not reused); `fast.spans[0]`
//! is the empty span from the table's creation; `fast.spans[i + 1]` is written with span
//! `i` (when `i + 1 < FAST_LEN`) before `fast.len` and `len` are raised (`fast.len` =
//! `min(len, FAST_LEN - 1)`, with release stores), and is that span or the empty span
//! ever after, so every flat entry at or below `fast.len` is non-null. A span is freed
//! only by `retire`'s deferred drop, after neither entry names it and every guard pinned
//! before then is dropped, or by the table's drop; the empty span only by the table's
//! drop.

use crate::epoch::{Domain, Guard};
use crate::heap::span::Span;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering::*};
use std::ptr::{self, NonNull};

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

/// The flat index: its bound beside its entries, so that one address serves both.
pub(crate) struct FastIndex {
    /// The keys it holds: `1..=len`, `len < FAST_LEN`.
    len: AtomicUsize,
    /// `spans[i + 1]`: span `i`, for the first `FAST_LEN - 1` spans; `spans[0]`: the
    /// table's empty span.
    spans: [AtomicPtr<Span>; FAST_LEN],
}

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
    // for which all-zero bytes are the null pointer, and `AtomicUsize` that of `usize`, so
    // the zeroed memory is a valid index: a length of 0 and an array of nulls.
    unsafe { Box::from_raw(p) }
}

/// A flat index of null entries (loom's atomics are built one by one).
#[cfg(loom)]
fn fast_index() -> Box<FastIndex> {
    Box::new(FastIndex {
        len: AtomicUsize::new(0),
        spans: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
    })
}

struct Chunk {
    spans: Box<[AtomicPtr<Span>]>,
}

/// Maps span indices to spans.
pub(crate) struct SpanTable {
    /// The flat index of the first `FAST_LEN - 1` spans.
    fast: Box<FastIndex>,
    /// What the flat index holds for no span (key 0, a retired span): no storage, no
    /// slots. Owned through a raw pointer, as every span of the table is: its address is
    /// in `fast`.
    empty: EmptySpan,
    dir: Box<[AtomicPtr<Chunk>]>,
    len: AtomicUsize,
    /// What readers of retired spans pin.
    domain: Domain,
    /// Under loom, retired spans once their grace period is over: marked freed, their
    /// memory returned at the table's drop (see `retire`).
    #[cfg(loom)]
    graveyard: crate::sync::Arc<crate::sync::Mutex<Vec<usize>>>,
}

/// The table's empty span, made by `Box::leak` in [`SpanTable::new`] and freed by the
/// table's drop.
struct EmptySpan(NonNull<Span>);

// SAFETY: the pointer is the table's own `Span` (which is `Send` and `Sync`), shared only as
// `&Span` while the table lives and freed only by the table's drop, as a `Box<Span>` would
// be.
unsafe impl Send for EmptySpan {}
// SAFETY: as for `Send`.
unsafe impl Sync for EmptySpan {}

// Every span the table can hold has an index a reference can name.
const _: () = assert!(SpanTable::CAPACITY - 1 <= crate::object::Ref::MAX_SPAN);

impl SpanTable {
    /// The most spans a table can hold.
    pub(crate) const CAPACITY: usize = DIR_LEN * CHUNK_LEN;

    pub(crate) fn new() -> SpanTable {
        let fast = fast_index();
        let empty = EmptySpan(NonNull::from(Box::leak(Box::new(Span::new(
            usize::MAX,
            0,
            0,
            0,
        )))));
        fast.spans[0].store(empty.0.as_ptr(), Relaxed);
        SpanTable {
            fast,
            empty,
            dir: (0..DIR_LEN)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            len: AtomicUsize::new(0),
            domain: Domain::inert(),
            #[cfg(loom)]
            graveyard: Default::default(),
        }
    }

    /// Makes the table's epoch domain live, before it is shared: a table that may retire
    /// spans (a new table's domain is inert under loom, see `Domain::inert`).
    pub(crate) fn set_retiring(&mut self) {
        self.domain = Domain::new();
    }

    /// Pins the table's epoch domain: spans looked up under the guard stay allocated
    /// until it is dropped.
    #[inline]
    pub(crate) fn pin(&self) -> Guard<'_> {
        self.domain.pin()
    }

    /// The span at `index` (as [`SpanTable::get`]), valid while `guard` is pinned, even
    /// if the span is retired meanwhile.
    #[inline(always)]
    pub(crate) fn lookup<'g>(&'g self, index: usize, guard: &'g Guard<'_>) -> Option<&'g Span> {
        debug_assert!(guard.pins(&self.domain));
        self.get(index)
    }

    /// The span a reference's key (`Ref::key`) names (as [`SpanTable::get_by_key`]), valid
    /// while `guard` is pinned, even if the span is retired meanwhile.
    #[inline(always)]
    #[cfg_attr(not(loom), allow(dead_code))] // the loom model's scope-load stand-in
    pub(crate) fn lookup_by_key<'g>(
        &'g self,
        key: usize,
        guard: &'g Guard<'_>,
    ) -> Option<&'g Span> {
        debug_assert!(guard.pins(&self.domain));
        self.get_by_key(key)
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
        // published with a release store; chunks (unlike spans) are freed only in
        // `Drop`, which needs `&mut self`, so the chunk outlives this `&self` borrow.
        let chunk = unsafe { &*chunk };
        let span = chunk.spans[index & (CHUNK_LEN - 1)].load(Acquire);
        if span.is_null() {
            return None;
        }
        // SAFETY: made by `Box::into_raw` in `push` and published with a release store; a
        // span is freed before `Drop` only by retirement (`heap::retire`), which takes
        // free spans only, with the world stopped and the span lock held, and defers the
        // free past every pinned reader. Callers of this unpinned lookup are mutators
        // (running, so no pause is in progress while they hold the span), holders of the
        // span lock, or threads the retirement excludes (see `heap::retire`); the rest use
        // `lookup` with a guard.
        Some(unsafe { &*span })
    }

    /// The span a reference's key (`Ref::key`) names (`key` = span index + 1): the flat
    /// index for the first spans, the two levels beyond. `None` for no span.
    #[inline(always)]
    pub(crate) fn get_by_key(&self, key: usize) -> Option<&Span> {
        let span = self.span_or_empty(key);
        (!ptr::eq(span, self.empty())).then_some(span)
    }

    /// The span a reference's key (`Ref::key`) names, or the table's empty span (no
    /// storage, no metadata words, `Free`) for no span (see [`Flat::span_or_empty`]).
    #[inline(always)]
    pub(crate) fn span_or_empty(&self, key: usize) -> &Span {
        self.flat().span_or_empty(key)
    }

    /// The flat index by address, for a loop of lookups to keep in a register.
    #[inline(always)]
    pub(crate) fn flat(&self) -> Flat<'_> {
        Flat {
            fast: &self.fast,
            table: self,
        }
    }

    /// The table's empty span.
    fn empty(&self) -> &Span {
        // SAFETY: made from a `Box` in `new`, freed only by the table's drop (`&self`
        // borrows the table), never written through the pointer.
        unsafe { self.empty.0.as_ref() }
    }

    #[cold]
    #[inline(never)]
    fn get_far(&self, key: usize) -> &Span {
        self.get(key.wrapping_sub(1)).unwrap_or(self.empty())
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
        if let Some(e) = self.fast.spans.get(index + 1) {
            e.store(span, Release);
            self.fast.len.store(index + 1, Release);
        }
        self.len.store(index + 1, Release);
        Some(index)
    }

    /// Retires span `index`: nulls its entries and drops it through the epoch domain once
    /// every guard pinned before now is dropped. Returns whether there was a span. Callers
    /// serialize retirements with pushes (the heap's span lock) and own the span (it is
    /// free, in no pool and no cache).
    ///
    /// Under loom the drop is the stand-in the model checks: the span's `freed` flag is
    /// set when its grace period ends, and its memory is returned at the table's drop, so
    /// that a model whose grace period is broken reads a flag, not freed memory.
    /// `grace: false` (the negative control) marks it freed at once.
    pub(crate) fn retire(&self, index: usize, guard: &Guard<'_>, grace: bool) -> bool {
        debug_assert!(guard.pins(&self.domain));
        let Some(slot) = self.dir.get(index >> CHUNK_SHIFT) else {
            return false;
        };
        let chunk = slot.load(Acquire);
        if chunk.is_null() {
            return false;
        }
        // SAFETY: as in `get`.
        let entry = &unsafe { &*chunk }.spans[index & (CHUNK_LEN - 1)];
        let span = entry.swap(ptr::null_mut(), SeqCst);
        if span.is_null() {
            return false;
        }
        if let Some(e) = self.fast.spans.get(index + 1) {
            e.store(self.empty.0.as_ptr(), SeqCst);
        }
        #[cfg(not(loom))]
        {
            let _ = grace;
            // SAFETY: `span` came from `Box::into_raw` in `push`; the swap above took the
            // table's only owning entry (the flat index's copy now names the empty span), so it is
            // deferred once, and a reader that pins from now on finds null.
            unsafe { guard.defer_drop(span) };
        }
        #[cfg(loom)]
        {
            let tomb = Tomb {
                span: span as usize,
                graveyard: self.graveyard.clone(),
            };
            if grace {
                // SAFETY: as above (the tomb owns the span from here).
                unsafe { guard.defer_drop(Box::into_raw(Box::new(tomb))) };
            } else {
                drop(tomb);
            }
        }
        true
    }
}

/// A span table's flat index, borrowed (what a scope holds: its two addresses stay in
/// registers across a loop of loads).
#[derive(Clone, Copy)]
pub(crate) struct Flat<'t> {
    fast: &'t FastIndex,
    table: &'t SpanTable,
}

impl<'t> Flat<'t> {
    /// The span a reference's key (`Ref::key`) names, or the table's empty span (no
    /// storage, no metadata words, `Free`) for no span: one bounds check and one load for
    /// the first spans, no null test. Callers as for [`SpanTable::get`].
    #[inline(always)]
    pub(crate) fn span_or_empty(self, key: usize) -> &'t Span {
        if key <= self.fast.len.load(Acquire) {
            debug_assert!(key < FAST_LEN);
            // SAFETY: `key <= len`, which never exceeds `FAST_LEN - 1` (`push` raises it
            // only past an entry inside the index): in bounds.
            let entry = unsafe { self.fast.spans.get_unchecked(key) };
            let span = entry.load(Acquire);
            // SAFETY: entries at or below `fast.len` (acquired above) are non-null
            // (invariant): the empty span, owned by the table, or a span made by
            // `Box::into_raw` in `push`, published with a release store before `fast.len`
            // was raised, and freed only by `Drop` or by a retirement, which happens in a
            // cycle's first pause: no caller of this lookup overlaps it (a running
            // mutator, which the pause stops; a marker, which runs only between that
            // pause and mark termination: `heap/retire.rs`).
            return unsafe { &*span };
        }
        self.table.get_far(key)
    }

    /// The table.
    #[inline(always)]
    pub(crate) fn table(self) -> &'t SpanTable {
        self.table
    }
}

/// A retired span under loom: marks it freed when dropped, and hands its memory to the
/// table's graveyard.
#[cfg(loom)]
struct Tomb {
    span: usize,
    graveyard: crate::sync::Arc<crate::sync::Mutex<Vec<usize>>>,
}

#[cfg(loom)]
impl Drop for Tomb {
    fn drop(&mut self) {
        // SAFETY: the graveyard frees the span only at the table's drop, so it is live.
        unsafe { &*(self.span as *const Span) }
            .freed
            .store(true, crate::sync::unmodelled::Ordering::SeqCst);
        crate::sync::lock(&self.graveyard).push(self.span);
    }
}

impl Drop for SpanTable {
    fn drop(&mut self) {
        // Retired spans' deferred drops first (`&mut self`: no guard is pinned).
        #[cfg(loom)]
        {
            self.domain.drain();
            for span in std::mem::take(&mut *crate::sync::lock(&self.graveyard)) {
                // SAFETY: retired spans came from `Box::into_raw` in `push`, reach the
                // graveyard once, and are no longer in the table.
                drop(unsafe { Box::from_raw(span as *mut Span) });
            }
        }
        // The spans' mapped pages, unmapped together at the end (or if a drop panics).
        #[cfg(not(loom))]
        let mut storage = crate::heap::pages::UnmapOnDrop::default();
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
                    let span = unsafe { Box::from_raw(span) };
                    #[cfg(not(loom))]
                    span.into_mapped_ranges(&mut storage);
                    #[cfg(loom)]
                    drop(span);
                }
            }
        }
        #[cfg(not(loom))]
        storage.unmap_now();
        // SAFETY: made by `Box::leak` in `new`, freed only here; `&mut self`: no borrow
        // of it is alive, and no chunk entry holds it (only the flat index does).
        drop(unsafe { Box::from_raw(self.empty.0.as_ptr()) });
    }
}

/// The span table's retirement racing a reader, for the loom model
/// (`loom_tests/tests/retire.rs`): a table holding one span, index 0.
#[cfg(loom)]
pub struct RetireModel {
    table: SpanTable,
}

#[cfg(loom)]
impl Default for RetireModel {
    fn default() -> Self {
        let mut table = SpanTable::new();
        table.set_retiring();
        table.push(|index| Span::new(index, 1, 64, 8));
        RetireModel { table }
    }
}

#[cfg(loom)]
impl RetireModel {
    /// A reader as a scope load is one: pins, looks the span up by a reference's key
    /// (span index + 1), reads it, and checks that its span was not freed while pinned.
    /// Returns whether it found the span.
    pub fn read(&self) -> bool {
        let guard = self.table.pin();
        let Some(span) = self.table.lookup_by_key(1, &guard) else {
            return false;
        };
        let _ = span.index;
        crate::sync::yield_now();
        assert!(
            !span.freed.load(crate::sync::unmodelled::Ordering::SeqCst),
            "a pinned reader's span was freed under it"
        );
        true
    }

    /// Retires span 0 (the heap's span lock is the caller: one retirer). `grace: false`
    /// frees it without waiting for readers (the negative control).
    pub fn retire(&self, grace: bool) {
        let guard = self.table.pin();
        assert!(
            self.table.retire(0, &guard, grace),
            "span 0 was retired twice"
        );
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
        // No span: the empty span, which has no storage and no metadata.
        for key in [0, CHUNK_LEN + 4, FAST_LEN + 1, usize::MAX] {
            let e = t.span_or_empty(key);
            assert!(ptr::eq(e, t.empty()), "key {key}");
            assert_eq!((e.words().len(), e.max_slots(), e.meta_word(0)), (0, 0, 0));
        }
        assert_eq!(t.span_or_empty(CHUNK_LEN + 3).index, CHUNK_LEN + 2);
    }

    #[test]
    fn a_retired_span_is_found_no_more_but_stays_readable_under_an_earlier_guard() {
        let mut t = SpanTable::new();
        t.set_retiring();
        for _ in 0..3 {
            t.push(|index| Span::new(index, 1, 64, 8)).unwrap();
        }
        let early = t.pin();
        let held = t.lookup_by_key(2, &early).unwrap();
        let g = t.pin();
        assert!(t.retire(1, &g, true));
        assert!(!t.retire(1, &g, true), "retired twice");
        assert!(t.get(1).is_none() && t.get_by_key(2).is_none());
        assert!(
            ptr::eq(t.span_or_empty(2), t.empty()),
            "the flat entry names it still"
        );
        assert!(t.lookup(1, &g).is_none());
        // Indices are not reused: the next span gets a new one.
        assert_eq!(t.push(|index| Span::new(index, 1, 64, 8)), Some(3));
        assert_eq!(t.get(0).unwrap().index, 0);
        assert_eq!(t.get(2).unwrap().index, 2);
        // The span retired under `early` is still there to read.
        assert_eq!(held.index, 1);
        assert_eq!(held.pages, 1);
    }
}
