//! The driver every workload binary runs on: [`Run`] prepares the report directory
//! before any work ([`ReportDir`]: staged beside `--out`, put in place whole at the end;
//! SIGINT and SIGTERM abandon it, [`super::interrupt`]), creates the heap from the flags and starts the clock and the progress bar,
//! and at the end reduces the heap's counters and the workload's latency histogram to a
//! [`Summary`] and writes the report: the files in [`FILES`], the interval logs
//! ([`super::hlog`]) and the run's page ([`super::page`]) among them. It owns that file
//! list, the optional leak check, and the exit status.
//!
//! Mutators record their operation latencies in nanoseconds into recorders from
//! [`latency_histogram`] (one per thread, merged with `LatencyRecorder::add`), each sample
//! the time one of the workload's operations took as its mutator saw it.

use super::cli::Args;
use super::hlog::{latency_log, pauses_log};
use super::latency::{ns_histogram, LatencyRecorder};
use super::page::run_page;
use super::progress::{Goal, Progress};
use super::timeline::timeline_svg;
use super::trace_json::trace_json;
use super::{
    default_windows, latency_svg, mmu_curve, mmu_svg, pauses_svg, percentile_points,
    utilization_points, write_percentile_distribution, CallbackCounts, LatencyStats, LeakCheck,
    ReportDir, Summary, VerifyStats,
};
use super::{interrupt::exit_on_interrupt, report_dir::abandon_all};
use collector::{Barrier, CallbackStats, CycleRecord, Heap, HeapConfig, PauseRecord};
use hdrhistogram::Histogram;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

/// The files a run writes into its `--out` directory, `summary.json` last.
pub const FILES: [&str; 13] = [
    "pauses.hgrm",
    "latency.hgrm",
    "pauses.hlog",
    "latency.hlog",
    "gctrace.log",
    "trace.json",
    "mmu.csv",
    "latency.svg",
    "mmu.svg",
    "pauses.svg",
    "timeline.svg",
    "index.html",
    "summary.json",
];

/// An empty latency recorder (nanoseconds at 3 significant figures, the whole run and
/// each second of it; see [`LatencyRecorder`]).
pub fn latency_histogram() -> LatencyRecorder {
    LatencyRecorder::new()
}

/// One workload run, from the checked report directory to the written report.
pub struct Run {
    name: &'static str,
    args: Args,
    config: Value,
    out: ReportDir,
    epoch: Option<(Instant, SystemTime)>,
    progress: Progress,
}

impl Run {
    /// Starts the run of workload `name` with the shared flags `args`; `config` is the
    /// workload's own flags, added to the shared ones in `summary.json`'s `config`.
    /// Prepares the `--out` directory now (its parents and the staging directory the
    /// report is written into), so that an unusable one fails before any work (the error
    /// names it, and nothing is left behind), and makes SIGINT and SIGTERM end the run
    /// without a report.
    pub fn start(
        name: &'static str,
        args: &Args,
        config: Map<String, Value>,
    ) -> Result<Run, String> {
        exit_on_interrupt(name)?;
        let out = ReportDir::create(&args.out, &FILES)?;
        exit_on_out_of_memory(name);
        let mut all = args.config_json();
        all.extend(config);
        Ok(Run {
            name,
            args: args.clone(),
            config: Value::Object(all),
            out,
            epoch: None,
            progress: Progress::hidden(),
        })
    }

    /// The shared flags.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Whether the binary should print its text report (neither `--json` nor `--quiet`).
    pub fn text(&self) -> bool {
        !self.args.json && !self.args.quiet
    }

    /// Creates the heap the flags ask for (its barrier `B` from `--barrier`, through
    /// [`crate::with_barrier!`]), and starts the run's clock — the heap's pause times are
    /// measured from its creation too — and the progress bar toward `goal`.
    pub fn heap<B: Barrier>(&mut self, goal: Goal) -> Result<Heap<B>, String> {
        self.heap_with::<B>(self.args.heap_config(), goal)
    }

    /// [`Run::heap`] with a configuration the workload adjusted.
    pub fn heap_with<B: Barrier>(
        &mut self,
        config: HeapConfig,
        goal: Goal,
    ) -> Result<Heap<B>, String> {
        self.epoch = Some((Instant::now(), SystemTime::now()));
        let heap = Heap::<B>::with_barrier(config)?;
        self.progress = Progress::start(self.name, goal, !self.args.quiet);
        Ok(heap)
    }

