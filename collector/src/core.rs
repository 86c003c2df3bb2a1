//! The heap core: the one object that a heap's mutators, handles, collector threads and
//! callback runners share (Go's `mheap_` and `work` together), and the checks every entry
//! point makes on it.
//!
//! Invariant: the fields are either immutable after creation (`id`, `config`,
//! `barrier`), synchronised by their own type (the space, the world, the pools, the
//! mark state, the mailboxes), or atomics whose writers are the cycle controller holding
//! `cycle_lock` (`goal`, `trigger`, `committed`, the phase; `cons_mark`, behind its own lock) and whose readers tolerate a stale value
//! (the pacer's fast checks). `flags` is the one word every fast path polls.

use crate::background::Background;
use crate::barrier::{BarrierKind, RootRules};
use crate::callbacks::queue::{self, Kind};
use crate::config::HeapConfig;
use crate::cycle::phase::{Phase, PhaseCell};
use crate::heap::Space;
use crate::mark::pool::DefaultPool;
use crate::mark::state::MarkState;
use crate::sync::{lock, unmodelled, AtomicU32, AtomicUsize, Mutex, MutexGuard, Ordering::*};
use crate::telemetry::Telemetry;
use crate::world::{self, Exclusive, MutatorShared, World, FLAG_HANDSHAKE, FLAG_SHUTDOWN};

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
    /// The collector's phase (written by the holder of `cycle_lock`).
    pub(crate) phase: PhaseCell,
    /// The goal the last cycle's end committed (with a memory limit, `cycle::pacing_now`
    /// recomputes the one in force).
    pub(crate) goal: AtomicUsize,
    /// References shaded by write barriers, handed over in batches, not yet marked.
    pub(crate) shaded: DefaultPool,
    /// The grey pool, assist ledger and worker accounting of the mark.
    pub(crate) mark: MarkState,
    /// The heap size at which a concurrent heap's background cycle starts (Go's trigger,
    /// below the goal so that the mark can end near the goal), as committed (likewise).
    pub(crate) trigger: AtomicUsize,
    /// The inputs of the last cycle's pacing, from which a heap with a memory limit
    /// recomputes its goal and trigger at each check (`cycle::pacing_now`).
    pub(crate) committed: CommittedPacing,
    /// Go's cons/mark estimate, which places the next trigger (updated at each
    /// concurrent cycle's end by the holder of `cycle_lock`).
    pub(crate) cons_mark: unmodelled::Mutex<crate::pacer::ConsMark>,
    /// The heap's write barrier (mutators carry it as a type too).
    pub(crate) barrier: BarrierKind,
    /// The root scanning the barrier needs (`Barrier::ROOTS`).
    pub(crate) roots: RootRules,
    /// The CPUs this process may run on (read once): the most marking threads the
    /// collector starts at once, whatever GOMAXPROCS says.
    pub(crate) cpus: usize,
    /// The background GC thread's mailbox (concurrent heaps, normal builds).
    pub(crate) background: unmodelled::Arc<Background>,
    /// The background sweeper's mailbox (concurrent heaps, normal builds).
    pub(crate) sweeper: unmodelled::Arc<Background>,
    /// The background scavenger's stop signal (normal builds).
    #[cfg(not(loom))]
    pub(crate) scavenger: unmodelled::Arc<crate::heap::scavenger::Stop>,
    /// The mark workers' threads, kept across cycles (normal builds).
    #[cfg(not(loom))]
    pub(crate) worker_pool: crate::mark::worker_pool::WorkerPool,
}

impl Drop for HeapCore {
    fn drop(&mut self) {
        self.background.stop();
        self.sweeper.stop();
        self.stop_scavenger();
        #[cfg(not(loom))]
        self.worker_pool.stop();
        self.space.queues.finalizers.stop();
        self.space.queues.cleanups.stop();
    }
}

impl HeapCore {
    /// Whether mark assists are off because Go's GC CPU limiter is on. A hard heap cap
    /// (`heap_limit`, the testbed's own; Go has none) keeps assists on: the cap fails
    /// an allocation only when collection cannot keep the heap under it.
    pub(crate) fn assists_limited(&self) -> bool {
        self.space.limiter.limiting() && self.config.heap_limit.is_none()
    }

