//! Times `Heap::gc()` on a large heap with `HeapConfig::parallel_phases` off and on, in
//! alternating pairs (the order swapped every pair), with the process's CPU time for
//! each: the measurement behind that option (`results/rayon-phases.md`).
//!
//! Each run builds a fresh heap of `LIVE` objects kept (chains under one root) and
//! `GARBAGE` dropped, then times one `gc()`: the cycle and the sweep it finishes, which
//! frees the garbage. With `--verify` the heap verifies (the checkmark re-trace runs in
//! the cycle's last pause, on the phase threads in either case).
//!
//! `cargo run --release -p collector --example gc_large_heap -- [PAIRS] [--verify]`

use collector::{Gogc, Heap, HeapConfig, Shape};
use std::time::Instant;

static NODE: Shape = Shape::new("node", 2, 2);
const LIVE: usize = 1 << 20;
const GARBAGE: usize = 3 << 20;

/// The process's user + system CPU seconds (from /proc/self/stat).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// One run: returns the gc()'s wall and CPU seconds, and its checkmark re-trace's
/// seconds (0 without `verify`).
fn run(parallel_phases: bool, verify: bool) -> (f64, f64, f64) {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify,
        parallel_phases,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let root = m.alloc(&NODE);
    let mut tail = root.clone();
    for i in 0..LIVE + GARBAGE {
        let n = m.alloc(&NODE);
        if i % 4 == 0 {
            tail.set(0, Some(&n));
            tail = n;
        }
    }
    drop(tail);
    let (t, c) = (Instant::now(), cpu_s());
    m.gc();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let verify_s = heap.stats().cycles.last().map_or(0, |c| c.verify_ns) as f64 / 1e9;
    drop(root);
    drop(m);
    heap.shutdown();
    (wall, cpu, verify_s)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verify = args.iter().any(|a| a == "--verify");
    let pairs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5);
    println!("pair\tside\tgc_ms\tcpu_ms\tverify_ms\tload1");
    for p in 0..pairs {
        let order = if p % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for parallel in order {
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let (wall, cpu, verify_s) = run(parallel, verify);
            println!(
                "{p}\t{}\t{:.1}\t{:.0}\t{:.1}\t{}",
                if parallel { "parallel" } else { "serial" },
                wall * 1e3,
                cpu * 1e3,
                verify_s * 1e3,
                load.split_whitespace().next().unwrap_or("?")
            );
        }
    }
}
