//! The state a concurrent mark shares between its markers — background workers, mutators
//! assisting or marking their full barrier buffers, and the cycle's coordinator: the
//! grey pool, how many markers hold work, the scan-work ledger that paces assists (Go's
//! `gcControllerState` assist fields), and where the mark's CPU time went.
//!
//! The ledger and the counters are pacing and accounting on plain `std` atomics, also
//! under loom: none of them decides correctness (mark termination re-checks the pools
//! inside its pause), so loom need not explore them. These fields do decide it: the grey
//! pool (loom's own mutex queue under loom), `busy`, the markers' termination count that
//! an assist shares with the pool's markers (a loom atomic: loom models step assists),
//! the workers' stop flag and (loom) their count, the background credit `bg_credit` and
//! the park queue, which decide whether an assist waits and who wakes it (loom's under
//! loom: `loom_tests/tests/park.rs`), and `abandoned`, which only the holder of
//! `cycle_lock` writes and reads.
//!
//! Invariant: the ledger belongs to one cycle at a time. The cycle controller, holding
//! `cycle_lock`, resets it in sweep termination with `begin`, which publishes the new
//! `cycle` last (release), and closes it with `end`; in between, workers, assists,
//! mutators' barrier-buffer flushes, the root scan and mutators registering finalizers
//! only add to it, and background credit is taken only by `steal_credit` and by the park
//! queue (`mark::park`, which hands it to parked assists), neither taking more than is
//! there, so it never goes negative.

// Most of the pacing ledger's users do not exist under loom (the root scan's count and
// credit do).
#![cfg_attr(loom, allow(dead_code))]

use super::park::{steal, AssistQueue};
use super::pool::DefaultPool;
use crate::pacer::{assist_debt, MarkProgress};
use crate::sync::unmodelled::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// Scan work an assist does at least once it starts (Go's `gcOverAssistWork`, 64 KiB),
/// so that assists are few and their start-up cost amortized.
pub(crate) const MIN_ASSIST_WORK: u64 = 64 << 10;

/// Scan work between two flushes of a marker's progress (Go's `gcCreditSlack`), a
/// worker's also as credit for parked assists.
pub(crate) const CREDIT_SLACK: u64 = 2000;

