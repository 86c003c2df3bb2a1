//! Sweeping spans, one at a time, by sweep generation (Go's `mspan.sweepgen` scheme), so
//! that sweeping can run beside the mutators: a background sweeper, allocations that
//! sweep the spans of the class they need, and whoever changes a span's specials.
//!
//! The heap's generation `h` advances by two at each concurrent mark termination (under
//! loom too, where model threads step the background sweeper; a stop-the-world heap
//! sweeps in the pause with `crate::sweep` and never advances it). A span
//! whose generation is `h - 2` is unswept, `h - 1` is being swept (claimed by one
//! sweeper with a compare-and-swap), `h` is swept. New spans start swept. Sweeping a span
//! frees every allocated but unmarked object (poisoning it when verification is on),
//! turns the mark bits into the allocation bits, and clears the mark bits.
//!
//! Invariants: a small or large span's generation is always `h - 2`, `h - 1` or `h`.
//! Only the thread whose compare-and-swap takes it from `h - 2` to `h - 1` sweeps it, so a
//! span is swept at most once per generation, and that thread files it before it
//! publishes `h`; a claim is tied to the generation its span was listed in, so a late one
//! fails rather than sweep a later generation's span. `h` advances only in `begin_sweep`,
//! under the pools lock, with the world stopped and the previous sweep finished.

use super::span::{Span, SpanKind};
use super::special_deaths::sweep_specials;
use super::specials::Special;
use super::{Pools, Space};
use crate::size_class::SpanClass;
use crate::sync::{lock, Ordering::*};

/// Which swept spans [`Space::sweep_span`] files on a list (the others go to a cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Filing {
    /// Every one.
    Always,
    /// Only a full one: a refill takes any other for its cache.
    OnlyFull,
}

/// What sweeping a span left in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Swept {
    /// Live objects and free slots.
    Partial,
    /// No free slot.
    Full,
    /// No live object: the span can return to the page pool.
    Empty,
}

