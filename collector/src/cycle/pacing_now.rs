//! The goal and trigger in force now. A heap without a memory limit keeps those its last
//! cycle's end committed, as Go fixes `gcPercentHeapGoal` at `commit`. With a memory
//! limit, Go's `heapGoalInternal` recomputes `memoryLimitHeapGoal` from the memory held at
//! every check (each allocation's trigger test, each assist's `revise`): the goal rises
//! as the mutators fill the free slots of spans in use and falls as the sweep frees
//! objects in spans it keeps. Here too, from what the last cycle's end committed and
//! the memory the heap holds now. A goal fixed at the cycle's end did not rise with the
//! refilled slots: once a cycle ended with little allocated since the last, the free
//! slots of partly live spans counted as memory held beyond the heap, the next goal was
//! the live heap itself, and so was every goal after it (results/pacer-go-fidelity.md
//! finding 22).
//!
//! Invariant: `HeapCore::committed` is written only at a cycle's end (a pause, by the
//! holder of `cycle_lock`) and its readers tolerate a stale value, as the pacer's other
//! fast checks do (`core`); without a memory limit [`now`] reads `HeapCore::goal` and
//! `HeapCore::trigger` alone.

use crate::core::HeapCore;
use crate::pacer::{self, MemoryHeld, Pacing};
use crate::sync::unmodelled::Ordering::Relaxed;

/// The goal and trigger in force: those committed, or with a memory limit, those
/// recomputed from the memory the heap holds now (Go's `heapGoalInternal` and `trigger`).
#[inline]
pub(crate) fn now(core: &HeapCore) -> Pacing {
    match core.config.memory_limit {
        None => Pacing {
            goal: core.goal.load(Relaxed),
            trigger: core.trigger.load(Relaxed),
        },
        Some(limit) => with_limit(core, limit),
    }
}

/// The goal in force ([`now`]'s), with one load when no memory limit is set.
#[inline]
pub(crate) fn goal(core: &HeapCore) -> usize {
    match core.config.memory_limit {
        None => core.goal.load(Relaxed),
        Some(limit) => with_limit(core, limit).goal,
    }
}

/// The trigger in force ([`now`]'s), with one load when no memory limit is set.
#[inline]
pub(crate) fn trigger(core: &HeapCore) -> usize {
    match core.config.memory_limit {
        None => core.trigger.load(Relaxed),
        Some(limit) => with_limit(core, limit).trigger,
    }
}

/// [`now`] for a heap with a memory limit.
#[inline(never)]
fn with_limit(core: &HeapCore, limit: usize) -> Pacing {
    let space = &core.space;
    let held = MemoryHeld::new(
        Some(limit),
        space.pages.in_use(),
        space.pages.retained(),
        space.heap_alloc(),
    );
    let c = core.committed.load();
    pacer::pace_held(
        &core.config,
        c.marked,
        c.globals,
        c.sweep_done,
        held,
        c.runway,
    )
}