/// The shared state of a heap's marking.
#[derive(Default)]
pub(crate) struct MarkState {
    /// Marked objects waiting to be scanned, shared between all markers of the heap.
    pub(crate) grey: DefaultPool,
    /// Markers holding grey work now, and mutators marking a full barrier buffer
    /// (counted before they take or make any, uncounted after they publish what is
    /// left; [`Busy`]): zero with empty pools means no work is visible.
    pub(crate) busy: crate::sync::AtomicUsize,
    /// Set when a concurrent mark's workers are to stop (`mark::workers`; reset when they
    /// start). A loom atomic: it ends the workers, and under loom their join.
    pub(crate) workers_stop: crate::sync::AtomicBool,
    /// Mark workers inside their loop (loom builds, where workers are model threads and
    /// `mark::workers::run` joins them by this count).
    #[cfg(loom)]
    pub(crate) workers_in: crate::sync::AtomicUsize,
    /// Markers planned for the current concurrent mark (workers), for load balancing.
    pub(crate) planned: AtomicUsize,
    /// Scan work (bytes of reference slots scanned) done by this cycle's mark so far.
    pub(crate) scan_work: AtomicU64,
    /// The scan work this cycle is expected to need (the last cycle's, or the heap size
    /// at the start when there is none).
    pub(crate) expected_work: AtomicU64,
    /// The heap size when this cycle started (the most scan work it can need).
    pub(crate) heap_start: AtomicU64,
    /// Scan work background workers did that no assist has claimed yet (Go's
    /// `bgScanCredit`).
    pub(crate) bg_credit: crate::sync::AtomicI64,
    /// The cycle the ledger belongs to; an assist debt of another cycle is void.
    pub(crate) cycle: AtomicU64,
    /// CPU nanoseconds this cycle spent in assists.
    pub(crate) assist_ns: AtomicU64,
    /// CPU nanoseconds this cycle spent in dedicated and fractional workers, and the GC
    /// thread's scan of the specials' roots counted as theirs
    /// (`mark::workers::count_root_scan_time`).
    pub(crate) background_ns: AtomicU64,
    /// CPU nanoseconds this cycle spent in idle workers, and the GC thread's scan of the
    /// specials' roots counted as theirs.
    pub(crate) idle_ns: AtomicU64,
    /// Scan work of the last completed cycle.
    pub(crate) last_scan_work: AtomicU64,
    /// Objects marked and bad references met by workers, assists and barrier-buffer
    /// flushes this cycle.
    pub(crate) marked_objects: AtomicU64,
    pub(crate) bad_refs: AtomicU64,
    /// Bytes of the objects workers, assists and flushes marked this cycle (the live heap the
    /// next goal is computed from, with the bytes allocated black).
    pub(crate) marked_bytes: AtomicU64,
    /// Bytes of the scannable objects whose finalizer specials this cycle's mark scanned
    /// without marking them (`mark::special_roots`): Go counts them in `bytesMarked`,
    /// so the live heap the next goal is computed from counts them too, though no mark
    /// bit does.
    pub(crate) finalizer_object_bytes: AtomicU64,
    /// The last cycle whose specials' finalizer objects a root scan began counting: a
    /// stepped cycle's caller may scan the roots more than once, and Go runs each root
    /// job once.
    specials_counted: AtomicU64,
    /// The last cycle whose specials' roots a scan has handed to the marker in full (a
    /// cycle whose caller never scanned them, or whose scan unwound, has them scanned at
    /// termination).
    specials_scanned: AtomicU64,
    /// A cycle was abandoned (a panic in a stepped cycle): its mark bits stay set, and the
    /// next cycle's first pause clears them.
    pub(crate) abandoned: AtomicBool,
    /// Assists parked for background credit (Go's `work.assistQueue`).
    pub(crate) parked: AssistQueue,
    /// Wakes the thread waiting for a concurrent mark's grey work to run out
    /// (`mark::workers::wait_until_no_work`) when the mark looks complete.
    pub(crate) coordinator: CoordinatorWake,
}

/// How a marker that sees the mark complete (no grey work visible, no marker busy) gets
/// the mark's coordinator to look at once rather than at its next poll, up to 200 µs
/// away: an assist about to park and a worker ending its slice do what Go's do when
/// `gcEndWork` says they were the last (`gcMarkDone`, from `gcAssistAlloc` and
/// `gcBgMarkWorker`). A flag and a condition variable of its own, not the thread's park
/// token, which a `gc()` caller's own code may use. Normal builds; under loom the
/// coordinator yields between looks and nothing is woken.
#[derive(Default)]
pub(crate) struct CoordinatorWake {
    /// Whether a coordinator is waiting (between its first look and its last).
    #[cfg(not(loom))]
    waiting: crate::sync::unmodelled::AtomicBool,
    #[cfg(not(loom))]
    woken: crate::sync::unmodelled::Mutex<bool>,
    #[cfg(not(loom))]
    cv: crate::sync::unmodelled::Condvar,
    /// Waits begun on `cv` (counted under `woken`'s lock just before the wait, which
    /// releases it): the unit test's way to wake a coordinator that is waiting.
    #[cfg(all(test, not(loom)))]
    waits: crate::sync::unmodelled::AtomicUsize,
}

#[cfg(not(loom))]
impl CoordinatorWake {
    /// The coordinator starts or stops waiting; a wake left from an earlier mark is void.
    pub(crate) fn set_waiting(&self, on: bool) {
        *crate::sync::unmodelled::lock(&self.woken) = false;
        self.waiting.store(on, SeqCst);
    }

    /// Wakes the coordinator if one is waiting (a lock and a notify: slow paths only).
    pub(crate) fn wake(&self) {
        if self.waiting.load(SeqCst) {
            *crate::sync::unmodelled::lock(&self.woken) = true;
            self.cv.notify_one();
        }
    }

