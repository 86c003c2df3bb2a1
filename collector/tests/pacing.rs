//! The pacer and the collector core over long runs: automatic cycles keep a
//! multi-threaded heap within its goal's bound with nothing lost, in concurrent and
//! stop-the-world mode; every cycle's gctrace line parses with Go's layout; a heap cap
//! gives an out-of-memory error, not an abort; a soft memory limit runs cycles even with
//! GOGC off.

mod common;

use collector::gctrace::{gctrace_line, parse_gctrace_line};
use collector::{Gogc, Heap, HeapConfig, HeapStats, Shape};
use common::Rng;

static NODE: Shape = Shape::new("node", 2, 1);

/// Four mutators, each keeping a ring of 8,192 live nodes (about 1 MiB in all) that it
/// keeps replacing at random, while allocating 400,000 garbage nodes each.
fn run_four_mutators(concurrent: bool) -> HeapStats {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        verify: true,
        concurrent,
        ..HeapConfig::default()
    })
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let heap = heap.clone();
            s.spawn(move || {
                let m = heap.mutator();
                let mut rng = Rng::new(t + 1);
                let ring: Vec<_> = (0..8192).map(|_| m.alloc(&NODE)).collect();
                for i in 0..400_000u64 {
                    let g = m.alloc(&NODE);
                    g.write(0, i);
                    if i % 8 == 0 {
                        let slot = &ring[rng.below(ring.len())];
                        let n = m.alloc(&NODE);
                        n.write(0, i);
                        slot.set(0, Some(&n));
                        n.set(1, Some(&g));
                    }
                }
                for slot in &ring {
                    if let Some(n) = slot.get(0) {
                        let i = n.read(0);
                        assert_eq!(n.get(1).unwrap().read(0), i, "a node lost its child");
                    }
                }
            });
        }
    });
    let m = heap.mutator();
    m.blocking(|| heap.wait_for_background());
    heap.stats()
}

/// The bound the heap keeps: Go's hard goal (twice the highest goal at GOGC 100, where
/// assists stop a mark that outruns its estimate) plus one cached span per mutator and
/// size class in use (cached spans count whole).
fn hard_bound(s: &HeapStats) -> u64 {
    let goal = s
        .cycles
        .iter()
        .map(|c| c.next_heap_goal_bytes)
        .max()
        .unwrap();
    2 * goal + 4 * 4 * 8192
}

#[test]
fn concurrent_automatic_cycles_keep_four_mutators_within_the_bound_losing_nothing() {
    let s = run_four_mutators(true);
    for c in &s.cycles {
        eprintln!("{}", gctrace_line(c));
    }
    assert!(s.gc_cycles >= 3, "{} cycles", s.gc_cycles);
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    assert_eq!(s.cycles_checked, s.gc_cycles);
    assert!(
        s.pauses.len() as u64 >= 2 * s.gc_cycles,
        "two pauses a cycle"
    );
    let bound = hard_bound(&s);
    let goal = s
        .cycles
        .iter()
        .map(|c| c.next_heap_goal_bytes)
        .max()
        .unwrap();
    eprintln!(
        "concurrent: peak {} bytes = {:.2} × the highest goal",
        s.heap_peak_bytes,
        s.heap_peak_bytes as f64 / goal as f64
    );
    assert!(
        s.heap_peak_bytes <= bound,
        "peak {} over {bound}",
        s.heap_peak_bytes
    );
}

#[test]
fn stop_the_world_mode_gives_the_same_results_with_one_pause_per_cycle() {
    let s = run_four_mutators(false);
    assert!(s.gc_cycles >= 3, "{} cycles", s.gc_cycles);
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    assert_eq!(s.cycles_checked, s.gc_cycles);
    assert_eq!(s.pauses.len() as u64, s.gc_cycles, "one pause per cycle");
    assert!(s.cycles.iter().all(|c| c.mark_workers == 0));
    let goals: Vec<u64> = s.cycles.iter().map(|c| c.heap_goal_bytes >> 10).collect();
    let starts: Vec<u64> = s
        .cycles
        .iter()
        .map(|c| c.heap_live_start_bytes >> 10)
        .collect();
    assert!(
        s.heap_peak_bytes <= hard_bound(&s),
        "peak {} KiB; goals {goals:?} KiB; starts {starts:?} KiB",
        s.heap_peak_bytes >> 10
    );
}

