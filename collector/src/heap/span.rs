//! A span: a run of pages holding objects of one span class (or one large object, or
//! immortal globals), with its words, allocation and mark bitmaps, checkmark bits and
//! per-slot metadata — all shim atomics, so the marker, sweeper and mutators may race on
//! them without undefined behaviour and loom can model them.
//!
//! A span's storage is fixed at creation and freed only with the span: an empty span
//! returns to the page pool and is reused, possibly for another class or a smaller large
//! object. A free span's physical pages may be given back to the OS (`heap::pages`): its
//! words and metadata then read as zero, the values a free span holds anyway. A span is
//! freed while the heap lives only when it is retired (`heap::retire`, with
//! `HeapConfig::unmap_released_spans`): free, released, unnamed by any root, with the
//! world stopped, and dropped through the span table's epoch domain; so a `&Span` is
//! valid while its holder is a running mutator, holds the span lock, is pinned, or names
//! the span from a root (a handle).
//!
//! Invariants: every field is an atomic or fixed at creation, and every access indexes a
//! boxed slice, so a bad index panics and a race is never undefined behaviour. `init` (by
//! the span's exclusive owner, fresh from the page pool) resets the bitmaps and metadata
//! and sets the geometry before it publishes the kind with a release store, so a reader
//! that acquires a kind other than `Free` sees that use's geometry. `set_meta` publishes a
//! slot's metadata with a release store and `meta` reads it with acquire, so whoever finds
//! it sees the words its allocator wrote first (every allocator zeroes them first, or
//! finds them zero: `needzero`). `needzero` is false only while every free slot's words
//! are zero: a span is created zeroed, and every free (`clear_meta`, `release`) sets it
//! before the span is handed to anyone else (Go's `mspan.needzero`).

use super::pages::PageBox;
use crate::object::{Meta, META_ALLOCATED, META_TINY, META_VALID, POISON, WORD_BYTES};
use crate::size_class::SpanClass;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// What a span is used for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum SpanKind {
    /// In the page pool, holding nothing.
    Free = 0,
    /// Small objects of one span class.
    Small = 1,
    /// One large object.
    Large = 2,
    /// Immortal globals (and the zero-sized sentinel): never swept, scanned as roots.
    Immortal = 3,
}

/// Hints the processor to fetch the cache line holding `w`. The marker prefetches a grey
/// object's words and metadata as it enters the marker's prefetch ring, some scans
/// before its own: the cache miss on its words dominates marking otherwise.
#[inline(always)]
pub(crate) fn prefetch<T>(w: &T) {
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never faults or
    // changes memory: it is only a hint, valid for any address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (w as *const T).cast::<i8>(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = w;
}

/// What [`Span::mark_allocated`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marking {
    /// No object is allocated at the slot (a stale or bad reference).
    Bad,
    /// The slot was marked already.
    Already,
    /// This call marked the slot.
    New,
}

/// A span of heap memory.
pub(crate) struct Span {
    /// The span's index in the span table; references name it.
    pub(crate) index: usize,
    /// Pages in the span (fixed).
    pub(crate) pages: usize,
    kind: AtomicU32,
    class: AtomicU32,
    elem_words: AtomicUsize,
    /// `elem_words` in bytes (a scope load's byte offset is one multiplication).
    elem_bytes: AtomicUsize,
    nslots: AtomicUsize,
    words: PageBox<AtomicUsize>,
    /// The bytes of `words` (fixed).
    bytes: usize,
    alloc_bits: Box<[AtomicU64]>,
    mark_bits: Box<[AtomicU64]>,
    check_bits: Box<[AtomicU64]>,
    meta: PageBox<AtomicU64>,
    /// Bytes of the span's words that may be resident (`heap::Space` keeps it, under the
    /// span lock): all of them once used, none once released.
    pub(crate) retained: AtomicUsize,
    /// The sweep generation the span was last swept in (see `heap::sweeping`).
    pub(crate) sweepgen: AtomicU32,
    /// Whether a free slot's words may be non-zero (Go's `needzero`): false from creation
    /// (the storage is zeroed) until the first free of a slot or of the whole span. Set
    /// by the span's owner (the sweeper, or the page pool's lock holder) before it
    /// publishes the span, so whoever takes it next reads it with the span.
    needzero: AtomicBool,
    /// Finalizers, cleanups and weak handles of the span's objects.
    pub(crate) specials: super::specials::SpanSpecials,
    /// Loom's stand-in for the span's memory being freed (`SpanTable::retire`): set in
    /// the execution's real order (a std atomic, which loom does not explore), and
    /// checked by `kind`, which every reader of a span looked up reads first.
    #[cfg(loom)]
    pub(crate) freed: crate::sync::unmodelled::AtomicBool,
}

