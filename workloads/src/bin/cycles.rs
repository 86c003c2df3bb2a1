//! cycles: which reference cycles the collector reclaims when they carry finalizers or
//! cleanups (`SEMANTICS.md` S46, and S28 for the self-pointer).
//!
//! Builds three unreachable structures and watches them over `--rounds` rounds of one
//! full cycle (`Mutator::gc`, Go's `runtime.GC()`) followed by draining the finalizer and
//! cleanup queues:
//! - a two-object cycle A ↔ B, each with a finalizer: never collected, and no finalizer
//!   runs (each member's finalizer special marks the other);
//! - a two-object cycle C ↔ D, each with only a cleanup: collected, both cleanups run in
//!   the same cycle;
//! - a self-pointer E → E with a finalizer: not such a cycle, finalized in the first one.
//!
//! Everything in the findings is observed, not assumed: whether an object is still
//! allocated comes from `Heap::is_allocated` on its reference (kept as a number, which
//! does not keep it alive), and the callbacks record the round they ran in. Findings:
//! `finalizer_cycle: {collected, finalizers_run}`, `cleanup_cycle: {collected,
//! cleanups_run, in_cycles}` (`in_cycles`: how many rounds ran at least one of them),
//! `self_pointer: {collected, finalizers_run, finalized_in_cycle}` (the round, from 1, in
//! which its finalizer ran; 0 if it never did), `rounds`, and `matches_semantics`
//! (whether all of these are what S46 says). A mismatch makes the exit status 1. With
//! `--check-leaks` the leak checker reports the finalizer cycle (a finalizer that reaches
//! its own object) in `leaks.callback_leak_reports`, and the exit status is 1 as for any
//! leak.
//!
//! `cargo run --release -p workloads --bin cycles -- [--rounds 5] [--json]`

use clap::Parser;
use collector::{Barrier, Shape};
use serde_json::{json, Map};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// A cycle member: one reference slot (the next member) and a data word, so that it is
/// never a pointer-free tiny object (S51).
static NODE: Shape = Shape::new("cycle node", 1, 1);

/// The round being run (from 1), read by the callbacks to say when they ran.
static ROUND: AtomicU64 = AtomicU64::new(0);
/// Finalizers run on the A ↔ B cycle.
static FIN_CYCLE_RUNS: AtomicU64 = AtomicU64::new(0);
/// Cleanups run on the C ↔ D cycle.
static CLEANUP_RUNS: AtomicU64 = AtomicU64::new(0);
/// Bit r-1 set: a C ↔ D cleanup ran in round r (rounds above 64 share the top bit).
static CLEANUP_ROUNDS: AtomicU64 = AtomicU64::new(0);
/// Finalizers run on E.
static SELF_RUNS: AtomicU64 = AtomicU64::new(0);
/// The round E's finalizer ran in (0: not yet).
static SELF_ROUND: AtomicU64 = AtomicU64::new(0);

const WORKLOAD: Workload = Workload {
    name: "cycles",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("cycles is sized by --rounds"),
};

/// cycles: which reference cycles are collected with finalizers or cleanups on them.
#[derive(Parser, Debug)]
#[command(name = "cycles", version)]
struct Cli {
    /// Rounds of one full cycle followed by draining the finalizer and cleanup queues.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000), allow_negative_numbers = true)]
    rounds: u64,
    #[command(flatten)]
    common: Args,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("rounds".into(), json!(cli.rounds));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, cycles(&cli, run));
    std::process::exit(status);
}

fn cycles<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let heap = run
        .heap::<B>(Goal::Work(cli.rounds))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut latency = latency_histogram();

    // (a) A ↔ B, both finalized.
    let a = m.alloc(&NODE);
    let b = m.alloc(&NODE);
    a.set(0, Some(&b));
    b.set(0, Some(&a));
    for h in [&a, &b] {
        m.set_finalizer(h, |_| {
            FIN_CYCLE_RUNS.fetch_add(1, SeqCst);
        });
    }
    // (b) C ↔ D, cleanups only.
    let c = m.alloc(&NODE);
    let d = m.alloc(&NODE);
    c.set(0, Some(&d));
    d.set(0, Some(&c));
    for h in [&c, &d] {
        m.add_cleanup(h, (), |()| {
            CLEANUP_RUNS.fetch_add(1, SeqCst);
            let r = ROUND.load(SeqCst).clamp(1, 64);
            CLEANUP_ROUNDS.fetch_or(1 << (r - 1), SeqCst);
        });
    }
    // (c) E → E, finalized.
    let e = m.alloc(&NODE);
    e.set(0, Some(&e));
    m.set_finalizer(&e, |_| {
        SELF_RUNS.fetch_add(1, SeqCst);
        let _ = SELF_ROUND.compare_exchange(0, ROUND.load(SeqCst), SeqCst, SeqCst);
    });

    let refs = |hs: &[&collector::Handle<'_, B>]| hs.iter().map(|h| h.reference()).collect();
    let (fin_refs, cleanup_refs, self_refs): (Vec<_>, Vec<_>, Vec<_>) =
        (refs(&[&a, &b]), refs(&[&c, &d]), refs(&[&e]));
    drop((a, b, c, d, e));

    for r in 1..=cli.rounds {
        ROUND.store(r, SeqCst);
        let t = std::time::Instant::now();
        m.gc();
        m.drain_finalizers();
        m.drain_cleanups();
        latency.saturating_record(t.elapsed().as_nanos() as u64);
        run.progress().advance(1);
    }
    drop(m);

    let gone = |rs: &[collector::Ref]| rs.iter().all(|r| !heap.is_allocated(*r));
    let fin_collected = gone(&fin_refs);
    let cleanup_collected = gone(&cleanup_refs);
    let self_collected = gone(&self_refs);
    let fin_runs = FIN_CYCLE_RUNS.load(SeqCst);
    let cleanup_runs = CLEANUP_RUNS.load(SeqCst);
    let in_cycles = u64::from(CLEANUP_ROUNDS.load(SeqCst).count_ones());
    let self_runs = SELF_RUNS.load(SeqCst);
    let self_round = SELF_ROUND.load(SeqCst);
    let ok = !fin_collected
        && fin_runs == 0
        && cleanup_collected
        && cleanup_runs == 2
        && in_cycles == 1
        && self_runs == 1
        && self_round == 1
        // E is freed the first cycle after its finalizer returned (two-cycle reclamation).
        && (cli.rounds < 2 || self_collected);

    let findings = json!({
        "rounds": cli.rounds,
        "finalizer_cycle": {"collected": fin_collected, "finalizers_run": fin_runs},
        "cleanup_cycle": {
            "collected": cleanup_collected,
            "cleanups_run": cleanup_runs,
            "in_cycles": in_cycles,
        },
        "self_pointer": {
            "collected": self_collected,
            "finalizers_run": self_runs,
            "finalized_in_cycle": self_round,
        },
        "matches_semantics": ok,
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!("cycles: {} rounds of gc + drain", cli.rounds);
        println!("A <-> B, finalizers:  collected {fin_collected}, finalizers run {fin_runs}");
        println!(
            "C <-> D, cleanups:    collected {cleanup_collected}, cleanups run {cleanup_runs} in {in_cycles} cycle(s)"
        );
        println!(
            "E -> E, finalizer:    collected {self_collected}, finalizer run {self_runs} (cycle {self_round})"
        );
        println!("matches S46: {ok}");
    }
    if !ok {
        eprintln!("cycles: failed: the observed behaviour differs from S46");
        return 1;
    }
    exit_status(&summary)
}
