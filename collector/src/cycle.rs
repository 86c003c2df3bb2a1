//! The cycle controller: one collection from start to finish, in either mode.
//!
//! - **Stop-the-world** (Go's `GODEBUG=gcstoptheworld=1`): the whole cycle — flush the
//!   allocation caches, mark, verify, sweep, set the next goal — runs in one pause.
//! - **Concurrent** ([`ConcurrentCycle`]): a short pause starts marking (sweep
//!   termination), roots are scanned and objects marked while mutators run with their
//!   write barriers on, and a second pause ends it (mark termination), verifies and
//!   sweeps.

use crate::barrier::BarrierKind;
use crate::mark::pool::GreyPool;
use crate::mark::{
    global_refs, mark_from, special_refs, MarkResult, Roots, PARALLEL_MARK_MIN_BYTES,
};
use crate::mutator::world::{Exclusive, Stopped, FLAG_HANDSHAKE, FLAG_MARKING};
use crate::mutator::{cycle_guard, serve_for, HeapCore, REQ_FLUSH, REQ_SCAN};
use crate::sync::stats::Ordering as StatsOrdering;
use crate::sync::{MutexGuard, Ordering::*};
use crate::telemetry::{nanos, CycleReason, CycleRecord, PauseRecord};
use crate::{pacer, sweep, verify};
use std::time::Instant;

/// Sweep termination: finishes the previous cycle's sweep before a new cycle starts
/// (Go's `finishsweep_m`), on the thread starting the cycle.
fn finish_previous_sweep(core: &HeapCore) {
    core.space.finish_sweep();
}

/// Whether this cycle's sweep runs after its last pause, beside the mutators (concurrent
/// heaps in normal builds), rather than inside the pause.
fn sweeps_concurrently(core: &HeapCore) -> bool {
    cfg!(not(loom)) && core.config.concurrent
}

/// Runs one cycle. Both kinds wait for a cycle in progress; then an automatic cycle is
/// skipped if the heap is no longer over its goal, and a forced one always runs.
pub(crate) fn collect(core: &HeapCore, reason: CycleReason) {
    // An automatic cycle waits for one in progress (its caller is over the goal, and must
    // not go on allocating meanwhile), then runs only if the heap is still over it.
    let guard = cycle_guard(core);
    if reason == CycleReason::Automatic && core.space.heap_live() < start_threshold(core) {
        return;
    }
    if core.config.concurrent {
        let mut c = ConcurrentCycle::begin_locked(core, guard, reason);
        c.mark_with_workers();
        c.finish();
    } else {
        collect_stopped(core, reason);
    }
}

/// The heap size at which an automatic cycle starts: the trigger for concurrent heaps,
/// the goal for stop-the-world ones.
fn start_threshold(core: &HeapCore) -> usize {
    if core.config.concurrent {
        core.trigger.load(Relaxed)
    } else {
        core.goal.load(Relaxed)
    }
}

/// Stops the world (honouring the loom fault switch).
fn stop(core: &HeapCore) -> Stopped<'_> {
    #[cfg(loom)]
    let skip_wait = core.config.faults.stop_without_waiting;
    #[cfg(not(loom))]
    let skip_wait = false;
    core.world.stop(&core.flags, skip_wait)
}

/// With the world stopped: empties every allocation cache and (unless `wbufs` is false)
/// hands every write-barrier buffer to the collector.
fn flush_mutators(core: &HeapCore, stopped: &Stopped<'_>, wbufs: bool) {
    for m in stopped.mutators() {
        m.flush_cache_stopped(stopped, &core.space);
        if !wbufs {
            continue;
        }
        core.shaded.put(m.take_wbuf_stopped(stopped));
    }
}

/// Whether mark termination flushes barrier buffers (false only for a loom negative
/// control).
fn termination_flushes(core: &HeapCore) -> bool {
    #[cfg(loom)]
    return !core.config.faults.skip_termination_flush;
    #[cfg(not(loom))]
    {
        let _ = core;
        true
    }
}

