//! The pacer (Go's `mgcpacer.go`): when the next automatic cycle starts, and how a
//! concurrent mark keeps up — Go's GOGC heap goal, `live + (live + globals) × GOGC/100`
//! (the testbed has no goroutine stacks, Go's third term), floored at Go's scaled
//! `heapMinimum`, lowered to a soft memory limit; for concurrent heaps a trigger a runway
//! below the goal (Go's cons/mark estimate, [`ConsMark`]), within Go's bounds, so that
//! marking, which runs while the heap grows, can end near the goal; the goal a mark's
//! assists pace to (`minRunway`); the hard goal; how many background mark workers run
//! (Go's 25% rule); and what an allocation owes in assist work (Go's `revise`).
//!
//! A departure in order: a refill tests the trigger (and may start a cycle) before the
//! span it takes is counted in the heap, where Go's `mallocgc` counts the span in
//! `heapLive` first; so a mark can begin with the heap exactly at its goal, which the
//! assists' pricing counts as past it (see [`assist_debt`]).
//!
//! Invariant: every function here is pure arithmetic on its arguments (`ConsMark` is a
//! value its owner updates; Go's GC CPU limiter, which keeps state, is `pacer::limiter`):
//! the pacer's decisions are made once per cycle (goal, trigger, worker plan; with a
//! memory limit, goal and trigger at every check: `cycle::pacing_now`) or per assist
//! (the debt), and the state they read lives with its owners (`core`, `mark::state`).

use crate::config::{Gogc, HeapConfig};

pub(crate) mod limiter;
pub(crate) mod p_events;

/// Go's `minRunway` (`heapGoalInternal`): during a mark, the goal the assists pace to is
/// at least this far above the heap size at which the cycle started.
pub(crate) const MIN_RUNWAY: usize = 64 << 10;

/// Go's `defaultHeapMinimum` (unscaled): for goals above it, the latest trigger is at
/// most this far below the goal (`trigger`'s upper bound).
const DEFAULT_HEAP_MINIMUM: usize = 4 << 20;

/// The goal and trigger of the next cycle (Go's `commit` and `trigger`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pacing {
    /// The heap size the next cycle aims to finish by (Go's `heapGoal`).
    pub(crate) goal: usize,
    /// The heap size at which a concurrent cycle starts (Go's trigger).
    pub(crate) trigger: usize,
}

/// The goal and trigger after a cycle that found `marked` bytes live (Go's
/// `heapMarked`), with `globals` bytes of globals to scan (Go's `globalsScan`): the GOGC
/// goal, or the memory limit's when that is lower, and the trigger between Go's bounds
/// ([`trigger`]). While the sweep is unfinished (`sweep_done` false: a concurrent heap's
/// sweep runs after the pause that sets the goal) Go's `commit` keeps the trigger, and
/// the goal unless the memory limit sets it, `sweepMinHeapDistance` above the live heap
/// (`heapGoalInternal`), so that the sweep has room to finish before the next cycle:
/// Go's 1 MiB with Go's 4 MiB heap minimum, scaled with `HeapConfig::min_heap_bytes`
/// when a test shrinks that.
/// With no runway estimate the trigger is the earliest Go allows (its lower bound).
pub(crate) fn pace(config: &HeapConfig, marked: usize, globals: usize, sweep_done: bool) -> Pacing {
    pace_held(
        config,
        marked,
        globals,
        sweep_done,
        MemoryHeld::default(),
        usize::MAX,
    )
}

/// What the heap holds in memory beyond its objects, for the memory limit's goal (Go's
/// `memoryLimitHeapGoal` reads the same from `mappedReady`, `heapFree` and `heapAlloc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryHeld {
    /// Bytes of in-use spans not holding allocated objects (Go's non-heap memory as its
    /// goal computes it: `mappedReady - heapFree - heapAlloc`; the testbed has no other
    /// runtime memory it counts).
    pub(crate) beyond_objects: usize,
    /// Bytes held (retained: mapped and not released) above the limit (Go's `overage`).
    pub(crate) overage: usize,
}

