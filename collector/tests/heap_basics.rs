//! The heap's observable behaviour: allocation, reachability across cycles, the tiny
//! block, the zero-sized sentinel, the globals space, large objects, interior handles,
//! GOGC pacing and `gc()`.

mod common;

use collector::{Gogc, Heap, HeapConfig, Shape};
use common::verified_heap;

static NODE: Shape = Shape::new("node", 2, 1);
static LEAF: Shape = Shape::new("leaf", 0, 3);
static INT: Shape = Shape::new("int", 0, 1);
static EMPTY: Shape = Shape::new("struct{}", 0, 0);
static BIG: Shape = Shape::new("big", 1, 100_000);

#[test]
fn new_objects_are_zeroed_and_hold_their_values() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&NODE);
    assert!(a.get(0).is_none() && a.get(1).is_none());
    assert_eq!(a.read(0), 0);
    a.write(0, 7);
    let b = m.alloc(&LEAF);
    b.write(2, 99);
    a.set(1, Some(&b));
    assert!(a.get(1).unwrap().same_object(&b));
    assert_eq!(a.get(1).unwrap().read(2), 99);
    a.set(1, None);
    assert!(a.get(1).is_none());
}

#[test]
fn reachable_objects_survive_and_unreachable_ones_are_freed() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let root = m.alloc(&NODE);
    // A chain of 10,000 nodes hanging off the root.
    let mut tail = root.clone();
    for i in 0..10_000u64 {
        let n = m.alloc(&NODE);
        n.write(0, i);
        tail.set(0, Some(&n));
        tail = n;
    }
    drop(tail);
    // 50,000 garbage objects.
    for _ in 0..50_000 {
        m.alloc(&LEAF);
    }
    let before = heap.stats().heap_live_bytes;
    m.gc();
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 1);
    assert_eq!(s.lost_objects, 0);
    assert!(
        s.heap_live_bytes < before,
        "garbage was freed: {} -> {}",
        before,
        s.heap_live_bytes
    );
    assert_eq!(
        s.heap_live_bytes,
        10_001 * 24,
        "10,001 nodes of 24 bytes survive"
    );
    let mut cur = root.get(0);
    let mut i = 0;
    while let Some(n) = cur {
        assert_eq!(n.read(0), i);
        i += 1;
        cur = n.get(0);
    }
    assert_eq!(i, 10_000);
    drop(root);
    m.gc();
    assert_eq!(
        heap.stats().heap_live_bytes,
        0,
        "the whole chain died with its root"
    );
}

#[test]
fn freed_slots_are_reused() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    for _ in 0..10_000 {
        m.alloc(&NODE);
    }
    m.gc();
    let spans = heap.stats().spans;
    for _ in 0..10 {
        for _ in 0..10_000 {
            m.alloc(&NODE);
        }
        m.gc();
    }
    let after = heap.stats().spans;
    assert_eq!(
        spans.iter().sum::<usize>(),
        after.iter().sum::<usize>(),
        "no new spans: {spans:?} vs {after:?}"
    );
}

#[test]
fn tiny_objects_share_a_block_and_a_neighbour_keeps_it_alive() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&INT);
    let b = m.alloc(&INT);
    let (ra, rb) = (a.reference(), b.reference());
    assert_eq!(
        (ra.span(), ra.slot()),
        (rb.span(), rb.slot()),
        "one 16-byte block"
    );
    assert_eq!((ra.tiny_offset(), rb.tiny_offset()), (0, 1));
    a.write(0, 11);
    b.write(0, 22);
    drop(a);
    m.gc();
    assert_eq!(b.read(0), 22);
    // The block (16 bytes) is live only because of b: a rides along (S51).
    assert_eq!(heap.stats().heap_live_bytes, 16);
    drop(b);
    m.gc();
    assert_eq!(heap.stats().heap_live_bytes, 0);
}

#[test]
fn zero_sized_objects_share_one_immortal_sentinel() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&EMPTY);
    let b = m.alloc(&EMPTY);
    assert!(a.same_object(&b));
    assert_eq!((a.ptr_slots(), a.data_words()), (0, 0));
    let holder = m.alloc(&NODE);
    holder.set(0, Some(&a));
    drop((a, b));
    m.gc();
    assert!(holder.get(0).is_some(), "the sentinel is never freed");
    assert_eq!(
        heap.stats().heap_live_bytes,
        24,
        "only the holder: the sentinel is not heap"
    );
}

#[test]
fn globals_are_immortal_roots_visible_to_every_mutator() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let g = m.alloc_global(&NODE);
    {
        let gh = m.global(&g);
        let child = m.alloc(&LEAF);
        child.write(1, 5);
        gh.set(0, Some(&child));
    }
    m.gc();
    let h2 = heap.clone();
    // Waiting for another thread is blocking: without `blocking`, this mutator would hold
    // up the other thread's pause forever.
    let t = std::thread::spawn(move || {
        let m2 = h2.mutator();
        let gh = m2.global(&g);
        assert_eq!(gh.get(0).expect("kept alive by the global").read(1), 5);
        m2.gc();
        assert_eq!(m2.global(&g).get(0).unwrap().read(1), 5);
    });
    m.blocking(|| t.join()).unwrap();
    assert_eq!(heap.stats().lost_objects, 0);
}

