//! The pacer: when the next automatic cycle starts. For now Go's GOGC heap goal,
//! `live × (1 + GOGC/100)`, floored at Go's scaled `heapMinimum`.

use crate::config::{Gogc, HeapConfig};

/// The heap size at which the next automatic cycle starts, after a cycle found
/// `live_bytes` live.
pub(crate) fn heap_goal(config: &HeapConfig, live_bytes: usize) -> usize {
    match config.gogc {
        Gogc::Off => usize::MAX,
        Gogc::Percent(p) => {
            let goal = live_bytes as u128 * (100 + p as u128) / 100;
            (goal.min(usize::MAX as u128) as usize).max(config.scaled_min_heap())
        }
    }
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
}