fn mark_threads(core: &HeapCore, heap_bytes: usize) -> usize {
    if heap_bytes >= PARALLEL_MARK_MIN_BYTES {
        core.config.gomaxprocs
    } else {
        1
    }
}

/// What the end of a cycle needs to know about its beginning.
#[derive(Clone, Copy)]
struct CycleStart {
    cycle: u64,
    reason: CycleReason,
    heap_start: usize,
    /// When the cycle's first stop was requested.
    requested: Instant,
    /// The first pause (sweep termination) of a concurrent cycle; 0 for stop-the-world.
    sweep_term_ns: u64,
    mark_start: Instant,
    /// Mark worker threads the concurrent mark ran (0 for stop-the-world cycles).
    workers: u32,
    /// The heap's live bytes once the first pause had emptied the allocation caches.
    /// Everything allocated from then until mark termination is allocated black, and
    /// grows the live bytes by exactly its slots (a cached span counts whole, and its
    /// unused slots come off when the cache gives it back), so mark termination's live
    /// heap is the bytes the markers marked plus the growth since this.
    live_at_mark_start: usize,
}

/// The end of every cycle, inside its last pause: verification, sweep, the next goal, and
/// the cycle's records. Restarts the world.
fn finish_in_pause(core: &HeapCore, stopped: Stopped<'_>, start: CycleStart, marked: MarkResult) {
    let t_verify = Instant::now();
    let heap_end = core.space.heap_live();
    let term_requested = stopped.requested;
    if core.config.verify {
        verify::checkmark(core, &stopped, start.cycle);
        core.telemetry
            .cycles_checked
            .fetch_add(1, StatsOrdering::Relaxed);
    }
    if core.config.leak_check {
        let (reports, queue) = crate::leakcheck::check(&core.space, start.cycle);
        core.telemetry.record_leaks(reports, queue);
    }
    core.flags.fetch_and(!FLAG_MARKING, SeqCst);
    debug_assert!(
        (core.shaded.is_empty() && core.mark.grey.is_empty()) || !termination_flushes(core),
        "grey work left after the mark"
    );
    let t_sweep = Instant::now();
    let live_bytes = if sweeps_concurrently(core) {
        let allocated_black = heap_end.saturating_sub(start.live_at_mark_start);
        let counted = marked.marked_bytes as usize + allocated_black;
        // After an abandoned cycle the count misses its marks: the bits are counted.
        let abandoned = core.mark.abandoned.swap(false, StatsOrdering::Relaxed);
        core.space
            .begin_sweep((!abandoned).then_some(counted), core.config.verify)
    } else {
        sweep::sweep_all(core, &stopped).live_bytes
    };
    let goal = pacer::heap_goal(&core.config, live_bytes);
    core.goal.store(goal, Relaxed);
    core.trigger
        .store(pacer::trigger(goal, live_bytes), Relaxed);
    let ms = &core.mark;
    core.telemetry
        .cycles
        .store(start.cycle, StatsOrdering::Relaxed);
    let end = record_pause_and_start(core, stopped, start.cycle);
    let procs = core.config.gomaxprocs as u64;
    let (sweep_term, mark, mark_term) = if start.sweep_term_ns == 0 {
        // Stop-the-world: one pause; its flush, mark and the rest as the three phases.
        (
            nanos(start.mark_start - start.requested),
            nanos(t_verify - start.mark_start),
            nanos(end - t_verify),
        )
    } else {
        (
            start.sweep_term_ns,
            nanos(term_requested - start.mark_start),
            nanos(end - term_requested),
        )
    };
    let (assist, background, idle) = (
        ms.assist_ns.load(StatsOrdering::Relaxed),
        ms.background_ns.load(StatsOrdering::Relaxed),
        ms.idle_ns.load(StatsOrdering::Relaxed),
    );
    let stw_mark = if start.sweep_term_ns == 0 { mark } else { 0 };
    let gc_cpu = (sweep_term + stw_mark + mark_term) * procs + assist + background;
    let cumulative_gc_cpu_ns = core
        .telemetry
        .gc_cpu_ns
        .fetch_add(gc_cpu, StatsOrdering::Relaxed)
        + gc_cpu;
    let record = CycleRecord {
        start_ns: core.telemetry.since_start(start.requested),
        end_ns: core.telemetry.since_start(end),
        clock_sweep_term_ns: sweep_term,
        clock_mark_ns: mark,
        clock_mark_term_ns: mark_term,
        heap_end_bytes: heap_end as u64,
        globals_bytes: core.space.globals_bytes() as u64,
        gomaxprocs: procs as u32,
        cumulative_gc_cpu_ns,
        cycle: start.cycle,
        reason: start.reason,
        heap_start_bytes: start.heap_start as u64,
        heap_live_bytes: live_bytes as u64,
        heap_goal_bytes: goal as u64,
        mark_ns: nanos(t_verify - start.mark_start),
        mark_threads: marked.threads as u32,
        marked_objects: marked.marked_objects,
        bad_refs: marked.bad_refs,
        sweep_ns: nanos(end - t_sweep),
        verify_ns: nanos(t_sweep - t_verify),
        scan_work_bytes: marked.scan_work,
        mark_workers: start.workers,
        assist_ns: assist,
        background_mark_ns: background,
        idle_mark_ns: idle,
    };
    if core.config.gctrace {
        crate::telemetry::stderr_line(format_args!("{}", crate::gctrace::gctrace_line(&record)));
    }
    core.telemetry.record_cycle(record);
}

