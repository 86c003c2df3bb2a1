//! cleanupbench: the cost of cleanups (Go's `runtime.AddCleanup`) on the testbed.
//!
//! As finbench, with `Mutator::add_cleanup(obj, i, f)` instead of a finalizer: `--objects`
//! small objects (one reference slot and one data word) each get a cleanup whose argument
//! is the object's index (a `u64`). A cleanup adds its argument to a sum, then busy-spins
//! `--work-us` microseconds on the clock (the workload's simulated work, default 0), then
//! counts itself. A table object keeps the objects reachable while they are registered;
//! then its handle is dropped, one full cycle runs (`Mutator::gc`) and
//! `Mutator::drain_cleanups` waits until every cleanup has run on the heap's cleanup
//! workers (`--cleanup-workers N|auto`; auto is Go's `max(GOMAXPROCS/4, 1)`).
//!
//! Runs on the shared harness; one operation of the latency histogram is a batch of 1000
//! registrations. Findings: `objects`, `work_us`, `cleanup_workers` (the pool's size, as
//! the Go twin's), `cleanup_workers_started` (the worker threads the heap started, the
//! standby not counted: with Go's lazy start one, as every registration comes before
//! the collection, S40), `cleanup_standby`, `executed` (counted by the cleanups), `executed_ok`, `args_ok` (the
//! arguments sum to 0 + 1 + … + (n − 1)), and the phases in milliseconds as finbench's
//! (`register_ms`, `gc_ms`, `drain_ms`, `collect_run_ms`, `total_ms`) with
//! `cleanups_per_s` (executed over `collect_run_ms`). A missing cleanup or a wrong sum
//! makes the exit status 1. `workloads/go/cleanupbench` is its Go twin.
//!
//! With `--api scope` (the default) each batch of 1000 objects is allocated and stored
//! in the table inside one scope on `Gc` references, where a Go program uses plain
//! pointers (the registration itself takes a handle); `--api handle` does it through
//! handles. Findings also name the `api`.
//!
//! `cargo run --release -p workloads --bin cleanupbench -- [--objects 1000000] [--api handle|scope] [--work-us 0] [--cleanup-workers N|auto]`

use clap::Parser;
use collector::{Barrier, Handle, Mutator, Shape};
use serde_json::{json, Map};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The registered object: a reference slot (left null) and a data word (its index).
static OBJ: Shape = Shape::new("obj", 1, 1);

/// Registrations per latency sample.
const BATCH: u64 = 1000;

/// Cleanups that have run, counted by the cleanups themselves.
static EXECUTED: AtomicU64 = AtomicU64::new(0);
/// The sum of the arguments the cleanups received.
static ARG_SUM: AtomicU64 = AtomicU64::new(0);
/// `--work-us` in nanoseconds, read by every cleanup.
static WORK_NS: AtomicU64 = AtomicU64::new(0);

const WORKLOAD: Workload = Workload {
    name: "cleanupbench",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("cleanupbench is sized by --objects"),
};

/// cleanupbench: registration, collection and running of many cleanups.
#[derive(Parser, Debug)]
#[command(name = "cleanupbench", version)]
struct Cli {
    /// Objects to allocate, each with a cleanup.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000), allow_negative_numbers = true)]
    objects: u64,
    /// Microseconds each cleanup busy-spins (its simulated work).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000), allow_negative_numbers = true)]
    work_us: u64,
    /// How objects are allocated and stored: `scope` (`Gc` references, a scope per batch
    /// of 1000) or `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
    #[command(flatten)]
    common: Args,
}

/// The cleanup: records its argument, spins for the work, counts itself.
fn cleanup(arg: u64) {
    ARG_SUM.fetch_add(arg, Relaxed);
    let work = Duration::from_nanos(WORK_NS.load(Relaxed));
    if !work.is_zero() {
        let start = Instant::now();
        while start.elapsed() < work {
            std::hint::spin_loop();
        }
    }
    EXECUTED.fetch_add(1, Relaxed);
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("objects".into(), json!(cli.objects));
    own.insert("work_us".into(), json!(cli.work_us));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(
        cli.common.barrier,
        cleanupbench(&cli, cli.api == "scope", run)
    );
    std::process::exit(status);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Registers the cleanup on `obj`, with its index as the argument.
fn register<B: Barrier>(m: &Mutator<B>, obj: &Handle<'_, B>, j: u64) {
    m.add_cleanup(obj, j, cleanup);
}

fn cleanupbench<B: Barrier>(cli: &Cli, scope: bool, mut run: Run) -> i32 {
    let n = cli.objects;
    WORK_NS.store(cli.work_us * 1000, Relaxed);
    let heap = run
        .heap::<B>(Goal::Work(n))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let table_shape = Shape::new("cleanupbench table", n as u32, 0);
    let mut latency = latency_histogram();

    let t0 = Instant::now();
    let table = m.alloc(&table_shape);
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let t = Instant::now();
        if scope {
            workloads::callback_batch::register_batch_in_scope(&m, &table, i..end, &OBJ, register);
        } else {
            for j in i..end {
                let obj = m.alloc(&OBJ);
                obj.write(0, j);
                register(&m, &obj, j);
                table.set(j as usize, Some(&obj));
            }
        }
        latency.saturating_record(t.elapsed().as_nanos() as u64);
        run.progress().advance(end - i);
        i = end;
    }
    let register = t0.elapsed();
    drop(table);
    let t1 = Instant::now();
    m.gc();
    let gc = t1.elapsed();
    m.drain_cleanups();
    let collect_run = t1.elapsed();
    let total = t0.elapsed();
    drop(m);
    let executed = EXECUTED.load(Relaxed);
    let args_ok = ARG_SUM.load(Relaxed) == n * (n - 1) / 2;
    let workers = heap.config().cleanup_worker_count();
    let started = heap.stats().cleanups.workers;
    let standby = heap.config().cleanup_standby;

    let findings = json!({
        "api": cli.api,
        "objects": n,
        "work_us": cli.work_us,
        "cleanup_workers": workers,
        "cleanup_workers_started": started,
        "cleanup_standby": standby,
        "executed": executed,
        "executed_ok": executed == n,
        "args_ok": args_ok,
        "register_ms": ms(register),
        "gc_ms": ms(gc),
        "drain_ms": ms(collect_run - gc),
        "collect_run_ms": ms(collect_run),
        "total_ms": ms(total),
        "cleanups_per_s": executed as f64 / collect_run.as_secs_f64(),
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "cleanupbench: {n} objects with cleanups, {} µs of work each, {workers} cleanup workers",
            cli.work_us
        );
        println!(
            "register     {:8.1} ms (allocate, add_cleanup, store)",
            ms(register)
        );
        println!(
            "collect+run  {:8.1} ms (gc {:.1} ms, then cleanups {:.1} ms)",
            ms(collect_run),
            ms(gc),
            ms(collect_run - gc)
        );
        println!(
            "total        {:8.1} ms; {:.2} M cleanups/s over collect+run",
            ms(total),
            executed as f64 / collect_run.as_secs_f64() / 1e6
        );
        println!(
            "executed {executed} of {n} (arguments ok: {args_ok}); {} collections, pauses p50 {:.2} ms, max {:.2} ms; heap peak {:.1} MiB",
            summary.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
    }
    if executed != n || !args_ok {
        eprintln!("cleanupbench: failed: {executed} of {n} cleanups ran, arguments ok: {args_ok}");
        return 1;
    }
    exit_status(&summary)
}
