//! The page pool: free spans reused across sizes, and free spans' pages given back to the
//! OS (Go's page heap and scavenger, simplified).
//!
//! Go's page heap splits and coalesces free page runs in one address space
//! (mpagealloc.go). Here each span keeps its own storage until it is retired (see
//! `heap::span`, `heap::retire`), so a free span is reused without splitting: a large object takes the
//! smallest free span of at least its pages (best fit) and the tail it does not cover is
//! released; a small span takes a free span of its class's pages whose bitmaps fit. No
//! two spans coalesce, so address space (not memory) can grow with the number of distinct
//! large sizes alive at once.
//!
//! Release follows Go's rules in `allocSpan` (mheap.go) at each span taken: down to the
//! memory limit (`heap_limit`, or `memory_limit` if lower; not while Go's GC CPU limiter
//! is on, unless a hard cap is set), its time counted by the limiter as assist time, and
//! on growth, by at most the growth, down to the GOGC retention goal (set at each mark
//! termination: `pages::Retained::pace_scavenger`). Growth is a new span: a released span
//! taken again is not growth, as in Go, whose growth is new address space (`h.grow`).
//! Departure: spans never merge, so a request no free span fits makes a new span (growth)
//! even where free pages add up to it, which Go's page allocator would carve from its
//! free runs without growing; and Go grows in 4 MiB chunks, here a span at a time. The
//! largest free spans are released first. [`Space::free_os_memory`] releases every free span (Go's
//! `debug.FreeOSMemory` after its GC). Releases happen under the span lock (Go drops its
//! heap lock for them; here allocation of new spans waits meanwhile).
//!
//! Invariant: a span's `retained` and the heap's [`super::pages::Retained`] change only
//! under the span lock; a free span is in `Pools::holding` only if its `retained` is not
//! zero (a release walks nothing else); and a span's pages are released only while it
//! is in the page pool (free: no cache, list or allocator owns it) or, for the uncovered
//! tail of a large span, before its object is published. So no one but a stale reader (which reads zero)
//! reads the words released.

use super::pages::Fit;
use super::span::{Span, SpanKind};
use super::{Pools, Space};
use crate::sync::Ordering::Relaxed;

impl Space {
    /// Takes a free span that fits (best fit), or creates one; counts the bytes it will
    /// hold in memory, and releases free pages as the scavenging rules ask.
    pub(crate) fn take_free_span(&self, pools: &mut Pools, fit: Fit) -> &Span {
        let (span, fresh) = match self.pop_free(pools, fit) {
            Some(span) => (span, false),
            None => (self.new_span(fit), true),
        };
        let need = match fit {
            Fit::Small { .. } => span.bytes(),
            Fit::Large { pages } => pages * self.page_bytes,
        };
        let mut held = span.retained.load(Relaxed);
        if held > need {
            // The tail the object does not cover, as far as the OS released it.
            let released = span.release_pages(need).min(held - need);
            self.pages.shrink(released);
            held -= released;
        }
        let resident = need.saturating_sub(held);
        self.pages.grow(resident);
        span.retained.store(held.max(need), Relaxed);
        // Go's growth is new address space only (`h.grow`): released pages used again
        // are not growth, else each reuse would release another free span, to be faulted
        // in again at its own reuse.
        let growth = if fresh { resident } else { 0 };
        let to_limit = self.hard_cap || !self.limiter.limiting();
        let todo = self.pages.to_scavenge(growth, to_limit);
        if todo > 0 {
            // Go counts this scavenging as the allocating goroutine's assist time
            // (`limiterEventScavengeAssist`).
            let t = std::time::Instant::now();
            self.release_free(pools, todo);
            self.limiter
                .add_assist(crate::telemetry::nanos(t.elapsed()));
        }
        span
    }

    fn pop_free(&self, pools: &mut Pools, fit: Fit) -> Option<&Span> {
        let key = match fit {
            Fit::Small { pages, slots } => pools
                .free
                .range((pages, slots)..=(pages, usize::MAX))
                .map(|(k, _)| *k)
                .next(),
            Fit::Large { pages } => pools.free.range((pages, 0)..).map(|(k, _)| *k).next(),
        }?;
        let list = pools.free.get_mut(&key).expect("key just found");
        let i = list.pop().expect("free lists are never left empty");
        if list.is_empty() {
            pools.free.remove(&key);
        }
        pools.holding.remove(&(key.0, key.1, i));
        let span = self.span(i).expect("free span exists");
        self.pages.pool(false, span.retained.load(Relaxed));
        Some(span)
    }

