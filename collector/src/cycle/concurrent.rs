//! A concurrent cycle, stepped by its caller or run whole by `gc()` and the background
//! GC thread: sweep termination, the concurrent mark (workers, assists, root
//! handshakes), and mark termination, each step entering its phase.
//!
//! Invariant: a `ConcurrentCycle` holds the cycle lock from its first pause to its end,
//! so no other cycle runs meanwhile; dropped unfinished it finishes the cycle, or while
//! unwinding from a panic abandons it (`HeapCore::abandon_cycle`).

use super::pause::{
    flush_mutators, mark_threads, record_pause_and_start, stop, sweep_termination,
    termination_flushes,
};
use super::phase::Phase;
use super::roots::{handshake, scan_roots_concurrently, scan_specials};
use super::termination::{finish_in_pause, pacing_at_start, CycleStart};
use crate::core::{AbandonOnUnwind, CycleGuard, HeapCore};
use crate::mark::pool::GreyPool;
use crate::mark::{global_refs, mark_from, MarkResult, Roots};
use crate::sync::unmodelled::Ordering as StatsOrdering;
use crate::sync::Ordering::*;
use crate::telemetry::{nanos, CycleReason};
use crate::world::mutator_state::REQ_FLUSH;
use crate::world::FLAG_HANDSHAKE;
use std::time::Instant;

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
/// Dropping it unfinished finishes the cycle; dropped while unwinding from a panic, or if
/// finishing it panics (a misuse: dropped on a thread whose mutator runs), it abandons
/// the cycle, and the next one clears its marks and marks from scratch.
pub struct ConcurrentCycle<'h> {
    core: &'h HeapCore,
    _guard: CycleGuard<'h>,
    start: CycleStart,
    marked: MarkResult,
    /// Mutators running when the cycle started (for the 25% rule's idle workers).
    #[cfg_attr(loom, allow(dead_code))]
    running_at_start: usize,
    done: bool,
}

impl Drop for ConcurrentCycle<'_> {
    fn drop(&mut self) {
        if crate::sync::unmodelled::thread::panicking() {
            // Wherever the panic came from, even after `done`: the next cycle starts from
            // `Off` with the abandoned mark noted.
            self.core.abandon_cycle();
        } else if !self.done {
            // A panic while finishing (a misuse panic of the caller check, say) abandons
            // the cycle rather than leave the collector in its phase.
            let _abandon = AbandonOnUnwind(self.core);
            self.core.flags.fetch_and(!FLAG_HANDSHAKE, SeqCst);
            self.finish_steps();
        }
    }
}

