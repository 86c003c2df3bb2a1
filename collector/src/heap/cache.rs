//! The per-mutator allocation cache (Go's `mcache`): one current span per span class from
//! which its owner allocates without locks or atomic read-modify-writes, plus the current
//! tiny block.
//!
//! Invariant: a span in a cache is written (allocation bits, metadata, words of fresh
//! objects) only by the cache's owner; the collector reads or flushes a cache only while
//! the owner is stopped or blocked. That makes plain relaxed loads and stores of the
//! allocation bitmap enough.

use crate::heap::span::Span;
use crate::object::Ref;
use crate::size_class::{class_words, SpanClass};
use crate::sync::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::ptr::{self, NonNull};

/// A cached span and the allocator's position in it (Go's `mspan.allocCache` and
/// `freeindex`: a 64-slot window of the allocation bitmap, inverted, taken by counting
/// trailing zeros).
#[derive(Clone, Copy)]
struct CachedSpan {
    /// Free slots of the current bitmap word (1 = free).
    free: u64,
    /// The current bitmap word's value as last written.
    alloc_word: u64,
    /// The current bitmap word in the span (null when no span is cached).
    bits: *const AtomicU64,
    /// The span's first word and first metadata word, and its slots' size in words:
    /// `install` checked that `nslots` slots of `elem_words` words, and `nslots`
    /// metadata words, lie inside the span's storage (fixed while the span lives).
    words: *const AtomicUsize,
    metas: *const AtomicU64,
    elem_words: usize,
    /// The first slot the current bitmap word describes (`chunk * 64`).
    first_slot: usize,
    /// The reference to that slot (a slot's is this plus its offset: `Ref::plus_slots`).
    first_ref: Ref,
    span: *const Span,
    /// Index of the current bitmap word.
    chunk: u32,
    /// Bitmap words in the span.
    chunks: u32,
    /// The span's `needzero` when it was installed (only the owner frees nothing in it
    /// meanwhile: the module invariant).
    needzero: bool,
}

impl CachedSpan {
    const EMPTY: CachedSpan = CachedSpan {
        free: 0,
        alloc_word: 0,
        bits: ptr::null(),
        words: ptr::null(),
        metas: ptr::null(),
        elem_words: 0,
        first_slot: 0,
        first_ref: Ref::NULL,
        span: ptr::null(),
        chunk: 0,
        chunks: 0,
        needzero: false,
    };

    /// The slot of bit `bit` of the current window, just taken.
    #[inline(always)]
    fn slot(&self, bit: u32) -> Slot {
        let slot = self.first_slot + bit as usize;
        debug_assert!(!self.words.is_null() && self.free & (1 << bit) == 0);
        // SAFETY: `bit` was free in the window, whose bits are masked to the span's
        // slots (`valid_mask`), so `slot < nslots`; `install` checked that `nslots`
        // slots of `elem_words` words and `nslots` metadata words lie inside the span's
        // storage, whose address and length are fixed while the span lives: a cached
        // span is in use, and retirement (`heap::retire`) takes free spans only, so it
        // lives while cached. Both offsets stay inside.
        let (words, meta) = unsafe {
            (
                NonNull::new_unchecked(self.words.add(slot * self.elem_words).cast_mut()),
                NonNull::new_unchecked(self.metas.add(slot).cast_mut()),
            )
        };
        Slot {
            span: self.span,
            slot,
            r: self.first_ref.plus_slots(bit as usize),
            needzero: self.needzero,
            words,
            meta,
        }
    }

    /// Moves to bitmap word `chunk` of `span`.
    fn load_chunk(&mut self, span: &Span, chunk: u32) {
        let bits = span.alloc_bits(chunk as usize);
        self.chunk = chunk;
        self.bits = bits;
        self.first_slot = chunk as usize * 64;
        self.first_ref = Ref::new(span.index, self.first_slot, 0);
        self.alloc_word = bits.load(Relaxed);
        self.free = !self.alloc_word & span.valid_mask(chunk as usize);
    }
}

/// A slot handed out by [`AllocCache::alloc`].
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) span: *const Span,
    pub(crate) slot: usize,
    /// The reference to the slot's object.
    pub(crate) r: Ref,
    /// The slot's first word: `class_words(sc)` words from it lie in the span's storage
    /// (`sc` the class it was taken for; checked at `install`).
    pub(crate) words: NonNull<AtomicUsize>,
    /// The slot's metadata word.
    pub(crate) meta: NonNull<AtomicU64>,
    /// Whether the slot's words may be non-zero (the allocator zeroes them only then).
    pub(crate) needzero: bool,
}

/// The tiny allocator's current 16-byte block.
#[derive(Clone, Copy)]
pub(crate) struct TinyBlock {
    pub(crate) span: *const Span,
    pub(crate) slot: usize,
}

