//! Mutators: the threads that allocate and mutate the heap, their handles (roots),
//! safepoint polling, the blocking state, and the heap core they all share.
//!
//! A [`Mutator`] belongs to one thread (it is neither `Send` nor `Sync`). Its root table
//! and allocation cache live in a [`MutatorShared`] that the collector reads only while
//! the world is stopped (see [`world::Stopped`]) — the access protocol every `unsafe`
//! block here relies on.

pub(crate) mod handle;
pub(crate) mod roots;
pub(crate) mod world;

use crate::barrier::{Barrier, Hybrid};
use crate::config::{Gogc, HeapConfig};
use crate::heap::cache::AllocCache;
use crate::heap::span::Span;
use crate::heap::{Located, Space};
use crate::mark::pool::{DefaultPool, GreyPool, BATCH};
use crate::object::{Ref, Shape, META_TINY};
use crate::size_class::{class_words, SpanClass, TINY_CLASS};
use crate::sync::{lock, Arc, AtomicBool, AtomicU32, AtomicUsize, Mutex, Ordering::*, UnsafeCell};
use crate::telemetry::{CycleReason, Telemetry};
use handle::{Global, Handle};
use roots::RootTable;
use std::cell::Cell;
use std::marker::PhantomData;
use world::{Exclusive, Stopped, World, FLAG_HANDSHAKE, FLAG_MARKING, FLAG_SHUTDOWN, FLAG_STOP};

/// The shape of a 16-byte tiny block.
const TINY_BLOCK: Shape = Shape::new("tiny block", 0, 2);

/// The state every mutator and collector thread of one heap shares.
pub(crate) struct HeapCore {
    /// A process-unique id, so handles of another heap are recognised.
    pub(crate) id: u64,
    pub(crate) config: HeapConfig,
    /// `FLAG_*` bits that the fast paths poll with one relaxed load.
    pub(crate) flags: AtomicU32,
    pub(crate) space: Space,
    pub(crate) world: World,
    pub(crate) telemetry: Telemetry,
    /// Held by the thread running a cycle.
    pub(crate) cycle_lock: Mutex<()>,
    /// The heap size at which the next automatic cycle starts.
    pub(crate) goal: AtomicUsize,
    /// References shaded by write barriers, handed over in batches, not yet marked.
    pub(crate) shaded: DefaultPool,
    /// The heap's write barrier (mutators carry it as a type too).
    pub(crate) barrier: crate::barrier::BarrierKind,
    /// Runs one cycle; installed by the layer above (`cycle`), so this layer need not
    /// import it.
    pub(crate) collect: fn(&HeapCore, CycleReason),
}

impl HeapCore {
    /// Panics if the heap has been shut down.
    #[inline(always)]
    pub(crate) fn check_live(&self) {
        if self.flags.load(Relaxed) & FLAG_SHUTDOWN != 0 {
            shut_down_panic();
        }
    }
}

#[cold]
#[inline(never)]
pub(crate) fn shut_down_panic() -> ! {
    panic!("collector: the heap has been shut down; its mutators and handles can no longer be used")
}

/// The parts of a mutator the collector reads during a handshake.
pub(crate) struct MutatorShared {
    /// A heap-unique id, for diagnostics.
    pub(crate) id: usize,
    roots: UnsafeCell<RootTable>,
    cache: UnsafeCell<AllocCache>,
    /// The write-barrier buffer (Go's `wbBuf`): references the barrier shaded, not yet
    /// handed to the collector. Owner-only, like the roots.
    wbuf: UnsafeCell<Vec<Ref>>,
    /// Whether this cycle's mark has scanned this mutator's roots (the hybrid barrier
    /// shades new values until then).
    pub(crate) roots_scanned: AtomicBool,
    /// Handshake requests (`REQ_*`) the collector is waiting for this mutator to serve.
    pub(crate) requests: AtomicU32,
}

/// Handshake request: scan your roots (hand them to the collector as shaded references).
pub(crate) const REQ_SCAN: u32 = 1;
/// Handshake request: hand your write-barrier buffer to the collector.
pub(crate) const REQ_FLUSH: u32 = 2;

