//! The GC CPU limiter's account of mutators parked in assists (`mark::park`): while a
//! goroutine of Go's waits in `gcParkAssist`, its P runs whatever else is runnable, a
//! dedicated or fractional mark worker first (GC time, in the limiter's background
//! share), then other goroutines, and failing both an idle mark worker or nothing (idle
//! time, which Go's `updateLocked` takes out of the window: `limiterEventIdleMarkWork`,
//! `limiterEventIdle`). The testbed counts a park as its P's idle time when no other
//! mutator could take that P: from the park's start, consumed at every update as Go
//! consumes a P's limiter event (`limiterEvent.consume`), so no window gets more of a park
//! than it lasted, and never the part of a pause (which counts as GC time on every P).
//!
//! Which parks count: a mark plans its workers for the mutators running at its start
//! (`pacer::WorkerPlan`); where more run than the Ps its dedicated workers leave, the
//! first parks only hand a P to a mutator that was waiting for one (Go's run queue), so
//! only parks beyond that excess count, at most one per P. This is an estimate of Go's
//! schedule (it does not see the fractional worker taking the P, nor a mutator blocked
//! elsewhere), documented as such in `pacer::limiter`.
//!
//! Invariant: a counted park holds one slot, whose stamp (nanoseconds from the limiter's
//! epoch, plus one so that 0 means free) is where its time not yet accounted begins; the
//! stamp only moves forward, by a compare-and-swap of its owner's value, so each
//! nanosecond of a park is accounted at most once, by an update or by the park's end.

use crate::sync::unmodelled::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The counted parks' slots and what decides whether a park counts.
pub(crate) struct IdleParks {
    /// One per P: the stamp of a counted park, or 0.
    slots: Box<[AtomicU64]>,
    /// Parks now, counted or not.
    parks: AtomicUsize,
    /// Running mutators beyond the Ps the current mark's dedicated workers leave them.
    excess: AtomicUsize,
    /// Where the pause in progress began (stamped as the slots are; 0: none).
    paused_at: AtomicU64,
}

/// A park in progress: it counts as an idle P when it holds a slot.
pub(crate) struct Park {
    slot: Option<usize>,
}

impl IdleParks {
    /// Slots for `procs` Ps; no excess until a mark plans one.
    pub(crate) fn new(procs: usize) -> IdleParks {
        IdleParks {
            slots: (0..procs.max(1)).map(|_| AtomicU64::new(0)).collect(),
            parks: AtomicUsize::new(0),
            excess: AtomicUsize::new(0),
            paused_at: AtomicU64::new(0),
        }
    }

    /// A mark starts with `running` mutators and `free` Ps left by its dedicated workers.
    pub(crate) fn plan(&self, running: usize, free: usize) {
        self.excess.store(running.saturating_sub(free), Relaxed);
    }

    /// A park begins at `now`: it counts if the parks before it cover the excess and a
    /// slot is free.
    pub(crate) fn begin(&self, now: u64) -> Park {
        let before = self.parks.fetch_add(1, Relaxed);
        let slot = if before >= self.excess.load(Relaxed) {
            self.slots
                .iter()
                .position(|s| s.compare_exchange(0, now + 1, Relaxed, Relaxed).is_ok())
        } else {
            None
        };
        Park { slot }
    }

    /// The park ends at `now`; returns its idle time not yet accounted (up to the start
    /// of a pause in progress: the pause counts the rest).
    pub(crate) fn end(&self, park: Park, now: u64) -> u64 {
        self.parks.fetch_sub(1, Relaxed);
        let Some(i) = park.slot else { return 0 };
        let since = self.slots[i].swap(0, Relaxed);
        let mut until = now + 1;
        let paused = self.paused_at.load(Relaxed);
        if paused != 0 && paused > since {
            until = until.min(paused);
        }
        until.saturating_sub(since)
    }

    /// The counted parks' idle time up to `now` not yet accounted, which it accounts:
    /// each slot's stamp moves to `now`.
    pub(crate) fn consume(&self, now: u64) -> u64 {
        self.move_stamps(now, true)
    }

    /// A pause began at `at` (the world is stopping).
    pub(crate) fn pause_begins(&self, at: u64) {
        self.paused_at.store(at + 1, Relaxed);
    }

    /// The pause ended at `end`, the parks' time up to its start accounted (`consume`):
    /// the pause's is not idle time (it is GC time on every P).
    pub(crate) fn pause_ends(&self, end: u64) {
        self.move_stamps(end, false);
        self.paused_at.store(0, Relaxed);
    }

    /// Moves every counted park's stamp forward to `to`; returns the time moved over
    /// when `counting`.
    fn move_stamps(&self, to: u64, counting: bool) -> u64 {
        let stamp = to + 1;
        let mut moved = 0;
        for slot in self.slots.iter() {
            let since = slot.load(Relaxed);
            if since == 0 || since >= stamp {
                continue;
            }
            if slot
                .compare_exchange(since, stamp, Relaxed, Relaxed)
                .is_ok()
                && counting
            {
                moved += stamp - since;
            }
        }
        moved
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A counted park's time is accounted once: the updates take it up to their `now`, its
    /// end the rest; a pause's part goes to neither. Parks past the Ps count nothing.
    #[test]
    fn each_park_nanosecond_is_accounted_once_and_never_inside_a_pause() {
        let p = IdleParks::new(2);
        let a = p.begin(100);
        let b = p.begin(150);
        let c = p.begin(160);
        assert!(c.slot.is_none(), "two Ps, two counted parks");
        assert_eq!(p.consume(200), 100 + 50);
        assert_eq!(p.consume(200), 0, "nothing twice");
        p.pause_begins(300);
        // `a` ends inside the pause: counted up to its start.
        assert_eq!(p.end(a, 350), 100);
        assert_eq!(p.consume(300), 100, "`b` up to the pause");
        p.pause_ends(400);
        assert_eq!(p.end(b, 450), 50, "`b` from the pause's end");
        assert_eq!(p.end(c, 500), 0);
        assert_eq!(p.parks.load(Relaxed), 0);
    }

    /// With more mutators running than the Ps left to them, the first parks hand their P
    /// to another mutator and count nothing.
    #[test]
    fn parks_count_only_beyond_the_mutators_waiting_for_a_p() {
        let p = IdleParks::new(2);
        p.plan(3, 2);
        let a = p.begin(0);
        assert!(
            a.slot.is_none(),
            "one mutator more than Ps: the first park feeds it"
        );
        let b = p.begin(0);
        assert_eq!(b.slot, Some(0));
        assert_eq!(p.end(b, 10), 10);
        assert_eq!(p.end(a, 10), 0);
    }
}
