//! The pacer (Go's `mgcpacer.go`): when the next automatic cycle starts, and how a
//! concurrent mark keeps up — Go's GOGC heap goal, `live + (live + globals) × GOGC/100`
//! (the testbed has no goroutine stacks, Go's third term), floored at
//! Go's scaled `heapMinimum`, lowered to a soft memory limit; for concurrent heaps a
//! trigger between Go's bounds below the goal so that marking, which runs while the heap
//! grows, can end near the goal; the goal a mark's assists pace to (`minRunway`); the
//! hard goal; how many background mark workers run (Go's 25% rule); and what an
//! allocation owes in assist work (Go's `revise`).
//!
//! Invariant: every function here is pure arithmetic on its arguments: the pacer's
//! decisions are made once per cycle (goal, trigger, worker plan) or per assist (the
//! debt), and the state they read lives with its owners (`core`, `mark::state`).

use crate::config::{Gogc, HeapConfig};

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
pub(crate) fn pace(config: &HeapConfig, marked: usize, globals: usize, sweep_done: bool) -> Pacing {
    pace_held(config, marked, globals, sweep_done, MemoryHeld::default())
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
/// the heap holds and not only its objects. Two departures from Go: what is counted is
/// span storage only (not slot metadata, bitmaps, the span table or handle tables, where
/// Go counts all its runtime memory), and Go's headroom (3 % of the goal, at least 1 MiB,
/// taken off it) is not applied: the floor is the testbed's own, the live heap plus
/// [`memory_limit_headroom`], where Go's is the live heap.
pub(crate) fn pace_held(
    config: &HeapConfig,
    marked: usize,
    globals: usize,
    sweep_done: bool,
    held: MemoryHeld,
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
        trigger: trigger(goal, marked, min_trigger),
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

/// The soft memory limit's goal (Go's `memoryLimitHeapGoal`), never below the live heap
/// plus a small headroom, so that a heap that does not fit under the limit is collected
/// often rather than continuously; `usize::MAX` without a limit.
fn memory_limit_goal(config: &HeapConfig, marked: usize, held: MemoryHeld) -> usize {
    match config.memory_limit {
        None => usize::MAX,
        Some(limit) => limit
            .saturating_sub(held.beyond_objects.saturating_add(held.overage))
            .max(marked.saturating_add(memory_limit_headroom(marked))),
    }
}

/// The least room above the live heap that the memory limit leaves: 1/32 of the live
/// heap, at least 64 KiB (the testbed's stand-in for Go's GC CPU limiter, which caps
/// collection at half the CPU when the limit cannot be met).
pub(crate) fn memory_limit_headroom(live_bytes: usize) -> usize {
    (live_bytes / 32).max(64 << 10)
}

/// Go's bounds on the trigger, in twentieths of the runway from the live heap to the
/// goal: at least 0.7 of it (`minTriggerRatioNum`), at most 0.95 (`maxTriggerRatioNum`).
const MIN_TRIGGER_TWENTIETHS: usize = 14;
const MAX_TRIGGER_TWENTIETHS: usize = 19;

/// The heap size at which a concurrent cycle starts, for goal `goal` after a cycle that
/// found `marked` bytes live, at least `min_trigger` (Go's `trigger`): between 0.7 and
/// 0.95 of the runway above the live heap (for goals past 4 MiB, the upper bound is at
/// least the goal less 4 MiB), the goal itself when the live heap has reached it. Go
/// places it in those bounds at `goal - runway`, the runway its cons/mark estimate says a
/// mark needs; the testbed has no such estimate and takes the lower bound, where Go's
/// trigger sits when the mark is slow beside the allocation (measured: gcbench's gctrace
/// starts cycles about 0.7 up the runway in Go too).
pub(crate) fn trigger(goal: usize, marked: usize, min_trigger: usize) -> usize {
    trigger_bounds(goal, marked, min_trigger).0
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
/// 10% overshoot; the work left counts at least 1000 units and the runway at least one
/// byte, so that far past the goal an allocation owes all the work there is.
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
    if live > goal {
        goal *= MAX_OVERSHOOT;
        expected = max_work;
    }
    let remaining_work = (expected - done).max(MIN_REMAINING_WORK);
    let runway = (goal - live).max(1.0);
    let debt = bytes as f64 * remaining_work / runway;
    debt.min(i64::MAX as f64 / 4.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The goal after a cycle found `live_bytes` live, its sweep done.
    fn heap_goal(config: &HeapConfig, live_bytes: usize) -> usize {
        pace(config, live_bytes, 0, true).goal
    }

    #[test]
    fn the_goal_grows_by_the_globals_scan_work_too() {
        // Go's commit: heapMarked + (heapMarked + lastStackScan + globalsScan) × GOGC/100.
        let mut c = HeapConfig::default();
        assert_eq!(pace(&c, 10 << 20, 1 << 20, true).goal, 21 << 20);
        c.gogc = Gogc::Percent(50);
        assert_eq!(pace(&c, 10 << 20, 2 << 20, true).goal, 16 << 20);
    }

    #[test]
    fn goal_follows_gogc_with_a_floor() {
        let mut c = HeapConfig::default();
        assert_eq!(heap_goal(&c, 10 << 20), 20 << 20);
        assert_eq!(heap_goal(&c, 1 << 20), 4 << 20, "floored at heapMinimum");
        c.gogc = Gogc::Percent(50);
        assert_eq!(heap_goal(&c, 10 << 20), 15 << 20);
        c.gogc = Gogc::Off;
        assert_eq!(heap_goal(&c, 10 << 20), usize::MAX);
    }

    #[test]
    fn the_memory_limit_counts_what_the_spans_hold_beyond_their_objects() {
        // Go's memoryLimitHeapGoal: limit - (non-heap memory + overage).
        let c = HeapConfig {
            memory_limit: Some(32 << 20),
            ..HeapConfig::default()
        };
        let live = 16 << 20; // GOGC's goal 32 MiB: the limit's decides below it
        let alone = pace_held(&c, live, 0, true, MemoryHeld::default()).goal;
        assert_eq!(alone, 32 << 20);
        // 20 MiB of spans in use holding 14 MiB of objects: 6 MiB beyond them.
        let held = MemoryHeld::new(c.memory_limit, 20 << 20, 24 << 20, 14 << 20);
        assert_eq!(held.beyond_objects, 6 << 20);
        assert_eq!(held.overage, 0);
        assert_eq!(pace_held(&c, live, 0, true, held).goal, 26 << 20);
        // Retained 40 MiB against the 32 MiB limit: 8 MiB over, also subtracted.
        let over = MemoryHeld::new(c.memory_limit, 20 << 20, 40 << 20, 14 << 20);
        assert_eq!(pace_held(&c, live, 0, true, over).goal, 18 << 20);
        // Never below the live heap plus the headroom.
        let huge = MemoryHeld::new(c.memory_limit, 60 << 20, 60 << 20, 0);
        let floor = live + memory_limit_headroom(live);
        assert_eq!(pace_held(&c, live, 0, true, huge).goal, floor);
    }

    #[test]
    fn the_memory_limit_lowers_the_goal_down_to_a_headroom_above_live() {
        let mut c = HeapConfig {
            memory_limit: Some(15 << 20),
            ..HeapConfig::default()
        };
        assert_eq!(
            heap_goal(&c, 10 << 20),
            15 << 20,
            "limit under the GOGC goal"
        );
        assert_eq!(heap_goal(&c, 4 << 20), 8 << 20, "GOGC goal under the limit");
        let live = 32 << 20;
        assert_eq!(
            heap_goal(&c, live),
            live + (1 << 20),
            "over the limit: headroom"
        );
        c.gogc = Gogc::Off;
        assert_eq!(
            heap_goal(&c, 1 << 20),
            15 << 20,
            "GOGC=off: the limit alone"
        );
    }

    #[test]
    fn an_unfinished_sweep_keeps_goal_and_trigger_a_mebibyte_above_the_live_heap() {
        // Go's commit with isSweepDone false: sweepDistMinTrigger = heapLive + 1 MiB,
        // which heapGoalInternal makes the least goal and trigger.
        let mut c = HeapConfig {
            gogc: Gogc::Percent(0),
            ..HeapConfig::default()
        };
        let live = 8 << 20;
        let p = pace(&c, live, 0, false);
        assert_eq!((p.goal, p.trigger), (live + (1 << 20), live + (1 << 20)));
        assert_eq!(pace(&c, live, 0, true).goal, live, "swept: GOGC=0's goal");
        // GOGC 100: the 0.7 bound is above the distance; the trigger is unchanged.
        c.gogc = Gogc::Percent(100);
        assert_eq!(pace(&c, live, 0, false), pace(&c, live, 0, true));
        // GOGC 10 on 8 MiB: goal 8.8 MiB, raised to 9 MiB; the trigger to 9 MiB.
        c.gogc = Gogc::Percent(10);
        let p = pace(&c, live, 0, false);
        assert_eq!((p.goal, p.trigger), (9 << 20, 9 << 20));
        // Under a memory limit that sets the goal, Go leaves the distance out.
        c.memory_limit = Some(live + (512 << 10));
        assert_eq!(pace(&c, live, 0, false).goal, live + (512 << 10));
        // A heap minimum shrunk 16 times (tests' small heaps) shrinks the distance too.
        c.memory_limit = None;
        c.gogc = Gogc::Percent(0);
        c.min_heap_bytes = 256 << 10;
        assert_eq!(pace(&c, live, 0, false).trigger, live + (64 << 10));
    }

    #[test]
    fn trigger_sits_seven_tenths_up_the_runway() {
        assert_eq!(trigger(20 << 20, 10 << 20, 0), 17 << 20);
        assert_eq!(trigger(usize::MAX, 10, 0), usize::MAX);
        assert_eq!(trigger(10, 10, 0), 10, "at the goal: a continuous cycle");
        // A higher lowest trigger wins, up to Go's upper bound (0.95) or the goal less
        // 4 MiB, whichever is higher.
        assert_eq!(trigger(20 << 20, 10 << 20, 18 << 20), 18 << 20);
        assert_eq!(trigger(20 << 20, 10 << 20, 30 << 20), 20 << 20);
        let c = HeapConfig::default();
        assert_eq!(hard_goal(&c, 20 << 20), 40 << 20);
        // A new heap triggers at 0.95 of its 4 MiB minimum, as Go's first cycle does.
        let first = initial(&c);
        assert_eq!((first.goal, first.trigger), (4 << 20, (4 << 20) / 20 * 19));
    }

    #[test]
    fn a_marks_goal_is_at_least_the_minimum_runway_above_its_start() {
        let mut c = HeapConfig::default();
        assert_eq!(assist_goal(&c, 8 << 20, 4 << 20), 8 << 20);
        assert_eq!(assist_goal(&c, 8 << 20, 8 << 20), (8 << 20) + MIN_RUNWAY);
        c.memory_limit = Some(8 << 20);
        assert_eq!(assist_goal(&c, 8 << 20, 8 << 20), 8 << 20);
    }

    fn rule(procs: usize, running: usize) -> (usize, f64, usize) {
        let p = WorkerPlan::go_rule(procs, running);
        (p.dedicated, p.fractional_cores, p.idle)
    }

    #[test]
    fn go_rounds_to_dedicated_workers_when_within_thirty_percent() {
        // GOMAXPROCS 4: exactly one dedicated worker; 16: four. No fractional worker.
        assert_eq!(rule(4, 4), (1, 0.0, 0));
        assert_eq!(rule(16, 16), (4, 0.0, 0));
        // 8 → 2 dedicated; 10 → 2.5 rounds to 3 (error 0.2, within 0.3).
        assert_eq!(rule(8, 8), (2, 0.0, 0));
        assert_eq!(rule(10, 10), (3, 0.0, 0));
    }

    #[test]
    fn go_uses_a_fractional_worker_for_small_and_six_procs() {
        // Go's comment: rounding is more than 30% off for GOMAXPROCS <= 3 or 6.
        for procs in [1, 2, 3, 6] {
            let p = WorkerPlan::go_rule(procs, procs);
            let goal = procs as f64 * BACKGROUND_UTILIZATION;
            assert!(p.fractional_cores > 0.0, "GOMAXPROCS {procs}: {p:?}");
            // Each P without a dedicated worker gives it (goal - dedicated) / procs.
            let per_proc = (goal - p.dedicated as f64) / procs as f64;
            let expected = per_proc * (procs - p.dedicated) as f64;
            assert!(
                (p.fractional_cores - expected).abs() < 1e-9,
                "GOMAXPROCS {procs}: {p:?}, expected {expected} fractional cores"
            );
        }
        // GOMAXPROCS 2: no dedicated worker, half a core in fractional time.
        assert_eq!(rule(2, 2), (0, 0.5, 0));
        assert_eq!(rule(6, 6).0, 1);
    }

    #[test]
    fn cores_without_mutators_run_idle_workers() {
        // Two cores, one mutator: the other core marks full time, the mutator's core
        // gives the fractional worker its quarter.
        assert_eq!(rule(2, 1), (0, 0.25, 1));
        // Sixteen cores, two mutators: four dedicated, ten idle.
        assert_eq!(rule(16, 2), (4, 0.0, 10));
        // No mutator running: every non-dedicated core idles.
        assert_eq!(rule(4, 0), (1, 0.0, 3));
    }

    #[test]
    fn a_plan_starts_no_more_threads_than_there_are_cpus() {
        // GOMAXPROCS 1024 on 2 CPUs: 256 dedicated workers by the rule, 2 threads run.
        let plan = WorkerPlan::go_rule(1024, 1).capped(2);
        assert_eq!((plan.dedicated, plan.idle, plan.threads()), (2, 0, 2));
        // Dedicated first, then idle, then the fractional worker while there is room.
        assert_eq!(WorkerPlan::go_rule(16, 2).capped(6).dedicated, 4);
        assert_eq!(WorkerPlan::go_rule(16, 2).capped(6).idle, 2);
        let two = WorkerPlan::go_rule(2, 1);
        assert_eq!(two.capped(2), two, "within the CPUs a plan is unchanged");
        assert_eq!(WorkerPlan::go_rule(2, 2).capped(1).threads(), 1);
    }

    #[test]
    fn fixed_plans_have_only_dedicated_workers() {
        assert_eq!(WorkerPlan::fixed(0).threads(), 0);
        assert_eq!(WorkerPlan::fixed(3).threads(), 3);
        assert_eq!(WorkerPlan::go_rule(2, 1).threads(), 2);
    }
}
