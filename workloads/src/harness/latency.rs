//! Operation latency over time: a [`LatencyRecorder`] keeps the whole run's histogram and
//! one histogram per second of the run, so `latency.hlog` can show how latency moved
//! (a slow second during a long mark, say) where the run's percentiles cannot.
//!
//! Invariant: every value recorded goes into the whole-run histogram and into exactly one
//! interval, so the intervals' counts add up to the whole run's. A value's interval is the
//! second (since [`process_zero`]) in which the recorder last read the clock, which it
//! does at the first value, then after every [`CLOCK_EVERY`] values or once the values
//! recorded since add up to [`CLOCK_AFTER_NS`], whichever comes first: a value recorded
//! when it completes can land in the second before its own, by at most that much work
//! (63 fast operations, or 10 ms of slow ones), never later. A workload that records
//! after the run (head-of-line) gets one interval.

use hdrhistogram::{AdditionError, Histogram};
use std::ops::Deref;
use std::sync::OnceLock;
use std::time::Instant;

/// An interval's length: one second.
pub const INTERVAL_NS: u64 = 1_000_000_000;

/// How many values a recorder records between two reads of the clock, at most.
pub const CLOCK_EVERY: u32 = 64;

/// The recorded nanoseconds after which the clock is read again, however few values.
pub const CLOCK_AFTER_NS: u64 = 10_000_000;

/// The moment interval 0 starts: the first time any recorder (or the run's clock) asked.
pub fn process_zero() -> Instant {
    static ZERO: OnceLock<Instant> = OnceLock::new();
    *ZERO.get_or_init(Instant::now)
}

/// An empty histogram of nanoseconds at 3 significant figures, tracking up to an hour and
/// resizing itself beyond (`saturating_record` clamps at the hour, `record` grows it).
pub fn ns_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("the bounds and 3 significant figures are valid");
    h.auto(true);
    h
}

/// A thread's operation latencies: the whole run's histogram (what it derefs to) and one
/// per second. Threads merge theirs with [`LatencyRecorder::add`].
pub struct LatencyRecorder {
    total: Histogram<u64>,
    /// Interval `i` covers seconds `[i, i + 1)` after [`process_zero`].
    intervals: Vec<Option<Histogram<u64>>>,
    slot: usize,
    until_clock: u32,
    /// Nanoseconds recorded since the clock was last read.
    since_clock_ns: u64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> LatencyRecorder {
        process_zero();
        LatencyRecorder {
            total: ns_histogram(),
            intervals: Vec::new(),
            slot: 0,
            until_clock: 0,
            since_clock_ns: 0,
        }
    }

    /// Records `ns`, clamped at an hour (as `Histogram::saturating_record`).
    #[inline]
    pub fn saturating_record(&mut self, ns: u64) {
        if self.until_clock == 0 || self.since_clock_ns >= CLOCK_AFTER_NS {
            let since = process_zero().elapsed().as_nanos() / u128::from(INTERVAL_NS);
            self.slot = usize::try_from(since).unwrap_or(usize::MAX - 1);
            self.until_clock = CLOCK_EVERY;
            self.since_clock_ns = 0;
        }
        self.until_clock -= 1;
        self.since_clock_ns = self.since_clock_ns.saturating_add(ns);
        self.total.saturating_record(ns);
        self.interval(self.slot).saturating_record(ns);
    }

    fn interval(&mut self, slot: usize) -> &mut Histogram<u64> {
        if self.intervals.len() <= slot {
            self.intervals.resize_with(slot + 1, || None);
        }
        self.intervals[slot].get_or_insert_with(ns_histogram)
    }

    /// Adds `other`'s values, interval by interval.
    pub fn add(&mut self, other: &LatencyRecorder) -> Result<(), AdditionError> {
        self.total.add(&other.total)?;
        for (slot, h) in other.intervals.iter().enumerate() {
            if let Some(h) = h {
                self.interval(slot).add(h)?;
            }
        }
        Ok(())
    }

    /// The whole run's histogram.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// The intervals from the first second that recorded to the last, as `(start_ns,
    /// length_ns, histogram)` with times from `zero` (the run's zero; an interval that
    /// began before it starts at 0), each a second long but the last, which ends at
    /// `end_ns` if that comes sooner. Seconds in between that recorded nothing are there,
    /// empty.
    pub fn intervals(&self, zero: Instant, end_ns: u64) -> Vec<(u64, u64, Histogram<u64>)> {
        let Some(first) = self.intervals.iter().position(Option::is_some) else {
            return Vec::new();
        };
        // Where interval 0 starts relative to the run's zero, in signed nanoseconds.
        let offset = match zero.checked_duration_since(process_zero()) {
            Some(d) => -(d.as_nanos() as i128),
            None => process_zero().duration_since(zero).as_nanos() as i128,
        };
        let last = self.intervals.len() - 1;
        (first..=last)
            .map(|slot| {
                let start = offset + slot as i128 * i128::from(INTERVAL_NS);
                let end = (start + i128::from(INTERVAL_NS)).min(i128::from(end_ns).max(start));
                let start_ns = u64::try_from(start.max(0)).unwrap_or(u64::MAX);
                let length_ns = u64::try_from((end - start.max(0)).max(0)).unwrap_or(0);
                let h = self.intervals[slot].clone().unwrap_or_else(ns_histogram);
                (start_ns, length_ns, h)
            })
            .collect()
    }
}

impl Deref for LatencyRecorder {
    type Target = Histogram<u64>;

    fn deref(&self) -> &Histogram<u64> {
        &self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_add_up_to_the_whole_run_and_merge_by_second() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::new();
        for v in 1..=1000 {
            a.saturating_record(v);
        }
        // b's values as if recorded three seconds later.
        b.slot = a.slot + 3;
        b.until_clock = u32::MAX;
        b.since_clock_ns = 0;
        for v in 1..=10 {
            b.saturating_record(v * 1000);
        }
        a.add(&b).unwrap();
        assert_eq!(a.len(), 1010);
        let zero = process_zero();
        let intervals = a.intervals(zero, u64::MAX);
        assert_eq!(
            intervals.len(),
            4,
            "first to last second, empty ones included"
        );
        let counts: Vec<u64> = intervals.iter().map(|i| i.2.len()).collect();
        assert_eq!(counts.iter().sum::<u64>(), 1010);
        assert_eq!((counts[0], counts[1], counts[3]), (1000, 0, 10));
        assert_eq!(intervals[3].0 - intervals[0].0, 3 * INTERVAL_NS);
        assert!(intervals.iter().all(|i| i.1 == INTERVAL_NS));
    }

    #[test]
    fn slow_values_read_the_clock_again_before_sixty_four() {
        let mut r = LatencyRecorder::new();
        r.saturating_record(CLOCK_AFTER_NS);
        r.slot = usize::MAX - 1; // a stale slot: the next value must read the clock
        r.saturating_record(1);
        assert_ne!(
            r.slot,
            usize::MAX - 1,
            "10 ms recorded: the clock was read again"
        );
    }

    #[test]
    fn the_last_interval_ends_with_the_run_and_none_starts_before_zero() {
        let mut r = LatencyRecorder::new();
        r.saturating_record(5);
        let zero = Instant::now();
        let intervals = r.intervals(zero, 100);
        assert_eq!(intervals.len(), 1);
        assert_eq!(
            intervals[0].0, 0,
            "the interval began before the run's zero"
        );
        assert!(intervals[0].1 <= 100, "clipped at the run's end");
        assert!(LatencyRecorder::new().intervals(zero, 100).is_empty());
    }
}
