//! finbench: the cost of finalizers (Go's `runtime.SetFinalizer`) on the testbed.
//!
//! `--objects` small objects (one reference slot and one data word, Go's 16-byte
//! `struct { p *T; x uint64 }`) each get a finalizer that counts itself on an
//! `AtomicU64`. A table object with one reference slot per object (Go's `[]*T`) keeps them
//! reachable while they are registered; then the table's handle is dropped, one full cycle
//! runs (`Mutator::gc`, Go's `runtime.GC()`), and `Mutator::drain_finalizers` waits until
//! every finalizer has run on the heap's finalizer thread.
//!
//! Runs on the shared harness (`workloads::harness`): the common flags, and the report in
//! `--out`. One operation of the latency histogram is a batch of 1000 registrations
//! (allocate, register, store in the table). Findings: `objects`, `executed` (counted by
//! the finalizers themselves), `executed_ok`, and the phases in milliseconds:
//! `register_ms`, `gc_ms` (the `gc()` call), `drain_ms` (from its return until the last
//! finalizer ran), `collect_run_ms` (both), `total_ms` (registration to the last
//! finalizer), and `finalizers_per_s` (executed over `collect_run_ms`). Fewer executed
//! finalizers than objects make the exit status 1. `workloads/go/finbench` is its Go
//! twin.
//!
//! With `--api scope` (the default) each batch of 1000 objects is allocated and stored
//! in the table inside one scope on `Gc` references, where a Go program uses plain
//! pointers (the registration itself takes a handle); `--api handle` does it through
//! handles. Findings also name the `api`.
//!
//! `cargo run --release -p workloads --bin finbench -- [--objects 1000000] [--api handle|scope] [--json]`

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

/// Finalizers that have run, counted by the finalizers themselves.
static EXECUTED: AtomicU64 = AtomicU64::new(0);

const WORKLOAD: Workload = Workload {
    name: "finbench",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("finbench is sized by --objects"),
};

/// finbench: registration, collection and running of many finalizers.
#[derive(Parser, Debug)]
#[command(name = "finbench", version)]
struct Cli {
    /// Objects to allocate, each with a finalizer.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000), allow_negative_numbers = true)]
    objects: u64,
    /// How objects are allocated and stored: `scope` (`Gc` references, a scope per batch
    /// of 1000) or `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
    #[command(flatten)]
    common: Args,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("objects".into(), json!(cli.objects));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, finbench(&cli, cli.api == "scope", run));
    std::process::exit(status);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Registers the finalizer on `obj`.
fn register<B: Barrier>(m: &Mutator<B>, obj: &Handle<'_, B>, _j: u64) {
    m.set_finalizer(obj, |_obj| {
        EXECUTED.fetch_add(1, Relaxed);
    });
}

fn finbench<B: Barrier>(cli: &Cli, scope: bool, mut run: Run) -> i32 {
    let n = cli.objects;
    let heap = run
        .heap::<B>(Goal::Work(n))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let table_shape = Shape::new("finbench table", n as u32, 0);
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
    m.drain_finalizers();
    let collect_run = t1.elapsed();
    let total = t0.elapsed();
    drop(m);
    let executed = EXECUTED.load(Relaxed);

    let findings = json!({
        "api": cli.api,
        "objects": n,
        "executed": executed,
        "executed_ok": executed == n,
        "register_ms": ms(register),
        "gc_ms": ms(gc),
        "drain_ms": ms(collect_run - gc),
        "collect_run_ms": ms(collect_run),
        "total_ms": ms(total),
        "finalizers_per_s": executed as f64 / collect_run.as_secs_f64(),
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!("finbench: {n} objects with finalizers");
        println!(
            "register     {:8.1} ms (allocate, set_finalizer, store)",
            ms(register)
        );
        println!(
            "collect+run  {:8.1} ms (gc {:.1} ms, then finalizers {:.1} ms)",
            ms(collect_run),
            ms(gc),
            ms(collect_run - gc)
        );
        println!(
            "total        {:8.1} ms; {:.2} M finalizers/s over collect+run",
            ms(total),
            executed as f64 / collect_run.as_secs_f64() / 1e6
        );
        println!(
            "executed {executed} of {n}; {} collections, pauses p50 {:.2} ms, max {:.2} ms; heap peak {:.1} MiB",
            summary.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
    }
    if executed != n {
        eprintln!("finbench: failed: {executed} of {n} finalizers ran");
        return 1;
    }
    exit_status(&summary)
}
