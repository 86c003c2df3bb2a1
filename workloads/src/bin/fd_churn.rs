//! fd-churn: heap objects that own entries of a resource table (file descriptors, say),
//! released by an explicit close, by a finalizer, or by a cleanup.
//!
//! The table lives outside the GC heap: a `Vec<bool>` of open entries behind a std
//! `Mutex`, where an open takes the lowest free entry, as a Unix `open` takes the lowest
//! free descriptor. `--objects` N times (default 100000) one mutator opens an entry, wraps
//! it in a heap object (`--payload-words` data words besides the descriptor, so that the
//! allocation paces automatic cycles by GOGC), uses it, and drops its handle. The object's
//! entry is released by `--release`:
//! - `explicit` (the default): closed before the handle is dropped, as a `defer f.Close()`;
//! - `finalizer`: a finalizer registered on the object (Go's `os.File`) closes it;
//! - `cleanup`: a cleanup (`add_cleanup_with`, its box a global clock) closes it.
//!
//! With `--idle-ms` MS (default 0) the program then allocates nothing for MS milliseconds
//! (its mutator sleeps in the blocking state). No cycle starts without allocation (S57:
//! cycles are paced by the heap's growth), and callbacks are queued only by a cycle that
//! finds the object dead (S43/S44), so the entries of objects dropped since the last
//! cycle stay open for the whole idle under `finalizer` and `cleanup` (those a cycle had
//! already queued can still close meanwhile), while under `explicit` none is open. A
//! sampler thread, outside the heap, records `[t_ms, open, gc_cycles, span_bytes]` every
//! `--sample-ms` (default 10) from the start of the churn to the end of the run
//! (`series`; `phases` says where the churn and the idle end), and `idle` reports the open
//! entries and completed cycles at its first and last samples.
//!
//! Then the end: rounds of `gc()` and draining the finalizer and cleanup queues, at
//! least 3 and until every entry is released (at most 10). Each round records the
//! entries still open and the bytes of the spans holding objects after its sweep
//! (`end_rounds`: `span_bytes`, the bytes of the spans in use, `Heap::in_use_bytes`; Go's
//! `/memory/classes/heap/objects:bytes` plus `.../heap/unused:bytes`, its `heapInUse`). `close_rounds` is
//! the first round after which no entry is open; `reclaim_rounds` the first round whose
//! span bytes are within a slack of the last round's (half the bytes of the objects whose
//! entries were open when the end began, at least 64 KiB): the memory of
//! a finalized object comes back one cycle after its descriptor is closed (S43: its
//! finalizer keeps it alive through the cycle that queues it), a cleaned-up object's with
//! the cycle that queues the cleanup (S44). `span_bytes_peak` is the most span bytes the
//! series saw and `span_bytes_mean` their mean over the churn's samples (the heap that
//! revived finalized objects bloat; `heap_peak_bytes` counts them once the sweep has
//! revived them). `live_bytes_median` and
//! `live_bytes_max` are the bytes the churn's cycles' marks found live.
//!
//! Findings: `release`, `objects`, `peak_open` (the most entries open at once: 1 when
//! closed explicitly), `released`, `leaked` (entries still open at the end),
//! `double_releases`, `mean_release_delay_cycles` (the collector's completed cycles at the
//! release minus those at the object's last use, averaged; 0 when explicit),
//! `max_release_delay_cycles`, `heap_peak_bytes` (the heap's peak), `final_rounds`, and the
//! figures above. A leaked or doubly released entry makes the exit status 1.
//!
//! `cargo run --release -p workloads --bin fd-churn -- [--objects 100000] [--release finalizer] [--idle-ms 2000]`

use clap::{Parser, ValueEnum};
use collector::{Barrier, CycleRecord, Heap, Mutator, Shape};
use serde_json::{json, Map};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The global a cleanup's box is: it only lends the cleanup a mutator to read the clock.
static CLOCK: Shape = Shape::new("fd-churn clock", 0, 1);

/// `gc()` rounds the end may take before the remaining entries count as leaked.
const FINAL_ROUNDS: u64 = 10;
/// `gc()` rounds the end takes at least: enough for a finalized object's memory (S43).
const MIN_ROUNDS: u64 = 3;
/// The least span bytes within which a round's count as the last round's (8 pages of
/// Go's 8 KiB; the slack is half the bytes of the objects whose entries were open when the end
/// began, if more).
const RECLAIM_SLACK: u64 = 64 * 1024;

const WORKLOAD: Workload = Workload {
    name: "fd-churn",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("fd-churn is sized by --objects"),
};

