//! Retiring free spans: a free span whose pages were all released is taken out of the
//! page pool and the span table, and its structure, bitmaps, slot metadata and address
//! space are freed through the table's epoch domain (`crate::epoch`,
//! `SpanTable::retire`). The testbed's option `HeapConfig::unmap_released_spans` (Go
//! never unmaps arena memory; it coalesces free pages instead).
//!
//! Who may hold a `&Span` of a span being retired, and why it stays valid:
//! - mutators: retirement runs only with the world stopped, after the previous sweep
//!   finished (the first pause of a cycle). A stopped mutator holds no `&Span` of a free
//!   span except through a handle (scopes end before a pause; a cache's spans and a
//!   fresh large object's are in use, not free), and a handle's root slot names its span,
//!   so a span named by any mutator's root (blocked mutators' too) is not retired. After
//!   the pause a stale reference to a retired span finds no span (indices are never
//!   reused) and is caught as stale;
//! - threads that are no mutators and may run during the pause (the background sweeper,
//!   `gc()`'s sweep on phase threads, `Heap::stats`, `Heap::is_allocated`,
//!   `Cleanup::stop`) pin the domain
//!   while they hold a `&Span` they looked up; the span is dropped after they unpin;
//! - the scavenger and allocators read free spans only under the span lock, which the
//!   retirement holds; markers do not run during the pause.
//!
//! Retirement stops once half the span table's capacity is used (indices are never
//! reused); the table's exhaustion itself panics, with or without the option.
//!
//! Invariant: a span is retired only under the span lock, with the world stopped and the
//! sweep finished, while it is in the page pool with no retained pages and no mutator
//! root names it; it leaves the pool and the table together, and the heap's mapped byte
//! count drops by its storage.

use super::span::SpanKind;
use super::Space;
use crate::sync::{lock, Ordering::Relaxed};
use std::collections::HashSet;

/// Spans are retired only while fewer than this many span indices are used.
const RETIRE_BELOW: usize = super::span_table::SpanTable::CAPACITY / 2;

impl Space {
    /// Retires every free span with no retained pages whose index is not in `rooted`
    /// (the spans mutators' roots name). The world is stopped and the sweep finished.
    /// Returns the number retired.
    ///
    /// Indices are never reused, so each retirement uses one up for good: once half the
    /// table's capacity is used, spans are no longer retired (the heap then keeps its
    /// free spans as it does without the option), so that retiring never brings the
    /// table's exhaustion closer than half its capacity.
    pub(crate) fn retire_released(&self, rooted: &HashSet<usize>) -> usize {
        if self.table.len() >= RETIRE_BELOW {
            return 0;
        }
        let guard = self.table.pin();
        let mut pools = lock(&self.pools);
        let mut retired = 0;
        pools.free.retain(|_, list| {
            list.retain(|&i| {
                let Some(span) = self.table.lookup(i, &guard) else {
                    return false;
                };
                if span.retained.load(Relaxed) != 0 || rooted.contains(&i) {
                    return true;
                }
                self.pages.unmap(span.bytes());
                self.table.retire(i, &guard, true);
                retired += 1;
                false
            });
            !list.is_empty()
        });
        retired
    }

    /// Whether `r` names an allocated object now (from any thread: pinned while
    /// `locate` holds the span).
    pub(crate) fn is_allocated(&self, r: crate::object::Ref) -> bool {
        let _guard = self.table.pin();
        self.locate(r).is_ok()
    }

    /// Spans by use: `[small, large, immortal, free]` (from any thread: pinned).
    pub(crate) fn span_counts(&self) -> [usize; 4] {
        #[cfg(loom)]
        if self.faults.stats_unpinned {
            return self.span_counts_unpinned();
        }
        let mut n = [0; 4];
        let guard = self.table.pin();
        for i in 0..self.table.len() {
            if let Some(s) = self.table.lookup(i, &guard) {
                // Under loom the walk yields between the lookup and the read, so that the
                // retirement model reaches that window within its preemption bound (the
                // negative control's unpinned walk yields there too).
                #[cfg(loom)]
                crate::sync::yield_now();
                n[use_index(s.kind())] += 1;
            }
        }
        n
    }
}

/// A kind's index in `Space::span_counts`.
fn use_index(kind: SpanKind) -> usize {
    match kind {
        SpanKind::Small => 0,
        SpanKind::Large => 1,
        SpanKind::Immortal => 2,
        SpanKind::Free => 3,
    }
}