/// The flags a safepoint poll acts on (marking alone needs no poll).
const POLL_MASK: u32 = FLAG_STOP | FLAG_SHUTDOWN | FLAG_HANDSHAKE;

/// Serves the pending requests of `m`, whose private state `w` gives access to (the
/// mutator itself while running, or the collector holding it blocked).
fn serve_requests(core: &HeapCore, m: &MutatorShared, w: &impl Exclusive) {
    let req = m.requests.swap(0, AcqRel);
    if req == 0 {
        return;
    }
    if req & REQ_SCAN != 0 {
        let roots: Vec<Ref> = m.roots_stopped(w, |t| t.iter().map(|(_, r)| r).collect());
        if !roots.is_empty() {
            core.shaded.put(roots);
        }
        m.roots_scanned.store(true, Release);
    }
    let wbuf = m.take_wbuf_stopped(w);
    if !wbuf.is_empty() {
        core.shaded.put(wbuf);
    }
    core.world.note_change();
}

/// Serves the requests of a blocked mutator the collector holds.
pub(crate) fn serve_for(core: &HeapCore, claim: &world::Claim<'_>) {
    serve_requests(core, &claim.m, claim);
}

/// The owning thread's access to its own mutator's private state, while running.
struct Owner<'a>(&'a MutatorShared);

impl Exclusive for Owner<'_> {
    fn covers(&self, m: &MutatorShared) -> bool {
        std::ptr::eq(self.0, m)
    }
}

// SAFETY: the cells are touched by the owning thread only while it is running, and by the
// collector only while it holds `Stopped` (no mutator running, none can start); the world
// lock's acquire/release orders the two.
unsafe impl Send for MutatorShared {}
// SAFETY: as for `Send`.
unsafe impl Sync for MutatorShared {}

impl MutatorShared {
    /// Calls `f` on the mutator's root table; `w` proves the owner is not running.
    pub(crate) fn roots_stopped<R>(
        &self,
        w: &impl Exclusive,
        f: impl FnOnce(&RootTable) -> R,
    ) -> R {
        assert!(
            w.covers(self),
            "collector: exclusive access to the wrong mutator"
        );
        // SAFETY: `w` proves the owner is stopped or blocked and held (module protocol).
        self.roots.with(|r| f(unsafe { &*r }))
    }

    /// Takes the mutator's write-barrier buffer; `w` proves the owner is not running.
    pub(crate) fn take_wbuf_stopped(&self, w: &impl Exclusive) -> Vec<Ref> {
        assert!(
            w.covers(self),
            "collector: exclusive access to the wrong mutator"
        );
        // SAFETY: `w` proves the owner is stopped or blocked and held (module protocol).
        self.wbuf.with_mut(|b| std::mem::take(unsafe { &mut *b }))
    }

    /// Empties the mutator's allocation cache; the world is stopped.
    pub(crate) fn flush_cache_stopped(&self, _w: &Stopped<'_>, space: &Space) {
        // SAFETY: `Stopped` proves the owner is not running (module protocol).
        self.cache
            .with_mut(|c| unsafe { &mut *c }.flush(|s| space.uncache(s)));
    }
}

/// A thread's access to a heap: it allocates, holds handles, and mutates objects.
///
/// Create one per thread with [`crate::Heap::mutator`]. It polls for safepoints when it
/// allocates and at [`Mutator::safepoint`]; a thread that runs long without either delays
/// every stop-the-world pause (the testbed has no asynchronous preemption). Wrap sleeping,
/// I/O or other waiting in [`Mutator::blocking`] so the collector need not wait for it.
///
/// `B` is the heap's write barrier ([`Hybrid`] unless the heap was made with another).
pub struct Mutator<B: Barrier = Hybrid> {
    pub(crate) core: Arc<HeapCore>,
    shared: Arc<MutatorShared>,
    blocking_depth: Cell<u32>,
    _not_send: PhantomData<(*const (), B)>,
}

