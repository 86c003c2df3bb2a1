//! The end of every cycle, inside its last pause: mark termination's verification and
//! leak check, then the sweep phase (marking off, the sweep set up or done, the next goal
//! and trigger); the world restarts, and the cycle's records and gctrace line are written
//! (unless the leak checker in Go's mode found something: then the process ends there,
//! as Go's `throw` does, with the cycle unrecorded).
//!
//! Invariant: on entry no grey work is left (the phase is `MarkTermination`), so the
//! mark bits are final: every reachable object is marked. The live heap the pacer is
//! given is the bytes the mark counted plus what was allocated black since the first
//! pause (complete after an abandoned cycle too: its marks were cleared in this cycle's
//! first pause).

use super::pause::{record_pause_and_start, termination_flushes};
use super::phase::Phase;
use crate::config::LeakCheck;
use crate::core::HeapCore;
use crate::leakcheck;
use crate::mark::pool::GreyPool;
use crate::mark::MarkResult;
use crate::sync::unmodelled::Ordering as StatsOrdering;
use crate::sync::Ordering::*;
use crate::telemetry::{nanos, CycleReason, CycleRecord};
use crate::world::Stopped;
use crate::{pacer, sweep, verify};
use std::time::Instant;

/// What the end of a cycle needs to know about its beginning.
#[derive(Clone, Copy)]
pub(super) struct CycleStart {
    pub(super) cycle: u64,
    pub(super) reason: CycleReason,
    /// Go's `heapLive` just before the first pause (`work.heap0`).
    pub(super) heap_start: usize,
    /// The trigger and this cycle's goal when it started (for its record).
    pub(super) trigger: usize,
    pub(super) goal: usize,
    /// Go's `heapLive` when mark termination began, before the caches were emptied
    /// (`work.heap1`; set by the last step of the mark).
    pub(super) heap_live_end: usize,
    /// When the cycle's first stop was requested.
    pub(super) requested: Instant,
    /// The first pause (sweep termination) of a concurrent cycle; 0 for stop-the-world.
    pub(super) sweep_term_ns: u64,
    pub(super) mark_start: Instant,
    /// Mark worker threads the concurrent mark ran (0 for stop-the-world cycles).
    pub(super) workers: u32,
    /// Mutators running when the cycle began (0 for stop-the-world cycles).
    pub(super) running: u32,
    /// The heap's live bytes once the first pause had emptied the allocation caches.
    /// Everything allocated from then until mark termination is allocated black, and
    /// grows the live bytes by exactly its slots (a cached span counts whole, and its
    /// unused slots come off when the cache gives it back), so mark termination's live
    /// heap is the bytes the markers marked plus the growth since this.
    pub(super) live_at_mark_start: usize,
}

/// The trigger in force and the goal a cycle that starts with `heap_start` bytes paces to
/// (Go's `heapGoal`, `minRunway` included), for its record.
pub(super) fn pacing_at_start(core: &HeapCore, heap_start: usize) -> (usize, usize) {
    let now = super::pacing_now::now(core);
    let goal = pacer::assist_goal(&core.config, now.goal, heap_start);
    (now.trigger, goal)
}

/// Whether this cycle's sweep runs after its last pause, beside the mutators (concurrent
/// heaps, under loom too), rather than inside the pause.
fn sweeps_concurrently(core: &HeapCore) -> bool {
    core.config.concurrent
}

