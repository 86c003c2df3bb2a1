//! GCBench (Boehm, Ellis and Kovac): builds and drops complete binary trees of several
//! depths, top-down and bottom-up, while a long-lived tree and a large array of doubles
//! stay live. Stretch depth 18, long-lived depth 16, 500,000 doubles, trees 4..=16, on one
//! mutator.
//!
//! Runs on the shared harness (`workloads::harness`): the common flags, and the report in
//! `--out`. Each tree's construction is one operation of the latency histogram. Findings:
//! `trees` (per depth: trees built each way and the milliseconds each way took);
//! `long_lived_nodes` (counted at the end: 2^17 - 1 when intact), `array_ok` (every
//! element written still reads back) and `long_lived_ok` (both; false makes the exit
//! status 1).
//!
//! With `--api scope` (the default) each tree is built, walked and dropped on `Gc`
//! references in scopes of at most 2,047 nodes (`workloads::trees`, the levels above
//! through handles), where a Go program uses plain pointers; `--api
//! handle` builds them through handles (a root per live node reference), as before.
//!
//! `cargo run --release -p workloads --bin gcbench -- [--stw] [--gogc N|off] [--verify] [--json] [--api handle|scope]`

use clap::Parser;
use collector::{Barrier, Handle, Mutator, Shape};
use serde_json::{json, Map, Value};
use std::time::Instant;
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::{Goal, Progress};
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::trees;
use workloads::with_barrier;

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

const WORKLOAD: Workload = Workload {
    name: "gcbench",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("GCBench's size is fixed (trees of depths 4 to 16)"),
};

/// GCBench on the collector testbed.
#[derive(Parser, Debug)]
#[command(name = "gcbench", version)]
struct Cli {
    #[command(flatten)]
    common: Args,
    /// How trees are built: `scope` (Gc references in bounded scopes) or `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
}

fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

fn num_iters(depth: u32) -> u64 {
    2 * tree_size(STRETCH_TREE_DEPTH) / tree_size(depth)
}

fn depths() -> impl Iterator<Item = u32> {
    (MIN_TREE_DEPTH..=MAX_TREE_DEPTH).step_by(2)
}

/// Nodes the whole benchmark allocates: the progress bar's goal.
fn total_nodes() -> u64 {
    let trees: u64 = depths().map(|d| 2 * num_iters(d) * tree_size(d)).sum();
    tree_size(STRETCH_TREE_DEPTH) + tree_size(LONG_LIVED_TREE_DEPTH) + trees
}

/// The tree operations of one API.
#[derive(Clone, Copy)]
struct Api {
    scope: bool,
}

impl Api {
    /// A tree of `depth` built top-down from a new root node, then dropped.
    fn top_down<B: Barrier>(self, m: &Mutator<B>, depth: u32) {
        if self.scope {
            let temp = m.scope(|s| s.root(s.alloc(&NODE)));
            trees::populate(m, &NODE, depth, &temp);
        } else {
            let temp = m.alloc(&NODE);
            trees::populate_with_handles(m, &NODE, depth, &temp);
        }
    }

    /// A tree of `depth` built bottom-up, then dropped.
    fn bottom_up<B: Barrier>(self, m: &Mutator<B>, depth: u32) {
        if self.scope {
            drop(trees::make_tree(m, &NODE, depth));
        } else {
            drop(trees::make_tree_with_handles(m, &NODE, depth));
        }
    }

    /// A tree of `depth` built top-down and kept.
    fn kept<'m, B: Barrier>(self, m: &'m Mutator<B>, depth: u32) -> Handle<'m, B> {
        if self.scope {
            let root = m.scope(|s| s.root(s.alloc(&NODE)));
            trees::populate(m, &NODE, depth, &root);
            return root;
        }
        let root = m.alloc(&NODE);
        trees::populate_with_handles(m, &NODE, depth, &root);
        root
    }

    /// The nodes of the tree under `root`.
    fn count<B: Barrier>(self, m: &Mutator<B>, root: &Handle<'_, B>) -> u64 {
        if self.scope {
            return trees::count(m, root);
        }
        trees::count_with_handles(root)
    }
}

/// What the benchmark body reports.
struct Body {
    text: Vec<String>,
    latency: LatencyRecorder,
    trees: Vec<Value>,
    long_lived_nodes: u64,
    array_ok: bool,
}