/// Restarts the world and records the pause; returns when it ended (the pause began at
/// `stopped.requested`).
fn record_pause_and_start(core: &HeapCore, stopped: Stopped<'_>, cycle: u64) -> Instant {
    let end = Instant::now();
    let (requested, reached) = (stopped.requested, stopped.reached);
    core.world.start(stopped);
    let tel = &core.telemetry;
    tel.record_pause(PauseRecord {
        cycle,
        start_ns: tel.since_start(requested),
        duration_ns: nanos(end - requested),
        ttsp_ns: nanos(reached - requested),
    });
    end
}

/// The whole cycle in one pause.
fn collect_stopped(core: &HeapCore, reason: CycleReason) {
    finish_previous_sweep(core);
    let heap_start = core.space.heap_live();
    let stopped = stop(core);
    let requested = stopped.requested;
    let cycle = core.telemetry.cycles.load(StatsOrdering::Relaxed) + 1;
    core.mark.begin(cycle, heap_start);
    flush_mutators(core, &stopped, true);
    let mark_start = Instant::now();
    put_in_batches(
        core,
        special_refs(&core.space, scans_finalizer_objects(core)),
    );
    let threads = mark_threads(core, heap_start);
    let marked = mark_from(
        &core.space,
        &core.shaded,
        &core.mark.grey,
        Roots::All(&stopped),
        threads,
    );
    core.mark
        .scan_work
        .store(marked.scan_work, StatsOrdering::Relaxed);
    core.mark.end();
    let start = CycleStart {
        cycle,
        reason,
        heap_start,
        requested,
        sweep_term_ns: 0,
        mark_start,
        workers: 0,
        live_at_mark_start: 0,
    };
    finish_in_pause(core, stopped, start, marked);
}

/// How many times mark termination hands the world back to mutators when its pause
/// finds new grey work, before it finishes the mark inside the pause.
const TERMINATION_RETRIES: u32 = 3;

