//! The schema of `summary.json`, the one machine-readable result file of a run, and the
//! reduction of a latency distribution to the percentiles it quotes.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A latency distribution reduced to the figures reports quote, in nanoseconds. All zero
/// for no samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyStats {
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
    /// The largest sample.
    pub max: u64,
}

impl LatencyStats {
    /// The stats of a histogram: HdrHistogram's `value_at_quantile` for the percentiles
    /// and its max (each the highest value equivalent to the sample, within the
    /// histogram's precision).
    pub fn from_histogram(h: &Histogram<u64>) -> LatencyStats {
        if h.is_empty() {
            return LatencyStats::default();
        }
        LatencyStats {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// Exact stats of raw samples: each percentile `q` is the nearest-rank sample, the
    /// `ceil(q * n)`-th smallest.
    pub fn from_values(values: &[u64]) -> LatencyStats {
        if values.is_empty() {
            return LatencyStats::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let rank = |q: f64| {
            let r = (q * n as f64 - 1e-9).ceil() as usize;
            sorted[r.clamp(1, n) - 1]
        };
        LatencyStats {
            count: n as u64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            p999: rank(0.999),
            max: sorted[n - 1],
        }
    }
}

/// What became of finalizers or cleanups during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackCounts {
    /// Callbacks attached (`SetFinalizer` / `AddCleanup` calls).
    pub registered: u64,
    /// Callbacks whose object was found unreachable and that were queued to run.
    pub queued: u64,
    /// Callbacks that ran to completion.
    pub executed: u64,
    /// Callbacks withdrawn before running: `Cleanup.Stop` for cleanups, clearing with
    /// `SetFinalizer(x, nil)` for finalizers.
    pub stopped: u64,
}

/// The checkmark verification part of a summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyStats {
    /// Whether verification was on for the run.
    pub enabled: bool,
    /// Cycles whose mark was re-traced and compared.
    pub cycles_checked: u64,
    /// Reachable objects the collector failed to mark (must be 0).
    pub lost_objects: u64,
}

/// The end-of-run leak check: what was still allocated once every root was gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakCheck {
    /// Whether the check ran.
    pub checked: bool,
    /// Objects still allocated after the final collection.
    pub leaked_objects: u64,
    /// Bytes those objects occupy.
    pub leaked_bytes: u64,
    /// Findings of the collector's leak checker (Go's `checkfinalizers`, run at every
    /// mark termination under `--check-leaks`): finalizers and cleanups that reach their
    /// own object, and specials in tiny blocks.
    #[serde(default)]
    pub callback_leaks: u64,
    /// The first of those findings, each with its path of references.
    #[serde(default)]
    pub callback_leak_reports: Vec<String>,
}

/// The top-level keys of `summary.json` (plus `leaks` when the leak check ran): the
/// schema the reports and the Go twins share, pinned by the tests.
pub const SUMMARY_KEYS: [&str; 14] = [
    "workload",
    "config",
    "wall_s",
    "gc_cycles",
    "pause_ns",
    "ttsp_ns",
    "mutator_latency_ns",
    "heap_peak_bytes",
    "finalizers",
    "cleanups",
    "callback_latency_ns",
    "verify",
    "mmu",
    "findings",
];

/// `summary.json`: everything a run measured, in one schema shared by every workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The workload's name, e.g. `gcbench`.
    pub workload: String,
    /// Every flag of the run, defaults included, as a JSON object.
    pub config: Value,
    /// Wall-clock seconds of the measured part of the run.
    pub wall_s: f64,
    /// Collection cycles completed.
    pub gc_cycles: u64,
    /// Stop-the-world pause durations (stop request to restart), nanoseconds.
    pub pause_ns: LatencyStats,
    /// Time to safepoint of each pause (stop request until every mutator stopped),
    /// nanoseconds.
    pub ttsp_ns: LatencyStats,
    /// The workload's own operation latencies as its mutators saw them, nanoseconds.
    pub mutator_latency_ns: LatencyStats,
    /// The highest heap size seen, bytes.
    pub heap_peak_bytes: u64,
    /// Finalizer counts (`stopped`: finalizers cleared before running).
    pub finalizers: CallbackCounts,
    /// Cleanup counts (`stopped`: `Cleanup.Stop` before running).
    pub cleanups: CallbackCounts,
    /// Finalizer and cleanup latency from being queued to starting to run, nanoseconds.
    pub callback_latency_ns: LatencyStats,
    /// Checkmark verification results.
    pub verify: VerifyStats,
    /// The end-of-run leak check, where the workload ran one; absent from the JSON
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaks: Option<LeakCheck>,
    /// The minimum mutator utilization curve as `[window_s, utilization]` pairs (see
    /// [`super::mmu::utilization_points`]).
    pub mmu: Vec<[f64; 2]>,
    /// The workload's own results, in a shape each workload documents.
    pub findings: Value,
}

