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
//! At the end the run loops `gc()` then draining the finalizer and cleanup queues until
//! every entry is released (at most 10 rounds). Findings: `release`, `objects`,
//! `peak_open` (the most entries open at once: 1 when closed explicitly), `released`,
//! `leaked` (entries still open at the end), `double_releases`,
//! `mean_release_delay_cycles` (the collector's completed cycles at the release minus
//! those at the object's last use, averaged; 0 when explicit), `max_release_delay_cycles`,
//! `heap_peak_bytes` (the heap's peak), and `final_rounds` (the `gc()` rounds of the
//! end). A leaked or doubly released entry makes the exit status 1.
//!
//! `cargo run --release -p workloads --bin fd-churn -- [--objects 100000] [--release finalizer]`

use clap::{Parser, ValueEnum};
use collector::{Barrier, Shape};
use serde_json::{json, Map};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The global a cleanup's box is: it only lends the cleanup a mutator to read the clock.
static CLOCK: Shape = Shape::new("fd-churn clock", 0, 1);

/// `gc()` rounds the end may take before the remaining entries count as leaked.
const FINAL_ROUNDS: u64 = 10;

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
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, fd_churn(&cli, run));
    std::process::exit(status);
}

fn fd_churn<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let heap = run
        .heap::<B>(Goal::Work(cli.objects))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let file = Shape::new("fd-churn file", 1, 1 + cli.payload_words as u32);
    let clock = m.alloc_global(&CLOCK);
    let table: Arc<Mutex<Table>> = Arc::default();
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
                let table = Arc::clone(&table);
                m.set_finalizer(&f, move |obj| {
                    let (fd, now) = (obj.read(0) as usize, obj.mutator().gc_cycles());
                    table.lock().unwrap().close(fd, now);
                });
            }
            Release::Cleanup => {
                let table = Arc::clone(&table);
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
    let mut rounds = 0;
    while lock().released < cli.objects && rounds < FINAL_ROUNDS {
        rounds += 1;
        m.gc();
        m.drain_finalizers();
        m.drain_cleanups();
    }
    drop(m);
    let tab = table.lock().unwrap();
    let leaked = tab.open_now;
    let mean_delay = if tab.released > 0 {
        tab.delay_sum as f64 / tab.released as f64
    } else {
        0.0
    };
    let heap_peak = heap.stats().heap_peak_bytes;
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
        "final_rounds": rounds,
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
        .finish(&heap, &latency, findings)
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
