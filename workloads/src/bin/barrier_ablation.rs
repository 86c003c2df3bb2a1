//! barrier-ablation: `--mutators` threads (default 2) mutate one shared random graph
//! concurrently under the `--barrier` chosen, so that a run shows which write barriers
//! keep every reachable object alive while the collector marks concurrently (the
//! default) or in one stop-the-world pause (`--stw`). Run it with `--verify`: checkmark
//! re-traces every cycle and counts the objects a cycle freed while they were reachable.
//!
//! The graph hangs off one global: an array object of `--nodes` node slots (default
//! 10000), each node with 4 reference slots and one data word. Each mutator, until
//! `--duration` (default 2 s) has passed, repeats operations on random nodes:
//!
//! * **move** (60%) — the hidden-pointer pattern: load a node's child into a handle,
//!   delete it from its parent, then store it into a slot of another node;
//! * **replace** (20%) — allocate a replacement node, copy the old node's children into
//!   it, and store it into the array over the old one;
//! * **walk** (20%) — follow references a few steps from a node, reading data words.
//!
//! Before that, `--driven-rounds` rounds (default 100) force the lost-object interleaving
//! instead of waiting for it, on a small heap of their own (concurrent, GOGC off,
//! verification always on) whose cycles this thread steps through `Heap::begin_cycle`: a
//! global holds Y → Z; the cycle scans the roots; the mutator loads Z into a new handle (a
//! root scanned already) and deletes Y → Z before the mark reaches Y; then the mark and
//! mark termination run. Without a barrier nothing marks Z, so every round loses it
//! (verification counts it, and Z's data word reads back poisoned); the deletion barrier
//! (hybrid, Yuasa) or Dijkstra's rescan of the roots keeps it in every round.
//!
//! Cycles start on their own (GOGC). Under `none` a cycle can free an object that is still
//! reachable, and a later load of it panics "use of a freed object": each operation runs
//! inside `catch_unwind`, so such a load is counted as a `stale_load` and ends its mutator
//! cleanly (its handles are dropped during the unwind, before the mutator). One operation
//! of the latency histogram is one of these operations.
//!
//! Findings: `barrier`, `driven` (`rounds`, `rounds_lost`: rounds in which verification
//! found Z lost, `rounds_poisoned`: rounds whose Z read back poisoned, `lost_objects`),
//! `lost_objects` (of the free-running graph, from the heap's verifier; its rate in
//! `lost_per_cycle` over the cycles verification checked), `barrier_slow_paths`
//! (reference stores made while marking was on), `stale_loads`,
//! `stopped_mutators`, `ops` (and `moves`, `replaces`, `walks`), `gc_cycles`,
//! `mark_termination_pause_ns` and `sweep_termination_pause_ns` (percentiles of the
//! cycles' `clock_mark_term_ns` and `clock_sweep_term_ns`). The exit status is 0 when
//! `none` loses objects (that is the finding) but 1 when a real barrier loses any or
//! one of its loads is stale, and 1 when `none` keeps Z in a driven round (the ablation
//! would then show nothing).
//!
//! `cargo run --release -p workloads --bin barrier-ablation -- --barrier none --verify`

use clap::Parser;
use collector::{Barrier, BarrierKind, Global, Gogc, Handle, Heap, HeapConfig, Mutator, Shape};
use serde_json::{json, Map};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run, SplitMix64};
use workloads::harness::LatencyStats;
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The global: the node array.
static ROOT: Shape = Shape::new("ablation root", 1, 0);
/// A node: 4 references and an id word.
static NODE: Shape = Shape::new("ablation node", 4, 1);
/// Reference slots of a node.
const SLOTS: u64 = 4;
/// Steps of a walk.
const WALK: usize = 4;

const WORKLOAD: Workload = Workload {
    name: "barrier-ablation",
    mutators: 2,
    max_mutators: None,
    duration: DurationUse::Default("2"),
};

/// barrier-ablation: concurrent mutators re-link a shared graph under each write barrier.
#[derive(Parser, Debug)]
#[command(name = "barrier-ablation", version)]
struct Cli {
    /// Node slots of the shared array (16..=1000000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(16..=1_000_000), allow_negative_numbers = true)]
    nodes: u64,
    /// Rounds of the driven lost-object interleaving before the free-running graph (0..=100000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000), allow_negative_numbers = true)]
    driven_rounds: u64,
    #[command(flatten)]
    common: Args,
}

/// What one mutator thread did.
struct Tally {
    moves: u64,
    replaces: u64,
    walks: u64,
    stale_loads: u64,
    latency: LatencyRecorder,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("nodes".into(), json!(cli.nodes));
    own.insert("driven_rounds".into(), json!(cli.driven_rounds));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    // A stale load under `none` is expected and caught: keep its panic message quiet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.contains("use of a freed object") {
            default_hook(info);
        }
    }));
    let status = with_barrier!(cli.common.barrier, ablation(&cli, run));
    std::process::exit(status);
}

