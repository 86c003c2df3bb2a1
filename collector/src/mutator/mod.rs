//! Mutators: the threads that allocate and mutate the heap, with their safepoint
//! polling and blocking state.
//!
//! A [`Mutator`] belongs to one thread (it is neither `Send` nor `Sync`). Its root table,
//! allocation cache and barrier buffer live in a [`MutatorShared`], whose access protocol
//! (`world::mutator_state`) every `unsafe` block here relies on: this thread touches them
//! only while its mutator is running.
//!
//! Invariant: a running mutator polls `HeapCore::flags` at every allocation and
//! `safepoint()`, so a pause waits for it only until its next poll; a blocked one
//! (`blocking_depth > 0`) may be acted for by the collector and re-enters the running
//! state (waiting out a pause) for any heap access. Dropping a handle is not one: a
//! blocked mutator empties the handle's root slot with an atomic store, without the
//! world's lock (`clear_root_blocking`), and frees the slot when it runs again.

mod alloc;
mod assist_debt;
pub(crate) mod handle;
pub(crate) mod scope;
mod write_barrier;

use crate::barrier::{Barrier, GoHybrid};
use crate::callbacks::queue::Kind;
use crate::core::{shut_down_panic, HeapCore};
use crate::cycle;
use crate::object::Ref;
use crate::sync::{Arc, Ordering::*};
use crate::telemetry::CycleReason;
use crate::world::mutator_state::Owner;
use crate::world::{self, MutatorShared, FLAG_HANDSHAKE, FLAG_MARKING, FLAG_SHUTDOWN, FLAG_STOP};
use std::cell::Cell;
use std::marker::PhantomData;

/// The flags a safepoint poll acts on (marking alone needs no poll).
const POLL_MASK: u32 = FLAG_STOP | FLAG_SHUTDOWN | FLAG_HANDSHAKE;

/// A thread's access to a heap: it allocates, holds handles, and mutates objects.
///
/// Create one per thread with [`crate::Heap::mutator`]. It polls for safepoints when it
/// allocates and at [`Mutator::safepoint`]; a thread that runs long without either delays
/// every stop-the-world pause (the testbed has no asynchronous preemption). Wrap sleeping,
/// I/O or other waiting in [`Mutator::blocking`] so the collector need not wait for it.
///
/// A mutator may live in a `thread_local!`: dropped during the thread's exit it leaves
/// the heap as any dropped mutator does. One its thread never drops (forgotten, leaked)
/// counts as blocked once the thread has exited: no pause waits for it, and the handles
/// it still holds stay roots. A thread-local destructor that runs later may still use it:
/// each use then re-enters the running state through the heap, as a use inside
/// [`Mutator::blocking`] does.
///
/// `B` is the heap's write barrier ([`GoHybrid`] unless the heap was made with another).
///
/// A mutator, and a handle (which borrows it), stay on their thread:
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// send(heap.mutator());
/// ```
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// send(m.alloc(&NODE));
/// ```
///
/// (The same code with a bound other than `Send` compiles:)
///
/// ```
/// fn keep<T: 'static>(_: T) {}
/// fn keep_ref<T>(_: T) {}
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// keep_ref(m.alloc(&NODE));
/// keep(m);
/// ```
pub struct Mutator<B: Barrier = GoHybrid> {
    pub(crate) core: Arc<HeapCore>,
    shared: Arc<MutatorShared>,
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
    /// Root slots this mutator emptied while blocked (`clear_root_blocking`), not yet on
    /// its root table's free list: it puts them there when it runs again
    /// (`free_cleared_roots`), since only a running owner may change the table's vectors.
    cleared_blocked: std::cell::RefCell<Vec<u32>>,
    /// Scopes (`Mutator::scope`) this thread is inside: while above 0 the mutator reaches
    /// no safepoint and may not block (`mutator::scope`).
    _not_send: PhantomData<(*const (), B)>,
}