/// How an object's entry is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Release {
    /// Closed by the program before the handle is dropped.
    Explicit,
    /// Closed by a finalizer on the object.
    Finalizer,
    /// Closed by a cleanup on the object.
    Cleanup,
}

impl Release {
    fn name(self) -> &'static str {
        match self {
            Release::Explicit => "explicit",
            Release::Finalizer => "finalizer",
            Release::Cleanup => "cleanup",
        }
    }
}

/// fd-churn: resources released by close, finalizer or cleanup.
#[derive(Parser, Debug)]
#[command(name = "fd-churn", version)]
struct Cli {
    /// Objects opened, used and dropped, one after the other.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000), allow_negative_numbers = true)]
    objects: u64,
    /// How each object's entry is released.
    #[arg(long, value_enum, default_value_t = Release::Explicit)]
    release: Release,
    /// Data words of each object besides its descriptor (its weight in the heap).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=4096), allow_negative_numbers = true)]
    payload_words: u64,
    /// Milliseconds the program allocates nothing after the churn (0: no idle).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000), allow_negative_numbers = true)]
    idle_ms: u64,
    /// Milliseconds between two samples of the open entries (the series).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000), allow_negative_numbers = true)]
    sample_ms: u64,
    #[command(flatten)]
    common: Args,
}

/// The resource table.
#[derive(Default)]
struct Table {
    open: Vec<bool>,
    /// The free entries below `open.len()`, lowest first.
    free: BinaryHeap<Reverse<usize>>,
    /// The collector's completed cycles at each entry's last use.
    last_use: Vec<u64>,
    open_now: u64,
    peak_open: u64,
    released: u64,
    double_releases: u64,
    delay_sum: u64,
    delay_max: u64,
}

impl Table {
    /// Opens the lowest free entry.
    fn open(&mut self) -> usize {
        let fd = match self.free.pop() {
            Some(Reverse(fd)) => fd,
            None => {
                self.open.push(false);
                self.last_use.push(0);
                self.open.len() - 1
            }
        };
        self.open[fd] = true;
        self.open_now += 1;
        self.peak_open = self.peak_open.max(self.open_now);
        fd
    }

    /// Closes `fd` at cycle count `now`.
    fn close(&mut self, fd: usize, now: u64) {
        if !self.open.get(fd).copied().unwrap_or(false) {
            self.double_releases += 1;
            return;
        }
        self.open[fd] = false;
        self.free.push(Reverse(fd));
        self.open_now -= 1;
        self.released += 1;
        let delay = now.saturating_sub(self.last_use[fd]);
        self.delay_sum += delay;
        self.delay_max = self.delay_max.max(delay);
    }
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("objects".into(), json!(cli.objects));
    own.insert("release".into(), json!(cli.release.name()));
    own.insert("payload_words".into(), json!(cli.payload_words));
    own.insert("idle_ms".into(), json!(cli.idle_ms));
    own.insert("sample_ms".into(), json!(cli.sample_ms));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, fd_churn(&cli, run));
    std::process::exit(status);
}

/// One sample of the series: milliseconds since the churn began, open entries, completed
/// cycles, bytes of the spans that hold objects.
type Sample = [u64; 4];

/// Bytes of the spans in use (`Heap::in_use_bytes`, Go's `heapInUse` as the twin reads
/// it): the spans' bytes, free slots included, where the heap's `heap_live_bytes` (Go's
/// `heapLive`, reset to the marked bytes, revived finalizable objects among them) counts
/// objects.
fn span_bytes<B: Barrier>(heap: &Heap<B>) -> u64 {
    heap.in_use_bytes() as u64
}

/// Samples the table and the heap's cycles every `every` until `stop` is set.
fn sample<B: Barrier>(
    heap: &Heap<B>,
    table: &Mutex<Table>,
    t0: Instant,
    every: Duration,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let mut series = Vec::new();
    loop {
        let open = table.lock().unwrap().open_now;
        let cycles = heap.stats().gc_cycles;
        let t = t0.elapsed().as_millis() as u64;
        series.push([t, open, cycles, span_bytes(heap)]);
        if stop.load(Relaxed) {
            return series;
        }
        std::thread::sleep(every);
    }
}

