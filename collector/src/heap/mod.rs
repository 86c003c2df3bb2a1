//! The heap's memory: spans in Go's size classes, the span table, the pools of partial
//! and free spans, large objects, the immortal globals space, the zero-sized sentinel,
//! and the byte accounting the pacer reads.
//!
//! Everything here is a slow path (span refills take the span lock); the allocation fast
//! path lives in [`cache`].
//!
//! Invariants: the pools change only under the span lock (`Space::pools`), and a span
//! leaves the page pool only there. Between calls, every small span is in one mutator's
//! allocation cache or on a list of its class — `partial` or `full` once swept in the
//! current generation, `unswept` until then (an unswept list may still name a span swept
//! out of turn, which a pop skips); every large span is on `large` or `unswept_large`; a
//! free span is in `free`. A small or large span from the page pool is marked swept
//! before its kind is set, and [`Space::locate`] resolves only to a slot with valid
//! metadata in a span in use.

pub(crate) mod cache;
pub(crate) mod live;
pub(crate) mod pages;
pub(crate) mod retire;
pub(crate) mod scavenge;
#[cfg(not(loom))]
pub(crate) mod scavenger;
pub(crate) mod span;
pub(crate) mod span_table;
pub(crate) mod special_deaths;
pub(crate) mod specials;
pub(crate) mod sweeping;

use crate::object::{Ref, Shape, WORD_BYTES};
use crate::size_class::{class_pages, class_words, SpanClass};
use crate::sync::{lock, unmodelled, AtomicU32, AtomicUsize, Mutex, Ordering::*};
use pages::Fit;
use span::{Span, SpanKind};
use span_table::SpanTable;
use std::collections::BTreeMap;
use std::fmt;

/// Why a reference could not be resolved to a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRef {
    /// The word is the poison written into freed slots.
    Poisoned,
    /// No span has that index.
    NoSuchSpan,
    /// The span holds nothing now.
    FreeSpan,
    /// The slot is past the end of the span.
    NoSuchSlot,
    /// The slot holds no object: it was freed.
    Freed,
}

impl fmt::Display for BadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadRef::Poisoned => "the word was poisoned when its object was freed",
            BadRef::NoSuchSpan => "no span has that index",
            BadRef::FreeSpan => "its span was freed",
            BadRef::NoSuchSlot => "the slot is past the end of its span",
            BadRef::Freed => "the object was freed",
        })
    }
}

/// An allocation refused because the heap would pass its cap (`HeapConfig::heap_limit`)
/// even after a full collection cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    /// Bytes the heap needed to grow by (a span, or a large object's pages).
    pub requested_bytes: usize,
    /// The heap size after the cycle.
    pub heap_bytes: usize,
    /// The cap.
    pub limit_bytes: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory: the heap holds {} bytes after a full collection, and growing it \
             by {} bytes would pass its limit of {} bytes (heap_limit / --heap-limit)",
            self.heap_bytes, self.requested_bytes, self.limit_bytes
        )
    }
}

impl std::error::Error for OutOfMemory {}

/// A live object located: its span, the first word of the object, and its layout.
#[derive(Clone, Copy)]
pub(crate) struct Located<'a> {
    pub(crate) span: &'a Span,
    pub(crate) base: usize,
    pub(crate) ptr_slots: u32,
    pub(crate) words: u32,
}

impl Pools {
    /// Lists a swept small span on its class's `partial` (`has_free`) or `full` list.
    pub(crate) fn file_small(&mut self, span: &Span, has_free: bool) {
        let class = span.class().index();
        let list = if has_free {
            &mut self.partial[class]
        } else {
            &mut self.full[class]
        };
        list.push(span.index);
        self.swept_classes.insert(class);
    }
}

/// A set of span classes, as a bitmap.
#[derive(Clone, Copy, Default)]
pub(crate) struct ClassSet([u64; SpanClass::COUNT.div_ceil(64)]);

impl ClassSet {
    /// Adds the class with index `c`.
    pub(crate) fn insert(&mut self, c: usize) {
        self.0[c / 64] |= 1 << (c % 64);
    }

