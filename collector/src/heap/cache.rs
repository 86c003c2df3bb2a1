//! The per-mutator allocation cache (Go's `mcache`): one current span per span class from
//! which its owner allocates without locks or atomic read-modify-writes, plus the current
//! tiny block.
//!
//! Invariant: a span in a cache is written (allocation bits, metadata, words of fresh
//! objects) only by the cache's owner; the collector reads or flushes a cache only while
//! the owner is stopped or blocked. That makes plain relaxed loads and stores of the
//! allocation bitmap enough.

use crate::heap::span::Span;
use crate::size_class::SpanClass;
use crate::sync::Ordering::Relaxed;
use std::ptr;

/// A cached span and the allocator's position in it.
#[derive(Clone, Copy)]
struct CachedSpan {
    span: *const Span,
    /// Free slots of the current bitmap word (1 = free).
    free: u64,
    /// The current bitmap word's value as last written.
    alloc_word: u64,
    /// Index of the current bitmap word.
    chunk: u32,
    /// Bitmap words in the span.
    chunks: u32,
}

impl CachedSpan {
    const EMPTY: CachedSpan = CachedSpan {
        span: ptr::null(),
        free: 0,
        alloc_word: 0,
        chunk: 0,
        chunks: 0,
    };
}

/// The tiny allocator's current 16-byte block.
#[derive(Clone, Copy)]
pub(crate) struct TinyBlock {
    pub(crate) span: *const Span,
    pub(crate) slot: usize,
}

/// One mutator's allocation cache.
pub(crate) struct AllocCache {
    spans: [CachedSpan; SpanClass::COUNT],
    /// A tiny block with its second word still free.
    pub(crate) tiny: Option<TinyBlock>,
}

impl AllocCache {
    pub(crate) fn new() -> AllocCache {
        AllocCache {
            spans: [CachedSpan::EMPTY; SpanClass::COUNT],
            tiny: None,
        }
    }

    /// Allocates a slot of span class `sc` from the cached span, marking it allocated.
    /// `None` when there is no cached span or it is full.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, sc: SpanClass) -> Option<(*const Span, usize)> {
        let c = &mut self.spans[sc.index()];
        loop {
            if c.free != 0 {
                let bit = c.free.trailing_zeros();
                c.free &= c.free - 1;
                c.alloc_word |= 1u64 << bit;
                // SAFETY: a non-null cached span pointer came from the heap's span table,
                // whose spans live as long as the heap; the mutator owning this cache
                // holds the heap alive.
                let span = unsafe { &*c.span };
                // Only this cache's owner writes this span's allocation bits (module
                // invariant), so a plain store of the whole word loses no bit.
                span.alloc_bits(c.chunk as usize)
                    .store(c.alloc_word, Relaxed);
                return Some((c.span, c.chunk as usize * 64 + bit as usize));
            }
            if c.span.is_null() || c.chunk + 1 >= c.chunks {
                return None;
            }
            c.chunk += 1;
            // SAFETY: as above.
            let span = unsafe { &*c.span };
            c.alloc_word = span.alloc_bits(c.chunk as usize).load(Relaxed);
            c.free = !c.alloc_word & span.valid_mask(c.chunk as usize);
        }
    }

    /// Installs `span` (owned exclusively from now on) as the cached span for `sc`.
    pub(crate) fn install(&mut self, sc: SpanClass, span: &Span) {
        let alloc_word = span.alloc_bits(0).load(Relaxed);
        self.spans[sc.index()] = CachedSpan {
            span,
            free: !alloc_word & span.valid_mask(0),
            alloc_word,
            chunk: 0,
            chunks: span.bitmap_words() as u32,
        };
    }

    /// Removes the cached span of class `sc`, returning it.
    pub(crate) fn take(&mut self, sc: SpanClass) -> Option<*const Span> {
        let c = std::mem::replace(&mut self.spans[sc.index()], CachedSpan::EMPTY);
        (!c.span.is_null()).then_some(c.span)
    }

    /// Empties the cache, calling `release` on every span it held.
    pub(crate) fn flush(&mut self, mut release: impl FnMut(&Span)) {
        self.tiny = None;
        for c in self.spans.iter_mut() {
            if !c.span.is_null() {
                // SAFETY: as in `alloc`.
                release(unsafe { &*c.span });
            }
            *c = CachedSpan::EMPTY;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::Space;
    use crate::size_class::class_words;

    #[test]
    fn allocates_every_free_slot_once_then_reports_full() {
        let space = Space::new(8192);
        let sc = SpanClass::new(5, false); // 48-byte objects: 170 slots, a partial last word
        let span = space.refill(sc);
        let mut cache = AllocCache::new();
        assert!(cache.alloc(sc).is_none(), "nothing cached yet");
        cache.install(sc, span);
        let mut seen = std::collections::HashSet::new();
        while let Some((s, slot)) = cache.alloc(sc) {
            assert!(std::ptr::eq(s, span));
            assert!(slot < span.nslots());
            assert!(seen.insert(slot), "slot {slot} handed out twice");
        }
        assert_eq!(seen.len(), span.nslots());
        assert_eq!(
            span.allocated_count(),
            span.nslots(),
            "every allocation bit set"
        );
        assert_eq!(class_words(5) * span.nslots(), span.elem_words() * 170);
    }

    #[test]
    fn skips_slots_already_allocated() {
        let space = Space::new(8192);
        let sc = SpanClass::new(1, true);
        let span = space.refill(sc);
        // Pretend a previous owner allocated every other slot of the first word.
        span.alloc_bits(0).store(0x5555_5555_5555_5555, Relaxed);
        let mut cache = AllocCache::new();
        cache.install(sc, span);
        let first: Vec<usize> = (0..3).map(|_| cache.alloc(sc).unwrap().1).collect();
        assert_eq!(first, vec![1, 3, 5]);
    }

    #[test]
    fn flush_releases_every_span_and_the_tiny_block() {
        let space = Space::new(8192);
        let mut cache = AllocCache::new();
        for c in [1, 2, 3] {
            let sc = SpanClass::new(c, false);
            cache.install(sc, space.refill(sc));
        }
        cache.tiny = Some(TinyBlock {
            span: std::ptr::null(),
            slot: 0,
        });
        let mut released = 0;
        cache.flush(|_| released += 1);
        assert_eq!(released, 3);
        assert!(cache.tiny.is_none());
        assert!(cache.alloc(SpanClass::new(1, false)).is_none());
    }
}