/// Re-enters the blocking state when dropped (also on unwinding).
/// Restores the saved blocking depth too: inside `running` the depth is 0, so a nested
/// `blocking` (such as an automatic cycle started by an allocation) really blocks.
struct Reblock<'a, B: Barrier>(&'a Mutator<B>, u32);

impl<B: Barrier> Drop for Reblock<'_, B> {
    fn drop(&mut self) {
        self.0.blocking_depth.set(self.1);
        self.0.core.world.enter_blocking(&self.0.shared);
    }
}

/// Leaves the blocking state when dropped (also on unwinding).
struct Unblock<'a, B: Barrier>(&'a Mutator<B>);

impl<B: Barrier> Drop for Unblock<'_, B> {
    fn drop(&mut self) {
        self.0.blocking_depth.set(self.0.blocking_depth.get() - 1);
        if self.0.blocking_depth.get() == 0 {
            self.0.core.world.exit_blocking(&self.0.shared);
        }
    }
}

impl<B: Barrier> Mutator<B> {
    pub(crate) fn new(core: Arc<HeapCore>) -> Mutator<B> {
        core.check_live();
        world::claim_thread(core.id);
        let shared = Arc::new(MutatorShared {
            id: core.world.next_id(),
            roots: UnsafeCell::new(RootTable::default()),
            cache: UnsafeCell::new(AllocCache::new()),
            wbuf: UnsafeCell::new(Vec::new()),
            roots_scanned: AtomicBool::new(false),
            requests: AtomicU32::new(0),
        });
        core.world.register(shared.clone());
        // Registered during a mark: its roots are empty, so they count as scanned.
        if core.flags.load(Acquire) & FLAG_MARKING != 0 {
            shared.roots_scanned.store(true, Release);
        }
        Mutator {
            core,
            shared,
            blocking_depth: Cell::new(0),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this mutator running: re-enters the running state for the call if it
    /// is inside [`Mutator::blocking`].
    #[inline(always)]
    pub(crate) fn running<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.blocking_depth.get() == 0 {
            return f();
        }
        #[cfg(all(test, not(loom)))]
        tests::before_unblock();
        self.core.world.exit_blocking(&self.shared);
        let _reblock = Reblock(self, self.blocking_depth.replace(0));
        f()
    }

    /// Whether `other`'s heap is this mutator's heap.
    #[inline(always)]
    pub(crate) fn same_heap<C: Barrier>(&self, other: &Mutator<C>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// Runs `f` on this mutator's allocation cache. Callers are the owning thread,
    /// running (allocation goes through `running`).
    #[inline(always)]
    fn with_cache<R>(&self, f: impl FnOnce(&mut AllocCache) -> R) -> R {
        // SAFETY: the cache is touched by its owner while running (the only callers) and
        // by the collector only while the world is stopped, so this access is exclusive.
        self.shared.cache.with_mut(|c| f(unsafe { &mut *c }))
    }

    /// The write barrier's slow path: records the references `B` says to shade for a
    /// store of `new` over `old` (marking is on; the caller is running).
    #[cold]
    #[inline(never)]
    pub(crate) fn shade_for_store(&self, old: usize, new: usize) {
        let scanned = self.shared.roots_scanned.load(Acquire);
        for w in B::shade(old, new, scanned) {
            if let Some(r) = Ref::from_word(w) {
                self.record_shade(r);
            }
        }
    }

    fn record_shade(&self, r: Ref) {
        let full = self.shared.wbuf.with_mut(|b| {
            // SAFETY: the buffer is owner-only while running, like the roots (`push_root`).
            let b = unsafe { &mut *b };
            b.push(r);
            (b.len() >= BATCH).then(|| std::mem::take(b))
        });
        if let Some(batch) = full {
            self.core.shaded.put(batch);
        }
    }

    /// Sets the mark bit of a new object while marking is on (allocate-black).
    #[inline(always)]
    fn allocate_black(&self, span: &Span, slot: usize) {
        if self.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
            span.try_mark(slot);
        }
    }

    #[inline(always)]
    pub(crate) fn push_root(&self, r: Ref) -> u32 {
        // SAFETY: only the owning thread calls this, while running (callers go through
        // `running` or are already running); the collector reads roots only when stopped.
        self.shared.roots.with_mut(|t| unsafe { &mut *t }.push(r))
    }

    #[inline(always)]
    pub(crate) fn clear_root(&self, i: u32) {
        self.running(|| {
            // SAFETY: as in `push_root`.
            self.shared.roots.with_mut(|t| unsafe { &mut *t }.clear(i))
        })
    }

    /// The number of handles this mutator holds.
    pub fn live_handles(&self) -> usize {
        // SAFETY: as in `push_root`; reading needs the same exclusivity.
        self.running(|| self.shared.roots.with(|t| unsafe { &*t }.live()))
    }

    /// A safepoint: parks here while a stop-the-world pause is in progress.
    #[inline(always)]
    pub fn safepoint(&self) {
        if self.core.flags.load(Relaxed) & POLL_MASK != 0 {
            self.poll_slow();
        }
    }

    #[cold]
    fn poll_slow(&self) {
        let f = self.core.flags.load(Relaxed);
        if f & FLAG_SHUTDOWN != 0 {
            shut_down_panic();
        }
        if self.blocking_depth.get() != 0 {
            return;
        }
        if f & FLAG_STOP != 0 {
            self.core.world.park();
        }
        if f & FLAG_HANDSHAKE != 0 {
            serve_requests(&self.core, &self.shared, &Owner(&self.shared));
        }
    }

    /// Runs `f` in the blocking state (Go's "in a system call"): the collector neither
    /// waits for this thread nor stops it, so `f` may sleep or wait indefinitely without
    /// delaying a pause. A heap access inside `f` re-enters the running state for that
    /// access (waiting out a pause in progress).
    pub fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.blocking_depth.get() == 0 {
            self.core.world.enter_blocking(&self.shared);
        }
        self.blocking_depth.set(self.blocking_depth.get() + 1);
        let _unblock = Unblock(self);
        f()
    }

