//! Telemetry: what the collector records about itself — cycles, every stop-the-world
//! pause with its time-to-safepoint, verification results — kept off the hot paths
//! (recorded only inside pauses and slow paths) and on `std` atomics in every build.
//!
//! Invariant: std atomics and mutexes in every build (loom never explores them); this
//! file's methods hold one of its mutexes only to record, taking no lock of the collector
//! meanwhile. It records and counts; no decision of the collector reads it, except the
//! cycle count, which only the cycle controller (holding `cycle_lock`) writes and reads
//! to number the next cycle. Reports are kept up to their caps (`MAX_LOST_REPORTS`,
//! `MAX_LEAK_REPORTS`), all counted.

use crate::sync::unmodelled::{lock, Mutex};
use crate::sync::unmodelled::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use crate::trace::Tracer;
use std::time::{Duration, Instant};

/// Why a cycle ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CycleReason {
    /// The heap reached the GOGC goal.
    #[default]
    Automatic,
    /// `gc()` was called (Go's "forced" cycle).
    Forced,
    /// An allocation would have passed the heap cap: a full cycle to make room.
    HeapLimit,
}

/// Go's GC CPU limiter's state (`HeapStats::cpu_limiter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuLimiterStats {
    /// How many times it turned on (mark assists off while it is).
    pub times_on: u64,
    /// Whether it is on now.
    pub on: bool,
    /// GC CPU time that found its bucket full (Go's `overflow`), in nanoseconds.
    pub overflow_ns: u64,
}

/// One stop-the-world pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseRecord {
    /// The cycle the pause belongs to (1-based).
    pub cycle: u64,
    /// Nanoseconds from heap creation to the stop request.
    pub start_ns: u64,
    /// Nanoseconds from the stop request to the restart: the whole pause.
    pub duration_ns: u64,
    /// Nanoseconds from the stop request until every running mutator had stopped
    /// (included in `duration_ns`).
    pub ttsp_ns: u64,
}

