//! Go's `GODEBUG=gctrace=1` line, written for a [`CycleRecord`] and read back: the
//! testbed prints one per cycle on stderr when `HeapConfig::gctrace` is on, and the
//! parser reads the testbed's lines and Go's alike, so that the two can be compared
//! field by field.
//!
//! The layout (Go ≥ 1.22, `runtime/extern.go`):
//!
//! ```text
//! gc # @#s #%: #+#+# ms clock, #+#/#/#+# ms cpu, #->#-># MB, # MB goal, # MB stacks, #MB globals, # P
//! ```
//!
//! Clock: sweep termination + mark + mark termination. CPU: sweep termination, then the
//! mark's assist / background / idle time, then mark termination (pauses count once per
//! P, as Go counts them). Heap, `A->B->C MB, D MB goal`, from the quantities Go prints
//! there (`gcMarkTermination`): `heapLive` at the start (`work.heap0`,
//! [`CycleRecord::heap_live_start_bytes`]) and when mark termination began (`work.heap1`,
//! `heap_live_end_bytes`), `heapMarked` (`work.heap2`, `heap_marked_bytes`), and the goal
//! this cycle paced to (`lastHeapGoal`, `heap_goal_bytes`). The testbed has no goroutine
//! stacks: `0 MB stacks`; globals are `globals_bytes`. Forced cycles end with ` (forced)`.
//!
//! Invariant: no state — pure functions of a [`CycleRecord`] or of a line. A line that
//! `gctrace_line` writes parses back with `parse_gctrace_line` to the record's fields in
//! Go's units (milliseconds at Go's precision, whole MB), and the parser takes Go's layouts
//! before and after 1.22 (five or seven comma-separated fields).

use crate::telemetry::{CycleReason, CycleRecord};

