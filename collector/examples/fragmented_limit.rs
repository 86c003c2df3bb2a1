//! A memory-limited heap that fragments (results/pacer-go-fidelity.md findings 22, 23):
//! GOGC off, a 16 MiB soft memory limit, and a list that keeps one node in 16 of the
//! 16-byte nodes the loop allocates, until 8,000,000 are allocated (the list ends at
//! 500,000 nodes, 8 MB). Every span the sweep keeps holds kept nodes among free slots,
//! which Go's memory-limit goal counts as memory held beyond the heap: once the spans in
//! use pass the limit less its headroom, every goal is the live heap and cycles run back
//! to back. `scripts/experiment-fragmented-limit.sh` runs it beside the same program in
//! Go (`scripts/experiments/fragmented_limit.go`).
//!
//! Usage: `fragmented_limit [--mark-workers N] [--gctrace]` (workers by default: Go's
//! 25 % rule; `--gctrace`: Go's gctrace line per cycle on stderr). Prints one line:
//! `cycles C elapsed_s S peak_bytes P limiter_on N` (N: how many times Go's GC CPU
//! limiter turned on).

use collector::{Gogc, Heap, HeapConfig, Shape};
use std::time::Instant;

static NODE: Shape = Shape::new("node", 1, 1);

fn main() {
    let (mut mark_workers, mut gctrace) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gctrace" => gctrace = true,
            "--mark-workers" => {
                let n = args.next().unwrap_or_default();
                match n.parse() {
                    Ok(n) => mark_workers = Some(n),
                    Err(_) => usage(&format!("--mark-workers takes a count, got '{n}'")),
                }
            }
            _ => usage(&format!("unexpected argument '{arg}'")),
        }
    }
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        memory_limit: Some(16 << 20),
        concurrent: true,
        mark_workers,
        gctrace,
        ..HeapConfig::default()
    })
    .unwrap_or_else(|e| usage(&e));
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    let start = Instant::now();
    let mut allocated = 0u64;
    while allocated < 8_000_000 || heap.stats().gc_cycles < 4 {
        for i in 0..16_000 {
            let n = m.alloc(&NODE);
            if i % 16 == 0 {
                tail.set(0, Some(&n));
                tail = n;
            }
        }
        allocated += 16_000;
    }
    let elapsed = start.elapsed();
    m.blocking(|| heap.wait_for_background());
    let s = heap.stats();
    println!(
        "cycles {} elapsed_s {:.3} peak_bytes {} limiter_on {}",
        s.gc_cycles,
        elapsed.as_secs_f64(),
        s.heap_peak_bytes,
        s.cpu_limiter.times_on
    );
    drop((keep, tail));
}

fn usage(message: &str) -> ! {
    eprintln!(
        "fragmented_limit: {message}\nusage: fragmented_limit [--mark-workers N] [--gctrace]"
    );
    std::process::exit(2)
}