/// Re-enters the blocking state when dropped (also on unwinding).
/// Restores the saved blocking depth too: inside `running` the depth is 0, so a nested
/// `blocking` (such as an automatic cycle started by an allocation) really blocks.
struct Reblock<'a, B: Barrier>(&'a Mutator<B>, u32);

impl<B: Barrier> Drop for Reblock<'_, B> {
    fn drop(&mut self) {
        self.0.shared.blocking_depth.set(self.1);
        self.0.core.world.enter_blocking(&self.0.shared);
    }
}

/// Leaves the blocking state when dropped (also on unwinding).
struct Unblock<'a, B: Barrier>(&'a Mutator<B>);

impl<B: Barrier> Drop for Unblock<'_, B> {
    fn drop(&mut self) {
        self.0
            .shared
            .blocking_depth
            .set(self.0.shared.blocking_depth.get() - 1);
        if self.0.shared.blocking_depth.get() == 0 {
            self.0.core.world.exit_blocking(&self.0.shared);
            self.0.free_cleared_roots();
        }
    }
}

impl<B: Barrier> Mutator<B> {
    pub(crate) fn new(core: Arc<HeapCore>) -> Mutator<B> {
        Mutator::new_if_live(core).unwrap_or_else(|| crate::core::shut_down_panic())
    }

    /// A new mutator, or `None` if the heap has been shut down (one check, so a caller
    /// that must not panic has no window between its own check and this one).
    pub(crate) fn new_if_live(core: Arc<HeapCore>) -> Option<Mutator<B>> {
        if core.flags.load(Acquire) & FLAG_SHUTDOWN != 0 {
            return None;
        }
        let shared = Arc::new(MutatorShared::new(core.world.next_id()));
        #[cfg(not(loom))]
        {
            let owner: crate::sync::unmodelled::Weak<HeapCore> = Arc::downgrade(&core);
            world::this_thread::claim(core.id, &shared, owner);
        }
        core.world.register(shared.clone());
        // Registered during a mark: its roots are empty, so they count as scanned.
        if core.flags.load(Acquire) & FLAG_MARKING != 0 {
            shared.roots_scanned.store(true, Release);
        }
        Some(Mutator {
            core,
            shared,
            assist_debt: Cell::new(0),
            assist_cycle: Cell::new(0),
            out_of_memory: Cell::new(None),
            slow_paths: Cell::new(0),
            cleared_blocked: std::cell::RefCell::new(Vec::new()),
            _not_send: PhantomData,
        })
    }