impl<'h> ConcurrentCycle<'h> {
    /// Sweep termination: a pause that empties the allocation caches, resets every
    /// mutator's roots-scanned state (Yuasa: scans all roots now), hands the globals to
    /// the marker, and turns the write barriers on. A stepped cycle: assists never park
    /// (its caller may be the allocating mutator's own thread).
    pub(crate) fn begin_locked(
        core: &'h HeapCore,
        guard: CycleGuard<'h>,
        reason: CycleReason,
    ) -> ConcurrentCycle<'h> {
        Self::begin(core, guard, reason, false)
    }

    /// [`ConcurrentCycle::begin_locked`] for a cycle whose mark runs whole
    /// ([`ConcurrentCycle::mark_with_workers`], then `finish`): assists may park (Go's
    /// `gcParkAssist`) from the moment marking is on. The park queue opens inside this
    /// first pause, not when the coordinator reaches its mark: a GC thread starved
    /// between the two (under valgrind, or a busy core) otherwise left an assist with
    /// no grey work yet (roots unscanned) or none left free to allocate on, marking on
    /// and nothing paced; the heap ran to 30 times its goal in one mark.
    pub(crate) fn begin_with_workers(
        core: &'h HeapCore,
        guard: CycleGuard<'h>,
        reason: CycleReason,
    ) -> ConcurrentCycle<'h> {
        Self::begin(core, guard, reason, true)
    }

    fn begin(
        core: &'h HeapCore,
        guard: CycleGuard<'h>,
        reason: CycleReason,
        parks_assists: bool,
    ) -> ConcurrentCycle<'h> {
        let (stopped, _abandon, heap_start, cycle) = sweep_termination(core);
        let (trigger, goal) = pacing_at_start(core, heap_start);
        let running_at_start = stopped.running_mutators();
        flush_mutators(core, &stopped, true);
        let live_at_mark_start = core.space.heap_live();
        let snapshot = core.roots.snapshot_at_start;
        for m in stopped.mutators() {
            m.requests.store(0, Relaxed);
            m.roots_scanned.store(snapshot, Release);
            if snapshot {
                core.shaded.put(m.root_refs(&stopped));
            }
        }
        core.shaded.put(global_refs(&core.space));
        if parks_assists {
            // Before the world restarts with marking on; closed at the mark's end or
            // abandonment (`MarkState::end`, `HeapCore::abandon_cycle`).
            core.mark.parked.open(cycle);
            #[cfg(not(loom))]
            plan_idle_ps(core, running_at_start);
        }
        core.enter_phase(Phase::Mark);
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
                trigger,
                goal,
                heap_live_end: 0,
                requested,
                sweep_term_ns: nanos(end - requested).max(1),
                mark_start,
                workers: 0,
                running: running_at_start as u32,
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
        scan_roots_concurrently(self.core, false);
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
    /// roots, until no grey work is visible. Under loom the workers are model threads
    /// (`Heap::run_mark_worker`), as many as `HeapConfig::mark_workers` names; with none
    /// named it is [`ConcurrentCycle::scan_roots`] then [`ConcurrentCycle::mark`].
    pub(crate) fn mark_with_workers(&mut self) {
        use crate::mark::workers;
        use crate::pacer::WorkerPlan;
        self.check_caller();
        let core = self.core;
        #[cfg(not(loom))]
        let plan = match core.config.mark_workers {
            Some(n) => WorkerPlan::fixed(n),
            None => WorkerPlan::go_rule(core.config.gomaxprocs, self.running_at_start),
        }
        .capped(core.cpus);
        #[cfg(loom)]
        let plan = match core.config.mark_workers {
            Some(n) => WorkerPlan::fixed(n),
            None => {
                self.scan_roots();
                return self.mark();
            }
        };
        self.start.workers = plan.threads() as u32;
        let mark_start = self.start.mark_start;
        workers::run(core, plan, || {
            let specials = scan_roots_concurrently(core, workers::root_scan_is_idle(plan));
            workers::count_root_scan_time(core, plan, nanos(specials), mark_start);
        });
    }

    /// The concurrent mark with mark workers (loom builds): what `gc()` and the
    /// background GC thread run between the first pause and mark termination
    /// (`mark::workers::run`); the model runs the `HeapConfig::mark_workers` workers on
    /// its threads with [`crate::Heap::run_mark_worker`].
    #[cfg(loom)]
    pub fn mark_with_workers_inline(&mut self) {
        self.mark_with_workers();
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
            self.start.heap_live_end = core.space.heap_live();
            core.enter_phase(Phase::MarkTermination);
            flush_mutators(core, &stopped, flushes);
            let rescan = core.roots.rescan_at_termination;
            let work_left = !core.shaded.is_empty() || !core.mark.grey.is_empty();
            if !rescan && work_left && attempt < TERMINATION_RETRIES {
                attempt += 1;
                core.enter_phase(Phase::Mark);
                record_pause_and_start(core, stopped, self.start.cycle);
                continue;
            }
            // A mutator whose roots this cycle never scanned (a stepped cycle finished
            // or dropped without `scan_roots`) has its handles marked here, or what only
            // they reach would be swept under them.
            let unscanned = stopped.mutators().any(|m| !m.roots_scanned.load(Acquire));
            // So are the specials' roots (what finalizers and cleanups hold).
            let specials_unscanned = !core.mark.specials_scanned();
            if specials_unscanned {
                scan_specials(core);
            }
            let roots = if rescan || unscanned {
                Roots::Handles(&stopped)
            } else {
                Roots::None
            };
            // Helpers only when there is work to share: starting threads costs more
            // than an empty drain.
            let threads = if rescan || unscanned || specials_unscanned || work_left {
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
                core.finish_sweep_for_gc();
            }
            core.enter_phase(Phase::Off);
            return;
        }
    }
}

/// Tells the GC CPU limiter how many Ps the mark's parked assists can leave idle and how
/// many idle markers count (`pacer::p_events`): GOMAXPROCS less the mark's dedicated
/// workers, and its idle workers, by Go's rule (uncapped: the limiter's Ps are GOMAXPROCS
/// Ps), for the mutators running at its start. In the first pause, before any assist of
/// the mark can park.
#[cfg(not(loom))]
fn plan_idle_ps(core: &HeapCore, running: usize) {
    let plan = match core.config.mark_workers {
        Some(n) => crate::pacer::WorkerPlan::fixed(n),
        None => crate::pacer::WorkerPlan::go_rule(core.config.gomaxprocs, running),
    };
    let free = core.config.gomaxprocs.saturating_sub(plan.dedicated);
    core.space.limiter.plan_mark(running, free, plan.idle);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Gogc, Heap, HeapConfig};

    /// What an assist of `cycle` that owes 10 units gets from the park queue when the
    /// bank holds 100: 0 if the queue is open (it takes the credit instead of waiting),
    /// 10 if it is not (the debt carries over and the mutator allocates on).
    fn parked_debt(core: &HeapCore, cycle: u64) -> i64 {
        core.mark.bg_credit.store(100, StatsOrdering::Relaxed);
        core.mark.parked.park(&core.mark.bg_credit, cycle, 10)
    }

    /// A whole cycle's assists may park from its first pause on, before the coordinator
    /// reaches its mark: a GC thread starved between the two (under valgrind) otherwise
    /// left assists with no grey work free to allocate on, and the heap ran to 30 times
    /// its goal in one mark (`concurrent_mark`'s assist tests under memcheck). A stepped
    /// cycle parks none (its caller may be the allocating mutator's thread).
    #[test]
    fn a_whole_cycles_assists_may_park_from_its_first_pause() {
        let heap: Heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            concurrent: true,
            ..HeapConfig::default()
        })
        .unwrap();
        let core = &*heap.core;
        let c = ConcurrentCycle::begin_with_workers(
            core,
            crate::core::cycle_guard(core),
            CycleReason::Forced,
        );
        let cycle = c.start.cycle;
        assert_eq!(parked_debt(core, cycle), 0, "open before the mark begins");
        c.finish();
        let c = ConcurrentCycle::begin_locked(
            core,
            crate::core::cycle_guard(core),
            CycleReason::Forced,
        );
        assert_eq!(
            parked_debt(core, c.start.cycle),
            10,
            "a stepped cycle parks none"
        );
        c.finish();
    }
}