    /// Runs one full collection cycle, as Go's `runtime.GC()`: it runs even when
    /// automatic collection is off, and returns when the cycle (sweep included) is done.
    pub fn gc(&self) {
        self.core.check_live();
        self.blocking(|| (self.core.collect)(&self.core, CycleReason::Forced));
    }

    /// Allocates a zeroed object of `shape` and returns a handle to it.
    ///
    /// Zero-sized shapes all return the one zero-sized sentinel; one-word pointer-free
    /// shapes share 16-byte tiny blocks; objects over 32 KiB get a span of their own.
    #[inline(always)]
    pub fn alloc(&self, shape: &Shape) -> Handle<'_, B> {
        if self.core.flags.load(Relaxed) & POLL_MASK != 0 {
            self.poll_slow();
        }
        if self.blocking_depth.get() != 0 {
            return self.running(|| self.alloc_running(shape));
        }
        self.alloc_running(shape)
    }

    #[inline(always)]
    fn alloc_running(&self, shape: &Shape) -> Handle<'_, B> {
        if !shape.is_fast() {
            return self.alloc_special(shape);
        }
        let (span, slot) = self.alloc_slot(SpanClass::new(shape.size_class(), shape.is_noscan()));
        let base = slot * shape.slot_words();
        span.zero_words(base, shape.words());
        span.set_meta(slot, shape.meta());
        self.allocate_black(span, slot);
        let r = Ref::new(span.index, slot, 0);
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
    fn alloc_special(&self, shape: &Shape) -> Handle<'_, B> {
        let (r, loc) = if shape.is_tiny() {
            self.alloc_tiny()
        } else if shape.is_zero_sized() {
            return self.global_handle(self.core.space.zero_sentinel);
        } else {
            self.alloc_large(shape)
        };
        self.allocate_black(loc.span, r.slot());
        Handle::located(self, self.push_root(r), r, loc)
    }

    /// Takes a free slot of `sc` from the cache, refilling it as needed.
    #[inline(always)]
    fn alloc_slot(&self, sc: SpanClass) -> (&Span, usize) {
        loop {
            if let Some((span, slot)) = self.with_cache(|c| c.alloc(sc)) {
                // SAFETY: cached span pointers point into the span table, which lives as
                // long as `self.core`, which `&self` keeps alive.
                return (unsafe { &*span }, slot);
            }
            self.refill(sc);
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&self, sc: SpanClass) {
        let space = &self.core.space;
        if let Some(full) = self.with_cache(|c| c.take(sc)) {
            // SAFETY: as in `alloc_slot`.
            space.uncache(unsafe { &*full });
        }
        self.maybe_collect();
        let span = space.refill(sc);
        self.with_cache(|c| c.install(sc, span));
    }

    /// Starts an automatic cycle if the heap has reached its goal.
    fn maybe_collect(&self) {
        if self.core.config.gogc == Gogc::Off {
            return;
        }
        if self.core.space.heap_live() >= self.core.goal.load(Relaxed) {
            self.blocking(|| (self.core.collect)(&self.core, CycleReason::Automatic));
        }
    }

    fn alloc_large(&self, shape: &Shape) -> (Ref, Located<'_>) {
        self.maybe_collect();
        let span = self.core.space.alloc_large(shape);
        let loc = Located {
            span,
            base: 0,
            ptr_slots: shape.ptr_slots(),
            words: shape.words() as u32,
        };
        (Ref::new(span.index, 0, 0), loc)
    }

    fn alloc_tiny(&self) -> (Ref, Located<'_>) {
        let cur = self.with_cache(|c| c.tiny.take());
        if let Some(tb) = cur {
            // SAFETY: the tiny block's span came from the span table, whose spans live as
            // long as `self.core`, which `&self` keeps alive.
            let span = unsafe { &*tb.span };
            let loc = Located {
                span,
                base: span.slot_base(tb.slot) + 1,
                ptr_slots: 0,
                words: 1,
            };
            return (Ref::new(span.index, tb.slot, 1), loc);
        }
        let (span, slot) = self.alloc_slot(SpanClass::new(TINY_CLASS, true));
        let base = slot * class_words(TINY_CLASS);
        span.zero_words(base, 2);
        span.set_meta(slot, TINY_BLOCK.meta() | META_TINY);
        let block = crate::heap::cache::TinyBlock { span, slot };
        self.with_cache(|c| c.tiny = Some(block));
        let loc = Located {
            span,
            base,
            ptr_slots: 0,
            words: 1,
        };
        (Ref::new(span.index, slot, 0), loc)
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

    /// Creates a handle for reference `r` read from the heap, or panics with why `r`
    /// names no live object (a stale reference: something freed an object that was still
    /// reachable).
    #[inline]
    pub(crate) fn handle_for(&self, r: Ref, from: &dyn Fn() -> String) -> Handle<'_, B> {
        match self.core.space.locate(r) {
            Ok(loc) => Handle::located(self, self.push_root(r), r, loc),
            Err(e) => stale_panic(r, e, from()),
        }
    }
}