    /// The coordinator waits up to `timeout`, or until woken.
    pub(crate) fn wait(&self, timeout: std::time::Duration) {
        let mut woken = crate::sync::unmodelled::lock(&self.woken);
        if !*woken {
            #[cfg(test)]
            self.waits.fetch_add(1, SeqCst);
            woken = crate::sync::wait_timeout(&self.cv, woken, timeout);
        }
        *woken = false;
    }
}

#[cfg(loom)]
impl CoordinatorWake {
    pub(crate) fn wake(&self) {}
}

impl MarkState {
    /// The state of a heap configured by `config` (under loom, with its faults).
    pub(crate) fn for_config(config: &crate::config::HeapConfig) -> MarkState {
        let _ = config;
        MarkState {
            #[cfg(loom)]
            parked: AssistQueue::with_faults(config.faults),
            ..MarkState::default()
        }
    }

    /// Resets the ledger for cycle `cycle`, which starts with `heap_start` bytes. The work
    /// expected is the last cycle's; before any cycle has ended, the heap's size at the
    /// start. A departure from Go's `revise`, which expects `lastHeapScan + lastStackScan
    /// + globalsScan`, the first two still 0 then: the testbed has none of the Go
    /// runtime's own globals (about 165 KB), so Go's rule would expect nothing of a heap
    /// without globals and stretch its first mark's goal to the hard goal at once. With
    /// GOGC off, a memory limit and no mark workers, that let the heap run to 526 MiB
    /// against a 16 MiB limit (`results/pacer-go-fidelity.md`, finding 21).
    pub(crate) fn begin(&self, cycle: u64, heap_start: usize) {
        let last = self.last_scan_work.load(Relaxed);
        let expected = if last == 0 { heap_start as u64 } else { last };
        self.scan_work.store(0, Relaxed);
        self.expected_work.store(expected, Relaxed);
        self.heap_start.store(heap_start as u64, Relaxed);
        self.bg_credit.store(0, Relaxed);
        self.assist_ns.store(0, Relaxed);
        self.background_ns.store(0, Relaxed);
        self.idle_ns.store(0, Relaxed);
        self.marked_objects.store(0, Relaxed);
        self.marked_bytes.store(0, Relaxed);
        self.finalizer_object_bytes.store(0, Relaxed);
        // An abandoned cycle's number comes again: its root scan's guards must not hold.
        self.specials_counted.store(0, Relaxed);
        self.specials_scanned.store(0, Relaxed);
        self.bad_refs.store(0, Relaxed);
        self.cycle.store(cycle, Release);
    }

    /// Closes the ledger: this cycle's scan work becomes the next one's expectation, and
    /// parked assists wake (Go's `gcWakeAllAssists`, in mark termination's pause).
    pub(crate) fn end(&self) {
        self.last_scan_work
            .store(self.scan_work.load(Relaxed).max(1), Relaxed);
        self.parked.close(self.cycle.load(Relaxed));
    }

    /// Banks a background worker's `work` (Go's `gcFlushBgCredit`): parked assists are
    /// paid first.
    pub(crate) fn flush_credit(&self, work: i64) {
        self.parked.flush_credit(&self.bg_credit, work);
    }

    /// The scan work an allocation of `bytes` owes this mark (`pacer::assist_debt`).
    pub(crate) fn debt_for(
        &self,
        bytes: usize,
        heap_live: usize,
        goal: usize,
        hard_goal: usize,
    ) -> i64 {
        let progress = MarkProgress {
            done: self.scan_work.load(Relaxed),
            expected: self.expected_work.load(Relaxed),
            heap_start: self.heap_start.load(Relaxed) as usize,
        };
        assist_debt(bytes, heap_live, goal, hard_goal, progress)
    }

    /// Adds what a worker, an assist or a barrier-buffer flush found (a marker's scan work
    /// is added as it goes).
    pub(crate) fn record(&self, marked_objects: u64, marked_bytes: u64, bad_refs: u64) {
        self.marked_objects.fetch_add(marked_objects, Relaxed);
        self.marked_bytes.fetch_add(marked_bytes, Relaxed);
        self.bad_refs.fetch_add(bad_refs, Relaxed);
    }

