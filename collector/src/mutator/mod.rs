//! Mutators: the threads that allocate and mutate the heap, their handles (roots),
//! safepoint polling, the blocking state, and the heap core they all share.
//!
//! A [`Mutator`] belongs to one thread (it is neither `Send` nor `Sync`). Its root table
//! and allocation cache live in a [`MutatorShared`] that the collector reads only while
//! the world is stopped (see [`world::Stopped`]) — the access protocol every `unsafe`
//! block here relies on.

mod alloc;
pub(crate) mod handle;
pub(crate) mod roots;
pub(crate) mod world;

use crate::barrier::{Barrier, Hybrid};
use crate::config::HeapConfig;
use crate::heap::cache::AllocCache;
use crate::heap::Space;
use crate::mark::pool::{DefaultPool, GreyPool, BATCH};
use crate::object::Ref;
use crate::sync::{lock, Arc, AtomicBool, AtomicU32, AtomicUsize, Mutex, Ordering::*, UnsafeCell};
use crate::telemetry::{CycleReason, Telemetry};
use handle::Handle;
use roots::RootTable;
use std::cell::Cell;
use std::marker::PhantomData;
use world::{Exclusive, Stopped, World, FLAG_HANDSHAKE, FLAG_MARKING, FLAG_SHUTDOWN, FLAG_STOP};

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
    /// The grey pool, assist ledger and worker accounting of the mark.
    pub(crate) mark: crate::mark::state::MarkState,
    /// The heap size at which a concurrent heap's background cycle starts (Go's trigger,
    /// below the goal so that the mark can end near the goal).
    pub(crate) trigger: AtomicUsize,
    /// The heap's write barrier (mutators carry it as a type too).
    pub(crate) barrier: crate::barrier::BarrierKind,
    /// Runs one cycle; installed by the layer above (`cycle`), so this layer need not
    /// import it.
    pub(crate) collect: fn(&HeapCore, CycleReason),
    /// The background GC thread's mailbox (concurrent heaps, normal builds).
    pub(crate) background: std::sync::Arc<crate::background::Background>,
    /// The background sweeper's mailbox (concurrent heaps, normal builds).
    pub(crate) sweeper: std::sync::Arc<crate::background::Background>,
    /// Asks the background GC thread for a cycle, starting it if needed; installed by
    /// `cycle`.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) request_background: fn(&Arc<HeapCore>),
}

impl Drop for HeapCore {
    fn drop(&mut self) {
        self.background.stop();
        self.sweeper.stop();
        self.space.queues.finalizers.stop();
        self.space.queues.cleanups.stop();
    }
}

impl HeapCore {
    /// Panics if the calling thread's mutator of this heap is running: `what` (which
    /// waits for every running mutator) would otherwise wait for it forever.
    pub(crate) fn refuse_running_caller(&self, what: &str) {
        if world::running_mutator_on_this_thread(self.id) {
            panic!(
                "collector: {what} called on a thread whose mutator is running; block that \
                 mutator first (Mutator::blocking), or call Mutator::gc"
            );
        }
    }

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
    panic!("{SHUT_DOWN_MESSAGE}")
}

/// The panic message of any use of a shut-down heap (callback runners recognise it).
pub(crate) const SHUT_DOWN_MESSAGE: &str =
    "collector: the heap has been shut down; its mutators and handles can no longer be used";

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

