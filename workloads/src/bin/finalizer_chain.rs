//! finalizer-chain: finalizers run in dependency order, one link per cycle (S45);
//! cleanups have no order and a whole chain runs after one cycle (S42, S44).
//!
//! Phase 1 builds a chain of `--length` L objects (each one's reference slot points at the
//! next), each with a finalizer, and drops every handle: the head is unreachable, and so
//! is the rest once the head is gone. It then loops `gc()` (Go's `runtime.GC()`) then
//! `drain_finalizers()` until every finalizer has run. Each finalizer records the cycle
//! count it runs after (`Mutator::gc_cycles`, through its handle's mutator). As in Go
//! (S45: A@1, B@2, C@3) only the first unfinalized link is queued per cycle, since its
//! special keeps the rest marked: the expected result is L `gc()` calls and at most one
//! finalizer per cycle.
//!
//! Phase 2 does the same with a cleanup on each link instead (`add_cleanup`); a cleanup
//! records the number of the `gc()` call that queued it. Expected: one call, and all L
//! cleanups in it.
//!
//! Runs on the shared harness (`workloads::harness`). One operation of the latency
//! histogram is one `gc()` plus its drain. Findings: `length`, and per phase
//! (`finalizer`, `cleanup`) `{cycles, max_per_cycle, executed, wall_ms, ok}`, with
//! `cycles` the `gc()` calls until every callback ran and `max_per_cycle` the most
//! callbacks that ran after the same cycle. A phase that has not finished after
//! 2L + 10 `gc()` calls gives up, and any phase that is not as expected makes the exit
//! status 1.
//!
//! With `--api scope` (the default) the chains are built on `Gc` references in scopes of
//! 1000 links, where a Go program uses plain pointers; `--api handle` builds them through
//! handles. Findings also name the `api`.
//!
//! `cargo run --release -p workloads --bin finalizer-chain -- [--length 1000] [--json] [--api handle|scope]`

use clap::Parser;
use collector::{Barrier, Handle, Mutator, Shape};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::latency::LatencyRecorder;
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// A link: one reference slot (the next link) and a data word (its index).
static LINK: Shape = Shape::new("link", 1, 1);

const WORKLOAD: Workload = Workload {
    name: "finalizer-chain",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("finalizer-chain is sized by --length"),
};

/// finalizer-chain: a chain of finalizers needs one cycle per link; cleanups need one.
#[derive(Parser, Debug)]
#[command(name = "finalizer-chain", version)]
struct Cli {
    /// Links in the chain, each with a finalizer (then, in the second phase, a cleanup).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000), allow_negative_numbers = true)]
    length: u64,
    /// How the chains are built: `scope` (`Gc` references, 1000 links a scope) or
    /// `handle`.
    #[arg(long, default_value = "scope", value_parser = ["handle", "scope"])]
    api: String,
    #[command(flatten)]
    common: Args,
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    let mut own = Map::new();
    own.insert("length".into(), json!(cli.length));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, finalizer_chain(&cli, run));
    std::process::exit(status);
}

/// One phase's result.
struct Phase {
    /// `gc()` calls until every callback ran (or until it gave up).
    cycles: u64,
    /// The most callbacks that ran after the same cycle.
    max_per_cycle: u64,
    /// Callbacks that ran.
    executed: u64,
    wall_ms: f64,
    /// Every callback ran within the limit of calls.
    finished: bool,
}

impl Phase {
    fn json(&self, ok: bool) -> Value {
        json!({
            "cycles": self.cycles,
            "max_per_cycle": self.max_per_cycle,
            "executed": self.executed,
            "wall_ms": self.wall_ms,
            "ok": ok,
        })
    }
}

/// Links built inside one scope on the scope API.
const SCOPE_LINKS: u64 = 1000;