#[test]
fn large_objects_get_their_own_span_and_are_freed() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let big = m.alloc(&BIG);
    assert_eq!(big.data_words(), 100_000);
    big.write(99_999, 3);
    let leaf = m.alloc(&LEAF);
    big.set(0, Some(&leaf));
    drop(leaf);
    m.gc();
    assert_eq!(big.read(99_999), 3);
    assert!(big.get(0).is_some());
    assert_eq!(
        heap.stats().spans[1],
        1,
        "one large span: {:?}",
        heap.stats().spans
    );
    drop(big);
    m.gc();
    assert_eq!(heap.stats().heap_live_bytes, 0);
    // The freed large span is reused for the next object of the same size.
    let spans = heap.stats().spans.iter().sum::<usize>();
    let again = m.alloc(&BIG);
    assert_eq!(again.read(5), 0, "a reused span is zeroed");
    assert_eq!(heap.stats().spans.iter().sum::<usize>(), spans);
}

#[test]
fn an_interior_handle_keeps_the_whole_object_alive() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let obj = m.alloc(&NODE);
    let child = m.alloc(&LEAF);
    obj.set(1, Some(&child));
    obj.write(0, 77);
    let field = obj.interior(2);
    drop((obj, child));
    m.gc();
    assert_eq!(field.read(), 77);
    assert!(
        field.object().get(1).is_some(),
        "the object's other fields stay alive (S50)"
    );
    assert_eq!(heap.stats().lost_objects, 0);
}

/// S-level behaviour of `runtime.GC()` with GOGC=off, in both modes: stop-the-world
/// (`--stw`, Go's gcstoptheworld=1) takes exactly one pause per cycle; concurrent takes at
/// least two (mark start and mark termination).
#[test]
fn gc_runs_a_cycle_even_when_automatic_collection_is_off() {
    for concurrent in [false, true] {
        gc_with_automatic_collection_off(concurrent);
    }
}

fn gc_with_automatic_collection_off(concurrent: bool) {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    for _ in 0..200_000 {
        m.alloc(&NODE);
    }
    assert_eq!(heap.stats().gc_cycles, 0, "GOGC=off: no automatic cycle");
    m.gc();
    m.blocking(|| heap.gc_from_other_thread());
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 2);
    assert_eq!(
        s.cycles
            .iter()
            .filter(|c| c.reason == collector::CycleReason::Forced)
            .count(),
        2
    );
    if concurrent {
        assert!(s.pauses.len() >= 4, "{} pauses", s.pauses.len());
    } else {
        assert_eq!(s.pauses.len(), 2, "one pause per cycle");
    }
    assert!(s.pauses.iter().all(|p| p.ttsp_ns <= p.duration_ns));
    assert_eq!(s.unswept_spans, 0, "gc() returns with the sweep done");
}

trait GcFromOtherThread {
    fn gc_from_other_thread(&self);
}

impl GcFromOtherThread for Heap {
    fn gc_from_other_thread(&self) {
        let h = self.clone();
        std::thread::spawn(move || h.gc()).join().unwrap();
    }
}

#[test]
fn automatic_stop_the_world_cycles_keep_the_heap_near_the_gogc_goal() {
    let heap = Heap::new(HeapConfig {
        concurrent: false,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let mut tail = keep.clone();
    // ~1 MiB live, 64 MiB allocated in total.
    for i in 0..2_000_000u64 {
        let n = m.alloc(&NODE);
        if i % 64 == 0 {
            tail.set(0, Some(&n));
            tail = n;
        }
    }
    let s = heap.stats();
    assert!(s.gc_cycles >= 10, "{} cycles", s.gc_cycles);
    assert!(s
        .cycles
        .iter()
        .all(|c| c.reason == collector::CycleReason::Automatic));
    // The goal is max(4 MiB, 2 x live); a cycle starts at the first span refill past it,
    // so the peak overshoots by at most one span per size class in use.
    assert!(
        s.heap_peak_bytes <= 4 * 1024 * 1024 + 64 * 1024,
        "peak {}",
        s.heap_peak_bytes
    );
}

#[test]
fn gogc_scales_the_goal() {
    let run = |gogc| {
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Percent(gogc),
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        for _ in 0..1_000_000 {
            m.alloc(&NODE);
        }
        heap.stats().gc_cycles
    };
    let (c50, c400) = (run(50), run(400));
    assert!(
        c50 > c400,
        "GOGC=50 runs more cycles ({c50}) than GOGC=400 ({c400})"
    );
}

/// `in_use_bytes` is Go's `heapInUse`: the spans holding objects, their free slots
/// included, so at least the live bytes; it falls when a cycle frees whole spans.
#[test]
fn in_use_bytes_counts_the_spans_holding_objects() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let before = heap.in_use_bytes();
    let keep: Vec<_> = (0..20_000).map(|_| m.alloc(&LEAF)).collect();
    let big = m.alloc(&BIG);
    let grown = heap.in_use_bytes() - before;
    let leaf_bytes = 20_000 * LEAF.bytes();
    assert!(
        grown >= leaf_bytes + BIG.bytes(),
        "in use grew {grown} bytes for {leaf_bytes} of leaves and a {}-byte object",
        BIG.bytes()
    );
    drop((keep, big));
    m.gc();
    assert!(
        heap.in_use_bytes() < before + grown / 10,
        "after the objects are freed: {} (before them {before}, with them {})",
        heap.in_use_bytes(),
        before + grown
    );
}