    /// Counts the scan of finalizer objects during a concurrent mark (`bytes` of
    /// objects, `work` units of scan work; `mark::special_roots`) in the ledger, as Go's
    /// `scanObject` counts them in `bytesMarked` and the scan work. A background
    /// worker's scan (`background`: the root scan) banks its work as credit, as Go's
    /// worker flushes it (`gcFlushBgCredit`); a mutator's (a registration during the
    /// mark) does not.
    pub(crate) fn count_finalizer_scan(&self, bytes: u64, work: u64, background: bool) {
        self.finalizer_object_bytes.fetch_add(bytes, Relaxed);
        self.scan_work.fetch_add(work, Relaxed);
        if background && work > 0 {
            self.flush_credit(work as i64);
        }
    }

    /// Claims the counting of this cycle's finalizer objects for a root scan that is
    /// beginning; returns whether this scan is the cycle's first, the one whose counts
    /// go in the ledger ([`MarkState::count_finalizer_scan`], banked as background
    /// credit): once a cycle, however often a stepped cycle's caller scans the roots. A
    /// scan that unwinds (an internal error caught by a stepped cycle's caller) has
    /// counted only the steps it passed on, and the rescan at termination counts none:
    /// the next goal may be low, the marking is whole.
    pub(crate) fn claim_root_count(&self) -> bool {
        let cycle = self.cycle.load(Acquire);
        self.specials_counted.swap(cycle, Relaxed) != cycle
    }

    /// Records that a scan has handed this cycle's specials' roots to the marker in full
    /// (after the scan, so that one that unwinds leaves them to termination).
    pub(crate) fn set_specials_scanned(&self) {
        self.specials_scanned
            .store(self.cycle.load(Acquire), Relaxed);
    }

    /// Whether this cycle's specials' roots have been handed to the marker in full
    /// ([`MarkState::set_specials_scanned`]).
    pub(crate) fn specials_scanned(&self) -> bool {
        self.specials_scanned.load(Relaxed) == self.cycle.load(Acquire)
    }

    /// Takes up to `want` units of background credit; returns how much it took.
    pub(crate) fn steal_credit(&self, want: i64) -> i64 {
        steal(&self.bg_credit, want)
    }
}

/// Counts its holder in [`MarkState::busy`] from [`Busy::enter`] until dropped, also when
/// the holder unwinds (a panic: an internal error), so that the coordinator's wait for no
/// busy marker ends and the panic is raised instead of the mark waiting for it forever.
pub(crate) struct Busy<'a>(&'a crate::sync::AtomicUsize);

