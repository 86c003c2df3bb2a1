//! Sweeping: freeing every allocated but unmarked object, turning mark bits into the next
//! allocation bits, rebuilding the partial-span lists and returning empty spans to the
//! page pool. With verification on, freed slots are poisoned so that a stale reference
//! is caught when it is used. This file is the stop-the-world heap's sweep, inside the
//! pause; a concurrent heap sweeps lazily by generation (`heap::sweeping`), in the
//! background (`cycle::service`; under loom, a model thread calling
//! `Heap::run_background_sweep`) and on allocation.
//!
//! Invariant: runs only inside a pause (its caller passes the [`Stopped`] proof) with no
//! span cached. It sweeps every small and large span once, its specials first, and leaves
//! each on exactly one swept list or in the page pool, with the heap's live bytes set to
//! what survived. It never advances the sweep generation, so every span stays swept and the
//! lazy paths of `heap::sweeping` find nothing to do.

use crate::core::HeapCore;
use crate::heap::span::SpanKind;
use crate::heap::special_deaths::sweep_specials;
use crate::heap::sweeping::{free_slot, sweep_small};
use crate::heap::SweptLists;
use crate::object::WORD_BYTES;
use crate::sync::Ordering::*;
use crate::world::Stopped;

/// What a sweep found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SweepResult {
    /// Bytes of objects that survived (slot sizes; large objects by pages).
    pub(crate) live_bytes: usize,
    /// Objects freed.
    pub(crate) freed_objects: usize,
}

/// Sweeps every span. The world is stopped and no span is cached.
pub(crate) fn sweep_all(core: &HeapCore, _stopped: &Stopped<'_>) -> SweepResult {
    let space = &core.space;
    let poison = core.config.verify;
    let mut lists = SweptLists::empty();
    let mut freed = Vec::new();
    let mut res = SweepResult::default();
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if matches!(span.kind(), SpanKind::Small | SpanKind::Large) {
            sweep_specials(span, space);
        }
        match span.kind() {
            SpanKind::Free | SpanKind::Immortal => {}
            SpanKind::Large => {
                if span.is_marked(0) {
                    span.mark_bits(0).store(0, Relaxed);
                    res.live_bytes += span.large_bytes();
                    lists.large.push(i);
                } else {
                    free_slot(span, 0, poison);
                    span.alloc_bits(0).store(0, Relaxed);
                    res.freed_objects += 1;
                    freed.push(i);
                }
            }
            SpanKind::Small => {
                let (live, dead) = sweep_small(span, poison);
                res.freed_objects += dead;
                if live == 0 {
                    freed.push(i);
                } else if live < span.nslots() {
                    lists.partial[span.class().index()].push(i);
                } else {
                    lists.full[span.class().index()].push(i);
                }
                res.live_bytes += live * span.elem_words() * WORD_BYTES;
            }
        }
    }
    space.rebuild_pools(lists, freed);
    space.set_live(res.live_bytes, 0);
    res
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::span::Span;
    use crate::object::{Shape, POISON};
    use crate::size_class::SpanClass;

    fn small_span() -> Span {
        let s = Span::new(0, 1, 8192, 1024);
        s.init(SpanKind::Small, SpanClass::new(4, false), 4); // 256 slots of 4 words
        s
    }

    #[test]
    fn sweep_small_frees_the_unmarked_and_keeps_the_marked() {
        let s = small_span();
        let shape = Shape::new("t", 2, 2);
        for slot in [0, 1, 2, 70, 255] {
            s.set_meta(slot, shape.meta());
            s.alloc_bits(slot / 64).fetch_or(1 << (slot % 64), Relaxed);
            s.word(s.slot_base(slot)).store(7, Relaxed);
        }
        for slot in [1, 255] {
            assert!(s.try_mark(slot));
        }
        let (live, dead) = sweep_small(&s, true);
        assert_eq!((live, dead), (2, 3));
        for slot in [1, 255] {
            assert!(s.is_allocated(slot) && s.meta(slot).is_some());
            assert!(
                !s.is_marked(slot),
                "mark bits are cleared for the next cycle"
            );
            assert_eq!(s.word(s.slot_base(slot)).load(Relaxed), 7);
        }
        for slot in [0, 2, 70] {
            assert!(!s.is_allocated(slot) && s.meta(slot).is_none());
            assert_eq!(s.word(s.slot_base(slot)).load(Relaxed), POISON);
        }
        assert_eq!(s.allocated_count(), 2);
    }

    #[test]
    fn sweep_without_verification_does_not_poison() {
        let s = small_span();
        s.set_meta(3, Shape::new("t", 0, 4).meta());
        s.alloc_bits(0).store(1 << 3, Relaxed);
        s.word(s.slot_base(3)).store(9, Relaxed);
        assert_eq!(sweep_small(&s, false), (0, 1));
        assert_eq!(s.word(s.slot_base(3)).load(Relaxed), 9, "left as it was");
        assert!(s.meta(3).is_none());
    }
}
