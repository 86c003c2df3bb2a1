//! binary-trees, the Benchmarks Game's shape on several mutator threads: a stretch tree of
//! depth `max + 1` is built, checked and dropped; a long-lived tree of depth `max` stays
//! live throughout; then, for each depth `4, 6, … ≤ max`, `2^(max - depth + 4)` short-lived
//! trees are built bottom-up, checked (their nodes counted) and dropped, shared out among
//! the `--mutators` threads (default 2), each with its own `collector::Mutator`.
//!
//! Sized by `--depth` (default 16) and `--iterations` (rounds over the depths, default 1);
//! `--duration` instead repeats rounds until that many seconds have passed (each thread
//! finishes the round it is in). One operation of the latency histogram is building and
//! checking one short-lived tree. A tree of depth d has 2^(d+1) - 1 nodes; each check
//! must say so. Findings: `stretch` and `long_lived` (`depth`, `check`, `ok`), `depths`
//! (per depth: `trees` built, summed `check`, `expected` = trees × (2^(d+1) - 1), `ok`),
//! `rounds` per thread, and `checks_ok` (every check right; false makes the exit status 1).
//!
//! With `--api scope` (the default) each tree is built and checked on `Gc` references in
//! scopes of at most 2,047 nodes (`workloads::trees`: the levels above go through
//! handles), where a Go program uses plain pointers; `--api handle` builds and walks
//! trees through handles, a root per live node reference.
//!
//! `cargo run --release -p workloads --bin binary-trees -- [--depth 16] [--mutators 2] [--api handle|scope]`

use clap::Parser;
use collector::{Barrier, Heap, Mutator, Shape};
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
    name: "binary-trees",
    mutators: 2,
    max_mutators: None,
    duration: DurationUse::Optional(
        "Repeat rounds over the depths until this many seconds have passed, instead of \
         --iterations (optional: the workload is sized by --depth and --iterations).",
    ),
};

/// The Benchmarks Game's binary-trees on the collector testbed.
#[derive(Parser, Debug)]
#[command(name = "binary-trees", version)]
struct Cli {
    /// The long-lived tree's depth and the deepest short-lived trees (4..=24).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=24), allow_negative_numbers = true)]
    depth: u32,
    /// Rounds over the depths (ignored with --duration).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    iterations: u64,
    /// How trees are built and walked: `scope` (Gc references in bounded scopes)
    /// or `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
    #[command(flatten)]
    common: Args,
}

/// Builds a tree of `depth`, checks it and drops it; returns the check.
fn build_and_check<B: Barrier>(m: &Mutator<B>, scope: bool, depth: u32) -> u64 {
    if scope {
        return trees::count(m, &trees::make_tree(m, &NODE, depth));
    }
    trees::count_with_handles(&trees::make_tree_with_handles(m, &NODE, depth))
}

/// What a run is: the maximum depth, the rounds, and the API.
#[derive(Clone, Copy)]
struct Plan {
    max: u32,
    rounds: u64,
    scope: bool,
}

/// What one mutator thread did: per depth (in `depths` order) the trees it built and
/// their summed checks, its rounds, and its latencies.
struct Share {
    trees: Vec<u64>,
    checks: Vec<u64>,
    rounds: u64,
    latency: LatencyRecorder,
}

