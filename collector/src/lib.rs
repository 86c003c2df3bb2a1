//! # collector
//!
//! A garbage-collector research testbed reproducing Go's finalizers, cleanups, weak pointers
//! and `runtime.KeepAlive` on a concurrent tri-color mark–sweep collector (README is the
//! tour; the `SEMANTICS` items S1–S63 cited in the code are the behaviours reproduced).
//!
//! The heap holds objects of registered [`Shape`]s in spans of Go's size classes.
//! Threads reach it through a [`Mutator`] each, and hold objects only through
//! [`Handle`]s — roots the collector sees. A cycle runs automatically when the heap
//! reaches its trigger, or on [`Mutator::gc`] / [`Heap::gc`] (Go's `runtime.GC()`):
//! concurrently by default, with the heap's write barrier ([`GoHybrid`], the default,
//! [`Hybrid`], [`Dijkstra`], [`Yuasa`] or [`NoBarrier`], a type parameter) protecting
//! the mark, or in one pause (`HeapConfig::concurrent = false`, Go's
//! `gcstoptheworld=1`); [`Heap::begin_cycle`] lets a caller step a concurrent cycle.
//!
//! ```
//! use collector::{Heap, HeapConfig, Shape};
//! static NODE: Shape = Shape::new("node", 2, 1);
//! let heap = Heap::new(HeapConfig::default()).unwrap();
//! let m = heap.mutator();
//! let parent = m.alloc(&NODE);
//! let child = m.alloc(&NODE);
//! parent.set(0, Some(&child));
//! child.write(0, 42);
//! drop(child);
//! m.gc();
//! assert_eq!(parent.get(0).unwrap().read(0), 42);
//! ```
//!
//! ## Module map
//!
//! Every module, bottom up. A file imports only modules listed before it, so each can be
//! read knowing only what is above it in this list, and no two files import each other;
//! `scripts/check-structure.py` (run by `scripts/test.sh`) checks this list against the
//! real imports, and that no file but `sync` names `std::sync` or `std::thread`.
//!
//! 1. `sync`, `epoch`, `config`, `size_class`, `object`, `trace`, `telemetry`, `gctrace`,
//!    `background`, `pacer`, `pacer::p_events`, `pacer::limiter`, `phases` —
//!    foundations: the loom/std shim, epoch-based reclamation (crossbeam-epoch, a loom
//!    stand-in under loom), configuration, Go's size classes, references and shapes, the
//!    per-thread timeline, counters and records, Go's gctrace line, the service threads'
//!    mailbox, the pacer (goal, trigger, worker plan, assist pricing), the limiter's events
//!    and Go's GC CPU limiter, the whole-heap fork-join phases' rayon threads.
//! 2. `barrier`, `mark::spares`, `mark::pool`, `mark::park`, `mark::state`,
//!    `mark::worker_pool` — barrier policies and root rules, markers' spare buffers, the
//!    grey pool, the assists' park, the mark's ledger, the mark workers' threads.
//! 3. `heap::specials`, `callbacks::blocks`, `callbacks::queue`, `heap::pages`,
//!    `heap::span`, `heap::span_table`, `heap::cache`, `heap`, `heap::live`, `heap::retire`,
//!    `heap::scavenge`, `heap::scavenger`, `heap::special_deaths`, `heap::sweeping` — the
//!    heap: specials on spans, the finalizer and cleanup queues the sweep fills (in
//!    fixed-size blocks), span storage that gives its pages back, spans, the span table,
//!    allocation caches, the space, its live bytes and peak, the page pool's reuse and
//!    release of free spans, the background scavenger (not under loom), what a dead
//!    object's specials become, and span sweeping by generation.
//! 4. `world::roots`, `world::mutator_state`, `world::this_thread`, `world` — what the
//!    collector may read of a mutator, each thread's record of its mutators, and the
//!    registry with its stop-the-world handshake.
//! 5. `mark`, `mark::barrier_flush`, `mark::special_roots`, `mark::assist`, `leakcheck` —
//!    tracing, full barrier buffers, the specials' and queues' roots, assists, leak checks.
//! 6. `cycle::phase`, `core` — the GC phases as a type, and the heap core every thread
//!    shares.
//! 7. `mark::workers`, `sweep`, `verify`, `cycle::pacing_now`, `cycle::pause`,
//!    `cycle::roots`, `cycle::termination`, `cycle::concurrent`, `cycle`, `cycle::service`
//!    — background mark workers, the stop-the-world sweep, checkmark verification, the
//!    goal and trigger in force, and the cycle controller (pauses, root scanning,
//!    termination, the concurrent cycle, `gc()`, the background GC thread and sweeper).
//! 8. `mutator`, `mutator::handle`, `mutator::write_barrier`, `mutator::alloc`,
//!    `mutator::assist_debt`, `mutator::scope` — mutators, handles, the write barrier's
//!    store path, allocation (which starts cycles), assist debts, and scopes (references
//!    at hardware cost).
//! 9. `callbacks::runner`, `callbacks`, `callbacks::finalizer`, `callbacks::cleanup`,
//!    `callbacks::weak` — callback runner threads, then finalizers, cleanups and weak
//!    handles as the API offers them.
//! 10. `rayon_pool` — a rayon thread pool whose workers are mutators (not under loom).
//!
//! This file, the crate root, comes last: [`Heap`] and the public re-exports.

