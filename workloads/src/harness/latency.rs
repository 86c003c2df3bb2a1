//! Operation latency over time: a [`LatencyRecorder`] keeps the whole run's histogram and
//! one histogram per second of the run, so `latency.hlog` can show how latency moved
//! (a slow second during a long mark, say) where the run's percentiles cannot. A second
//! the recorder has moved past is kept packed (HdrHistogram's compressed V2 encoding, a
//! few KiB, where a full-range histogram is about 256 KiB), so an hour's run holds
//! megabytes per thread, not a gigabyte; the packing runs on a thread of its own, off the
//! recording thread's timed path.
//!
//! Invariant: every value recorded goes into the whole-run histogram and into exactly one
//! interval, so the intervals' counts add up to the whole run's. A value's interval is the
//! second (since [`process_zero`]) in which the recorder last read the clock, which it
//! does at the first value, then after every [`CLOCK_EVERY`] values or once the values
//! recorded since add up to [`CLOCK_AFTER_NS`], whichever comes first: a value recorded
//! when it completes can land in the second before its own, by at most that much work
//! (63 fast operations, or 10 ms of slow ones), never later. A workload that records
//! after the run (head-of-line) gets one interval.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::{AdditionError, Histogram};
use std::ops::Deref;
use std::sync::{mpsc, Arc, OnceLock};
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

/// One second's values: live while the recorder may still record into it; once it has
/// moved on (or merged into a recorder that has), handed to the packer thread and then
/// packed. Packing (a deflate of a full-range histogram) never runs on the recording
/// thread, whose next operation's latency it would otherwise delay.
#[derive(Clone)]
enum Interval {
    Live(Histogram<u64>),
    /// With the packer thread, which sets the encoding once done.
    Packing(Arc<OnceLock<Vec<u8>>>),
}

impl Interval {
    /// The histogram, unpacked (waiting for the packer if it is not done).
    fn histogram(&self) -> Histogram<u64> {
        match self {
            Interval::Live(h) => h.clone(),
            Interval::Packing(done) => {
                let mut h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut &done.wait()[..])
                    .expect("the recorder's own V2 encoding reads back");
                h.auto(true);
                h
            }
        }
    }

    /// The histogram to record into, unpacked first if packed.
    fn live(&mut self) -> &mut Histogram<u64> {
        if let Interval::Packing(_) = self {
            *self = Interval::Live(self.histogram());
        }
        match self {
            Interval::Live(h) => h,
            Interval::Packing(_) => unreachable!("unpacked above"),
        }
    }

    /// Hands a live histogram to the packer thread.
    fn pack(&mut self) {
        if let Interval::Live(h) = self {
            let h = std::mem::replace(h, Histogram::new(1).expect("1 significant figure"));
            *self = Interval::Packing(pack_in_background(h));
        }
    }

    /// The bytes it holds: a packed interval's encoding, a live one's counts.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        match self {
            Interval::Live(h) => h.distinct_values() * std::mem::size_of::<u64>(),
            Interval::Packing(done) => done.wait().len(),
        }
    }
}

/// HdrHistogram's compressed V2 encoding of `h`.
fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("a histogram with u64 counts serializes, into memory");
    bytes
}

/// Packs `h` on the process's packer thread (started on first use); the returned cell
/// holds the encoding once done. If the thread cannot be started, packs here.
fn pack_in_background(h: Histogram<u64>) -> Arc<OnceLock<Vec<u8>>> {
    type Job = (Histogram<u64>, Arc<OnceLock<Vec<u8>>>);
    static PACKER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let packer = PACKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("latency-packer".into())
            .spawn(move || {
                for (h, done) in rx {
                    let _ = done.set(encode(&h));
                }
            })
            .ok()
            .map(|_| tx)
    });
    let done = Arc::new(OnceLock::new());
    let job = (h, Arc::clone(&done));
    let unsent = match packer {
        Some(tx) => tx.send(job).err().map(|e| e.0),
        None => Some(job),
    };
    if let Some((h, done)) = unsent {
        let _ = done.set(encode(&h));
    }
    done
}