/// The churn: `--objects` times open, wrap, use and drop.
fn churn<B: Barrier>(
    cli: &Cli,
    run: &Run,
    m: &Mutator<B>,
    table: &Arc<Mutex<Table>>,
) -> LatencyRecorder {
    let file = Shape::new("fd-churn file", 1, 1 + cli.payload_words as u32);
    let clock = m.alloc_global(&CLOCK);
    let mut latency = latency_histogram();
    // The table's lock is taken only in the blocking state or by callbacks that do not
    // touch the heap while holding it, so a pause never waits for a thread on it.
    let lock = || m.blocking(|| table.lock().unwrap());
    for i in 0..cli.objects {
        let t = Instant::now();
        let fd = lock().open();
        let f = m.alloc(&file);
        f.write(0, fd as u64);
        match cli.release {
            Release::Explicit => {}
            Release::Finalizer => {
                let table = Arc::clone(table);
                m.set_finalizer(&f, move |obj| {
                    let (fd, now) = (obj.read(0) as usize, obj.mutator().gc_cycles());
                    table.lock().unwrap().close(fd, now);
                });
            }
            Release::Cleanup => {
                let table = Arc::clone(table);
                m.add_cleanup_with(&f, &m.global(&clock), fd, move |clock, fd| {
                    let now = clock.mutator().gc_cycles();
                    table.lock().unwrap().close(fd, now);
                });
            }
        }
        // Use it: read the descriptor and touch the payload.
        let used = f.read(0) as usize;
        if cli.payload_words > 0 {
            f.write(1, i);
        }
        let now = m.gc_cycles();
        {
            let mut tab = lock();
            tab.last_use[used] = now;
            if cli.release == Release::Explicit {
                tab.close(used, now);
            }
        }
        drop(f); // the last use
        latency.saturating_record(t.elapsed().as_nanos() as u64);
        if i % 1024 == 1023 {
            run.progress().advance(1024);
        }
    }
    run.progress().advance(cli.objects % 1024);
    latency
}

/// The end's rounds of `gc()` and drains: `[open, span bytes]` after each.
fn end_rounds<B: Barrier>(cli: &Cli, heap: &Heap<B>, table: &Mutex<Table>) -> Vec<[u64; 2]> {
    let m = heap.mutator();
    let mut rounds = Vec::new();
    while (rounds.len() as u64) < MIN_ROUNDS
        || (m.blocking(|| table.lock().unwrap().released) < cli.objects
            && (rounds.len() as u64) < FINAL_ROUNDS)
    {
        m.gc();
        m.drain_finalizers();
        m.drain_cleanups();
        // In use after the round's sweep and callbacks: a finalized object revived by the
        // sweep (S43) holds its span.
        let live = span_bytes(heap);
        rounds.push([m.blocking(|| table.lock().unwrap().open_now), live]);
    }
    rounds
}

/// The 1-based round after which `done` first holds for that round, or 0 if none.
fn first_round(rounds: &[[u64; 2]], done: impl Fn(&[u64; 2]) -> bool) -> usize {
    rounds.iter().position(done).map_or(0, |i| i + 1)
}

/// `live_bytes_median` and `_max` over the cycles numbered `from..=to`.
fn churn_live(cycles: &[CycleRecord], from: u64, to: u64) -> (u64, u64) {
    let mut live: Vec<u64> = cycles
        .iter()
        .filter(|c| (from..=to).contains(&c.cycle))
        .map(|c| c.heap_marked_bytes)
        .collect();
    live.sort_unstable();
    let median = live.get(live.len() / 2).copied().unwrap_or(0);
    (median, live.last().copied().unwrap_or(0))
}

/// The idle's figures from the series: open entries and cycles at its first and last
/// samples.
fn idle_findings(series: &[Sample], from_ms: u64, to_ms: u64) -> serde_json::Value {
    let during: Vec<&Sample> = series
        .iter()
        .filter(|s| (from_ms..=to_ms).contains(&s[0]))
        .collect();
    match (during.first(), during.last()) {
        (Some(a), Some(b)) => json!({
            "samples": during.len(),
            "open_at_start": a[1], "open_at_end": b[1],
            "cycles_at_start": a[2], "cycles_at_end": b[2],
        }),
        _ => json!(null),
    }
}

