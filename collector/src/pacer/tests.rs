//! Unit tests of the pacer's arithmetic: Go's goal, trigger bounds and runway, the
//! cons/mark estimate, the memory limit's goal, the hard goal and the worker plan,
//! each against figures worked out by hand from `mgcpacer.go`'s formulas.

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
    // Go's memoryLimitHeapGoal: limit - (non-heap memory + overage), less a headroom of
    // 3 % of that, at least 1 MiB (of Go's 4 MiB heapMinimum), never below the live heap.
    let c = HeapConfig {
        memory_limit: Some(32 << 20),
        ..HeapConfig::default()
    };
    let live = 16 << 20; // GOGC's goal 32 MiB: the limit's decides below it
    let alone = pace_held(&c, live, 0, true, MemoryHeld::default(), usize::MAX).goal;
    assert_eq!(alone, 31 << 20, "3 % of 32 MiB is under 1 MiB: 1 MiB off");
    // 20 MiB of spans in use holding 14 MiB of objects: 6 MiB beyond them.
    let held = MemoryHeld::new(c.memory_limit, 20 << 20, 24 << 20, 14 << 20);
    assert_eq!(held.beyond_objects, 6 << 20);
    assert_eq!(held.overage, 0);
    assert_eq!(
        pace_held(&c, live, 0, true, held, usize::MAX).goal,
        25 << 20
    );
    // Retained 40 MiB against the 32 MiB limit: 8 MiB over, also subtracted.
    let over = MemoryHeld::new(c.memory_limit, 20 << 20, 40 << 20, 14 << 20);
    assert_eq!(
        pace_held(&c, live, 0, true, over, usize::MAX).goal,
        17 << 20
    );
    // More held beyond the objects than the limit: the live heap (Go's heapMarked).
    let huge = MemoryHeld::new(c.memory_limit, 60 << 20, 60 << 20, 0);
    assert_eq!(pace_held(&c, live, 0, true, huge, usize::MAX).goal, live);
    // Less than twice the headroom left: the headroom, or the live heap if larger.
    let tight = MemoryHeld::new(c.memory_limit, (31 << 20) + 1, 1, 1);
    assert_eq!(
        pace_held(&c, 1 << 10, 0, true, tight, usize::MAX).goal,
        1 << 20
    );
    assert_eq!(pace_held(&c, live, 0, true, tight, usize::MAX).goal, live);
    // A large limit: 3 % of it.
    let big = HeapConfig {
        memory_limit: Some(1000 << 20),
        gogc: Gogc::Off,
        ..HeapConfig::default()
    };
    let goal = pace_held(&big, live, 0, true, MemoryHeld::default(), usize::MAX).goal;
    assert_eq!(goal, (1000 << 20) - (1000 << 20) / 100 * 3);
}