    fn new_span(&self, fit: Fit) -> &Span {
        let (pages, slots) = match fit {
            Fit::Small { pages, slots } => (pages, slots),
            Fit::Large { pages } => (pages, 1),
        };
        let page_bytes = self.page_bytes;
        let index = self
            .table
            .push(|index| Span::new(index, pages, page_bytes, slots))
            .unwrap_or_else(|| {
                panic!(
                    "collector: out of memory: the span table is full ({} spans)",
                    super::span_table::SpanTable::CAPACITY
                )
            });
        let span = self.span(index).expect("span just created");
        self.pages.map(span.bytes());
        span
    }

    /// Returns an empty span to the page pool (its pages stay until released).
    pub(crate) fn free_span(&self, pools: &mut Pools, span: &Span) {
        span.release();
        let retained = span.retained.load(Relaxed);
        self.pages.pool(true, retained);
        let key = (span.pages, span.max_slots());
        pools.free.entry(key).or_default().push(span.index);
        if retained > 0 {
            pools.holding.insert((key.0, key.1, span.index));
        }
    }

    /// Releases the pages of free spans, largest first, until `todo` bytes are released
    /// or none is left in memory: whole spans, but from the last span only its tail
    /// pages beyond what `todo` needs (a span's `retained` is a prefix of its words).
    /// Walks only the spans still holding pages (`Pools::holding`), and counts what the
    /// OS was told to release: a span whose storage is not its own mapping (smaller than
    /// an OS page) releases nothing, keeps its count, and is not tried again while free.
    /// Returns the bytes released.
    pub(super) fn release_free(&self, pools: &mut Pools, todo: usize) -> usize {
        let mut done = 0;
        let mut settled = Vec::new();
        for &(pages, slots, i) in pools.holding.iter().rev() {
            if done >= todo {
                break;
            }
            let span = self.span(i).expect("free span exists");
            let had = span.retained.load(Relaxed);
            debug_assert_eq!(span.kind(), SpanKind::Free);
            let keep = had.saturating_sub(todo - done) / self.page_bytes * self.page_bytes;
            let released = span.release_pages(keep).min(had - keep);
            span.retained.store(had - released, Relaxed);
            self.pages.shrink(released);
            self.pages.pool(false, released);
            done += released;
            if released == 0 || had - released == 0 {
                settled.push((pages, slots, i));
            }
        }
        for k in settled {
            pools.holding.remove(&k);
        }
        done
    }

    /// Gives every free span's pages back to the OS (the second half of Go's
    /// `debug.FreeOSMemory`; the caller collects first). Returns the bytes released.
    pub(crate) fn free_os_memory(&self) -> usize {
        let mut pools = crate::sync::lock(&self.pools);
        #[cfg(loom)]
        if self.faults.scavenge_outside_lock {
            let chosen: Vec<usize> = pools.free.values().flatten().copied().collect();
            drop(pools);
            return chosen
                .into_iter()
                .filter_map(|i| self.span(i))
                .map(|span| span.release_words_unchecked())
                .sum();
        }
        self.release_free(&mut pools, usize::MAX)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::SweptLists;
    use crate::size_class::{class_pages, SpanClass, CLASS_BYTES};

    /// mheap.go's `allocSpan` scavenges inline only on growth, and its growth is new
    /// address space (`h.grow`): a span whose pages were released, taken again, is not
    /// growth and releases no other span (here it once did, so each reuse released
    /// a free span that the next reuse faulted in again); a new span still is (the
    /// module header says where that departs from Go).
    #[test]
    fn only_a_new_span_is_growth_that_releases_others() {
        let space = Space::new(8192);
        let sc = SpanClass::new(4, false);
        let (a, b) = (space.refill(sc).index, space.refill(sc).index);
        space.rebuild_pools(SweptLists::empty(), vec![a, b]);
        // Release one span (the highest index first): `b`.
        let released = space.release_free(&mut crate::sync::lock(&space.pools), 8192);
        assert_eq!(released, 8192);
        // A goal far below what the heap holds: any growth is released again.
        space.pages.pace_scavenger(1, 1 << 20, space.pages.in_use());
        let before = space.pages.released_total();
        let taken = space.refill(sc).index;
        assert_eq!(taken, b, "the released span is taken again");
        assert_eq!(
            space.pages.released_total(),
            before,
            "taking a released span again released nothing"
        );
        // A class of more pages than `a` has: a new span.
        let big = (1..CLASS_BYTES.len())
            .find(|&c| class_pages(c, 8192) > 1)
            .expect("a class of several pages");
        let fresh = space.refill(SpanClass::new(big, true)).index;
        assert!(fresh != a && fresh != b, "a new span");
        assert_eq!(
            space.pages.released_total(),
            before + 8192,
            "a new span's growth released the free span `a`"
        );
    }
}