/// Mutator thread `index` of `threads`: its share of every depth's trees, round after
/// round until `rounds` are done or, with a deadline, until it has passed.
fn worker<B: Barrier>(
    heap: &Heap<B>,
    index: u64,
    threads: u64,
    plan: Plan,
    deadline: Option<Instant>,
    progress: &Progress,
) -> Share {
    let Plan { max, rounds, scope } = plan;
    let m = heap.mutator();
    let ds = trees::depths(max);
    let mut share = Share {
        trees: vec![0; ds.len()],
        checks: vec![0; ds.len()],
        rounds: 0,
        latency: latency_histogram(),
    };
    loop {
        for (i, &d) in ds.iter().enumerate() {
            let per_round = trees::trees_per_round(max, d);
            let mine = per_round / threads + u64::from(index < per_round % threads);
            for _ in 0..mine {
                let start = Instant::now();
                let c = build_and_check(&m, scope, d);
                share
                    .latency
                    .saturating_record(start.elapsed().as_nanos() as u64);
                share.checks[i] += c;
                share.trees[i] += 1;
                progress.advance(trees::nodes(d));
            }
        }
        share.rounds += 1;
        let more = match deadline {
            Some(t) => Instant::now() < t,
            None => share.rounds < rounds,
        };
        if !more {
            return share;
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
    let status = with_barrier!(cli.common.barrier, binary_trees(&cli, run));
    std::process::exit(status);
}

fn binary_trees<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let max = cli.depth;
    let threads = cli.common.mutators as u64;
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
    let deadline = duration.map(|d| Instant::now() + d);
    let m = heap.mutator();
    let progress = run.progress();

    let plan = Plan {
        max,
        rounds: cli.iterations,
        scope: cli.api == "scope",
    };
    let stretch_check = build_and_check(&m, plan.scope, max + 1);
    progress.advance(trees::nodes(max + 1));
    let long_lived = if plan.scope {
        trees::make_tree(&m, &NODE, max)
    } else {
        trees::make_tree_with_handles(&m, &NODE, max)
    };
    progress.advance(trees::nodes(max));

    // The workers run while this thread's mutator blocks (it holds the long-lived tree).
    let shares: Vec<Share> = m.blocking(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let heap = &heap;
                    s.spawn(move || worker(heap, i, threads, plan, deadline, progress))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a mutator thread panicked"))
                .collect()
        })
    });
    let long_lived_check = if plan.scope {
        trees::count(&m, &long_lived)
    } else {
        trees::count_with_handles(&long_lived)
    };
    drop(long_lived);
    drop(m);

    let mut latency = latency_histogram();
    let mut text = vec![format!(
        "stretch tree of depth {}\t check: {stretch_check}",
        max + 1
    )];
    let mut rows = Vec::new();
    let mut checks_ok =
        stretch_check == trees::nodes(max + 1) && long_lived_check == trees::nodes(max);
    for (i, &d) in trees::depths(max).iter().enumerate() {
        let trees: u64 = shares.iter().map(|s| s.trees[i]).sum();
        let sum: u64 = shares.iter().map(|s| s.checks[i]).sum();
        let expected = trees * trees::nodes(d);
        checks_ok &= sum == expected;
        text.push(format!("{trees}\t trees of depth {d}\t check: {sum}"));
        rows.push(json!({"depth": d, "trees": trees, "check": sum, "expected": expected, "ok": sum == expected}));
    }
    text.push(format!(
        "long lived tree of depth {max}\t check: {long_lived_check}"
    ));
    for s in &shares {
        latency
            .add(&s.latency)
            .expect("histograms of one shape add");
    }
    let findings = json!({
        "api": if plan.scope { "scope" } else { "handle" },
        "stretch": {"depth": max + 1, "check": stretch_check, "ok": stretch_check == trees::nodes(max + 1)},
        "long_lived": {"depth": max, "check": long_lived_check, "ok": long_lived_check == trees::nodes(max)},
        "depths": rows,
        "rounds": shares.iter().map(|s| s.rounds).collect::<Vec<u64>>(),
        "checks_ok": checks_ok,
    });
    let show = run.text();
    let summary: workloads::harness::Summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        for line in &text {
            println!("{line}");
        }
        println!(
            "{:.0} ms on {threads} mutators; {} collections, pauses p50 {:.2} ms, max {:.2} ms; \
             tree p99 {:.2} ms; heap peak {:.1} MiB",
            summary.wall_s * 1e3,
            summary.gc_cycles,
            summary.pause_ns.p50 as f64 / 1e6,
            summary.pause_ns.max as f64 / 1e6,
            summary.mutator_latency_ns.p99 as f64 / 1e6,
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
    }
    if !checks_ok {
        eprintln!("binary-trees: failed: a tree check was wrong");
        return 1;
    }
    exit_status(&summary)
}