#[test]
fn the_memory_limit_lowers_the_goal_down_to_the_live_heap() {
    let mut c = HeapConfig {
        memory_limit: Some(15 << 20),
        ..HeapConfig::default()
    };
    assert_eq!(
        heap_goal(&c, 10 << 20),
        14 << 20,
        "limit (less its headroom) under the GOGC goal"
    );
    assert_eq!(heap_goal(&c, 4 << 20), 8 << 20, "GOGC goal under the limit");
    let live = 32 << 20;
    assert_eq!(heap_goal(&c, live), live, "over the limit: the live heap");
    c.gogc = Gogc::Off;
    assert_eq!(
        heap_goal(&c, 1 << 20),
        14 << 20,
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
    // (The limit's goal: 1 MiB of headroom under it.)
    c.memory_limit = Some(live + (1536 << 10));
    assert_eq!(pace(&c, live, 0, false).goal, live + (512 << 10));
    // A heap minimum shrunk 16 times (tests' small heaps) shrinks the distance too.
    c.memory_limit = None;
    c.gogc = Gogc::Percent(0);
    c.min_heap_bytes = 256 << 10;
    assert_eq!(pace(&c, live, 0, false).trigger, live + (64 << 10));
}

#[test]
fn with_no_runway_estimate_the_trigger_sits_seven_tenths_up() {
    assert_eq!(trigger(20 << 20, 10 << 20, 0, usize::MAX), 17 << 20);
    assert_eq!(trigger(usize::MAX, 10, 0, usize::MAX), usize::MAX);
    assert_eq!(
        trigger(10, 10, 0, usize::MAX),
        10,
        "at the goal: a continuous cycle"
    );
    // A higher lowest trigger wins, up to Go's upper bound (0.95) or the goal less
    // 4 MiB, whichever is higher.
    assert_eq!(trigger(20 << 20, 10 << 20, 18 << 20, usize::MAX), 18 << 20);
    assert_eq!(trigger(20 << 20, 10 << 20, 30 << 20, usize::MAX), 20 << 20);
    let c = HeapConfig::default();
    assert_eq!(hard_goal(&c, 20 << 20), 40 << 20);
    // A new heap triggers at 0.95 of its 4 MiB minimum, as Go's first cycle does.
    let first = initial(&c);
    assert_eq!((first.goal, first.trigger), (4 << 20, (4 << 20) / 20 * 19));
}

#[test]
fn trigger_sits_the_runway_below_the_goal_within_gos_bounds() {
    let (goal, marked) = (20 << 20, 10 << 20);
    assert_eq!(trigger(goal, marked, 0, 1 << 20), 19 << 20);
    // No runway: the highest trigger, 0.95 of the way up.
    assert_eq!(trigger(goal, marked, 0, 0), marked + (10 << 20) / 20 * 19);
    // A long runway: the lowest, 0.7 of the way up.
    assert_eq!(trigger(goal, marked, 0, 5 << 20), 17 << 20);
    // Past 4 MiB of goal, the highest trigger is at least the goal less 4 MiB.
    assert_eq!(trigger(200 << 20, 100 << 20, 0, 0), 196 << 20);
}

/// One mark's cost: `growth` bytes allocated while `scan` bytes were scanned in
/// 1 ms on 2 procs, assists taking `assist_ns` of CPU.
fn cost(growth: usize, scan: u64, assist_ns: u64) -> MarkCost {
    MarkCost {
        growth,
        scan_work: scan,
        duration_ns: 1_000_000,
        assist_ns,
        idle_ns: 0,
        procs: 2,
    }
}

#[test]
fn cons_mark_is_gos_ratio_and_the_largest_of_the_last_five() {
    let mut c = ConsMark::default();
    assert_eq!(c.runway(1 << 20), 0, "no measurement yet: no runway");
    // Background marking at its 25 %: cons/mark = growth × 0.25 / (scan × 0.75).
    c.update(&cost(3 << 20, 1 << 20, 0));
    assert_eq!(c.estimate, 1.0);
    // The runway for 1 MiB of scan work at Go's 25 % goal: 3 × cons/mark × scan.
    assert_eq!(c.runway(1 << 20), 3 << 20);
    // Assists took another 25 % of the CPU: growth × 0.5 / (scan × 0.5).
    let mut a = ConsMark::default();
    a.update(&cost(2 << 20, 1 << 20, 500_000));
    assert_eq!(a.estimate, 2.0);
    // Smaller measurements leave the estimate at the largest of the last five.
    for _ in 0..4 {
        c.update(&cost(3 << 19, 1 << 20, 0));
        assert_eq!(c.estimate, 1.0);
    }
    c.update(&cost(3 << 19, 1 << 20, 0));
    assert_eq!(c.estimate, 0.5, "the large one has dropped out");
    // A mark the heap did not grow during is ignored.
    c.update(&cost(0, 1 << 20, 0));
    assert_eq!(c.estimate, 0.5);
    // No scan work: infinite, so the next trigger is the earliest.
    c.update(&cost(1 << 20, 0, 0));
    assert_eq!(c.runway(1 << 20), usize::MAX);
    assert_eq!(c.runway(0), usize::MAX);
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