mod background;
mod barrier;
mod callbacks;
mod config;
mod core;
mod cycle;
mod epoch;
pub mod gctrace;
mod heap;
mod leakcheck;
mod mark;
mod mutator;
mod object;
mod pacer;
mod phases;
#[cfg(not(loom))]
mod rayon_pool;
mod size_class;
mod sweep;
mod sync;
mod telemetry;
mod trace;
mod verify;
mod world;

pub use barrier::{Barrier, BarrierKind, Dijkstra, GoHybrid, Hybrid, NoBarrier, RootRules, Yuasa};
pub use callbacks::cleanup::Cleanup;
pub use callbacks::cleanup::CleanupEnv;
pub use callbacks::queue::RUNNER_EXIT_WAIT;
pub use callbacks::runner::CLEANUP_STALL;
pub use callbacks::weak::WeakHandle;
pub use callbacks::{keep_alive, CallbackStats};
#[cfg(loom)]
pub use config::LoomFaults;
pub use config::{
    default_gomaxprocs, CallbackPanic, CleanupBatches, Gogc, HeapConfig, LeakCheck, PlantedBug,
    CLEANUP_BLOCK, DEFAULT_PAGE_BYTES,
};
pub use cycle::concurrent::ConcurrentCycle;
pub use heap::{BadRef, OutOfMemory};
pub use mutator::handle::{Global, Handle, InteriorHandle};
pub use mutator::scope::{Gc, Scope};
pub use mutator::Mutator;
pub use object::{Ref, Shape, POISON, WORD_BYTES};
#[cfg(not(loom))]
pub use rayon_pool::MutatorPool;
pub use telemetry::{CpuLimiterStats, CycleReason, CycleRecord, PauseRecord, MAX_LOST_REPORTS};
pub use trace::{CounterSample, ThreadTrace, Trace, TraceSlice, MAX_SLICES_PER_THREAD};

use crate::callbacks::queue::Kind;
use crate::core::HeapCore;
use crate::sync::unmodelled::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use sync::{unmodelled::Ordering as StatOrdering, Arc, AtomicU32, AtomicUsize, Mutex, Ordering::*};
use world::{running_mutator_on_this_thread, World, FLAG_SHUTDOWN};

static NEXT_HEAP_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// A garbage-collected heap. Cheap to clone (all clones are the same heap) and shareable
/// across threads; each thread that touches objects registers a [`Mutator`].
///
/// `B` is the heap's write barrier, fixed at creation: [`Heap::new`] makes a [`GoHybrid`]
/// heap (Go 1.27's), [`Heap::with_barrier`] any other.
pub struct Heap<B: Barrier = GoHybrid> {
    core: Arc<HeapCore>,
    _barrier: std::marker::PhantomData<B>,
}