    /// Stops and joins the background scavenger, if one runs; it waits for no mutator, so
    /// this may be called whatever the calling thread holds.
    pub(crate) fn stop_scavenger(&self) {
        #[cfg(not(loom))]
        self.scavenger.stop();
    }

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

    /// Waits until no callback of `kind` is queued or running (or the heap is shutting
    /// down). Panics, naming `what`, on a thread inside a callback of that kind of this
    /// heap: the wait would include the caller and never end.
    pub(crate) fn drain_queue(&self, kind: Kind, what: &str) {
        queue::refuse_drain_inside(self.id, kind, what);
        match kind {
            Kind::Finalizer => self.space.queues.finalizers.wait_idle(),
            Kind::Cleanup => self.space.queues.cleanups.wait_idle(),
        }
    }

    /// Serves `m`'s pending handshake requests (`w` gives access to its private state:
    /// the running owner, or the collector holding it blocked), and tells the world.
    pub(crate) fn serve_requests(&self, m: &MutatorShared, w: &impl Exclusive) {
        // A slice only for a handshake that served something: most polls find nothing
        // asked of this mutator.
        let slice = self.telemetry.trace.slice("handshake");
        if m.serve_requests(w, &self.shaded) {
            self.world.note_change();
        } else if let Some(s) = slice {
            s.discard();
        }
    }

    /// Moves the collector to phase `next` (see `cycle::phase`), panicking on an illegal
    /// transition.
    pub(crate) fn enter_phase(&self, next: Phase) {
        self.phase.enter(next, &self.flags);
    }

    /// Abandons the cycle in progress, if any (its caller is unwinding from a panic):
    /// handshakes and marking off, the phase back to `Off`, and the mark noted as
    /// abandoned so that the next cycle's first pause clears its marks.
    pub(crate) fn abandon_cycle(&self) {
        if self.phase.get() == Phase::Off {
            return;
        }
        self.flags.fetch_and(!FLAG_HANDSHAKE, SeqCst);
        self.mark
            .abandoned
            .store(true, unmodelled::Ordering::Relaxed);
        self.mark
            .parked
            .close(self.mark.cycle.load(unmodelled::Ordering::Relaxed));
        self.space.limiter.forget_pause();
        self.enter_phase(Phase::Off);
    }

    /// Panics if the calling thread holds a cycle of this heap: `what` would wait for that
    /// cycle, and so for itself, forever.
    pub(crate) fn refuse_cycle_holder(&self, what: &str) {
        if world::this_thread::holds_cycle_lock(self.id) {
            panic!(
                "collector: this thread holds a cycle of this heap (a ConcurrentCycle from \
                 Heap::begin_cycle, not yet finished or dropped); {what} would wait for it \
                 forever: finish or drop it first"
            );
        }
    }

    /// The threads of a whole-heap fork-join phase (`phases`) run by the calling thread:
    /// with `HeapConfig::parallel_phases` and a heap past the parallel mark's threshold,
    /// one per P of GOMAXPROCS, at most one per CPU; else the calling thread alone.
    pub(crate) fn phase_threads(&self) -> crate::phases::PhaseThreads {
        let parallel = self.config.parallel_phases
            && self.space.heap_live() >= crate::mark::PARALLEL_MARK_MIN_BYTES;
        let procs = if parallel { self.config.gomaxprocs } else { 1 };
        crate::phases::PhaseThreads::new(procs, self.cpus)
    }

    /// Finishes the sweep `gc()` waits for, on the phase threads (with
    /// `HeapConfig::parallel_phases`; else on the calling thread, as Go's `runtime.GC`).
    pub(crate) fn finish_sweep_for_gc(&self) {
        self.space.finish_sweep_on(&self.phase_threads());
    }