fn fd_churn<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let heap = run
        .heap::<B>(Goal::Work(cli.objects))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let table: Arc<Mutex<Table>> = Arc::default();
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let every = Duration::from_millis(cli.sample_ms);
    let (latency, series, phases, live, rounds) = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample(&heap, &table, t0, every, &stop));
        let m = heap.mutator();
        let first = m.gc_cycles() + 1;
        let latency = churn(cli, &run, &m, &table);
        let churn_end = t0.elapsed().as_millis() as u64;
        let live = churn_live(&heap.stats().cycles, first, m.gc_cycles());
        m.blocking(|| std::thread::sleep(Duration::from_millis(cli.idle_ms)));
        let idle_end = t0.elapsed().as_millis() as u64;
        drop(m);
        let open_at_end = table.lock().unwrap().open_now;
        let rounds = end_rounds(cli, &heap, &table);
        stop.store(true, Relaxed);
        let series = sampler.join().expect("the sampler panicked");
        (
            latency,
            series,
            [churn_end, idle_end, open_at_end],
            live,
            rounds,
        )
    });
    let last_live = rounds.last().map_or(0, |r| r[1]);
    let file_bytes = Shape::new("fd-churn file", 1, 1 + cli.payload_words as u32).bytes() as u64;
    let slack = RECLAIM_SLACK.max(phases[2] * file_bytes / 2);
    let findings = Findings {
        close_rounds: first_round(&rounds, |r| r[0] == 0),
        reclaim_rounds: first_round(&rounds, |r| r[1] <= last_live + slack),
        span_peak: series.iter().map(|s| s[3]).max().unwrap_or(0),
        span_mean: mean_span_bytes(&series, phases[0]),
        idle: if cli.idle_ms > 0 {
            idle_findings(&series, phases[0], phases[1])
        } else {
            json!(null)
        },
        series,
        phases: [phases[0], phases[1]],
        live,
        rounds,
    };
    report(cli, run, &heap, &latency, &table, findings)
}

/// The figures of the series and the end, gathered for [`report`].
struct Findings {
    close_rounds: usize,
    reclaim_rounds: usize,
    idle: serde_json::Value,
    series: Vec<Sample>,
    phases: [u64; 2],
    live: (u64, u64),
    rounds: Vec<[u64; 2]>,
    span_peak: u64,
    span_mean: u64,
}

/// The mean span bytes of the samples taken during the churn (up to `churn_end_ms`).
fn mean_span_bytes(series: &[Sample], churn_end_ms: u64) -> u64 {
    let during: Vec<u64> = series
        .iter()
        .filter(|s| s[0] <= churn_end_ms)
        .map(|s| s[3])
        .collect();
    during.iter().sum::<u64>() / (during.len() as u64).max(1)
}

fn report<B: Barrier>(
    cli: &Cli,
    run: Run,
    heap: &Heap<B>,
    latency: &LatencyRecorder,
    table: &Mutex<Table>,
    f: Findings,
) -> i32 {
    let tab = table.lock().unwrap();
    let leaked = tab.open_now;
    let mean_delay = if tab.released > 0 {
        tab.delay_sum as f64 / tab.released as f64
    } else {
        0.0
    };
    let heap_peak = heap.stats().heap_peak_bytes;
    let rounds = f.rounds.len();
    let findings = json!({
        "release": cli.release.name(),
        "objects": cli.objects,
        "peak_open": tab.peak_open,
        "released": tab.released,
        "leaked": leaked,
        "double_releases": tab.double_releases,
        "mean_release_delay_cycles": mean_delay,
        "max_release_delay_cycles": tab.delay_max,
        "heap_peak_bytes": heap_peak,
        "live_bytes_median": f.live.0,
        "live_bytes_max": f.live.1,
        "final_rounds": rounds,
        "span_bytes_peak": f.span_peak,
        "span_bytes_mean": f.span_mean,
        "end_rounds": f.rounds.iter().map(|r| json!({"open": r[0], "span_bytes": r[1]})).collect::<Vec<_>>(),
        "close_rounds": f.close_rounds,
        "reclaim_rounds": f.reclaim_rounds,
        "idle_ms": cli.idle_ms,
        "idle": f.idle,
        "phases": {"churn_end_ms": f.phases[0], "idle_end_ms": f.phases[1]},
        "series_columns": ["t_ms", "open", "gc_cycles", "span_bytes"],
        "series": f.series,
    });
    let (peak, released, doubles, max_delay) = (
        tab.peak_open,
        tab.released,
        tab.double_releases,
        tab.delay_max,
    );
    drop(tab);
    let show = run.text();
    let summary = run
        .finish(heap, latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "fd-churn: {} objects released by {}: peak {peak} open, {released} released, {leaked} leaked",
            cli.objects,
            cli.release.name()
        );
        println!(
            "release delay: mean {mean_delay:.2} cycles, max {max_delay}; heap peak {heap_peak} bytes; {rounds} final gc() rounds"
        );
        println!(
            "end: descriptors closed after round {}, memory reclaimed after round {}; span bytes peak {}",
            f.close_rounds, f.reclaim_rounds, f.span_peak
        );
    }
    let mut status = exit_status(&summary);
    if leaked > 0 || doubles > 0 || released != cli.objects {
        eprintln!(
            "fd-churn: failed: {leaked} of {} entries leaked, {doubles} released twice",
            cli.objects
        );
        status = 1;
    }
    status
}
