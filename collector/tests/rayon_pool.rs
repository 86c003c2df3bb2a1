//! A rayon pool whose workers are mutators (`Heap::mutator_pool`): tasks that allocate
//! and link objects across many cycles under every real barrier with verification on,
//! an idle pool that never delays a pause, and the misuse the pool refuses.

mod common;

use collector::{
    Barrier, Dijkstra, GoHybrid, Gogc, Heap, HeapConfig, Hybrid, Mutator, MutatorPool, Shape, Yuasa,
};
use common::{panic_message, Rng};
use rayon::prelude::*;
use std::sync::mpsc;
use std::time::Duration;

/// Two edges, an id and a check word (id XOR MAGIC): a poisoned or reused object shows.
static VERTEX: Shape = Shape::new("vertex", 2, 2);
static BLOB: Shape = Shape::new("blob", 0, 6);
const MAGIC: u64 = 0x5EED_0FC0_FFEE;
const SLOTS: usize = 32;
static TABLE: Shape = Shape::new("shared table", SLOTS as u32, 0);

/// A hang detector, not a timing threshold: every cycle here takes milliseconds.
const WATCHDOG: Duration = Duration::from_secs(120);

fn check<B: Barrier>(v: &collector::Handle<'_, B>) {
    assert_eq!(v.read(1), v.read(0) ^ MAGIC, "vertex {} damaged", v.read(0));
}

/// One task: builds a chain of vertices, links it to chains other tasks published in the
/// global table, walks what it reaches checking every vertex, publishes its chain, and
/// every eighth task forces a cycle. Returns the vertices it checked.
fn task<B: Barrier>(m: &Mutator<B>, table: &collector::Global, seed: u64) -> u64 {
    let shared = m.global(table);
    let mut rng = Rng::new(seed);
    let head = m.alloc(&VERTEX);
    head.write(0, seed << 20);
    head.write(1, (seed << 20) ^ MAGIC);
    let mut tail = head.clone();
    for i in 1..40 {
        let v = m.alloc(&VERTEX);
        let id = (seed << 20) | i;
        v.write(0, id);
        v.write(1, id ^ MAGIC);
        if let Some(other) = shared.get(rng.below(SLOTS)) {
            check(&other);
            v.set(1, Some(&other));
        }
        tail.set(0, Some(&v));
        tail = v;
        m.alloc(&BLOB); // garbage, so automatic cycles start
    }
    drop(tail);
    let mut checked = 0;
    let mut cur = Some(head.clone());
    while let Some(v) = cur.take() {
        check(&v);
        checked += 1;
        if let Some(side) = v.get(1) {
            check(&side);
            checked += 1;
        }
        cur = v.get(0);
    }
    shared.set(rng.below(SLOTS), Some(&head));
    if seed.is_multiple_of(8) {
        m.gc();
    }
    checked
}

/// Runs `rounds` parallel loops of `tasks` tasks on a 3-worker pool (more workers than
/// cores), half of them split further through `MutatorPool::join` so that threads steal
/// tasks while waiting; returns the vertices checked.
fn pool_rounds<B: Barrier>(heap: &Heap<B>, rounds: u64, tasks: u64) -> u64 {
    let table = heap.mutator().alloc_global(&TABLE);
    let pool = heap.mutator_pool(3).unwrap();
    let mut checked = 0;
    for round in 0..rounds {
        checked += pool.install(|| {
            (0..tasks)
                .into_par_iter()
                .map(|i| {
                    let seed = round * tasks + i + 1;
                    if i % 2 == 0 {
                        return pool.with_mutator(|m| task(m, &table, seed));
                    }
                    let (a, b) = pool.with_mutator(|m| {
                        let keep = m.alloc(&VERTEX);
                        keep.write(0, seed);
                        keep.write(1, seed ^ MAGIC);
                        // The wait blocks this mutator; a task stolen meanwhile runs it.
                        let r = pool.join(
                            |m| task(m, &table, seed << 8),
                            |m| task(m, &table, (seed << 8) + 1),
                        );
                        check(&keep);
                        r
                    });
                    a + b
                })
                .sum::<u64>()
        });
    }
    drop(pool);
    assert_eq!(
        heap.stats().mutators,
        0,
        "dropping the pool joined its workers"
    );
    checked
}

