//! Parked assists (Go's `gcParkAssist`, `gcFlushBgCredit`, `gcWakeAllAssists`),
//! model-checked: an assist that owes scan work and finds none parks in the mark's queue
//! (`mark::park`) until a worker's credit pays it or the mark ends. Property: no lost
//! wake-up: the parked assist always returns, its debt paid (0 or less).
//!
//! 1. The heap's real path. Setup (before the threads start): a global G → A → B.
//!    Threads: a mutator that registers, waits (blocked) for the cycle to begin, then
//!    runs an allocation's assist (`Mutator::allocation_assist`: the real
//!    `Mutator::assist_or_park`, which runs `mark::assist::assist_or_serve_self`, then
//!    parks in the queue, blocked); the main thread begins a cycle whose assists may park
//!    (`Heap::begin_cycle_with_workers`, which opens the queue in its first pause), marks
//!    (`mark_with_workers_inline`, with no worker: the roots, then the grey work, on this
//!    thread) and finishes (the termination pause closes the queue, Go's
//!    `gcWakeAllAssists`). With a debt of 1 the assist is paid by its own marking or
//!    parks until the mark's end (when the main thread has taken the grey work); with a
//!    debt of 1,000 (more than the whole graph's scan work) it parks whenever the queue
//!    is still open. Property: it returns, its debt paid, and nothing reachable is lost.
//!    (A model with a mark worker thread beside them, whose credit flushes can also
//!    wake the assist, did not finish in 4 minutes at the suite's bound, even with a
//!    two-object graph: credit wake-ups are model 2's, on the queue alone.)
//! 2. The queue alone (`ParkModel`). (a) An assist parks owing 2; the other thread waits
//!    until it is counted as waiting, then flushes 1 twice: the second flush must wake
//!    it (nothing else will). (b) An assist parks owing 2 while the other thread flushes
//!    2 and then ends the mark: whatever the order, it returns. The fast path of a flush
//!    (no assist counted as waiting: bank the credit without the lock, as Go's
//!    `gcFlushBgCredit` does) can bank the credit just after a parking assist has looked
//!    at the bank and just before it counts itself; the assist then waits for the next
//!    flush or the mark's end, as Go's does ("we'll just get it on the next flush").
//!
//! Negative controls (`LoomFaults`), each a deadlock loom reports with every thread's
//! state:
//! - `close_without_wake` (the mark's end forgets the parked assists without waking
//!   them): model 1 with a debt of 1,000 and with a debt of 1, and model 2(b), where only the execution in
//!   which the flush's fast path races the park leaves the assist waiting for the mark's
//!   end (loom finds it only because the bank is a loom atomic under loom).
//! - `flush_without_wake` (a flush pays and dequeues a parked assist without waking it):
//!   model 2(a).
//!
//! And one for the self-serve beside the root scan (model 1 with B only in the
//! mutator's root): `assist_while_blocking` (the assist, self-serve included, runs in
//! the blocking state, where the collector serves the mutator's handshakes itself).
//! The coordinator's root-scan handshake always scans the roots again, so a self-scan
//! that lost them would go unseen here; what the model checks is that the self-serve,
//! as the running owner, never races the collector over the mutator's private cells.
#![cfg(loom)]

use collector::{Hybrid, LoomFaults, ParkModel, Shape};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{
    assert_control, assert_nothing_lost, concurrent_heap, explore, faults, global_to_a_to_b,
    LeakOnPanic,
};

/// One reference slot and one data word.
static NODE: Shape = Shape::new("node", 1, 1);

