//! The queue where mark assists park (Go's `work.assistQueue`): an assist that still owes
//! scan work and finds no grey work (or that Go's GC CPU limiter stopped) waits here, its
//! mutator blocked, until background workers' credit pays it (Go's `gcFlushBgCredit`,
//! which pays parked assists before it banks the rest) or the mark ends
//! (`gcWakeAllAssists`, in mark termination's pause).
//!
//! The queue's lock, condition variable and counts are loom's under loom (the models in
//! `loom_tests/tests/park.rs` explore parking against credit and the mark's end); the
//! bank is the ledger's plain atomic (`mark::state`), read and written here under the
//! lock or beside the lockless `waiting` check, as Go's `bgScanCredit` is.
//!
//! Invariant: an assist waits only while the queue is open for its cycle (opened in the
//! first pause of a cycle whose mark background workers run, before marking is on for
//! any mutator, as Go's assists may park from `gcStart` on; closed at that mark's end or
//! abandonment), and
//! closing it wakes every parked assist, so no assist parks past its mark. Credit is
//! never lost: what pays no parked assist is added to the bank, and a parking assist
//! takes what the bank holds before it waits. (A flush's lockless fast path, taken when
//! no assist is counted as waiting, can bank credit between a parking assist's look at
//! the bank and its count: that assist waits for the next flush, whose slow path takes
//! the bank, or the mark's end, as Go's does: `gcFlushBgCredit`'s "small window";
//! `loom_tests/tests/park.rs` model 2(b) finds it.)

use crate::sync::unmodelled::Ordering::*;
use crate::sync::{lock, wait, AtomicI64, AtomicU64, AtomicUsize, Condvar, Mutex};
use std::collections::VecDeque;

/// Takes up to `want` units of the banked credit `bank`; returns how much it took.
pub(crate) fn steal(bank: &AtomicI64, want: i64) -> i64 {
    let mut taken = 0;
    let _ = bank.fetch_update(AcqRel, Acquire, |c| {
        taken = c.min(want).max(0);
        Some(c - taken)
    });
    taken
}

#[derive(Default)]
struct Queue {
    /// The cycle whose mark parks assists (0: none; assists do not park).
    open: u64,
    /// The last cycle whose mark is over.
    closed: u64,
    next_ticket: u64,
    /// Parked assists in arrival order: ticket and debt left.
    parked: VecDeque<(u64, i64)>,
}

/// Where assists with a debt and no grey work wait for background credit (Go's
/// `work.assistQueue`). Open only during a mark that background workers run (the
/// background GC thread's cycles and `gc()`), from its first pause: a stepped cycle's
/// caller may be the mutator's own thread, which no parked assist could wait for.
#[derive(Default)]
pub(crate) struct AssistQueue {
    queue: Mutex<Queue>,
    cv: Condvar,
    /// Assists parked now, read by workers before they take the lock.
    waiting: AtomicUsize,
    /// A copy of `Queue::open`, written under the lock, read without it by
    /// [`AssistQueue::is_open`] (an assist's hint; `park` decides under the lock).
    open_hint: AtomicU64,
    /// The negative controls' faults (loom builds; set from `HeapConfig::faults`).
    #[cfg(loom)]
    pub(crate) faults: crate::config::LoomFaults,
}

impl AssistQueue {
    /// An empty, closed queue with the negative controls' `faults` (loom builds).
    #[cfg(loom)]
    pub(crate) fn with_faults(faults: crate::config::LoomFaults) -> AssistQueue {
        AssistQueue {
            faults,
            ..AssistQueue::default()
        }
    }

    /// Opens the queue for the mark of cycle `cycle`.
    pub(crate) fn open(&self, cycle: u64) {
        let mut q = lock(&self.queue);
        q.open = cycle;
        self.open_hint.store(cycle, Relaxed);
    }

    /// Whether assists of cycle `cycle` may park (its queue is open): a hint read without
    /// the lock, on every assist; whether an assist parks is decided under it (`park`).
    pub(crate) fn is_open(&self, cycle: u64) -> bool {
        cycle != 0 && self.open_hint.load(Relaxed) == cycle
    }

    /// Closes the queue and wakes every parked assist: the mark of cycle `cycle` is over
    /// (or abandoned).
    pub(crate) fn close(&self, cycle: u64) {
        let mut q = lock(&self.queue);
        q.open = 0;
        self.open_hint.store(0, Relaxed);
        q.closed = q.closed.max(cycle);
        q.parked.clear();
        self.waiting.store(0, SeqCst);
        drop(q);
        #[cfg(loom)]
        if self.faults.close_without_wake {
            return;
        }
        self.cv.notify_all();
    }

    /// Parks an assist of cycle `cycle` that still owes `debt` (it found no grey work, or
    /// the GC CPU limiter stopped it),
    /// until background credit pays it or the mark ends; returns the debt left (0 once
    /// paid or when the mark is over; `debt` where the mark parks no assist, a stepped
    /// one). The caller's mutator is blocked.
    pub(crate) fn park(&self, bank: &AtomicI64, cycle: u64, debt: i64) -> i64 {
        let mut q = lock(&self.queue);
        if cycle == 0 || q.open != cycle {
            // Cycle 0: no mark has begun (a test that sets the marking flag by hand).
            return if cycle != 0 && q.closed >= cycle {
                0
            } else {
                debt
            };
        }
        // Credit that came meanwhile (a worker saw no one parked) is taken first, as
        // Go's gcParkAssist retries while bgScanCredit is positive.
        let debt = debt - steal(bank, debt);
        if debt <= 0 {
            return debt;
        }
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.parked.push_back((ticket, debt));
        self.waiting.fetch_add(1, SeqCst);
        while q.open == cycle && q.parked.iter().any(|&(t, _)| t == ticket) {
            q = wait(&self.cv, q);
        }
        0
    }

