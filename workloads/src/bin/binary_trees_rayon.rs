//! binary-trees on a rayon pool, as the Benchmarks Game's Rust programs run it: a stretch
//! tree of depth `max + 1` is built, checked and dropped; a long-lived tree of depth `max`
//! stays live throughout; then the depths `4, 6, … ≤ max` run in parallel
//! (`into_par_iter` over the depths), each building `2^(max - depth + 4)` short-lived
//! trees bottom-up, checking (counting the nodes of) and dropping each. The pool is the
//! collector's `MutatorPool` of `--mutators` workers (default 2), each worker a mutator
//! of the heap; a depth's trees are built inside `with_mutator`.
//!
//! Sized by `--depth` (default 16) and `--iterations` (rounds over the depths, default 1);
//! `--duration` instead repeats rounds until that many seconds have passed. One operation
//! of the latency histogram is building and checking one short-lived tree. Findings as
//! binary-trees': `stretch`, `long_lived`, `depths`, `rounds` (one entry: the rounds run)
//! and `checks_ok` (false makes the exit status 1), plus `pool_threads`.
//!
//! `cargo run --release -p workloads --bin binary-trees-rayon -- [--depth 16] [--mutators 2]`

use clap::Parser;
use collector::{Barrier, MutatorPool, Shape};
use rayon::prelude::*;
use serde_json::{json, Map};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::{Goal, Progress};
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::trees;
use workloads::with_barrier;

workloads::use_mimalloc!();

/// A tree node: left and right children.
static NODE: Shape = Shape::new("TreeNode", 2, 0);

const WORKLOAD: Workload = Workload {
    name: "binary-trees-rayon",
    mutators: 2,
    max_mutators: None,
    duration: DurationUse::Optional(
        "Repeat rounds over the depths until this many seconds have passed, instead of \
         --iterations (optional: the workload is sized by --depth and --iterations).",
    ),
};

/// The Benchmarks Game's binary-trees, its depths in parallel on a rayon pool of mutators.
#[derive(Parser, Debug)]
#[command(name = "binary-trees-rayon", version)]
struct Cli {
    /// The long-lived tree's depth and the deepest short-lived trees (4..=24).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=24), allow_negative_numbers = true)]
    depth: u32,
    /// Rounds over the depths (ignored with --duration).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    iterations: u64,
    #[command(flatten)]
    common: Args,
}

/// One depth's task in one round: its trees built, checked and dropped on whichever
/// worker took it. Returns the summed checks and the latencies.
fn depth_task<B: Barrier>(
    pool: &MutatorPool<B>,
    max: u32,
    d: u32,
    progress: &Progress,
) -> (u64, LatencyRecorder) {
    pool.with_mutator(|m| {
        let mut latency = latency_histogram();
        let mut sum = 0;
        for _ in 0..trees::trees_per_round(max, d) {
            let start = Instant::now();
            let tree = trees::make_tree_with_handles(m, &NODE, d);
            sum += trees::count_with_handles(&tree);
            drop(tree);
            latency.saturating_record(start.elapsed().as_nanos() as u64);
            progress.advance(trees::nodes(d));
        }
        (sum, latency)
    })
}

/// What the parallel rounds did: per depth the trees built and their summed checks, the
/// rounds, and the latencies.
struct Rounds {
    trees: Vec<u64>,
    checks: Vec<u64>,
    rounds: u64,
    latency: LatencyRecorder,
}

