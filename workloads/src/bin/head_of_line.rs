//! head-of-line: one slow callback queued ahead of many quick ones. Finalizers run one
//! after another on one thread (S38), so every quick finalizer waits for the slow one;
//! cleanups run on a pool of workers (S40–S42), each taking a block of 20 in order
//! (S41), and, as in Go, only one worker ever starts when every registration comes before
//! the collection (S40), so they wait for it too unless the testbed's options say
//! otherwise.
//!
//! Phase A (finalizers): object 0, then `--quick` more, each get a finalizer. The first
//! finalizer to start plays the slow one: it sleeps `--slow-ms` ms (in the blocking
//! state, the workload's simulated slow work); every other one is quick and notes when
//! it ran. (Object 0 is allocated first to be queued first, but the sweep's span order
//! need not be allocation order, so the role goes to whichever runs first: `slow_object`
//! says which object took it.) A table keeps them reachable while they are registered; then its
//! handle is dropped, one `gc()` runs, and `drain_finalizers` waits for all of them. Each
//! quick finalizer's latency is from the moment `gc()` returned (everything queued) to
//! its start (0 if it started before). Each quick finalizer also records whether the
//! slow one had finished when it started: with one finalizer thread all must have.
//!
//! Phase B (cleanups): the same with `add_cleanup`, on the heap the flags ask for (by
//! default Go's: `max(GOMAXPROCS/4, 1)` workers started lazily, blocks of 20, no
//! standby). When no quick cleanup can be behind the slow one in what its runner took —
//! `--cleanup-batches adaptive` with the standby (`--cleanup-standby`, whose batches
//! start at one) or with all of two or more workers started (`--cleanup-eager-start`) —
//! the slow cleanup, after its sleep, also waits until the last quick cleanup has run:
//! the phase can only finish if quick cleanups ran on another thread while the slow one
//! was running. (Otherwise, as in Go, such a wait would never end, so it only sleeps.)
//!
//! Phase C (cleanups with the standby), only when the flags leave the standby off: phase B
//! again on a second heap with the same flags and the testbed's standby switched on
//! (`cleanup_standby` findings; no Go counterpart, the comparison labels it so).
//!
//! Runs on the shared harness; one operation of the latency histogram is one quick
//! callback's latency (phases A and B). Findings: `quick`, `slow_ms`, `cleanup_workers`
//! (the pool's size), `cleanup_standby`, `cleanup_runners` (threads the heap started),
//! and per phase (`finalizer`, `cleanup`, `cleanup_with_standby` or null):
//! `quick_latency_ns` as `{count, p50, p90, p99, p999, max}` (exact, nearest rank),
//! `slow_ran`, `slow_object`, `quick_after_slow_done` (quick callbacks that started after the slow one
//! had finished), `quick_before_slow_done`, `quick_during_slow` (started after the slow
//! one started and before it finished), `runners` (threads its heap started) and
//! `wall_ms`. A missing callback, or a quick finalizer that ran before the slow one
//! finished, makes the exit status 1. Expected (not checked): finalizer quick p99 ≥
//! `slow_ms`; cleanup quick p99 ≥ `slow_ms` with Go's defaults on fewer than 8 cores, and
//! well under it with the standby (all but the ≤ 19 quick cleanups of the slow one's
//! block).
//!
//! `cargo run --release -p workloads --bin head-of-line -- [--quick 10000] [--slow-ms 200] [--cleanup-workers N|auto] [--cleanup-standby]`

use clap::Parser;
use collector::{Barrier, CleanupBatches, Handle, Heap, HeapConfig, Mutator, Shape};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::harness::LatencyStats;
use workloads::with_barrier;

workloads::use_mimalloc!();

/// A registered object: a reference slot (left null) and a data word (its index).
static OBJ: Shape = Shape::new("obj", 1, 1);

const WORKLOAD: Workload = Workload {
    name: "head-of-line",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("head-of-line is sized by --quick and --slow-ms"),
};

/// head-of-line: quick callbacks queued behind a slow one, finalizers then cleanups.
#[derive(Parser, Debug)]
#[command(name = "head-of-line", version)]
struct Cli {
    /// Quick callbacks queued behind the slow one.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000), allow_negative_numbers = true)]
    quick: u64,
    /// Milliseconds the slow callback sleeps.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=600_000), allow_negative_numbers = true)]
    slow_ms: u64,
    #[command(flatten)]
    common: Args,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("quick".into(), json!(cli.quick));
    own.insert("slow_ms".into(), json!(cli.slow_ms));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, head_of_line(&cli, run));
    std::process::exit(status);
}