    /// Banks `work` units of background scan work: pays parked assists first, in their
    /// order, waking those it pays in full, and adds the rest to the background credit
    /// (Go's `gcFlushBgCredit`).
    pub(crate) fn flush_credit(&self, bank: &AtomicI64, work: i64) {
        if self.waiting.load(SeqCst) == 0 {
            bank.fetch_add(work, Release);
            return;
        }
        let mut q = lock(&self.queue);
        // Credit banked while an assist was parking counts too.
        let mut credit = work + bank.swap(0, AcqRel).max(0);
        let mut woke = false;
        while credit > 0 {
            let Some(front) = q.parked.front_mut() else {
                break;
            };
            if front.1 > credit {
                front.1 -= credit;
                credit = 0;
            } else {
                credit -= front.1;
                q.parked.pop_front();
                self.waiting.fetch_sub(1, SeqCst);
                woke = true;
            }
        }
        drop(q);
        if credit > 0 {
            bank.fetch_add(credit, Release);
        }
        #[cfg(loom)]
        let woke = woke && !self.faults.flush_without_wake;
        if woke {
            self.cv.notify_all();
        }
    }
}

/// The park queue alone, with its bank, for the loom model (`loom_tests/tests/park.rs`):
/// assists that park against credit flushes and the mark's end, without a heap.
#[cfg(loom)]
pub struct ParkModel {
    queue: AssistQueue,
    bank: AtomicI64,
}

#[cfg(loom)]
impl ParkModel {
    /// An empty queue, closed, with `faults`; the bank empty.
    pub fn new(faults: crate::config::LoomFaults) -> ParkModel {
        ParkModel {
            queue: AssistQueue::with_faults(faults),
            bank: AtomicI64::new(0),
        }
    }

    /// Opens the queue for cycle `cycle` (`AssistQueue::open`).
    pub fn open(&self, cycle: u64) {
        self.queue.open(cycle);
    }

    /// An assist of `cycle` owing `debt` parks (`AssistQueue::park`); returns the debt
    /// left.
    pub fn park(&self, cycle: u64, debt: i64) -> i64 {
        self.queue.park(&self.bank, cycle, debt)
    }

    /// A worker's credit flush of `work` (`AssistQueue::flush_credit`).
    pub fn flush(&self, work: i64) {
        self.queue.flush_credit(&self.bank, work);
    }

    /// The mark of `cycle` ends (`AssistQueue::close`).
    pub fn close(&self, cycle: u64) {
        self.queue.close(cycle);
    }

    /// Assists waiting now (counted under the queue's lock before they wait).
    pub fn waiting(&self) -> usize {
        self.queue.waiting.load(SeqCst)
    }

    /// The credit banked and not taken.
    pub fn banked(&self) -> i64 {
        self.bank.load(SeqCst)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn credit_pays_parked_assists_in_order_and_the_rest_is_banked() {
        let (bank, q) = (AtomicI64::new(0), AssistQueue::default());
        let q = &q;
        q.open(1);
        std::thread::scope(|s| {
            let first = s.spawn(|| q.park(&bank, 1, 100));
            while q.waiting.load(SeqCst) < 1 {
                std::thread::yield_now();
            }
            let second = s.spawn(|| q.park(&bank, 1, 50));
            while q.waiting.load(SeqCst) < 2 {
                std::thread::yield_now();
            }
            q.flush_credit(&bank, 60);
            assert_eq!(lock(&q.queue).parked, [(0, 40), (1, 50)], "partly paid");
            q.flush_credit(&bank, 60);
            assert_eq!(first.join().unwrap(), 0);
            assert_eq!(lock(&q.queue).parked, [(1, 30)]);
            q.flush_credit(&bank, 35);
            assert_eq!(second.join().unwrap(), 0);
        });
        assert_eq!(bank.load(SeqCst), 5, "the surplus is banked");
        // With credit in the bank, an assist takes it instead of parking.
        assert_eq!(q.park(&bank, 1, 3), 0);
        assert_eq!(bank.load(SeqCst), 2);
    }

    #[test]
    fn the_marks_end_wakes_parked_assists_and_a_closed_queue_parks_none() {
        let (bank, q) = (AtomicI64::new(0), AssistQueue::default());
        let q = &q;
        assert_eq!(
            q.park(&bank, 1, 10),
            10,
            "a mark that parks none: the debt stays"
        );
        q.open(2);
        assert_eq!(q.park(&bank, 3, 10), 10, "a mark that parks none");
        assert_eq!(q.park(&bank, 0, 10), 10, "no mark has begun");
        std::thread::scope(|s| {
            let parked = s.spawn(|| q.park(&bank, 2, 10));
            while q.waiting.load(SeqCst) < 1 {
                std::thread::yield_now();
            }
            q.close(2);
            assert_eq!(parked.join().unwrap(), 0);
        });
        assert_eq!(
            q.park(&bank, 2, 10),
            0,
            "the mark is over: no parking, no debt"
        );
    }
}
