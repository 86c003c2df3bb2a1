//! lru: a concurrent least-recently-used cache in the GC heap, driven at a fixed rate.
//!
//! The cache hangs off one global (`collector::Mutator::alloc_global`): a bucket array of
//! hash chains, and a doubly linked recency list from most (head) to least (tail) recently
//! used. An entry holds its key in a data word and its value in a separate value object
//! (`--value-words` data words: key, version, a checksum of the two, padding). A std
//! `Mutex` outside the heap guards the whole structure and is held only around one cache
//! operation; a thread waits for it inside `Mutator::blocking`, so a waiting thread never
//! holds up a stop-the-world pause (the holder may park at a safepoint while holding it).
//!
//! `--mutators` threads (default 2), each with its own mutator, run for `--duration`
//! seconds (default 2). Each schedules its operations at `--rate` per second: operation i
//! is due at start + i/rate, and its latency is measured from that intended start, not
//! from when it actually began, so a stall (a pause, the lock) counts against every
//! operation it delayed (no coordinated omission). An operation allocates a short-lived
//! request object, then is a put (`--writes` percent: a new value object replaces the
//! old) or a get, which on a miss inserts the key (cache-aside); inserting past
//! `--capacity` evicts the tail. Keys come from splitmix64 over
//! `--keys` keys, Zipf-like (P(key k) ∝ 1/(k+1)) or uniform (`--dist`), from `--seed`.
//!
//! With `--api scope` (the default) each operation runs inside one scope on `Gc`
//! references, where a Go program uses plain pointers (the lock is taken first, in the
//! blocking state, so a scope never waits); `--api handle` runs the same cache code
//! (`workloads::lru_cache`, written once over its `Access` trait) through handles, a root per live reference.
//!
//! What is kept where, here and in the Go twin (`workloads/go/lru`): the cache — global,
//! bucket array, entries, values — and the requests are in the collected heap on both
//! sides; the lock and its two counters (`len`, `evictions`) are outside it here and a
//! few words of Go's heap there; the latency samples are outside the heap on both (the
//! histograms here, memory mapped by `twin.OffHeapSamples` in Go: kept in Go's heap
//! they were 1.6 MB at the defaults and raised its peak from 6.7 to 10.2 MiB).
//!
//! Findings: `ops` (done), `gets`, `puts`, `hits`, `misses`, `hit_rate` (hits per get),
//! `evictions`, `entries` at the end, `ops_missed` (due but not run because the run fell
//! past `--give-up`, by default twice its duration), `corrupt_values` (values whose checksum failed), `structure_ok`
//! (the chains and the list agree at the end), `verified` and `lost_objects` (with
//! `--verify`, must be 0), `api`. A corrupt value or a broken structure makes the exit status 1.
//!
//! `cargo run --release -p workloads --bin lru -- [--duration 2] [--rate 50000] [--verify] [--api handle|scope]`

use clap::Parser;
use collector::{Barrier, Heap, Mutator, Shape};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run, SplitMix64};
use workloads::lru_cache::{
    with_cache, Access, Api, Cache, Corrupt, Meta, Op, OpFn, BUCKET_ARRAY, ROOT, R_BUCKETS, R_HEAD,
    R_TAIL,
};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// A request: the key and scratch words, garbage once the operation is done.
static REQUEST: Shape = Shape::new("lru request", 0, 4);

const WORKLOAD: Workload = Workload {
    name: "lru",
    mutators: 2,
    max_mutators: None,
    duration: DurationUse::Default("2"),
};

/// How keys are drawn.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Dist {
    /// P(key k) ∝ 1/(k+1).
    Zipf,
    /// Every key equally likely.
    Uniform,
}

/// lru: a concurrent least-recently-used cache in the GC heap, at a fixed operation rate.
#[derive(Parser, Debug)]
#[command(name = "lru", version)]
struct Cli {
    /// Operations per second per mutator.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000), allow_negative_numbers = true)]
    rate: u64,
    /// Entries the cache holds before it evicts.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000), allow_negative_numbers = true)]
    capacity: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    keys: u64,
    /// Key distribution.
    #[arg(long, value_enum, default_value_t = Dist::Zipf)]
    dist: Dist,
    /// Percent of operations that are puts.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100), allow_negative_numbers = true)]
    writes: u8,
    /// Data words of each value object (3..=4096).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(3..=4096), allow_negative_numbers = true)]
    value_words: u32,
    /// How operations reach the cache: `scope` (Gc references, one scope per operation)
    /// or `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
    /// Seconds from the start after which operations still due are counted in
    /// `ops_missed` instead of run (default: twice the run's duration). A test that compares two
    /// runs' operations sets it high, so that a busy machine slows the run down rather
    /// than changing what it does; one below the duration ends the run early. The report's
    /// `config` gives it (`give_up_s`, null for the default). The Go twin has no such flag: it gives up at twice the
    /// duration.
    #[arg(long, value_parser = cli::parse_duration)]
    give_up: Option<f64>,
    #[command(flatten)]
    common: Args,
}