impl Span {
    /// Drops the span but for its storage's mapped pages, which go to `out` (the heap's
    /// drop unmaps its spans' pages together).
    #[cfg(not(loom))]
    pub(crate) fn into_mapped_ranges(self, out: &mut super::pages::UnmapOnDrop) {
        let Span { words, meta, .. } = self;
        out.push(words.into_mapped_range());
        out.push(meta.into_mapped_range());
    }
}

fn atomics<T>(n: usize, f: impl Fn() -> T) -> Box<[T]> {
    (0..n).map(|_| f()).collect()
}

impl Span {
    /// Creates a free span of `pages` pages of `page_bytes` bytes. `max_slots` bounds the
    /// number of objects it will ever hold (its bitmaps are sized for that).
    pub(crate) fn new(index: usize, pages: usize, page_bytes: usize, max_slots: usize) -> Span {
        let nwords = pages * page_bytes / WORD_BYTES;
        let bitmap_words = max_slots.div_ceil(64);
        Span {
            index,
            pages,
            kind: AtomicU32::new(SpanKind::Free as u32),
            class: AtomicU32::new(0),
            elem_words: AtomicUsize::new(0),
            elem_bytes: AtomicUsize::new(0),
            nslots: AtomicUsize::new(0),
            words: PageBox::zeroed(nwords),
            bytes: nwords * WORD_BYTES,
            alloc_bits: atomics(bitmap_words, || AtomicU64::new(0)),
            mark_bits: atomics(bitmap_words, || AtomicU64::new(0)),
            check_bits: atomics(bitmap_words, || AtomicU64::new(0)),
            meta: PageBox::zeroed(max_slots),
            retained: AtomicUsize::new(0),
            sweepgen: AtomicU32::new(0),
            needzero: AtomicBool::new(false),
            specials: Default::default(),
            #[cfg(loom)]
            freed: crate::sync::unmodelled::AtomicBool::new(false),
        }
    }

    /// Prepares a free span to hold objects of `class` with `elem_words` words each (all
    /// slots free), or one large object (`elem_words` = its size). The caller owns the span
    /// exclusively (it came from the page pool under the heap's span lock).
    pub(crate) fn init(&self, kind: SpanKind, class: SpanClass, elem_words: usize) {
        let nslots = if kind == SpanKind::Large {
            1
        } else {
            self.words.len() / elem_words.max(1)
        };
        debug_assert!(nslots <= self.meta.len());
        self.class.store(class.0 as u32, Relaxed);
        self.elem_words.store(elem_words, Relaxed);
        self.elem_bytes.store(elem_words * WORD_BYTES, Relaxed);
        self.nslots.store(nslots, Relaxed);
        let bitmaps = || {
            self.alloc_bits
                .iter()
                .chain(&*self.mark_bits)
                .chain(&*self.check_bits)
        };
        // A span that never had a slot freed (`needzero` false) has never been
        // initialised before (a span reaches the page pool only through `release`):
        // its bitmaps and metadata are still as created, all zero.
        if self.needzero() {
            bitmaps().for_each(|b| b.store(0, Relaxed));
            self.meta.iter().for_each(|m| m.store(0, Relaxed));
        } else {
            debug_assert!(bitmaps().all(|b| b.load(Relaxed) == 0));
            debug_assert!(self.meta.iter().all(|m| m.load(Relaxed) == 0));
        }
        self.kind.store(kind as u32, Release);
    }

    /// Returns the span to the free state.
    pub(crate) fn release(&self) {
        debug_assert!(!self.specials.any(), "a span with specials was freed");
        // Its objects' words stay as they were, its next use must zero them.
        self.needzero.store(true, Relaxed);
        self.kind.store(SpanKind::Free as u32, Release);
    }