/// Slow paths a mutator counts before it adds them to the heap's count.
const SLOW_PATH_FLUSH: u64 = 1024;

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
        core.shaded.put(m.root_refs(w));
        m.roots_scanned.store(true, Release);
    }
    core.shaded.put(m.take_wbuf_stopped(w));
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

    /// Every reference the mutator's handles hold; `w` proves the owner is not running.
    pub(crate) fn root_refs(&self, w: &impl Exclusive) -> Vec<Ref> {
        self.roots_stopped(w, |t| t.iter().map(|(_, r)| r).collect())
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
    /// Scan work this mutator owes the current cycle's mark (negative: credit).
    #[cfg_attr(loom, allow(dead_code))]
    assist_debt: Cell<i64>,
    /// The cycle `assist_debt` belongs to.
    #[cfg_attr(loom, allow(dead_code))]
    assist_cycle: Cell<u64>,
    /// Why the last allocation failed (set just before it returns `None`).
    out_of_memory: Cell<Option<crate::heap::OutOfMemory>>,
    /// Barrier slow paths taken and not yet added to the heap's count (kept per mutator
    /// so the slow path shares no counter).
    slow_paths: Cell<u64>,
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
            assist_debt: Cell::new(0),
            assist_cycle: Cell::new(0),
            out_of_memory: Cell::new(None),
            slow_paths: Cell::new(0),
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

    /// The write barrier's slow path: records the references `B` says to shade for a
    /// store of `new` over `old` (marking is on; the caller is running).
    #[cold]
    #[inline(never)]
    pub(crate) fn shade_for_store(&self, old: usize, new: usize) {
        let n = self.slow_paths.get() + 1;
        self.slow_paths.set(n);
        if n >= SLOW_PATH_FLUSH {
            self.flush_slow_paths();
        }
        let scanned = self.shared.roots_scanned.load(Acquire);
        for w in B::shade(old, new, scanned) {
            if let Some(r) = Ref::from_word(w) {
                self.record_shade(r);
            }
        }
    }

    /// Adds this mutator's barrier slow-path count to the heap's.
    fn flush_slow_paths(&self) {
        let n = self.slow_paths.replace(0);
        if n > 0 {
            self.core
                .telemetry
                .barrier_slow_paths
                .fetch_add(n, crate::sync::stats::Ordering::Relaxed);
        }
    }

    /// Records `r` in the write-barrier buffer (shaded for the running mark).
    pub(crate) fn record_shade(&self, r: Ref) {
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

    #[inline(always)]
    pub(crate) fn push_root(&self, r: Ref) -> u32 {
        // SAFETY: only the owning thread calls this, while running (callers go through
        // `running` or are already running); the collector reads roots only when stopped.
        self.shared.roots.with_mut(|t| unsafe { &mut *t }.push(r))
    }

    /// Frees root slot `i` (a handle dropped). Inside `blocking` it goes out of line, so
    /// that the running case inlines into the caller with no register to save.
    #[inline(always)]
    pub(crate) fn clear_root(&self, i: u32) {
        if self.blocking_depth.get() != 0 {
            return self.clear_root_blocking(i);
        }
        self.clear_root_running(i)
    }

    #[cold]
    #[inline(never)]
    fn clear_root_blocking(&self, i: u32) {
        self.running(|| self.clear_root_running(i))
    }

    #[inline(always)]
    fn clear_root_running(&self, i: u32) {
        // SAFETY: as in `push_root`.
        self.shared.roots.with_mut(|t| unsafe { &mut *t }.clear(i))
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

    /// Completed collection cycles of this mutator's heap (a cheap read, also from
    /// callbacks and loom models).
    pub fn gc_cycles(&self) -> u64 {
        self.core
            .telemetry
            .cycles
            .load(crate::sync::stats::Ordering::Relaxed)
    }

    /// [`crate::Heap::drain_finalizers`] from a mutator's thread: blocks meanwhile.
    pub fn drain_finalizers(&self) {
        self.blocking(|| self.core.space.queues.finalizers.wait_idle());
    }

    /// [`crate::Heap::drain_cleanups`] from a mutator's thread: blocks meanwhile.
    pub fn drain_cleanups(&self) {
        self.blocking(|| self.core.space.queues.cleanups.wait_idle());
    }

    /// Runs one full collection cycle, as Go's `runtime.GC()`: it runs even when
    /// automatic collection is off, and returns when the cycle (sweep included) is done.
    pub fn gc(&self) {
        self.core.check_live();
        self.blocking(|| (self.core.collect)(&self.core, CycleReason::Forced));
    }

    /// Creates a handle for reference `r` read from the heap, or panics with why `r`
    /// names no live object (a stale reference: something freed an object that was still
    /// reachable).
    #[inline(always)]
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
        self.flush_slow_paths();
        world::release_thread(self.core.id);
        let shared = self.shared.clone();
        let space = &self.core.space;
        // Hand over what the barrier recorded; a pending request is moot once gone.
        shared.requests.store(0, Release);
        self.core
            .shaded
            .put(shared.take_wbuf_stopped(&Owner(&shared)));
        self.core.world.unregister(&shared, || {
            // SAFETY: the owner (this thread) is running and about to leave; the collector
            // cannot be stopped-world now (we hold the registry lock with no pause on).
            shared
                .cache
                .with_mut(|c| unsafe { &mut *c }.flush(|s| space.uncache(s)));
        });
    }
}

/// Takes the cycle lock (held by the thread running a cycle), waiting for a cycle in
/// progress.
pub(crate) fn cycle_guard(core: &HeapCore) -> crate::sync::MutexGuard<'_, ()> {
    lock(&core.cycle_lock)
}

#[cfg(all(test, not(loom)))]
mod tests;
