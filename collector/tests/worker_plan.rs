//! The mutators a concurrent mark's idle workers are planned around
//! (`CycleRecord::running_mutators`). Go starts idle mark workers only on Ps with nothing
//! else to run (proc.go's `findRunnable`; `startCycle` only caps them at GOMAXPROCS less
//! the dedicated workers), and the goroutine whose allocation crosses the trigger runs
//! `gcStart` itself (malloc.go's `mallocgc` → mgc.go's `gcStart`) and goes on running, so
//! its P is busy; a goroutine blocked in a system call or a channel receive has left its
//! P idle. The testbed fixes its plan when the cycle starts, while the GC thread starts
//! the cycle and the allocating mutator waits for it, so that wait must not make it look
//! idle: it did, and a 2-core heap with one mutator ran two idle workers beside it on
//! two cores, where Go runs one. And whose time the GC thread's scan of the specials'
//! roots counts as (Go's root jobs are its workers' work): the planned workers' kind.

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

/// A heap of `gomaxprocs` Ps holding 20,000 dead finalizable objects, after one `gc()`
/// (whose caller waits, so no mutator runs): a mark whose only work is the specials'
/// root scan (nothing is reachable). Returns its cycle record.
fn mark_of_dead_finalizable_objects(gomaxprocs: usize) -> collector::CycleRecord {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent: true,
        gomaxprocs,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    for _ in 0..20_000 {
        let f = m.alloc(&FILE);
        m.set_finalizer(&f, |_| {});
    }
    m.gc();
    m.drain_finalizers();
    *heap.stats().cycles.last().unwrap()
}

/// Go's root jobs (`markrootSpans`, which scans the finalizer specials) are mark work
/// done by its workers and counted in their time, handed out dedicated first, then
/// fractional, then idle. With GOMAXPROCS 2 and no mutator running the plan is idle
/// workers alone, and the GC thread's scan of the specials counts as idle marking,
/// which the cons/mark estimate counts as the mark's; with GOMAXPROCS 4 a dedicated
/// worker would take the jobs, and the scan counts as background marking. (With one CPU
/// the GOMAXPROCS 4 plan is capped to its dedicated worker: no idle worker to tell
/// apart, so that half needs 2 CPUs to fail without the dedicated rule.)
#[test]
fn the_specials_root_scan_counts_as_the_planned_workers_time() {
    let c = mark_of_dead_finalizable_objects(2);
    assert_eq!(c.marked_objects, 0, "nothing reachable: {c:?}");
    assert!(c.mark_workers > 0, "{c:?}");
    assert!(c.idle_mark_ns > 0, "the root scan's time: {c:?}");
    assert_eq!(c.background_mark_ns, 0, "{c:?}");

    let c = mark_of_dead_finalizable_objects(4);
    assert!(c.background_mark_ns > 0, "the root scan's time: {c:?}");
    assert_eq!(c.idle_mark_ns, 0, "{c:?}");
}