    /// What the span holds now.
    #[inline(always)]
    pub(crate) fn kind(&self) -> SpanKind {
        let kind = self.kind.load(Acquire);
        // After the load: loom may run a retirement before it, and the value read then
        // came from freed memory.
        #[cfg(loom)]
        assert!(
            !self.freed.load(crate::sync::unmodelled::Ordering::SeqCst),
            "collector: internal error: span {} read after it was freed",
            self.index
        );
        match kind {
            0 => SpanKind::Free,
            1 => SpanKind::Small,
            2 => SpanKind::Large,
            _ => SpanKind::Immortal,
        }
    }

    /// The span class of a small span.
    pub(crate) fn class(&self) -> SpanClass {
        SpanClass(self.class.load(Relaxed) as u8)
    }

    /// Whether the span's objects are pointer-free.
    #[inline(always)]
    pub(crate) fn noscan(&self) -> bool {
        self.class().noscan()
    }

    /// Words per slot.
    #[inline(always)]
    pub(crate) fn elem_words(&self) -> usize {
        self.elem_words.load(Relaxed)
    }

    /// Bytes per slot (`elem_words` in bytes).
    #[inline(always)]
    pub(crate) fn elem_bytes(&self) -> usize {
        self.elem_bytes.load(Relaxed)
    }

    /// Slots in the span.
    #[inline(always)]
    pub(crate) fn nslots(&self) -> usize {
        self.nslots.load(Relaxed)
    }

    /// The most slots the span's bitmaps and metadata can describe.
    pub(crate) fn max_slots(&self) -> usize {
        self.meta.len()
    }

    /// The bytes one marked slot keeps live: a small object's slot, or a large object's
    /// whole span (what [`crate::heap::Space::begin_sweep`] counts as marked).
    #[inline(always)]
    pub(crate) fn slot_bytes(&self) -> usize {
        if self.kind.load(Relaxed) == SpanKind::Large as u32 {
            self.large_bytes()
        } else {
            self.elem_words() * WORD_BYTES
        }
    }

    /// The bytes of the whole pages a large object covers (its span may be longer: a
    /// free span is reused for a smaller large object, its tail released).
    pub(crate) fn large_bytes(&self) -> usize {
        let page_bytes = self.words.len() * WORD_BYTES / self.pages;
        (self.elem_words() * WORD_BYTES).div_ceil(page_bytes) * page_bytes
    }

    /// The bytes of the span's words.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Gives back to the OS the pages of the words from byte `from` on (and of the slot
    /// metadata, for a release of the whole span, which must be free: all its metadata
    /// is clear). They read as zero afterwards. Returns the bytes of words released.
    pub(crate) fn release_pages(&self, from: usize) -> usize {
        if from == 0 {
            debug_assert_eq!(self.kind(), SpanKind::Free);
            self.meta.release_from(0);
        }
        self.words.release_from(from / WORD_BYTES)
    }

    /// The fault `scavenge_outside_lock`'s release: the span's words only, with no check
    /// that the span is still free (it may have left the pool: that is the fault), so
    /// that its negative control fails on the zeroed word alone, in whichever order loom
    /// explores, not on `release_pages`' own check.
    #[cfg(loom)]
    pub(crate) fn release_words_unchecked(&self) -> usize {
        self.words.release_from(0)
    }

    /// The bitmap words covering the span's slots.
    pub(crate) fn bitmap_words(&self) -> usize {
        self.nslots().div_ceil(64)
    }

    /// The heap word at `index`. Panics if out of range (never undefined behaviour).
    #[inline(always)]
    pub(crate) fn word(&self, index: usize) -> &AtomicUsize {
        &self.words[index]
    }

    /// Every heap word of the span (the storage is fixed at creation: its address and
    /// length never change while the heap lives).
    #[inline(always)]
    pub(crate) fn words(&self) -> &[AtomicUsize] {
        &self.words
    }

    /// Faults in the word storage's pages writable now (`PageBox::touch_pages`). Only for
    /// a span whose every slot is free and that no one else holds: a small span fresh
    /// from the page pool, before it goes to an allocation cache.
    #[cfg(not(loom))]
    pub(crate) fn touch_free_words(&self) {
        self.words.touch_pages();
    }

