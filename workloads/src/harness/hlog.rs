//! HdrHistogram interval logs (`.hlog`, the format of Java's `HistogramLogWriter`), written
//! with the hdrhistogram crate's `serialization::interval_log` writer and its V2 + DEFLATE
//! serializer, so HdrHistogram's own tools (`HistogramLogProcessor`, the crate's
//! `IntervalLogIterator`) read them.
//!
//! Intervals follow the data the harness has:
//! - `pauses.hlog`, tag `pause`: one interval per GC cycle, holding that cycle's
//!   stop-the-world pauses (in ns), from its first pause's start to its last pause's end.
//! - `latency.hlog`, tag `latency`: one interval per second of the run, from the
//!   workloads' [`super::latency::LatencyRecorder`]s.
//!
//! Both logs carry `StartTime` and `BaseTime` headers at the heap's creation (the run's
//! zero), so an interval's timestamp is seconds since then; `MaxValueDivisor` is 1e6, so
//! each interval's max column reads in milliseconds while the histograms stay in ns.

use collector::PauseRecord;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::time::{Duration, SystemTime};

/// The tag of every interval in `pauses.hlog`.
pub const PAUSE_TAG: &str = "pause";
/// The tag of every interval in `latency.hlog`.
pub const LATENCY_TAG: &str = "latency";
/// Histogram values are ns; the max column of each interval line is in ms.
const MAX_VALUE_DIVISOR: f64 = 1e6;

/// One cycle's pauses: when the first began and how long from there to the last one's
/// end, both from the run's zero, and each pause's duration (ns).
pub struct PauseGroup {
    /// Nanoseconds from the run's zero to the first pause's start.
    pub start_ns: u64,
    /// From the first pause's start to the last one's end, in ns.
    pub length_ns: u64,
    /// The pauses' durations, in ns.
    pub durations: Vec<u64>,
}

