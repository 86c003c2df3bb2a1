//! The allocation fast path, measured: nanoseconds per small allocation on the testbed
//! with no collection running (GOGC off, handles dropped at once), beside mimalloc's own
//! `malloc` of the same size in the same process. Each figure is the median of several
//! runs; the ratio is testbed / mimalloc.
//!
//! `cargo run --release -p workloads --bin allocbench -- [--objects N] [--runs R] [--json]`

use clap::Parser;
use collector::{Gogc, Heap, HeapConfig, Shape};
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
}

#[derive(Serialize)]
struct Row {
    shape: String,
    bytes: usize,
    testbed_ns: f64,
    mimalloc_ns: f64,
    ratio: f64,
}

fn main() {
    let args = Args::parse();
    let shapes = [
        Shape::new("2 words, 1 ref", 1, 1),
        Shape::new("4 words, 2 refs (GCBench Node)", 2, 2),
        Shape::new("8 words, noscan", 0, 8),
    ];
    let mut rows = Vec::new();
    for shape in &shapes {
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            ..HeapConfig::default()
        })
        .expect("default config is valid");
        let m = heap.mutator();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            // Testbed: allocate and drop the handle, so the root table stays small.
            let t = Instant::now();
            for _ in 0..args.objects {
                black_box(m.alloc(shape));
            }
            ours.push(t.elapsed().as_nanos() as f64 / args.objects as f64);
            // Start the next run from an empty heap, outside the timed region.
            m.gc();

            // mimalloc: malloc a zeroed block of the same size, then free it in bulk
            // outside the timed region (as the collector frees in bulk).
            let layout = std::alloc::Layout::from_size_align(shape.bytes(), 8).unwrap();
            let mut ptrs = Vec::with_capacity(args.objects as usize);
            let t = Instant::now();
            for _ in 0..args.objects {
                // SAFETY: `layout` has a non-zero size.
                ptrs.push(black_box(unsafe { std::alloc::alloc_zeroed(layout) }));
            }
            theirs.push(t.elapsed().as_nanos() as f64 / args.objects as f64);
            for p in ptrs {
                // SAFETY: `p` came from `alloc_zeroed` with this layout.
                unsafe { std::alloc::dealloc(p, layout) };
            }
        }
        let (a, b) = (median(ours), median(theirs));
        rows.push(Row {
            shape: shape.name().to_string(),
            bytes: shape.bytes(),
            testbed_ns: a,
            mimalloc_ns: b,
            ratio: a / b,
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
        "{:<34} {:>6} {:>12} {:>12} {:>7}",
        "shape", "bytes", "testbed ns", "mimalloc ns", "ratio"
    );
    for r in &rows {
        println!(
            "{:<34} {:>6} {:>12.2} {:>12.2} {:>7.2}",
            r.shape, r.bytes, r.testbed_ns, r.mimalloc_ns, r.ratio
        );
    }
    println!(
        "(median of {} runs of {} allocations; the mimalloc column includes pushing each pointer into a Vec)",
        args.runs, args.objects
    );
}
