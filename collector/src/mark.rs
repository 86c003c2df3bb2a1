//! Marking: tracing from the roots (every mutator's handles and the globals space)
//! through reference slots, setting mark bits. In this stop-the-world collector it runs
//! with the world stopped, on the thread running the cycle.

use crate::heap::span::{prefetch, Span, SpanKind};
use crate::heap::Space;
use crate::mutator::world::Stopped;
use crate::object::Ref;
use crate::sync::{AtomicUsize, Ordering::*};

/// Reads a heap word the collector may race with a mutator on. Under loom it is a
/// read-modify-write, because loom otherwise can hide the race (ECOSYSTEM.md §3.4).
#[inline(always)]
pub(crate) fn load_racy(w: &AtomicUsize) -> usize {
    #[cfg(loom)]
    return w.fetch_add(0, AcqRel);
    #[cfg(not(loom))]
    w.load(Acquire)
}

/// A tracer that sets mark bits.
pub(crate) struct Marker<'h> {
    space: &'h Space,
    stack: Vec<(&'h Span, usize)>,
    /// References that named no live object (stale, poisoned or out of range). The
    /// checkmark pass reports each with its edge.
    pub(crate) bad_refs: u64,
    /// Objects newly marked.
    pub(crate) marked_objects: u64,
}

impl<'h> Marker<'h> {
    pub(crate) fn new(space: &'h Space) -> Marker<'h> {
        Marker {
            space,
            stack: Vec::with_capacity(1024),
            bad_refs: 0,
            marked_objects: 0,
        }
    }

    /// Greys `r` if it is not marked yet.
    #[inline(always)]
    pub(crate) fn mark(&mut self, r: Ref) {
        let Some(span) = self.space.span(r.span()) else {
            self.bad_refs += 1;
            return;
        };
        match span.kind() {
            SpanKind::Small | SpanKind::Large => {}
            // Globals are roots; they are scanned by `mark_globals`, never marked.
            SpanKind::Immortal => return,
            SpanKind::Free => {
                self.bad_refs += 1;
                return;
            }
        }
        let slot = r.slot();
        // The allocation bit, not the metadata, says whether the slot holds an object:
        // the bitmap is 64 times denser, so it is usually in cache.
        if slot >= span.nslots() || !span.is_allocated(slot) {
            self.bad_refs += 1;
            return;
        }
        if span.try_mark(slot) {
            self.marked_objects += 1;
            if !span.noscan() {
                prefetch(span.word(span.slot_base(slot)));
                span.prefetch_meta(slot);
                self.stack.push((span, slot));
            }
        }
    }

    /// Scans grey objects until none is left.
    pub(crate) fn drain(&mut self) {
        while let Some((span, slot)) = self.stack.pop() {
            let Some(meta) = span.meta(slot) else {
                continue;
            };
            let base = span.slot_base(slot);
            for i in 0..meta.ptr_slots as usize {
                let w = load_racy(span.word(base + i));
                if let Some(r) = Ref::from_word(w) {
                    self.mark(r);
                }
            }
        }
    }

    /// Greys every mutator's handles.
    pub(crate) fn mark_mutator_roots(&mut self, stopped: &Stopped<'_>) {
        for m in stopped.mutators() {
            m.roots_stopped(stopped, |t| {
                for (_, r) in t.iter() {
                    self.mark(r);
                }
            });
        }
    }

    /// Greys everything the globals space references.
    pub(crate) fn mark_globals(&mut self) {
        let space = self.space;
        for_each_global(space, |span, base, ptr_slots| {
            for i in 0..ptr_slots {
                if let Some(r) = Ref::from_word(load_racy(span.word(base + i))) {
                    self.mark(r);
                }
            }
        });
    }
}

/// Calls `f(span, first word, reference slots)` for every object in the globals space.
pub(crate) fn for_each_global(space: &Space, mut f: impl FnMut(&Span, usize, usize)) {
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if span.kind() != SpanKind::Immortal {
            continue;
        }
        for w in 0..span.bitmap_words() {
            let mut bits = span.alloc_bits(w).load(Acquire);
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(meta) = span.meta(slot) {
                    if meta.ptr_slots > 0 {
                        f(span, span.slot_base(slot), meta.ptr_slots as usize);
                    }
                }
            }
        }
    }
}