/// A thread's operation latencies: the whole run's histogram (what it derefs to) and one
/// per second. Threads merge theirs with [`LatencyRecorder::add`].
pub struct LatencyRecorder {
    total: Histogram<u64>,
    /// Interval `i` covers seconds `[i, i + 1)` after [`process_zero`].
    intervals: Vec<Option<Interval>>,
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
            self.move_to(usize::try_from(since).unwrap_or(usize::MAX - 1));
            self.until_clock = CLOCK_EVERY;
            self.since_clock_ns = 0;
        }
        self.until_clock -= 1;
        self.since_clock_ns = self.since_clock_ns.saturating_add(ns);
        self.total.saturating_record(ns);
        self.interval(self.slot).saturating_record(ns);
    }

    /// Records into `slot` from now on, packing the second it leaves.
    fn move_to(&mut self, slot: usize) {
        if slot != self.slot {
            if let Some(Some(left)) = self.intervals.get_mut(self.slot) {
                left.pack();
            }
            self.slot = slot;
        }
    }

    fn interval(&mut self, slot: usize) -> &mut Histogram<u64> {
        if self.intervals.len() <= slot {
            self.intervals.resize_with(slot + 1, || None);
        }
        self.intervals[slot]
            .get_or_insert_with(|| Interval::Live(ns_histogram()))
            .live()
    }

    /// Adds `other`'s values, interval by interval (each second but this recorder's
    /// current one packed again after the addition).
    pub fn add(&mut self, other: &LatencyRecorder) -> Result<(), AdditionError> {
        self.total.add(&other.total)?;
        for (slot, interval) in other.intervals.iter().enumerate() {
            if let Some(interval) = interval {
                self.interval(slot).add(interval.histogram())?;
                if slot != self.slot {
                    if let Some(Some(merged)) = self.intervals.get_mut(slot) {
                        merged.pack();
                    }
                }
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
    /// Each is unpacked as the iterator reaches it, so a writer that takes them one at a
    /// time holds one at a time.
    pub fn intervals(
        &self,
        zero: Instant,
        end_ns: u64,
    ) -> impl Iterator<Item = (u64, u64, Histogram<u64>)> + '_ {
        let first = self.intervals.iter().position(Option::is_some);
        let slots = match first {
            Some(first) => first..self.intervals.len(),
            None => 0..0,
        };
        // Where interval 0 starts relative to the run's zero, in signed nanoseconds.
        let offset = match zero.checked_duration_since(process_zero()) {
            Some(d) => -(d.as_nanos() as i128),
            None => process_zero().duration_since(zero).as_nanos() as i128,
        };
        slots.map(move |slot| {
            let start = offset + slot as i128 * i128::from(INTERVAL_NS);
            let end = (start + i128::from(INTERVAL_NS)).min(i128::from(end_ns).max(start));
            let start_ns = u64::try_from(start.max(0)).unwrap_or(u64::MAX);
            let length_ns = u64::try_from((end - start.max(0)).max(0)).unwrap_or(0);
            let h = self.intervals[slot]
                .as_ref()
                .map_or_else(ns_histogram, Interval::histogram);
            (start_ns, length_ns, h)
        })
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
        let intervals: Vec<_> = a.intervals(zero, u64::MAX).collect();
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
    fn a_second_left_behind_is_packed_and_reads_back_whole() {
        let mut r = LatencyRecorder::new();
        let mut expected = ns_histogram();
        // A spread of values, as a busy second has (1 ns to about 17 s).
        for v in 0..100_000u64 {
            let ns = 1 + (v * v * 7919) % (1 << 34);
            r.saturating_record(ns);
            expected.saturating_record(ns);
        }
        let full = ns_histogram().distinct_values() * std::mem::size_of::<u64>();
        let first = r.slot;
        let held = |r: &LatencyRecorder| r.intervals[first].as_ref().unwrap().held_bytes();
        // The next second: the recorder moves on and packs the one it left.
        r.move_to(first + 1);
        (r.until_clock, r.since_clock_ns) = (u32::MAX, 0); // no clock read from here
        r.saturating_record(1);
        let packed = held(&r);
        assert!(packed * 20 < full, "packed {packed} bytes of {full}");
        let got: Vec<_> = r.intervals(process_zero(), u64::MAX).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, expected, "every count survives the packing");
        // Merging packs again every second but the current one.
        let mut merged = LatencyRecorder::new();
        merged.slot = r.slot + 5;
        merged.add(&r).unwrap();
        assert_eq!(held(&merged), packed, "packed again after the merge");
        let again: Vec<_> = merged.intervals(process_zero(), u64::MAX).collect();
        assert_eq!(again[0].2, expected);
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
        let intervals: Vec<_> = r.intervals(zero, 100).collect();
        assert_eq!(intervals.len(), 1);
        assert_eq!(
            intervals[0].0, 0,
            "the interval began before the run's zero"
        );
        assert!(intervals[0].1 <= 100, "clipped at the run's end");
        assert_eq!(LatencyRecorder::new().intervals(zero, 100).count(), 0);
    }
}