/// Runs rounds of the depths in parallel on `pool` until `rounds` are done or, with a
/// deadline, it has passed.
fn parallel_rounds<B: Barrier>(
    pool: &MutatorPool<B>,
    max: u32,
    rounds: u64,
    deadline: Option<Instant>,
    progress: &Progress,
) -> Rounds {
    let ds = trees::depths(max);
    let mut r = Rounds {
        trees: vec![0; ds.len()],
        checks: vec![0; ds.len()],
        rounds: 0,
        latency: latency_histogram(),
    };
    loop {
        let results: Vec<(u64, LatencyRecorder)> = pool.install(|| {
            ds.par_iter()
                .map(|&d| depth_task(pool, max, d, progress))
                .collect()
        });
        for (i, (sum, latency)) in results.into_iter().enumerate() {
            r.checks[i] += sum;
            r.trees[i] += trees::trees_per_round(max, ds[i]);
            r.latency
                .add(&latency)
                .expect("histograms of one shape add");
        }
        r.rounds += 1;
        let more = match deadline {
            Some(t) => Instant::now() < t,
            None => r.rounds < rounds,
        };
        if !more {
            return r;
        }
    }
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("depth".into(), json!(cli.depth));
    own.insert("iterations".into(), json!(cli.iterations));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, binary_trees_rayon(&cli, run));
    std::process::exit(status);
}

fn binary_trees_rayon<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let max = cli.depth;
    let duration = cli.common.duration.map(Duration::from_secs_f64);
    let work: u64 = trees::depths(max)
        .iter()
        .map(|&d| trees::trees_per_round(max, d) * trees::nodes(d))
        .sum::<u64>()
        * cli.iterations
        + trees::nodes(max + 1)
        + trees::nodes(max);
    let goal = duration.map_or(Goal::Work(work), Goal::Time);
    let heap = run
        .heap::<B>(goal)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let pool = heap
        .mutator_pool(cli.common.mutators)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &format!("cannot start the pool: {e}")));
    let deadline = duration.map(|d| Instant::now() + d);
    let m = heap.mutator();
    let progress = run.progress();

    let stretch = trees::make_tree_with_handles(&m, &NODE, max + 1);
    let stretch_check = trees::count_with_handles(&stretch);
    drop(stretch);
    progress.advance(trees::nodes(max + 1));
    let long_lived = trees::make_tree_with_handles(&m, &NODE, max);
    progress.advance(trees::nodes(max));

    // The pool runs while this thread's mutator blocks (it holds the long-lived tree).
    let r = m.blocking(|| parallel_rounds(&pool, max, cli.iterations, deadline, progress));
    let long_lived_check = trees::count_with_handles(&long_lived);
    drop(long_lived);
    drop(m);
    let pool_threads = pool.current_num_threads();
    drop(pool);

    let mut text = vec![format!(
        "stretch tree of depth {}\t check: {stretch_check}",
        max + 1
    )];
    let mut rows = Vec::new();
    let mut checks_ok =
        stretch_check == trees::nodes(max + 1) && long_lived_check == trees::nodes(max);
    for (i, &d) in trees::depths(max).iter().enumerate() {
        let (trees, sum) = (r.trees[i], r.checks[i]);
        let expected = trees * trees::nodes(d);
        checks_ok &= sum == expected;
        text.push(format!("{trees}\t trees of depth {d}\t check: {sum}"));
        rows.push(json!({"depth": d, "trees": trees, "check": sum, "expected": expected, "ok": sum == expected}));
    }
    text.push(format!(
        "long lived tree of depth {max}\t check: {long_lived_check}"
    ));
    let findings = json!({
        "stretch": {"depth": max + 1, "check": stretch_check, "ok": stretch_check == trees::nodes(max + 1)},
        "long_lived": {"depth": max, "check": long_lived_check, "ok": long_lived_check == trees::nodes(max)},
        "depths": rows,
        "rounds": [r.rounds],
        "pool_threads": pool_threads,
        "checks_ok": checks_ok,
    });
    let show = run.text();
    let summary: workloads::harness::Summary = run
        .finish(&heap, &r.latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        for line in &text {
            println!("{line}");
        }
        println!(
            "{:.0} ms on a pool of {pool_threads} mutators; {} collections, pauses p50 {:.2} ms, \
             max {:.2} ms; tree p99 {:.2} ms; heap peak {:.1} MiB",
            summary.wall_s * 1e3,
            summary.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            summary.mutator_latency_ns.p99 as f64 / 1e6,
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
    }
    if !checks_ok {
        eprintln!("binary-trees-rayon: failed: a tree check was wrong");
        return 1;
    }
    exit_status(&summary)
}
