//! Marking with several threads in a pause (GOMAXPROCS 4: one marker per P up to the
//! CPUs there are): it must mark exactly what is reachable — checked against an
//! independent count made by walking the graph through handles — and verification must
//! find nothing lost.

mod common;

use collector::{Gogc, Heap, HeapConfig, Shape};
use common::Rng;
use std::collections::HashSet;

static VERTEX: Shape = Shape::new("vertex", 4, 1);

/// Counts the objects reachable from `roots` by walking reference slots.
fn reachable(roots: &[collector::Handle<'_>]) -> usize {
    let mut seen = HashSet::new();
    let mut stack: Vec<collector::Handle<'_>> = roots.to_vec();
    while let Some(h) = stack.pop() {
        if !seen.insert(h.reference()) {
            continue;
        }
        for i in 0..h.ptr_slots() {
            if let Some(c) = h.get(i) {
                if !seen.contains(&c.reference()) {
                    stack.push(c);
                }
            }
        }
    }
    seen.len()
}

#[test]
fn markers_up_to_four_mark_exactly_the_reachable_graph() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        gomaxprocs: 4,
        concurrent: false,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let mut rng = Rng::new(7);
    // 60,000 vertices (~2.4 MB, over the 1 MiB threshold for parallel marking), wired at
    // random, rooted through 16 handles; the rest becomes garbage.
    let all: Vec<_> = (0..60_000u64)
        .map(|i| {
            let v = m.alloc(&VERTEX);
            v.write(0, i);
            v
        })
        .collect();
    for round in 0..5 {
        for _ in 0..40_000 {
            let a = &all[rng.below(all.len())];
            let b = &all[rng.below(all.len())];
            a.set(rng.below(4), if rng.below(8) == 0 { None } else { Some(b) });
        }
        let roots: Vec<_> = (0..16).map(|_| all[rng.below(all.len())].clone()).collect();
        // Everything is still rooted by `all` in rounds 0..4; in the last round only
        // `roots` hold the graph.
        let expected = if round < 4 { all.len() } else { 0 };
        if round == 4 {
            let want = reachable(&roots);
            drop(all);
            m.gc();
            let s = heap.stats();
            let last = s.cycles.last().unwrap();
            let cpus = collector::default_gomaxprocs();
            assert_eq!(last.mark_threads as usize, cpus.min(4));
            assert_eq!(last.marked_objects as usize, want, "marked = reachable");
            assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
            assert_eq!(reachable(&roots), want, "the graph survived intact");
            break;
        }
        m.gc();
        let s = heap.stats();
        assert_eq!(s.cycles.last().unwrap().marked_objects as usize, expected);
        assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    }
    assert_eq!(heap.stats().cycles_checked, 5);
}

#[test]
fn small_heaps_are_marked_by_one_thread() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        gomaxprocs: 4,
        concurrent: false,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let _v = m.alloc(&VERTEX);
    m.gc();
    assert_eq!(heap.stats().cycles[0].mark_threads, 1);
}
