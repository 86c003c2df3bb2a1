//! barrier-fastpath: the write barrier's fast path (marking off), measured. One mutator
//! allocates three objects once, then makes `--stores` reference stores
//! (`Handle::set` of a pointer slot, alternating between two values) and `--loads`
//! reference loads (`Handle::get`, alternating between two slots), allocating nothing in
//! either loop, under the `--barrier` chosen. With `--api scope` the loops run inside one
//! `Mutator::scope` on `Gc` references (`Scope::store`, `Scope::load`) instead. Automatic collection is off, so marking
//! stays off: the heap's cycle count is checked after the loops, and a change is an error
//! (exit status 1).
//!
//! Prints one line: the barrier, the counts and the nanoseconds per store and per load
//! (`--json`: one JSON object). Under `valgrind --tool=callgrind`, the difference of two
//! runs' instruction counts divided by the difference of their `--stores` is the
//! instructions per store (`scripts/callgrind-barrier.sh`).
//!
//! `cargo run --release -p workloads --bin barrier-fastpath -- --barrier none --stores 10000000`

use clap::Parser;
use collector::{Barrier, BarrierKind, Gogc, Handle, Heap, HeapConfig, Mutator, Shape};
use serde_json::json;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;
use workloads::harness::cli::parse_barrier;
use workloads::with_barrier;

workloads::use_mimalloc!();

/// Two reference slots and no data: the holder and the two values stored into it.
static NODE: Shape = Shape::new("fastpath node", 2, 0);

/// barrier-fastpath: reference stores and loads with marking off, under one barrier.
#[derive(Parser, Debug)]
#[command(name = "barrier-fastpath", version, about)]
struct Cli {
    /// The write barrier: go-hybrid (the default), hybrid, dijkstra, yuasa or none.
    #[arg(long, default_value = "go-hybrid", value_parser = parse_barrier)]
    barrier: BarrierKind,
    /// Reference stores (Handle::set) to make.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000_000))]
    stores: u64,
    /// Reference loads (Handle::get) to make (default: as many as stores).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000_000))]
    loads: Option<u64>,
    /// The API measured: `handle` (Handle::set/get) or `scope` (Scope::store/load).
    #[arg(long, default_value = "handle", value_parser = ["handle", "scope"])]
    api: String,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

/// What a run measured.
struct Measured {
    store_ns: f64,
    load_ns: f64,
}

fn per_op(ns: u128, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        ns as f64 / n as f64
    }
}

fn measure<B: Barrier>(stores: u64, loads: u64, scope: bool) -> Result<Measured, String> {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        ..HeapConfig::default()
    })?;
    let m = heap.mutator();
    let holder = m.alloc(&NODE);
    let a = m.alloc(&NODE);
    let b = m.alloc(&NODE);
    holder.set(0, Some(&a));
    holder.set(1, Some(&b));
    let values = [Some(&a), Some(&b)];
    let cycles = m.gc_cycles();

    let (store_ns, load_ns) = if scope {
        scope_loops(&m, [&holder, &a, &b], stores, loads)?
    } else {
        handle_loops(&holder, values, stores, loads)?
    };

    let after = m.gc_cycles();
    if after != cycles {
        return Err(format!(
            "{} collection cycle(s) ran during the loops: marking was not off",
            after - cycles
        ));
    }
    // The last store is visible: slot 0 names `a` or `b` as the parity says.
    let last = if stores % 2 == 1 { &a } else { &b };
    if stores > 0 && !holder.get(0).is_some_and(|h| h.same_object(last)) {
        return Err("slot 0 does not hold the last value stored".to_string());
    }
    Ok(Measured {
        store_ns: per_op(store_ns, stores),
        load_ns: per_op(load_ns, loads),
    })
}

/// The loops on handles: `Handle::set` and `Handle::get` (a root pushed and popped).
fn handle_loops<B: Barrier>(
    holder: &Handle<'_, B>,
    values: [Option<&Handle<'_, B>>; 2],
    stores: u64,
    loads: u64,
) -> Result<(u128, u128), String> {
    let t = Instant::now();
    for i in 0..stores {
        // The holder is opaque, so nothing about it is hoisted out of the loop; the value
        // alternates, so no store is redundant.
        black_box(holder).set(0, values[(i & 1) as usize]);
    }
    let store_ns = t.elapsed().as_nanos();
    let t = Instant::now();
    for i in 0..loads {
        let loaded = black_box(holder).get((i & 1) as usize);
        if black_box(loaded).is_none() {
            return Err(format!("load {i} found a null reference"));
        }
    }
    Ok((store_ns, t.elapsed().as_nanos()))
}

/// The loops inside one scope, on `Gc` references. A `Gc` is a value a compiled program
/// keeps in registers, so the holder is not hidden behind `black_box` (that would add a
/// round trip through memory per operation that no program makes): the stores alternate
/// their value as the handle loop does, and each load chases the reference the previous
/// one returned (holder → a → b → holder through slot 0), so no load can be hoisted or
/// skipped. The loop's own instructions are included.
fn scope_loops<B: Barrier>(
    m: &Mutator<B>,
    [holder, a, b]: [&Handle<'_, B>; 3],
    stores: u64,
    loads: u64,
) -> Result<(u128, u128), String> {
    m.scope(|s| {
        let holder = s.get(holder);
        let (a, b) = (s.get(a), s.get(b));
        let t = Instant::now();
        // Two stores an iteration (a, then b) rather than a choice per store: the values
        // are registers, as a compiled program's would be.
        for _ in 0..stores / 2 {
            s.store(holder, 0, Some(a));
            s.store(holder, 0, Some(b));
        }
        if stores % 2 == 1 {
            s.store(holder, 0, Some(a));
        }
        let store_ns = t.elapsed().as_nanos();
        // The cycle the loads chase; the holder's slot 0 keeps the last value stored.
        let (first, last) = if stores % 2 == 1 { (a, b) } else { (b, a) };
        if stores == 0 {
            s.store(holder, 0, Some(a));
        }
        s.store(first, 0, Some(last));
        s.store(last, 0, Some(holder));
        let t = Instant::now();
        let mut cur = holder;
        for i in 0..loads {
            cur = match s.load(cur, 0) {
                Some(next) => next,
                None => return Err(format!("load {i} found a null reference")),
            };
        }
        let load_ns = t.elapsed().as_nanos();
        black_box(cur);
        Ok((store_ns, load_ns))
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loads = cli.loads.unwrap_or(cli.stores);
    let m = match with_barrier!(cli.barrier, measure(cli.stores, loads, cli.api == "scope")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("barrier-fastpath: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.json {
        println!(
            "{}",
            json!({
                "barrier": cli.barrier.name(),
                "api": cli.api,
                "stores": cli.stores,
                "loads": loads,
                "ns_per_store": m.store_ns,
                "ns_per_load": m.load_ns,
            })
        );
    } else {
        println!(
            "barrier={} stores={} ns/store={:.3} loads={} ns/load={:.3}",
            cli.barrier, cli.stores, m.store_ns, loads, m.load_ns
        );
    }
    ExitCode::SUCCESS
}