/// The end of every cycle, inside its last pause: verification, sweep, the next goal, and
/// the cycle's records. Restarts the world.
pub(super) fn finish_in_pause(
    core: &HeapCore,
    stopped: Stopped<'_>,
    mut start: CycleStart,
    marked: MarkResult,
) {
    let t_verify = Instant::now();
    let heap_end = core.space.heap_live();
    // Go's heapAlloc: no second count of reachable finalizable objects (`heap::live`).
    let heap_alloc = core.space.heap_alloc();
    let term_requested = stopped.requested;
    if core.config.verify {
        verify::checkmark(core, &stopped, start.cycle);
        core.telemetry
            .cycles_checked
            .fetch_add(1, StatsOrdering::Relaxed);
    }
    let go_fatal = leak_check(core, start.cycle);
    // Before the sweep, as Go's `endCycle` comes before `gcSweep`.
    let limited_at_end = limited_goal_at_end(core, &mut start);
    core.enter_phase(Phase::Sweep);
    debug_assert!(
        (core.shaded.is_empty() && core.mark.grey.is_empty()) || !termination_flushes(core),
        "grey work left after the mark"
    );
    let t_sweep = Instant::now();
    // Go's `lastHeapInUse` is read after `gcSweep` in the pause: everything swept in a
    // blocking sweep, nothing yet in a concurrent one (whose sweeper here may still be
    // finishing the last generation during the pause).
    let in_use_unswept = core.space.pages.in_use();
    let live_bytes = if sweeps_concurrently(core) {
        let allocated_black = heap_end.saturating_sub(start.live_at_mark_start);
        let counted = marked.marked_bytes as usize + allocated_black;
        let finalizer_objects = core
            .mark
            .finalizer_object_bytes
            .load(StatsOrdering::Relaxed);
        core.space
            .begin_sweep(counted, finalizer_objects as usize, core.config.verify)
    } else {
        sweep::sweep_all(core, &stopped).live_bytes
    };
    let sweep_done = !sweeps_concurrently(core);
    let (globals, held) = (core.space.globals_bytes(), memory_held(core, heap_alloc));
    let runway = next_runway(core, &start, &marked, term_requested);
    let inputs = (live_bytes, globals, sweep_done, runway);
    let (pacing, committed) = commit_pacing(core, inputs, held);
    let goal = pacing.goal;
    let in_use = if sweep_done {
        core.space.pages.in_use()
    } else {
        in_use_unswept
    };
    let goal_at_end = limited_at_end.unwrap_or(committed);
    core.space.pages.pace_scavenger(goal, goal_at_end, in_use);
    core.trigger.store(pacing.trigger, Relaxed);
    core.telemetry
        .cycles
        .store(start.cycle, StatsOrdering::Relaxed);
    let end = record_pause_and_start(core, stopped, start.cycle);
    if let Some((findings, queue)) = go_fatal {
        // Go's mode ends the process at the end of the cycle, the world running again
        // (the cycle lock still held), with `_exit`: no thread-local destructor or exit
        // hook of this thread runs (one that used the heap would wait for that lock).
        leakcheck::report_go_and_exit(&findings, &queue);
    }
    let clocks = Clocks {
        term_requested,
        verify: t_verify,
        sweep: t_sweep,
        end,
    };
    record_cycle(core, &start, &marked, clocks, live_bytes, goal);
}

/// Go's `lastHeapGoal` (`endCycle`) for a memory-limited heap: the goal in force as the
/// mark ended, which moves with the memory held (`pacing_now`), recorded as the cycle's
/// goal. `None` for any other heap: its goal in force is the one committed, which
/// `start.goal` already has.
fn limited_goal_at_end(core: &HeapCore, start: &mut CycleStart) -> Option<usize> {
    core.config.memory_limit?;
    let goal = super::pacing_now::goal(core);
    start.goal = pacer::assist_goal(&core.config, goal, start.heap_start);
    Some(goal)
}

/// What the spans hold beyond their objects: in-use span bytes less `heap_alloc` (Go's
/// heapAlloc before this cycle's sweep frees any), and what is retained over the limit.
fn memory_held(core: &HeapCore, heap_alloc: usize) -> pacer::MemoryHeld {
    pacer::MemoryHeld::new(
        core.config.memory_limit,
        core.space.pages.in_use(),
        core.space.pages.retained(),
        heap_alloc,
    )
}

/// The next goal and trigger (Go's `commit`) from the pacer's inputs (the live bytes,
/// globals, whether the sweep is done, the runway) and the memory held: commits the goal
/// and the inputs (the caller stores the trigger), and returns the pacing with the goal
/// committed before.
fn commit_pacing(
    core: &HeapCore,
    (live_bytes, globals, sweep_done, runway): (usize, usize, bool, usize),
    held: pacer::MemoryHeld,
) -> (pacer::Pacing, usize) {
    let pacing = pacer::pace_held(&core.config, live_bytes, globals, sweep_done, held, runway);
    core.committed
        .store(live_bytes, globals, sweep_done, runway);
    (pacing, core.goal.swap(pacing.goal, Relaxed))
}

