//! The allocation paths of a mutator: the fast path from its allocation cache, span
//! refills (where automatic cycles start), tiny blocks, the zero-sized sentinel, large
//! objects, globals, and allocate-black while marking.
//!
//! Invariant: every path runs on the owning thread with its mutator running (`alloc`
//! re-enters the running state for a blocked caller), so the cache is its owner's alone.
//! From taking a slot to rooting the object — zeroed words, metadata, the mark bit while
//! `FLAG_MARKING` is set, then the root-table slot — there is no safepoint, so no pause sees
//! a new object neither rooted nor black. The fast path (`alloc_fast_ok`, `cached_slot`)
//! loads the flags once, before it takes a slot from the cache without a refill: with no
//! poll bit and no `FLAG_MARKING` set, the object stays white, which holds because
//! `FLAG_MARKING` is set only in a pause and no pause begins while this running mutator
//! has not reached a safepoint (nor while it is in a scope); anything else (a poll bit,
//! marking, an empty cache, a blocked caller, a shape the cache does not serve) takes
//! the slow path, which polls, refills and blackens. A slot's words are zeroed only if
//! its span's `needzero` says they may not be zero (Go's `needzero`). Cycles and the waits for them (automatic,
//! heap-limit, past the hard goal) run only in refills and large allocations, in the
//! blocking state, before the slot is taken, and never inside a scope (`mutator::scope`:
//! there the cycle is requested or deferred to the scope's end, and the cap refuses
//! without one).

use super::{Mutator, POLL_MASK};
use crate::barrier::Barrier;
use crate::cycle;
use crate::heap::cache::{AllocCache, Slot};
use crate::heap::span::Span;
use crate::heap::{Located, OutOfMemory};
use crate::mutator::handle::{Global, Handle};
use crate::object::{Ref, Shape, META_TINY};
use crate::size_class::{class_words, SpanClass, TINY_CLASS};
use crate::sync::Ordering::*;
use crate::telemetry::CycleReason;
use crate::world::FLAG_MARKING;

/// Panics with an out-of-memory error (kept out of line, off the fast path).
#[cold]
#[inline(never)]
fn out_of_memory(e: OutOfMemory) -> ! {
    panic!("collector: {e}")
}

/// The shape of a 16-byte tiny block.
const TINY_BLOCK: Shape = Shape::new("tiny block", 0, 2);

/// The flags that send an allocation off the fast path: a poll bit (a pause or handshake
/// requested, shutdown) or marking (allocate-black).
pub(super) const ALLOC_SLOW: u32 = POLL_MASK | FLAG_MARKING;

/// Zeroes a new fast-path object of `shape` in `s` (unless its words are known zero) and
/// publishes its metadata. `s` was taken for `shape`'s span class (`cached_slot`,
/// `alloc_slot` with the class made from `shape`).
#[inline(always)]
pub(super) fn fill_slot(shape: &Shape, s: &Slot) {
    debug_assert!(shape.is_fast() && shape.words() <= shape.slot_words());
    if s.needzero {
        let zero = |i: usize| {
            // SAFETY: `s.words` is valid for its class's slot size (`cache::Slot`), the
            // slot size of `shape`'s class, which `shape.words()` does not exceed
            // (`object`'s invariant); every index below is under `shape.words()`.
            unsafe { s.words.add(i).as_ref() }.store(0, Relaxed)
        };
        // Two words a step: most objects are a few words, where a loop unrolled by eight
        // spends more on its remainder than on the stores.
        let n = shape.words();
        let mut i = 0;
        while i + 2 <= n {
            zero(i);
            zero(i + 1);
            i += 2;
        }
        if i < n {
            zero(i);
        }
    }
    // SAFETY: `s.meta` is the slot's metadata word, inside the span's (`cache::Slot`).
    Span::publish_meta(unsafe { s.meta.as_ref() }, shape.meta());
}

/// Clears a mutator's wait for a cycle's start in the registry when the wait ends (also
/// on unwinding).
#[cfg(not(loom))]
struct AwaitingStart<'a, B: Barrier>(&'a Mutator<B>);