/// A concurrent cycle, stepped by its caller: [`ConcurrentCycle::scan_roots`],
/// [`ConcurrentCycle::mark`] (as often as wanted, with mutators running in between), then
/// [`ConcurrentCycle::finish`]. This is also the testbed's *inline* mode: a test or a
/// loom model drives the collector itself, with no collector thread.
///
/// Call it from a thread whose mutator (if any) is blocked: the steps wait for running
/// mutators to reach safepoints, and act for blocked ones.
///
/// Dropping it unfinished finishes the cycle (or, while unwinding from a panic, just turns
/// marking off: the next cycle marks whatever was left).
pub struct ConcurrentCycle<'h> {
    core: &'h HeapCore,
    _guard: MutexGuard<'h, ()>,
    start: CycleStart,
    marked: MarkResult,
    /// Mutators running when the cycle started (for the 25% rule's idle workers).
    #[cfg_attr(loom, allow(dead_code))]
    running_at_start: usize,
    done: bool,
}

impl Drop for ConcurrentCycle<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.core.flags.fetch_and(!FLAG_HANDSHAKE, SeqCst);
        if std::thread::panicking() {
            self.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
            self.core.mark.abandoned.store(true, StatsOrdering::Relaxed);
        } else {
            self.finish_steps();
        }
    }
}

impl<'h> ConcurrentCycle<'h> {
    /// Sweep termination: a pause that empties the allocation caches, resets every
    /// mutator's roots-scanned state (Yuasa: scans all roots now), hands the globals to
    /// the marker, and turns the write barriers on.
    pub(crate) fn begin_locked(
        core: &'h HeapCore,
        guard: MutexGuard<'h, ()>,
        reason: CycleReason,
    ) -> ConcurrentCycle<'h> {
        finish_previous_sweep(core);
        let heap_start = core.space.heap_live();
        let stopped = stop(core);
        let cycle = core.telemetry.cycles.load(StatsOrdering::Relaxed) + 1;
        core.mark.begin(cycle, heap_start);
        let running_at_start = stopped.running_mutators();
        flush_mutators(core, &stopped, true);
        let live_at_mark_start = core.space.heap_live();
        let snapshot = core.barrier == BarrierKind::Yuasa;
        for m in stopped.mutators() {
            m.requests.store(0, Relaxed);
            m.roots_scanned.store(snapshot, Release);
            if snapshot {
                core.shaded.put(m.root_refs(&stopped));
            }
        }
        core.shaded.put(global_refs(&core.space));
        core.flags.fetch_or(FLAG_MARKING, SeqCst);
        let mark_start = Instant::now();
        let requested = stopped.requested;
        let end = record_pause_and_start(core, stopped, cycle);
        ConcurrentCycle {
            core,
            _guard: guard,
            start: CycleStart {
                cycle,
                reason,
                heap_start,
                requested,
                sweep_term_ns: nanos(end - requested).max(1),
                mark_start,
                workers: 0,
                live_at_mark_start,
            },
            marked: MarkResult::default(),
            running_at_start,
            done: false,
        }
    }

    /// Panics if the calling thread's mutator of this heap is running.
    fn check_caller(&self) {
        self.core.refuse_running_caller("a concurrent cycle's step");
    }

    /// Scans every mutator's roots once, concurrently (hybrid and Dijkstra; Yuasa took
    /// them in the first pause): running mutators scan their own at their next
    /// safepoint, blocked ones are scanned by the collector.
    pub fn scan_roots(&mut self) {
        self.check_caller();
        scan_roots_concurrently(self.core);
    }

    /// Marks on the calling thread until no grey work is visible (mutators may create
    /// more meanwhile).
    pub fn mark(&mut self) {
        self.check_caller();
        let core = self.core;
        let r = mark_from(&core.space, &core.shaded, &core.mark.grey, Roots::None, 1);
        self.marked.absorb(r);
    }

    /// The concurrent mark of an automatic or `gc()` cycle: background mark workers by
    /// Go's 25% rule (or `HeapConfig::mark_workers`) mark while this thread scans the
    /// roots, until no grey work is visible. Under loom (no threads of the collector's
    /// own) it is [`ConcurrentCycle::scan_roots`] then [`ConcurrentCycle::mark`].
    pub(crate) fn mark_with_workers(&mut self) {
        #[cfg(not(loom))]
        {
            use crate::mark::workers::{self, WorkerPlan};
            self.check_caller();
            let core = self.core;
            let plan = match core.config.mark_workers {
                Some(n) => WorkerPlan::fixed(n),
                None => WorkerPlan::go_rule(core.config.gomaxprocs, self.running_at_start),
            };
            self.start.workers = plan.threads() as u32;
            workers::run(core, plan, || scan_roots_concurrently(core));
        }
        #[cfg(loom)]
        {
            self.scan_roots();
            self.mark();
        }
    }

    /// Mark termination: a ragged handshake collects every barrier buffer and the mark
    /// drains it; then a pause confirms that no grey work is left (Dijkstra: rescans
    /// every mutator's roots). If the pause finds work, it hands the world back and
    /// tries again, at most three times, then finishes the mark in the
    /// pause. Verification, sweep and the next goal follow, in the pause.
    pub fn finish(mut self) {
        self.finish_steps();
    }

    fn finish_steps(&mut self) {
        self.check_caller();
        let core = self.core;
        let mut attempt = 0;
        let flushes = termination_flushes(core);
        loop {
            if flushes {
                handshake(core, REQ_FLUSH);
            }
            self.mark();
            let stopped = stop(core);
            flush_mutators(core, &stopped, flushes);
            let dijkstra = core.barrier == BarrierKind::Dijkstra;
            let work_left = !core.shaded.is_empty() || !core.mark.grey.is_empty();
            if !dijkstra && work_left && attempt < TERMINATION_RETRIES {
                attempt += 1;
                record_pause_and_start(core, stopped, self.start.cycle);
                continue;
            }
            let roots = if dijkstra {
                Roots::Handles(&stopped)
            } else {
                Roots::None
            };
            // Helpers only when there is work to share: starting threads costs more
            // than an empty drain.
            let threads = if dijkstra || work_left {
                mark_threads(core, core.space.heap_live())
            } else {
                1
            };
            let r = mark_from(&core.space, &core.shaded, &core.mark.grey, roots, threads);
            self.marked.absorb(r);
            self.absorb_workers();
            self.done = true;
            finish_in_pause(core, stopped, self.start, self.marked);
            // A forced or stepped cycle returns with the sweep done (Go's runtime.GC);
            // the background thread hands an automatic cycle's sweep to the sweeper.
            if self.start.reason != CycleReason::Automatic {
                core.space.finish_sweep();
            }
            return;
        }
    }
}