/// The next concurrent mark's runway (Go's `endCycle` then `commit`): this mark's
/// cons/mark measured into the estimate, and the runway it gives for as much scan work as
/// this mark did. A stop-the-world mark (the mutators stopped) measures nothing.
fn next_runway(
    core: &HeapCore,
    start: &CycleStart,
    marked: &MarkResult,
    term_requested: Instant,
) -> usize {
    let mut estimate = crate::sync::unmodelled::lock(&core.cons_mark);
    if start.sweep_term_ns == 0 {
        return estimate.runway(marked.scan_work);
    }
    let cost = pacer::MarkCost {
        growth: start.heap_live_end.saturating_sub(start.heap_start),
        scan_work: marked.scan_work,
        duration_ns: nanos(term_requested.saturating_duration_since(start.mark_start)),
        assist_ns: core.mark.assist_ns.load(StatsOrdering::Relaxed),
        idle_ns: core.mark.idle_ns.load(StatsOrdering::Relaxed),
        procs: core.config.gomaxprocs,
    };
    estimate.update(&cost);
    estimate.runway(marked.scan_work)
}

/// Runs the leak checker in its mode. Report mode records its findings; Go's mode
/// returns them when there are any (with the queue line), for the fatal report at the
/// end of the cycle.
fn leak_check(core: &HeapCore, cycle: u64) -> Option<(Vec<leakcheck::Finding>, String)> {
    if core.config.leak_check == LeakCheck::Off {
        return None;
    }
    let (findings, queue) = leakcheck::check(&core.space, cycle, &core.phase_threads());
    if core.config.leak_check == LeakCheck::Go && !findings.is_empty() {
        return Some((findings, queue));
    }
    let lines = findings.iter().map(leakcheck::Finding::line).collect();
    core.telemetry.record_leaks(lines, queue);
    None
}

/// When the parts of a cycle's last pause began and ended.
struct Clocks {
    term_requested: Instant,
    verify: Instant,
    sweep: Instant,
    end: Instant,
}

/// Records the cycle (its phase clocks, heaps, goal, mark CPU) and prints its gctrace
/// line when asked.
fn record_cycle(
    core: &HeapCore,
    start: &CycleStart,
    marked: &MarkResult,
    clocks: Clocks,
    marked_bytes: usize,
    next_goal: usize,
) {
    let Clocks {
        term_requested,
        verify: t_verify,
        sweep: t_sweep,
        end,
    } = clocks;
    let ms = &core.mark;
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
        globals_bytes: core.space.globals_bytes() as u64,
        gomaxprocs: procs as u32,
        cumulative_gc_cpu_ns,
        cycle: start.cycle,
        reason: start.reason,
        heap_live_start_bytes: start.heap_start as u64,
        heap_live_end_bytes: start.heap_live_end as u64,
        heap_marked_bytes: marked_bytes as u64,
        heap_goal_bytes: start.goal as u64,
        trigger_bytes: start.trigger as u64,
        next_heap_goal_bytes: next_goal as u64,
        mark_ns: nanos(t_verify - start.mark_start),
        mark_threads: marked.threads as u32,
        marked_objects: marked.marked_objects,
        bad_refs: marked.bad_refs,
        sweep_ns: nanos(end - t_sweep),
        verify_ns: nanos(t_sweep - t_verify),
        scan_work_bytes: marked.scan_work,
        mark_workers: start.workers,
        running_mutators: start.running,
        assist_ns: assist,
        background_mark_ns: background,
        idle_mark_ns: idle,
    };
    if core.config.gctrace {
        crate::telemetry::stderr_line(format_args!("{}", crate::gctrace::gctrace_line(&record)));
    }
    core.telemetry.record_cycle(record);
}