impl<B: Barrier> Clone for Heap<B> {
    fn clone(&self) -> Self {
        Heap {
            core: self.core.clone(),
            _barrier: std::marker::PhantomData,
        }
    }
}

/// A snapshot of a heap's counters.
#[derive(Clone, Debug)]
pub struct HeapStats {
    /// Completed collection cycles.
    pub gc_cycles: u64,
    /// Heap bytes in use now (Go's `heapLive`: live objects plus unswept new ones).
    pub heap_live_bytes: u64,
    /// The highest heap size seen (of objects: `heap::live`).
    pub heap_peak_bytes: u64,
    /// The goal in force (Go's `heapGoal`, recomputed under a memory limit; `u64::MAX` when off).
    pub heap_goal_bytes: u64,
    /// Cycles whose mark was verified by the checkmark re-trace.
    pub cycles_checked: u64,
    /// Reachable objects the mark missed, found by verification.
    pub lost_objects: u64,
    /// The first reports of lost objects, each naming the edge that reached it.
    pub lost_reports: Vec<String>,
    /// Every stop-the-world pause, in order.
    pub pauses: Vec<PauseRecord>,
    /// Every cycle, in order.
    pub cycles: Vec<CycleRecord>,
    /// Registered mutators.
    pub mutators: usize,
    /// Spans by use: `[small, large, immortal, free]`.
    pub spans: [usize; 4],
    /// Spans the last cycle left to the concurrent sweep that are not swept yet.
    pub unswept_spans: usize,
    /// Finalizers: registered, queued, executed, cleared, panicked, pending.
    pub finalizers: CallbackStats,
    /// Cleanups: registered, queued, executed, stopped, panicked, pending.
    pub cleanups: CallbackStats,
    /// Leak checker findings so far (`HeapConfig::leak_check`), all counted.
    pub leaks_found: u64,
    /// Write-barrier slow paths taken (reference stores while marking was on), counted
    /// per mutator and added to this figure every 1,024 and when a mutator is dropped.
    pub barrier_slow_paths: u64,
    /// Threads inside [`Heap::gc`] or [`Mutator::gc`] now (waiting or running a cycle).
    pub gc_callers: usize,
    /// The first leak checker reports, in the format `leakcheck` documents.
    pub leak_reports: Vec<String>,
    /// The last cycle's `checkfinalizers: queue: …` line, when the checker ran.
    pub leak_queue_line: Option<String>,
    /// Go's GC CPU limiter (`pacer::limiter`).
    pub cpu_limiter: CpuLimiterStats,
}

impl Heap<GoHybrid> {
    /// Creates a heap with Go 1.27's hybrid barrier ([`GoHybrid`]: old and new shaded on
    /// every store while marking); fails with a message naming the bad field of `config`.
    pub fn new(config: HeapConfig) -> Result<Heap<GoHybrid>, String> {
        Heap::with_barrier(config)
    }
}

