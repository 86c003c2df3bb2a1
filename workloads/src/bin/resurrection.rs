//! resurrection: a finalizer that stores its object into a global, with a cleanup and a
//! weak handle on the same object (`SEMANTICS.md` S47, S48).
//!
//! One object X (one reference slot, one data word) gets a finalizer that stores X into
//! slot 0 of a global (`Mutator::alloc_global`, Go's package-level variable), a cleanup,
//! and a weak handle (`Mutator::weak`, Go's `weak.Make`). Its handle is dropped and
//! `--rounds` rounds run of one full cycle (`Mutator::gc`) then draining both queues;
//! then the global's slot is cleared (the resurrected reference dropped) and `--rounds`
//! more rounds run. Rounds are numbered from 1 across both phases, and the callbacks and
//! the weak handle's state record the round they were seen in.
//!
//! Findings: `finalizer_runs` (1: the special was removed when it was queued, S47),
//! `finalizer_round`, `weak_cleared_at_cycle` (the round after which the weak handle was
//! first gone: 1, before the finalizer ran), `weak_gone_in_finalizer` (the finalizer saw
//! it gone), `weak_stays_cleared` (gone at every round after, resurrection included),
//! `cleanup_runs`, `cleanup_round`, `cleanup_ran_after_finalizer` (the cleanup ran, at a
//! later round than the finalizer, after the object died again: S48),
//! `second_death_runs_finalizer` (false), `collected` (X freed at the end),
//! `resurrected_round` (the first round of the second phase) and `matches_semantics`. A
//! mismatch makes the exit status 1.
//!
//! `cargo run --release -p workloads --bin resurrection -- [--rounds 3] [--json]`

use clap::Parser;
use collector::{Barrier, Shape};
use serde_json::{json, Map};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The object: a reference slot and a data word (never a pointer-free tiny object).
static OBJ: Shape = Shape::new("resurrected", 1, 1);
/// The global the finalizer stores the object into.
static SINK: Shape = Shape::new("sink", 1, 0);

/// The round being run (from 1).
static ROUND: AtomicU64 = AtomicU64::new(0);
static FIN_RUNS: AtomicU64 = AtomicU64::new(0);
static FIN_ROUND: AtomicU64 = AtomicU64::new(0);
static CLEANUP_RUNS: AtomicU64 = AtomicU64::new(0);
static CLEANUP_ROUND: AtomicU64 = AtomicU64::new(0);
static WEAK_GONE_IN_FIN: AtomicBool = AtomicBool::new(false);

const WORKLOAD: Workload = Workload {
    name: "resurrection",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("resurrection is sized by --rounds"),
};

/// resurrection: a finalizer that resurrects its object, with a cleanup and a weak handle.
#[derive(Parser, Debug)]
#[command(name = "resurrection", version)]
struct Cli {
    /// Rounds of gc + drain before the resurrected reference is dropped, and again after.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=1000), allow_negative_numbers = true)]
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
    let status = with_barrier!(cli.common.barrier, resurrection(&cli, run));
    std::process::exit(status);
}

fn first(cell: &AtomicU64) {
    let _ = cell.compare_exchange(0, ROUND.load(SeqCst), SeqCst, SeqCst);
}

fn resurrection<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let heap = run
        .heap::<B>(Goal::Work(2 * cli.rounds))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut latency = latency_histogram();

    let sink = m.alloc_global(&SINK);
    let x = m.alloc(&OBJ);
    let weak = m.weak(&x);
    let weak_in_fin = weak.clone();
    m.set_finalizer(&x, move |h| {
        FIN_RUNS.fetch_add(1, SeqCst);
        first(&FIN_ROUND);
        WEAK_GONE_IN_FIN.store(weak_in_fin.is_gone(), SeqCst);
        h.mutator().global(&sink).set(0, Some(&h));
    });
    m.add_cleanup(&x, (), |()| {
        CLEANUP_RUNS.fetch_add(1, SeqCst);
        first(&CLEANUP_ROUND);
    });
    let x_ref = x.reference();
    drop(x);

    let mut weak_cleared_at = 0;
    let mut weak_stays = true;
    let mut round = 0;
    let mut step = |m: &collector::Mutator<B>| {
        round += 1;
        ROUND.store(round, SeqCst);
        let t = std::time::Instant::now();
        m.gc();
        m.drain_finalizers();
        m.drain_cleanups();
        latency.saturating_record(t.elapsed().as_nanos() as u64);
        run.progress().advance(1);
        match (weak.is_gone(), weak_cleared_at) {
            (true, 0) => weak_cleared_at = round,
            (false, c) if c > 0 => weak_stays = false,
            _ => {}
        }
    };
    for _ in 0..cli.rounds {
        step(&m);
    }
    let resurrected = m.global(&sink).get(0).is_some();
    m.global(&sink).set(0, None);
    for _ in 0..cli.rounds {
        step(&m);
    }
    drop(m);

    let fin_runs = FIN_RUNS.load(SeqCst);
    let fin_round = FIN_ROUND.load(SeqCst);
    let cleanup_runs = CLEANUP_RUNS.load(SeqCst);
    let cleanup_round = CLEANUP_ROUND.load(SeqCst);
    let weak_gone_in_fin = WEAK_GONE_IN_FIN.load(SeqCst);
    let cleanup_after = cleanup_runs == 1 && cleanup_round > fin_round && fin_round > 0;
    let second_death_fin = fin_runs > 1;
    let collected = !heap.is_allocated(x_ref);
    let ok = fin_runs == 1
        && fin_round == 1
        && resurrected
        && weak_cleared_at == 1
        && weak_gone_in_fin
        && weak_stays
        && cleanup_after
        && cleanup_round > cli.rounds
        && !second_death_fin
        && collected;

    let findings = json!({
        "rounds": cli.rounds,
        "finalizer_runs": fin_runs,
        "finalizer_round": fin_round,
        "resurrected": resurrected,
        "resurrection_dropped_after_round": cli.rounds,
        "weak_cleared_at_cycle": weak_cleared_at,
        "weak_gone_in_finalizer": weak_gone_in_fin,
        "weak_stays_cleared": weak_stays,
        "cleanup_runs": cleanup_runs,
        "cleanup_round": cleanup_round,
        "cleanup_ran_after_finalizer": cleanup_after,
        "second_death_runs_finalizer": second_death_fin,
        "collected": collected,
        "matches_semantics": ok,
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "resurrection: {} rounds resurrected, {} after",
            cli.rounds, cli.rounds
        );
        println!("finalizer ran {fin_runs} time(s), first in round {fin_round}");
        println!(
            "weak handle gone after round {weak_cleared_at} (in the finalizer: {weak_gone_in_fin}), stays gone: {weak_stays}"
        );
        println!("cleanup ran {cleanup_runs} time(s), in round {cleanup_round}");
        println!("object collected: {collected}; matches S47/S48: {ok}");
    }
    if !ok {
        eprintln!("resurrection: failed: the observed behaviour differs from S47/S48");
        return 1;
    }
    exit_status(&summary)
}