impl Summary {
    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes")
    }
}

/// The median of `values` (the upper one of an even count). Panics on an empty slice.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "the median of no values");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    /// A summary with small made-up figures, for tests of what reads summaries.
    pub(crate) fn sample(leaks: Option<LeakCheck>) -> Summary {
        let stats = LatencyStats::from_values(&[5, 1, 3]);
        Summary {
            workload: "gcbench".to_string(),
            config: json!({"gogc": 100, "barrier": "hybrid"}),
            wall_s: 1.5,
            gc_cycles: 7,
            pause_ns: stats,
            ttsp_ns: stats,
            mutator_latency_ns: LatencyStats::default(),
            heap_peak_bytes: 1 << 20,
            finalizers: CallbackCounts::default(),
            cleanups: CallbackCounts {
                stopped: 2,
                ..CallbackCounts::default()
            },
            callback_latency_ns: stats,
            verify: VerifyStats::default(),
            leaks,
            mmu: vec![[0.001, 0.25], [1.5, 0.9]],
            findings: json!({"trees": 3}),
        }
    }

    fn keys(v: &Value) -> BTreeSet<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn key_set_is_exact() {
        let v: Value = serde_json::from_str(&sample(None).to_json()).unwrap();
        let want: BTreeSet<&str> = SUMMARY_KEYS.into();
        assert_eq!(keys(&v), want);
        let latency: BTreeSet<&str> = ["count", "p50", "p90", "p99", "p999", "max"].into();
        for field in [
            "pause_ns",
            "ttsp_ns",
            "mutator_latency_ns",
            "callback_latency_ns",
        ] {
            assert_eq!(keys(&v[field]), latency, "{field}");
        }
        let callbacks: BTreeSet<&str> = ["registered", "queued", "executed", "stopped"].into();
        assert_eq!(keys(&v["finalizers"]), callbacks);
        assert_eq!(keys(&v["cleanups"]), callbacks);
        assert_eq!(
            keys(&v["verify"]),
            ["enabled", "cycles_checked", "lost_objects"].into()
        );
        assert_eq!(v["mmu"], json!([[0.001, 0.25], [1.5, 0.9]]));
        assert_eq!(v["pause_ns"]["max"], 5);
        assert_eq!(v["cleanups"]["stopped"], 2);

        let with = sample(Some(LeakCheck {
            checked: true,
            leaked_objects: 1,
            leaked_bytes: 48,
            callback_leaks: 1,
            callback_leak_reports: vec!["leak check: cycle 1: …".into()],
        }));
        let v: Value = serde_json::from_str(&with.to_json()).unwrap();
        assert_eq!(keys(&v).len(), want.len() + 1);
        assert_eq!(
            v["leaks"],
            json!({"checked": true, "leaked_objects": 1, "leaked_bytes": 48,
                   "callback_leaks": 1, "callback_leak_reports": ["leak check: cycle 1: …"]})
        );
        // And it reads back.
        assert_eq!(serde_json::from_value::<Summary>(v).unwrap(), with);
    }

    #[test]
    fn stats_from_values_are_nearest_rank() {
        let values: Vec<u64> = (1..=1000).rev().collect();
        let s = LatencyStats::from_values(&values);
        assert_eq!(
            (s.count, s.p50, s.p90, s.p99, s.p999, s.max),
            (1000, 500, 900, 990, 999, 1000)
        );
        let one = LatencyStats::from_values(&[42]);
        assert_eq!((one.p50, one.p999, one.max), (42, 42, 42));
        assert_eq!(LatencyStats::from_values(&[]), LatencyStats::default());
    }

    #[test]
    fn stats_from_histogram_are_within_precision() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        assert_eq!(LatencyStats::from_histogram(&h), LatencyStats::default());
        for v in 1..=100_000u64 {
            h.record(v * 10).unwrap();
        }
        let s = LatencyStats::from_histogram(&h);
        let exact =
            LatencyStats::from_values(&(1..=100_000u64).map(|v| v * 10).collect::<Vec<_>>());
        assert_eq!(s.count, exact.count);
        for (got, want) in [
            (s.p50, exact.p50),
            (s.p90, exact.p90),
            (s.p99, exact.p99),
            (s.p999, exact.p999),
            (s.max, exact.max),
        ] {
            // Three significant figures: within 0.1%, never below the sample.
            assert!(got >= want && got - want <= want / 1000, "{got} vs {want}");
        }
    }
}