impl Space {
    /// The heap's sweep generation.
    #[inline]
    pub(crate) fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Acquire)
    }

    /// Marks a span just initialised as swept in the current generation.
    pub(crate) fn mark_swept(&self, span: &Span) {
        span.sweepgen.store(self.sweepgen(), Release);
    }

    /// Whether `span` waits to be swept in this generation.
    #[cfg_attr(any(not(test), loom), allow(dead_code))]
    pub(crate) fn is_unswept(&self, span: &Span) -> bool {
        span.sweepgen.load(Acquire) == self.sweepgen().wrapping_sub(2)
    }

    /// Sweeps `span` in generation `h` if it is unswept in it and this call claims it;
    /// `None` if it was swept already, another thread is sweeping it, or the heap has
    /// moved on from `h`. Files it as `filing` says, then publishes it as swept. Returns
    /// what the sweep left and how many objects it freed.
    ///
    /// `h` is the generation in which the caller found the span unswept: read under the
    /// pools lock with the pop for a listed span (`begin_sweep` advances it under that
    /// lock). A claim thus sweeps a span in the generation it was listed for. (The
    /// background sweeper is no mutator, so pauses do not stop it: with the heap's
    /// current generation instead, a pop it made long before could claim the span in a
    /// later generation, in the middle of that generation's first pause.)
    ///
    /// The span is filed before it is published: while it is filed, its generation
    /// still says "being swept", so [`Space::finish_sweep`], which waits for that, also
    /// waits for the filing. Published after, a span filed late (its sweeper descheduled
    /// across a whole cycle) would miss the next generation's lists, never be swept in
    /// it, and be handed to a cache from the swept list while unswept.
    pub(crate) fn sweep_span(&self, span: &Span, h: u32, filing: Filing) -> Option<(Swept, usize)> {
        span.sweepgen
            .compare_exchange(h.wrapping_sub(2), h.wrapping_sub(1), AcqRel, Acquire)
            .ok()?;
        span.specials.debug_check_unedited(span.index, h);
        sweep_specials(span, self);
        let out = match span.kind() {
            SpanKind::Small => {
                let (live, dead) = sweep_small(span, self.poison);
                let swept = if live == 0 {
                    Swept::Empty
                } else if live == span.nslots() {
                    Swept::Full
                } else {
                    Swept::Partial
                };
                (swept, dead)
            }
            SpanKind::Large => {
                if span.is_marked(0) {
                    span.mark_bits(0).store(0, Relaxed);
                    (Swept::Full, 0)
                } else {
                    free_slot(span, 0, self.poison);
                    span.alloc_bits(0).store(0, Relaxed);
                    (Swept::Empty, 1)
                }
            }
            SpanKind::Free | SpanKind::Immortal => (Swept::Full, 0),
        };
        self.swept_dead(out.1 * span.slot_bytes());
        // A compare-and-swap: a filed empty span may already be free and reused, and
        // marked swept by its new owner.
        let publish = || {
            let _ = span
                .sweepgen
                .compare_exchange(h.wrapping_sub(1), h, Release, Relaxed);
        };
        #[cfg(loom)]
        let publish_first = self.faults.publish_before_filing;
        #[cfg(not(loom))]
        let publish_first = false;
        if publish_first {
            publish();
        }
        if filing == Filing::Always || out.0 == Swept::Full {
            self.file(&mut lock(&self.pools), span, out.0);
        }
        if !publish_first {
            publish();
        }
        Some(out)
    }

    /// Takes an unswept span off a list (`pick` chooses which) with the generation it
    /// is unswept in.
    fn pop_unswept(&self, pick: impl FnOnce(&mut Pools) -> Option<usize>) -> Option<(&Span, u32)> {
        let mut pools = lock(&self.pools);
        let i = pick(&mut pools)?;
        let h = self.sweepgen();
        drop(pools);
        Some((self.span(i).expect("unswept span exists"), h))
    }

    /// Puts a swept span on its swept list (see [`Pools`]), or an empty one back in the
    /// page pool.
    fn file(&self, pools: &mut Pools, span: &Span, swept: Swept) {
        match (swept, span.kind()) {
            (Swept::Empty, _) => self.free_span(pools, span),
            (Swept::Partial, _) => pools.file_small(span, true),
            (Swept::Full, SpanKind::Small) => pools.file_small(span, false),
            (Swept::Full, SpanKind::Large) => pools.large.push(span.index),
            (Swept::Full, SpanKind::Free | SpanKind::Immortal) => {}
        }
    }

    /// Sweeps one unswept span of any class (the background sweeper's step, Go's
    /// `sweepone`). False when none is left to claim.
    pub(crate) fn sweep_one(&self) -> bool {
        loop {
            let next = self.pop_unswept(|pools| {
                let from_small = pools.unswept.iter_mut().find_map(|l| l.pop());
                from_small.or_else(|| pools.unswept_large.pop())
            });
            let Some((span, h)) = next else { return false };
            if self.sweep_span(span, h, Filing::Always).is_some() {
                return true;
            }
        }
    }

    /// Sweeps unswept spans of class `sc` until one has a free slot, which it returns
    /// unfiled, for a cache (Go's `mcentral.cacheSpan`). `None` when the class has no
    /// unswept span left.
    pub(crate) fn sweep_for_class(&self, sc: SpanClass) -> Option<&Span> {
        loop {
            let (span, h) = self.pop_unswept(|pools| pools.unswept[sc.index()].pop())?;
            if let Some((Swept::Partial | Swept::Empty, _)) =
                self.sweep_span(span, h, Filing::OnlyFull)
            {
                return Some(span);
            }
        }
    }

    /// Sweeps one unswept large span, so that a large allocation reuses freed pages
    /// before it takes new ones.
    pub(crate) fn sweep_one_large(&self) {
        while let Some((span, h)) = self.pop_unswept(|pools| pools.unswept_large.pop()) {
            if self.sweep_span(span, h, Filing::Always).is_some() {
                return;
            }
        }
    }

    /// Makes sure `span` is swept before the caller changes it (Go sweeps a span before
    /// changing its specials): sweeps it, or waits for the thread sweeping it. Returns at
    /// once for a span that is free or immortal (never swept, its generation falls
    /// behind), including one that becomes free meanwhile. A small or large span is always
    /// unswept (`h - 2`), being swept (`h - 1`) or swept (`h`): it becomes one swept
    /// (`mark_swept`) before its kind is set, and every one is listed when a generation
    /// begins; any other generation means the kind read was stale.
    pub(crate) fn ensure_swept(&self, span: &Span) {
        loop {
            if matches!(span.kind(), SpanKind::Free | SpanKind::Immortal) {
                return;
            }
            let h = self.sweepgen();
            let g = span.sweepgen.load(Acquire);
            if g == h.wrapping_sub(2) {
                // It stays on its unswept list too; whoever pops it there finds it swept.
                if self.sweep_span(span, h, Filing::Always).is_some() {
                    return;
                }
            } else if g == h.wrapping_sub(1) {
                crate::sync::yield_now();
            } else {
                return;
            }
        }
    }

    /// Runs `f` on `span`'s specials with the span swept in the current generation
    /// (S25), from any thread, a running mutator or not: it sweeps the span, then checks
    /// under the specials' lock that no generation has begun since, and sweeps again if
    /// one has. A generation that begins after the check sweeps the span under the same
    /// lock, so it reads the list as `f` left it: the edit is as if made before that
    /// generation's pause. (Go's `Cleanup.Stop` holds the pause off instead, with
    /// `acquirem`; here a stop may come from a thread that is no mutator.)
    pub(crate) fn edit_specials_swept<R>(
        &self,
        span: &Span,
        f: impl FnOnce(&mut Vec<Special>) -> R,
    ) -> R {
        #[cfg(loom)]
        let unchecked = self.faults.stop_edits_unswept;
        #[cfg(not(loom))]
        let unchecked = false;
        let mut f = Some(f);
        loop {
            self.ensure_swept(span);
            let current = || {
                let h = self.sweepgen();
                let swept = matches!(span.kind(), SpanKind::Free | SpanKind::Immortal)
                    || span.sweepgen.load(Acquire) == h;
                (swept || unchecked).then_some(h)
            };
            let edit = |list: &mut Vec<Special>| f.take().map(|f| f(list));
            if let Some(Some(r)) = span.specials.edit(current, edit) {
                return r;
            }
        }
    }

    /// Sweeps every span left unswept and waits for sweeps in progress elsewhere (Go's
    /// `finishsweep_m`; also what `gc()` does before it returns).
    ///
    /// Empty unswept lists are not enough (nor was a count of sweeps in progress, which
    /// this replaced): another thread may have popped a span from its list, or claimed
    /// it, and not yet counted itself. Were the next mark to start then, that late
    /// sweep would clear the new mark bits (a lost object, found by the random-program
    /// tests under load). So every span is checked: swept here if unclaimed, waited for
    /// if being swept (its generation becomes `h` once its bits are final and it is
    /// filed). A pop that this misses claims nothing later: it is tied to its generation
    /// (see [`Space::sweep_span`]).
    ///
    /// Pinned throughout: the background sweeper is no mutator, so a pause that retires
    /// spans (`heap::retire`) does not wait for it.
    pub(crate) fn finish_sweep(&self) {
        let guard = self.table.pin();
        while self.sweep_one() {}
        #[cfg(loom)]
        if self.faults.finish_sweep_on_empty_lists {
            return;
        }
        for i in 0..self.table.len() {
            if let Some(span) = self.table.lookup(i, &guard) {
                self.ensure_swept(span);
            }
        }
    }

    /// [`Space::finish_sweep`] on the threads of `phase`: each sweeps spans until none is
    /// left to claim, then checks its share of the span table (every `threads`-th span).
    pub(crate) fn finish_sweep_on(&self, phase: &crate::phases::PhaseThreads) {
        let n = phase.threads();
        if n == 1 {
            return self.finish_sweep();
        }
        phase.each_thread(|_| {
            let _guard = self.table.pin();
            while self.sweep_one() {}
        });
        phase.each_thread(|t| {
            let guard = self.table.pin();
            for i in (t..self.table.len()).step_by(n) {
                if let Some(span) = self.table.lookup(i, &guard) {
                    self.ensure_swept(span);
                }
            }
        });
    }

    /// Spans on the unswept lists (some may have been swept out of turn).
    pub(crate) fn unswept_spans(&self) -> usize {
        let pools = lock(&self.pools);
        pools.unswept.iter().map(Vec::len).sum::<usize>() + pools.unswept_large.len()
    }

    /// Starts a sweep generation at mark termination (the world is stopped, no span is
    /// cached, the previous sweep is finished): the swept lists become the unswept ones,
    /// so every small and large span is unswept and none is allocatable until swept; and
    /// the heap's live bytes become `marked_bytes`, the bytes the mark counted as marked
    /// as it went, plus `counted_unmarked`, the bytes it counted without marking them
    /// (together Go's `work.bytesMarked`: the finalizer objects it scanned,
    /// `mark::special_roots`). Neither looks at a span: the pause costs the same for
    /// any heap size (after an abandoned mark too: the next cycle's first pause clears
    /// its marks, so the count is complete). With `check` (verification on),
    /// the lists and `marked_bytes` are checked against every span's kind and mark bits,
    /// and a difference is a collector bug. Returns the live bytes.
    pub(crate) fn begin_sweep(
        &self,
        marked_bytes: usize,
        counted_unmarked: usize,
        check: bool,
    ) -> usize {
        let mut guard = lock(&self.pools);
        let pools = &mut *guard;
        debug_assert!(pools.unswept.iter().all(Vec::is_empty) && pools.unswept_large.is_empty());
        // Only the classes that filed spans: the others' lists are all empty.
        for c in std::mem::take(&mut pools.swept_classes).iter() {
            let unswept = &mut pools.unswept[c];
            unswept.clear();
            std::mem::swap(unswept, &mut pools.partial[c]);
            unswept.append(&mut pools.full[c]);
        }
        pools.unswept_large.clear();
        std::mem::swap(&mut pools.unswept_large, &mut pools.large);
        // Counted and checked before the generation advances: until then every span is
        // swept, so none can be claimed. The background sweeper is no mutator and runs
        // through the pause: its `finish_sweep` reads the generation afresh for each
        // span, and would otherwise sweep spans (a resurrection setting a bit, then the
        // bits cleared) while they are counted.
        #[cfg(loom)]
        let advance_first = self.faults.sweepgen_before_count;
        #[cfg(not(loom))]
        let advance_first = false;
        if advance_first {
            self.sweepgen.fetch_add(2, AcqRel);
            // loom's scheduler does not otherwise run the sweeper inside this window
            // (`LoomFaults::sweepgen_before_count`).
            crate::sync::yield_now();
        }
        if check {
            self.check_unswept(pools, marked_bytes);
        }
        // Before the generation advances: the background sweeper, which runs through the
        // pause, may then sweep a span and find a resurrection to take off this count.
        let live = marked_bytes + counted_unmarked;
        let objects_before = self.heap_alloc();
        self.set_live(live, counted_unmarked);
        self.begin_unswept_dead(objects_before);
        if !advance_first {
            self.sweepgen.fetch_add(2, AcqRel);
        }
        drop(guard);
        live
    }

    /// Verification of a new sweep generation: every small and large span is on exactly
    /// one unswept list (its class's), and the marked bytes are what the mark bits hold.
    fn check_unswept(&self, pools: &Pools, marked_bytes: usize) {
        let fail = |what: String| -> ! { panic!("collector: internal error: {what}") };
        let mut listed = vec![false; self.table.len()];
        let small = pools
            .unswept
            .iter()
            .enumerate()
            .flat_map(|(c, l)| l.iter().map(move |&i| (i, Some(c))));
        let large = pools.unswept_large.iter().map(|&i| (i, None));
        for (i, class) in small.chain(large) {
            let span = self.span(i).expect("listed span exists");
            match (span.kind(), class) {
                (SpanKind::Small, Some(c)) if span.class().index() == c => {}
                (SpanKind::Large, None) => {}
                (kind, _) => fail(format!("span {i} ({kind:?}) is on the wrong unswept list")),
            }
            if std::mem::replace(&mut listed[i], true) {
                fail(format!("span {i} is listed twice for sweeping"));
            }
        }
        for (i, listed) in listed.iter().enumerate() {
            let kind = self.span(i).map(Span::kind);
            if !listed && matches!(kind, Some(SpanKind::Small | SpanKind::Large)) {
                fail(format!(
                    "span {i} ({kind:?}) is on no list: it would never be swept"
                ));
            }
        }
        let counted = self.bytes_marked_in(pools);
        if counted != marked_bytes {
            fail(format!(
                "the mark counted {marked_bytes} bytes marked, the mark bits hold {counted}"
            ));
        }
    }

    /// The bytes the mark bits of the unswept spans hold (slot bytes; a large object's
    /// whole span).
    fn bytes_marked_in(&self, pools: &Pools) -> usize {
        let small = pools.unswept.iter().flatten();
        let spans = small
            .chain(&pools.unswept_large)
            .filter_map(|&i| self.span(i));
        spans
            .map(|span| marked_slots(span) * span.slot_bytes())
            .sum()
    }
}

/// The marked slots of a small or large span.
fn marked_slots(span: &Span) -> usize {
    (0..span.bitmap_words())
        .map(|w| (span.mark_bits(w).load(Relaxed) & span.valid_mask(w)).count_ones() as usize)
        .sum()
}

/// Sweeps one small span: returns (live objects, freed objects).
pub(crate) fn sweep_small(span: &Span, poison: bool) -> (usize, usize) {
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

/// Frees one slot: its metadata goes (so a stale reference to it is caught), and its
/// words are poisoned when verification is on.
pub(crate) fn free_slot(span: &Span, slot: usize, poison: bool) {
    if poison {
        span.poison_words(span.slot_base(slot), span.elem_words());
    }
    span.clear_meta(slot);
}

#[cfg(all(test, not(loom)))]
mod tests;
