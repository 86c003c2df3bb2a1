//! The cycle controller: one collection from start to finish. This first collector is
//! stop-the-world: the whole cycle — flush the allocation caches, mark, verify, sweep,
//! set the next goal — runs in one pause on the thread that started it.

use crate::mark::pool::GreyPool;
use crate::mark::{mark_stopped, PARALLEL_MARK_MIN_BYTES};
use crate::mutator::{cycle_guard, HeapCore};
use crate::sync::{stats::Ordering as StatOrdering, Ordering::*};
use crate::telemetry::{nanos, CycleReason, CycleRecord, PauseRecord};
use crate::{pacer, sweep, verify};
use std::time::Instant;

/// Runs one cycle. An automatic cycle is skipped if another thread is collecting or the
/// heap is no longer over its goal; a forced one waits its turn and always runs.
pub(crate) fn collect(core: &HeapCore, reason: CycleReason) {
    let automatic = reason == CycleReason::Automatic;
    let Some(_cycle) = cycle_guard(core, automatic) else {
        return;
    };
    let space = &core.space;
    if automatic && space.heap_live() < core.goal.load(Relaxed) {
        return;
    }
    let heap_start = space.heap_live();
    #[cfg(loom)]
    let skip_wait = core.config.faults.stop_without_waiting;
    #[cfg(not(loom))]
    let skip_wait = false;
    let stopped = core.world.stop(&core.flags, skip_wait);
    let cycle = core.telemetry.cycles.load(StatOrdering::Relaxed) + 1;
    for m in stopped.mutators() {
        m.flush_cache_stopped(&stopped, space);
        let wbuf = m.take_wbuf_stopped(&stopped);
        if !wbuf.is_empty() {
            core.shaded.put(wbuf);
        }
    }

    let t_mark = Instant::now();
    let threads = if heap_start >= PARALLEL_MARK_MIN_BYTES {
        core.config.gomaxprocs
    } else {
        1
    };
    let marked = mark_stopped(space, &core.shaded, &stopped, threads);

    let t_verify = Instant::now();
    if core.config.verify {
        verify::checkmark(core, &stopped, cycle);
        core.telemetry
            .cycles_checked
            .fetch_add(1, StatOrdering::Relaxed);
    }

    let t_sweep = Instant::now();
    let swept = sweep::sweep_all(core, &stopped);
    let goal = pacer::heap_goal(&core.config, swept.live_bytes);
    core.goal.store(goal, Relaxed);
    core.telemetry.cycles.store(cycle, StatOrdering::Relaxed);

    let end = Instant::now();
    let requested = stopped.requested;
    let reached = stopped.reached;
    core.world.start(stopped);

    let tel = &core.telemetry;
    tel.record_pause(PauseRecord {
        cycle,
        start_ns: tel.since_start(requested),
        duration_ns: nanos(end - requested),
        ttsp_ns: nanos(reached - requested),
    });
    tel.record_cycle(CycleRecord {
        cycle,
        reason,
        heap_start_bytes: heap_start as u64,
        heap_live_bytes: swept.live_bytes as u64,
        heap_goal_bytes: goal as u64,
        mark_ns: nanos(t_verify - t_mark),
        mark_threads: marked.threads as u32,
        marked_objects: marked.marked_objects,
        bad_refs: marked.bad_refs,
        sweep_ns: nanos(end - t_sweep),
        verify_ns: nanos(t_sweep - t_verify),
    });
}
