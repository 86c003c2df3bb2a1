//! The cycle controller: one collection from start to finish, written as the phase
//! machine of [`phase`] (Go's `gcStart`, `gcMarkDone`, `gcMarkTermination`), in either
//! mode:
//!
//! - **Concurrent** (the default; [`ConcurrentCycle`]): a short pause starts marking
//!   (sweep termination), roots are scanned and objects marked while mutators run with
//!   their write barriers on, and a second pause ends it (mark termination), verifies and
//!   sets up the sweep, which then runs lazily and in the background.
//! - **Stop-the-world** (Go's `GODEBUG=gcstoptheworld=1`, `concurrent: false`): the whole
//!   cycle — flush the allocation caches, mark, verify, sweep, set the next goal — in one
//!   pause.
//!
//! Files: [`phase`] (the phases and what holds in each), `pause` (stopping, flushing and
//! restarting the world), `roots` (root scanning and handshakes), `termination` (the end
//! of every cycle, in its last pause), [`concurrent`] (the stepped concurrent cycle),
//! this file (`gc()` and the stop-the-world cycle), `service` (the background GC thread
//! and sweeper).
//!
//! Invariant: a cycle runs only while its thread holds the heap's cycle lock, and moves
//! through the phases only by `HeapCore::enter_phase`.

pub(crate) mod concurrent;
pub(crate) mod pacing_now;
mod pause;
pub(crate) mod phase;
mod roots;
#[cfg(not(loom))]
pub(crate) mod service;
mod termination;

use crate::core::{cycle_guard, CycleGuard, HeapCore};
use crate::mark::special_roots::special_refs;
use crate::mark::{mark_from, Roots};
use crate::sync::unmodelled::Ordering as StatsOrdering;
use crate::telemetry::CycleReason;
use concurrent::ConcurrentCycle;
use pause::{flush_mutators, mark_threads, sweep_termination};
use phase::Phase;
use roots::{put_in_batches, scans_finalizer_objects};
use std::time::Instant;
use termination::{finish_in_pause, pacing_at_start, CycleStart};

/// Runs a cycle for `reason`. A forced one is Go's `runtime.GC` ([`gc`]). Any other waits
/// for a cycle in progress (its caller is over the goal, and must not go on allocating
/// meanwhile), then runs unless an automatic one finds the heap no longer over its
/// start threshold.
pub(crate) fn collect(core: &HeapCore, reason: CycleReason) {
    if reason == CycleReason::Forced {
        return gc(core);
    }
    let guard = cycle_guard(core);
    if reason == CycleReason::Automatic && core.space.heap_live() < start_threshold(core) {
        return;
    }
    run_locked(core, guard, reason);
}

/// Go's `runtime.GC` for concurrent callers: a caller notes how many cycles have begun
/// (`n`), waits for the cycle in progress, then runs a cycle unless one begun after its
/// call (numbered above `n`) has completed meanwhile — started by another caller or the
/// background thread — and returns when that cycle is complete and its sweep done. So
/// callers that arrive while cycle `n` runs share cycle `n + 1`, and each still gets a
/// complete cycle begun after its call (an abandoned one does not count).
fn gc(core: &HeapCore) {
    let n = core.phase.started();
    let _caller = core.telemetry.gc_caller();
    let guard = cycle_guard(core);
    if core.phase.last_completed() <= n {
        return run_locked(core, guard, CycleReason::Forced);
    }
    // A cycle begun after this call has completed (the lock is free only between
    // cycles); an automatic one left its sweep to the sweeper, which Go's runtime.GC
    // finishes.
    drop(guard);
    core.finish_sweep_for_gc();
}

/// Runs one cycle (concurrent or stop-the-world, as the heap is configured) with the
/// cycle lock held.
fn run_locked(core: &HeapCore, guard: CycleGuard<'_>, reason: CycleReason) {
    if core.config.concurrent {
        let mut c = ConcurrentCycle::begin_with_workers(core, guard, reason);
        c.mark_with_workers();
        c.finish();
    } else {
        collect_stopped(core, reason);
    }
}

/// The heap size at which an automatic cycle starts: the trigger for concurrent heaps,
/// the goal for stop-the-world ones.
#[inline]
pub(crate) fn start_threshold(core: &HeapCore) -> usize {
    if core.config.concurrent {
        pacing_now::trigger(core)
    } else {
        pacing_now::goal(core)
    }
}

/// The whole cycle in one pause.
fn collect_stopped(core: &HeapCore, reason: CycleReason) {
    let (stopped, _abandon, heap_start, cycle) = sweep_termination(core);
    let (trigger, goal) = pacing_at_start(core, heap_start);
    let requested = stopped.requested;
    flush_mutators(core, &stopped, true);
    core.enter_phase(Phase::Mark);
    let mark_start = Instant::now();
    // The live bytes come from the sweep here (it counts the objects it resurrects), so
    // the finalizer objects' scan is not counted as marked: unlike Go's gcstoptheworld
    // mode, whose mark counts them as its concurrent one does (`mark::special_roots`),
    // a reachable one twice.
    let refs = special_refs(&core.space, scans_finalizer_objects(core), |_, _| {});
    put_in_batches(core, refs);
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
    core.enter_phase(Phase::MarkTermination);
    let start = CycleStart {
        cycle,
        reason,
        heap_start,
        trigger,
        goal,
        // Nothing allocates in the one pause: heapLive as the mark left it.
        heap_live_end: core.space.heap_live(),
        requested,
        sweep_term_ns: 0,
        mark_start,
        workers: 0,
        running: 0,
        live_at_mark_start: 0,
    };
    finish_in_pause(core, stopped, start, marked);
    core.enter_phase(Phase::Off);
}
