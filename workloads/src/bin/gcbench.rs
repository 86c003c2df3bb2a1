//! GCBench (Boehm, Ellis and Kovac): builds and drops complete binary trees of several
//! depths, top-down and bottom-up, while a long-lived tree and a large array of doubles
//! stay live. Stretch depth 18, long-lived depth 16, 500,000 doubles, trees 4..=16.
//!
//! `cargo run --release -p workloads --bin gcbench -- [--gogc N|off] [--verify] [--json]`

use clap::Parser;
use collector::{
    Barrier, BarrierKind, Dijkstra, Gogc, Handle, Heap, HeapConfig, Hybrid, Mutator, NoBarrier,
    Shape, Yuasa,
};
use serde::Serialize;
use std::time::Instant;
use workloads::report::Summary;

workloads::use_mimalloc!();

/// Left, right; i, j — Go's and Java's `Node`.
static NODE: Shape = Shape::new("Node", 2, 2);
/// `[]float64` of `ARRAY_SIZE`.
static ARRAY: Shape = Shape::new("[500000]float64", 0, ARRAY_SIZE as u32);

const STRETCH_TREE_DEPTH: u32 = 18;
const LONG_LIVED_TREE_DEPTH: u32 = 16;
const ARRAY_SIZE: usize = 500_000;
const MIN_TREE_DEPTH: u32 = 4;
const MAX_TREE_DEPTH: u32 = 16;

/// GCBench on the collector testbed.
#[derive(Parser, Debug, Serialize)]
#[command(name = "gcbench", version, about)]
struct Args {
    /// GOGC: heap growth percentage that triggers a cycle, or "off".
    #[arg(long, default_value = "100", value_parser = parse_gogc)]
    #[serde(serialize_with = "ser_display")]
    gogc: Gogc,
    /// GOMAXPROCS: the most threads that mark during a pause (default: all cores).
    #[arg(long, default_value_t = collector::default_gomaxprocs(), value_parser = parse_gomaxprocs)]
    gomaxprocs: usize,
    /// The write barrier: hybrid (Go's), dijkstra, yuasa, or none (ablation).
    #[arg(long, default_value = "hybrid", value_parser = parse_barrier)]
    #[serde(serialize_with = "ser_display")]
    barrier: BarrierKind,
    /// Mark concurrently with the mutator (two short pauses a cycle) instead of in one
    /// stop-the-world pause.
    #[arg(long)]
    concurrent: bool,
    /// Background mark workers of a concurrent cycle: a number (0 = assists only), or
    /// "auto" for Go's 25% rule.
    #[arg(long, default_value = "auto", value_parser = parse_mark_workers)]
    #[serde(serialize_with = "ser_display")]
    mark_workers: MarkWorkers,
    /// Verify every cycle's mark (checkmark) and poison freed objects.
    #[arg(long)]
    verify: bool,
    /// Print the JSON summary on stdout instead of the text report.
    #[arg(long)]
    json: bool,
}

fn parse_gogc(s: &str) -> Result<Gogc, String> {
    s.parse()
}

/// `--mark-workers`: a count, or Go's rule.
#[derive(Clone, Copy, Debug)]
struct MarkWorkers(Option<usize>);

impl std::fmt::Display for MarkWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("auto"),
        }
    }
}

fn parse_mark_workers(s: &str) -> Result<MarkWorkers, String> {
    if s.trim() == "auto" {
        return Ok(MarkWorkers(None));
    }
    match s.trim().parse::<usize>() {
        Ok(n) if n <= 1024 => Ok(MarkWorkers(Some(n))),
        _ => Err(format!(
            "invalid mark worker count {s:?}: expected \"auto\" or an integer in 0..=1024"
        )),
    }
}

fn parse_barrier(s: &str) -> Result<BarrierKind, String> {
    s.parse()
}

fn parse_gomaxprocs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid GOMAXPROCS {s:?}: expected an integer in 1..=1024"
        )),
    }
}

fn ser_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

fn num_iters(depth: u32) -> u64 {
    2 * tree_size(STRETCH_TREE_DEPTH) / tree_size(depth)
}

/// Builds a tree top-down below `node`.
fn populate<B: Barrier>(m: &Mutator<B>, depth: u32, node: &Handle<'_, B>) {
    if depth == 0 {
        return;
    }
    let left = m.alloc(&NODE);
    let right = m.alloc(&NODE);
    node.set(0, Some(&left));
    node.set(1, Some(&right));
    populate(m, depth - 1, &left);
    populate(m, depth - 1, &right);
}

/// Builds a tree bottom-up.
fn make_tree<'m, B: Barrier>(m: &'m Mutator<B>, depth: u32) -> Handle<'m, B> {
    let node = m.alloc(&NODE);
    if depth > 0 {
        let left = make_tree(m, depth - 1);
        let right = make_tree(m, depth - 1);
        node.set(0, Some(&left));
        node.set(1, Some(&right));
    }
    node
}

