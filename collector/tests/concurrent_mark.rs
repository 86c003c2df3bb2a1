//! Concurrent marking: the classic lost-object interleaving driven step by step through
//! the inline cycle API, under each barrier; and random graphs mutated by several threads
//! while cycles mark concurrently, with verification on.

mod common;

use collector::{
    Barrier, Dijkstra, GoHybrid, Gogc, Heap, HeapConfig, HeapStats, Hybrid, NoBarrier, Shape,
    Yuasa, POISON,
};

static NODE: Shape = Shape::new("node", 1, 1);
/// Garbage of another span class than `NODE` (no references, so noscan).
static GARBAGE: Shape = Shape::new("garbage", 0, 2);

fn concurrent_heap<B: Barrier>(gogc: Gogc) -> Heap<B> {
    Heap::<B>::with_barrier(HeapConfig {
        gogc,
        verify: true,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// Y → Z; the cycle scans the mutator's roots (Y); then the mutator copies Z into a new
/// handle (a root, already scanned) and deletes Y → Z before Y is scanned. Only the
/// deletion barrier (hybrid, Yuasa) or Dijkstra's rescan of roots keeps Z. Returns the
/// heap's counters and Z's data word as read afterwards through the handle.
fn hide_a_pointer_in_a_scanned_root<B: Barrier>() -> (HeapStats, u64) {
    let heap = concurrent_heap::<B>(Gogc::Off);
    let m = heap.mutator();
    let y = m.alloc(&NODE);
    let z = m.alloc(&NODE);
    z.write(0, 42);
    y.set(0, Some(&z));
    drop(z);
    let mut cycle = m.blocking(|| heap.begin_cycle());
    // The mutator is blocked: the collector scans its roots itself.
    m.blocking(|| cycle.scan_roots());
    let z = y.get(0).expect("Z is still linked");
    y.set(0, None);
    m.blocking(|| {
        cycle.mark();
        cycle.finish();
    });
    let data = z.read(0);
    (heap.stats(), data)
}

#[test]
fn without_a_barrier_the_hidden_object_is_lost_and_verification_reports_it() {
    let (s, data) = hide_a_pointer_in_a_scanned_root::<NoBarrier>();
    assert_eq!(s.lost_objects, 1, "{:?}", s.lost_reports);
    assert!(
        s.lost_reports[0].contains("checkmark found unmarked object")
            && s.lost_reports[0].contains("reached from handle"),
        "{}",
        s.lost_reports[0]
    );
    assert_eq!(
        data, POISON as u64,
        "Z was freed and poisoned under a live handle"
    );
}

#[test]
fn go_1_27s_hybrid_barrier_keeps_the_hidden_object() {
    let (s, data) = hide_a_pointer_in_a_scanned_root::<GoHybrid>();
    assert_eq!((s.lost_objects, data), (0, 42), "{:?}", s.lost_reports);
}

#[test]
fn the_hybrid_barrier_keeps_the_hidden_object() {
    let (s, data) = hide_a_pointer_in_a_scanned_root::<Hybrid>();
    assert_eq!((s.lost_objects, data), (0, 42), "{:?}", s.lost_reports);
}

#[test]
fn the_yuasa_barrier_keeps_the_hidden_object() {
    let (s, data) = hide_a_pointer_in_a_scanned_root::<Yuasa>();
    assert_eq!((s.lost_objects, data), (0, 42), "{:?}", s.lost_reports);
}

#[test]
fn dijkstras_rescan_keeps_the_hidden_object() {
    let (s, data) = hide_a_pointer_in_a_scanned_root::<Dijkstra>();
    assert_eq!((s.lost_objects, data), (0, 42), "{:?}", s.lost_reports);
}

/// The insertion half of the classic race: a black object receives a pointer to a white
/// one whose only other reference is then deleted. X is marked and scanned first (the
/// mutator's roots hold X only until the scan); W hangs off Y, which the mark has not
/// reached yet.
fn store_into_a_black_object<B: Barrier>() -> HeapStats {
    let heap = concurrent_heap::<B>(Gogc::Off);
    let m = heap.mutator();
    let g = m.alloc_global(&NODE);
    let x = m.alloc(&NODE);
    let y = m.alloc(&NODE);
    let w = m.alloc(&NODE);
    y.set(0, Some(&w));
    m.global(&g).set(0, Some(&y));
    drop((y, w));
    let mut cycle = m.blocking(|| heap.begin_cycle());
    m.blocking(|| {
        cycle.scan_roots();
        cycle.mark(); // everything reachable now is black: X, the global's Y, W
    });
    // A new white object, linked from a black one and from nowhere else.
    let fresh_parent = m.global(&g).get(0).unwrap();
    let v = m.alloc(&NODE); // allocated black while marking
    fresh_parent.set(0, Some(&v));
    x.set(0, Some(&v));
    drop((v, fresh_parent));
    m.blocking(|| cycle.finish());
    assert!(x.get(0).is_some());
    heap.stats()
}

#[test]
fn objects_allocated_while_marking_survive_under_every_barrier() {
    for s in [
        store_into_a_black_object::<GoHybrid>(),
        store_into_a_black_object::<Hybrid>(),
        store_into_a_black_object::<Yuasa>(),
        store_into_a_black_object::<Dijkstra>(),
        store_into_a_black_object::<NoBarrier>(),
    ] {
        assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
        assert_eq!(s.gc_cycles, 1);
        assert_eq!(
            s.pauses.len(),
            2,
            "two pauses: sweep termination and mark termination"
        );
    }
}

#[test]
fn dropping_an_unfinished_cycle_finishes_it() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Off);
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    m.blocking(|| {
        let mut cycle = heap.begin_cycle();
        cycle.scan_roots();
    });
    let s = heap.stats();
    assert_eq!((s.gc_cycles, s.pauses.len()), (1, 2));
    assert_eq!(s.lost_objects, 0);
    keep.write(0, 1);
    // The next cycle runs normally: nothing was left marking.
    m.gc();
    assert_eq!(heap.stats().gc_cycles, 2);
}

/// A cycle abandoned by a panic turns marking off and leaves its mark bits: the next
/// cycle counts its live bytes from the bits (its own count would miss the old marks),
/// and verification, which checks that count, passes; what died meanwhile dies.
#[test]
fn a_cycle_abandoned_by_a_panic_leaves_the_next_one_consistent() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Off);
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let dies = m.alloc(&NODE);
    let abandoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.blocking(|| {
            let mut cycle = heap.begin_cycle();
            cycle.scan_roots();
            cycle.mark();
            panic!("a step failed");
        })
    }));
    assert!(abandoned.is_err());
    assert_eq!(
        heap.stats().gc_cycles,
        0,
        "the abandoned cycle did not complete"
    );
    drop(dies);
    m.gc();
    m.gc();
    let s = heap.stats();
    assert_eq!((s.gc_cycles, s.lost_objects), (2, 0));
    assert_eq!(
        s.heap_live_bytes, 16,
        "only `keep` (one 16-byte slot) is live"
    );
    keep.write(0, 1);
}

