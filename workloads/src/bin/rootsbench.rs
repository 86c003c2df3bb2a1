//! The cost of each barrier's root scanning in the pauses: one mutator holds N handles
//! (roots) to small objects, and concurrent cycles run under each barrier. Dijkstra
//! rescans every root in the mark-termination pause, Yuasa captures every root in the
//! pause that starts marking, and the hybrid barrier (`go-hybrid`, Go 1.27's, the
//! default) scans roots concurrently, once, in neither pause. Reports medians over the
//! cycles of each run, in microseconds; the termination pause also sweeps, so its sweep
//! time is shown beside it.
//!
//! `cargo run --release -p workloads --bin rootsbench -- [--cycles C] [--json]`

use clap::Parser;
use collector::{Barrier, BarrierKind, Dijkstra, GoHybrid, Gogc, Heap, HeapConfig, Shape, Yuasa};
use serde::Serialize;
use workloads::harness::summary::median;

workloads::use_mimalloc!();

static LEAF: Shape = Shape::new("leaf", 0, 1);

/// Root-scanning cost per barrier.
#[derive(Parser, Debug)]
#[command(name = "rootsbench", version, about)]
struct Args {
    /// Cycles per configuration (medians are reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    cycles: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    barrier: String,
    roots: usize,
    start_pause_us: f64,
    termination_pause_us: f64,
    termination_sweep_us: f64,
    termination_without_sweep_us: f64,
}

fn measure<B: Barrier>(roots: usize, cycles: u64) -> Row {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        concurrent: true,
        ..HeapConfig::default()
    })
    .expect("valid config");
    let m = heap.mutator();
    // Tiny objects: 16-byte blocks, two per block, so the heap stays small beside the roots.
    let held: Vec<_> = (0..roots).map(|_| m.alloc(&LEAF)).collect();
    for _ in 0..cycles {
        m.gc();
    }
    let s = heap.stats();
    drop(held);
    // Pauses alternate: start of marking, then termination (no retries: nothing mutates).
    let start: Vec<f64> = s
        .pauses
        .iter()
        .step_by(2)
        .map(|p| p.duration_ns as f64 / 1e3)
        .collect();
    let term: Vec<f64> = s
        .pauses
        .iter()
        .skip(1)
        .step_by(2)
        .map(|p| p.duration_ns as f64 / 1e3)
        .collect();
    let sweep: Vec<f64> = s.cycles.iter().map(|c| c.sweep_ns as f64 / 1e3).collect();
    let without: Vec<f64> = term.iter().zip(&sweep).map(|(t, s)| t - s).collect();
    Row {
        barrier: B::KIND.to_string(),
        roots,
        start_pause_us: median(start),
        termination_pause_us: median(term),
        termination_sweep_us: median(sweep),
        termination_without_sweep_us: median(without),
    }
}

fn main() {
    let args = Args::parse();
    let mut rows = Vec::new();
    for roots in [1_000, 10_000, 100_000, 1_000_000] {
        for kind in [
            BarrierKind::GoHybrid,
            BarrierKind::Dijkstra,
            BarrierKind::Yuasa,
        ] {
            if !args.json {
                eprint!("\r{kind} with {roots} roots        ");
            }
            rows.push(match kind {
                BarrierKind::GoHybrid => measure::<GoHybrid>(roots, args.cycles),
                BarrierKind::Dijkstra => measure::<Dijkstra>(roots, args.cycles),
                _ => measure::<Yuasa>(roots, args.cycles),
            });
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
        return;
    }
    eprintln!();
    println!(
        "{:<9} {:>9} {:>14} {:>18} {:>12} {:>20}",
        "barrier", "roots", "start µs", "termination µs", "sweep µs", "term. - sweep µs"
    );
    for r in &rows {
        println!(
            "{:<9} {:>9} {:>14.1} {:>18.1} {:>12.1} {:>20.1}",
            r.barrier,
            r.roots,
            r.start_pause_us,
            r.termination_pause_us,
            r.termination_sweep_us,
            r.termination_without_sweep_us
        );
    }
    println!("(medians over {} concurrent cycles per row)", args.cycles);
}