/// A key over `keys` keys drawn as `dist` says.
fn draw_key(rng: &mut SplitMix64, keys: u64, dist: Dist) -> u64 {
    match dist {
        Dist::Uniform => rng.below(keys),
        // Inverse CDF of the density 1/(x+1) on [0, keys).
        Dist::Zipf => (((keys as f64 + 1.0).powf(rng.unit()) - 1.0) as u64).min(keys - 1),
    }
}

/// One scheduled operation: a short-lived request object, then a put (`writes` percent)
/// or a get that inserts the key on a miss.
struct Operate<'r> {
    key: u64,
    version: u64,
    writes: u8,
    rng: &'r mut SplitMix64,
    tally: &'r mut Tally,
}

impl OpFn<()> for Operate<'_> {
    fn call<A: Access>(self, mut op: Op<'_, A>) {
        let (key, version, tally) = (self.key, self.version, self.tally);
        let request = op.a.alloc(&REQUEST);
        op.a.write(&request, 0, key);
        if self.rng.below(100) < u64::from(self.writes) {
            tally.puts += 1;
            op.put(key, version);
        } else {
            tally.gets += 1;
            match op.get(key) {
                Ok(Some(_)) => tally.hits += 1,
                Ok(None) => op.put(key, version),
                Err(Corrupt) => tally.corrupt += 1,
            }
        }
        drop(request);
    }
}

/// Caches `key` at `version`.
struct Put {
    key: u64,
    version: u64,
}

impl OpFn<()> for Put {
    fn call<A: Access>(self, mut op: Op<'_, A>) {
        op.put(self.key, self.version)
    }
}

/// The structure check, the entries and the evictions.
struct Check;

impl OpFn<(bool, u64, u64)> for Check {
    fn call<A: Access>(self, op: Op<'_, A>) -> (bool, u64, u64) {
        (op.consistent(), op.meta.len, op.meta.evictions)
    }
}

/// What one mutator thread did.
#[derive(Default)]
struct Tally {
    ops: u64,
    gets: u64,
    hits: u64,
    puts: u64,
    missed: u64,
    corrupt: u64,
}

/// Spins (polling for safepoints) or sleeps (blocking) until `t`.
fn wait_until<B: Barrier>(m: &Mutator<B>, t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > Duration::from_micros(300) {
            m.blocking(|| std::thread::sleep(left - Duration::from_micros(200)));
        } else {
            m.safepoint();
            std::thread::yield_now();
        }
    }
}