/// Nanoseconds written as Go writes milliseconds in gctrace (`fmtNSAsMS`): whole
/// milliseconds from 10 ms up, else two significant digits with at most three decimals.
pub fn format_ns_as_ms(ns: u64) -> String {
    if ns >= 10_000_000 {
        return (ns / 1_000_000).to_string();
    }
    let mut x = ns / 1_000;
    if x == 0 {
        return "0".to_string();
    }
    let mut decimals = 3;
    while x >= 100 {
        x /= 10;
        decimals -= 1;
    }
    // x has at most two digits and stands for x × 10^-decimals milliseconds.
    let s = format!("{x:0>width$}", width = decimals + 1);
    let (int, frac) = s.split_at(s.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// The gctrace line of a cycle.
pub fn gctrace_line(c: &CycleRecord) -> String {
    let procs = c.gomaxprocs.max(1) as u64;
    let elapsed = c.end_ns.max(1) as f64 * procs as f64;
    let percent = (c.cumulative_gc_cpu_ns as f64 / elapsed * 100.0) as u64;
    let ms = format_ns_as_ms;
    let mb = |b: u64| b >> 20;
    let mut line = format!(
        "gc {} @{}.{:03}s {}%: {}+{}+{} ms clock, {}+{}/{}/{}+{} ms cpu, {}->{}->{} MB, {} MB goal, 0 MB stacks, {} MB globals, {} P",
        c.cycle,
        c.start_ns / 1_000_000_000,
        c.start_ns / 1_000_000 % 1000,
        percent,
        ms(c.clock_sweep_term_ns),
        ms(c.clock_mark_ns),
        ms(c.clock_mark_term_ns),
        ms(c.clock_sweep_term_ns * procs),
        ms(c.assist_ns),
        ms(c.background_mark_ns),
        ms(c.idle_mark_ns),
        ms(c.clock_mark_term_ns * procs),
        mb(c.heap_live_start_bytes),
        mb(c.heap_live_end_bytes),
        mb(c.heap_marked_bytes),
        mb(c.heap_goal_bytes),
        mb(c.globals_bytes),
        c.gomaxprocs,
    );
    if c.reason != CycleReason::Automatic {
        line.push_str(" (forced)");
    }
    line
}

/// The fields of one gctrace line.
#[derive(Clone, Debug, PartialEq)]
pub struct GctraceLine {
    /// The cycle number.
    pub cycle: u64,
    /// Seconds since program (or heap) start.
    pub at_s: f64,
    /// Percent of CPU time spent in GC since the start.
    pub gc_percent: u64,
    /// Wall milliseconds: sweep termination, mark, mark termination.
    pub clock_ms: [f64; 3],
    /// CPU milliseconds: sweep termination, assist, background, idle, mark termination.
    pub cpu_ms: [f64; 5],
    /// Heap MB at the start, at mark termination, and live.
    pub heap_mb: [u64; 3],
    /// Heap goal, MB.
    pub goal_mb: u64,
    /// Stacks, MB (absent before Go 1.22: `None`).
    pub stacks_mb: Option<u64>,
    /// Globals, MB (absent before Go 1.22: `None`).
    pub globals_mb: Option<u64>,
    /// GOMAXPROCS.
    pub procs: u64,
    /// Whether the cycle was forced.
    pub forced: bool,
}

/// Parses a gctrace line (the testbed's or Go's); the error names the field that did not
/// fit the layout.
pub fn parse_gctrace_line(line: &str) -> Result<GctraceLine, String> {
    let line = line.trim();
    let (line, forced) = match line.strip_suffix("(forced)") {
        Some(rest) => (rest.trim_end(), true),
        None => (line, false),
    };
    let err = |what: &str| format!("gctrace: {what} in {line:?}");
    let (head, rest) = line.split_once(": ").ok_or_else(|| err("no ': '"))?;
    let head: Vec<&str> = head.split_whitespace().collect();
    let [gc, cycle, at, pct] = head[..] else {
        return Err(err("the head is not 'gc # @#s #%'"));
    };
    if gc != "gc" {
        return Err(err("no 'gc' at the start"));
    }
    let cycle = cycle.parse().map_err(|_| err("a bad cycle number"))?;
    let at_s = at
        .strip_prefix('@')
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("a bad '@#s'"))?;
    let gc_percent = pct
        .strip_suffix('%')
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("a bad '#%'"))?;
    let fields: Vec<&str> = rest.split(", ").collect();
    if fields.len() < 5 {
        return Err(err("fewer than five comma-separated fields"));
    }
    let numbers = |s: &str, suffix: &str, seps: &[char]| -> Result<Vec<f64>, String> {
        s.strip_suffix(suffix)
            .ok_or_else(|| err(&format!("no '{suffix}'")))?
            .split(seps)
            .map(|x| {
                x.trim()
                    .parse::<f64>()
                    .map_err(|_| err(&format!("a bad number {x:?}")))
            })
            .collect()
    };
    let clock = numbers(fields[0], " ms clock", &['+'])?;
    let cpu = numbers(fields[1], " ms cpu", &['+', '/'])?;
    let heap: Vec<u64> = fields[2]
        .strip_suffix(" MB")
        .ok_or_else(|| err("no ' MB' on the heap sizes"))?
        .split("->")
        .map(|x| x.parse::<u64>().map_err(|_| err("a bad heap size")))
        .collect::<Result<_, _>>()?;
    let (Ok(clock_ms), Ok(cpu_ms), Ok(heap_mb)) = (
        <[f64; 3]>::try_from(clock),
        <[f64; 5]>::try_from(cpu),
        <[u64; 3]>::try_from(heap),
    ) else {
        return Err(err(
            "the clock, cpu or heap field has the wrong number of parts",
        ));
    };
    let mb = |s: &str, suffix: &str| -> Result<u64, String> {
        s.strip_suffix(suffix)
            .map(str::trim)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| err(&format!("a bad '{suffix}' field")))
    };
    let goal_mb = mb(fields[3], " MB goal")?;
    let (stacks_mb, globals_mb, procs_field) = match fields.len() {
        5 => (None, None, fields[4]),
        7 => (
            Some(mb(fields[4], " MB stacks")?),
            Some(mb(fields[5], "MB globals")?),
            fields[6],
        ),
        _ => return Err(err("neither five nor seven fields")),
    };
    let procs = mb(procs_field, " P")?;
    Ok(GctraceLine {
        cycle,
        at_s,
        gc_percent,
        clock_ms,
        cpu_ms,
        heap_mb,
        goal_mb,
        stacks_mb,
        globals_mb,
        procs,
        forced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_written_as_go_writes_them() {
        assert_eq!(format_ns_as_ms(0), "0");
        assert_eq!(format_ns_as_ms(999), "0");
        assert_eq!(format_ns_as_ms(260_000), "0.26");
        assert_eq!(format_ns_as_ms(1_900_000), "1.9");
        assert_eq!(format_ns_as_ms(1_000_000), "1");
        assert_eq!(format_ns_as_ms(12_000), "0.012");
        assert_eq!(format_ns_as_ms(7_349_000), "7.3");
        assert_eq!(format_ns_as_ms(10_500_000), "10");
        assert_eq!(format_ns_as_ms(123_456_789), "123");
    }

    #[test]
    fn go_lines_parse_with_and_without_the_1_22_fields() {
        let go = "gc 2814 @39.333s 1%: 0.26+1.9+0.91 ms clock, 2.1+0.11/0.53/0+7.3 ms cpu, 4->4->1 MB, 5 MB goal, 8 P";
        let l = parse_gctrace_line(go).unwrap();
        assert_eq!(l.cycle, 2814);
        assert_eq!(l.at_s, 39.333);
        assert_eq!(l.clock_ms, [0.26, 1.9, 0.91]);
        assert_eq!(l.cpu_ms, [2.1, 0.11, 0.53, 0.0, 7.3]);
        assert_eq!(l.heap_mb, [4, 4, 1]);
        assert_eq!((l.goal_mb, l.procs, l.stacks_mb), (5, 8, None));
        let new = "gc 7 @0.012s 3%: 0.012+1.2+0.034 ms clock, 0.025+0.1/0.9/0.2+0.068 ms cpu, 3->3->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)";
        let l = parse_gctrace_line(new).unwrap();
        assert!(l.forced);
        assert_eq!((l.stacks_mb, l.globals_mb, l.procs), (Some(0), Some(0), 2));
        assert!(parse_gctrace_line("gc x @1s 1%: nonsense").is_err());
        assert!(parse_gctrace_line("scvg: 0 MB released").is_err());
    }

    #[test]
    fn a_cycle_record_round_trips_through_its_line() {
        let c = CycleRecord {
            cycle: 3,
            reason: CycleReason::Forced,
            heap_live_start_bytes: 9 << 20,
            heap_live_end_bytes: 10 << 20,
            heap_marked_bytes: 2 << 20,
            heap_goal_bytes: 12 << 20,
            trigger_bytes: 8 << 20,
            next_heap_goal_bytes: 4 << 20,
            mark_ns: 1_500_000,
            mark_threads: 2,
            marked_objects: 10,
            bad_refs: 0,
            sweep_ns: 0,
            verify_ns: 0,
            scan_work_bytes: 0,
            mark_workers: 2,
            running_mutators: 1,
            assist_ns: 200_000,
            background_mark_ns: 700_000,
            idle_mark_ns: 1_100_000,
            start_ns: 2_345_000_000,
            end_ns: 2_347_000_000,
            clock_sweep_term_ns: 50_000,
            clock_mark_ns: 1_500_000,
            clock_mark_term_ns: 120_000,
            globals_bytes: 1 << 20,
            gomaxprocs: 2,
            cumulative_gc_cpu_ns: 234_700_000,
        };
        let line = gctrace_line(&c);
        let l = parse_gctrace_line(&line).unwrap();
        assert_eq!(l.cycle, 3);
        assert_eq!(l.at_s, 2.345);
        assert_eq!(l.gc_percent, 5, "{line}");
        assert_eq!(l.clock_ms, [0.05, 1.5, 0.12]);
        assert_eq!(l.cpu_ms, [0.1, 0.2, 0.7, 1.1, 0.24]);
        assert_eq!(l.heap_mb, [9, 10, 2]);
        assert_eq!((l.goal_mb, l.globals_mb, l.procs), (12, Some(1), 2));
        assert!(l.forced);
    }
}