    /// Runs `f` with this mutator running: re-enters the running state for the call if it
    /// is inside [`Mutator::blocking`].
    #[inline(always)]
    pub(crate) fn running<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.shared.blocking_depth.get() == 0 {
            return f();
        }
        #[cfg(all(test, not(loom)))]
        tests::before_unblock();
        self.core.world.exit_blocking(&self.shared);
        self.free_cleared_roots();
        let _reblock = Reblock(self, self.shared.blocking_depth.replace(0));
        // Dropped before `_reblock`: the timeline shows the access running inside the
        // enclosing "blocked" slice.
        let _slice = self.core.telemetry.trace.slice("running");
        f()
    }

    /// Whether `other`'s heap is this mutator's heap.
    #[inline(always)]
    pub(crate) fn same_heap<C: Barrier>(&self, other: &Mutator<C>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
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
        if self.shared.blocking_depth.get() != 0 {
            return self.clear_root_blocking(i);
        }
        self.clear_root_running(i)
    }

    /// The blocked owner's clear: it empties the slot without running (no world lock,
    /// no wait for a pause), while a collector may be reading the table (the claim of a
    /// handshake, or a pause, which does not wait for blocked mutators), so through a
    /// shared reference, with an atomic store (`RootTable::clear_shared`); the slot goes
    /// on the free list when this mutator runs again. A collector reading the table
    /// meanwhile sees the reference (kept one cycle more, as floating garbage) or not;
    /// one that reads it after something this thread did next (the finalizer thread's
    /// end of a chunk, which a drain waits for) sees it empty.
    #[cold]
    #[inline(never)]
    fn clear_root_blocking(&self, i: u32) {
        #[cfg(loom)]
        if self.core.config.faults.blocking_clear_unsynchronized {
            return self.clear_root_running(i);
        }
        // SAFETY: a shared reference, as the collector's readers take (module invariant
        // of `world::mutator_state`; the owner changes the vectors only while running,
        // through `with_mut`, and this thread is not running).
        self.shared.roots.with(|t| unsafe { &*t }.clear_shared(i));
        self.cleared_blocked.borrow_mut().push(i);
    }

    /// Puts the root slots cleared while blocked on the free list: called as this
    /// mutator starts running again.
    #[inline(always)]
    fn free_cleared_roots(&self) {
        let mut cleared = self.cleared_blocked.borrow_mut();
        if !cleared.is_empty() {
            // SAFETY: as in `push_root` (running again).
            self.shared
                .roots
                .with_mut(|t| unsafe { &mut *t }.free_cleared(cleared.drain(..)));
        }
    }

    #[inline(always)]
    fn clear_root_running(&self, i: u32) {
        // SAFETY: as in `push_root`.
        self.shared.roots.with_mut(|t| unsafe { &mut *t }.clear(i))
    }

    /// The number of handles this mutator holds.
    pub fn live_handles(&self) -> usize {
        self.running(|| {
            let cleared = self.cleared_blocked.borrow().len();
            // SAFETY: as in `push_root` (running, so `cleared` is empty).
            self.shared.roots.with(|t| unsafe { &*t }.live(cleared))
        })
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
        // Inside a scope the mutator is not preemptible: the pause or handshake waits
        // for the scope to end (`mutator::scope`).
        if self.shared.blocking_depth.get() != 0 || (self.in_scope() && !self.scope_fault()) {
            return;
        }
        if f & FLAG_STOP != 0 {
            // The thread's running mutators of other heaps count as blocked meanwhile. A
            // thread with a scope open on another heap is not preemptible on any heap: it
            // does not park (the pause waits for it, as for a scope of this heap), or that
            // heap's pauses, waiting for its scope, would wait for this one, whose other
            // threads may wait for them.
            let Some(_others) = crate::world::this_thread::try_block_others(self.core.id) else {
                return;
            };
            let _slice = self.core.telemetry.trace.slice("safepoint wait");
            self.core.world.park();
        }
        if f & FLAG_HANDSHAKE != 0 {
            self.core.serve_requests(&self.shared, &Owner(&self.shared));
        }
    }

    /// Runs `f` in the blocking state (Go's "in a system call"): the collector neither
    /// waits for this thread nor stops it, so `f` may sleep or wait indefinitely without
    /// delaying a pause. A heap access inside `f` re-enters the running state for that
    /// access (waiting out a pause in progress).
    ///
    /// Panics inside [`Mutator::scope`]: a pause let in there would find the scope's
    /// references, which are not roots.
    pub fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.in_scope() {
            blocking_in_scope_panic();
        }
        // Declared first, so dropped last: the slice includes the wait to run again.
        let _slice = self.core.telemetry.trace.slice("blocked");
        if self.shared.blocking_depth.get() == 0 {
            self.core.world.enter_blocking(&self.shared);
        }
        self.shared
            .blocking_depth
            .set(self.shared.blocking_depth.get() + 1);
        let _unblock = Unblock(self);
        f()
    }

    /// Runs `f`, a wait for this heap's collector outside a safepoint (a cycle's start, a
    /// parked assist, a cycle run here), in the blocking state with the thread's running
    /// mutators of other heaps blocked too, as a safepoint parks (so two threads, each
    /// waiting for one heap's collector with its mutator of the other running, do not wait
    /// for each other). `None`, with `f` not run, where the thread may not wait: inside a
    /// scope (not preemptible), or while its mutator of another heap is inside one.
    pub(crate) fn wait_for_collector<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        if self.in_scope() {
            return None;
        }
        let _others = world::this_thread::try_block_others(self.core.id)?;
        Some(self.blocking(f))
    }

    /// Whether this mutator is inside a scope (`mutator::scope`): it must not block or
    /// reach a safepoint.
    #[inline(always)]
    pub(crate) fn in_scope(&self) -> bool {
        self.shared.scope_depth.get() != 0
    }

    /// The loom fault that makes scopes preemptible (always false outside loom).
    #[inline(always)]
    fn scope_fault(&self) -> bool {
        #[cfg(loom)]
        return self.core.config.faults.preemptible_scopes;
        #[cfg(not(loom))]
        false
    }

    /// Completed collection cycles of this mutator's heap (a cheap read, also from
    /// callbacks and loom models).
    pub fn gc_cycles(&self) -> u64 {
        self.core
            .telemetry
            .cycles
            .load(crate::sync::unmodelled::Ordering::Relaxed)
    }

    /// [`crate::Heap::drain_finalizers`] from a mutator's thread: blocks meanwhile. Like
    /// it, it panics inside a finalizer of this heap (it would wait for itself).
    pub fn drain_finalizers(&self) {
        self.blocking(|| {
            self.core
                .drain_queue(Kind::Finalizer, "Mutator::drain_finalizers")
        });
    }

    /// [`crate::Heap::drain_cleanups`] from a mutator's thread: blocks meanwhile. Like
    /// it, it panics inside a cleanup of this heap.
    pub fn drain_cleanups(&self) {
        self.blocking(|| {
            self.core
                .drain_queue(Kind::Cleanup, "Mutator::drain_cleanups")
        });
    }

    /// Runs one full collection cycle, as Go's `runtime.GC()`: it runs even when
    /// automatic collection is off, and returns when a cycle that began after the call is
    /// done, its sweep included (callers that arrive together share one, as in Go).
    ///
    /// Panics inside a scope, and while the thread's mutator of another heap is inside
    /// one: the cycle's pauses could wait for threads that wait for that heap's pauses,
    /// which wait for the scope.
    pub fn gc(&self) {
        self.core.check_live();
        if self.in_scope() {
            blocking_in_scope_panic();
        }
        // The thread's running mutators of other heaps count as blocked meanwhile, as at
        // a safepoint.
        let Some(_others) = world::this_thread::try_block_others(self.core.id) else {
            gc_in_another_heaps_scope_panic()
        };
        self.blocking(|| cycle::collect(&self.core, CycleReason::Forced));
    }
}

