//! The allocation fast path, measured: nanoseconds per small allocation on the testbed
//! with no collection running (GOGC off), beside mimalloc's own `malloc` of the same size
//! in the same process. Each figure is the median of several runs. The testbed is
//! measured on both APIs: `scope_ns`, `Scope::alloc` inside one scope per run (the `Gc`
//! dropped at once, as Go's `new(T)` into a variable), and `handle_ns`, `Mutator::alloc`
//! (the handle dropped at once). `testbed_ns` (read by `scripts/compare-go.sh`) is the
//! scope API's, the default of the ported workloads; `ratio` is `testbed_ns /
//! mimalloc_ns`, `handle_ratio` the handle API's.
//!
//! Wall-clock nanoseconds are only as good as the machine is quiet; for a figure that
//! does not depend on it, count instructions with callgrind, each loop being a function
//! of its own (`--only` runs one of them):
//! `valgrind --tool=callgrind --toggle-collect='*allocbench::scope_loop*' target/release/allocbench --only scope --runs 1`
//! (and `handle_loop` / `mimalloc_loop` with `--only handle` / `--only mimalloc`):
//! the instructions collected divided by `--objects` are the cost of one allocation
//! (the first shape's; `--shape` picks another). `scripts/callgrind-alloc.sh` does this
//! for every loop and shape, in fresh and reused spans.
//!
//! `cargo run --release -p workloads --bin allocbench -- [--objects N] [--runs R] [--json] [--only scope|handle|mimalloc] [--shape I]`

use clap::Parser;
use collector::{Barrier, Gogc, Heap, HeapConfig, Mutator, Shape};
use serde::Serialize;
use std::hint::black_box;
use std::time::Instant;
use workloads::harness::summary::median;

workloads::use_mimalloc!();

/// Allocation fast-path benchmark.
#[derive(Parser, Debug)]
#[command(name = "allocbench", version, about)]
struct Args {
    /// Allocations per timed run.
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    objects: u64,
    /// Timed runs per figure (the median is reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    runs: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only this loop (for callgrind), and print nothing.
    #[arg(long, value_parser = ["scope", "handle", "mimalloc"])]
    only: Option<String>,
    /// With `--only`: the shape (0, 1 or 2, in the table's order).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2), allow_negative_numbers = true)]
    shape: u8,
}

#[derive(Serialize)]
struct Row {
    shape: String,
    bytes: usize,
    /// The scope API's (`scope_ns`).
    testbed_ns: f64,
    scope_ns: f64,
    handle_ns: f64,
    mimalloc_ns: f64,
    /// `testbed_ns / mimalloc_ns`.
    ratio: f64,
    /// `handle_ns / mimalloc_ns`.
    handle_ratio: f64,
}

/// `n` allocations inside one scope, each `Gc` dropped at once.
#[inline(never)]
fn scope_loop<B: Barrier>(m: &Mutator<B>, shape: &Shape, n: u64) {
    m.scope(|s| {
        for _ in 0..n {
            black_box(s.alloc(shape));
        }
    });
}

/// `n` allocations through handles, each dropped at once (so the root table stays
/// small).
#[inline(never)]
fn handle_loop<B: Barrier>(m: &Mutator<B>, shape: &Shape, n: u64) {
    for _ in 0..n {
        black_box(m.alloc(shape));
    }
}

/// `n` zeroed mimalloc blocks of `layout`'s size, kept in `ptrs` (freed by the caller
/// in bulk, outside the measured loop, as the collector frees in bulk).
#[inline(never)]
fn mimalloc_loop(layout: std::alloc::Layout, n: u64, ptrs: &mut Vec<*mut u8>) {
    for _ in 0..n {
        // SAFETY: `layout` has a non-zero size.
        ptrs.push(black_box(unsafe { std::alloc::alloc_zeroed(layout) }));
    }
}

/// Frees what [`mimalloc_loop`] allocated.
fn free_all(layout: std::alloc::Layout, ptrs: Vec<*mut u8>) {
    for p in ptrs {
        // SAFETY: `p` came from `alloc_zeroed` with this layout.
        unsafe { std::alloc::dealloc(p, layout) };
    }
}

/// Nanoseconds per iteration of `f`, run over `n` iterations.
fn ns_per(n: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / n as f64
}

/// mimalloc's layout for an object of `shape`.
fn layout(shape: &Shape) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(shape.bytes(), 8).expect("a small valid layout")
}

fn main() {
    let args = Args::parse();
    let shapes = [
        Shape::new("2 words, 1 ref", 1, 1),
        Shape::new("4 words, 2 refs (GCBench Node)", 2, 2),
        Shape::new("8 words, noscan", 0, 8),
    ];
    let n = args.objects;
    let heap = || {
        Heap::new(HeapConfig {
            gogc: Gogc::Off,
            ..HeapConfig::default()
        })
        .expect("default config is valid")
    };
    if let Some(only) = &args.only {
        let shape = &shapes[args.shape as usize];
        let (heap, layout) = (heap(), layout(shape));
        let m = heap.mutator();
        for _ in 0..args.runs {
            match only.as_str() {
                "scope" => scope_loop(&m, shape, n),
                "handle" => handle_loop(&m, shape, n),
                _ => {
                    let mut ptrs = Vec::with_capacity(n as usize);
                    mimalloc_loop(layout, n, &mut ptrs);
                    free_all(layout, ptrs);
                }
            }
            m.gc();
        }
        return;
    }
    let mut rows = Vec::new();
    for shape in &shapes {
        let (heap, layout) = (heap(), layout(shape));
        let m = heap.mutator();
        let (mut scope, mut handle, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.runs {
            scope.push(ns_per(n, || scope_loop(&m, shape, n)));
            // Start the next run from an empty heap, outside the timed region.
            m.gc();
            handle.push(ns_per(n, || handle_loop(&m, shape, n)));
            m.gc();
            let mut ptrs = Vec::with_capacity(n as usize);
            theirs.push(ns_per(n, || mimalloc_loop(layout, n, &mut ptrs)));
            free_all(layout, ptrs);
        }
        let (a, h, b) = (median(scope), median(handle), median(theirs));
        rows.push(Row {
            shape: shape.name().to_string(),
            bytes: shape.bytes(),
            testbed_ns: a,
            scope_ns: a,
            handle_ns: h,
            mimalloc_ns: b,
            ratio: a / b,
            handle_ratio: h / b,
        });
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
        return;
    }
    println!(
        "{:<34} {:>6} {:>9} {:>10} {:>12} {:>7} {:>7}",
        "shape", "bytes", "scope ns", "handle ns", "mimalloc ns", "ratio", "handle"
    );
    for r in &rows {
        println!(
            "{:<34} {:>6} {:>9.2} {:>10.2} {:>12.2} {:>7.2} {:>7.2}",
            r.shape, r.bytes, r.scope_ns, r.handle_ns, r.mimalloc_ns, r.ratio, r.handle_ratio
        );
    }
    println!(
        "(median of {} runs of {} allocations, wall clock: only as good as the machine is quiet; \
         ratio: scope / mimalloc, handle: handle / mimalloc; the mimalloc column includes \
         pushing each pointer into a Vec)",
        args.runs, args.objects
    );
}