#[test]
fn every_cycle_has_a_gctrace_line_in_gos_layout() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    for _ in 0..1_000_000 {
        m.alloc(&NODE);
    }
    m.gc();
    let s = heap.stats();
    assert!(s.gc_cycles >= 3);
    for c in &s.cycles {
        let line = gctrace_line(c);
        let l = parse_gctrace_line(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.cycle, c.cycle);
        assert_eq!(
            l.heap_mb,
            [
                c.heap_live_start_bytes >> 20,
                c.heap_live_end_bytes >> 20,
                c.heap_marked_bytes >> 20
            ]
        );
        assert_eq!(l.goal_mb, c.heap_goal_bytes >> 20);
        assert_eq!(l.stacks_mb, Some(0));
        assert_eq!(l.globals_mb, Some(c.globals_bytes >> 20));
        assert_eq!(l.procs, c.gomaxprocs as u64);
        assert_eq!(
            l.forced,
            c.reason != collector::CycleReason::Automatic,
            "{line}"
        );
        assert!(l.gc_percent <= 100);
        assert!(c.start_ns < c.end_ns);
    }
    // Cycles follow one another in time.
    assert!(s.cycles.windows(2).all(|w| w[0].end_ns <= w[1].start_ns));
}

/// The cycle record holds Go's pacing quantities under Go's names, so that gctrace lines
/// compare one by one (`mgcpacer.go`): the goal a cycle prints is the one it paced to
/// (Go's `lastHeapGoal`: the goal the last cycle's `commit` set from its `heapMarked`, at
/// least `minRunway` above where this cycle started, `heapGoalInternal`), an automatic
/// cycle starts once `heapLive` has reached its trigger, which lies between 0.7 and 0.95
/// of the runway from the last `heapMarked` to the goal (`trigger`), and the next goal is
/// `heapMarked + (heapMarked + globals) × GOGC/100` (`commit`). Checked to fail with the
/// record's old meaning (the goal set for the next cycle in `heap_goal_bytes`).
#[test]
fn cycle_records_hold_gos_heap_live_heap_marked_goal_and_trigger() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    // A live set that keeps growing (every fourth node kept), so the goals differ.
    let mut kept = Vec::new();
    for i in 0..1_500_000u64 {
        let n = m.alloc(&NODE);
        if i % 4 == 0 {
            kept.push(n);
        }
    }
    m.blocking(|| heap.wait_for_background());
    let s = heap.stats();
    assert!(s.gc_cycles >= 4, "{} cycles", s.gc_cycles);
    let mut automatic = 0;
    for w in s.cycles.windows(2) {
        let (last, c) = (&w[0], &w[1]);
        let min_runway = c.heap_live_start_bytes + (64 << 10);
        assert_eq!(
            c.heap_goal_bytes,
            last.next_heap_goal_bytes.max(min_runway),
            "cycle {}: the goal it paced to",
            c.cycle
        );
        let grown = last.heap_marked_bytes * 2 + last.globals_bytes;
        assert_eq!(last.next_heap_goal_bytes, grown.max(4 << 20));
        if c.reason == collector::CycleReason::Automatic {
            automatic += 1;
            assert!(c.heap_live_start_bytes >= c.trigger_bytes, "{c:?}");
            let (marked, goal) = (last.heap_marked_bytes, last.next_heap_goal_bytes);
            let runway = goal - marked.min(goal);
            assert!(c.trigger_bytes >= marked + runway / 20 * 14, "{c:?}");
            assert!(c.trigger_bytes <= goal, "{c:?}");
        }
    }
    assert!(automatic >= 3, "{automatic} automatic cycles");
    let goals: std::collections::BTreeSet<u64> =
        s.cycles.iter().map(|c| c.heap_goal_bytes).collect();
    assert!(goals.len() >= 3, "the goals should differ: {goals:?}");
    drop(kept);
}

