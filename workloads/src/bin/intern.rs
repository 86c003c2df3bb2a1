//! intern: a canonicalizing map in the manner of Go's `unique` package, whose stale
//! entries are removed by cleanups (golang/go#71825).
//!
//! The map is a std `HashMap<u64, WeakHandle>` behind a std `Mutex`, outside the GC heap,
//! shared through an `Arc` with the cleanups. `intern(key)` returns a strong handle to the
//! heap object holding `key`: the live one if the map's weak handle still upgrades, or a
//! new one, inserted with a cleanup (`add_cleanup(obj, key, …)`) that removes `key` from
//! the map when its weak handle is gone (and not when a newer value took the key).
//!
//! `--mutators` threads (default 2) run for `--duration` seconds (default 2), interning
//! short-lived values at full speed: keys come from a shared growing counter, so most
//! values die at once (each mutator keeps only its last 8 values); one operation in four
//! re-interns a recent key instead (a hit when that value is still alive). Every
//! `--sample-every` operations a mutator samples the map's size. The map grows by every
//! value whose cleanup has not run yet: with one cleanup worker (`--cleanup-workers 1`)
//! the removals can fall behind the insertions; more workers bound the map.
//!
//! At the end every handle is dropped and two rounds of `gc()` then `drain_cleanups()`
//! run, so every dead value's cleanup has run. Findings: `cleanup_workers` (the pool's
//! size; its workers start lazily, as Go's, S40), `ops`, `inserted`, `hits`, `cleanups_run`, `map_size: {max, median,
//! samples, before_drain, final}` (`final` after the drain, at most `inserted`). No
//! timing is asserted; the exit status is the harness's.
//!
//! `cargo run --release -p workloads --bin intern -- [--duration 2] [--cleanup-workers 1]`

use clap::Parser;
use collector::{Barrier, Handle, Heap, Mutator, Shape, WeakHandle};
use serde_json::{json, Map};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run, SplitMix64};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// An interned value: its key and a payload word; one reference slot so that it is never
/// a pointer-free tiny object (S51), whose cleanup could wait on a neighbour.
static VALUE: Shape = Shape::new("interned value", 1, 2);

/// Values each mutator keeps alive (its most recent ones).
const KEEP: usize = 8;

const WORKLOAD: Workload = Workload {
    name: "intern",
    mutators: 2,
    max_mutators: None,
    duration: DurationUse::Default("2"),
};

/// intern: a unique-style canonicalizing map cleaned by cleanups.
#[derive(Parser, Debug)]
#[command(name = "intern", version)]
struct Cli {
    /// Operations between two samples of the map's size (per mutator).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000), allow_negative_numbers = true)]
    sample_every: u64,
    #[command(flatten)]
    common: Args,
}

/// The canonicalizing map, shared with the cleanups.
type InternMap = Arc<Mutex<HashMap<u64, WeakHandle>>>;

/// What the map and its cleanups share.
struct Shared {
    map: InternMap,
    cleanups: Arc<AtomicU64>,
    next_key: AtomicU64,
}

/// One mutator's tally.
#[derive(Default)]
struct Tally {
    ops: u64,
    inserted: u64,
    hits: u64,
    samples: Vec<u64>,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("sample_every".into(), json!(cli.sample_every));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, intern_run(&cli, run));
    std::process::exit(status);
}

/// Locks the map from a running mutator: the wait is in the blocking state, so a pause
/// never waits for a thread queued on the lock.
fn lock<'a, B: Barrier>(
    m: &Mutator<B>,
    map: &'a Mutex<HashMap<u64, WeakHandle>>,
) -> MutexGuard<'a, HashMap<u64, WeakHandle>> {
    m.blocking(|| map.lock().unwrap())
}

