//! Sweeping: freeing every allocated but unmarked object, turning mark bits into the next
//! allocation bits, rebuilding the partial-span lists and returning empty spans to the
//! page pool. With verification on, freed slots are poisoned so that a stale reference
//! is caught when it is used. In this stop-the-world collector it runs inside the pause.

use crate::heap::span::{Span, SpanKind};
use crate::mutator::world::Stopped;
use crate::mutator::HeapCore;
use crate::object::WORD_BYTES;
use crate::size_class::SpanClass;
use crate::sync::Ordering::*;

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
    let mut partial = vec![Vec::new(); SpanClass::COUNT];
    let mut freed = Vec::new();
    let mut res = SweepResult::default();
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        match span.kind() {
            SpanKind::Free | SpanKind::Immortal => {}
            SpanKind::Large => {
                if span.is_marked(0) {
                    span.mark_bits(0).store(0, Relaxed);
                    res.live_bytes += span.pages * space.page_bytes;
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
                    partial[span.class().index()].push(i);
                }
                res.live_bytes += live * span.elem_words() * WORD_BYTES;
            }
        }
    }
    space.rebuild_pools(partial, freed);
    space.set_live(res.live_bytes);
    res
}

/// Sweeps one small span: returns (live objects, freed objects).
fn sweep_small(span: &Span, poison: bool) -> (usize, usize) {
    let (mut live, mut dead_total) = (0, 0);
    for w in 0..span.bitmap_words() {
        let alloc = span.alloc_bits(w).load(Relaxed);
        let marked = span.mark_bits(w).load(Relaxed) & span.valid_mask(w);
        let mut dead = alloc & !marked;
        dead_total += dead.count_ones() as usize;
        while dead != 0 {
            let slot = w * 64 + dead.trailing_zeros() as usize;
            dead &= dead - 1;
            free_slot(span, slot, poison);
        }
        span.alloc_bits(w).store(marked, Relaxed);
        span.mark_bits(w).store(0, Relaxed);
        live += marked.count_ones() as usize;
    }
    (live, dead_total)
}

fn free_slot(span: &Span, slot: usize, poison: bool) {
    if poison {
        span.poison_words(span.slot_base(slot), span.elem_words());
    }
    span.clear_meta(slot);
}
