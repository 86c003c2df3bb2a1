//! The marker's cost per object: one mutator holds a complete binary tree of GCBench's
//! `Node` (2 references, 2 words) and forced cycles re-mark it, nothing else allocating.
//! Reports, per cycle (medians), the objects marked, the scan work, the mark's CPU time
//! and wall time, and nanoseconds of mark CPU per object. Under callgrind
//! (`--gomaxprocs 1 --stw`, one marking thread: a deterministic trace) the instructions
//! of `collector::mark::Marker::drain` divided by `marked objects × cycles` are the
//! marker's instructions per object.
//!
//! `cargo run --release -p workloads --bin markbench -- [--depth D] [--cycles C]
//! [--stw] [--gomaxprocs N] [--json]`

use clap::Parser;
use collector::{Gogc, Handle, Heap, HeapConfig, Mutator, Shape};
use serde::Serialize;
use workloads::harness::cli::parse_gomaxprocs;
use workloads::harness::summary::median;

workloads::use_mimalloc!();

static NODE: Shape = Shape::new("Node", 2, 2);

/// The marker's cost per object on a tree held live across forced cycles.
#[derive(Parser, Debug)]
#[command(name = "markbench", version, about)]
struct Args {
    /// Depth of the tree (2^(depth+1) - 1 nodes).
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u32).range(1..=24), allow_negative_numbers = true)]
    depth: u32,
    /// Forced cycles (medians are reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    cycles: u64,
    /// Mark in one stop-the-world pause (default: concurrently).
    #[arg(long)]
    stw: bool,
    /// GOMAXPROCS: the most threads that mark at once (default: all cores).
    #[arg(long, default_value_t = collector::default_gomaxprocs(),
          value_parser = parse_gomaxprocs, allow_negative_numbers = true)]
    gomaxprocs: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    depth: u32,
    cycles: u64,
    stw: bool,
    gomaxprocs: usize,
    marked_objects: u64,
    scan_work_bytes: u64,
    mark_cpu_us: f64,
    mark_wall_us: f64,
    mark_cpu_ns_per_object: f64,
}

fn tree(m: &Mutator, depth: u32) -> Handle<'_> {
    let node = m.alloc(&NODE);
    if depth > 0 {
        node.set(0, Some(&tree(m, depth - 1)));
        node.set(1, Some(&tree(m, depth - 1)));
    }
    node
}

fn main() {
    let args = Args::parse();
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent: !args.stw,
        gomaxprocs: args.gomaxprocs,
        ..HeapConfig::default()
    })
    .expect("valid config");
    let m = heap.mutator();
    let root = tree(&m, args.depth);
    // The first cycle sweeps what building left over; the measured ones find it all live.
    m.gc();
    let first = heap.stats().cycles.len();
    for _ in 0..args.cycles {
        m.gc();
    }
    let stats = heap.stats();
    drop(root);
    let cycles = &stats.cycles[first..];
    let med = |f: &dyn Fn(&collector::CycleRecord) -> f64| median(cycles.iter().map(f).collect());
    let cpu = |c: &collector::CycleRecord| {
        if args.stw {
            c.mark_ns as f64
        } else {
            (c.assist_ns + c.background_mark_ns + c.idle_mark_ns) as f64
        }
    };
    let marked = med(&|c| c.marked_objects as f64);
    let report = Report {
        depth: args.depth,
        cycles: args.cycles,
        stw: args.stw,
        gomaxprocs: args.gomaxprocs,
        marked_objects: marked as u64,
        scan_work_bytes: med(&|c| c.scan_work_bytes as f64) as u64,
        mark_cpu_us: med(&cpu) / 1e3,
        mark_wall_us: med(&|c| c.clock_mark_ns as f64) / 1e3,
        mark_cpu_ns_per_object: med(&|c| cpu(c) / c.marked_objects.max(1) as f64),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    } else {
        println!(
            "markbench: depth {} ({} objects marked), {} cycles, {}, GOMAXPROCS {}\n\
             mark CPU {:.0} µs, mark wall {:.0} µs, {:.1} ns of mark CPU per object",
            report.depth,
            report.marked_objects,
            report.cycles,
            if report.stw {
                "stop-the-world"
            } else {
                "concurrent"
            },
            report.gomaxprocs,
            report.mark_cpu_us,
            report.mark_wall_us,
            report.mark_cpu_ns_per_object,
        );
    }
}
