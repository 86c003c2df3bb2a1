//! The mutators a concurrent mark's idle workers are planned around
//! (`CycleRecord::running_mutators`). Go starts idle mark workers only on Ps with nothing
//! else to run (proc.go's `findRunnable`; `startCycle` only caps them at GOMAXPROCS less
//! the dedicated workers), and the goroutine whose allocation crosses the trigger runs
//! `gcStart` itself (malloc.go's `mallocgc` → mgc.go's `gcStart`) and goes on running, so
//! its P is busy; a goroutine blocked in a system call or a channel receive has left its
//! P idle. The testbed fixes its plan when the cycle starts, while the GC thread starts
//! the cycle and the allocating mutator waits for it, so that wait must not make it look
//! idle: it did, and a 2-core heap with one mutator ran two idle workers beside it on
//! two cores, where Go runs one.

use collector::{CycleReason, Gogc, Heap, HeapConfig, Shape};
use std::sync::mpsc;

static NODE: Shape = Shape::new("node", 1, 2);

/// One allocating mutator and one blocked for the whole run: every automatic cycle counts
/// the allocating one as running, the blocked one not.
#[test]
fn the_allocating_mutator_counts_as_running_when_its_cycle_starts() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let (release, parked) = mpsc::channel::<()>();
    let (ready, is_ready) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let heap = &heap;
        s.spawn(move || {
            let other = heap.mutator();
            other.blocking(|| {
                ready.send(()).unwrap();
                parked.recv().unwrap();
            });
        });
        is_ready.recv().unwrap();
        let m = heap.mutator();
        let keep = m.alloc(&NODE);
        while heap.stats().gc_cycles < 3 {
            // Garbage, beside a small live chain.
            for _ in 0..1000 {
                let n = m.alloc(&NODE);
                n.set(0, Some(&keep));
            }
        }
        m.blocking(|| heap.wait_for_background());
        release.send(()).unwrap();
        drop(keep);
    });
    let s = heap.stats();
    let automatic: Vec<_> = s
        .cycles
        .iter()
        .filter(|c| c.reason == CycleReason::Automatic)
        .collect();
    assert!(automatic.len() >= 3, "{:?}", s.cycles);
    for c in automatic {
        assert_eq!(
            c.running_mutators, 1,
            "cycle {}: one mutator allocated, one was blocked",
            c.cycle
        );
    }
}

static FILE: Shape = Shape::new("file", 1, 65);

/// Go's root jobs (`markrootSpans`, which scans the finalizer specials) are mark work
/// done by its workers and counted in their time: on 2 Ps with the caller of
/// `runtime.GC` waiting, by idle workers, whose time the cons/mark estimate counts as
/// the mark's. The testbed's GC thread scans the specials' roots itself, and counts that
/// scan as idle mark time when the plan runs idle workers: a mark whose only work is
/// that scan (thousands of dead finalizable objects, nothing to mark) has idle time.
#[test]
fn the_specials_root_scan_counts_as_idle_mark_time() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent: true,
        gomaxprocs: 2,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    for _ in 0..20_000 {
        let f = m.alloc(&FILE);
        m.set_finalizer(&f, |_| {});
    }
    m.gc();
    let s = heap.stats();
    let c = s.cycles.last().unwrap();
    assert!(c.mark_workers > 0, "{c:?}");
    assert!(c.idle_mark_ns > 0, "the root scan's time: {c:?}");
    assert_eq!(c.background_mark_ns, 0, "{c:?}");
    m.drain_finalizers();
}
