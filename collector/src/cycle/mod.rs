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
mod pause;
pub(crate) mod phase;
mod roots;
#[cfg(not(loom))]
pub(crate) mod service;
mod termination;

use crate::core::{cycle_guard, AbandonOnUnwind, HeapCore};
use crate::mark::{mark_from, special_refs, Roots};
use crate::sync::unmodelled::Ordering as StatsOrdering;
use crate::sync::Ordering::*;
use crate::telemetry::CycleReason;
use concurrent::ConcurrentCycle;
use pause::{finish_previous_sweep, flush_mutators, forget_abandoned_mark, mark_threads, stop};
use phase::Phase;
use roots::{put_in_batches, scans_finalizer_objects};
use std::time::Instant;
use termination::{finish_in_pause, CycleStart};

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
pub(crate) fn start_threshold(core: &HeapCore) -> usize {
    if core.config.concurrent {
        core.trigger.load(Relaxed)
    } else {
        core.goal.load(Relaxed)
    }
}

/// The whole cycle in one pause.
fn collect_stopped(core: &HeapCore, reason: CycleReason) {
    finish_previous_sweep(core);
    let heap_start = core.space.heap_live();
    let stopped = stop(core);
    let _abandon = AbandonOnUnwind(core);
    core.enter_phase(Phase::SweepTermination);
    forget_abandoned_mark(core, &stopped);
    let requested = stopped.requested;
    let cycle = core.telemetry.cycles.load(StatsOrdering::Relaxed) + 1;
    core.mark.begin(cycle, heap_start);
    flush_mutators(core, &stopped, true);
    core.enter_phase(Phase::Mark);
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
    core.enter_phase(Phase::MarkTermination);
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
    core.enter_phase(Phase::Off);
}