fn tasks_lose_nothing<B: Barrier>() {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Percent(10),
        min_heap_bytes: 256 * 1024,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let checked = pool_rounds(&heap, 6, 96);
    let s = heap.stats();
    assert!(checked >= 6 * 96 * 40, "{checked} vertices checked");
    assert!(
        s.gc_cycles >= 20,
        "many cycles ran while tasks mutated: {}",
        s.gc_cycles
    );
    assert_eq!(s.cycles_checked, s.gc_cycles, "every cycle verified");
    assert_eq!(s.lost_objects, 0, "{:?}", s.lost_reports);
    heap.shutdown();
}

#[test]
fn rayon_tasks_lose_nothing_under_hybrid() {
    tasks_lose_nothing::<Hybrid>();
}

#[test]
fn rayon_tasks_lose_nothing_under_go_hybrid() {
    tasks_lose_nothing::<GoHybrid>();
}

#[test]
fn rayon_tasks_lose_nothing_under_dijkstra() {
    tasks_lose_nothing::<Dijkstra>();
}

#[test]
fn rayon_tasks_lose_nothing_under_yuasa() {
    tasks_lose_nothing::<Yuasa>();
}

/// Runs `cycles` forced cycles on another thread (this one has no mutator) and says
/// whether they finished before the watchdog.
fn cycles_finish(heap: &Heap, cycles: usize) -> bool {
    let (done_tx, done_rx) = mpsc::channel();
    let h = heap.clone();
    // Not joined on failure: a hung cycle stays hung, and the assertion reports it.
    std::thread::spawn(move || {
        for _ in 0..cycles {
            h.gc();
        }
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(WATCHDOG).is_ok()
}

#[test]
fn an_idle_pool_never_delays_a_pause() {
    let heap = common::verified_heap(Gogc::Off);
    let pool = heap.mutator_pool(3).unwrap();
    // Every worker has run a task (its mutator running, then blocked again); none runs
    // one now.
    let ids = pool.broadcast(|m| {
        let v = m.alloc(&VERTEX);
        v.write(0, 7);
        v.read(0)
    });
    assert_eq!(ids, vec![7; 3]);
    let s = heap.stats();
    assert_eq!(s.mutators, 3, "one mutator per worker, registered");
    let pauses_before = s.pauses.len();
    assert!(
        cycles_finish(&heap, 3),
        "gc() did not complete while the pool's workers were idle"
    );
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 3);
    // A concurrent cycle has two pauses (sweep termination, mark termination), each
    // recorded when the world restarts: every stop reached every worker stopped.
    assert_eq!(s.pauses.len() - pauses_before, 6, "{:?}", s.pauses);
    for (i, p) in s.pauses[pauses_before..].iter().enumerate() {
        assert_eq!(p.cycle, 1 + i as u64 / 2);
    }
    assert_eq!(s.mutators, 3, "the workers' mutators stay registered");
    assert_eq!(s.lost_objects, 0);
    // The pool still works after the cycles.
    assert_eq!(pool.broadcast(|m| m.gc_cycles()), vec![3; 3]);
}

#[test]
fn a_task_waiting_inside_join_never_delays_a_pause() {
    let heap = common::verified_heap(Gogc::Off);
    let pool = std::sync::Arc::new(heap.mutator_pool(2).unwrap());
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, release_rx) = (
        std::sync::Mutex::new(entered_tx),
        std::sync::Mutex::new(release_rx),
    );
    let p = pool.clone();
    // Not joined on failure: a hung pause would hold this thread too.
    let job = std::thread::spawn(move || {
        p.install(|| {
            p.with_mutator(|m| {
                let keep = m.alloc(&VERTEX);
                keep.write(0, 5);
                keep.write(1, 5 ^ MAGIC);
                // One half parks (blocked) until the cycles are done; the other half,
                // and the task that waits for both, hold no running mutator meanwhile.
                p.join(
                    |m| {
                        m.blocking(|| {
                            entered_tx.lock().unwrap().send(()).unwrap();
                            release_rx.lock().unwrap().recv().unwrap();
                        })
                    },
                    |m| m.alloc(&BLOB).read(0),
                );
                check(&keep);
            })
        })
    });
    entered_rx.recv().unwrap();
    assert!(
        cycles_finish(&heap, 3),
        "gc() did not complete while a task waited in join"
    );
    release_tx.send(()).unwrap();
    job.join().unwrap();
    let s = heap.stats();
    assert_eq!(s.gc_cycles, 3);
    assert_eq!(s.lost_objects, 0, "the waiting task's roots were scanned");
}

fn panic_of(f: impl FnOnce()) -> String {
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("it panics");
    panic_message(&*p)
}

