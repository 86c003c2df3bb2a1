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
//! Findings: `ops` (done), `gets`, `puts`, `hits`, `misses`, `hit_rate` (hits per get),
//! `evictions`, `entries` at the end, `ops_missed` (due but not run because the run fell
//! past twice its duration), `corrupt_values` (values whose checksum failed), `structure_ok`
//! (the chains and the list agree at the end), `verified` and `lost_objects` (with
//! `--verify`, must be 0). A corrupt value or a broken structure makes the exit status 1.
//!
//! `cargo run --release -p workloads --bin lru -- [--duration 2] [--rate 50000] [--verify]`

use clap::Parser;
use collector::{Barrier, Global, Handle, Heap, Mutator, Shape};
use serde_json::{json, Value};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run, SplitMix64};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// Hash chains in the bucket array.
const BUCKETS: usize = 4096;
/// The global: the bucket array, the recency list's head and tail.
static ROOT: Shape = Shape::new("lru root", 3, 0);
static BUCKET_ARRAY: Shape = Shape::new("lru buckets", BUCKETS as u32, 0);
/// An entry: chain next, list prev, list next, value; key.
static ENTRY: Shape = Shape::new("lru entry", 4, 1);
/// A request: the key and scratch words, garbage once the operation is done.
static REQUEST: Shape = Shape::new("lru request", 0, 4);

/// The global's reference slots.
const R_BUCKETS: usize = 0;
const R_HEAD: usize = 1;
const R_TAIL: usize = 2;
/// An entry's reference slots.
const E_CHAIN: usize = 0;
const E_PREV: usize = 1;
const E_NEXT: usize = 2;
const E_VALUE: usize = 3;

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

fn bucket_of(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % BUCKETS
}

fn checksum(key: u64, version: u64) -> u64 {
    SplitMix64::new(key ^ version.rotate_left(32)).next_u64()
}

/// Counters guarded by the cache lock.
#[derive(Default)]
struct Meta {
    len: u64,
    evictions: u64,
}

/// The shared cache: its global, its lock, and the shape of its values.
struct Cache {
    root: Global,
    lock: Mutex<Meta>,
    capacity: u64,
    value: Shape,
}

/// One operation's view of the cache: handles to the root and the bucket array, and the
/// lock held for as long as it lives.
struct Op<'a, 'm, B: Barrier> {
    m: &'m Mutator<B>,
    cache: &'a Cache,
    meta: MutexGuard<'a, Meta>,
    root: Handle<'m, B>,
    buckets: Handle<'m, B>,
}

impl<'a, 'm, B: Barrier> Op<'a, 'm, B> {
    /// Takes the lock, waiting for it in the blocking state.
    fn begin(m: &'m Mutator<B>, cache: &'a Cache) -> Self {
        let meta = m.blocking(|| cache.lock.lock().unwrap_or_else(|p| p.into_inner()));
        let root = m.global(&cache.root);
        let buckets = root.get(R_BUCKETS).expect("the bucket array");
        Op {
            m,
            cache,
            meta,
            root,
            buckets,
        }
    }