impl MemoryHeld {
    /// From the span bytes in use, the bytes retained and the allocated bytes.
    pub(crate) fn new(
        limit: Option<usize>,
        in_use: usize,
        retained: usize,
        allocated: usize,
    ) -> Self {
        MemoryHeld {
            beyond_objects: in_use.saturating_sub(allocated),
            overage: limit.map_or(0, |l| retained.saturating_sub(l)),
        }
    }
}

/// [`pace`] with the memory the heap holds beyond its objects subtracted from the
/// memory limit, as Go's `memoryLimitHeapGoal` does, so the limit bounds the span memory
/// the heap holds and not only its objects. One departure from Go: what is counted is
/// span storage only (not slot metadata, bitmaps, the span table or handle tables, where
/// Go counts all its runtime memory). The trigger sits `runway`
/// below the goal, within Go's bounds ([`trigger`]; the runway from [`ConsMark`]).
pub(crate) fn pace_held(
    config: &HeapConfig,
    marked: usize,
    globals: usize,
    sweep_done: bool,
    held: MemoryHeld,
    runway: usize,
) -> Pacing {
    let gogc = gogc_goal(config, marked, globals);
    let limit = memory_limit_goal(config, marked, held);
    let (goal, min_trigger) = if limit < gogc {
        (limit, 0)
    } else {
        let distance = if sweep_done {
            0
        } else {
            marked.saturating_add(sweep_min_heap_distance(config))
        };
        (gogc.max(distance), distance)
    };
    Pacing {
        goal,
        trigger: trigger(goal, marked, min_trigger, runway),
    }
}

/// Go's `sweepMinHeapDistance`, the least heap growth left for an unfinished sweep:
/// 1 MiB, a quarter of Go's `defaultHeapMinimum`; a quarter of `min_heap_bytes` here.
fn sweep_min_heap_distance(config: &HeapConfig) -> usize {
    config.min_heap_bytes / 4
}

/// Go's GOGC goal (`commit`): `marked + (marked + globals) × GOGC/100`, the growth
/// counting the scan work of the roots too (Go ≥ 1.18), floored at its scaled
/// `heapMinimum`.
fn gogc_goal(config: &HeapConfig, marked: usize, globals: usize) -> usize {
    match config.gogc {
        Gogc::Off => usize::MAX,
        Gogc::Percent(p) => {
            let growth = (marked as u128 + globals as u128) * p as u128 / 100;
            let goal = marked as u128 + growth;
            (goal.min(usize::MAX as u128) as usize).max(config.scaled_min_heap())
        }
    }
}

/// The soft memory limit's goal (Go's `memoryLimitHeapGoal`): the limit less what the
/// heap holds beyond its objects, less a headroom of 3 % of that (at least a quarter of
/// `min_heap_bytes`: Go's 1 MiB of its 4 MiB `heapMinimum`), never below the live heap;
/// the live heap itself when the memory beyond the objects exceeds the limit alone. A
/// heap that does not fit under its limit is then collected continuously, as in Go,
/// until the GC CPU limiter ([`limiter`]) turns assists off. `usize::MAX` without a
/// limit.
fn memory_limit_goal(config: &HeapConfig, marked: usize, held: MemoryHeld) -> usize {
    let Some(limit) = config.memory_limit else {
        return usize::MAX;
    };
    let beyond = held.beyond_objects.saturating_add(held.overage);
    if beyond >= limit {
        return marked;
    }
    let goal = limit - beyond;
    let headroom = (goal / 100 * MEMORY_LIMIT_HEADROOM_PERCENT).max(config.min_heap_bytes / 4);
    let goal = if goal < 2 * headroom {
        headroom
    } else {
        goal - headroom
    };
    goal.max(marked)
}

/// Go's `memoryLimitHeapGoalHeadroomPercent`.
const MEMORY_LIMIT_HEADROOM_PERCENT: usize = 3;

/// Go's bounds on the trigger, in twentieths of the runway from the live heap to the
/// goal: at least 0.7 of it (`minTriggerRatioNum`), at most 0.95 (`maxTriggerRatioNum`).
const MIN_TRIGGER_TWENTIETHS: usize = 14;
const MAX_TRIGGER_TWENTIETHS: usize = 19;

