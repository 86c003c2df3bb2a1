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
//! short-lived values: keys come from a shared growing counter, so most values die at
//! once (each mutator keeps only its last 8 values); one operation in four re-interns a
//! recent key instead (a hit when that value is still alive). By default they run at full
//! speed; `--rate R` paces them by the clock instead, R operations a second in all (each
//! mutator's i-th operation waits, in the blocking state, until its due time), so that
//! both sides of a comparison insert at the same rate whatever their speed. Each value
//! carries `--value-words` data words (default 2: the key and a payload word; more make
//! the allocation that paces the cycles, as interned strings of that size would).
//! `--cleanup-work-us W` (default 0) makes each cleanup wait W microseconds before it
//! removes its key (a blocking wait, as a cleanup that closes a connection would make):
//! on a machine of 2 cores, work that needs a CPU would not show how many runners there
//! are, a wait does (once the run's time is up the cleanups stop waiting, so that the drain
//! below does not take the backlog times the wait). Every `--sample-every` operations a
//! mutator samples the map's size.
//!
//! The map grows by every value whose cleanup has not run yet. Go before golang/go#71825
//! ran cleanups on one goroutine (Go 1.24: the finalizer goroutine); Go 1.27 runs them on
//! up to `max(GOMAXPROCS/4, 1)` goroutines (S40), so below GOMAXPROCS 8 it is still one.
//! The testbed follows the same rule, so `--gomaxprocs 4` is the serial runner on both
//! sides (one worker, cleanups one after another; `--cleanup-workers 1` is the same on
//! the testbed) and `--gomaxprocs 16` Go 1.27's executor with 4 workers. When the
//! insertion rate exceeds what the runners remove (R > workers x 1e6 / W), the map grows
//! for as long as the run lasts. A sampler thread, outside the heap, records
//! `[t_ms, map_size, inserted, cleanups_run]` every `--sample-ms` (default 100) into
//! `series`; `growth_per_s` is the least-squares slope of the map's size over the run.
//!
//! At the end every handle is dropped and two rounds of `gc()` then `drain_cleanups()`
//! run, so every dead value's cleanup has run. Findings: `cleanup_workers` (the pool's
//! size; its workers start lazily, as Go's, S40), `rate`, `value_words`,
//! `cleanup_work_us`, `ops`, `inserted`, `hits`, `cleanups_run`, `map_size: {max, median,
//! samples, before_drain, final}` (`final` after the drain, at most `inserted`),
//! `growth_per_s`, `series_columns` and `series`. No timing is asserted; the exit status
//! is the harness's.
//!
//! `cargo run --release -p workloads --bin intern -- [--duration 2] [--cleanup-workers 1]`
//! (the serial runner against the executor: `--mutators 1 --rate 3000 --value-words 128
//! --cleanup-work-us 500 --duration 10` with `--gomaxprocs 4`, then `--gomaxprocs 16`)

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

/// An interned value's name: its key, a payload word and `--value-words` - 2 more; one
/// reference slot so that it is never a pointer-free tiny object (S51), whose cleanup
/// could wait on a neighbour.
const VALUE: &str = "interned value";

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
    /// Operations a second in all, paced by the clock (0: as fast as possible).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000), allow_negative_numbers = true)]
    rate: u64,
    /// Data words of each value (the key, a payload word and padding).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=4096), allow_negative_numbers = true)]
    value_words: u32,
    /// Microseconds each cleanup waits (blocked) before it removes its key.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000), allow_negative_numbers = true)]
    cleanup_work_us: u64,
    /// Milliseconds between two samples of the series.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000), allow_negative_numbers = true)]
    sample_ms: u64,
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
    inserted: AtomicU64,
    value: Shape,
    /// Microseconds each cleanup waits; zeroed when the run ends, so that the drain does
    /// not take the backlog times the wait.
    work_us: Arc<AtomicU64>,
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
    own.insert("rate".into(), json!(cli.rate));
    own.insert("value_words".into(), json!(cli.value_words));
    own.insert("cleanup_work_us".into(), json!(cli.cleanup_work_us));
    own.insert("sample_ms".into(), json!(cli.sample_ms));
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
    let h = m.alloc(&shared.value);
    h.write(0, key);
    h.write(1, key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    map.insert(key, m.weak(&h));
    drop(map);
    shared.inserted.fetch_add(1, Relaxed);
    let (map, ran) = (Arc::clone(&shared.map), Arc::clone(&shared.cleanups));
    let work = Arc::clone(&shared.work_us);
    m.add_cleanup(&h, key, move |key| {
        let us = work.load(Relaxed);
        if us > 0 {
            std::thread::sleep(Duration::from_micros(us));
        }
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
    // The pace: this mutator's share of `--rate`, its n-th operation due n periods in.
    let period = (cli.rate > 0)
        .then(|| Duration::from_secs_f64(cli.common.mutators as f64 / cli.rate as f64));
    let start = Instant::now();
    while Instant::now() < until {
        for _ in 0..64 {
            if let Some(period) = period {
                let due = start + period.mul_f64(tally.ops as f64);
                let now = Instant::now();
                if due > until {
                    break;
                }
                if due > now {
                    m.blocking(|| std::thread::sleep(due - now));
                }
            }
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

/// One sample of the series: milliseconds since the start, the map's size, values
/// inserted, cleanups run.
type Sample = [u64; 4];

/// Samples the map every `every` until `until`.
fn sample(shared: &Shared, t0: Instant, every: Duration, until: Instant) -> Vec<Sample> {
    let mut series = Vec::new();
    loop {
        let size = shared.map.lock().unwrap().len() as u64;
        let (inserted, ran) = (shared.inserted.load(Relaxed), shared.cleanups.load(Relaxed));
        series.push([t0.elapsed().as_millis() as u64, size, inserted, ran]);
        let now = Instant::now();
        if now >= until {
            return series;
        }
        std::thread::sleep(every.min(until - now));
    }
}

/// The least-squares slope of the map's size over the series, in entries a second.
fn growth_per_s(series: &[Sample]) -> f64 {
    let n = series.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = series.iter().fold((0.0, 0.0), |(x, y), s| {
        (x + s[0] as f64 / 1e3 / n, y + s[1] as f64 / n)
    });
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for s in series {
        let dx = s[0] as f64 / 1e3 - mx;
        sxy += dx * (s[1] as f64 - my);
        sxx += dx * dx;
    }
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
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
        inserted: AtomicU64::new(0),
        value: Shape::new(VALUE, 1, cli.value_words),
        work_us: Arc::new(AtomicU64::new(cli.cleanup_work_us)),
    };
    let t0 = Instant::now();
    let until = t0 + duration;
    let every = Duration::from_millis(cli.sample_ms);
    let mut series = Vec::new();
    let results: Vec<(Tally, LatencyRecorder)> = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample(&shared, t0, every, until));
        let handles: Vec<_> = (0..cli.common.mutators as u64)
            .map(|i| {
                let (heap, shared) = (&heap, &shared);
                s.spawn(move || worker(heap, shared, cli, i, until))
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|h| h.join().expect("a mutator thread panicked"))
            .collect();
        series = sampler.join().expect("the sampler panicked");
        results
    });
    let growth = growth_per_s(&series);
    shared.work_us.store(0, Relaxed);
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
        "rate": cli.rate,
        "value_words": cli.value_words,
        "cleanup_work_us": cli.cleanup_work_us,
        "growth_per_s": growth,
        "series_columns": ["t_ms", "map_size", "inserted", "cleanups_run"],
        "series": series,
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
        println!("map growth: {growth:.0} entries a second (least squares over the series)");
    }
    exit_status(&summary)
}
