//! Several mutator threads (more threads than cores) building and rewiring random graphs
//! across many cycles with verification on; the stop-the-world handshake and the
//! blocking state.

mod common;

use collector::{Barrier, Dijkstra, GoHybrid, Gogc, Heap, HeapConfig, Hybrid, Shape, Yuasa};
use common::{verified_heap, Rng};
use std::sync::mpsc;
use std::sync::{Arc, Barrier as StartLine};
use std::time::Duration;

/// Three edges, an id and a check word (id XOR MAGIC): a poisoned or reused object shows.
static VERTEX: Shape = Shape::new("vertex", 3, 2);
static BLOB: Shape = Shape::new("blob", 0, 6);
const MAGIC: u64 = 0x5EED_0FC0_FFEE;
const SHARED_SLOTS: usize = 16;
static SHARED: Shape = Shape::new("shared table", SHARED_SLOTS as u32, 0);

fn check<B: Barrier>(v: &collector::Handle<'_, B>) {
    assert_eq!(v.read(1), v.read(0) ^ MAGIC, "vertex {} damaged", v.read(0));
}

/// Runs `threads` mutators for `rounds` rounds each; every round rewires the thread's
/// graph and the shared table, allocates garbage, and one thread in four calls `gc()`.
fn random_graphs<B: Barrier>(heap: &Heap<B>, threads: usize, rounds: usize) -> u64 {
    let m0 = heap.mutator();
    let table = m0.alloc_global(&SHARED);
    let start = Arc::new(StartLine::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let heap = heap.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let m = heap.mutator();
                let shared = m.global(&table);
                let mut rng = Rng::new(t as u64 + 1);
                let mut next_id = (t as u64) << 40;
                let mut live = Vec::new();
                let mut gcs = 0u64;
                m.blocking(|| start.wait());
                for round in 0..rounds {
                    for _ in 0..200 {
                        match rng.below(10) {
                            0..=3 => {
                                let v = m.alloc(&VERTEX);
                                v.write(0, next_id);
                                v.write(1, next_id ^ MAGIC);
                                next_id += 1;
                                if let Some(u) = live.get(rng.below(live.len().max(1))) {
                                    v.set(rng.below(3), Some(u));
                                }
                                live.push(v);
                            }
                            4..=5 if !live.is_empty() => {
                                let a = rng.below(live.len());
                                let b = rng.below(live.len());
                                let (va, vb): (&collector::Handle<'_, B>, _) = (&live[a], &live[b]);
                                va.set(rng.below(3), Some(vb));
                            }
                            6 if !live.is_empty() => {
                                // Drop a root: whatever only it kept alive becomes garbage.
                                live.swap_remove(rng.below(live.len()));
                            }
                            7 if !live.is_empty() => {
                                let v = &live[rng.below(live.len())];
                                shared.set(rng.below(SHARED_SLOTS), Some(v));
                            }
                            8 => {
                                // Adopt a vertex another thread published.
                                if let Some(v) = shared.get(rng.below(SHARED_SLOTS)) {
                                    check(&v);
                                    live.push(v);
                                }
                            }
                            _ => {
                                m.alloc(&BLOB);
                            }
                        }
                        // Follow a path to check what is reachable is intact.
                        if let Some(v) = live.last() {
                            let mut cur = Some(v.clone());
                            for _ in 0..4 {
                                let Some(c) = cur.take() else { break };
                                check(&c);
                                cur = c.get(rng.below(3));
                            }
                        }
                    }
                    if live.len() > 300 {
                        live.drain(..150);
                    }
                    if round % 4 == t % 4 {
                        m.gc();
                        gcs += 1;
                    }
                }
                gcs
            })
        })
        .collect();
    m0.blocking(|| workers.into_iter().map(|w| w.join().unwrap()).sum())
}

#[test]
fn random_graphs_on_six_mutators_lose_nothing_across_forced_cycles() {
    let heap = verified_heap(Gogc::Off);
    let forced = random_graphs(&heap, 6, 200);
    let s = heap.stats();
    assert!(forced >= 6 * 50);
    // GOGC=off: every cycle is a forced one, and callers that arrive while a cycle runs
    // share the next (Go's runtime.GC), so there are at most as many cycles as calls.
    assert!(
        (1..=forced).contains(&s.gc_cycles),
        "{} cycles",
        s.gc_cycles
    );
    assert_eq!(s.cycles_checked, s.gc_cycles, "every cycle verified");
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
}

#[test]
fn random_graphs_with_automatic_cycles_lose_nothing() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(10),
        min_heap_bytes: 64 * 1024,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let forced = random_graphs(&heap, 4, 30);
    let s = heap.stats();
    // Counted by reason: forced calls made together share a cycle (Go's runtime.GC), so
    // the total says nothing of automatic ones.
    let automatic = s
        .cycles
        .iter()
        .filter(|c| c.reason == collector::CycleReason::Automatic)
        .count();
    assert!(
        forced > 0 && automatic > 0,
        "{forced} forced calls, {automatic} automatic cycles"
    );
    assert_eq!(s.cycles_checked, s.gc_cycles);
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
}