fn heap_cap_gives_out_of_memory(concurrent: bool) {
    let limit = 8 << 20;
    let heap = Heap::new(HeapConfig {
        heap_limit: Some(limit),
        concurrent,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    let mut kept = 0u64;
    let err = loop {
        match m.try_alloc(&NODE) {
            Ok(n) => {
                tail.set(0, Some(&n));
                tail = n;
                kept += 1;
            }
            Err(e) => break e,
        }
        assert!(kept < 10_000_000, "the cap was never reached");
    };
    assert_eq!(err.limit_bytes, limit);
    assert!(err.heap_bytes + err.requested_bytes > limit);
    assert!(err.to_string().contains("out of memory"), "{err}");
    let s = heap.stats();
    assert!(
        s.heap_peak_bytes <= limit as u64,
        "peak {}",
        s.heap_peak_bytes
    );
    // The plain allocation panics with the same message (unwinding, not aborting).
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.alloc(&NODE);
    }))
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("out of memory"), "{msg}");
    // Dropping the chain makes room again.
    drop(keep);
    assert!(m.try_alloc(&NODE).is_ok());
    assert!(kept > 100_000, "only {kept} nodes fitted under 8 MiB");
}

#[test]
fn a_heap_cap_fails_the_allocation_with_out_of_memory_in_both_modes() {
    heap_cap_gives_out_of_memory(true);
    heap_cap_gives_out_of_memory(false);
}

#[test]
fn a_soft_memory_limit_runs_cycles_with_gogc_off() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        memory_limit: Some(16 << 20),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    // At least 2,000,000 nodes (32 MB, twice the limit). With GOGC off and no limit no
    // cycle would ever run, hence the bound.
    common::allocate_until_two_cycles(&heap, &m, &NODE, 2_000_000, 20_000_000);
    m.blocking(|| heap.wait_for_background());
    let s = heap.stats();
    // Each goal is under the limit (Go's memoryLimitHeapGoal: the limit less what the
    // spans hold beyond their objects, less 3 % or 1 MiB), unless the live heap the cycle
    // found is above it (a slow mark, as under valgrind, counts more as live): then the
    // goal is that live heap, never more.
    for c in &s.cycles {
        assert!(
            c.next_heap_goal_bytes <= (15 << 20).max(c.heap_marked_bytes),
            "cycle {}: goal {} with live {}",
            c.cycle,
            c.next_heap_goal_bytes,
            c.heap_marked_bytes
        );
    }
    assert!(s.cycles.iter().any(|c| c.next_heap_goal_bytes <= 16 << 20));
    assert!(s.heap_peak_bytes <= 32 << 20, "peak {}", s.heap_peak_bytes);
}

/// Go's GC CPU limiter (`mgclimit.go`) in a death spiral: a live heap above its memory
/// limit with GOGC off makes every goal the live heap itself, so cycles run back to
/// back and allocation pays for them in assists. Once the collector has had a full
/// bucket (one CPU-second per P) more CPU than the mutators, the limiter turns on and
/// assists stop; the program goes on allocating, the heap above its limit, as Go's
/// does. (How long it takes is the machine's: the loop is bounded by allocation only.)
#[test]
fn the_cpu_limiter_turns_on_when_a_memory_limit_below_the_live_heap_spirals() {
    const LIVE_NODES: u64 = 200_000; // 6.4 MB of 32-byte nodes
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        memory_limit: Some(4 << 20),
        gomaxprocs: 1,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = common::live_list(&m, &NODE, LIVE_NODES);
    let mut garbage = 0u64;
    while heap.stats().cpu_limiter.times_on == 0 {
        assert!(
            garbage < 100_000_000, // about 2.8 million on the 2-core machine (1.1 s)
            "the limiter never turned on: {:?}, {} cycles",
            heap.stats().cpu_limiter,
            heap.stats().gc_cycles
        );
        for _ in 0..10_000 {
            drop(m.alloc(&NODE));
        }
        garbage += 10_000;
    }
    let s = heap.stats();
    assert!(s
        .cycles
        .iter()
        .all(|c| c.next_heap_goal_bytes <= (3 << 20).max(c.heap_marked_bytes)));
    drop(keep);
}

