//! `HeapConfig::parallel_phases`: the checkmark re-trace, the leak checker's traces and
//! the sweep `gc()` finishes run on the phase threads once the heap is past 1 MiB, and
//! find, report and free exactly what they do on one thread.

use collector::{Gogc, Heap, HeapConfig, LeakCheck, Ref, Shape};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

static NODE: Shape = Shape::new("node", 2, 2);
static WIDE: Shape = Shape::new("wide", 513, 0);

/// What one run found: lost objects, the leak reports, the cleanups run, and which of
/// the sampled garbage and live objects are still allocated after the collections.
#[derive(Debug, PartialEq)]
struct Outcome {
    lost: u64,
    leaks: Vec<String>,
    /// Spans left unswept and cleanups queued when `gc()` returned.
    swept: (usize, u64),
    cleanups_run: usize,
    garbage_left: usize,
    live_left: usize,
}

fn run(parallel_phases: bool) -> Outcome {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        leak_check: LeakCheck::Report,
        parallel_phases,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let ran = Arc::new(AtomicUsize::new(0));
    // Kept: 512 chains of 64 nodes under one object (about 1.5 MiB): wide enough for the
    // re-trace to split.
    let wide = m.alloc(&WIDE);
    let mut live: Vec<Ref> = Vec::new();
    for i in 0..512 {
        let head = m.alloc(&NODE);
        let mut tail = head.clone();
        for _ in 0..64 {
            let n = m.alloc(&NODE);
            tail.set(0, Some(&n));
            tail = n;
        }
        live.push(tail.reference());
        wide.set(i, Some(&head));
    }
    // Garbage, every 16th object with a cleanup: the sweep queues each once.
    let mut garbage: Vec<Ref> = Vec::new();
    for i in 0..40_000 {
        let g = m.alloc(&NODE);
        if i % 16 == 0 {
            let ran = ran.clone();
            m.add_cleanup(&g, (), move |()| {
                ran.fetch_add(1, Relaxed);
            });
            garbage.push(g.reference());
        }
    }
    // A leak: a finalizer whose box reaches its object through a chain.
    let obj = m.alloc(&NODE);
    let via = m.alloc(&NODE);
    let env = m.alloc(&NODE);
    env.set(0, Some(&via));
    via.set(1, Some(&obj));
    m.set_finalizer_with(&obj, &env, |_, _| {});
    wide.set(512, Some(&obj));
    drop((obj, via, env));
    // One cycle: gc() returns with its sweep finished, every cleanup queued.
    m.gc();
    let s = heap.stats();
    let swept = (s.unswept_spans, s.cleanups.queued);
    let garbage_left = garbage.iter().filter(|&&r| heap.is_allocated(r)).count();
    m.drain_cleanups();
    let out = Outcome {
        lost: s.lost_objects,
        leaks: s.leak_reports.clone(),
        swept,
        cleanups_run: ran.load(Relaxed),
        garbage_left,
        live_left: live.iter().filter(|&&r| heap.is_allocated(r)).count(),
    };
    drop(wide);
    drop(m);
    heap.shutdown();
    out
}

#[test]
fn parallel_phases_find_report_and_free_what_one_thread_does() {
    let serial = run(false);
    assert_eq!(serial.lost, 0);
    assert_eq!(serial.leaks.len(), 1, "{:?}", serial.leaks);
    assert_eq!(serial.swept, (0, 40_000 / 16));
    assert_eq!(serial.cleanups_run, 40_000 / 16);
    assert_eq!(serial.garbage_left, 0);
    assert_eq!(serial.live_left, 512);
    assert!(
        phase_threads().is_empty(),
        "no phase thread with the option off"
    );
    assert_eq!(run(true), serial);
    if collector::default_gomaxprocs() > 1 {
        assert!(
            !phase_threads().is_empty(),
            "the phases ran on their threads"
        );
    }
}

/// The names of this process's phase threads (`gc-phase-<pool size>.<index>`).
fn phase_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("gc-phase-"))
        .collect()
}