/// Per-cycle facts for reports and gctrace-style lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleRecord {
    /// The cycle number (1-based).
    pub cycle: u64,
    /// Why it ran.
    pub reason: CycleReason,
    /// Go's `heapLive` when the cycle started, just before its first pause (Go's
    /// `work.heap0`, gctrace's first heap figure): object bytes allocated since the last
    /// mark counted whole spans at a time (a span cached for allocation counts its free
    /// slots too), on top of the last cycle's `heap_marked_bytes`.
    pub heap_live_start_bytes: u64,
    /// Go's `heapLive` when mark termination began, before the allocation caches were
    /// emptied (Go's `work.heap1`, gctrace's second heap figure).
    pub heap_live_end_bytes: u64,
    /// Go's `heapMarked` (`work.bytesMarked`, gctrace's third heap figure): the bytes
    /// the mark found live, objects allocated black during the mark included, and, as
    /// Go counts them, the scannable objects whose finalizers it scanned, marked or not
    /// (`mark::special_roots`). The next goal is computed from it, and `heapLive`
    /// restarts from it.
    pub heap_marked_bytes: u64,
    /// The goal in force as this cycle's mark ended (Go's `lastHeapGoal`, gctrace's
    /// `# MB goal`): the goal set by the last cycle, at least Go's `minRunway` (64 KiB)
    /// above `heap_live_start_bytes`; with a memory limit, that goal as the memory held
    /// then made it (`cycle::pacing_now`), with no `minRunway`.
    pub heap_goal_bytes: u64,
    /// The trigger in force when the cycle started: an automatic cycle starts once
    /// `heapLive` reaches it (the goal, for stop-the-world heaps).
    pub trigger_bytes: u64,
    /// The goal set for the next cycle from `heap_marked_bytes` (Go's `heapGoal` after
    /// this cycle's `commit`).
    pub next_heap_goal_bytes: u64,
    /// Nanoseconds spent marking.
    pub mark_ns: u64,
    /// Threads that marked (GOMAXPROCS for heaps of at least 1 MiB, else 1).
    pub mark_threads: u32,
    /// Objects the mark found live.
    pub marked_objects: u64,
    /// References the mark met that named no live object (stale or poisoned; with
    /// verification on, each is also reported as a lost object).
    pub bad_refs: u64,
    /// Nanoseconds spent sweeping.
    pub sweep_ns: u64,
    /// Nanoseconds spent in the checkmark re-trace (0 when off).
    pub verify_ns: u64,
    /// Scan work: bytes of reference slots the mark scanned (Go's scan work unit).
    pub scan_work_bytes: u64,
    /// Background mark worker threads of the concurrent mark (0: stop-the-world, or
    /// assists only).
    pub mark_workers: u32,
    /// Mutators running when the cycle began, which the mark's idle workers are planned
    /// around (one on each core running neither a mutator nor a dedicated worker: Go
    /// starts idle workers on Ps with nothing else to run). A mutator that is waiting only
    /// for this cycle to start counts, as Go's allocating goroutine runs `gcStart` on its
    /// own P and goes on; one in `Mutator::blocking`, a parked assist or `gc()` does not.
    /// 0 for stop-the-world cycles.
    pub running_mutators: u32,
    /// Nanoseconds mutators spent in mark assists.
    pub assist_ns: u64,
    /// Nanoseconds dedicated and fractional workers spent marking, with the GC thread's
    /// scan of the specials' roots when the mark ran dedicated workers or no idle one
    /// (Go's root jobs are its workers' work, dedicated ones' first).
    pub background_mark_ns: u64,
    /// Nanoseconds idle workers spent marking, with the GC thread's scan of the specials'
    /// roots otherwise, up to what the idle workers could have left in the mark so far.
    pub idle_mark_ns: u64,
    /// Nanoseconds from heap creation to the cycle's first stop request.
    pub start_ns: u64,
    /// Nanoseconds from heap creation to the end of the cycle's last pause.
    pub end_ns: u64,
    /// Wall time of sweep termination, the first pause (stop-the-world: the cache flush
    /// at the start of the one pause).
    pub clock_sweep_term_ns: u64,
    /// Wall time of the mark (concurrent: between the two pauses).
    pub clock_mark_ns: u64,
    /// Wall time of mark termination, the last pause (stop-the-world: the rest of the one
    /// pause after the mark).
    pub clock_mark_term_ns: u64,
    /// Bytes of globals (scanned as roots every cycle; Go's `globalsScan`).
    pub globals_bytes: u64,
    /// GOMAXPROCS during the cycle.
    pub gomaxprocs: u32,
    /// GC CPU nanoseconds since heap creation, up to this cycle: pauses × GOMAXPROCS plus
    /// assists and dedicated/fractional workers (idle workers use otherwise idle CPU and
    /// are left out, as in Go's `gc_cpu_fraction`).
    pub cumulative_gc_cpu_ns: u64,
}

/// The collector's counters and logs.
pub(crate) struct Telemetry {
    pub(crate) start: Instant,
    pub(crate) cycles: AtomicU64,
    pub(crate) cycles_checked: AtomicU64,
    pub(crate) lost_objects: AtomicU64,
    /// GC CPU nanoseconds so far (see [`CycleRecord::cumulative_gc_cpu_ns`]).
    pub(crate) gc_cpu_ns: AtomicU64,
    /// Write-barrier slow paths taken (stores while marking), as mutators report them.
    pub(crate) barrier_slow_paths: AtomicU64,
    /// Threads inside `gc()` now (waiting for, or running, the cycle they need).
    pub(crate) gc_callers: AtomicUsize,
    pub(crate) pauses: Mutex<Vec<PauseRecord>>,
    pub(crate) cycle_log: Mutex<Vec<CycleRecord>>,
    /// The first reports of lost objects (at most [`MAX_LOST_REPORTS`]).
    pub(crate) lost_reports: Mutex<Vec<String>>,
    /// Leak checker findings, counted.
    pub(crate) leaks_found: AtomicU64,
    /// The first leak checker reports and the last queue line.
    pub(crate) leak_reports: Mutex<(Vec<String>, Option<String>)>,
    /// The run's timeline (`HeapConfig::trace`).
    pub(crate) trace: Tracer,
}

/// How many lost-object reports are kept (Go's checkfinalizers keeps 50 too).
pub const MAX_LOST_REPORTS: usize = 50;

/// A thread inside `gc()`, counted in `Telemetry::gc_callers` until dropped.
pub(crate) struct GcCaller<'a>(&'a AtomicUsize);