    /// The progress bar: workloads with a [`Goal::Work`] count their work on it.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Ends the run and writes its report. Call it after the workload has joined its
    /// threads and dropped every handle and every mutator of this thread (it runs cycles
    /// with `Heap::gc`). The run's wall time ends now.
    ///
    /// The summary's cycles and pauses are those of the run itself, taken once any
    /// background cycle has finished. With `--check-leaks` two more full cycles run and
    /// `leaks` reports what the second found: `leaked_objects` is the objects it marked,
    /// that is every object still reachable — from a global or a handle someone forgot —
    /// with no workload handle left (globals themselves are immortal roots and not
    /// counted); `leaked_bytes` is the heap's live bytes after its sweep (each such
    /// object at its size class, a large object at its whole span). `verify` counts every
    /// cycle, the leak check's included. `finalizers` and `cleanups` are the heap's
    /// callback counters ([`collector::HeapStats::finalizers`], `cleanups`) at this point:
    /// a workload that waits for its callbacks drains them before calling this.
    /// `callback_latency_ns` stays empty (the collector does not time its queues).
    ///
    /// Writes [`FILES`] into the staging directory, puts it in place as `--out` (the
    /// previous report there goes whole) and prints the summary on stdout with `--json`.
    /// An error names the file that could not be written, or says why the report could
    /// not be put in place; either way `--out` keeps what it held.
    pub fn finish<B: Barrier>(
        self,
        heap: &Heap<B>,
        latency: &LatencyRecorder,
        findings: Value,
    ) -> Result<Summary, String> {
        let (epoch, zero) = self
            .epoch
            .expect("Run::heap starts the clock before Run::finish");
        let run_ns = nanos(epoch.elapsed());
        self.progress.finish();
        heap.wait_for_background();
        let stats = heap.stats();
        let trace = heap.trace();
        let (leaks, verify_stats) = if self.args.check_leaks {
            heap.gc();
            heap.gc();
            let after = heap.stats();
            let leaks = LeakCheck {
                checked: true,
                leaked_objects: after.cycles.last().map_or(0, |c| c.marked_objects),
                leaked_bytes: after.heap_live_bytes,
                callback_leaks: after.leaks_found,
                callback_leak_reports: after.leak_reports.clone(),
            };
            (Some(leaks), after)
        } else {
            (None, stats.clone())
        };
        let pause_log: Vec<(u64, u64)> = stats
            .pauses
            .iter()
            .map(|p| (p.start_ns, p.duration_ns))
            .collect();
        let curve = mmu_curve(&pause_log, run_ns, &default_windows(run_ns));
        let summary = Summary {
            workload: self.name.to_string(),
            config: self.config.clone(),
            wall_s: run_ns as f64 / 1e9,
            gc_cycles: stats.gc_cycles,
            pause_ns: LatencyStats::from_values(&durations(&stats.pauses, |p| p.duration_ns)),
            ttsp_ns: LatencyStats::from_values(&durations(&stats.pauses, |p| p.ttsp_ns)),
            mutator_latency_ns: LatencyStats::from_histogram(latency),
            heap_peak_bytes: stats.heap_peak_bytes,
            finalizers: callback_counts(&stats.finalizers),
            cleanups: callback_counts(&stats.cleanups),
            callback_latency_ns: LatencyStats::default(),
            verify: VerifyStats {
                enabled: self.args.verify,
                cycles_checked: verify_stats.cycles_checked,
                lost_objects: verify_stats.lost_objects,
            },
            leaks,
            mmu: utilization_points(&curve),
            findings,
        };
        let timeline = Timeline {
            stats: &stats,
            trace,
            pause_log: &pause_log,
            curve,
            run_ns,
            zero,
            epoch,
        };
        write_files(&self.out, self.name, &summary, latency, &timeline)?;
        self.out.write_json("summary.json", &summary)?;
        let out = self.out.place()?;
        if self.args.json {
            println!("{}", summary.to_json());
        }
        if !self.args.quiet {
            eprintln!("{}: report in {}", self.name, out.display());
        }
        Ok(summary)
    }
}

/// What a run's report is drawn from besides its summary: the heap's records, the pause
/// log as `(start_ns, duration_ns)`, the MMU curve, the run's length and its zero on the
/// wall clock.
struct Timeline<'a> {
    stats: &'a collector::HeapStats,
    trace: collector::Trace,
    pause_log: &'a [(u64, u64)],
    curve: Vec<(u64, f64)>,
    run_ns: u64,
    zero: SystemTime,
    /// The run's zero on the monotonic clock.
    epoch: Instant,
}