/// One operation on the graph; returns which kind it was (0 move, 1 replace, 2 walk).
fn operation<B: Barrier>(m: &Mutator<B>, root: &Global, n: u64, rng: &mut SplitMix64) -> usize {
    let array = m.global(root).get(0).expect("the node array");
    let pick = |rng: &mut SplitMix64| rng.below(n) as usize;
    let kind = rng.below(100);
    if kind < 60 {
        let (i, j) = (pick(rng), pick(rng));
        let (s, t) = (rng.below(SLOTS) as usize, rng.below(SLOTS) as usize);
        if let Some(a) = array.get(i) {
            // Load into a handle, delete from the parent, store elsewhere.
            let child = a.get(s);
            a.set(s, None);
            if let Some(b) = array.get(j) {
                b.set(t, child.as_ref());
            }
        }
        0
    } else if kind < 80 {
        let i = pick(rng);
        let fresh = m.alloc(&NODE);
        fresh.write(0, rng.next_u64());
        if let Some(old) = array.get(i) {
            for s in 0..SLOTS as usize {
                let c = old.get(s);
                fresh.set(s, c.as_ref());
            }
        }
        array.set(i, Some(&fresh));
        1
    } else {
        let mut at: Option<Handle<'_, B>> = array.get(pick(rng));
        for _ in 0..WALK {
            let Some(h) = at else { break };
            std::hint::black_box(h.read(0));
            at = h.get(rng.below(SLOTS) as usize);
        }
        2
    }
}

/// Mutator thread `index`: operations until the deadline, or until a stale load.
fn worker<B: Barrier>(
    heap: &Heap<B>,
    root: &Global,
    n: u64,
    seed: u64,
    deadline: Instant,
    stop: &AtomicBool,
) -> Tally {
    let m = heap.mutator();
    let mut rng = SplitMix64::new(seed);
    let mut tally = Tally {
        moves: 0,
        replaces: 0,
        walks: 0,
        stale_loads: 0,
        latency: latency_histogram(),
    };
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        for _ in 0..64 {
            let start = Instant::now();
            // Every handle of the operation lives inside the closure: an unwind drops
            // them all before this mutator goes.
            match catch_unwind(AssertUnwindSafe(|| operation(&m, root, n, &mut rng))) {
                Ok(0) => tally.moves += 1,
                Ok(1) => tally.replaces += 1,
                Ok(_) => tally.walks += 1,
                Err(_) => {
                    tally.stale_loads += 1;
                    return tally;
                }
            }
            tally
                .latency
                .saturating_record(start.elapsed().as_nanos() as u64);
        }
    }
    tally
}

/// The data word of the driven rounds' Z (round number added), so that a poisoned Z
/// cannot pass for a kept one.
const Z_WORD: u64 = 0x5a5a_0000;

/// What the driven rounds found.
struct Driven {
    rounds: u64,
    rounds_lost: u64,
    rounds_poisoned: u64,
    lost_objects: u64,
}

/// `rounds` rounds of the lost-object interleaving, stepped on this thread (see the
/// module's documentation), on a heap of their own with verification on.
fn driven<B: Barrier>(rounds: u64) -> Driven {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let root = m.alloc_global(&ROOT);
    let mut found = Driven {
        rounds,
        rounds_lost: 0,
        rounds_poisoned: 0,
        lost_objects: 0,
    };
    for round in 0..rounds {
        {
            let (y, z) = (m.alloc(&NODE), m.alloc(&NODE));
            z.write(0, Z_WORD + round);
            y.set(0, Some(&z));
            m.global(&root).set(0, Some(&y));
        }
        let before = heap.lost_objects();
        let mut cycle = m.blocking(|| heap.begin_cycle());
        // No handle is live: the collector scans this mutator's (empty) roots itself.
        m.blocking(|| cycle.scan_roots());
        let z = {
            let y = m.global(&root).get(0).expect("Y hangs off the global");
            let z = y.get(0).expect("Y still links Z");
            y.set(0, None);
            z
        };
        m.blocking(|| {
            cycle.mark();
            cycle.finish();
        });
        found.rounds_lost += u64::from(heap.lost_objects() > before);
        found.rounds_poisoned += u64::from(z.read(0) != Z_WORD + round);
    }
    found.lost_objects = heap.lost_objects();
    found
}