impl Drop for GcCaller<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// How many leak checker reports are kept (all are counted).
pub const MAX_LEAK_REPORTS: usize = 50;

impl Telemetry {
    pub(crate) fn new(trace: bool) -> Telemetry {
        let start = Instant::now();
        Telemetry {
            start,
            cycles: AtomicU64::new(0),
            cycles_checked: AtomicU64::new(0),
            lost_objects: AtomicU64::new(0),
            gc_cpu_ns: AtomicU64::new(0),
            barrier_slow_paths: AtomicU64::new(0),
            gc_callers: AtomicUsize::new(0),
            pauses: Mutex::new(Vec::new()),
            cycle_log: Mutex::new(Vec::new()),
            lost_reports: Mutex::new(Vec::new()),
            leaks_found: AtomicU64::new(0),
            leak_reports: Mutex::new((Vec::new(), None)),
            trace: Tracer::new(trace, start),
        }
    }

    /// Counts the calling thread as inside `gc()` until the returned guard is dropped.
    pub(crate) fn gc_caller(&self) -> GcCaller<'_> {
        self.gc_callers.fetch_add(1, Relaxed);
        GcCaller(&self.gc_callers)
    }

    pub(crate) fn since_start(&self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.start))
    }

    pub(crate) fn record_pause(&self, p: PauseRecord) {
        lock(&self.pauses).push(p);
    }

    pub(crate) fn record_cycle(&self, c: CycleRecord) {
        lock(&self.cycle_log).push(c);
    }

    /// Records one cycle's leak checker output; prints the first reports (as Go prints
    /// its first 50) and the queue line.
    pub(crate) fn record_leaks(&self, reports: Vec<String>, queue: String) {
        self.leaks_found.fetch_add(reports.len() as u64, Relaxed);
        let mut g = lock(&self.leak_reports);
        for r in reports {
            if g.0.len() < MAX_LEAK_REPORTS {
                stderr_line(format_args!("{r}"));
                g.0.push(r);
            }
        }
        stderr_line(format_args!("{queue}"));
        g.1 = Some(queue);
    }

    pub(crate) fn record_lost(&self, report: String) {
        self.lost_objects.fetch_add(1, Relaxed);
        let mut r = lock(&self.lost_reports);
        if r.len() < MAX_LOST_REPORTS {
            stderr_line(format_args!("collector: checkmark: {report}"));
            r.push(report);
        }
    }
}

/// A fatal error of the testbed, as Go's `throw`: `fatal error: <msg>` on stderr and exit
/// status 2, running nothing of the program's on the way out. `std::process::exit` would
/// run the calling thread's thread-local destructors and the `atexit` handlers, which may
/// use the heap while the caller still holds its locks (Go's mode of the leak checker
/// exits at the end of a cycle, its lock held); Go's `throw` runs no user code either.
pub(crate) fn fatal(msg: &str) -> ! {
    use std::io::Write;
    stderr_line(format_args!("fatal error: {msg}"));
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once, without running destructors or `atexit`
    // handlers; nothing of this process runs after it, so no invariant is left to keep.
    // What the program wrote to Rust's buffered stdout was flushed just above (stderr is
    // unbuffered).
    unsafe { libc::_exit(2) }
}

/// Writes a line on stderr, ignoring failure (a closed stderr must not take down the
/// thread reporting: `eprintln!` panics then).
pub(crate) fn stderr_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Saturating nanoseconds of a duration.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_reports_are_counted_all_but_kept_up_to_the_cap() {
        let t = Telemetry::new(false);
        for i in 0..MAX_LOST_REPORTS + 10 {
            t.record_lost(format!("lost {i}"));
        }
        assert_eq!(t.lost_objects.load(Relaxed), (MAX_LOST_REPORTS + 10) as u64);
        let r = lock(&t.lost_reports);
        assert_eq!(r.len(), MAX_LOST_REPORTS);
        assert_eq!(r[0], "lost 0");
    }

    #[test]
    fn times_are_relative_to_heap_creation() {
        let t = Telemetry::new(false);
        assert_eq!(t.since_start(t.start), 0);
        assert_eq!(
            t.since_start(t.start - Duration::from_secs(1)),
            0,
            "saturates"
        );
        assert_eq!(nanos(Duration::from_micros(3)), 3000);
    }
}