impl<B: Barrier> Heap<B> {
    /// Creates a heap with barrier `B` (`Heap::<Yuasa>::with_barrier(config)`); fails with
    /// a message naming the bad field of `config`.
    pub fn with_barrier(config: HeapConfig) -> Result<Heap<B>, String> {
        config.validate()?;
        let pacing = pacer::initial(&config);
        let roots = root_rules::<B>(&config);
        let id = NEXT_HEAP_ID.fetch_add(1, StdOrdering::Relaxed);
        let core = HeapCore {
            id,
            space: {
                #[allow(unused_mut)]
                let limit = match (config.heap_limit, config.memory_limit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let mut space = heap::Space::new(config.page_bytes)
                    .poisoning(config.verify)
                    .retiring(config.unmap_released_spans)
                    .limited(limit, config.heap_limit.is_some(), config.gomaxprocs);
                space.planted_bug = config.planted_bug;
                #[cfg(loom)]
                {
                    space.faults = config.faults;
                }
                space
            },
            telemetry: telemetry::Telemetry::new(config.trace),
            flags: AtomicU32::new(0),
            world: World::new(id),
            cycle_lock: Mutex::new(()),
            phase: Default::default(),
            goal: AtomicUsize::new(pacing.goal),
            barrier: B::KIND,
            shaded: Default::default(),
            mark: mark::state::MarkState::for_config(&config),
            trigger: AtomicUsize::new(pacing.trigger),
            committed: Default::default(),
            cons_mark: Default::default(),
            background: Default::default(),
            sweeper: Default::default(),
            #[cfg(not(loom))]
            scavenger: Default::default(),
            #[cfg(not(loom))]
            worker_pool: Default::default(),
            roots,
            cpus: default_gomaxprocs(),
            config,
        };
        let core = Arc::new(core);
        #[cfg(not(loom))]
        heap::scavenger::spawn(
            Arc::downgrade(&core),
            heap::scavenger::HeapView {
                space: |c: &HeapCore| &c.space,
                stopped: |c: &HeapCore| c.flags.load(Relaxed) & FLAG_SHUTDOWN != 0,
            },
            core.scavenger.clone(),
        )
        .map_err(|e| format!("cannot start the heap's scavenger thread: {e}"))?;
        Ok(Heap {
            core,
            _barrier: std::marker::PhantomData,
        })
    }

    /// The heap's write barrier.
    pub fn barrier(&self) -> BarrierKind {
        self.core.barrier
    }

    /// The configuration the heap was created with.
    pub fn config(&self) -> &HeapConfig {
        &self.core.config
    }

    /// Registers a mutator for the calling thread. Panics after [`Heap::shutdown`].
    pub fn mutator(&self) -> Mutator<B> {
        Mutator::new(self.core.clone())
    }

    /// A rayon thread pool of `threads` workers (0: rayon's default, `RAYON_NUM_THREADS`
    /// or one per CPU), each a mutator of this heap, blocked while idle (see
    /// [`MutatorPool`]). Panics after [`Heap::shutdown`].
    #[cfg(not(loom))]
    pub fn mutator_pool(
        &self,
        threads: usize,
    ) -> Result<MutatorPool<B>, rayon::ThreadPoolBuildError> {
        self.mutator_pool_with(rayon::ThreadPoolBuilder::new().num_threads(threads))
    }

    /// [`Heap::mutator_pool`] from a rayon builder (thread count, names, stack size,
    /// start and exit handlers; its spawn handler is replaced).
    #[cfg(not(loom))]
    pub fn mutator_pool_with(
        &self,
        builder: rayon::ThreadPoolBuilder,
    ) -> Result<MutatorPool<B>, rayon::ThreadPoolBuildError> {
        MutatorPool::build(self.core.clone(), builder)
    }

    /// Runs one full cycle, as Go's `runtime.GC()`, from a thread without a running
    /// mutator. A thread with one calls [`Mutator::gc`] instead (this panics there rather
    /// than deadlock waiting for that mutator to stop). Returns when a cycle that began
    /// after the call is complete, its sweep included; as in Go, callers that arrive
    /// while a cycle runs wait for it and then share the next one.
    pub fn gc(&self) {
        self.core.check_live();
        self.core.refuse_running_caller("Heap::gc");
        cycle::collect(&self.core, CycleReason::Forced);
    }

    /// Collects (as [`Heap::gc`], which finishes the sweep), then gives the pages of every
    /// free span back to the OS (Go's `debug.FreeOSMemory`). Returns the bytes released.
    /// Like [`Heap::gc`], call it inside [`Mutator::blocking`] on a mutator's thread.
    /// With `HeapConfig::unmap_released_spans` a second cycle follows, whose first pause
    /// retires the spans just released, so their address space goes back too.
    pub fn free_os_memory(&self) -> usize {
        self.gc();
        let released = self.core.space.free_os_memory();
        if self.core.config.unmap_released_spans {
            self.gc();
        }
        released
    }

    /// Bytes the heap's spans hold in memory now: mapped minus released (Go's
    /// `heapRetained`), what allocation releases free pages to keep under the heap's
    /// limit (`heap_limit`, `memory_limit`). Span metadata (bitmaps, slot metadata of a
    /// span in use, the span table) is not counted.
    pub fn retained_bytes(&self) -> usize {
        self.core.space.pages.retained()
    }

    /// Bytes of the spans in use (Go's `heapInUse`, which its runtime/metrics give as
    /// `/memory/classes/heap/objects:bytes` plus `/memory/classes/heap/unused:bytes`):
    /// what the spans holding objects (and the immortal span of globals) keep in memory,
    /// their free slots included.
    pub fn in_use_bytes(&self) -> usize {
        self.core.space.pages.in_use()
    }

    /// Bytes of span storage mapped now (address space: a free span keeps its addresses
    /// for reuse, unless `HeapConfig::unmap_released_spans` retires it once released)
    /// and bytes released to the OS so far.
    pub fn mapped_and_released_bytes(&self) -> (usize, usize) {
        let p = &self.core.space.pages;
        (p.mapped(), p.released_total())
    }

    /// Waits until the background GC thread has no cycle requested or running (concurrent
    /// heaps run automatic cycles there), so counters read next are settled. Like
    /// [`Heap::gc`], it panics on a thread whose mutator is running: call it inside
    /// [`Mutator::blocking`].
    pub fn wait_for_background(&self) {
        self.core.refuse_running_caller("Heap::wait_for_background");
        self.core
            .refuse_cycle_holder("waiting for the background thread");
        self.core.background.wait_idle();
        self.core.sweeper.wait_idle();
    }

    /// Waits until no finalizer is queued or running (Go's test-only
    /// `blockUntilEmptyFinalizerQueue`), without sleeping: the finalizer thread signals
    /// every batch it finishes. Like [`Heap::gc`], it panics on a thread whose mutator is
    /// running (a finalizer may need a pause that would wait for it): use
    /// [`Mutator::drain_finalizers`] there. It panics inside a finalizer of this heap too
    /// (it would wait for that finalizer, which waits for it). Returns at once after
    /// shutdown.
    pub fn drain_finalizers(&self) {
        self.core.refuse_running_caller("Heap::drain_finalizers");
        self.core
            .drain_queue(Kind::Finalizer, "Heap::drain_finalizers");
    }

    /// Waits until no cleanup is queued or running (Go's `blockUntilEmpty`); see
    /// [`Heap::drain_finalizers`] (it panics inside a cleanup of this heap).
    pub fn drain_cleanups(&self) {
        self.core.refuse_running_caller("Heap::drain_cleanups");
        self.core.drain_queue(Kind::Cleanup, "Heap::drain_cleanups");
    }

    /// Waits until neither finalizers nor cleanups are queued or running; callbacks that
    /// queue more (a finalizer whose object then dies in a later cycle) are not waited
    /// for unless they are queued before this returns.
    pub fn drain(&self) {
        self.drain_finalizers();
        self.drain_cleanups();
    }

    /// Starts a concurrent cycle that the caller steps (the *inline* mode: no collector
    /// thread; tests and loom models drive the collector with it). It runs whatever
    /// `HeapConfig::concurrent` says. Like [`Heap::gc`], it panics on a thread whose
    /// mutator is running (block it first), and it waits for a cycle in progress.
    pub fn begin_cycle(&self) -> ConcurrentCycle<'_> {
        self.core.check_live();
        self.core.refuse_running_caller("Heap::begin_cycle");
        let guard = core::cycle_guard(&self.core);
        ConcurrentCycle::begin_locked(&self.core, guard, CycleReason::Forced)
    }