#[test]
fn a_blocked_mutator_never_delays_a_pause() {
    let heap = verified_heap(Gogc::Off);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let h = heap.clone();
    let sleeper = std::thread::spawn(move || {
        let m = h.mutator();
        let keep = m.alloc(&VERTEX);
        keep.write(0, 1);
        keep.write(1, 1 ^ MAGIC);
        // Blocked until the main thread's cycles are done: if a pause waited for this
        // mutator, they would never finish.
        m.blocking(|| {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        check(&keep);
    });
    entered_rx.recv().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let h = heap.clone();
    let collector = std::thread::spawn(move || {
        for _ in 0..3 {
            h.gc();
        }
        done_tx.send(()).unwrap();
    });
    // A hang detector, not a timing threshold: the cycles take milliseconds.
    let finished = done_rx.recv_timeout(Duration::from_secs(120)).is_ok();
    release_tx.send(()).unwrap();
    sleeper.join().unwrap();
    collector.join().unwrap();
    assert!(
        finished,
        "gc() did not complete while a mutator was blocked"
    );
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 3);
    assert_eq!(
        s.lost_objects, 0,
        "the blocked mutator's roots were scanned"
    );
}

#[test]
fn heap_access_inside_blocking_reenters_the_running_state() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let v = m.alloc(&VERTEX);
    m.blocking(|| {
        // Allocation and stores inside a blocking section are allowed: each re-enters
        // the running state for its duration.
        let w = m.alloc(&VERTEX);
        w.write(0, 9);
        v.set(0, Some(&w));
        m.blocking(|| m.gc()); // nested
    });
    assert_eq!(v.get(0).unwrap().read(0), 9);
    m.gc();
    assert_eq!(heap.stats().lost_objects, 0);
}

#[test]
fn mutators_come_and_go_during_cycles() {
    let heap = verified_heap(Gogc::Percent(50));
    let m = heap.mutator();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let h = heap.clone();
            std::thread::spawn(move || {
                for i in 0..30 {
                    let m = h.mutator();
                    let v = m.alloc(&VERTEX);
                    for _ in 0..1000 {
                        m.alloc(&BLOB);
                    }
                    if (i + t) % 5 == 0 {
                        m.gc();
                    }
                    v.write(0, i);
                    assert_eq!(v.read(0), i);
                }
            })
        })
        .collect();
    m.blocking(|| threads.into_iter().for_each(|t| t.join().unwrap()));
    m.gc();
    let s = heap.stats();
    assert_eq!(s.mutators, 1, "every thread's mutator unregistered");
    assert_eq!(s.lost_objects, 0);
}

/// Random graphs mutated by five threads under concurrent cycles with barrier `B`:
/// nothing is lost. (Its negative control is deterministic, in `concurrent_mark.rs`:
/// `without_a_barrier_the_hidden_object_is_lost_and_verification_reports_it`. A random
/// run under `NoBarrier` loses objects only by chance, so it cannot be a control that
/// always fails; the ignored test that ran it here asserted that nothing was lost, the
/// opposite of what its name claimed, and is gone.)
fn concurrent_random_graphs<B: Barrier>() {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Percent(25),
        min_heap_bytes: 64 * 1024,
        verify: true,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let forced = random_graphs(&heap, 5, 60);
    // Automatic cycles run on the background GC thread: a forced cycle waits for the one
    // in flight, so the counters below are settled.
    heap.gc();
    let s = heap.stats();
    let automatic = s
        .cycles
        .iter()
        .filter(|c| c.reason == collector::CycleReason::Automatic)
        .count();
    assert!(
        forced > 0 && automatic > 0,
        "{forced} forced calls, {automatic} automatic cycles"
    );
    assert_eq!(s.cycles_checked, s.gc_cycles, "every cycle verified");
    assert!(
        s.pauses.len() as u64 >= 2 * s.gc_cycles,
        "at least two pauses a cycle"
    );
    assert_eq!(
        s.lost_objects,
        0,
        "{} lost under {:?}: {:?}",
        s.lost_objects,
        B::KIND,
        s.lost_reports
    );
}

#[test]
fn concurrent_cycles_under_go_1_27s_hybrid_barrier_lose_nothing() {
    concurrent_random_graphs::<GoHybrid>();
}

#[test]
fn concurrent_cycles_under_the_hybrid_barrier_lose_nothing() {
    concurrent_random_graphs::<Hybrid>();
}

#[test]
fn concurrent_cycles_under_the_yuasa_barrier_lose_nothing() {
    concurrent_random_graphs::<Yuasa>();
}

#[test]
fn concurrent_cycles_under_the_dijkstra_barrier_lose_nothing() {
    concurrent_random_graphs::<Dijkstra>();
}
