//! The pacer: when the next automatic cycle starts. Go's GOGC heap goal,
//! `live × (1 + GOGC/100)`, floored at Go's scaled `heapMinimum`, and for concurrent
//! heaps a trigger below the goal so that marking, which runs while the heap grows, can
//! end near the goal.

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
}