    /// Shuts the heap down: from now on every use of its mutators and handles panics with
    /// a message saying so (a cycle in progress completes first: its mutators are parked,
    /// and panic when they resume), and the background GC thread, if one was started, is
    /// told to exit and joined (from a thread whose mutator is running, only told), and
    /// so are the finalizer thread and the cleanup workers: callbacks still queued are
    /// not run (as at Go's exit, S54), and stay counted as pending. A runner inside a
    /// callback is waited for at most [`RUNNER_EXIT_WAIT`] (1 s): one whose callback
    /// blocks longer is left running on its own, and stderr says so.
    /// Memory is released when the last mutator, handle and clone of the heap are gone.
    pub fn shutdown(&self) {
        // Runners learn of it first: a callback that sees the heap shut down is the last
        // one its runner starts.
        self.core.space.queues.finalizers.signal_exit();
        self.core.space.queues.cleanups.signal_exit();
        self.core.flags.fetch_or(FLAG_SHUTDOWN, SeqCst);
        self.core.stop_scavenger();
        if running_mutator_on_this_thread(self.core.id) {
            // Joining could wait for a cycle that waits for this thread's mutator.
            self.core.background.signal_exit();
            self.core.sweeper.signal_exit();
            self.core.space.queues.finalizers.signal_exit();
            self.core.space.queues.cleanups.signal_exit();
        } else {
            self.core.background.stop();
            self.core.sweeper.stop();
            // Callbacks still queued are neither run nor dropped here (S54): they stay
            // in the queues until the heap's memory goes.
            self.core.space.queues.finalizers.stop();
            self.core.space.queues.cleanups.stop();
        }
    }