/// Builds a chain of `n` links, registering `register` on each, and drops every handle:
/// on the scope API (`scope`) in scopes of [`SCOPE_LINKS`] links on `Gc` references (the
/// last link of one scope reaches the next as a handle; registration takes a handle made
/// per link), else through handles.
fn build_chain<B: Barrier>(
    m: &Mutator<B>,
    n: u64,
    scope: bool,
    mut register: impl FnMut(&Handle<'_, B>),
) {
    if scope {
        let (mut prev, mut i) = (None::<Handle<'_, B>>, 0);
        while i < n {
            let end = (i + SCOPE_LINKS).min(n);
            prev = Some(m.scope(|s| {
                let mut last = prev.as_ref().map(|h| s.get(h));
                for j in i..end {
                    let link = s.alloc(&LINK);
                    link.write(0, j);
                    register(&s.root(link));
                    if let Some(p) = last {
                        s.store(p, 0, Some(link));
                    }
                    last = Some(link);
                }
                s.root(last.expect("a scope builds at least one link"))
            }));
            i = end;
        }
        return;
    }
    let head = m.alloc(&LINK);
    head.write(0, 0);
    register(&head);
    let mut prev = head;
    for i in 1..n {
        let link = m.alloc(&LINK);
        link.write(0, i);
        register(&link);
        prev.set(0, Some(&link));
        prev = link;
    }
}

/// Loops `gc()` then `drain` until `ran()` reaches `n` or the call limit, and reduces the
/// cycle numbers the callbacks recorded to the phase's result.
fn drive<B: Barrier>(
    m: &Mutator<B>,
    n: u64,
    latency: &mut LatencyRecorder,
    before_gc: impl Fn(u64),
    drain: impl Fn(&Mutator<B>),
    recorded: &Mutex<Vec<u64>>,
) -> (u64, bool) {
    let limit = 2 * n + 10;
    let mut calls = 0;
    loop {
        if recorded.lock().unwrap().len() as u64 >= n {
            return (calls, true);
        }
        if calls >= limit {
            return (calls, false);
        }
        calls += 1;
        before_gc(calls);
        let t = Instant::now();
        m.gc();
        drain(m);
        latency.saturating_record(t.elapsed().as_nanos() as u64);
    }
}

fn max_per_cycle(recorded: &[u64]) -> u64 {
    let mut per: BTreeMap<u64, u64> = BTreeMap::new();
    for &c in recorded {
        *per.entry(c).or_default() += 1;
    }
    per.values().copied().max().unwrap_or(0)
}

fn finalizer_chain<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let scope = cli.api == "scope";
    let n = cli.length;
    let heap = run
        .heap::<B>(Goal::Work(2 * n))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut latency = latency_histogram();

    // Phase 1: finalizers, each recording the cycle count it runs after.
    let t0 = Instant::now();
    let fin_cycles: Arc<Mutex<Vec<u64>>> = Arc::default();
    build_chain(&m, n, scope, |h| {
        let rec = Arc::clone(&fin_cycles);
        m.set_finalizer(h, move |obj| {
            let cycle = obj.mutator().gc_cycles();
            rec.lock().unwrap().push(cycle);
        });
    });
    let progress = run.progress();
    let (calls, finished) = drive(
        &m,
        n,
        &mut latency,
        |_| {},
        |m| {
            m.drain_finalizers();
            progress.advance(1);
        },
        &fin_cycles,
    );
    let fin = {
        let rec = fin_cycles.lock().unwrap();
        Phase {
            cycles: calls,
            max_per_cycle: max_per_cycle(&rec),
            executed: rec.len() as u64,
            wall_ms: t0.elapsed().as_secs_f64() * 1e3,
            finished,
        }
    };
    // The last finalized link is freed by the next cycle (two-cycle reclamation, S43).
    m.gc();

    // Phase 2: cleanups, each recording the number of the gc() call that queued it.
    let t1 = Instant::now();
    let call_no = Arc::new(AtomicU64::new(0));
    let cl_cycles: Arc<Mutex<Vec<u64>>> = Arc::default();
    build_chain(&m, n, scope, |h| {
        let (rec, call_no) = (Arc::clone(&cl_cycles), Arc::clone(&call_no));
        m.add_cleanup(h, (), move |()| {
            let call = call_no.load(Relaxed);
            rec.lock().unwrap().push(call);
        });
    });
    let (calls, finished) = drive(
        &m,
        n,
        &mut latency,
        |c| call_no.store(c, Relaxed),
        |m| m.drain_cleanups(),
        &cl_cycles,
    );
    let cl = {
        let rec = cl_cycles.lock().unwrap();
        Phase {
            cycles: calls,
            max_per_cycle: max_per_cycle(&rec),
            executed: rec.len() as u64,
            wall_ms: t1.elapsed().as_secs_f64() * 1e3,
            finished,
        }
    };
    run.progress().advance(n);
    drop(m);

    let fin_ok = fin.finished && fin.cycles == n && fin.max_per_cycle == 1;
    let cl_ok = cl.finished && cl.cycles == 1 && cl.executed == n;
    let findings = json!({
        "api": cli.api,
        "length": n,
        "finalizer": fin.json(fin_ok),
        "cleanup": cl.json(cl_ok),
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!("finalizer-chain: a chain of {n} links");
        println!(
            "finalizers  {:6} gc() calls, at most {} per cycle, {} of {n} ran, {:.1} ms (expected {n} calls, 1 per cycle)",
            fin.cycles, fin.max_per_cycle, fin.executed, fin.wall_ms
        );
        println!(
            "cleanups    {:6} gc() calls, at most {} per cycle, {} of {n} ran, {:.1} ms (expected 1 call)",
            cl.cycles, cl.max_per_cycle, cl.executed, cl.wall_ms
        );
    }
    let mut status = exit_status(&summary);
    for (name, phase, ok) in [("finalizer", &fin, fin_ok), ("cleanup", &cl, cl_ok)] {
        if !phase.finished {
            eprintln!(
                "finalizer-chain: failed: {name}s: {} of {n} ran after {} gc() calls; gave up",
                phase.executed, phase.cycles
            );
        } else if !ok {
            eprintln!(
                "finalizer-chain: failed: {name}s took {} gc() calls, at most {} per cycle",
                phase.cycles, phase.max_per_cycle
            );
        }
        if !ok {
            status = 1;
        }
    }
    status
}