    /// Every slot's metadata word (fixed at creation, as the words are).
    #[inline(always)]
    pub(crate) fn metas(&self) -> &[AtomicU64] {
        &self.meta
    }

    /// The first word of `slot`.
    #[inline(always)]
    pub(crate) fn slot_base(&self, slot: usize) -> usize {
        slot * self.elem_words()
    }

    /// The metadata of `slot` if an object is allocated there.
    #[inline(always)]
    pub(crate) fn meta(&self, slot: usize) -> Option<Meta> {
        let m = self.meta.get(slot)?.load(Acquire);
        if m & META_ALLOCATED == 0 {
            None
        } else {
            Some(Meta::decode(m))
        }
    }

    /// The raw metadata word of `slot` (flags included), or 0 — no object — past the
    /// span's metadata: for a scope load, which tests the flags itself.
    #[inline(always)]
    pub(crate) fn meta_word(&self, slot: usize) -> u64 {
        self.meta.get(slot).map_or(0, |m| m.load(Acquire))
    }

    /// Hints the processor to fetch `slot`'s metadata.
    #[inline(always)]
    pub(crate) fn prefetch_meta(&self, slot: usize) {
        prefetch(&self.meta[slot]);
    }

    /// Whether `slot`'s allocation bit is set.
    #[inline(always)]
    pub(crate) fn is_allocated(&self, slot: usize) -> bool {
        self.alloc_bits[slot / 64].load(Acquire) & (1u64 << (slot % 64)) != 0
    }

    /// Records that `slot` holds an object with metadata `meta` (see `Shape::meta`), or a
    /// tiny block if `meta` has `META_TINY`.
    #[inline(always)]
    pub(crate) fn set_meta(&self, slot: usize, meta: u64) {
        if meta & META_TINY != 0 {
            self.meta[slot].store(meta, Release);
        } else {
            Span::publish_meta(&self.meta[slot], meta);
        }
    }

    /// Records an object (not a tiny block) with metadata `meta` in a slot's metadata
    /// word found beforehand (`metas`).
    #[inline(always)]
    pub(crate) fn publish_meta(word: &AtomicU64, meta: u64) {
        debug_assert!(meta & META_TINY == 0);
        word.store(meta | META_VALID, Release);
    }

    /// Clears the metadata of a freed slot; its words are no longer known to be zero.
    #[inline(always)]
    pub(crate) fn clear_meta(&self, slot: usize) {
        self.needzero.store(true, Relaxed);
        self.meta[slot].store(0, Relaxed);
    }

    /// Whether a free slot's words may be non-zero (see the field): an allocator must
    /// zero a slot's words only if this is true. Read by the span's owner.
    #[inline(always)]
    pub(crate) fn needzero(&self) -> bool {
        self.needzero.load(Relaxed)
    }

    /// Word `i` of the allocation bitmap.
    #[inline(always)]
    pub(crate) fn alloc_bits(&self, i: usize) -> &AtomicU64 {
        &self.alloc_bits[i]
    }

    /// Word `i` of the mark bitmap.
    #[inline(always)]
    pub(crate) fn mark_bits(&self, i: usize) -> &AtomicU64 {
        &self.mark_bits[i]
    }

    /// Clears every mark bit (the marks of an abandoned mark; the caller has the world
    /// stopped and the sweep finished, so no bit is anyone's verdict).
    pub(crate) fn clear_marks(&self) {
        for w in &*self.mark_bits {
            w.store(0, Relaxed);
        }
    }

    /// Sets the mark bit of `slot`; true if this call set it.
    #[inline(always)]
    pub(crate) fn try_mark(&self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        let w = &self.mark_bits[slot / 64];
        // Test first: most marks in a full trace hit already-marked objects.
        if w.load(Relaxed) & bit != 0 {
            return false;
        }
        w.fetch_or(bit, AcqRel) & bit == 0
    }