#[test]
#[should_panic(expected = "step called on a thread whose mutator is running")]
fn a_cycle_step_on_a_thread_with_a_running_mutator_panics_instead_of_deadlocking() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Off);
    let m = heap.mutator();
    let mut cycle = m.blocking(|| heap.begin_cycle());
    cycle.scan_roots();
}

#[test]
fn automatic_concurrent_cycles_keep_a_growing_graph_and_shutdown_joins_the_gc_thread() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Percent(100));
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    for i in 0..1_500_000u64 {
        let n = m.alloc(&NODE);
        if i % 64 == 0 {
            n.write(0, i);
            tail.set(0, Some(&n));
            tail = n;
        }
    }
    m.blocking(|| heap.wait_for_background());
    let s = heap.stats();
    assert!(s.gc_cycles > 0);
    assert!(s
        .cycles
        .iter()
        .all(|c| c.reason == collector::CycleReason::Automatic));
    assert_eq!(s.cycles_checked, s.gc_cycles);
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    // The chain survived intact.
    let mut n = 0;
    {
        let mut cur = keep.get(0);
        while let Some(c) = cur {
            assert_eq!(c.read(0), n * 64);
            n += 1;
            cur = c.get(0);
        }
    }
    assert_eq!(n, 1_500_000 / 64 + 1);
    drop((keep, tail));
    drop(m);
    heap.shutdown(); // joins the background thread
}