/// Go's `unique.Make`: the canonical value for `key`, and whether it was already there.
fn intern<'m, B: Barrier>(m: &'m Mutator<B>, shared: &Shared, key: u64) -> (Handle<'m, B>, bool) {
    let mut map = lock(m, &shared.map);
    if let Some(h) = map.get(&key).and_then(|w| w.upgrade(m)) {
        return (h, true);
    }
    let h = m.alloc(&VALUE);
    h.write(0, key);
    h.write(1, key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    map.insert(key, m.weak(&h));
    drop(map);
    let (map, ran) = (Arc::clone(&shared.map), Arc::clone(&shared.cleanups));
    m.add_cleanup(&h, key, move |key| {
        let mut map = map.lock().unwrap();
        if map.get(&key).is_some_and(WeakHandle::is_gone) {
            map.remove(&key);
        }
        ran.fetch_add(1, Relaxed);
    });
    (h, false)
}

fn worker<B: Barrier>(
    heap: &Heap<B>,
    shared: &Shared,
    cli: &Cli,
    index: u64,
    until: Instant,
) -> (Tally, LatencyRecorder) {
    let m = heap.mutator();
    let mut rng = SplitMix64::new(cli.common.seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
    let mut latency = latency_histogram();
    let mut tally = Tally::default();
    let mut kept: Vec<Option<Handle<'_, B>>> = (0..KEEP).map(|_| None).collect();
    while Instant::now() < until {
        for _ in 0..64 {
            let t = Instant::now();
            let key = if rng.below(4) == 0 {
                shared.next_key.load(Relaxed).saturating_sub(rng.below(64))
            } else {
                shared.next_key.fetch_add(1, Relaxed)
            };
            let (h, hit) = intern(&m, shared, key);
            assert_eq!(h.read(0), key, "the canonical value holds its key");
            kept[(tally.ops % KEEP as u64) as usize] = Some(h);
            latency.saturating_record(t.elapsed().as_nanos() as u64);
            tally.ops += 1;
            if hit {
                tally.hits += 1;
            } else {
                tally.inserted += 1;
            }
            if tally.ops % cli.sample_every == 0 {
                let size = lock(&m, &shared.map).len() as u64;
                tally.samples.push(size);
            }
        }
    }
    (tally, latency)
}

fn intern_run<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let duration =
        Duration::from_secs_f64(cli.common.duration.expect("intern has a default duration"));
    let config = cli.common.heap_config();
    let workers = config.cleanup_worker_count();
    let heap = run
        .heap_with::<B>(config, Goal::Time(duration))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let shared = Shared {
        map: InternMap::default(),
        cleanups: Arc::default(),
        next_key: AtomicU64::new(0),
    };
    let until = Instant::now() + duration;
    let results: Vec<(Tally, LatencyRecorder)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cli.common.mutators as u64)
            .map(|i| {
                let (heap, shared) = (&heap, &shared);
                s.spawn(move || worker(heap, shared, cli, i, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a mutator thread panicked"))
            .collect()
    });
    let mut latency = latency_histogram();
    let mut t = Tally::default();
    for (tally, h) in results {
        latency.add(&h).expect("histograms of one shape add");
        t.ops += tally.ops;
        t.inserted += tally.inserted;
        t.hits += tally.hits;
        t.samples.extend(tally.samples);
    }
    let before_drain = shared.map.lock().unwrap().len() as u64;
    // Every handle is gone: two rounds (a value allocated during the last mark survives
    // its cycle) of a full cycle and a drain run every dead value's cleanup.
    let m = heap.mutator();
    for _ in 0..2 {
        m.gc();
        m.drain_cleanups();
    }
    drop(m);
    let final_size = shared.map.lock().unwrap().len() as u64;
    let cleanups_run = shared.cleanups.load(Relaxed);
    let mut sorted = t.samples.clone();
    sorted.sort_unstable();
    let max = sorted.last().copied().unwrap_or(before_drain);
    let median = sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or(before_drain);
    let findings = json!({
        "cleanup_workers": workers,
        "ops": t.ops,
        "inserted": t.inserted,
        "hits": t.hits,
        "cleanups_run": cleanups_run,
        "map_size": {
            "max": max,
            "median": median,
            "samples": sorted.len(),
            "before_drain": before_drain,
            "final": final_size,
        },
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "intern: {} ops, {} inserted, {} hits, {workers} cleanup worker(s)",
            t.ops, t.inserted, t.hits
        );
        println!(
            "map size: max {max}, median {median} over {} samples; {before_drain} at the end, {final_size} after the drain; {cleanups_run} cleanups ran",
            sorted.len()
        );
    }
    exit_status(&summary)
}