    /// Whether [`Heap::shutdown`] has been called.
    pub fn is_shut_down(&self) -> bool {
        self.core.flags.load(Relaxed) & FLAG_SHUTDOWN != 0
    }

    /// Reachable objects the mark missed so far, found by verification (a cheap read of
    /// [`HeapStats::lost_objects`]).
    pub fn lost_objects(&self) -> u64 {
        self.core.telemetry.lost_objects.load(StatOrdering::Relaxed)
    }

    /// The run's timeline so far (empty unless `HeapConfig::trace`): each thread's slices
    /// and the counters. The GC phases and pauses are in [`HeapStats::cycles`] and
    /// [`HeapStats::pauses`].
    pub fn trace(&self) -> Trace {
        self.core.telemetry.trace.snapshot()
    }

    /// Whether `r` names an allocated object now (for tests and diagnostics: a reference
    /// kept as a number, not a handle, does not keep its object alive).
    pub fn is_allocated(&self, r: Ref) -> bool {
        self.core.space.is_allocated(r)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> HeapStats {
        let c = &self.core;
        let t = &c.telemetry;
        // Each telemetry lock is taken and released in a statement of its own: a guard kept
        // (as a temporary of the struct literal below) across the world, pools and queue
        // locks would invert the order a pause takes them in (the world lock, then
        // `lost_reports` when verification reports a lost object).
        let (leak_reports, leak_queue_line) = sync::unmodelled::lock(&t.leak_reports).clone();
        let lost_reports = sync::unmodelled::lock(&t.lost_reports).clone();
        let pauses = sync::unmodelled::lock(&t.pauses).clone();
        let cycles = sync::unmodelled::lock(&t.cycle_log).clone();
        HeapStats {
            gc_cycles: t.cycles.load(StatOrdering::Relaxed),
            heap_live_bytes: c.space.heap_live() as u64,
            heap_peak_bytes: c.space.heap_peak() as u64,
            heap_goal_bytes: cycle::pacing_now::goal(c) as u64,
            cycles_checked: t.cycles_checked.load(StatOrdering::Relaxed),
            lost_objects: t.lost_objects.load(StatOrdering::Relaxed),
            lost_reports,
            pauses,
            cycles,
            mutators: c.world.mutator_count(),
            spans: c.space.span_counts(),
            unswept_spans: c.space.unswept_spans(),
            finalizers: CallbackStats::read(&c.space.queues.finalizers),
            cleanups: CallbackStats::read(&c.space.queues.cleanups),
            leaks_found: t.leaks_found.load(StatOrdering::Relaxed),
            barrier_slow_paths: t.barrier_slow_paths.load(StatOrdering::Relaxed),
            gc_callers: t.gc_callers.load(StatOrdering::Relaxed),
            leak_reports,
            leak_queue_line,
            cpu_limiter: c.space.limiter.record(),
        }
    }
}

#[cfg(loom)]
pub use heap::span_table::RetireModel;

#[cfg(loom)]
pub use mark::park::ParkModel;

/// The root rules of barrier `B` (under loom, less what the config's faults remove).
fn root_rules<B: Barrier>(config: &HeapConfig) -> barrier::RootRules {
    #[allow(unused_mut)]
    let mut rules = B::ROOTS;
    #[cfg(loom)]
    {
        rules.rescan_at_termination &= !config.faults.no_termination_rescan;
        rules.snapshot_at_start &= !config.faults.no_root_snapshot;
    }
    #[cfg(not(loom))]
    let _ = config;
    rules
}

#[cfg(loom)]
impl<B: Barrier> Heap<B> {
    /// Begins a cycle whose assists may park, as [`Heap::run_background_cycle`] begins
    /// one (loom builds): the park queue opens in its first pause
    /// (`ConcurrentCycle::begin_with_workers`). The caller runs its mark with
    /// [`ConcurrentCycle::mark_with_workers_inline`], then `finish`.
    pub fn begin_cycle_with_workers(&self) -> ConcurrentCycle<'_> {
        self.core.check_live();
        self.core
            .refuse_running_caller("Heap::begin_cycle_with_workers");
        let guard = core::cycle_guard(&self.core);
        ConcurrentCycle::begin_with_workers(&self.core, guard, CycleReason::Automatic)
    }