/// With no background workers (`mark_workers: Some(0)`), the mark is paid for by the
/// allocating mutator's assists: a fast allocator with a large live graph cannot grow the
/// heap past the hard goal (Go: `goal × (1 + GOGC/100)`) while the mark runs.
#[test]
fn assists_keep_a_fast_allocator_within_the_hard_goal_without_workers() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        verify: true,
        concurrent: true,
        mark_workers: Some(0),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    // About 6 MiB live: a chain of 400,000 nodes, each reached through the previous one
    // (a mark cannot be parallel, and takes a while).
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    for _ in 0..400_000 {
        let n = m.alloc(&NODE);
        tail.set(0, Some(&n));
        tail = n;
    }
    drop(tail);
    common::allocate_until_two_cycles(&heap, &m, &NODE, 8_000_000, 40_000_000);
    m.blocking(|| heap.wait_for_background());
    let s = heap.stats();
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    assert!(s.cycles.iter().all(|c| c.mark_workers == 0));
    // The highest hard goal of any cycle: twice the goal the cycle before set.
    let max_goal = s
        .cycles
        .iter()
        .map(|c| c.heap_goal_bytes)
        .chain([4 << 20])
        .max()
        .unwrap();
    let hard = 2 * max_goal;
    assert!(
        s.heap_peak_bytes <= hard,
        "heap peak {} over the hard goal {hard}",
        s.heap_peak_bytes
    );
    let assisted: u64 = s.cycles.iter().map(|c| c.assist_ns).sum();
    assert!(assisted > 0, "no assist ran");
    drop(keep);
}

/// Each reference store made while marking takes the barrier's slow path once, and the
/// heap counts it (after the mutator reports it); no store is counted when marking is off,
/// and the `none` barrier has no slow path.
#[test]
fn barrier_slow_paths_are_counted_only_while_marking() {
    fn stores_during_a_cycle<B: Barrier>() -> u64 {
        let heap = concurrent_heap::<B>(Gogc::Off);
        let m = heap.mutator();
        let a = m.alloc(&NODE);
        let b = m.alloc(&NODE);
        a.set(0, Some(&b)); // marking off: fast path only
        m.blocking(|| {
            let mut c = heap.begin_cycle();
            c.scan_roots();
            for _ in 0..3 {
                a.set(0, None);
                a.set(0, Some(&b));
            }
            c.finish();
        });
        a.set(0, None); // marking off again
        drop((a, b));
        drop(m);
        heap.stats().barrier_slow_paths
    }
    assert_eq!(stores_during_a_cycle::<GoHybrid>(), 6);
    assert_eq!(stores_during_a_cycle::<Hybrid>(), 6);
    assert_eq!(stores_during_a_cycle::<Yuasa>(), 6);
    assert_eq!(stores_during_a_cycle::<Dijkstra>(), 6);
    assert_eq!(stores_during_a_cycle::<NoBarrier>(), 0);
}