/// The heap size at which a concurrent cycle starts, for goal `goal` after a cycle that
/// found `marked` bytes live, at least `min_trigger` (Go's `trigger`): `runway` below the
/// goal (the allocation the next mark is expected to need, [`ConsMark::runway`]), kept
/// between 0.7 and 0.95 of the way from the live heap to the goal (for goals past 4 MiB,
/// the upper bound is at least the goal less 4 MiB); the goal itself when the live heap
/// has reached it.
pub(crate) fn trigger(goal: usize, marked: usize, min_trigger: usize, runway: usize) -> usize {
    let (lower, upper) = trigger_bounds(goal, marked, min_trigger);
    let wanted = if runway > goal { lower } else { goal - runway };
    wanted.clamp(lower, upper)
}

/// Go's `gcGoalUtilization`: the share of the CPU the runway is sized for a mark to use.
const GOAL_UTILIZATION: f64 = BACKGROUND_UTILIZATION;

/// What one concurrent mark cost, the inputs of Go's cons/mark measurement (`endCycle`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MarkCost {
    /// How far the heap grew from the cycle's start to mark termination (Go's
    /// `heapLive - triggered`).
    pub(crate) growth: usize,
    /// Bytes the mark scanned (Go's heap, stack and globals scan work together).
    pub(crate) scan_work: u64,
    /// Wall time from the mark's start to its end (Go's `assistDuration`).
    pub(crate) duration_ns: u64,
    /// CPU time spent in assists, and in idle mark workers, during the mark.
    pub(crate) assist_ns: u64,
    pub(crate) idle_ns: u64,
    /// GOMAXPROCS.
    pub(crate) procs: usize,
}

/// Go's cons/mark estimate: how many bytes the mutators allocate per byte the collector
/// scans, for the same CPU time (`gcControllerState.consMark`). It sizes the next
/// mark's runway, so a mark that scans fast beside the allocation starts late (near the
/// goal) and a slow one early.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ConsMark {
    /// The last four measurements, oldest first (Go's `lastConsMark`).
    last: [f64; 4],
    /// The estimate: the largest of the last five measurements (0 before the first).
    estimate: f64,
}

impl ConsMark {
    /// Takes one mark's measurement (Go's `endCycle`): the estimate becomes the largest
    /// of it and the four before it (Go biases a noisy measurement toward earlier
    /// cycles and fewer assists). A mark the heap did not grow during is ignored, as in
    /// Go. Where Go would divide by zero (no scan work) or by a negative share (assists
    /// took all the CPU), the measurement is infinite: the next trigger is the earliest.
    pub(crate) fn update(&mut self, cost: &MarkCost) {
        if cost.growth == 0 {
            return;
        }
        let cpu = cost.duration_ns as f64 * cost.procs.max(1) as f64;
        let (assist, idle) = if cpu > 0.0 {
            (cost.assist_ns as f64 / cpu, cost.idle_ns as f64 / cpu)
        } else {
            (0.0, 0.0)
        };
        let utilization = BACKGROUND_UTILIZATION + assist;
        let denominator = cost.scan_work as f64 * (1.0 - utilization);
        let current = if denominator > 0.0 {
            cost.growth as f64 * (utilization + idle) / denominator
        } else {
            f64::INFINITY
        };
        self.estimate = self.last.iter().fold(current, |m, &x| m.max(x));
        self.last.rotate_left(1);
        self.last[3] = current;
    }

    /// The runway a mark expected to scan `scan_work` bytes needs (Go's `commit`):
    /// the bytes the mutators allocate meanwhile when the mark takes its goal share of
    /// the CPU. 0 before the first measurement (Go's trigger is then its highest).
    pub(crate) fn runway(&self, scan_work: u64) -> usize {
        let runway = self.estimate * (1.0 - GOAL_UTILIZATION) / GOAL_UTILIZATION * scan_work as f64;
        if runway.is_nan() {
            // An infinite estimate times no scan work: as infinite (Go's float-to-integer
            // conversion of NaN on amd64 gives a runway past any goal too).
            return usize::MAX;
        }
        // A float-to-integer `as` saturates (infinity: usize::MAX).
        runway as usize
    }
}