impl ConcurrentCycle<'_> {
    /// Adds what workers and assists found to the cycle's result, and closes the scan
    /// work ledger (the next cycle expects as much).
    fn absorb_workers(&mut self) {
        let ms = &self.core.mark;
        let from_workers = MarkResult {
            marked_objects: ms.marked_objects.load(StatsOrdering::Relaxed),
            marked_bytes: ms.marked_bytes.load(StatsOrdering::Relaxed),
            bad_refs: ms.bad_refs.load(StatsOrdering::Relaxed),
            threads: self.start.workers as usize,
            scan_work: ms.scan_work.load(StatsOrdering::Relaxed),
        };
        self.marked.absorb(from_workers);
        ms.scan_work
            .store(self.marked.scan_work, StatsOrdering::Relaxed);
        ms.end();
    }
}

/// The concurrent part of root scanning: the specials and callback queues, then (hybrid
/// and Dijkstra; Yuasa took them in the first pause) every mutator's handles. Specials
/// may be scanned with the mutators running: the barrier is on, so a reference a
/// mutator moves out of a finalizable object is shaded, and a special registered
/// meanwhile shades its own roots (S31).
fn scan_roots_concurrently(core: &HeapCore) {
    put_in_batches(
        core,
        special_refs(&core.space, scans_finalizer_objects(core)),
    );
    if core.barrier != BarrierKind::Yuasa {
        handshake(core, REQ_SCAN);
    }
}

/// Whether mark scans finalizer specials' objects (false only for a loom negative
/// control).
fn scans_finalizer_objects(core: &HeapCore) -> bool {
    #[cfg(loom)]
    return !core.config.faults.skip_finalizer_scan;
    #[cfg(not(loom))]
    {
        let _ = core;
        true
    }
}