    /// The marker's one step on a reference to `slot`: sets its mark bit if an object is
    /// allocated there (its allocation bit says so; no bit past `nslots` is ever set,
    /// and a slot past the bitmap is [`Marking::Bad`], never a panic). Test first, then
    /// one fetch-or, as [`Span::try_mark`].
    #[inline(always)]
    pub(crate) fn mark_allocated(&self, slot: usize) -> Marking {
        let (i, bit) = (slot / 64, 1u64 << (slot % 64));
        let Some(alloc) = self.alloc_bits.get(i) else {
            return Marking::Bad;
        };
        if alloc.load(Acquire) & bit == 0 {
            return Marking::Bad;
        }
        let w = &self.mark_bits[i];
        if w.load(Relaxed) & bit != 0 || w.fetch_or(bit, AcqRel) & bit != 0 {
            return Marking::Already;
        }
        Marking::New
    }

    /// Whether `slot` is marked.
    #[inline(always)]
    pub(crate) fn is_marked(&self, slot: usize) -> bool {
        self.mark_bits[slot / 64].load(Acquire) & (1u64 << (slot % 64)) != 0
    }

    /// Sets the checkmark bit of `slot`; true if this call set it.
    pub(crate) fn try_checkmark(&self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        self.check_bits[slot / 64].fetch_or(bit, AcqRel) & bit == 0
    }

    /// Clears every checkmark bit.
    pub(crate) fn clear_checkmarks(&self) {
        for b in self.check_bits.iter() {
            b.store(0, Relaxed);
        }
    }

    /// Counts allocated slots.
    pub(crate) fn allocated_count(&self) -> usize {
        (0..self.bitmap_words())
            .map(|i| self.alloc_bits[i].load(Relaxed).count_ones() as usize)
            .sum()
    }

    /// Writes zero into the words of `slot` (`words` of them).
    #[inline(always)]
    pub(crate) fn zero_words(&self, base: usize, words: usize) {
        for w in &self.words[base..base + words] {
            w.store(0, Relaxed);
        }
    }

    /// Fills the words of a freed slot with [`POISON`].
    pub(crate) fn poison_words(&self, base: usize, words: usize) {
        for w in &self.words[base..base + words] {
            w.store(POISON, Relaxed);
        }
    }

    /// Bits valid in bitmap word `i` (the last word may be partial).
    #[inline(always)]
    pub(crate) fn valid_mask(&self, i: usize) -> u64 {
        let n = self.nslots();
        let rem = n - i * 64;
        if rem >= 64 {
            u64::MAX
        } else {
            (1u64 << rem) - 1
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn init_sizes_slots_and_clears_state() {
        let s = Span::new(3, 1, 8192, 1024);
        s.init(SpanKind::Small, SpanClass::new(4, false), 4);
        assert_eq!(s.nslots(), 256);
        assert_eq!(s.bitmap_words(), 4);
        assert!(s.try_mark(5));
        assert!(!s.try_mark(5));
        assert!(s.is_marked(5));
        s.set_meta(5, crate::object::Shape::new("t", 1, 2).meta());
        assert_eq!(s.meta(5).map(|m| (m.ptr_slots, m.words)), Some((1, 3)));
        // An object's word has `META_VALID`, a tiny block's `META_TINY`, never both.
        assert_eq!(s.meta_word(5) & META_ALLOCATED, META_VALID);
        s.set_meta(6, crate::object::Shape::new("b", 0, 2).meta() | META_TINY);
        assert_eq!(s.meta_word(6) & META_ALLOCATED, META_TINY);
        assert_eq!(
            s.meta(6).map(|m| (m.ptr_slots, m.words, m.tiny)),
            Some((0, 2, true))
        );
        assert_eq!(s.meta_word(usize::MAX), 0, "past the metadata: no object");
        assert!(!s.needzero(), "nothing freed yet");
        // A used span is initialised again only after it went back to the page pool.
        s.release();
        assert!(s.needzero());
        s.init(SpanKind::Small, SpanClass::new(1, true), 1);
        assert_eq!(s.nslots(), 1024);
        assert!(!s.is_marked(5));
        assert_eq!(s.meta(5), None);
        assert_eq!(s.valid_mask(15), u64::MAX);
    }

    #[test]
    fn partial_last_bitmap_word_is_masked() {
        let s = Span::new(0, 1, 8192, 1024);
        s.init(SpanKind::Small, SpanClass::new(5, false), 6); // 48-byte objects: 170 slots
        assert_eq!(s.nslots(), 170);
        assert_eq!(s.valid_mask(2), (1u64 << 42) - 1);
    }
}