/// The `--mutators` threads, each running [`worker`] until the deadline; their tallies.
fn run_mutators<B: Barrier>(
    heap: &Heap<B>,
    root: &Global,
    cli: &Cli,
    deadline: Instant,
) -> Vec<Tally> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..cli.common.mutators as u64)
            .map(|i| {
                let stop = &stop;
                let seed = cli.common.seed.wrapping_mul(1000).wrapping_add(i + 1);
                s.spawn(move || worker(heap, root, cli.nodes, seed, deadline, stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a mutator thread panicked"))
            .collect()
    })
}

/// The shared graph: an array of `n` nodes under the global, each node's slots pointing
/// at random nodes.
fn build_graph<B: Barrier>(m: &Mutator<B>, root: &Global, array_shape: &Shape, n: u64, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let array = m.alloc(array_shape);
    m.global(root).set(0, Some(&array));
    for i in 0..n as usize {
        let node = m.alloc(&NODE);
        node.write(0, i as u64);
        array.set(i, Some(&node));
    }
    for i in 0..n as usize {
        let node = array.get(i).expect("a node");
        for s in 0..SLOTS as usize {
            let other = array.get(rng.below(n) as usize);
            node.set(s, other.as_ref());
        }
    }
}

fn ablation<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let driven = driven::<B>(cli.driven_rounds);
    let n = cli.nodes;
    let threads = cli.common.mutators as u64;
    let duration = Duration::from_secs_f64(cli.common.duration.unwrap_or(2.0));
    let heap = run
        .heap::<B>(Goal::Time(duration))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let root = m.alloc_global(&ROOT);
    // The array's shape is sized at run time; the heap reads it only while allocating.
    let array_shape = Shape::new("ablation array", n as u32, 0);
    build_graph(&m, &root, &array_shape, n, cli.common.seed);
    let deadline = Instant::now() + duration;
    let tallies = m.blocking(|| run_mutators(&heap, &root, cli, deadline));
    // Detach the graph so that a leak check finds nothing reachable.
    m.global(&root).set(0, None);
    drop(m);

    let mut latency = latency_histogram();
    for t in &tallies {
        latency
            .add(&t.latency)
            .expect("histograms of one shape add");
    }
    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let (moves, replaces, walks) = (sum(|t| t.moves), sum(|t| t.replaces), sum(|t| t.walks));
    let stale_loads = sum(|t| t.stale_loads);
    let stopped = tallies.iter().filter(|t| t.stale_loads > 0).count();
    heap.wait_for_background();
    let stats = heap.stats();
    let mark_term: Vec<u64> = stats.cycles.iter().map(|c| c.clock_mark_term_ns).collect();
    let sweep_term: Vec<u64> = stats.cycles.iter().map(|c| c.clock_sweep_term_ns).collect();
    let barrier = cli.common.barrier;
    let findings = json!({
        "barrier": barrier.name(),
        "concurrent": !cli.common.stw,
        "driven": {
            "rounds": driven.rounds,
            "rounds_lost": driven.rounds_lost,
            "rounds_poisoned": driven.rounds_poisoned,
            "lost_objects": driven.lost_objects,
        },
        "lost_objects": stats.lost_objects,
        "lost_per_cycle": (stats.cycles_checked > 0)
            .then(|| stats.lost_objects as f64 / stats.cycles_checked as f64),
        "stale_loads": stale_loads,
        "stopped_mutators": stopped,
        "ops": moves + replaces + walks,
        "moves": moves,
        "replaces": replaces,
        "walks": walks,
        "gc_cycles": stats.gc_cycles,
        "barrier_slow_paths": stats.barrier_slow_paths,
        "mark_termination_pause_ns": LatencyStats::from_values(&mark_term),
        "sweep_termination_pause_ns": LatencyStats::from_values(&sweep_term),
    });
    let show = run.text();
    let mut summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        let mt = LatencyStats::from_values(&mark_term);
        println!(
            "barrier {}: driven rounds losing Z {} of {}; {} ops on {threads} mutators; {} \
             cycles; lost objects {}; stale loads {stale_loads} ({stopped} mutators stopped); \
             mark termination p50 {:.3} ms, max {:.3} ms",
            barrier.name(),
            driven.rounds_lost,
            driven.rounds,
            moves + replaces + walks,
            summary.gc_cycles,
            summary.verify.lost_objects,
            mt.p50 as f64 / 1e6,
            mt.max as f64 / 1e6,
        );
    }
    let status = driven_status(barrier, &driven);
    if barrier == BarrierKind::None {
        if summary.verify.lost_objects > 0 || stale_loads > 0 {
            eprintln!(
                "barrier-ablation: without a barrier {} objects were lost and {stale_loads} \
                 loads were stale (the expected finding)",
                summary.verify.lost_objects
            );
        }
        // Losing objects is the finding of `none`, not a failure.
        summary.verify.lost_objects = 0;
        return status.max(exit_status(&summary));
    }
    if stale_loads > 0 {
        eprintln!("barrier-ablation: {stale_loads} stale loads under a real barrier");
        return 1.max(exit_status(&summary));
    }
    status.max(exit_status(&summary))
}

/// 1 when the driven rounds came out otherwise than the barrier says they must: `none`
/// keeping Z in a round, or a real barrier losing it in one.
fn driven_status(barrier: BarrierKind, d: &Driven) -> i32 {
    let lost = d.rounds_lost.max(d.rounds_poisoned);
    if barrier == BarrierKind::None && (d.rounds_lost < d.rounds || d.rounds_poisoned < d.rounds) {
        eprintln!(
            "barrier-ablation: without a barrier only {} of {} driven rounds lost Z ({} read \
             back poisoned)",
            d.rounds_lost, d.rounds, d.rounds_poisoned
        );
        return 1;
    }
    if barrier != BarrierKind::None && lost > 0 {
        eprintln!(
            "barrier-ablation: {} lost Z in {lost} of {} driven rounds",
            barrier.name(),
            d.rounds
        );
        return 1;
    }
    0
}