/// One mutator's allocation cache.
pub(crate) struct AllocCache {
    /// Boxed: built in place on the heap, never on a (small: loom's) thread stack.
    spans: Box<[CachedSpan; SpanClass::COUNT]>,
    /// A tiny block with its second word still free.
    pub(crate) tiny: Option<TinyBlock>,
}

impl AllocCache {
    pub(crate) fn new() -> AllocCache {
        let spans = vec![CachedSpan::EMPTY; SpanClass::COUNT].into_boxed_slice();
        AllocCache {
            spans: spans
                .try_into()
                .unwrap_or_else(|_| unreachable!("COUNT entries")),
            tiny: None,
        }
    }

    /// Allocates a slot of span class `sc` from the cached span, marking it allocated.
    /// `None` when there is no cached span or it is full.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, sc: SpanClass) -> Option<Slot> {
        self.alloc_fast(sc)
            .or_else(|| Self::next_chunk(&mut self.spans[sc.index()]))
    }

    /// Go's `nextFreeFast`: a slot of class `sc` from the cached 64-slot window (a
    /// trailing-zero count and one store of the bitmap word). `None` when the window is
    /// empty (every 64 slots, or no span cached): then [`AllocCache::alloc`] moves on.
    #[inline(always)]
    pub(crate) fn alloc_fast(&mut self, sc: SpanClass) -> Option<Slot> {
        let c = &mut self.spans[sc.index()];
        if c.free == 0 {
            return None;
        }
        Some(Self::take_free(c))
    }

    /// Takes the window's lowest free slot (`c.free` is not zero).
    #[inline(always)]
    fn take_free(c: &mut CachedSpan) -> Slot {
        let bit = c.free.trailing_zeros();
        c.free &= c.free - 1;
        c.alloc_word |= 1u64 << bit;
        // SAFETY: `free != 0` only after `install` or `load_chunk` set `bits` to a word
        // of the cached span's allocation bitmap, a boxed slice fixed at the span's
        // creation that lives as long as the span, which, in use while cached, is never
        // retired (`heap::retire` takes free spans only).
        let bits = unsafe { &*c.bits };
        // Only this cache's owner writes this span's allocation bits (module invariant),
        // so a plain store of the whole word loses no bit.
        bits.store(c.alloc_word, Relaxed);
        c.slot(bit)
    }

    /// The cached window is empty: moves it to the next bitmap word with a free slot
    /// and allocates there. `None` when the span is full or none is cached.
    #[cold]
    #[inline(never)]
    fn next_chunk(c: &mut CachedSpan) -> Option<Slot> {
        if c.span.is_null() {
            return None;
        }
        // SAFETY: a non-null cached span pointer came from the heap's span table; the span
        // is in use while cached and retirement takes free spans only (`heap::retire`).
        let span = unsafe { &*c.span };
        while c.free == 0 {
            if c.chunk + 1 >= c.chunks {
                return None;
            }
            c.load_chunk(span, c.chunk + 1);
        }
        Some(Self::take_free(c))
    }

    /// Installs `span` (owned exclusively from now on) as the cached span for `sc`.
    pub(crate) fn install(&mut self, sc: SpanClass, span: &Span) {
        let (nslots, elem_words) = (span.nslots(), span.elem_words());
        let (words, metas) = (span.words(), span.metas());
        // What `CachedSpan::slot`'s pointers rely on (once per span, not per object).
        assert!(
            elem_words == class_words(sc.size_class())
                && nslots
                    .checked_mul(elem_words)
                    .is_some_and(|n| n <= words.len())
                && nslots <= metas.len(),
            "collector: internal error: span {} does not fit its class {}",
            span.index,
            sc.size_class()
        );
        let mut c = CachedSpan {
            words: words.as_ptr(),
            metas: metas.as_ptr(),
            elem_words,
            span,
            chunks: span.bitmap_words() as u32,
            needzero: span.needzero(),
            ..CachedSpan::EMPTY
        };
        c.load_chunk(span, 0);
        self.spans[sc.index()] = c;
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

    #[test]
    fn allocates_every_free_slot_once_then_reports_full() {
        let space = Space::new(8192);
        let sc = SpanClass::new(5, false); // 48-byte objects: 170 slots, a partial last word
        let span = space.refill(sc);
        let mut cache = AllocCache::new();
        assert!(cache.alloc(sc).is_none(), "nothing cached yet");
        cache.install(sc, span);
        let mut seen = std::collections::HashSet::new();
        while let Some(Slot { span: s, slot, .. }) = cache.alloc(sc) {
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
        let first: Vec<usize> = (0..3).map(|_| cache.alloc(sc).unwrap().slot).collect();
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