/// Go's lowest and highest trigger (see [`trigger`]).
fn trigger_bounds(goal: usize, marked: usize, min_trigger: usize) -> (usize, usize) {
    if goal == usize::MAX {
        return (usize::MAX, usize::MAX);
    }
    if marked >= goal {
        return (goal, goal);
    }
    let runway = goal - marked;
    let lower = (runway / 20 * MIN_TRIGGER_TWENTIETHS + marked)
        .max(min_trigger)
        .min(goal);
    let mut upper = runway / 20 * MAX_TRIGGER_TWENTIETHS + marked;
    if goal > DEFAULT_HEAP_MINIMUM && goal - DEFAULT_HEAP_MINIMUM > upper {
        upper = goal - DEFAULT_HEAP_MINIMUM;
    }
    (lower, upper.max(lower))
}

/// A new heap's goal and trigger (Go's `gcControllerState.init`: nothing marked, no
/// sweep, and no runway estimate yet, so Go's trigger is its highest bound).
pub(crate) fn initial(config: &HeapConfig) -> Pacing {
    let goal = pace(config, 0, 0, true).goal;
    Pacing {
        goal,
        trigger: trigger_bounds(goal, 0, 0).1,
    }
}

/// The goal a mark's assists pace to (Go's `heapGoal` as `revise` reads it): the cycle's
/// goal, at least [`MIN_RUNWAY`] above the heap size at which the cycle started
/// (`triggered`). Go skips this when the memory limit sets the goal; the testbed skips it
/// whenever a memory limit is set.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn assist_goal(config: &HeapConfig, goal: usize, triggered: usize) -> usize {
    if config.memory_limit.is_some() || goal == usize::MAX {
        return goal;
    }
    goal.max(triggered.saturating_add(MIN_RUNWAY))
}

/// The hard goal: how far the heap may grow during a mark that needs more work than
/// expected before assists stop it (Go: `goal × (1 + GOGC/100)`; with GOGC off Go's
/// `revise` computes as if GOGC were 100000, which matters when a memory limit makes
/// the goal finite).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn hard_goal(config: &HeapConfig, goal: usize) -> usize {
    let percent = match config.gogc {
        Gogc::Off => GOGC_OFF_PERCENT,
        Gogc::Percent(p) => p as u128,
    };
    let hard = goal as u128 * (100 + percent) / 100;
    hard.min(usize::MAX as u128) as usize
}

/// The GOGC that Go's `revise` assumes when GOGC is off.
const GOGC_OFF_PERCENT: u128 = 100_000;

/// The share of GOMAXPROCS that background marking aims to use (Go's
/// `gcBackgroundUtilization`).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const BACKGROUND_UTILIZATION: f64 = 0.25;

/// How far rounding may take the dedicated workers from the 25% goal before a
/// fractional worker makes up the difference (Go's `maxUtilError`).
#[cfg_attr(loom, allow(dead_code))]
const MAX_UTIL_ERROR: f64 = 0.3;

/// How many workers of each kind a concurrent mark runs.
#[cfg_attr(loom, allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WorkerPlan {
    /// Workers that mark full time.
    pub(crate) dedicated: usize,
    /// The CPU, in cores, the fractional worker may use (0: none runs).
    pub(crate) fractional_cores: f64,
    /// Workers on cores that no mutator runs on.
    pub(crate) idle: usize,
}

#[cfg_attr(loom, allow(dead_code))]
impl WorkerPlan {
    /// Go's rule for `procs` = GOMAXPROCS with `running` mutators.
    pub(crate) fn go_rule(procs: usize, running: usize) -> WorkerPlan {
        let procs = procs.max(1);
        let goal = procs as f64 * BACKGROUND_UTILIZATION;
        let mut dedicated = (goal + 0.5) as usize;
        let error = dedicated as f64 / goal - 1.0;
        let mut fractional_per_proc = 0.0;
        if !(-MAX_UTIL_ERROR..=MAX_UTIL_ERROR).contains(&error) {
            if dedicated as f64 > goal {
                dedicated -= 1;
            }
            fractional_per_proc = (goal - dedicated as f64) / procs as f64;
        }
        // Each core running a mutator may give the fractional worker its share; a core
        // with nothing to run runs an idle worker instead.
        let free = procs - dedicated;
        let busy = running.min(free);
        WorkerPlan {
            dedicated,
            fractional_cores: fractional_per_proc * busy as f64,
            idle: free - busy,
        }
    }