impl<'a> Busy<'a> {
    /// Counts the caller in `busy` until the returned guard is dropped.
    pub(crate) fn enter(busy: &'a crate::sync::AtomicUsize) -> Busy<'a> {
        busy.fetch_add(1, crate::sync::Ordering::SeqCst);
        Busy(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, crate::sync::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_spreads_the_expected_work_over_the_runway() {
        let s = MarkState::default();
        s.begin(1, 8 << 20);
        // No history: 8 MiB of work expected over 4 MiB of runway → 2 units per byte.
        assert_eq!(s.debt_for(1000, 4 << 20, 8 << 20, 16 << 20), 2000);
        s.scan_work.store(6 << 20, Relaxed);
        // 2 MiB left over 4 MiB → half a unit per byte.
        assert_eq!(s.debt_for(1000, 4 << 20, 8 << 20, 16 << 20), 500);
    }

    #[test]
    fn past_the_expected_work_the_goal_is_stretched_to_the_most_work() {
        let s = MarkState::default();
        s.last_scan_work.store(1 << 20, Relaxed);
        s.begin(2, 4 << 20);
        s.scan_work.store(2 << 20, Relaxed);
        // Triggered at 4 MiB with 4 MiB of runway for 1 MiB of expected work; the most
        // work is 4 MiB, so the goal stretches to 4 + 4 × 4 = 20 MiB, capped at the hard
        // goal of 16 MiB: 2 MiB of work left over 16 - 8 = 8 MiB → a quarter per byte.
        assert_eq!(s.debt_for(1000, 8 << 20, 8 << 20, 16 << 20), 250);
        // Uncapped (a larger hard goal): 2 MiB over 20 - 8 = 12 MiB.
        assert_eq!(s.debt_for(1200, 8 << 20, 8 << 20, 64 << 20), 200);
    }

    #[test]
    fn past_the_goal_the_pacer_allows_a_ten_percent_overshoot() {
        let s = MarkState::default();
        s.last_scan_work.store(1 << 20, Relaxed);
        s.begin(2, 4 << 20);
        s.scan_work.store(1 << 19, Relaxed);
        // Live 8.5 MiB past the 8 MiB goal (work not yet past the expected): the goal
        // becomes 8.8 MiB and the most work, 4 MiB, is expected: 3.5 MiB left over
        // 0.3 MiB.
        let live = (8 << 20) + (1 << 19);
        let debt = s.debt_for(1000, live, 8 << 20, 16 << 20);
        assert_eq!(debt, (1000.0 * 3.5 / (8.8 - 8.5)) as i64);
        // Past the overshoot too, an allocation owes all the work left.
        assert_eq!(s.debt_for(1, 10 << 20, 8 << 20, 16 << 20), (7 << 19) as i64);
        // Exactly at the goal is past it (the cycle started before the refill that
        // crossed the trigger was counted): 3.5 MiB over 0.8 MiB, not over one byte,
        // which made a first refill owe the whole mark (pacer-go-fidelity finding 23).
        let goal = (8 << 20) as f64;
        let debt = s.debt_for(1000, 8 << 20, 8 << 20, 16 << 20);
        assert_eq!(
            debt,
            (1000.0 * (7 << 19) as f64 / (goal * 1.1 - goal)) as i64
        );
        assert!((4374..=4375).contains(&debt), "{debt}");
    }

    #[test]
    fn with_gogc_off_a_finite_goal_still_bounds_the_stretch() {
        let s = MarkState::default();
        s.last_scan_work.store(1 << 20, Relaxed);
        s.begin(2, 4 << 20);
        s.scan_work.store(2 << 20, Relaxed);
        // A memory-limit goal of 8 MiB, GOGC off (hard goal 1001 × 8 MiB): the goal
        // stretches to 20 MiB as above, not to the hard goal.
        let hard = 1001 * (8 << 20);
        assert_eq!(s.debt_for(1200, 8 << 20, 8 << 20, hard), 200);
    }

    /// A wake reaches a waiting coordinator, and none made while no coordinator waits, or
    /// left from the last wait, carries over to the next. (The coordinator here waits with
    /// a 600 s timeout: without the wake the guard fails the test after 60 s.)
    #[cfg(not(loom))]
    #[test]
    fn a_wake_reaches_a_waiting_coordinator_and_none_carries_over() {
        use crate::sync::unmodelled::{mpsc, thread, Arc};
        use std::time::Duration;
        let w = Arc::new(CoordinatorWake::default());
        w.wake(); // none waiting: nothing to wake, nothing kept
        assert!(!*crate::sync::unmodelled::lock(&w.woken));
        w.set_waiting(true);
        w.wake();
        w.set_waiting(false);
        w.set_waiting(true);
        assert!(
            !*crate::sync::unmodelled::lock(&w.woken),
            "a wake of the last wait carried over"
        );
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = Arc::clone(&w);
        let coordinator = thread::spawn(move || {
            waiter.wait(Duration::from_secs(600));
            done_tx.send(()).unwrap();
        });
        // Once the wait has begun, the wake's lock is free only inside it: the wake
        // comes to a waiting coordinator, which only the notification ends.
        while w.waits.load(SeqCst) == 0 {
            thread::yield_now();
        }
        w.wake();
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the coordinator was not woken");
        coordinator.join().unwrap();
        w.set_waiting(false);
    }

    #[test]
    fn credit_is_taken_at_most_once() {
        let s = MarkState::default();
        s.bg_credit.store(100, Relaxed);
        assert_eq!(s.steal_credit(60), 60);
        assert_eq!(s.steal_credit(60), 40);
        assert_eq!(s.steal_credit(60), 0);
    }
}
