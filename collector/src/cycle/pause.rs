//! The controller's pauses: stopping the world (with the loom fault switch), emptying
//! the mutators' caches and buffers while it is stopped, restarting it with the pause
//! recorded, and finishing the previous sweep before a cycle's first pause.
//!
//! Invariant: every pause the controller takes is recorded once, from the stop request
//! to the restart, with its time to safepoint; mutator-private state is touched only
//! through the `Stopped` proof the stop returns.

use super::phase::Phase;
use crate::core::{AbandonOnUnwind, HeapCore};
use crate::mark::PARALLEL_MARK_MIN_BYTES;
use crate::sync::unmodelled::Ordering as StatsOrdering;
use crate::telemetry::{nanos, PauseRecord};
use crate::world::Stopped;
use std::time::Instant;

/// Sweep termination: finishes the previous cycle's sweep before a new cycle starts
/// (Go's `finishsweep_m`), on the thread starting the cycle.
fn finish_previous_sweep(core: &HeapCore) {
    core.space.finish_sweep();
}

/// Sweep termination's clean-up after an abandoned cycle (its panic left marks that no
/// scan followed, so the next mark would skip what they reach): every mark bit cleared.
/// The world is stopped and the previous sweep finished, so no span awaits its verdict.
fn forget_abandoned_mark(core: &HeapCore, _stopped: &Stopped<'_>) {
    if core.mark.abandoned.swap(false, StatsOrdering::Relaxed) {
        core.space.clear_mark_bits();
    }
}

/// With `HeapConfig::unmap_released_spans`: retires the free spans whose pages were
/// released and that no mutator's root names (`heap::retire`). The world is stopped and
/// the previous sweep finished.
fn retire_released_spans(core: &HeapCore, stopped: &Stopped<'_>) {
    if !core.config.unmap_released_spans {
        return;
    }
    let rooted: std::collections::HashSet<usize> = stopped
        .mutators()
        .flat_map(|m| m.root_refs(stopped))
        .map(|r| r.span())
        .collect();
    core.space.retire_released(&rooted);
}

/// The start of every cycle, as Go's `gcStart` begins one: the previous sweep finished,
/// the world stopped, the phase `SweepTermination` (abandoned if this thread unwinds
/// before the returned guard is dropped), an abandoned mark's bits cleared, and the mark
/// ledger reset. Returns the stopped world, the guard, the heap's size when the cycle
/// began and the cycle's number.
pub(super) fn sweep_termination(core: &HeapCore) -> (Stopped<'_>, AbandonOnUnwind<'_>, usize, u64) {
    finish_previous_sweep(core);
    let heap_start = core.space.heap_live();
    let stopped = stop(core);
    let abandon = AbandonOnUnwind(core);
    core.enter_phase(Phase::SweepTermination);
    forget_abandoned_mark(core, &stopped);
    retire_released_spans(core, &stopped);
    let cycle = core.telemetry.cycles.load(StatsOrdering::Relaxed) + 1;
    core.mark.begin(cycle, heap_start);
    (stopped, abandon, heap_start, cycle)
}

/// Stops the world (honouring the loom fault switch).
pub(super) fn stop(core: &HeapCore) -> Stopped<'_> {
    #[cfg(loom)]
    let skip_wait = core.config.faults.stop_without_waiting;
    #[cfg(not(loom))]
    let skip_wait = false;
    // Parks, idle marking and assists that end while the world stops count up to the
    // request only: the pause is GC time on every P from then (`pacer::p_events`).
    core.space.limiter.pausing(std::time::Instant::now());
    core.world.stop(&core.flags, skip_wait)
}

/// With the world stopped: empties every allocation cache and (unless `wbufs` is false)
/// hands every write-barrier buffer to the collector.
pub(super) fn flush_mutators(core: &HeapCore, stopped: &Stopped<'_>, wbufs: bool) {
    for m in stopped.mutators() {
        m.flush_cache_stopped(stopped, &core.space);
        if !wbufs {
            continue;
        }
        m.hand_over_wbuf_stopped(stopped, &core.shaded);
    }
}

/// Whether mark termination flushes barrier buffers (false only for a loom negative
/// control).
pub(super) fn termination_flushes(core: &HeapCore) -> bool {
    #[cfg(loom)]
    return !core.config.faults.skip_termination_flush;
    #[cfg(not(loom))]
    {
        let _ = core;
        true
    }
}

/// Marker threads for a heap of `heap_bytes`: past the parallel-mark threshold, one per
/// P of `gomaxprocs` up to the CPUs there are, else one.
pub(super) fn mark_threads(core: &HeapCore, heap_bytes: usize) -> usize {
    if heap_bytes >= PARALLEL_MARK_MIN_BYTES {
        core.config.gomaxprocs.min(core.cpus)
    } else {
        1
    }
}

/// Restarts the world and records the pause; returns when it ended (the pause began at
/// `stopped.requested`).
pub(super) fn record_pause_and_start(core: &HeapCore, stopped: Stopped<'_>, cycle: u64) -> Instant {
    let end = Instant::now();
    let (requested, reached) = (stopped.requested, stopped.reached);
    // Still stopped: no assist can update the limiter between the pause and its record
    // (Go holds the limiter from `startGCTransition` to `finishGCTransition`).
    let marking = core.flags.load(StatsOrdering::Relaxed) & crate::world::FLAG_MARKING != 0;
    core.space.limiter.pause(requested, end, marking);
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