/// What one phase's callbacks record.
struct Shared {
    epoch: Instant,
    /// When `gc()` returned, in ns since `epoch` (`u64::MAX` until then).
    queued_ns: AtomicU64,
    /// Per callback (object 0 first): when it started as a quick one, in ns since `epoch`
    /// plus 1 (0: has not run, or it was the slow one).
    started_ns: Vec<AtomicU64>,
    slow_started: AtomicBool,
    /// The index of the callback that took the slow role (`u64::MAX` until one did).
    slow_index: AtomicU64,
    slow_done: AtomicBool,
    /// Quick callbacks that started after / before the slow one finished.
    after_slow_done: AtomicU64,
    before_slow_done: AtomicU64,
    /// Quick callbacks that started while the slow one was running.
    during_slow: AtomicU64,
    /// Quick callbacks still to run: the slow cleanup's latch.
    remaining: AtomicU64,
    slow_ms: u64,
    /// Whether the slow callback waits for the last quick one (see the header).
    latch: bool,
}

impl Shared {
    fn new(quick: u64, slow_ms: u64, latch: bool) -> Arc<Shared> {
        Arc::new(Shared {
            epoch: Instant::now(),
            queued_ns: AtomicU64::new(u64::MAX),
            started_ns: (0..=quick).map(|_| AtomicU64::new(0)).collect(),
            slow_started: AtomicBool::new(false),
            slow_index: AtomicU64::new(u64::MAX),
            slow_done: AtomicBool::new(false),
            after_slow_done: AtomicU64::new(0),
            before_slow_done: AtomicU64::new(0),
            during_slow: AtomicU64::new(0),
            remaining: AtomicU64::new(quick),
            slow_ms,
            latch,
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Callback `i` (0 is the slow object's): the first to start plays the slow one,
    /// every other one a quick one.
    fn run(&self, i: usize) {
        if self
            .slow_index
            .compare_exchange(u64::MAX, i as u64, SeqCst, SeqCst)
            .is_ok()
        {
            self.slow();
        } else {
            self.quick(i);
        }
    }

    /// The slow callback: sleeps, then (with the latch) waits for every quick one.
    fn slow(&self) {
        self.slow_started.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(self.slow_ms));
        if self.latch {
            while self.remaining.load(SeqCst) > 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        self.slow_done.store(true, SeqCst);
    }

    /// Quick callback `i`: notes its start and whether the slow one had finished.
    fn quick(&self, i: usize) {
        self.started_ns[i].store(self.now_ns() + 1, SeqCst);
        if self.slow_done.load(SeqCst) {
            self.after_slow_done.fetch_add(1, SeqCst);
        } else {
            self.before_slow_done.fetch_add(1, SeqCst);
            if self.slow_started.load(SeqCst) {
                self.during_slow.fetch_add(1, SeqCst);
            }
        }
        self.remaining.fetch_sub(1, SeqCst);
    }

    /// Latencies (queued to started) of the quick callbacks that ran.
    fn latencies(&self) -> Vec<u64> {
        let queued = self.queued_ns.load(SeqCst);
        self.started_ns
            .iter()
            .map(|s| s.load(SeqCst))
            .filter(|&s| s > 0)
            .map(|s| (s - 1).saturating_sub(queued))
            .collect()
    }
}

/// One phase's result.
struct Phase {
    latencies: Vec<u64>,
    shared: Arc<Shared>,
    wall_ms: f64,
    /// Runner threads the phase's heap had started at its end (filled in by the caller).
    runners: usize,
}

impl Phase {
    fn json(&self) -> Value {
        let s = &self.shared;
        json!({
            "quick_latency_ns": LatencyStats::from_values(&self.latencies),
            "slow_ran": s.slow_done.load(SeqCst),
            "slow_object": s.slow_index.load(SeqCst),
            "quick_after_slow_done": s.after_slow_done.load(SeqCst),
            "quick_before_slow_done": s.before_slow_done.load(SeqCst),
            "quick_during_slow": s.during_slow.load(SeqCst),
            "runners": self.runners,
            "wall_ms": self.wall_ms,
        })
    }
}

/// Allocates object 0 (meant to be the slow one), then the quick ones, registering
/// `register(obj, i)` on object `i`; drops them, runs one `gc()`, notes when it returned,
/// and waits with `drain`.
fn phase<B: Barrier>(
    m: &Mutator<B>,
    shared: Arc<Shared>,
    mut register: impl FnMut(&Handle<'_, B>, usize),
    drain: impl Fn(&Mutator<B>),
    latency: &mut LatencyRecorder,
) -> Phase {
    let n = shared.started_ns.len();
    let t0 = Instant::now();
    let table_shape = Shape::new("head-of-line table", n as u32, 0);
    let table = m.alloc(&table_shape);
    for i in 0..n {
        let obj = m.alloc(&OBJ);
        obj.write(0, i as u64);
        register(&obj, i);
        table.set(i, Some(&obj));
    }
    drop(table);
    m.gc();
    shared.queued_ns.store(shared.now_ns(), SeqCst);
    drain(m);
    let latencies = shared.latencies();
    for &l in &latencies {
        latency.saturating_record(l.max(1));
    }
    Phase {
        latencies,
        shared,
        wall_ms: t0.elapsed().as_secs_f64() * 1e3,
        runners: 0,
    }
}

/// Whether no quick cleanup can be queued behind the slow one in what its runner takes,
/// so that the slow one may wait for them all (see the header).
fn latch_safe(config: &HeapConfig) -> bool {
    config.cleanup_batches == CleanupBatches::Adaptive
        && (config.cleanup_standby
            || (config.cleanup_eager_start && config.cleanup_worker_count() >= 2))
}

/// Phase B or C: the cleanups on `m`'s heap.
fn cleanup_phase<B: Barrier>(
    m: &Mutator<B>,
    cli: &Cli,
    config: &HeapConfig,
    latency: &mut LatencyRecorder,
) -> Phase {
    let cs = Shared::new(cli.quick, cli.slow_ms, latch_safe(config));
    phase(
        m,
        Arc::clone(&cs),
        |obj, i| {
            let s = Arc::clone(&cs);
            m.add_cleanup(obj, s, move |s| s.run(i));
        },
        |m| m.drain_cleanups(),
        latency,
    )
}

/// Phase C: phase B on a heap of its own with the standby switched on, its latencies
/// kept out of the run's histogram.
fn standby_phase<B: Barrier>(cli: &Cli, config: &HeapConfig) -> Phase {
    let config = HeapConfig {
        cleanup_standby: true,
        ..config.clone()
    };
    let heap = Heap::<B>::with_barrier(config.clone()).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut p = cleanup_phase(&m, cli, &config, &mut latency_histogram());
    drop(m);
    p.runners = heap.stats().cleanups.runners;
    heap.shutdown();
    p
}

fn head_of_line<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let quick = cli.quick;
    let config = run.args().heap_config();
    let workers = config.cleanup_worker_count();
    let heap = run
        .heap::<B>(Goal::Work(2))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut latency = latency_histogram();

    // Phase A: finalizers, serial on the finalizer thread.
    let fs = Shared::new(quick, cli.slow_ms, false);
    let fin = phase(
        &m,
        Arc::clone(&fs),
        |obj, i| {
            let s = Arc::clone(&fs);
            m.set_finalizer(obj, move |_| s.run(i));
        },
        |m| m.drain_finalizers(),
        &mut latency,
    );
    run.progress().advance(1);
    // The finalized objects are freed by the next cycle (two-cycle reclamation, S43).
    m.gc();

    // Phase B: cleanups at the flags' configuration (by default Go's).
    let mut cl = cleanup_phase(&m, cli, &config, &mut latency);
    run.progress().advance(1);
    drop(m);
    let started = heap.stats().cleanups.runners;
    cl.runners = started;
    // Phase C: the same with the testbed's standby, unless phase B had it.
    let with_standby = (!config.cleanup_standby).then(|| standby_phase::<B>(cli, &config));

    let findings = json!({
        "quick": quick,
        "slow_ms": cli.slow_ms,
        "cleanup_workers": workers,
        "cleanup_standby": config.cleanup_standby,
        "cleanup_runners": started,
        "finalizer": fin.json(),
        "cleanup": cl.json(),
        "cleanup_with_standby": with_standby.as_ref().map(Phase::json),
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "head-of-line: {quick} quick callbacks behind one of {} ms",
            cli.slow_ms
        );
        let mut phases = vec![("finalizers", &fin), ("cleanups  ", &cl)];
        if let Some(p) = &with_standby {
            phases.push(("cleanups, testbed's standby on", p));
        }
        for (name, p) in phases {
            let l = LatencyStats::from_values(&p.latencies);
            println!(
                "{name} quick latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} started after the slow one finished",
                l.p50 as f64 / 1e6,
                l.p99 as f64 / 1e6,
                l.max as f64 / 1e6,
                p.shared.after_slow_done.load(SeqCst)
            );
        }
        println!("cleanup threads started: {started}");
    }
    let mut status = exit_status(&summary);
    let mut phases = vec![("finalizer", &fin), ("cleanup", &cl)];
    if let Some(p) = &with_standby {
        phases.push(("cleanup (standby on)", p));
    }
    for (name, p) in phases {
        let ran = p.latencies.len() as u64;
        if ran != quick || !p.shared.slow_done.load(SeqCst) {
            eprintln!("head-of-line: failed: {ran} of {quick} quick {name}s ran");
            status = 1;
        }
    }
    let early = fs.before_slow_done.load(SeqCst);
    if early > 0 {
        eprintln!(
            "head-of-line: failed: {early} quick finalizers started before the slow one finished"
        );
        status = 1;
    }
    status
}
