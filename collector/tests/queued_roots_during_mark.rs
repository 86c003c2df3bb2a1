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

/// The first callback's side of the hand-off: it says it runs, then holds its runner
/// until the test lets it go.
struct Hold {
    running: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

impl Hold {
    // A closed channel means the test has failed already: the callback just returns
    // (a panic in it would end the process before the test reports).
    fn hold(self) {
        let _ = self.running.send(());
        let _ = self.release.recv();
    }
}

/// The second callback's side: it says it was taken, waits until the cycle is over, and
/// reports the data word it then reads.
struct Report {
    taken: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
    seen: mpsc::Sender<u64>,
}

impl Report {
    fn report(self, read: impl FnOnce() -> u64) {
        let _ = self.taken.send(());
        let _ = self.release.recv();
        let _ = self.seen.send(read());
    }
}

/// The test thread's side.
struct Driver {
    first_running: mpsc::Receiver<()>,
    release_first: mpsc::Sender<()>,
    second_taken: mpsc::Receiver<()>,
    release_second: mpsc::Sender<()>,
    seen: mpsc::Receiver<u64>,
}

fn handoff() -> (Hold, Report, Driver) {
    let (running, first_running) = mpsc::channel();
    let (release_first, release) = mpsc::channel();
    let hold = Hold { running, release };
    let (taken, second_taken) = mpsc::channel();
    let (release_second, release) = mpsc::channel();
    let (seen, seen_rx) = mpsc::channel();
    let report = Report {
        taken,
        release,
        seen,
    };
    let driver = Driver {
        first_running,
        release_first,
        second_taken,
        release_second,
        seen: seen_rx,
    };
    (hold, report, driver)
}

/// With the runner held in the first callback: begins a cycle, lets the runner go on to
/// take the second entry, finishes the cycle while the second callback waits, and checks
/// that verification found nothing lost. Returns the word the second callback then read.
fn cycle_around_the_take(heap: &Heap<Yuasa>, m: &Mutator<Yuasa>, driver: Driver) -> Option<u64> {
    m.blocking(|| {
        let mut c = heap.begin_cycle();
        driver.release_first.send(()).unwrap();
        driver.second_taken.recv().unwrap();
        c.scan_roots();
        c.mark();
        c.finish();
    });
    assert_eq!(heap.lost_objects(), 0, "{:?}", heap.stats().lost_reports);
    driver.release_second.send(()).unwrap();
    driver.seen.recv().ok()
}

#[test]
fn a_finalizer_taken_during_a_mark_keeps_its_object() {
    let heap = yuasa_heap(1);
    let m = heap.mutator();
    let (hold, report, driver) = handoff();

    // The first finalizer holds the finalizer thread.
    let first = m.alloc(&OBJ);
    m.set_finalizer(&first, move |_| hold.hold());
    drop(first);
    m.gc();
    driver.first_running.recv().unwrap();

    // The second waits in the queue behind it.
    let second = m.alloc(&OBJ);
    second.write(1, 97531);
    m.set_finalizer(&second, move |h| report.report(|| h.read(1)));
    drop(second);
    m.gc();

    assert_eq!(
        cycle_around_the_take(&heap, &m, driver),
        Some(97531),
        "the finalizer saw its object intact"
    );
}

#[test]
fn a_cleanup_taken_during_a_mark_keeps_its_environment() {
    let heap = yuasa_heap(1);
    let m = heap.mutator();
    let (hold, report, driver) = handoff();

    // The first cleanup holds the only worker.
    let first = m.alloc(&OBJ);
    let first_env = m.alloc(&OBJ);
    let _c1 = m.add_cleanup_with(&first, &first_env, (), move |_, ()| hold.hold());
    drop((first, first_env));
    m.gc();
    driver.first_running.recv().unwrap();

    // The second waits in the queue behind it; only the queue roots its environment.
    let second = m.alloc(&OBJ);
    let env = m.alloc(&OBJ);
    env.write(1, 86420);
    let _c2 = m.add_cleanup_with(&second, &env, (), move |env, ()| {
        report.report(|| env.read(1))
    });
    drop((second, env));
    m.gc();

    assert_eq!(
        cycle_around_the_take(&heap, &m, driver),
        Some(86420),
        "the cleanup saw its environment intact"
    );
}