    /// The class indices in the set, ascending.
    pub(crate) fn iter(self) -> impl Iterator<Item = usize> {
        (0..self.0.len()).flat_map(move |w| {
            let mut bits = self.0[w];
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }
}

/// The swept lists a stop-the-world sweep rebuilds (see [`Pools`]).
pub(crate) struct SweptLists {
    /// Small spans with free slots, per span class.
    pub(crate) partial: Vec<Vec<usize>>,
    /// Small spans with no free slot, per span class.
    pub(crate) full: Vec<Vec<usize>>,
    /// Large spans.
    pub(crate) large: Vec<usize>,
}

impl SweptLists {
    /// No span on any list.
    pub(crate) fn empty() -> SweptLists {
        SweptLists {
            partial: vec![Vec::new(); SpanClass::COUNT],
            full: vec![Vec::new(); SpanClass::COUNT],
            large: Vec::new(),
        }
    }
}

/// The pools behind the span lock.
///
/// Every small span is in a mutator's allocation cache or on one list of its class:
/// `partial` or `full` once swept in this generation, `unswept` until then (Go's
/// `mcentral` partial and full span sets). Every large span is on `large` once swept,
/// `unswept_large` until then. So when mark termination starts a sweep generation, with
/// the caches emptied, the swept lists simply become the unswept ones, with no look at
/// any span inside the pause. An unswept list may also hold spans already swept out of
/// turn (`ensure_swept`), which whoever pops them skips.
pub(crate) struct Pools {
    /// Swept small spans with free slots, per span class.
    partial: Vec<Vec<usize>>,
    /// Swept small spans with no free slot and in no cache, per span class.
    full: Vec<Vec<usize>>,
    /// The classes whose `partial` or `full` list has had a span filed since the last
    /// sweep generation began (a superset of the non-empty ones): the only classes the
    /// next generation's start has to look at.
    swept_classes: ClassSet,
    /// Small spans waiting to be swept in this sweep generation, per span class.
    unswept: Vec<Vec<usize>>,
    /// Swept large spans.
    large: Vec<usize>,
    /// Large spans waiting to be swept.
    unswept_large: Vec<usize>,
    /// Free spans by (pages, slot capacity): a span is reused only where its bitmaps fit
    /// (`heap::scavenge`); no list is empty.
    free: BTreeMap<(usize, usize), Vec<usize>>,
    /// The free spans whose pages may still be in memory, as (pages, slot capacity,
    /// index): what a release walks, largest first, so that it never walks the spans
    /// already released (`heap::scavenge`).
    holding: std::collections::BTreeSet<(usize, usize, usize)>,
    /// The current immortal span per span class.
    immortal: Vec<Option<usize>>,
}

/// The heap's memory.
pub(crate) struct Space {
    pub(crate) page_bytes: usize,
    pub(crate) table: SpanTable,
    pools: Mutex<Pools>,
    /// What the spans hold in memory, and the scavenging goals (`heap::scavenge`).
    pub(crate) pages: pages::Retained,
    /// Bytes of live and newly allocated objects: cached spans count whole, others by
    /// their allocated slots, large objects by their pages (Go's `heapLive`).
    heap_live: AtomicUsize,
    /// The highest `heap_live` seen, less `counted_unmarked` (`heap::live`).
    heap_peak: AtomicUsize,
    /// What the last mark counted without marking and the sweep has not found
    /// resurrected (`heap::live`).
    counted_unmarked: AtomicUsize,
    /// Bytes of dead objects the sweep has yet to free or resurrect (`heap::live`): a
    /// pacing input that synchronises nothing, so an unmodelled atomic under loom.
    unswept_dead: unmodelled::AtomicUsize,
    /// The zero-sized sentinel.
    pub(crate) zero_sentinel: Ref,
    /// The sweep generation (see [`sweeping`]); starts at 2 so that `h - 2` is never a
    /// new span's generation.
    sweepgen: AtomicU32,
    /// Whether sweeping poisons freed slots (verification on).
    pub(crate) poison: bool,
    /// The protections the loom negative controls switch off (sweeping reads
    /// `no_resurrection` and the sweep faults).
    #[cfg(loom)]
    pub(crate) faults: crate::config::LoomFaults,
    /// A bug planted for a negative control (tests only; `None` otherwise).
    pub(crate) planted_bug: Option<crate::config::PlantedBug>,
    /// Bytes of immortal objects (globals).
    globals_bytes: crate::sync::unmodelled::AtomicUsize,
    /// The finalizer and cleanup queues that sweeping fills.
    pub(crate) queues: crate::sync::unmodelled::Arc<crate::callbacks::queue::Queues>,
    /// Go's GC CPU limiter (`pacer::limiter`): while it is on, mark assists do not run,
    /// nor does an allocation's scavenging for the memory limit.
    pub(crate) limiter: crate::pacer::limiter::CpuLimiter,
    /// A hard heap cap is set (`heap_limit`, the testbed's own): scavenging for the
    /// limit goes on whatever the limiter says.
    hard_cap: bool,
}

impl Space {
    pub(crate) fn new(page_bytes: usize) -> Space {
        let space = Space {
            page_bytes,
            table: SpanTable::new(),
            pools: Mutex::new(Pools {
                partial: vec![Vec::new(); SpanClass::COUNT],
                full: vec![Vec::new(); SpanClass::COUNT],
                swept_classes: ClassSet::default(),
                unswept: vec![Vec::new(); SpanClass::COUNT],
                large: Vec::new(),
                unswept_large: Vec::new(),
                free: BTreeMap::new(),
                holding: Default::default(),
                immortal: vec![None; SpanClass::COUNT],
            }),
            pages: pages::Retained::new(None),
            heap_live: AtomicUsize::new(0),
            heap_peak: AtomicUsize::new(0),
            counted_unmarked: AtomicUsize::new(0),
            unswept_dead: unmodelled::AtomicUsize::new(0),
            zero_sentinel: Ref::new(0, 0, 0),
            sweepgen: AtomicU32::new(2),
            poison: false,
            #[cfg(loom)]
            faults: Default::default(),
            planted_bug: None,
            globals_bytes: Default::default(),
            queues: Default::default(),
            limiter: crate::pacer::limiter::CpuLimiter::new(1),
            hard_cap: false,
        };
        let sentinel = space.alloc_immortal(&Shape::new("zero-sized sentinel", 0, 0));
        debug_assert_eq!(sentinel, space.zero_sentinel);
        space
    }

    /// The span at `index`, for a mutator while running or a thread holding the span
    /// lock: spans are retired only under that lock with the world stopped
    /// (`heap::retire`). Other threads pin and use `self.table.lookup`.
    #[inline(always)]
    pub(crate) fn span(&self, index: usize) -> Option<&Span> {
        self.table.get(index)
    }

    /// Sets the memory limit down to which allocation releases free pages (the lower of
    /// `heap_limit` and `memory_limit`; `None`: none).
    /// Sets the memory limit scavenging keeps to (the lower of `heap_limit` and
    /// `memory_limit`), whether a hard cap is among them, and GOMAXPROCS (the CPU
    /// limiter's capacity).
    pub(crate) fn limited(mut self, limit: Option<usize>, hard_cap: bool, procs: usize) -> Space {
        self.pages = pages::Retained::new(limit);
        self.hard_cap = hard_cap;
        self.limiter = crate::pacer::limiter::CpuLimiter::new(procs);
        self
    }

    /// Sets whether free spans are retired (`HeapConfig::unmap_released_spans`).
    pub(crate) fn retiring(mut self, on: bool) -> Space {
        if on {
            self.table.set_retiring();
        }
        self
    }

    /// Sets whether sweeping poisons freed slots (verification).
    pub(crate) fn poisoning(mut self, poison: bool) -> Space {
        self.poison = poison;
        self
    }

    /// Takes a span for a mutator cache: a swept partial span of `sc`, else one it sweeps
    /// from the class's unswept spans, else a free or new span initialised for it. Counts
    /// its free slots as allocated (they will be, by the cache).
    pub(crate) fn refill(&self, sc: SpanClass) -> &Span {
        let partial = lock(&self.pools).partial[sc.index()].pop();
        let span = match partial {
            Some(i) => self.span(i).expect("partial span exists"),
            None => match self.sweep_for_class(sc) {
                Some(span) => span,
                None => {
                    let mut pools = lock(&self.pools);
                    let pages = class_pages(sc.size_class(), self.page_bytes);
                    let elem = class_words(sc.size_class());
                    let slots = pages * self.page_bytes / WORD_BYTES / elem;
                    let span = self.take_free_span(&mut pools, Fit::Small { pages, slots });
                    // Swept before it is Small: `finish_sweep` reads the kind, then
                    // claims a Small span of the previous generation.
                    self.mark_swept(span);
                    span.init(SpanKind::Small, sc, elem);
                    drop(pools);
                    // Every slot is free and only this refill holds the span.
                    #[cfg(not(loom))]
                    span.touch_free_words();
                    span
                }
            },
        };
        let free = span.nslots() - span.allocated_count();
        self.add_live(free * span.elem_words() * WORD_BYTES);
        span
    }

    /// Gives back a span a cache held: its still-free slots no longer count as live, and
    /// it goes on its class's swept list (a span with free slots becomes available to
    /// other caches at once).
    pub(crate) fn uncache(&self, span: &Span) {
        let free = span.nslots() - span.allocated_count();
        self.heap_live
            .fetch_sub(free * span.elem_words() * WORD_BYTES, Relaxed);
        lock(&self.pools).file_small(span, free > 0);
    }

    /// Allocates a large object in a span of its own. The object's words are zero.
    pub(crate) fn alloc_large(&self, shape: &Shape) -> &Span {
        let words = shape.words();
        let pages = (words * WORD_BYTES).div_ceil(self.page_bytes);
        self.sweep_one_large();
        let mut pools = lock(&self.pools);
        let span = self.take_free_span(&mut pools, Fit::Large { pages });
        // Swept before it is Large (see `refill`).
        self.mark_swept(span);
        span.init(SpanKind::Large, SpanClass::new(0, shape.is_noscan()), words);
        pools.large.push(span.index);
        drop(pools);
        span.zero_words(0, words);
        span.alloc_bits(0).store(1, Relaxed);
        span.set_meta(0, shape.meta());
        self.add_live(pages * self.page_bytes);
        span
    }

    /// Bytes of immortal objects allocated so far.
    pub(crate) fn globals_bytes(&self) -> usize {
        self.globals_bytes
            .load(crate::sync::unmodelled::Ordering::Relaxed)
    }

    /// Allocates an immortal object in the globals space. Its words are zero.
    pub(crate) fn alloc_immortal(&self, shape: &Shape) -> Ref {
        let words = shape.words().max(1);
        self.globals_bytes.fetch_add(
            shape.words() * WORD_BYTES,
            crate::sync::unmodelled::Ordering::Relaxed,
        );
        let class = crate::size_class::class_of_words(words);
        let mut pools = lock(&self.pools);
        if class == 0 {
            let pages = (words * WORD_BYTES).div_ceil(self.page_bytes);
            let span = self.take_free_span(&mut pools, Fit::Large { pages });
            span.init(
                SpanKind::Immortal,
                SpanClass::new(0, shape.is_noscan()),
                words,
            );
            span.zero_words(0, words);
            span.alloc_bits(0).store(1, Relaxed);
            span.set_meta(0, shape.meta());
            return Ref::new(span.index, 0, 0);
        }
        // Immortal spans mix pointerful and pointer-free objects; they are scanned as roots.
        let sc = SpanClass::new(class, false);
        loop {
            if let Some(i) = pools.immortal[sc.index()] {
                let span = self.span(i).expect("immortal span exists");
                for w in 0..span.bitmap_words() {
                    let bits = span.alloc_bits(w).load(Relaxed);
                    let free = !bits & span.valid_mask(w);
                    if free != 0 {
                        let slot = w * 64 + free.trailing_zeros() as usize;
                        span.alloc_bits(w).store(bits | 1 << (slot % 64), Relaxed);
                        span.zero_words(span.slot_base(slot), span.elem_words());
                        span.set_meta(slot, shape.meta());
                        return Ref::new(span.index, slot, 0);
                    }
                }
            }
            let pages = class_pages(class, self.page_bytes);
            let elem = class_words(class);
            let slots = pages * self.page_bytes / WORD_BYTES / elem;
            let span = self.take_free_span(&mut pools, Fit::Small { pages, slots });
            span.init(SpanKind::Immortal, sc, elem);
            pools.immortal[sc.index()] = Some(span.index);
        }
    }

    /// Resolves a reference to a live object, or says why it names none.
    #[inline(always)]
    pub(crate) fn locate(&self, r: Ref) -> Result<Located<'_>, BadRef> {
        if r.word() == crate::object::POISON {
            return Err(BadRef::Poisoned);
        }
        let span = self.span(r.span()).ok_or(BadRef::NoSuchSpan)?;
        if span.kind() == SpanKind::Free {
            return Err(BadRef::FreeSpan);
        }
        let slot = r.slot();
        if slot >= span.nslots() {
            return Err(BadRef::NoSuchSlot);
        }
        let meta = span.meta(slot).ok_or(BadRef::Freed)?;
        let base = span.slot_base(slot);
        Ok(if meta.tiny {
            Located {
                span,
                base: base + r.tiny_offset(),
                ptr_slots: 0,
                words: 1,
            }
        } else {
            Located {
                span,
                base,
                ptr_slots: meta.ptr_slots,
                words: meta.words,
            }
        })
    }

    /// Replaces the swept lists and returns empty spans to the free pool, after a
    /// stop-the-world sweep.
    pub(crate) fn rebuild_pools(&self, swept: SweptLists, freed: Vec<usize>) {
        let mut pools = lock(&self.pools);
        pools.swept_classes = ClassSet::default();
        for c in 0..SpanClass::COUNT {
            if !swept.partial[c].is_empty() || !swept.full[c].is_empty() {
                pools.swept_classes.insert(c);
            }
        }
        pools.partial = swept.partial;
        pools.full = swept.full;
        pools.large = swept.large;
        for i in freed {
            self.free_span(&mut pools, self.span(i).expect("freed span exists"));
        }
    }

    /// Clears every span's mark bits: the start of the cycle after an abandoned one,
    /// whose marks (an object marked but never scanned) would make the next mark skip
    /// what it reaches. The world is stopped and the sweep finished.
    pub(crate) fn clear_mark_bits(&self) {
        for i in 0..self.table.len() {
            if let Some(span) = self.span(i) {
                span.clear_marks();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_class_set_lists_its_classes_in_order() {
        let mut set = ClassSet::default();
        for c in [135, 0, 64, 63, 0, 130] {
            set.insert(c);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 63, 64, 130, 135]);
        assert_eq!(ClassSet::default().iter().count(), 0);
    }

    #[test]
    fn refill_counts_free_slots_and_uncache_returns_them() {
        let space = Space::new(8192);
        let base = space.heap_live();
        let sc = SpanClass::new(4, false); // 32-byte objects, 256 per span
        let span = space.refill(sc);
        assert_eq!(space.heap_live() - base, 8192, "a cached span counts whole");
        span.alloc_bits(0).store(0b111, Relaxed);
        space.uncache(span);
        assert_eq!(
            space.heap_live() - base,
            3 * 32,
            "only allocated slots stay"
        );
        assert!(space.heap_peak() >= base + 8192);
    }

    #[test]
    fn locate_rejects_bad_references_with_the_reason() {
        let space = Space::new(8192);
        assert_eq!(
            space.locate(Ref::new(999, 0, 0)).err(),
            Some(BadRef::NoSuchSpan)
        );
        let sc = SpanClass::new(4, false);
        let span = space.refill(sc);
        let r = Ref::new(span.index, 3, 0);
        assert_eq!(space.locate(r).err(), Some(BadRef::Freed));
        span.set_meta(3, Shape::new("t", 1, 1).meta());
        let loc = space.locate(r).unwrap();
        assert_eq!((loc.base, loc.ptr_slots, loc.words), (12, 1, 2));
        assert_eq!(
            space.locate(Ref::new(span.index, 100_000, 0)).err(),
            Some(BadRef::NoSuchSlot)
        );
        assert_eq!(
            space
                .locate(Ref::from_word(crate::object::POISON).unwrap())
                .err(),
            Some(BadRef::Poisoned)
        );
        space.rebuild_pools(SweptLists::empty(), vec![span.index]);
        assert_eq!(space.locate(r).err(), Some(BadRef::FreeSpan));
    }

    #[test]
    fn freed_spans_are_reused_for_the_same_geometry() {
        let space = Space::new(8192);
        let sc = SpanClass::new(4, false);
        let a = space.refill(sc).index;
        space.rebuild_pools(SweptLists::empty(), vec![a]);
        assert_eq!(space.refill(sc).index, a, "the free span is taken first");
        let other = space.refill(SpanClass::new(7, true)).index;
        assert_ne!(other, a);
    }

    #[test]
    fn the_sentinel_and_globals_are_immortal() {
        let space = Space::new(8192);
        let s = space.locate(space.zero_sentinel).unwrap();
        assert_eq!(s.span.kind(), SpanKind::Immortal);
        assert_eq!(s.words, 0);
        let g = space.alloc_immortal(&Shape::new("g", 2, 0));
        let h = space.alloc_immortal(&Shape::new("g", 2, 0));
        assert_ne!(g, h);
        assert_eq!(space.locate(g).unwrap().ptr_slots, 2);
    }
}
