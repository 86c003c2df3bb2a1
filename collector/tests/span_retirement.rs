//! Retiring released free spans (`HeapConfig::unmap_released_spans`, `heap::retire`)
//! while mutators allocate and link objects, a thread that is no mutator reads the heap's
//! statistics (which walk the span table) and forces releases, and the background sweeper
//! and scavenger run: verification on, nothing lost, every handle's object intact, and
//! spans were retired (the mapped count fell below its peak).

mod common;

use collector::{Heap, HeapConfig, Shape};
use common::Rng;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static NODE: Shape = Shape::new("node", 1, 3);

#[test]
fn spans_retire_under_concurrent_mutators_and_readers() {
    let heap = Heap::new(HeapConfig {
        unmap_released_spans: true,
        verify: true,
        heap_limit: Some(96 << 20),
        ..HeapConfig::default()
    })
    .unwrap();
    let done = AtomicBool::new(false);
    let mut peak_mapped = 0;
    std::thread::scope(|t| {
        let workers: Vec<_> = (0..3u64)
            .map(|w| {
                let heap = &heap;
                t.spawn(move || {
                    let m = heap.mutator();
                    let mut rng = Rng::new(w + 1);
                    let mut kept = Vec::new();
                    let list = m.alloc(&NODE);
                    let mut peak = 0;
                    for i in 0..1000u64 {
                        let words = (4 << 10) + rng.below(1 << 17);
                        let big = m.alloc(&Shape::new("big", 0, words as u32));
                        big.write(0, i);
                        if i % 10 == 0 {
                            kept.push((i, big));
                            if kept.len() > 4 {
                                kept.remove(0);
                            }
                        }
                        let n = m.alloc(&NODE);
                        n.write(0, i);
                        n.set(0, list.get(0).as_ref());
                        list.set(0, Some(&n));
                        if i % 50 == 0 {
                            list.set(0, None);
                        }
                        for (j, h) in &kept {
                            assert_eq!(h.read(0), *j, "a kept object changed");
                        }
                        if i % 100 == 0 {
                            peak = peak.max(heap.mapped_and_released_bytes().0);
                        }
                    }
                    peak
                })
            })
            .collect();
        // The peak is sampled while the workers run (by them and by this reader): once
        // they are gone, the cycles and releases that follow may retire every span before
        // the main thread looks (a peak read after the join was 0 in 5 of 30 runs beside
        // a CPU hog).
        let reader = t.spawn(|| {
            let mut peak = 0;
            while !done.load(Relaxed) {
                let _ = heap.stats();
                peak = peak.max(heap.mapped_and_released_bytes().0);
                heap.free_os_memory();
            }
            peak
        });
        for w in workers {
            peak_mapped = peak_mapped.max(w.join().unwrap());
        }
        done.store(true, Relaxed);
        peak_mapped = peak_mapped.max(reader.join().unwrap());
    });
    let before = peak_mapped;
    heap.free_os_memory();
    heap.gc();
    let after = heap.mapped_and_released_bytes().0;
    assert!(
        after < before,
        "no span retired: {after} bytes mapped, {before} before"
    );
    assert_eq!(heap.stats().lost_objects, 0);
}