#[cfg(loom)]
impl Space {
    /// `span_counts` without the pin (the loom fault `stats_unpinned`).
    fn span_counts_unpinned(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for i in 0..self.table.len() {
            if let Some(s) = self.span(i) {
                crate::sync::yield_now();
                n[use_index(s.kind())] += 1;
            }
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::SweptLists;
    use crate::object::Ref;
    use crate::size_class::SpanClass;

    #[test]
    fn released_free_spans_are_retired_unless_rooted_or_retained() {
        let space = Space::new(8192).retiring(true);
        let sc = SpanClass::new(4, false);
        let a = space.refill(sc).index;
        let b = space.refill(sc).index;
        let c = space.refill(sc).index;
        space.rebuild_pools(SweptLists::empty(), vec![a, b, c]);
        let mapped = space.pages.mapped();
        // Nothing released yet: nothing retired.
        assert_eq!(space.retire_released(&HashSet::new()), 0);
        space.free_os_memory();
        assert_eq!(space.retire_released(&HashSet::from([b])), 2);
        assert!(space.span(a).is_none() && space.span(c).is_none());
        assert_eq!(
            space.locate(Ref::new(a, 0, 0)).err(),
            Some(crate::heap::BadRef::NoSuchSpan)
        );
        assert_eq!(space.pages.mapped(), mapped - 2 * 8192);
        // The rooted one stays, free, and is reused.
        assert_eq!(space.refill(sc).index, b);
        assert!(space.refill(sc).index > c, "indices are not reused");
    }

    static BIG: crate::object::Shape = crate::object::Shape::new("big", 0, 5000);
    static HOLDER: crate::object::Shape = crate::object::Shape::new("holder", 1, 0);

    /// `Heap::free_os_memory` gives a dead object's span's address space back at once
    /// (its second cycle retires what its release left).
    #[test]
    fn free_os_memory_retires_the_spans_it_releases() {
        let heap = crate::Heap::new(crate::HeapConfig {
            unmap_released_spans: true,
            ..crate::HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let dead = m.alloc(&BIG).reference();
        let mapped = heap.mapped_and_released_bytes().0;
        m.blocking(|| heap.free_os_memory());
        assert!(m.core.space.span(dead.span()).is_none(), "not retired");
        assert!(heap.mapped_and_released_bytes().0 < mapped);
    }

    /// A handle whose object's span was freed under it (a collector bug, or the
    /// `NoBarrier` ablation) keeps the span from retirement: its root names the span, so
    /// the span it caches stays allocated and its reads stay in bounds.
    #[test]
    fn a_span_a_handle_names_is_not_retired_even_when_freed_under_it() {
        let heap = crate::Heap::new(crate::HeapConfig {
            unmap_released_spans: true,
            ..crate::HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let h = m.alloc(&BIG);
        h.write(0, 7);
        let i = h.reference().span();
        let space = &m.core.space;
        {
            // The bug: the live object's span freed under its handle.
            let mut pools = lock(&space.pools);
            pools.large.retain(|&j| j != i);
            space.free_span(&mut pools, space.span(i).unwrap());
        }
        m.blocking(|| heap.free_os_memory()); // released
        m.gc(); // a pause that retires what it may
        assert!(space.span(i).is_some(), "a span a handle names was retired");
        assert_eq!(h.read(0), 0, "the released word reads as zero");
        drop(h);
        m.gc();
        assert!(
            space.span(i).is_none(),
            "not retired once no handle names it"
        );
    }

    /// A stale reference to a retired span (planted, as a collector bug or the `NoBarrier`
    /// ablation leaves one) is caught on load as stale: no span has its index (S-none:
    /// the testbed's misuse rule, README "Misuse panics").
    #[test]
    fn a_stale_reference_to_a_retired_span_is_caught_on_load() {
        let heap = crate::Heap::new(crate::HeapConfig {
            unmap_released_spans: true,
            verify: true,
            ..crate::HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let holder = m.alloc(&HOLDER);
        let stale = m.alloc(&BIG).reference();
        m.blocking(|| heap.free_os_memory()); // `stale`'s span freed, released, retired
        assert!(m.core.space.span(stale.span()).is_none(), "not retired");
        // The bug: the dead object's reference planted in a live object.
        let h = holder.reference();
        let span = m.core.space.span(h.span()).unwrap();
        span.word(span.slot_base(h.slot()))
            .store(stale.word(), Relaxed);
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.scope(|s| {
                s.load(s.get(&holder), 0);
            })
        }))
        .expect_err("a stale load must panic");
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("use of a freed object") && msg.contains("no span has that index"),
            "{msg}"
        );
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            holder.get(0);
        }))
        .expect_err("a stale handle load must panic");
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("no span has that index"), "{msg}");
    }
}
