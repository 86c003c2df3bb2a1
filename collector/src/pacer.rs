//! The pacer (Go's `mgcpacer.go`): when the next automatic cycle starts, and how a
//! concurrent mark keeps up — Go's GOGC heap goal, `live × (1 + GOGC/100)`, floored at
//! Go's scaled `heapMinimum` and lowered to a soft memory limit; for concurrent heaps a
//! trigger below the goal so that marking, which runs while the heap grows, can end near
//! the goal; the hard goal; how many background mark workers run (Go's 25% rule); and
//! what an allocation owes in assist work (Go's `revise`).
//!
//! Invariant: every function here is pure arithmetic on its arguments: the pacer's
//! decisions are made once per cycle (goal, trigger, worker plan) or per assist (the
//! debt), and the state they read lives with its owners (`core`, `mark::state`).

use crate::config::{Gogc, HeapConfig};

/// The heap size the next cycle aims to finish by, after a cycle found `live_bytes` live:
/// the GOGC goal, lowered to the soft memory limit when one is set (Go's
/// `memoryLimitHeapGoal`), but never below the live heap plus a small headroom, so that
/// a heap that does not fit under the limit is collected often rather than continuously.
pub(crate) fn heap_goal(config: &HeapConfig, live_bytes: usize) -> usize {
    let gogc_goal = match config.gogc {
        Gogc::Off => usize::MAX,
        Gogc::Percent(p) => {
            let goal = live_bytes as u128 * (100 + p as u128) / 100;
            (goal.min(usize::MAX as u128) as usize).max(config.scaled_min_heap())
        }
    };
    match config.memory_limit {
        None => gogc_goal,
        Some(limit) => {
            let floor = live_bytes.saturating_add(memory_limit_headroom(live_bytes));
            gogc_goal.min(limit.max(floor))
        }
    }
}

/// The least room above the live heap that the memory limit leaves: 1/32 of the live
/// heap, at least 64 KiB (the testbed's stand-in for Go's GC CPU limiter, which caps
/// collection at half the CPU when the limit cannot be met).
pub(crate) fn memory_limit_headroom(live_bytes: usize) -> usize {
    (live_bytes / 32).max(64 << 10)
}

/// The fraction of the runway from the live heap to the goal at which a concurrent cycle
/// starts, in tenths: Go's lower bound on its trigger (0.7 of the runway).
pub(crate) const TRIGGER_RUNWAY_TENTHS: u128 = 7;

/// The heap size at which a concurrent cycle starts, for goal `goal` after a cycle that
/// found `live_bytes` live.
pub(crate) fn trigger(goal: usize, live_bytes: usize) -> usize {
    if goal == usize::MAX {
        return usize::MAX;
    }
    let runway = goal.saturating_sub(live_bytes) as u128;
    live_bytes + (runway * TRIGGER_RUNWAY_TENTHS / 10) as usize
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
    fn trigger_sits_seven_tenths_up_the_runway() {
        assert_eq!(trigger(20 << 20, 10 << 20), 17 << 20);
        assert_eq!(trigger(usize::MAX, 10), usize::MAX);
        let c = HeapConfig::default();
        assert_eq!(hard_goal(&c, 20 << 20), 40 << 20);
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