#[cfg(not(loom))]
impl<B: Barrier> Drop for AwaitingStart<'_, B> {
    fn drop(&mut self) {
        let m = self.0;
        m.core.world.awaiting_cycle_start(&m.shared, false);
    }
}

impl<B: Barrier> Mutator<B> {
    /// Runs `f` on this mutator's allocation cache. Callers are the owning thread,
    /// running (allocation goes through `running`).
    #[inline(always)]
    fn with_cache<R>(&self, f: impl FnOnce(&mut AllocCache) -> R) -> R {
        // SAFETY: the cache is touched by its owner while running (the only callers) and
        // by the collector only while the world is stopped, so this access is exclusive.
        self.shared.cache.with_mut(|c| f(unsafe { &mut *c }))
    }

    /// Sets the mark bit of a new object while marking is on (allocate-black).
    #[inline(always)]
    pub(super) fn allocate_black(&self, span: &Span, slot: usize) {
        if self.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
            span.try_mark(slot);
        }
    }

    /// Allocates a zeroed object of `shape` and returns a handle to it.
    ///
    /// Zero-sized shapes all return the one zero-sized sentinel; one-word pointer-free
    /// shapes share 16-byte tiny blocks; objects over 32 KiB get a span of their own.
    ///
    /// Panics with the [`OutOfMemory`] message if the heap has a cap
    /// (`HeapConfig::heap_limit`) that even a full cycle cannot make room under; use
    /// [`Mutator::try_alloc`] to handle that as an error.
    #[inline(always)]
    pub fn alloc(&self, shape: &Shape) -> Handle<'_, B> {
        if self.alloc_fast_ok(shape, self.core.flags.load(Relaxed))
            && self.shared.blocking_depth.get() == 0
        {
            if let Some((span, s)) = self.cached_slot(shape) {
                return self.init_object::<false>(shape, span, s);
            }
        }
        self.alloc_slow(shape)
    }

    /// Every allocation the fast path does not serve (see the module documentation).
    #[inline(never)]
    fn alloc_slow(&self, shape: &Shape) -> Handle<'_, B> {
        self.poll_for_alloc();
        if self.shared.blocking_depth.get() != 0 {
            return self.running(|| self.alloc_running(shape));
        }
        self.alloc_running(shape)
    }

    /// Whether an allocation of `shape` may take the fast path, given the heap's flags
    /// `flags` loaded before the slot is taken.
    #[inline(always)]
    pub(super) fn alloc_fast_ok(&self, shape: &Shape, flags: u32) -> bool {
        shape.is_fast() && flags & ALLOC_SLOW == 0
    }

    /// A slot for a fast-path `shape` from the cache's current window (no refill, nor
    /// the move to the next window), and its span.
    #[inline(always)]
    pub(super) fn cached_slot(&self, shape: &Shape) -> Option<(&Span, Slot)> {
        let sc = SpanClass::new(shape.size_class(), shape.is_noscan());
        let s = self.with_cache(|c| c.alloc_fast(sc))?;
        // SAFETY: cached span pointers name spans in use, which retirement (free spans
        // only, `heap::retire`) never frees while cached.
        Some((unsafe { &*s.span }, s))
    }

    /// Allocates like [`Mutator::alloc`], but returns an [`OutOfMemory`] error when the
    /// allocation would take the heap past its cap even after a full cycle (Go would
    /// stop the program with "out of memory"; the testbed lets the caller decide).
    #[inline]
    pub fn try_alloc(&self, shape: &Shape) -> Result<Handle<'_, B>, OutOfMemory> {
        self.poll_for_alloc();
        let h = if self.shared.blocking_depth.get() != 0 {
            self.running(|| self.try_alloc_running(shape))
        } else {
            self.try_alloc_running(shape)
        };
        h.ok_or_else(|| {
            self.out_of_memory
                .take()
                .expect("collector: internal error: an allocation failed without a reason")
        })
    }

    #[inline(always)]
    pub(super) fn poll_for_alloc(&self) {
        if self.core.flags.load(Relaxed) & POLL_MASK != 0 {
            self.poll_slow();
        }
    }

    /// The infallible allocation (its refills panic on out-of-memory). It returns the
    /// handle itself, not an `Option`: a handle moved through an `Option` costs a
    /// store-forwarding stall per allocation (measured: 17 → 30 ns).
    #[inline(always)]
    fn alloc_running(&self, shape: &Shape) -> Handle<'_, B> {
        if !shape.is_fast() {
            let Some(h) = self.alloc_special::<false>(shape) else {
                unreachable!("an infallible allocation returned no object")
            };
            return h;
        }
        let sc = SpanClass::new(shape.size_class(), shape.is_noscan());
        let Some((span, s)) = self.alloc_slot::<false>(sc) else {
            unreachable!("an infallible allocation returned no slot")
        };
        self.init_object::<true>(shape, span, s)
    }

    /// The fallible allocation: `None` (the reason left in `out_of_memory`) when the heap
    /// cap refuses it.
    fn try_alloc_running(&self, shape: &Shape) -> Option<Handle<'_, B>> {
        if !shape.is_fast() {
            return self.alloc_special::<true>(shape);
        }
        let sc = SpanClass::new(shape.size_class(), shape.is_noscan());
        let (span, s) = self.alloc_slot::<true>(sc)?;
        Some(self.init_object::<true>(shape, span, s))
    }

    /// Zeroes a new small object in `slot` of `span` (unless its words are known zero),
    /// records its shape, blackens it if `MAY_MARK` and marking (the fast path passes
    /// false: it saw marking off), and returns a handle to it.
    #[inline(always)]
    fn init_object<'m, const MAY_MARK: bool>(
        &'m self,
        shape: &Shape,
        span: &'m Span,
        s: Slot,
    ) -> Handle<'m, B> {
        let base = s.slot * shape.slot_words();
        fill_slot(shape, &s);
        if MAY_MARK {
            self.allocate_black(span, s.slot);
        }
        let r = s.r;
        Handle::new(
            self,
            self.push_root(r),
            r,
            span,
            base,
            shape.ptr_slots(),
            shape.words() as u32,
        )
    }

    /// Tiny, zero-sized and large allocations.
    #[inline(never)]
    pub(super) fn alloc_special<const FALLIBLE: bool>(
        &self,
        shape: &Shape,
    ) -> Option<Handle<'_, B>> {
        let (r, loc) = if shape.is_tiny() {
            self.alloc_tiny::<FALLIBLE>()?
        } else if shape.is_zero_sized() {
            return Some(self.global_handle(self.core.space.zero_sentinel));
        } else {
            self.alloc_large::<FALLIBLE>(shape)?
        };
        self.allocate_black(loc.span, r.slot());
        Some(Handle::located(self, self.push_root(r), r, loc))
    }

    /// Takes a free slot of `sc` from the cache, refilling it as needed, and its span.
    #[inline(always)]
    pub(super) fn alloc_slot<const FALLIBLE: bool>(&self, sc: SpanClass) -> Option<(&Span, Slot)> {
        loop {
            if let Some(s) = self.with_cache(|c| c.alloc(sc)) {
                // SAFETY: cached span pointers name spans in use, which retirement
                // (free spans only, `heap::retire`) never frees while cached.
                return Some((unsafe { &*s.span }, s));
            }
            // An infallible allocation's refill panics rather than fail, so its fast
            // path has no failure branch.
            if FALLIBLE {
                self.refill::<true>(sc)?;
            } else {
                let _ = self.refill::<false>(sc);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn refill<const FALLIBLE: bool>(&self, sc: SpanClass) -> Option<()> {
        let space = &self.core.space;
        if let Some(full) = self.with_cache(|c| c.take(sc)) {
            // SAFETY: as in `alloc_slot`.
            space.uncache(unsafe { &*full });
        }
        self.maybe_collect();
        let pages = crate::size_class::class_pages(sc.size_class(), space.page_bytes);
        self.make_room::<FALLIBLE>(pages * space.page_bytes)?;
        // The assist comes before the span, as Go's `mallocgc` assists before it
        // allocates: a parked assist blocks this mutator, and a cycle beginning meanwhile
        // would empty the cache this refill fills. It is charged for the span's whole
        // capacity; what the span already holds is credited back once it is known.
        let elem_bytes = class_words(sc.size_class()) * crate::object::WORD_BYTES;
        let capacity = pages * space.page_bytes / elem_bytes * elem_bytes;
        let marking = self.core.flags.load(Relaxed) & FLAG_MARKING != 0;
        if marking {
            self.charge_assist(capacity);
        }
        let span = space.refill(sc);
        self.with_cache(|c| c.install(sc, span));
        if marking {
            let free = (span.nslots() - span.allocated_count()) * elem_bytes;
            self.credit_assist(capacity.saturating_sub(free));
        }
        Some(())
    }

    /// Enforces the heap cap before the heap grows by up to `bytes`: if that would pass
    /// it, runs a full cycle (sweep included) and checks again.
    fn make_room<const FALLIBLE: bool>(&self, bytes: usize) -> Option<()> {
        let Some(limit) = self.core.config.heap_limit else {
            return Some(());
        };
        let fits = || self.core.space.heap_live().saturating_add(bytes) <= limit;
        if fits() {
            return Some(());
        }
        // Inside a scope no cycle may run (its references are not roots): the cap refuses
        // at once (`mutator::scope`); so it does on a thread whose mutator of another heap
        // is inside one (`Mutator::wait_for_collector`).
        if self
            .wait_for_collector(|| cycle::collect(&self.core, CycleReason::HeapLimit))
            .is_some()
            && fits()
        {
            return Some(());
        }
        let e = OutOfMemory {
            requested_bytes: bytes,
            heap_bytes: self.core.space.heap_live(),
            limit_bytes: limit,
        };
        if !FALLIBLE {
            out_of_memory(e);
        }
        self.out_of_memory.set(Some(e));
        None
    }

    /// Starts an automatic cycle if the heap has reached its goal (also when a scope ends:
    /// the cycles its allocations deferred).
    pub(super) fn maybe_collect(&self) {
        // GOGC=off without a memory limit: the goal and trigger are usize::MAX.
        let live = self.core.space.heap_live();
        #[cfg(not(loom))]
        if self.core.config.concurrent {
            // Go's trigger: the background GC thread runs the cycle while this mutator
            // goes on allocating (paying assists).
            // While a mark runs no cycle is started (Go's `gcTrigger.test` is false
            // outside `_GCoff`): asking would only take the GC thread's mailbox lock,
            // three times a refill for as long as the heap stays above the trigger.
            if self.core.flags.load(Relaxed) & FLAG_MARKING == 0
                && live >= cycle::start_threshold(&self.core)
            {
                let bg = &self.core.background;
                let seen = bg.starts();
                cycle::service::request_background(&self.core);
                // Go starts the cycle on the allocating goroutine itself (`gcStart`
                // returns once marking is on); here the GC thread does, so the mutator
                // that crosses the trigger waits for marking to begin (from then on
                // assists pace it) rather than outrun a GC thread that has not been
                // scheduled yet: on a busy machine that ran the heap to its goal before
                // the mark began. If a cycle is ending (its mark is over, the thread has
                // not taken a new request yet), this asks for the next one and waits for
                // it to begin. A scope never waits, nor a thread whose mutator of
                // another heap is inside one (`Mutator::wait_for_collector`).
                // While it waits it counts as running when the mark's workers are
                // planned, as Go's allocating goroutine does (`Stopped::running_mutators`).
                if self.core.flags.load(Relaxed) & FLAG_MARKING == 0 {
                    bg.request_again();
                    if !self.in_scope() {
                        let world = &self.core.world;
                        world.awaiting_cycle_start(&self.shared, true);
                        let _back = AwaitingStart(self);
                        self.wait_for_collector(|| bg.wait_started_after(seen));
                    }
                }
            }
            return;
        }
        // Inside a scope the cycle waits for the scope to end (`mutator::scope`); with a
        // mutator of another heap inside a scope, for the next allocation after it ends.
        if live >= cycle::start_threshold(&self.core) {
            self.wait_for_collector(|| cycle::collect(&self.core, CycleReason::Automatic));
        }
    }

    fn alloc_large<const FALLIBLE: bool>(&self, shape: &Shape) -> Option<(Ref, Located<'_>)> {
        self.maybe_collect();
        let bytes = (shape.words() * crate::object::WORD_BYTES)
            .div_ceil(self.core.space.page_bytes)
            * self.core.space.page_bytes;
        // The assist comes first, as in Go's mallocgc: past the hard goal it may wait for
        // the cycle to end. Were the object allocated before that wait, it would be
        // counted live and its span swept in the new generation, yet left unmarked (it
        // is blackened after this returns, by then with marking off): freed under the
        // handle about to be made for it.
        if self.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
            self.charge_assist(shape.words() * crate::object::WORD_BYTES);
        }
        self.make_room::<FALLIBLE>(bytes)?;
        // From here to `allocate_black` there is no safepoint.
        let span = self.core.space.alloc_large(shape);
        let loc = Located {
            span,
            base: 0,
            ptr_slots: shape.ptr_slots(),
            words: shape.words() as u32,
        };
        Some((Ref::new(span.index, 0, 0), loc))
    }

    fn alloc_tiny<const FALLIBLE: bool>(&self) -> Option<(Ref, Located<'_>)> {
        let cur = self.with_cache(|c| c.tiny.take());
        if let Some(tb) = cur {
            // SAFETY: the tiny block's span came from the span table and holds the block's
            // object, so it is in use, and retirement takes free spans only
            // (`heap::retire`).
            let span = unsafe { &*tb.span };
            let loc = Located {
                span,
                base: span.slot_base(tb.slot) + 1,
                ptr_slots: 0,
                words: 1,
            };
            return Some((Ref::new(span.index, tb.slot, 1), loc));
        }
        let (span, Slot { slot, needzero, .. }) =
            self.alloc_slot::<FALLIBLE>(SpanClass::new(TINY_CLASS, true))?;
        let base = slot * class_words(TINY_CLASS);
        if needzero {
            span.zero_words(base, 2);
        }
        span.set_meta(slot, TINY_BLOCK.meta() | META_TINY);
        let block = crate::heap::cache::TinyBlock { span, slot };
        self.with_cache(|c| c.tiny = Some(block));
        let loc = Located {
            span,
            base,
            ptr_slots: 0,
            words: 1,
        };
        Some((Ref::new(span.index, slot, 0), loc))
    }

    /// Resolves a reference known to be live (a global or the sentinel).
    fn locate_known(&self, r: Ref) -> (Ref, Located<'_>) {
        let loc = self
            .core
            .space
            .locate(r)
            .unwrap_or_else(|e| panic!("collector: internal error: {r}: {e}"));
        (r, loc)
    }

    /// Allocates an immortal object in the globals space (Go's package-level variables):
    /// never collected, its reference slots scanned as roots every cycle. Any mutator of
    /// the heap can reach it through [`Mutator::global`].
    pub fn alloc_global(&self, shape: &Shape) -> Global {
        self.safepoint();
        let r = self.running(|| self.core.space.alloc_immortal(shape));
        Global::new(self.core.id, r)
    }

    /// A handle to global `g`. Panics if `g` belongs to another heap.
    pub fn global(&self, g: &Global) -> Handle<'_, B> {
        self.core.check_live();
        if g.heap_id() != self.core.id {
            panic!("collector: the global belongs to a different heap");
        }
        self.running(|| self.global_handle(g.reference()))
    }

    /// A handle to an immortal object (a global or the sentinel).
    fn global_handle(&self, r: Ref) -> Handle<'_, B> {
        let (r, loc) = self.locate_known(r);
        Handle::located(self, self.push_root(r), r, loc)
    }
}