/// Builds `num_iters(depth)` trees each way, each tree one latency sample.
fn time_construction<B: Barrier>(
    m: &Mutator<B>,
    api: Api,
    depth: u32,
    progress: &Progress,
    body: &mut Body,
) {
    let iters = num_iters(depth);
    let nodes = tree_size(depth);
    body.text
        .push(format!("Creating {iters} trees of depth {depth}"));
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        api.top_down(m, depth);
        body.latency
            .saturating_record(t.elapsed().as_nanos() as u64);
        progress.advance(nodes);
    }
    let top_down = start.elapsed();
    body.text.push(format!(
        "\tTop down construction took {} msec",
        top_down.as_millis()
    ));
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        api.bottom_up(m, depth);
        body.latency
            .saturating_record(t.elapsed().as_nanos() as u64);
        progress.advance(nodes);
    }
    let bottom_up = start.elapsed();
    body.text.push(format!(
        "\tBottom up construction took {} msec",
        bottom_up.as_millis()
    ));
    body.trees.push(json!({
        "depth": depth,
        "count": iters,
        "top_down_ms": top_down.as_secs_f64() * 1e3,
        "bottom_up_ms": bottom_up.as_secs_f64() * 1e3,
    }));
}

/// The benchmark on one mutator.
fn benchmark<B: Barrier>(m: &Mutator<B>, api: Api, progress: &Progress) -> Body {
    let mut body = Body {
        text: vec![
            "Garbage Collector Test".to_string(),
            format!(" Stretching memory with a binary tree of depth {STRETCH_TREE_DEPTH}"),
        ],
        latency: latency_histogram(),
        trees: Vec::new(),
        long_lived_nodes: 0,
        array_ok: false,
    };
    api.bottom_up(m, STRETCH_TREE_DEPTH);
    progress.advance(tree_size(STRETCH_TREE_DEPTH));

    body.text.push(format!(
        " Creating a long-lived binary tree of depth {LONG_LIVED_TREE_DEPTH}"
    ));
    let long_lived = api.kept(m, LONG_LIVED_TREE_DEPTH);
    progress.advance(tree_size(LONG_LIVED_TREE_DEPTH));

    body.text.push(format!(
        " Creating a long-lived array of {ARRAY_SIZE} doubles"
    ));
    let array = m.alloc(&ARRAY);
    for i in 1..ARRAY_SIZE / 2 {
        array.write_f64(i, 1.0 / i as f64);
    }

    for depth in depths() {
        time_construction(m, api, depth, progress, &mut body);
    }
    body.long_lived_nodes = api.count(m, &long_lived);
    body.array_ok = (1..ARRAY_SIZE / 2).all(|i| array.read_f64(i) == 1.0 / i as f64);
    body
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let run = Run::start(WORKLOAD.name, &cli.common, Map::new())
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let api = Api {
        scope: cli.api == "scope",
    };
    let status = with_barrier!(cli.common.barrier, gcbench(run, api));
    std::process::exit(status);
}

fn gcbench<B: Barrier>(mut run: Run, api: Api) -> i32 {
    let heap = run
        .heap::<B>(Goal::Work(total_nodes()))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let body = benchmark(&m, api, run.progress());
    drop(m);
    let (text, stw, verify) = (run.text(), run.args().stw, run.args().verify);
    let tree_ok = body.long_lived_nodes == tree_size(LONG_LIVED_TREE_DEPTH);
    let findings = json!({
        "api": if api.scope { "scope" } else { "handle" },
        "trees": body.trees,
        "long_lived_ok": tree_ok && body.array_ok,
        "long_lived_nodes": body.long_lived_nodes,
        "array_ok": body.array_ok,
    });
    let summary = run
        .finish(&heap, &body.latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let stats = heap.stats();
    if text {
        for line in &body.text {
            println!("{line}");
        }
        println!("Completed in {:.0} msec", summary.wall_s * 1e3);
        println!(
            "Completed {} collections; pauses p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; heap peak {:.1} MiB",
            summary.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.p99 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
        let cycles = &stats.cycles[..(summary.gc_cycles as usize).min(stats.cycles.len())];
        let med = |f: fn(&collector::CycleRecord) -> u64| {
            let mut v: Vec<u64> = cycles.iter().map(f).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0) as f64 / 1e6
        };
        println!(
            "Per cycle (median): mark {:.2} ms on up to {} threads, sweep {:.2} ms",
            med(|c| c.mark_ns),
            cycles.iter().map(|c| c.mark_threads).max().unwrap_or(0),
            med(|c| c.sweep_ns)
        );
        if !stw {
            let total = |f: fn(&collector::CycleRecord) -> u64| {
                cycles.iter().map(f).sum::<u64>() as f64 / 1e6
            };
            println!(
                "Mark CPU (total): assists {:.1} ms, background workers {:.1} ms, idle workers {:.1} ms",
                total(|c| c.assist_ns),
                total(|c| c.background_mark_ns),
                total(|c| c.idle_mark_ns)
            );
        }
        if verify {
            println!(
                "Verified {} cycles: {} lost objects",
                summary.verify.cycles_checked, summary.verify.lost_objects
            );
        }
    }
    if !tree_ok || !body.array_ok {
        eprintln!(
            "gcbench: failed: the long-lived tree has {} of {} nodes; the array is {}",
            body.long_lived_nodes,
            tree_size(LONG_LIVED_TREE_DEPTH),
            if body.array_ok { "intact" } else { "damaged" }
        );
        return 1;
    }
    exit_status(&summary)
}