/// Hands `refs` to the marker as shaded references, in batches that markers can share.
fn put_in_batches(core: &HeapCore, refs: Vec<crate::object::Ref>) {
    if refs.len() <= crate::mark::pool::BATCH {
        core.shaded.put(refs);
        return;
    }
    for chunk in refs.chunks(crate::mark::pool::BATCH) {
        core.shaded.put(chunk.to_vec());
    }
}

/// Asks every mutator to serve `request` (scan its roots, or flush its barrier buffer)
/// and waits until all have: running mutators serve it at their next safepoint, and the
/// collector serves it for blocked ones, holding each while it does.
fn handshake(core: &HeapCore, request: u32) {
    let mutators = core.world.snapshot();
    for m in &mutators {
        m.requests.fetch_or(request, AcqRel);
    }
    core.flags.fetch_or(FLAG_HANDSHAKE, SeqCst);
    loop {
        let seen = core.world.epoch();
        while let Some(claim) = core.world.claim_blocked(|m| m.requests.load(Acquire) != 0) {
            debug_assert!(claim.covers(&claim.m));
            serve_for(core, &claim);
        }
        let live = core.world.snapshot();
        let pending = mutators.iter().any(|m| {
            m.requests.load(Acquire) != 0 && live.iter().any(|x| std::ptr::eq(&**x, &**m))
        });
        if !pending {
            break;
        }
        core.world.wait_for_change(seen);
    }
    core.flags.fetch_and(!FLAG_HANDSHAKE, SeqCst);
}

/// Asks the heap's background GC thread for a concurrent cycle, starting the thread on
/// first use (normal builds; under loom cycles are always run inline).
pub(crate) fn request_background(core: &crate::sync::Arc<HeapCore>) {
    #[cfg(not(loom))]
    {
        let bg = core.background.clone();
        bg.ensure_thread(|| {
            let weak = std::sync::Arc::downgrade(core);
            let bg = core.background.clone();
            std::thread::Builder::new()
                .name("gc-background".into())
                .spawn(move || background_main(&bg, weak))
                .expect("spawning the background GC thread")
        });
        bg.request();
    }
    #[cfg(loom)]
    let _ = core;
}

/// Asks the heap's background sweeper to sweep the spans left unswept, starting it on
/// first use (Go's `bgsweep`).
#[cfg(not(loom))]
fn request_sweep(core: &std::sync::Arc<HeapCore>) {
    let bg = core.sweeper.clone();
    bg.ensure_thread(|| {
        let weak = std::sync::Arc::downgrade(core);
        let bg = core.sweeper.clone();
        std::thread::Builder::new()
            .name("gc-sweeper".into())
            .spawn(move || {
                while bg.next_request() {
                    if let Some(core) = weak.upgrade() {
                        core.space.finish_sweep();
                    }
                    bg.cycle_done();
                }
            })
            .expect("spawning the background sweeper")
    });
    bg.request_again();
}

/// The background GC thread: runs a concurrent cycle per request until the heap is
/// gone or shut down, coordinating the cycle's mark workers.
#[cfg(not(loom))]
fn background_main(bg: &crate::background::Background, heap: std::sync::Weak<HeapCore>) {
    while bg.next_request() {
        let Some(core) = heap.upgrade() else {
            bg.cycle_done();
            return;
        };
        let guard = cycle_guard(&core);
        if core.space.heap_live() >= start_threshold(&core)
            && core.flags.load(Relaxed) & crate::mutator::world::FLAG_SHUTDOWN == 0
        {
            let mut c = ConcurrentCycle::begin_locked(&core, guard, CycleReason::Automatic);
            bg.started();
            c.mark_with_workers();
            c.finish();
            request_sweep(&core);
        } else {
            drop(guard);
        }
        drop(core);
        bg.cycle_done();
    }
}