/// The pauses grouped by cycle, in cycle order.
pub fn pause_groups(pauses: &[PauseRecord]) -> Vec<PauseGroup> {
    let mut sorted: Vec<&PauseRecord> = pauses.iter().collect();
    sorted.sort_by_key(|p| (p.cycle, p.start_ns));
    let mut groups: Vec<(u64, PauseGroup)> = Vec::new();
    for p in sorted {
        let end = p.start_ns.saturating_add(p.duration_ns);
        let group = match groups.last_mut() {
            Some((cycle, group)) if *cycle == p.cycle => group,
            _ => {
                let fresh = PauseGroup {
                    start_ns: p.start_ns,
                    length_ns: 0,
                    durations: Vec::new(),
                };
                groups.push((p.cycle, fresh));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        group.length_ns = group.length_ns.max(end.saturating_sub(group.start_ns));
        group.durations.push(p.duration_ns);
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The interval log of `intervals` (`(start_ns, length_ns, histogram)`, from the run's
/// zero), each tagged `tag`, with `StartTime` and `BaseTime` at `zero` (the wall-clock
/// time of the run's zero) and `comment` as the first line. Each histogram is written
/// as it comes, so a lazy iterator keeps one alive at a time (a full-range histogram is
/// about 256 KiB: one per cycle, all at once, was what made a long run's RSS climb by
/// hundreds of MiB while it wrote its report).
pub fn interval_log<H: std::borrow::Borrow<Histogram<u64>>>(
    intervals: impl IntoIterator<Item = (u64, u64, H)>,
    tag: &str,
    comment: &str,
    zero: SystemTime,
) -> Vec<u8> {
    let tag = Tag::new(tag).expect("the harness's tags have no ',' or whitespace");
    let mut log = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .with_start_time(zero)
        .with_base_time(zero)
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut log, &mut serializer)
        .expect("writing into memory cannot fail");
    for (start_ns, length_ns, histogram) in intervals {
        writer
            .write_histogram(
                histogram.borrow(),
                Duration::from_nanos(start_ns),
                Duration::from_nanos(length_ns),
                Some(tag),
            )
            .expect("a histogram with u64 counts serializes, into memory");
    }
    log
}

/// `pauses.hlog`: one `pause` interval per cycle, its histogram made when it is written.
pub fn pauses_log(pauses: &[PauseRecord], zero: SystemTime) -> Vec<u8> {
    let comment = "stop-the-world pauses in ns, one interval per GC cycle";
    let intervals = pause_groups(pauses).into_iter().map(|g| {
        let mut h = super::latency::ns_histogram();
        for d in g.durations {
            h.saturating_record(d);
        }
        (g.start_ns, g.length_ns, h)
    });
    interval_log(intervals, PAUSE_TAG, comment, zero)
}

/// `latency.hlog`: the workload's operation latencies, one `latency` interval per second
/// of the run (`(start_ns, length_ns, histogram)` from [`super::latency::LatencyRecorder`]).
/// Taken one at a time, so a lazy iterator keeps one histogram alive at a time.
pub fn latency_log(
    intervals: impl IntoIterator<Item = (u64, u64, Histogram<u64>)>,
    zero: SystemTime,
) -> Vec<u8> {
    let comment = "operation latency in ns, one interval per second of the run";
    interval_log(intervals, LATENCY_TAG, comment, zero)
}

/// Reads an interval log back with the crate's `IntervalLogIterator`: each interval's
/// tag, start, length and decoded histogram, in log order. For tests and tools; an
/// error names the line that could not be read.
pub fn read_intervals(log: &[u8]) -> Result<Vec<ReadInterval>, String> {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(log) {
        let LogEntry::Interval(ilh) = entry.map_err(|e| format!("unreadable log: {e:?}"))? else {
            continue;
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(ilh.encoded_histogram())
            .map_err(|e| format!("interval {}: bad base64: {e}", out.len() + 1))?;
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("interval {}: bad histogram: {e:?}", out.len() + 1))?;
        out.push(ReadInterval {
            tag: ilh.tag().map(|t| t.as_str().to_string()),
            start: ilh.start_timestamp(),
            length: ilh.duration(),
            histogram,
        });
    }
    Ok(out)
}

/// One interval as [`read_intervals`] found it.
pub struct ReadInterval {
    /// Its tag, if it has one.
    pub tag: Option<String>,
    /// Its start, from the log's `BaseTime` (millisecond resolution in the file).
    pub start: Duration,
    /// Its length (millisecond resolution in the file).
    pub length: Duration,
    /// The histogram recorded in it.
    pub histogram: Histogram<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(cycle: u64, start_ns: u64, duration_ns: u64) -> PauseRecord {
        PauseRecord {
            cycle,
            start_ns,
            duration_ns,
            ttsp_ns: 0,
        }
    }

    #[test]
    fn pauses_come_back_one_interval_per_cycle() {
        let pauses = [
            pause(1, 10_000_000, 40_000),
            pause(1, 30_000_000, 90_000),
            pause(2, 1_500_000_000, 2_000_000),
            pause(3, 2_000_000_000, 7_000),
            pause(3, 2_100_000_000, 8_000),
            pause(3, 2_250_000_000, 9_000),
        ];
        let zero = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let log = pauses_log(&pauses, zero);
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        let intervals = read_intervals(&log).unwrap();
        let counts: Vec<u64> = intervals.iter().map(|i| i.histogram.len()).collect();
        assert_eq!(counts, [2, 1, 3], "the pauses of each cycle");
        let maxes: Vec<u64> = intervals.iter().map(|i| i.histogram.max()).collect();
        for (max, want) in maxes.iter().zip([90_000, 2_000_000, 9_000]) {
            assert!(
                want <= *max && *max <= want + want / 500,
                "{max} for {want}"
            );
        }
        let starts: Vec<u128> = intervals.iter().map(|i| i.start.as_millis()).collect();
        assert_eq!(starts, [10, 1500, 2000]);
        let lengths: Vec<u128> = intervals.iter().map(|i| i.length.as_millis()).collect();
        assert_eq!(lengths, [20, 2, 250]);
        assert!(intervals
            .iter()
            .all(|i| i.tag.as_deref() == Some(PAUSE_TAG)));
    }

    #[test]
    fn latency_comes_back_interval_by_interval() {
        let mut a = crate::harness::latency::ns_histogram();
        let mut b = a.clone();
        for v in 1..=5_000u64 {
            a.record(v * 37).unwrap();
        }
        b.record(12_345).unwrap();
        let second = 1_000_000_000;
        let intervals = [(0, second, a.clone()), (second, second / 2, b.clone())];
        let log = latency_log(intervals.clone(), SystemTime::now());
        let got = read_intervals(&log).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].histogram, a, "every count survives the round trip");
        assert_eq!(got[1].histogram, b);
        assert_eq!(
            (got[1].start.as_millis(), got[1].length.as_millis()),
            (1000, 500)
        );
        assert!(got.iter().all(|i| i.tag.as_deref() == Some(LATENCY_TAG)));
    }

    #[test]
    fn no_pauses_is_a_log_with_no_intervals() {
        let log = pauses_log(&[], SystemTime::now());
        assert!(read_intervals(&log).unwrap().is_empty());
        assert!(String::from_utf8(log)
            .unwrap()
            .starts_with("#stop-the-world"));
        assert!(read_intervals(b"Tag=pause,0.1,0.2,0.3,!!!\n").is_err());
    }
}