fn time_construction<B: Barrier>(m: &Mutator<B>, depth: u32, quiet: bool) {
    let iters = num_iters(depth);
    if !quiet {
        println!("Creating {iters} trees of depth {depth}");
    }
    let start = Instant::now();
    for _ in 0..iters {
        let temp = m.alloc(&NODE);
        populate(m, depth, &temp);
    }
    if !quiet {
        println!(
            "\tTop down construction took {} msec",
            start.elapsed().as_millis()
        );
    }
    let start = Instant::now();
    for _ in 0..iters {
        drop(make_tree(m, depth));
    }
    if !quiet {
        println!(
            "\tBottom up construction took {} msec",
            start.elapsed().as_millis()
        );
    }
}

fn main() {
    let args = Args::parse();
    let config = HeapConfig {
        gogc: args.gogc,
        verify: args.verify,
        concurrent: args.concurrent,
        gomaxprocs: args.gomaxprocs,
        mark_workers: args.mark_workers.0,
        ..HeapConfig::default()
    };
    match args.barrier {
        BarrierKind::Hybrid => run::<Hybrid>(&args, config),
        BarrierKind::Dijkstra => run::<Dijkstra>(&args, config),
        BarrierKind::Yuasa => run::<Yuasa>(&args, config),
        BarrierKind::None => run::<NoBarrier>(&args, config),
    }
}

fn run<B: Barrier>(args: &Args, config: HeapConfig) {
    let heap = Heap::<B>::with_barrier(config).unwrap_or_else(|e| {
        eprintln!("gcbench: {e}");
        std::process::exit(2)
    });
    let m = heap.mutator();
    let quiet = args.json;
    let start = Instant::now();
    if !quiet {
        println!("Garbage Collector Test");
        println!(" Stretching memory with a binary tree of depth {STRETCH_TREE_DEPTH}");
    }
    drop(make_tree(&m, STRETCH_TREE_DEPTH));

    if !quiet {
        println!(" Creating a long-lived binary tree of depth {LONG_LIVED_TREE_DEPTH}");
    }
    let long_lived = m.alloc(&NODE);
    populate(&m, LONG_LIVED_TREE_DEPTH, &long_lived);

    if !quiet {
        println!(" Creating a long-lived array of {ARRAY_SIZE} doubles");
    }
    let array = m.alloc(&ARRAY);
    for i in 1..ARRAY_SIZE / 2 {
        array.write_f64(i, 1.0 / i as f64);
    }

    let mut depth = MIN_TREE_DEPTH;
    while depth <= MAX_TREE_DEPTH {
        time_construction(&m, depth, quiet);
        depth += 2;
    }

    if long_lived.get(0).is_none() || array.read_f64(1000) != 1.0 / 1000.0 {
        eprintln!("gcbench: failed: the long-lived tree or array was damaged");
        std::process::exit(1);
    }
    let wall = start.elapsed().as_secs_f64();
    drop((long_lived, array));
    // A background cycle may still be running: let it finish so the counters agree.
    m.blocking(|| heap.wait_for_background());
    let stats = heap.stats();
    let summary = Summary::new("gcbench", args, wall, &stats, args.verify);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        println!("Completed in {:.0} msec", wall * 1e3);
        println!(
            "Completed {} collections; pauses p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; heap peak {:.1} MiB",
            stats.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.p99 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            stats.heap_peak_bytes as f64 / (1 << 20) as f64
        );
        let med = |f: fn(&collector::CycleRecord) -> u64| {
            let mut v: Vec<u64> = stats.cycles.iter().map(f).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0) as f64 / 1e6
        };
        println!(
            "Per cycle (median): mark {:.2} ms on up to {} threads, sweep {:.2} ms",
            med(|c| c.mark_ns),
            stats
                .cycles
                .iter()
                .map(|c| c.mark_threads)
                .max()
                .unwrap_or(0),
            med(|c| c.sweep_ns)
        );
        if args.concurrent {
            let total = |f: fn(&collector::CycleRecord) -> u64| {
                stats.cycles.iter().map(f).sum::<u64>() as f64 / 1e6
            };
            println!(
                "Mark CPU (total): assists {:.1} ms, background workers {:.1} ms, idle workers {:.1} ms",
                total(|c| c.assist_ns),
                total(|c| c.background_mark_ns),
                total(|c| c.idle_mark_ns)
            );
        }
        if args.verify {
            println!(
                "Verified {} cycles: {} lost objects",
                stats.cycles_checked, stats.lost_objects
            );
        }
    }
    if stats.lost_objects > 0 {
        std::process::exit(1);
    }
}