/// Model 1: an allocation's assist owing `debt` beside the mark and its end. With
/// `rooted`, the mutator first takes B into a handle and deletes A → B (marking off), so
/// that B's only reference is its root, which its assist may scan itself (the self-serve
/// of `assist_or_serve_self`) while the coordinator's root scan asks for it too.
fn heap_model(faults: LoomFaults, debt: i64, rooted: bool) {
    let heap = LeakOnPanic::new(concurrent_heap::<Hybrid>(faults));
    let g = global_to_a_to_b(&*heap, &NODE);
    let ready = LeakOnPanic::new(Arc::new(Notify::new()));
    let began = LeakOnPanic::new(Arc::new(Notify::new()));
    let done = LeakOnPanic::new(Arc::new(Notify::new()));
    let (h, r, bg, d) = (
        LeakOnPanic::new((*heap).clone()),
        LeakOnPanic::new((*ready).clone()),
        LeakOnPanic::new((*began).clone()),
        LeakOnPanic::new((*done).clone()),
    );
    let mutator = thread::spawn(move || {
        let m = LeakOnPanic::new(h.mutator());
        let b = rooted.then(|| {
            let a = m.global(&g).get(0).unwrap();
            let b = a.get(0).unwrap();
            a.set(0, None);
            LeakOnPanic::new(b)
        });
        r.notify();
        m.blocking(|| bg.wait());
        let left = m.allocation_assist(debt);
        // `debt` itself only if marking was already off (the assist came after the mark).
        assert!(
            left <= 0 || left == debt,
            "the assist returned owing {left}"
        );
        m.blocking(|| d.wait());
        if let Some(b) = b {
            assert_eq!(b.read(0), 22, "B was freed");
        }
    });
    ready.wait();
    {
        let mut cycle = heap.begin_cycle_with_workers();
        began.notify();
        cycle.mark_with_workers_inline();
        cycle.finish();
    }
    assert_nothing_lost(&heap.stats());
    done.notify();
    mutator.join().unwrap();
}

/// Model 2(a): two flushes of 1 after the assist owing 2 is counted as waiting.
fn credit_model(faults: LoomFaults) {
    let q = LeakOnPanic::new(Arc::new(ParkModel::new(faults)));
    q.open(1);
    let p = LeakOnPanic::new((*q).clone());
    let assist = thread::spawn(move || p.park(1, 2));
    while q.waiting() == 0 {
        thread::yield_now();
    }
    q.flush(1);
    q.flush(1);
    assert_eq!(assist.join().unwrap(), 0, "the parked assist was not paid");
    assert_eq!(q.banked(), 0, "credit banked while an assist owed it");
}

/// Model 2(b): a flush of 2 and the mark's end, racing an assist that parks owing 2.
fn race_model(faults: LoomFaults) {
    let q = LeakOnPanic::new(Arc::new(ParkModel::new(faults)));
    q.open(1);
    let p = LeakOnPanic::new((*q).clone());
    let assist = thread::spawn(move || p.park(1, 2));
    q.flush(2);
    q.close(1);
    assert_eq!(assist.join().unwrap(), 0, "the parked assist was not paid");
}

#[test]
fn a_small_debt_is_paid_by_marking_or_the_marks_end() {
    explore("park: heap, debt 1", || {
        heap_model(LoomFaults::default(), 1, false)
    });
}

#[test]
fn a_debt_beyond_the_marks_work_waits_for_the_marks_end() {
    explore("park: heap, debt 1000", || {
        heap_model(LoomFaults::default(), 1000, false)
    });
}

#[test]
fn an_assist_that_scans_its_own_root_beside_the_root_scan_loses_nothing() {
    explore(
        "park: heap, debt 1000, B only in the mutator's root",
        || heap_model(LoomFaults::default(), 1000, true),
    );
}

#[test]
fn credit_wakes_a_parked_assist() {
    explore("park: queue, credit after the park", || {
        credit_model(LoomFaults::default())
    });
}

#[test]
fn an_assist_parking_beside_a_flush_returns_by_the_marks_end() {
    explore("park: queue, credit racing the park", || {
        race_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_the_marks_end_forgets_a_parked_assist() {
    assert_control(
        "park/heap close without wake",
        || heap_model(faults(|f| f.close_without_wake = true), 1000, false),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_the_marks_end_forgets_an_assist_left_without_grey_work() {
    assert_control(
        "park/heap debt 1 close without wake",
        || heap_model(faults(|f| f.close_without_wake = true), 1, false),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_an_assist_that_serves_itself_while_blocked_races_the_collector() {
    assert_control(
        "park/heap self-serve while blocked",
        || heap_model(faults(|f| f.assist_while_blocking = true), 1000, true),
        "Causality violation: Concurrent write accesses to `UnsafeCell`.\n",
    );
}

#[test]
fn negative_control_a_flush_that_pays_without_waking() {
    assert_control(
        "park/queue flush without wake",
        || credit_model(faults(|f| f.flush_without_wake = true)),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_the_marks_end_forgets_an_assist_that_missed_a_flush() {
    assert_control(
        "park/queue race close without wake",
        || race_model(faults(|f| f.close_without_wake = true)),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None)))]",
    );
}
