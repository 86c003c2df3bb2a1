//! Summaries of a run: percentile objects and the JSON summary printed by `--json`.

use collector::HeapStats;
use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency distribution reduced to the percentiles reports quote, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The largest sample (exact).
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `values` (nanoseconds), recorded at 3 significant figures; the max
    /// is exact. All zero when there are no values.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Percentiles {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("bounds and 3 significant figures are valid");
        let mut max = 0;
        for v in values {
            h.saturating_record(v);
            max = max.max(v);
        }
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50).min(max),
            p90: h.value_at_quantile(0.90).min(max),
            p99: h.value_at_quantile(0.99).min(max),
            p999: h.value_at_quantile(0.999).min(max),
            max,
        }
    }
}

/// The median of `values` (the upper one of an even count). Panics on an empty slice.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "the median of no values");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The verification part of a summary.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct VerifySummary {
    /// Whether `--verify` was on.
    pub enabled: bool,
    /// Cycles whose mark was re-traced.
    pub cycles_checked: u64,
    /// Reachable objects the mark missed.
    pub lost_objects: u64,
}

/// The summary every workload prints with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary<C: Serialize> {
    /// The workload's name.
    pub workload: String,
    /// Every flag of the run.
    pub config: C,
    /// Wall-clock seconds of the measured run.
    pub wall_s: f64,
    /// Collection cycles completed.
    pub gc_cycles: u64,
    /// Stop-the-world pauses (request to restart), nanoseconds.
    pub pause_ns: Percentiles,
    /// Time-to-safepoint part of each pause, nanoseconds.
    pub ttsp_ns: Percentiles,
    /// The highest heap size seen, bytes.
    pub heap_peak_bytes: u64,
    /// Verification results.
    pub verify: VerifySummary,
}

impl<C: Serialize> Summary<C> {
    /// Builds the summary from a heap's counters.
    pub fn new(workload: &str, config: C, wall_s: f64, stats: &HeapStats, verify: bool) -> Self {
        Summary {
            workload: workload.to_string(),
            config,
            wall_s,
            gc_cycles: stats.gc_cycles,
            pause_ns: Percentiles::of(stats.pauses.iter().map(|p| p.duration_ns)),
            ttsp_ns: Percentiles::of(stats.pauses.iter().map(|p| p.ttsp_ns)),
            heap_peak_bytes: stats.heap_peak_bytes,
            verify: VerifySummary {
                enabled: verify,
                cycles_checked: stats.cycles_checked,
                lost_objects: stats.lost_objects,
            },
        }
    }

    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summaries serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_values() {
        let p = Percentiles::of(1..=1000);
        assert_eq!(p.count, 1000);
        assert!((499..=501).contains(&p.p50), "{p:?}");
        assert!((989..=991).contains(&p.p99), "{p:?}");
        assert_eq!(p.max, 1000);
        assert_eq!(Percentiles::of([]), Percentiles::default());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 4.0);
        let one = Percentiles::of([123_456]);
        assert_eq!((one.count, one.p50, one.max), (1, 123_456, 123_456));
    }
}