/// GOGC=0 collects continuously and still makes progress (issue 19). Go's goal at GOGC=0
/// is the marked heap itself (`heapMinimum` scales to 0), so the first refill after a
/// cycle starts the next; what lets the program go on is the mark's runway: past the goal
/// Go's `revise` lets the heap run 10% further (`maxOvershoot`) while assists pay for the
/// allocation, and an assist with nothing to mark parks until background credit arrives
/// (`gcParkAssist`) rather than wait for the cycle's end. So a cycle lets the program
/// allocate about a tenth of the live heap or more: allocating `GARBAGE` bytes over
/// `LIVE` live takes at most `GARBAGE / (LIVE / 10)` cycles (an average: one cycle's
/// mark may end before the mutator used its runway). Measured: 107 cycles in one run
/// (193 under valgrind, before the trigger wait); Go 1.27 on this program, GOMAXPROCS=2,
/// 57 to 60 (it also keeps 1 MiB above the live heap for the sweep, which the testbed
/// now does too: `sweepMinHeapDistance`, not remeasured here). The testbed
/// used to make every allocation past the hard goal (at GOGC=0, the goal itself) wait
/// for the cycle's end: 1,035 cycles here.
#[test]
fn gogc_zero_lets_each_cycle_allocate_its_runway_in_concurrent_mode() {
    const LIVE: u64 = 2 << 20;
    const GARBAGE: u64 = 64 << 20;
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(0),
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let node_bytes = NODE.bytes() as u64; // 24 bytes, a size class of its own
    let keep = common::live_list(&m, &NODE, LIVE / node_bytes);
    let before = m.gc_cycles();
    for _ in 0..GARBAGE / node_bytes {
        m.alloc(&NODE);
    }
    let cycles = m.gc_cycles() - before;
    let bound = GARBAGE / (LIVE / 10);
    assert!(cycles > 0, "GOGC=0 ran no cycle");
    assert!(
        cycles <= bound,
        "{cycles} cycles to allocate {GARBAGE} bytes over {LIVE} live (bound {bound})"
    );
    drop(keep);
}

/// One reference slot and seven data words: scannable, so a finalizer's scan counts it.
static FIN_OBJ: Shape = Shape::new("fin_obj", 1, 7);

/// The heap a `gc()` marked (its record's `heap_marked_bytes`, Go's `heapMarked`), with the
/// finalizer queue drained afterwards.
fn marked_by_gc(heap: &Heap, m: &collector::Mutator) -> u64 {
    m.gc();
    m.drain_finalizers();
    heap.stats()
        .cycles
        .last()
        .expect("a cycle")
        .heap_marked_bytes
}

/// A verified heap whose cycles only `gc()` and stepped cycles run.
fn verified_manual_heap() -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// The heap `gc()` marks with nothing allocated, and the slot bytes of `n` `FIN_OBJ`s as
/// the mark counts them when it marks them (at least their shape's bytes); the heap is
/// back to the first afterwards.
fn base_and_slots(heap: &Heap, m: &collector::Mutator, n: usize) -> (u64, u64) {
    marked_by_gc(heap, m);
    let base = marked_by_gc(heap, m);
    let kept: Vec<_> = (0..n).map(|_| m.alloc(&FIN_OBJ)).collect();
    let n_slots = marked_by_gc(heap, m) - base;
    assert!(n_slots >= (n * FIN_OBJ.bytes()) as u64, "{n_slots}");
    drop(kept);
    assert_eq!(marked_by_gc(heap, m), base);
    (base, n_slots)
}

/// Go's `heapMarked` counts every scannable object whose finalizer special the mark
/// scans, marked or not (`gcScanFinalizer` scans it with `scanObject`, which adds its
/// size to `bytesMarked`): an unreachable one once, though it is not marked (sweep
/// resurrects it until its finalizer has run, S43), a reachable one twice. Measured on
/// Go 1.27.3 with 2,000 objects of 576-byte slots and `runtime.GC()`: 76,544 bytes live
/// before, 1,238,432 with the 2,000 dead and finalizable, 2,390,672 with 2,000 reachable
/// ones; the goal follows (S57). A pointer-free object is not scanned, so not counted.
/// The heap's peak counts the dead ones once the sweep has resurrected them, and leaves
/// the second count of the reachable ones out.
#[test]
fn the_marked_heap_counts_finalizer_objects_as_gos_does() {
    let heap = verified_manual_heap();
    let m = heap.mutator();
    const N: usize = 2000;
    let (base, n_slots) = base_and_slots(&heap, &m, N);

    for _ in 0..N {
        let o = m.alloc(&FIN_OBJ);
        m.set_finalizer(&o, |_| {});
    }
    assert_eq!(
        marked_by_gc(&heap, &m),
        base + n_slots,
        "dead: counted once"
    );
    // The sweep resurrected them: in memory, so in the peak beside as many new objects.
    let more: Vec<_> = (0..N).map(|_| m.alloc(&FIN_OBJ)).collect();
    let peak = heap.stats().heap_peak_bytes;
    assert!(peak >= base + 2 * n_slots, "{peak}");
    drop(more);
    // Their finalizers have run: the next cycle frees them, and counts nothing for them.
    assert_eq!(marked_by_gc(&heap, &m), base);

    let kept: Vec<_> = (0..2 * N).map(|_| m.alloc(&FIN_OBJ)).collect();
    for o in &kept {
        m.set_finalizer(o, |_| {});
    }
    assert_eq!(
        marked_by_gc(&heap, &m),
        base + 4 * n_slots,
        "reachable: marked, and counted again by the finalizer's scan"
    );
    // The heap's peak is of objects: the second count of the reachable ones is not in it.
    let peak = heap.stats().heap_peak_bytes;
    assert!(peak < base + 3 * n_slots, "{peak}");
    for o in &kept {
        m.clear_finalizer(o);
    }
    drop(kept);
    marked_by_gc(&heap, &m);

    static POINTER_FREE: Shape = Shape::new("pointer_free", 0, 8);
    for _ in 0..N {
        let o = m.alloc(&POINTER_FREE);
        m.set_finalizer(&o, |_| {});
    }
    assert_eq!(marked_by_gc(&heap, &m), base, "pointer-free: not scanned");
}