impl<B: Barrier> Drop for Mutator<B> {
    fn drop(&mut self) {
        // Dropped after its thread's exit hook counted it blocked (a thread-local
        // destroyed late): running again before it touches its own state.
        if self.shared.blocking_depth.replace(0) != 0 {
            self.core.world.exit_blocking(&self.shared);
        }
        self.flush_slow_paths();
        world::this_thread::release(self.core.id);
        let shared = self.shared.clone();
        let space = &self.core.space;
        // Hand over what the barrier recorded; a pending request is moot once gone.
        shared.requests.store(0, Release);
        shared.hand_over_wbuf_stopped(&Owner(&shared), &self.core.shaded);
        self.core.world.unregister(&shared, || {
            // SAFETY: the owner (this thread) is running and about to leave; the collector
            // cannot be stopped-world now (we hold the registry lock with no pause on).
            shared
                .cache
                .with_mut(|c| unsafe { &mut *c }.flush(|s| space.uncache(s)));
        });
    }
}

#[cold]
fn gc_in_another_heaps_scope_panic() -> ! {
    panic!(
        "collector: Mutator::gc called while this thread's mutator of another heap is inside \
         a scope: the cycle could wait for threads that wait for that heap's pauses, which \
         wait for the scope; end that scope first"
    )
}

#[cold]
#[inline(never)]
fn blocking_in_scope_panic() -> ! {
    panic!(
        "collector: blocking inside Mutator::scope: a pause let in there would miss the \
         scope's references (they are not roots); end the scope first, rooting what must \
         survive with Scope::root"
    )
}

#[cfg(all(test, not(loom)))]
mod tests;