    /// Exactly `n` dedicated workers (`--mark-workers n`; 0: assists only).
    pub(crate) fn fixed(n: usize) -> WorkerPlan {
        WorkerPlan {
            dedicated: n,
            fractional_cores: 0.0,
            idle: 0,
        }
    }

    /// The plan with at most `cpus` worker threads (dedicated ones first, then idle ones,
    /// then the fractional one): more would only time-slice on the CPUs there are.
    pub(crate) fn capped(self, cpus: usize) -> WorkerPlan {
        let dedicated = self.dedicated.min(cpus);
        let idle = self.idle.min(cpus - dedicated);
        let room = cpus > dedicated + idle;
        WorkerPlan {
            dedicated,
            fractional_cores: if room { self.fractional_cores } else { 0.0 },
            idle,
        }
    }

    /// Worker threads the plan starts.
    pub(crate) fn threads(&self) -> usize {
        self.dedicated + self.idle + usize::from(self.fractional_cores > 0.0)
    }
}

/// How far past its (stretched) goal a mark may let the heap run before its assists
/// owe all the work left (Go's `maxOvershoot` in `revise`).
#[cfg_attr(loom, allow(dead_code))]
const MAX_OVERSHOOT: f64 = 1.1;

/// The least scan work the pacer counts as left (Go's bound in `revise`: marking is
/// racy, so the work done can pass the most expected).
#[cfg_attr(loom, allow(dead_code))]
const MIN_REMAINING_WORK: f64 = 1000.0;

/// Where a concurrent mark stands, for pricing an assist.
#[cfg_attr(loom, allow(dead_code))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct MarkProgress {
    /// Scan work done so far.
    pub(crate) done: u64,
    /// Scan work the cycle is expected to need.
    pub(crate) expected: u64,
    /// The heap size when the cycle started (the most scan work it can need).
    pub(crate) heap_start: usize,
}

/// The scan work an allocation of `bytes` owes, as Go's `revise` prices it: the work
/// still expected over the runway left to the goal. Past the expected work the goal is
/// stretched over the most work there can be (capped at `hard_goal`); past the goal a
/// 10% overshoot (at the goal too; Go: past it); the work left counts at least 1000
/// units and the runway at least one byte, so that far past the goal an allocation owes
/// all the work there is.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn assist_debt(
    bytes: usize,
    heap_live: usize,
    goal: usize,
    hard_goal: usize,
    mark: MarkProgress,
) -> i64 {
    let done = mark.done as f64;
    let triggered = mark.heap_start as f64;
    let max_work = triggered;
    let mut expected = mark.expected.max(1) as f64;
    let mut goal = goal as f64;
    if done > expected {
        let stretched = (goal - triggered) / expected * max_work + triggered;
        expected = max_work;
        goal = stretched.min(hard_goal as f64);
    }
    let live = heap_live as f64;
    // At the goal counts as past it: the testbed starts a cycle before the refill that
    // crossed the trigger is counted in the heap, so under a memory limit below the live
    // heap (trigger = goal = the marked heap) the mark's first pricing sees the heap
    // exactly at its goal. Go counts the refill's span first and sees it past the goal;
    // priced at a runway of one byte instead, that first refill owed the whole mark.
    if live >= goal {
        goal *= MAX_OVERSHOOT;
        expected = max_work;
    }
    let remaining_work = (expected - done).max(MIN_REMAINING_WORK);
    let runway = (goal - live).max(1.0);
    let debt = bytes as f64 * remaining_work / runway;
    debt.min(i64::MAX as f64 / 4.0) as i64
}

#[cfg(test)]
mod tests;