    /// Panics if the heap has been shut down.
    #[inline(always)]
    pub(crate) fn check_live(&self) {
        if self.flags.load(Relaxed) & FLAG_SHUTDOWN != 0 {
            shut_down_panic();
        }
    }
}

/// A thread exited still holding one of the heap's mutators: the world counts it as
/// blocked from now on.
impl world::ThreadExit for HeapCore {
    fn thread_exited(&self, m: &crate::sync::Arc<MutatorShared>) {
        self.world.thread_exited(m);
    }

    fn block(&self, m: &crate::sync::Arc<MutatorShared>) {
        self.world.enter_blocking(m);
    }

    fn unblock(&self, m: &crate::sync::Arc<MutatorShared>) {
        self.world.exit_blocking(m);
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

/// Abandons the cycle in progress when dropped while its thread unwinds from a panic.
pub(crate) struct AbandonOnUnwind<'a>(pub(crate) &'a HeapCore);

impl Drop for AbandonOnUnwind<'_> {
    fn drop(&mut self) {
        if unmodelled::thread::panicking() {
            self.0.abandon_cycle();
        }
    }
}

/// The cycle lock, held by the thread running a cycle. The calling thread is recorded as
/// its holder until the guard is dropped, so that the same thread asking for it again
/// (`Heap::gc` while it steps a cycle of its own) panics saying why, instead of waiting
/// for itself forever.
pub(crate) struct CycleGuard<'a> {
    _lock: MutexGuard<'a, ()>,
    heap: u64,
}

impl Drop for CycleGuard<'_> {
    fn drop(&mut self) {
        world::this_thread::release_cycle_lock(self.heap);
    }
}

/// Takes the cycle lock, waiting for a cycle in progress; panics if the calling thread
/// holds it already (it would wait for itself).
pub(crate) fn cycle_guard(core: &HeapCore) -> CycleGuard<'_> {
    core.refuse_cycle_holder("a gc(), another cycle");
    let lock = lock(&core.cycle_lock);
    world::this_thread::hold_cycle_lock(core.id);
    CycleGuard {
        _lock: lock,
        heap: core.id,
    }
}

/// The pacer's inputs from the last cycle's end (Go's `heapMarked`, `globalsScan`,
/// `runway` and whether the sweep was done at `commit`).
#[derive(Debug)]
pub(crate) struct CommittedPacing {
    marked: unmodelled::AtomicUsize,
    globals: unmodelled::AtomicUsize,
    runway: unmodelled::AtomicUsize,
    sweep_done: unmodelled::AtomicBool,
}

impl Default for CommittedPacing {
    /// A new heap's: nothing marked, no sweep, no runway estimate (`pacer::initial`).
    fn default() -> Self {
        CommittedPacing {
            marked: unmodelled::AtomicUsize::new(0),
            globals: unmodelled::AtomicUsize::new(0),
            runway: unmodelled::AtomicUsize::new(0),
            sweep_done: unmodelled::AtomicBool::new(true),
        }
    }
}

impl CommittedPacing {
    /// Records the inputs of the pacing a cycle's end computed.
    pub(crate) fn store(&self, marked: usize, globals: usize, sweep_done: bool, runway: usize) {
        self.marked.store(marked, unmodelled::Ordering::Relaxed);
        self.globals.store(globals, unmodelled::Ordering::Relaxed);
        self.runway.store(runway, unmodelled::Ordering::Relaxed);
        self.sweep_done
            .store(sweep_done, unmodelled::Ordering::Relaxed);
    }

    /// The inputs recorded last.
    pub(crate) fn load(&self) -> PacingInputs {
        PacingInputs {
            marked: self.marked.load(unmodelled::Ordering::Relaxed),
            globals: self.globals.load(unmodelled::Ordering::Relaxed),
            sweep_done: self.sweep_done.load(unmodelled::Ordering::Relaxed),
            runway: self.runway.load(unmodelled::Ordering::Relaxed),
        }
    }
}

/// [`CommittedPacing`]'s values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacingInputs {
    pub(crate) marked: usize,
    pub(crate) globals: usize,
    pub(crate) sweep_done: bool,
    pub(crate) runway: usize,
}
