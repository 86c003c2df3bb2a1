//! The state a concurrent mark shares between its markers — background workers, mutators
//! assisting, and the cycle's coordinator: the grey pool, how many markers hold work,
//! the scan-work ledger that paces assists (Go's `gcControllerState` assist fields), and
//! where the mark's CPU time went.
//!
//! Everything here is pacing and accounting on plain `std` atomics, also under loom:
//! none of it decides correctness (mark termination re-checks the pools inside its
//! pause), so loom need not explore it.

// Assists and workers, the ledger's users, do not exist under loom.
#![cfg_attr(loom, allow(dead_code))]

use super::pool::DefaultPool;
use crate::sync::stats::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::*};

/// Scan work an assist does at least once it starts (Go's `gcOverAssistWork`, 64 KiB),
/// so that assists are few and their start-up cost amortized.
pub(crate) const MIN_ASSIST_WORK: u64 = 64 << 10;

/// The shared state of a heap's marking.
#[derive(Default)]
pub(crate) struct MarkState {
    /// Marked objects waiting to be scanned, shared between all markers of the heap.
    pub(crate) grey: DefaultPool,
    /// Markers holding grey work now (counted before they take any, uncounted after
    /// they publish what is left): zero with empty pools means no work is visible.
    pub(crate) busy: AtomicUsize,
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
    pub(crate) bg_credit: AtomicI64,
    /// The cycle the ledger belongs to; an assist debt of another cycle is void.
    pub(crate) cycle: AtomicU64,
    /// CPU nanoseconds this cycle spent in assists.
    pub(crate) assist_ns: AtomicU64,
    /// CPU nanoseconds this cycle spent in dedicated and fractional workers.
    pub(crate) background_ns: AtomicU64,
    /// CPU nanoseconds this cycle spent in idle workers.
    pub(crate) idle_ns: AtomicU64,
    /// Scan work of the last completed cycle.
    pub(crate) last_scan_work: AtomicU64,
    /// Objects marked and bad references met by workers and assists this cycle.
    pub(crate) marked_objects: AtomicU64,
    pub(crate) bad_refs: AtomicU64,
    /// Bytes of the objects workers and assists marked this cycle (the live heap the
    /// next goal is computed from, with the bytes allocated black).
    pub(crate) marked_bytes: AtomicU64,
    /// A cycle was abandoned (a panic in a stepped cycle) since the last sweep began: its
    /// mark bits stay set, so the next cycle's count of marked bytes misses them.
    pub(crate) abandoned: AtomicBool,
}

impl MarkState {
    /// Resets the ledger for cycle `cycle`, which starts with `heap_start` bytes.
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
        self.bad_refs.store(0, Relaxed);
        self.cycle.store(cycle, Release);
    }

    /// Closes the ledger: this cycle's scan work becomes the next one's expectation.
    pub(crate) fn end(&self) {
        self.last_scan_work
            .store(self.scan_work.load(Relaxed).max(1), Relaxed);
    }

    /// Scan work an allocation of `bytes` owes (Go's `assistWorkPerByte × bytes`): the
    /// work still expected, spread over the heap growth left before `goal`. Once the
    /// expected work is exceeded, Go assumes the whole heap may need scanning and lets
    /// the heap run on to the hard goal `hard_goal`.
    pub(crate) fn debt_for(
        &self,
        bytes: usize,
        heap_live: usize,
        goal: usize,
        hard_goal: usize,
    ) -> i64 {
        let done = self.scan_work.load(Relaxed);
        let mut expected = self.expected_work.load(Relaxed);
        let mut goal = goal;
        if done >= expected {
            expected = self.heap_start.load(Relaxed).max(done + MIN_ASSIST_WORK);
            goal = hard_goal;
        }
        let remaining_work = expected.saturating_sub(done) as f64;
        let runway = goal.saturating_sub(heap_live).max(MIN_ASSIST_WORK as usize) as f64;
        let debt = bytes as f64 * remaining_work / runway;
        debt.min(i64::MAX as f64 / 4.0) as i64
    }

    /// Adds what a worker or an assist found (its scan work is added as it goes).
    pub(crate) fn record(&self, marked_objects: u64, marked_bytes: u64, bad_refs: u64) {
        self.marked_objects.fetch_add(marked_objects, Relaxed);
        self.marked_bytes.fetch_add(marked_bytes, Relaxed);
        self.bad_refs.fetch_add(bad_refs, Relaxed);
    }

    /// Takes up to `want` units of background credit; returns how much it took.
    pub(crate) fn steal_credit(&self, want: i64) -> i64 {
        let mut taken = 0;
        let _ = self.bg_credit.fetch_update(AcqRel, Acquire, |c| {
            taken = c.min(want).max(0);
            Some(c - taken)
        });
        taken
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
    fn past_the_expected_work_the_hard_goal_applies() {
        let s = MarkState::default();
        s.last_scan_work.store(1 << 20, Relaxed);
        s.begin(2, 8 << 20);
        s.scan_work.store(2 << 20, Relaxed);
        // Expect the whole start heap (8 MiB), 6 MiB left over 16-4 = 12 MiB of runway.
        assert_eq!(s.debt_for(1000, 4 << 20, 8 << 20, 16 << 20), 500);
        // Beyond the hard goal, the runway floors at the minimum assist.
        assert!(s.debt_for(1000, 20 << 20, 8 << 20, 16 << 20) > 1000);
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