    /// Runs one concurrent cycle as the background GC thread runs an automatic one (loom
    /// builds, where that thread does not exist): it returns with the sweep only begun,
    /// left to the background sweeper ([`Heap::run_background_sweep`]), to allocations
    /// that sweep their own class, and to the next cycle's sweep termination. Call it
    /// where [`Heap::begin_cycle`] may be called.
    pub fn run_background_cycle(&self) {
        self.core.check_live();
        self.core
            .refuse_running_caller("Heap::run_background_cycle");
        let guard = core::cycle_guard(&self.core);
        let mut c = ConcurrentCycle::begin_with_workers(&self.core, guard, CycleReason::Automatic);
        c.mark_with_workers();
        c.finish();
    }

    /// The background sweeper's work for one request (loom builds): it sweeps every span
    /// left unswept and waits for sweeps in progress elsewhere (`Space::finish_sweep`,
    /// Go's `bgsweep`). The sweeper is no mutator: pauses do not stop it.
    pub fn run_background_sweep(&self) {
        self.core.space.finish_sweep();
    }

    /// The scavenger's work with no goal (loom builds, where no scavenger thread runs):
    /// releases the pages of every free span, as [`Heap::free_os_memory`] does after its
    /// collection. Returns the bytes released.
    pub fn run_scavenger(&self) -> usize {
        self.core.space.free_os_memory()
    }

    /// Runs a mark worker's loop on the calling thread (loom builds, where the collector
    /// starts no threads): what each worker thread of a concurrent mark runs
    /// (`mark::workers`), taking grey work in slices until the mark's coordinator
    /// ([`ConcurrentCycle::mark_with_workers_inline`]) stops it, which waits for it to
    /// return. Call it once the cycle has begun; a worker that starts after the stop
    /// returns at once.
    pub fn run_mark_worker(&self) {
        mark::workers::serve(&self.core);
    }

    /// Runs a cleanup worker on the calling thread (loom builds, where the heap starts no
    /// runner threads): the worker threads' own loop, which parks until cleanups are
    /// queued, runs them, and parks again, until [`crate::Heap::shutdown`].
    pub fn run_cleanup_worker(&self) {
        callbacks::runner::serve_inline::<B, _>(
            &self.core,
            |q| &q.cleanups,
            |m| {
                m.run_cleanups();
            },
        );
    }

    /// Runs the finalizer thread's loop on the calling thread (loom builds), as
    /// [`crate::Heap::run_cleanup_worker`] does for cleanups.
    pub fn run_finalizer_thread(&self) {
        callbacks::runner::serve_inline::<B, _>(
            &self.core,
            |q| &q.finalizers,
            |m| {
                m.run_finalizers();
            },
        );
    }
}