/// A finalizer set during a mark counts its object in that mark's `heapMarked`, as Go's
/// `addfinalizer` scans it with `scanObject` while marking, beside the object's
/// allocation black; the root scan after it counts the object once more (Go's
/// `markrootSpans` reaches the new special too), and only once a cycle however often a
/// stepped cycle's caller scans the roots (Go runs each root job once).
#[test]
fn a_finalizer_set_during_a_mark_counts_there_and_the_roots_count_once() {
    let heap = verified_manual_heap();
    let m = heap.mutator();
    const N: usize = 500;
    let (base, n_slots) = base_and_slots(&heap, &m, N);

    let mut cycle = m.blocking(|| heap.begin_cycle());
    for _ in 0..N {
        let o = m.alloc(&FIN_OBJ);
        m.set_finalizer(&o, |_| {});
    }
    m.blocking(|| {
        cycle.scan_roots();
        cycle.scan_roots();
        cycle.mark();
        cycle.finish();
    });
    let marked = heap
        .stats()
        .cycles
        .last()
        .expect("a cycle")
        .heap_marked_bytes;
    assert_eq!(
        marked,
        base + 3 * n_slots,
        "allocated black, set during the mark, and found by one root scan"
    );
    m.drain_finalizers();
}

/// Go recomputes the memory limit's goal at every check (`heapGoalInternal` calls
/// `memoryLimitHeapGoal`, which reads `heapAlloc` as it is then): objects that fill the
/// free slots of spans already in use hold no more memory, so the goal rises with them,
/// byte for byte. A goal fixed at the cycle's end stayed where it was, the free slots a
/// sweep leaves in partly live spans counted as memory held beyond the heap until the
/// next cycle, and with GOGC off cycles ran back to back with nothing allocated between.
#[test]
fn the_memory_limit_goal_rises_as_objects_fill_the_spans_in_use() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        memory_limit: Some(64 << 20),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    // One node in 16 kept: after the cycle every span holds kept nodes among free slots.
    for i in 0..64_000 {
        let n = m.alloc(&NODE);
        if i % 16 == 0 {
            tail.set(0, Some(&n));
            tail = n;
        }
    }
    m.blocking(|| heap.gc());
    m.blocking(|| heap.wait_for_background());
    let before = heap.stats().heap_goal_bytes;
    // 16,000 more kept nodes (24-byte slots) fit in those free slots.
    const FILLED: u64 = 16_000 * 24;
    for _ in 0..FILLED / 24 {
        let n = m.alloc(&NODE);
        tail.set(0, Some(&n));
        tail = n;
    }
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 1, "no automatic cycle: the limit is far");
    let risen = s.heap_goal_bytes.saturating_sub(before);
    // Less Go's headroom (3 % of the goal), and a cached span counts whole (its free
    // slots at once), so up to one span more.
    let (low, high) = (FILLED / 100 * 97, (FILLED + (64 << 10)) / 100 * 97);
    assert!(
        (low..=high).contains(&risen),
        "the goal rose by {risen} bytes (from {before}), not {low} to {high}"
    );
    drop((keep, tail));
}