#[cold]
#[inline(never)]
fn stale_panic(r: Ref, e: crate::heap::BadRef, from: String) -> ! {
    panic!("collector: use of a freed object: the reference {r} read from {from} is stale ({e})")
}

impl<B: Barrier> Drop for Mutator<B> {
    fn drop(&mut self) {
        world::release_thread(self.core.id);
        let shared = self.shared.clone();
        let space = &self.core.space;
        // Hand over what the barrier recorded; a pending request is moot once gone.
        shared.requests.store(0, Release);
        let wbuf = shared.take_wbuf_stopped(&Owner(&shared));
        if !wbuf.is_empty() {
            self.core.shaded.put(wbuf);
        }
        self.core.world.unregister(&shared, || {
            // SAFETY: the owner (this thread) is running and about to leave; the collector
            // cannot be stopped-world now (we hold the registry lock with no pause on).
            shared
                .cache
                .with_mut(|c| unsafe { &mut *c }.flush(|s| space.uncache(s)));
        });
    }
}

/// Takes the cycle lock; `None` if `try_only` and another thread holds it.
pub(crate) fn cycle_guard(
    core: &HeapCore,
    try_only: bool,
) -> Option<crate::sync::MutexGuard<'_, ()>> {
    if try_only {
        match core.cycle_lock.try_lock() {
            Ok(g) => Some(g),
            Err(crate::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(crate::sync::TryLockError::WouldBlock) => None,
        }
    } else {
        Some(lock(&core.cycle_lock))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! The write barriers' slow path and allocate-black, driven by setting the marking
    //! flag by hand (the concurrent mark that sets it comes with the concurrent cycle).

    use super::*;
    use crate::barrier::{Dijkstra, NoBarrier, Yuasa};
    use crate::{Heap, HeapConfig};
    use std::sync::mpsc;

    thread_local! {
        /// Runs (once) when a mutator of this thread is about to leave the blocking state
        /// for a heap access: lets a test hold the thread in that window.
        static BEFORE_UNBLOCK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
            std::cell::RefCell::new(None);
    }

    pub(super) fn before_unblock() {
        if let Some(f) = BEFORE_UNBLOCK.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    /// A store made inside `blocking` just as a cycle starts must still run the barrier.
    /// Thread A deletes h → o inside `blocking` and is held just before it re-enters the
    /// running state; meanwhile the cycle begins and scans both mutators' roots, and
    /// thread B copies o into a new handle (a root already scanned). Then A's store
    /// proceeds: unless it sees that marking is on, o is lost.
    fn store_inside_blocking_across_cycle_start<B: Barrier>() -> u64 {
        let heap = Heap::<B>::with_barrier(HeapConfig {
            gogc: Gogc::Off,
            verify: true,
            concurrent: true,
            ..HeapConfig::default()
        })
        .unwrap();
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let (go_a_tx, go_a_rx) = mpsc::channel::<()>();
        let (go_b_tx, go_b_rx) = mpsc::channel::<()>();
        let (b_done_tx, b_done_rx) = mpsc::channel::<()>();
        let (end_tx, end_rx) = mpsc::channel::<()>();
        let (end_b_tx, end_b_rx) = mpsc::channel::<()>();
        let (g_tx, g_rx) = mpsc::channel();
        let h = heap.clone();
        let a = std::thread::spawn(move || {
            let m = h.mutator();
            let g = m.alloc_global(&NODE);
            let holder = m.alloc(&NODE);
            let o = m.alloc(&NODE);
            o.write(0, 42);
            holder.set(0, Some(&o));
            m.global(&g).set(0, Some(&holder));
            drop(o);
            g_tx.send(g).unwrap();
            BEFORE_UNBLOCK.with(|hook| {
                *hook.borrow_mut() = Some(Box::new(move || {
                    held_tx.send(()).unwrap();
                    go_a_rx.recv().unwrap();
                }))
            });
            m.blocking(|| holder.set(0, None));
            m.blocking(|| end_rx.recv().unwrap());
        });
        let g = g_rx.recv().unwrap();
        let h = heap.clone();
        let b = std::thread::spawn(move || {
            let m = h.mutator();
            m.blocking(|| go_b_rx.recv().unwrap());
            let o = m.global(&g).get(0).unwrap().get(0).expect("o still linked");
            b_done_tx.send(()).unwrap();
            // Hold o until the cycle is over.
            m.blocking(|| end_b_rx.recv().unwrap());
            o.read(0)
        });
        held_rx.recv().unwrap(); // A is inside blocking, about to store
        let mut cycle = heap.begin_cycle();
        cycle.scan_roots(); // both mutators are blocked: scanned by the collector
        go_b_tx.send(()).unwrap();
        b_done_rx.recv().unwrap(); // B holds o in a root scanned before it
        go_a_tx.send(()).unwrap();
        cycle.finish();
        end_tx.send(()).unwrap();
        end_b_tx.send(()).unwrap();
        a.join().unwrap();
        let data = b.join().unwrap();
        let lost = heap.stats().lost_objects;
        assert_eq!(data == 42, lost == 0, "a lost object reads as poison");
        lost
    }

    #[test]
    fn a_store_inside_blocking_runs_the_barrier_when_a_cycle_starts_meanwhile() {
        assert_eq!(store_inside_blocking_across_cycle_start::<Hybrid>(), 0);
        assert_eq!(store_inside_blocking_across_cycle_start::<Yuasa>(), 0);
    }

    static NODE: Shape = Shape::new("node", 1, 1);

    /// Stores `new` over `old` in a fresh object with marking on (roots scanned or not)
    /// and returns what the barrier recorded, in order.
    fn shaded<B: Barrier>(roots_scanned: bool) -> (Vec<Ref>, Ref, Ref) {
        let heap = Heap::<B>::with_barrier(HeapConfig {
            gogc: Gogc::Off,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let holder = m.alloc(&NODE);
        let old = m.alloc(&NODE);
        let new = m.alloc(&NODE);
        holder.set(0, Some(&old));
        m.shared.roots_scanned.store(roots_scanned, Relaxed);
        m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
        holder.set(0, Some(&new));
        m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
        // SAFETY: this thread owns the mutator and no cycle runs.
        let got = m.shared.wbuf.with(|b| unsafe { &*b }.clone());
        (got, old.reference(), new.reference())
    }

    #[test]
    fn each_barrier_records_what_it_must_shade() {
        let (got, old, new) = shaded::<Hybrid>(false);
        assert_eq!(got, vec![old, new], "hybrid, roots unscanned: old and new");
        let (got, old, _) = shaded::<Hybrid>(true);
        assert_eq!(got, vec![old], "hybrid, roots scanned: old only");
        let (got, _, new) = shaded::<Dijkstra>(true);
        assert_eq!(got, vec![new]);
        let (got, old, _) = shaded::<Yuasa>(false);
        assert_eq!(got, vec![old]);
        let (got, _, _) = shaded::<NoBarrier>(false);
        assert!(got.is_empty());
    }

    #[test]
    fn stores_while_marking_is_off_record_nothing() {
        let heap = Heap::new(HeapConfig::default()).unwrap();
        let m = heap.mutator();
        let a = m.alloc(&NODE);
        let b = m.alloc(&NODE);
        a.set(0, Some(&b));
        a.set(0, None);
        // SAFETY: this thread owns the mutator and no cycle runs.
        let empty = m.shared.wbuf.with(|w| unsafe { &*w }.is_empty());
        assert!(empty);
    }

    #[test]
    fn a_full_barrier_buffer_is_handed_to_the_grey_pool() {
        let heap = Heap::<Yuasa>::with_barrier(HeapConfig::default()).unwrap();
        let m = heap.mutator();
        let a = m.alloc(&NODE);
        // The first store overwrites null, so BATCH + 1 stores shade BATCH old values.
        let olds: Vec<_> = (0..=BATCH).map(|_| m.alloc(&NODE)).collect();
        m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
        for o in &olds {
            a.set(0, Some(o));
        }
        m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
        let batch = m.core.shaded.take().expect("one full batch");
        assert_eq!(batch.len(), BATCH);
        assert_eq!(batch[0], olds[0].reference());
        assert!(m.core.shaded.take().is_none());
    }

    #[test]
    fn objects_allocated_while_marking_are_black() {
        let heap = Heap::new(HeapConfig::default()).unwrap();
        let m = heap.mutator();
        let before = m.alloc(&NODE);
        m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
        let during = m.alloc(&NODE);
        let tiny = m.alloc(&Shape::new("int", 0, 1));
        let large = m.alloc(&Shape::new("big", 0, 5000));
        m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
        let marked = |h: &Handle<'_>| {
            let r = h.reference();
            m.core.space.span(r.span()).unwrap().is_marked(r.slot())
        };
        assert!(!marked(&before));
        assert!(marked(&during) && marked(&tiny) && marked(&large));
    }
}