    fn find(&self, key: u64) -> Option<Handle<'m, B>> {
        let mut cur = self.buckets.get(bucket_of(key));
        while let Some(e) = cur {
            if e.read(0) == key {
                return Some(e);
            }
            cur = e.get(E_CHAIN);
        }
        None
    }

    fn unlink(&self, e: &Handle<'m, B>) {
        let (prev, next) = (e.get(E_PREV), e.get(E_NEXT));
        match &prev {
            Some(p) => p.set(E_NEXT, next.as_ref()),
            None => self.root.set(R_HEAD, next.as_ref()),
        }
        match &next {
            Some(n) => n.set(E_PREV, prev.as_ref()),
            None => self.root.set(R_TAIL, prev.as_ref()),
        }
    }

    fn push_front(&self, e: &Handle<'m, B>) {
        let head = self.root.get(R_HEAD);
        e.set(E_PREV, None);
        e.set(E_NEXT, head.as_ref());
        match &head {
            Some(h) => h.set(E_PREV, Some(e)),
            None => self.root.set(R_TAIL, Some(e)),
        }
        self.root.set(R_HEAD, Some(e));
    }

    fn touch(&self, e: &Handle<'m, B>) {
        if !self.root.get(R_HEAD).is_some_and(|h| h.same_object(e)) {
            self.unlink(e);
            self.push_front(e);
        }
    }

    fn new_value(&self, key: u64, version: u64) -> Handle<'m, B> {
        let v = self.m.alloc(&self.cache.value);
        v.write(0, key);
        v.write(1, version);
        v.write(2, checksum(key, version));
        v
    }

    /// The value's version if `key` is cached (and makes it most recent); `Err` if its
    /// value object fails its checksum.
    fn get(&self, key: u64) -> Result<Option<u64>, ()> {
        let Some(e) = self.find(key) else {
            return Ok(None);
        };
        self.touch(&e);
        let v = e.get(E_VALUE).ok_or(())?;
        let version = v.read(1);
        if v.read(0) != key || v.read(2) != checksum(key, version) {
            return Err(());
        }
        Ok(Some(version))
    }

    /// Caches `key` at `version`, evicting the least recently used entry when full.
    fn put(&mut self, key: u64, version: u64) {
        let value = self.new_value(key, version);
        if let Some(e) = self.find(key) {
            e.set(E_VALUE, Some(&value));
            self.touch(&e);
            return;
        }
        let e = self.m.alloc(&ENTRY);
        e.write(0, key);
        e.set(E_VALUE, Some(&value));
        let b = bucket_of(key);
        e.set(E_CHAIN, self.buckets.get(b).as_ref());
        self.buckets.set(b, Some(&e));
        self.push_front(&e);
        self.meta.len += 1;
        if self.meta.len > self.cache.capacity {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let tail = self.root.get(R_TAIL).expect("a full cache has a tail");
        self.unlink(&tail);
        let b = bucket_of(tail.read(0));
        let (mut prev, mut cur) = (None::<Handle<'m, B>>, self.buckets.get(b));
        while let Some(e) = cur {
            if e.same_object(&tail) {
                match &prev {
                    Some(p) => p.set(E_CHAIN, e.get(E_CHAIN).as_ref()),
                    None => self.buckets.set(b, e.get(E_CHAIN).as_ref()),
                }
                break;
            }
            cur = e.get(E_CHAIN);
            prev = Some(e);
        }
        self.meta.len -= 1;
        self.meta.evictions += 1;
    }

    /// Whether the list and the chains agree: the list is consistent both ways, every
    /// entry on it is found through its chain with a sound value, and both hold `len`.
    fn consistent(&self) -> bool {
        let (mut n, mut prev, mut cur) = (0u64, None::<Handle<'m, B>>, self.root.get(R_HEAD));
        while let Some(e) = cur {
            let linked = same(e.get(E_PREV).as_ref(), prev.as_ref());
            let key = e.read(0);
            let found = self.find(key).is_some_and(|f| f.same_object(&e));
            let sound = e
                .get(E_VALUE)
                .is_some_and(|v| v.read(0) == key && v.read(2) == checksum(key, v.read(1)));
            if !(linked && found && sound) || n > self.meta.len {
                return false;
            }
            n += 1;
            cur = e.get(E_NEXT);
            prev = Some(e);
        }
        let tail_ok = same(self.root.get(R_TAIL).as_ref(), prev.as_ref());
        let chained: u64 = (0..BUCKETS)
            .map(|b| {
                let (mut k, mut cur) = (0, self.buckets.get(b));
                while let Some(e) = cur {
                    k += 1;
                    cur = e.get(E_CHAIN);
                }
                k
            })
            .sum();
        tail_ok && n == self.meta.len && chained == n
    }
}

/// Whether both name the same object, or both are null.
fn same<B: Barrier>(a: Option<&Handle<'_, B>>, b: Option<&Handle<'_, B>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.same_object(b),
        (a, b) => a.is_none() && b.is_none(),
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
/// threads) until `t0 + duration`, giving up on those still due at twice the duration.
fn worker<B: Barrier>(
    heap: &Heap<B>,
    cache: &Cache,
    cli: &Cli,
    index: u64,
    t0: Instant,
    duration: Duration,
) -> (Tally, LatencyRecorder) {
    let m = heap.mutator();
    let mut rng =
        SplitMix64::new(cli.common.seed ^ (index + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut latency = latency_histogram();
    let mut tally = Tally::default();
    let interval = 1e9 / cli.rate as f64;
    let offset = interval * index as f64 / cli.common.mutators as f64;
    let total = ((duration.as_nanos() as f64 - offset) / interval)
        .ceil()
        .max(0.0) as u64;
    let give_up = t0 + 2 * duration;
    for i in 0..total {
        let due = t0 + Duration::from_nanos((offset + i as f64 * interval) as u64);
        wait_until(&m, due);
        if Instant::now() >= give_up {
            tally.missed = total - i;
            break;
        }
        let key = draw_key(&mut rng, cli.keys, cli.dist);
        let version = (index << 48) | i;
        let request = m.alloc(&REQUEST);
        request.write(0, key);
        let mut op = Op::begin(&m, cache);
        if rng.below(100) < u64::from(cli.writes) {
            tally.puts += 1;
            op.put(key, version);
        } else {
            tally.gets += 1;
            match op.get(key) {
                Ok(Some(_)) => tally.hits += 1,
                Ok(None) => op.put(key, version),
                Err(()) => tally.corrupt += 1,
            }
        }
        drop(op);
        drop(request);
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
                     "writes": cli.writes, "value_words": cli.value_words});
    let Value::Object(own) = own else {
        unreachable!("an object literal")
    };
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, lru(&cli, run));
    std::process::exit(status);
}

fn lru<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
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
    // Warm the cache with the most likely keys.
    for key in 0..cli.capacity.min(cli.keys) {
        Op::begin(&m, &cache).put(key, 0);
    }
    let t0 = Instant::now();
    let results: Vec<(Tally, LatencyRecorder)> = m.blocking(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..cli.common.mutators as u64)
                .map(|i| {
                    let (heap, cache) = (&heap, &cache);
                    s.spawn(move || worker(heap, cache, cli, i, t0, duration))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a mutator thread panicked"))
                .collect()
        })
    });
    let op = Op::begin(&m, &cache);
    let structure_ok = op.consistent();
    let (entries, evictions) = (op.meta.len, op.meta.evictions);
    drop(op);
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
        "verified": cli.common.verify, "lost_objects": lost,
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