#[test]
fn a_fork_inside_with_mutator_outside_blocking_panics() {
    let heap = common::verified_heap(Gogc::Off);
    let pool: MutatorPool = heap.mutator_pool(2).unwrap();
    // rayon runs the first half of a join on the calling thread at once: the nested
    // with_mutator meets its own running mutator, deterministically.
    let msg = panic_of(|| {
        pool.install(|| {
            pool.with_mutator(|_| {
                rayon::join(|| pool.with_mutator(|_| ()), || ());
            })
        })
    });
    assert!(msg.contains("already running"), "{msg}");
    // The worker's mutator was blocked again on unwinding: a pause still completes.
    assert!(cycles_finish(&heap, 1));
}

#[test]
fn with_mutator_outside_the_pool_panics() {
    let heap = common::verified_heap(Gogc::Off);
    let pool = heap.mutator_pool(1).unwrap();
    let other = heap.mutator_pool(1).unwrap();
    let msg = panic_of(|| pool.with_mutator(|_| ()));
    assert!(msg.contains("not one of this pool's workers"), "{msg}");
    let msg = other.install(|| panic_of(|| pool.with_mutator(|_| ())));
    assert!(msg.contains("not one of this pool's workers"), "{msg}");
}

#[test]
fn waiting_for_the_pool_with_a_running_mutator_panics_instead_of_deadlocking() {
    let heap = common::verified_heap(Gogc::Off);
    let pool = heap.mutator_pool(1).unwrap();
    let m = heap.mutator();
    // Each used to wait forever (found in review): the task's gc() waits for m.
    let msg = panic_of(|| pool.install(|| pool.with_mutator(|w| w.gc())));
    assert!(
        msg.contains("install called on a thread whose mutator"),
        "{msg}"
    );
    let msg = panic_of(|| drop(pool.broadcast(|w| w.gc())));
    assert!(msg.contains("broadcast called"), "{msg}");
    let msg = panic_of(|| {
        pool.join(|w| w.gc(), |_| ());
    });
    assert!(msg.contains("join called"), "{msg}");
    let msg = panic_of(|| m.scope(|_| pool.install(|| ())));
    assert!(msg.contains("install called"), "{msg}");
    // Blocked, the same call is fine.
    m.blocking(|| pool.install(|| pool.with_mutator(|w| w.gc())));
}

#[test]
fn a_pool_after_shutdown_panics_saying_so() {
    let heap = common::verified_heap(Gogc::Off);
    let pool = heap.mutator_pool(1).unwrap();
    heap.shutdown();
    let msg = panic_of(|| pool.install(|| pool.with_mutator(|_| ())));
    assert!(msg.contains("shut down"), "{msg}");
    let msg = panic_of(|| drop(heap.mutator_pool(1)));
    assert!(msg.contains("shut down"), "{msg}");
}

/// rayon's `use_current_thread` would make the building thread a worker that never went
/// through the spawn handler, so it would have no mutator: the build refuses it, saying why.
#[test]
fn a_pool_built_with_use_current_thread_panics_saying_why() {
    let heap = common::verified_heap(Gogc::Off);
    let builder = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .use_current_thread();
    let msg = panic_of(|| drop(heap.mutator_pool_with(builder)));
    assert!(msg.contains("use_current_thread"), "{msg}");
    // The heap is still usable from this thread afterwards.
    let pool = heap.mutator_pool(1).unwrap();
    let ran = pool.install(|| {
        pool.with_mutator(|m| {
            m.gc();
            7
        })
    });
    assert_eq!(ran, 7);
}

/// The negative control: the same tasks on a heap without a barrier lose objects, so
/// the tests above can see a loss. Not in every run: on the 2-core machine with other
/// builds running, one run in three or so lost nothing (20 tests of three runs each:
/// 6 and 7 lost nothing in all three), so a run that loses nothing is retried, up to
/// twenty runs in all (each takes about 50 ms).
#[test]
fn without_a_barrier_the_same_tasks_lose_objects() {
    let lost = (0..20)
        .map(|_| {
            let heap = Heap::<collector::NoBarrier>::with_barrier(HeapConfig {
                gogc: Gogc::Percent(10),
                min_heap_bytes: 256 * 1024,
                verify: true,
                ..HeapConfig::default()
            })
            .unwrap();
            // A lost object may also be met as a freed one: a task then panics.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool_rounds(&heap, 6, 96)
            }));
            let lost = heap.lost_objects();
            heap.shutdown();
            lost
        })
        .find(|&lost| lost > 0);
    assert!(
        lost.is_some(),
        "no barrier, and nothing was lost in twenty runs"
    );
}
