//! A queued callback's objects stay rooted while a runner takes them during a mark
//! (S27: finq and the cleanup queue are roots; S43: while a finalizer is queued or
//! running, its entry roots the object).
//!
//! The queues are scanned once per mark, concurrently with the mutators. A runner that
//! takes an entry after its mutator's roots were scanned but before the queue was (under
//! Yuasa's barrier every mutator's roots are scanned in the first pause; a runner
//! registered during a mark has its roots counted as scanned) holds the only reference:
//! unless the take shades it, the mark never reaches the object and the sweep frees it
//! under the callback. Each test pins that interleaving with a stepped cycle: a first
//! callback holds the runner while the second entry waits in the queue, the cycle
//! begins, the runner is let go to take the second entry, and the cycle finishes while
//! the second callback waits.

mod common;

use collector::{Gogc, Heap, HeapConfig, Mutator, Shape, Yuasa};
use std::sync::mpsc;

/// One reference slot, two data words.
static OBJ: Shape = Shape::new("obj", 1, 2);

fn yuasa_heap(cleanup_workers: usize) -> Heap<Yuasa> {
    Heap::<Yuasa>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        cleanup_workers: Some(cleanup_workers),
        cleanup_standby: false,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// One-shot signals between the test thread and a callback.
fn signal() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel()
}

/// With the runner held in the first callback: begins a cycle, lets the runner go on to
/// take the second entry, finishes the cycle while the second callback waits, and checks
/// that verification found nothing lost.
fn cycle_around_the_take(
    heap: &Heap<Yuasa>,
    m: &Mutator<Yuasa>,
    release_first: mpsc::Sender<()>,
    second_taken: mpsc::Receiver<()>,
) {
    m.blocking(|| {
        let mut c = heap.begin_cycle();
        release_first.send(()).unwrap();
        second_taken.recv().unwrap();
        c.scan_roots();
        c.mark();
        c.finish();
    });
    assert_eq!(heap.lost_objects(), 0, "{:?}", heap.stats().lost_reports);
}

#[test]
fn a_finalizer_taken_during_a_mark_keeps_its_object() {
    let heap = yuasa_heap(1);
    let m = heap.mutator();
    let (first_running, first_running_rx) = signal();
    let (release_first, release_first_rx) = signal();
    let (second_taken, second_taken_rx) = signal();
    let (release_second, release_second_rx) = signal();
    let (seen_tx, seen_rx) = mpsc::channel();

    // The first finalizer holds the finalizer thread.
    let first = m.alloc(&OBJ);
    m.set_finalizer(&first, move |_| {
        first_running.send(()).unwrap();
        release_first_rx.recv().unwrap();
    });
    drop(first);
    m.gc();
    first_running_rx.recv().unwrap();

    // The second waits in the queue behind it.
    let second = m.alloc(&OBJ);
    second.write(1, 97531);
    m.set_finalizer(&second, move |h| {
        second_taken.send(()).unwrap();
        release_second_rx.recv().unwrap();
        let _ = seen_tx.send(h.read(1));
    });
    drop(second);
    m.gc();

    cycle_around_the_take(&heap, &m, release_first, second_taken_rx);
    release_second.send(()).unwrap();
    assert_eq!(
        seen_rx.recv().ok(),
        Some(97531),
        "the finalizer saw its object intact"
    );
}

#[test]
fn a_cleanup_taken_during_a_mark_keeps_its_environment() {
    let heap = yuasa_heap(1);
    let m = heap.mutator();
    let (first_running, first_running_rx) = signal();
    let (release_first, release_first_rx) = signal();
    let (second_taken, second_taken_rx) = signal();
    let (release_second, release_second_rx) = signal();
    let (seen_tx, seen_rx) = mpsc::channel();

    // The first cleanup holds the only worker.
    let first = m.alloc(&OBJ);
    let first_env = m.alloc(&OBJ);
    let _c1 = m.add_cleanup_with(&first, &first_env, (), move |_, ()| {
        first_running.send(()).unwrap();
        release_first_rx.recv().unwrap();
    });
    drop((first, first_env));
    m.gc();
    first_running_rx.recv().unwrap();

    // The second waits in the queue behind it; only the queue roots its environment.
    let second = m.alloc(&OBJ);
    let env = m.alloc(&OBJ);
    env.write(1, 86420);
    let _c2 = m.add_cleanup_with(&second, &env, (), move |env, ()| {
        second_taken.send(()).unwrap();
        release_second_rx.recv().unwrap();
        let _ = seen_tx.send(env.read(1));
    });
    drop((second, env));
    m.gc();

    cycle_around_the_take(&heap, &m, release_first, second_taken_rx);
    release_second.send(()).unwrap();
    assert_eq!(
        seen_rx.recv().ok(),
        Some(86420),
        "the cleanup saw its environment intact"
    );
}