/// Writes every file of [`FILES`] but `summary.json` into `out`'s staging directory.
fn write_files(
    out: &ReportDir,
    label: &str,
    summary: &Summary,
    latency: &LatencyRecorder,
    t: &Timeline,
) -> Result<(), String> {
    let mut pauses = ns_histogram();
    for p in &t.stats.pauses {
        pauses.saturating_record(p.duration_ns);
    }
    let hgrm = |h: &Histogram<u64>| {
        let mut text = Vec::new();
        write_percentile_distribution(h, 1000.0, &mut text).expect("1000 is a valid scale");
        text
    };
    let mut mmu_csv = String::from("window_s,utilization\n");
    for [w, u] in &summary.mmu {
        let _ = writeln!(mmu_csv, "{w},{u}");
    }
    out.write("pauses.hgrm", hgrm(&pauses))?;
    out.write("latency.hgrm", hgrm(latency))?;
    out.write("pauses.hlog", pauses_log(&t.stats.pauses, t.zero))?;
    let intervals = latency.intervals(t.epoch, t.run_ns);
    out.write("latency.hlog", latency_log(intervals, t.zero))?;
    out.write("gctrace.log", gctrace_log(&t.stats.cycles))?;
    let trace = trace_json(label, &t.stats.cycles, &t.stats.pauses, &t.trace);
    out.write("trace.json", trace)?;
    out.write("mmu.csv", mmu_csv)?;
    let latency_points = percentile_points(latency);
    out.write("latency.svg", latency_svg(&[(label, latency_points)]))?;
    out.write("mmu.svg", mmu_svg(&[(label, t.curve.clone())]))?;
    out.write("pauses.svg", pauses_svg(t.pause_log, t.run_ns))?;
    let timeline = timeline_svg(&t.stats.cycles, &t.stats.pauses, &t.trace, t.run_ns);
    out.write("timeline.svg", timeline)?;
    out.write("index.html", run_page(summary, &FILES))?;
    Ok(())
}

/// The exit status of a run that reached its heap cap (`--heap-limit`).
pub const OUT_OF_MEMORY_STATUS: i32 = 3;

/// Makes the collector's out-of-memory panic (an allocation past `--heap-limit`, on any
/// thread) end the run with one line, `<workload>: out of memory: …`, and status
/// [`OUT_OF_MEMORY_STATUS`], removing the run's staging directory and the parents made
/// for it ([`abandon_all`]). Any other panic goes to the previous hook.
fn exit_on_out_of_memory(name: &'static str) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(rest) = msg.strip_prefix("collector: out of memory") {
            abandon_all(|_| {
                eprintln!("{name}: out of memory{rest}");
                std::process::exit(OUT_OF_MEMORY_STATUS)
            });
        }
        previous(info);
    }));
}

/// Prints `message` as `<workload>: <message>` on stderr and exits with status 2: how
/// the binaries end on an unusable `--out`, a heap configuration the collector refuses,
/// or a report that cannot be written. A report not yet in place is abandoned first
/// ([`abandon_all`]): its staging directory goes, `--out` keeps what it held.
pub fn fail(workload: &str, message: &str) -> ! {
    abandon_all(|_| {
        eprintln!("{workload}: {message}");
        std::process::exit(2)
    })
}

/// The exit status a finished run earns: 1 if verification found a lost object or the
/// leak check found a leak (each said on stderr), else 0.
pub fn exit_status(summary: &Summary) -> i32 {
    let mut status = 0;
    if summary.verify.lost_objects > 0 {
        eprintln!(
            "{}: verification found {} lost objects",
            summary.workload, summary.verify.lost_objects
        );
        status = 1;
    }
    if let Some(l) = summary.leaks.as_ref().filter(|l| l.leaked_objects > 0) {
        eprintln!(
            "{}: the leak check found {} objects ({} bytes) still reachable",
            summary.workload, l.leaked_objects, l.leaked_bytes
        );
        status = 1;
    }
    if let Some(l) = summary.leaks.as_ref().filter(|l| l.callback_leaks > 0) {
        eprintln!(
            "{}: the leak checker found {} finalizers or cleanups that keep their object",
            summary.workload, l.callback_leaks
        );
        status = 1;
    }
    status
}

/// The report's view of one kind of callback's counters.
fn callback_counts(s: &CallbackStats) -> CallbackCounts {
    CallbackCounts {
        registered: s.registered,
        queued: s.queued,
        executed: s.executed,
        stopped: s.stopped,
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn durations(pauses: &[PauseRecord], f: fn(&PauseRecord) -> u64) -> Vec<u64> {
    pauses.iter().map(f).collect()
}

/// splitmix64 (Steele, Lea and Flood): the small seeded generator workloads draw their
/// random numbers from, seeded from `--seed` so that a run's choices repeat.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// `gctrace.log`: one line per cycle in Go's `GODEBUG=gctrace=1` layout, each written by
/// the collector's own formatter ([`collector::gctrace::gctrace_line`], the line
/// `--gctrace` prints on stderr).
pub fn gctrace_log(cycles: &[CycleRecord]) -> String {
    cycles
        .iter()
        .map(|c| collector::gctrace::gctrace_line(c) + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_repeats_its_seed_and_stays_in_range() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(SplitMix64::new(8).next_u64(), xs[0]);
        // The reference sequence for seed 0 (Vigna's splitmix64.c).
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64::new(1);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
            assert!((0.0..1.0).contains(&r.unit()));
        }
    }
}