/// Mutator thread `index`: operations due every `1/rate` s from `t0` (staggered across
/// threads) until `t0 + duration`, giving up on those still due at `--give-up` (by
/// default twice the duration).
fn worker<B: Barrier>(
    heap: &Heap<B>,
    cache: &Cache,
    cli: &Cli,
    api: Api,
    index: u64,
    t0: Instant,
    duration: Duration,
) -> (Tally, LatencyRecorder) {
    let m = heap.mutator();
    let global = m.global(&cache.root);
    let mut rng =
        SplitMix64::new(cli.common.seed ^ (index + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut latency = latency_histogram();
    let mut tally = Tally::default();
    let interval = 1e9 / cli.rate as f64;
    let offset = interval * index as f64 / cli.common.mutators as f64;
    let total = ((duration.as_nanos() as f64 - offset) / interval)
        .ceil()
        .max(0.0) as u64;
    let give_up = t0 + cli.give_up.map_or(2 * duration, Duration::from_secs_f64);
    for i in 0..total {
        let due = t0 + Duration::from_nanos((offset + i as f64 * interval) as u64);
        wait_until(&m, due);
        if Instant::now() >= give_up {
            tally.missed = total - i;
            break;
        }
        let key = draw_key(&mut rng, cli.keys, cli.dist);
        let version = (index << 48) | i;
        let body = Operate {
            key,
            version,
            writes: cli.writes,
            rng: &mut rng,
            tally: &mut tally,
        };
        with_cache(&m, api, cache, &global, body);
        latency.saturating_record(due.elapsed().as_nanos() as u64);
        tally.ops += 1;
    }
    (tally, latency)
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let dist = if cli.dist == Dist::Zipf {
        "zipf"
    } else {
        "uniform"
    };
    let own = json!({"rate": cli.rate, "capacity": cli.capacity, "keys": cli.keys, "dist": dist,
                     "writes": cli.writes, "value_words": cli.value_words,
                     // null: the default, twice the duration.
                     "give_up_s": cli.give_up});
    let Value::Object(own) = own else {
        unreachable!("an object literal")
    };
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let api = Api {
        scope: cli.api == "scope",
    };
    let status = with_barrier!(cli.common.barrier, lru(&cli, api, run));
    std::process::exit(status);
}

fn lru<B: Barrier>(cli: &Cli, api: Api, mut run: Run) -> i32 {
    let duration =
        Duration::from_secs_f64(cli.common.duration.expect("lru has a default duration"));
    let heap = run
        .heap::<B>(Goal::Time(duration))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let root = m.alloc_global(&ROOT);
    m.global(&root)
        .set(R_BUCKETS, Some(&m.alloc(&BUCKET_ARRAY)));
    let cache = Cache {
        root,
        lock: Mutex::new(Meta::default()),
        capacity: cli.capacity,
        value: Shape::new("lru value", 0, cli.value_words),
    };
    let global = m.global(&cache.root);
    // Warm the cache with the most likely keys.
    for key in 0..cli.capacity.min(cli.keys) {
        with_cache(&m, api, &cache, &global, Put { key, version: 0 });
    }
    let t0 = Instant::now();
    let results: Vec<(Tally, LatencyRecorder)> = m.blocking(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..cli.common.mutators as u64)
                .map(|i| {
                    let (heap, cache) = (&heap, &cache);
                    s.spawn(move || worker(heap, cache, cli, api, i, t0, duration))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a mutator thread panicked"))
                .collect()
        })
    });
    let (structure_ok, entries, evictions) = with_cache(&m, api, &cache, &global, Check);
    drop(global);
    // Detach the cache from its global, so that a leak check finds nothing reachable.
    for slot in [R_BUCKETS, R_HEAD, R_TAIL] {
        m.global(&cache.root).set(slot, None);
    }
    drop(m);

    let mut latency = latency_histogram();
    let mut t = Tally::default();
    for (tally, h) in &results {
        latency.add(h).expect("histograms of one shape add");
        t.ops += tally.ops;
        t.gets += tally.gets;
        t.hits += tally.hits;
        t.puts += tally.puts;
        t.missed += tally.missed;
        t.corrupt += tally.corrupt;
    }
    heap.wait_for_background();
    let lost = heap.stats().lost_objects;
    let hit_rate = t.hits as f64 / t.gets.max(1) as f64;
    let findings = json!({
        "ops": t.ops, "gets": t.gets, "puts": t.puts, "hits": t.hits, "misses": t.gets - t.hits,
        "hit_rate": hit_rate, "evictions": evictions, "entries": entries, "ops_missed": t.missed,
        "corrupt_values": t.corrupt, "structure_ok": structure_ok,
        "verified": cli.common.verify, "lost_objects": lost, "api": cli.api,
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        let (us, l, p) = (
            |ns: u64| ns as f64 / 1e3,
            summary.mutator_latency_ns,
            summary.pause_ns,
        );
        println!(
            "{} ops in {:.2} s on {} mutators at {} ops/s each ({} missed); hit rate {:.1}%, \
             {evictions} evictions\nlatency from intended start: p50 {:.1} µs, p99 {:.1} µs, \
             p99.9 {:.1} µs, max {:.1} µs\n{} collections, pauses p50 {:.1} µs, max {:.1} µs; \
             heap peak {:.1} MiB",
            t.ops,
            summary.wall_s,
            cli.common.mutators,
            cli.rate,
            t.missed,
            hit_rate * 100.0,
            us(l.p50),
            us(l.p99),
            us(l.p999),
            us(l.max),
            summary.gc_cycles,
            us(p.p50),
            us(p.max),
            summary.heap_peak_bytes as f64 / (1 << 20) as f64
        );
    }
    if t.corrupt > 0 || !structure_ok {
        eprintln!(
            "lru: failed: {} corrupt values, structure consistent: {structure_ok}",
            t.corrupt
        );
        return 1;
    }
    exit_status(&summary)
}