/// The same with GOGC off and a soft memory limit, and a live graph that grows from one
/// cycle to the next, so that each mark needs more scan work than the last one did (the
/// case Go's `revise` extrapolates the goal for). Go caps that extrapolated goal at its
/// hard goal, which GOGC off makes 1001 × the goal (it computes with GOGC = 100000), and
/// past it assists pace for a 10% overshoot: the heap stays near the limit (with the
/// earlier workload, all garbage in the kept nodes' class, measured on the 2-core
/// machine with two CPU hogs beside it: peaks of 1.8–2.5 × the limit over 18 runs,
/// floating garbage included; with this one, quiet, 15.3 MB, and 21–28.6 MB with assists
/// turned off by a patch; 15.3 MB in six runs after the GC CPU limiter came to count idle
/// marking and assists as they run, the limiter never on: finding 23). A pacer that stops assisting once the expected work is done,
/// as with no hard goal at all, leaves the rest of an assists-only mark to nobody while
/// the heap grows without bound (seen under valgrind, where the collector thread itself
/// is starved; with the earlier workload the previous pacer passed four times the limit
/// in 4 of 13 runs; not tried with this one). `debt_for`'s unit tests pin the rule itself. The garbage is of another span
/// class than the kept nodes, so the sweep frees its spans whole: kept nodes spread one
/// in 16 through every span left each span in use holding them, what Go's memory-limit
/// goal counts as memory held beyond the heap, and once that passed the limit every
/// goal was the live heap and cycles ran back to back (Go, with its mark workers, runs
/// such a program back to back too, in 98–297 cycles; this test, assists only, ran
/// hundreds to thousands of them, for up to 150 s: results/pacer-go-fidelity.md
/// finding 22).
#[test]
fn assists_bound_the_heap_under_a_memory_limit_with_gogc_off() {
    const LIMIT: u64 = 16 << 20;
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        memory_limit: Some(LIMIT as usize),
        concurrent: true,
        mark_workers: Some(0),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    let mut allocated = 0u64;
    // The chain grows by one node per 16 allocations: 500,000 nodes (8 MB) by the end.
    while allocated < 8_000_000 || heap.stats().gc_cycles < 4 {
        assert!(
            allocated < 80_000_000,
            "under four cycles: {:?}",
            heap.stats()
        );
        for i in 0..16_000 {
            if i % 16 == 0 {
                let n = m.alloc(&NODE);
                tail.set(0, Some(&n));
                tail = n;
            } else {
                drop(m.alloc(&GARBAGE));
            }
        }
        allocated += 16_000;
        assert!(
            heap.stats().heap_peak_bytes <= 4 * LIMIT,
            "the heap grew past four times the limit: {:?}",
            heap.stats()
        );
    }
    m.blocking(|| heap.wait_for_background());
    let assisted: u64 = heap.stats().cycles.iter().map(|c| c.assist_ns).sum();
    assert!(assisted > 0, "no assist ran");
    drop((keep, tail));
}

/// A stepped cycle finished without `scan_roots` (a misuse the API allows: `finish` or a
/// drop right after `begin_cycle`) still marks every mutator's handles in its
/// termination pause: nothing a live handle reaches is swept. Without that, the hybrid
/// barrier (which never rescans) swept the handle's object and its child, and verification
/// reported both lost.
#[test]
fn a_stepped_cycle_finished_without_scanning_roots_keeps_what_handles_reach() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Off);
    let m = heap.mutator();
    let parent = m.alloc(&NODE);
    parent.set(0, Some(&m.alloc(&NODE)));
    parent.get(0).unwrap().write(0, 42);
    m.blocking(|| heap.begin_cycle().finish());
    m.blocking(|| drop(heap.begin_cycle()));
    let s = heap.stats();
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    assert_eq!(parent.get(0).unwrap().read(0), 42);
    drop(parent);
}

/// The same for the specials' roots (S27–S30): a stepped cycle finished without
/// `scan_roots` marks, in its termination pause, what finalizers hold (a finalizer's
/// environment box, what a finalizable object references), or verification reports them
/// lost and the sweep frees them under the finalizer.
#[test]
fn a_stepped_cycle_finished_without_scanning_roots_keeps_what_finalizers_hold() {
    let heap = concurrent_heap::<Hybrid>(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&NODE);
    let env = m.alloc(&NODE);
    env.write(0, 7);
    obj.set(0, Some(&m.alloc(&NODE)));
    m.set_finalizer_with(&obj, &env, |_, _| {});
    drop(env);
    m.blocking(|| heap.begin_cycle().finish());
    let s = heap.stats();
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    drop(obj);
    m.gc();
    m.drain_finalizers();
    assert_eq!(heap.stats().lost_objects, 0);
}
