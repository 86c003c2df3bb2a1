//! The GC CPU limiter's events in flight, integrated over time (Go's per-P
//! `limiterEvent`): Ps idle because their mutator is parked in an assist (`mark::park`)
//! or because an idle mark worker is in a slice of marking, and mutators in a mark
//! assist. Go's `updateLocked` takes idle time out of the window
//! (`limiterEventIdleMarkWork`, `limiterEventIdle`), counts assists as GC time
//! (`limiterEventMarkAssist`), and consumes the part of every P's event in flight at each
//! update (`limiterEvent.consume`), so no window gets more than it lasted and none of a
//! long stint arrives at once. The testbed does the same here, and none of a pause's
//! time counts, which is GC time on every P.
//!
//! Parks: while a goroutine of Go's waits in `gcParkAssist`, its P runs whatever else is
//! runnable, a dedicated or fractional mark worker first (GC time, in the limiter's
//! background share), then other goroutines, and failing both an idle mark worker or
//! nothing (idle time). The testbed counts parks as idle Ps where no other mutator could
//! take those Ps. A mark plans its workers for the mutators running at its start
//! (`pacer::WorkerPlan`, Go's rule for GOMAXPROCS); where more run than the Ps its
//! dedicated workers leave, a park first hands its P to a mutator that was waiting for one
//! (Go's run queue). So with `parks` parked, `excess` mutators beyond the free Ps and
//! `free` Ps, `min(parks - excess, free)` Ps idle (none below the excess). An estimate of
//! Go's schedule: it does not see the fractional worker taking the P, nor mutators that
//! were blocked at the mark's start and run later; `pacer::limiter` lists it among its
//! departures.
//!
//! Idle mark workers run on Ps that no mutator runs on (`pacer::WorkerPlan`'s idle
//! workers), so each one in a slice is one idle P; so is the GC thread's scan of the
//! specials' roots where the plan has idle workers (Go's idle worker takes those root
//! jobs itself), at most as many idle markers as the plan's idle workers counting.
//! Assists run on their mutator's P.
//! Counted at its end instead, a slice of a mark that follows a long list (tens of
//! milliseconds) landed in the one short window an update had just opened and was cut to
//! that window's length times GOMAXPROCS, and the limiter never turned on where Go's did;
//! an assist's time came only after the fact, too late to stop it
//! (results/pacer-go-fidelity.md finding 23).
//!
//! Invariant: `idle_ns` and `assist_ns` are the integrals of the idle Ps (parks' and idle
//! markers', no more markers than the plan's idle workers, at most `free` in all) and of
//! the assisting mutators over the time since they were last taken, outside pauses:
//! every change to a count or to the pause state first integrates up to its own time
//! (never backwards: a time before the last integration counts as that time), all under
//! one lock.

use crate::sync::unmodelled::Mutex;

/// The events over time (behind a lock: parks, marking slices and assists are slow
/// paths).
pub(crate) struct PEvents {
    state: Mutex<State>,
}

/// What an update takes ([`PEvents::consume`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Consumed {
    pub(crate) idle_ns: u64,
    pub(crate) assist_ns: u64,
}

#[derive(Default)]
struct State {
    /// Mutators parked now.
    parks: usize,
    /// Idle mark workers in a slice of marking now.
    idle_markers: usize,
    /// Mutators in a mark assist now.
    assists: usize,
    /// Running mutators beyond the Ps the current mark's dedicated workers leave them.
    excess: usize,
    /// The Ps the current mark's dedicated workers leave.
    free: usize,
    /// The current mark's idle workers (Go's rule, uncapped by the machine's CPUs).
    idle_workers: usize,
    /// A pause is in progress: no idle time accrues.
    paused: bool,
    /// Where the integral was last taken up to (nanoseconds from the limiter's epoch).
    since: u64,
    /// Idle P-nanoseconds not yet taken by an update.
    idle_ns: u64,
    /// Assist nanoseconds not yet taken by an update.
    assist_ns: u64,
}

impl State {
    /// The Ps the parks leave idle and the idle markers use (no more of those than the
    /// plan's idle workers), at most the free ones.
    fn idle_ps(&self) -> usize {
        let parked = self.parks.saturating_sub(self.excess);
        (parked + self.idle_markers.min(self.idle_workers)).min(self.free)
    }

    /// Integrates the idle Ps and the assists up to `now` (outside pauses).
    fn advance(&mut self, now: u64) {
        let now = now.max(self.since);
        if !self.paused {
            self.idle_ns += (now - self.since) * self.idle_ps() as u64;
            self.assist_ns += (now - self.since) * self.assists as u64;
        }
        self.since = now;
    }
}

impl PEvents {
    /// Events of `procs` Ps, every one of them free until a mark plans otherwise.
    pub(crate) fn new(procs: usize) -> PEvents {
        PEvents {
            state: Mutex::new(State {
                free: procs.max(1),
                idle_workers: procs.max(1),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> crate::sync::unmodelled::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mark starts at `now` with `running` mutators, `free` Ps left by its dedicated
    /// workers and `idle_workers` idle workers.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn plan(&self, now: u64, running: usize, free: usize, idle_workers: usize) {
        let mut s = self.at(now);
        s.excess = running.saturating_sub(free);
        s.free = free;
        s.idle_workers = idle_workers;
    }

    /// The state, integrated up to `now`, to change under its lock.
    fn at(&self, now: u64) -> crate::sync::unmodelled::MutexGuard<'_, State> {
        let mut s = self.lock();
        s.advance(now);
        s
    }

    /// A park begins at `now`.
    pub(crate) fn park_begins(&self, now: u64) {
        self.at(now).parks += 1;
    }

    /// A park ends at `now`.
    pub(crate) fn park_ends(&self, now: u64) {
        end(&mut self.at(now).parks, "a park");
    }

    /// An idle mark worker's slice of marking begins at `now`.
    pub(crate) fn marking_begins(&self, now: u64) {
        self.at(now).idle_markers += 1;
    }

    /// An idle mark worker's slice ends at `now`.
    pub(crate) fn marking_ends(&self, now: u64) {
        end(&mut self.at(now).idle_markers, "an idle marker's slice");
    }

    /// A mutator's mark assist begins at `now`.
    pub(crate) fn assist_begins(&self, now: u64) {
        self.at(now).assists += 1;
    }

    /// A mutator's mark assist ends at `now`.
    pub(crate) fn assist_ends(&self, now: u64) {
        end(&mut self.at(now).assists, "an assist");
    }

    /// The idle P-nanoseconds and the assist nanoseconds up to `now` not yet taken,
    /// which it takes.
    pub(crate) fn consume(&self, now: u64) -> Consumed {
        let mut s = self.at(now);
        Consumed {
            idle_ns: std::mem::take(&mut s.idle_ns),
            assist_ns: std::mem::take(&mut s.assist_ns),
        }
    }

    /// A pause begins at `at`: no idle time accrues until it ends.
    pub(crate) fn pause_begins(&self, at: u64) {
        let mut s = self.at(at);
        s.paused = true;
    }

    /// The pause ended at `end`.
    pub(crate) fn pause_ends(&self, end: u64) {
        let mut s = self.at(end);
        s.paused = false;
    }
}

/// One event of a kind ends: its count, which its beginning raised, falls by one.
fn end(count: &mut usize, what: &str) {
    debug_assert!(*count > 0, "{what} ends that never began");
    *count = count.saturating_sub(1);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Idle P-time is the parks' count integrated over time, taken once, none of it
    /// inside a pause (also for a park that begins or ends there), never more Ps than
    /// are free.
    #[test]
    fn parks_idle_their_ps_outside_pauses_and_each_nanosecond_counts_once() {
        let p = PEvents::new(2);
        p.park_begins(100);
        p.park_begins(150);
        p.park_begins(160);
        assert_eq!(
            p.consume(200).idle_ns,
            50 + 2 * 10 + 2 * 40,
            "at most the two free Ps"
        );
        assert_eq!(p.consume(200).idle_ns, 0, "nothing twice");
        p.pause_begins(300);
        p.park_ends(350);
        p.park_begins(360);
        p.park_ends(370);
        p.pause_ends(400);
        assert_eq!(
            p.consume(400).idle_ns,
            2 * 100,
            "two Ps idle up to the pause, none in it"
        );
        p.park_ends(450);
        p.park_ends(450);
        assert_eq!(p.consume(500).idle_ns, 2 * 50);
    }

    /// An idle marker's slice is idle P-time window by window as it runs, however long
    /// the slice (the limiter cuts each window's idle time at its length times
    /// GOMAXPROCS, so a slice counted whole at its end lost what passed the last
    /// window); with parks, no more Ps than are free, and none of a pause.
    #[test]
    fn an_idle_markers_slice_is_counted_in_each_window_it_spans() {
        let p = PEvents::new(2);
        p.marking_begins(0);
        assert_eq!(p.consume(10).idle_ns, 10);
        assert_eq!(
            p.consume(11).idle_ns,
            1,
            "a short window gets its own length only"
        );
        assert_eq!(p.consume(40).idle_ns, 29);
        p.park_begins(40);
        assert_eq!(
            p.consume(50).idle_ns,
            2 * 10,
            "a park and a marker: two idle Ps"
        );
        p.park_begins(50);
        assert_eq!(
            p.consume(60).idle_ns,
            2 * 10,
            "never more than the two free Ps"
        );
        p.park_ends(60);
        p.park_ends(60);
        p.pause_begins(60);
        p.pause_ends(70);
        p.marking_ends(80);
        assert_eq!(
            p.consume(90).idle_ns,
            10,
            "the marker up to its end, none of the pause"
        );
    }

    /// The GC thread's root scan beside the plan's one idle worker is one idle P, not
    /// two: Go's idle worker takes the root jobs itself.
    #[test]
    fn idle_markers_count_no_more_than_the_plans_idle_workers() {
        let p = PEvents::new(2);
        p.plan(0, 1, 2, 1);
        p.marking_begins(0);
        p.marking_begins(0);
        assert_eq!(p.consume(10).idle_ns, 10);
        p.park_begins(10);
        assert_eq!(p.consume(20).idle_ns, 2 * 10, "and the parked mutator's P");
    }

    /// Assists are GC time window by window as they run, beside the idle Ps and apart
    /// from them, none of a pause.
    #[test]
    fn assists_are_counted_in_each_window_they_span() {
        let p = PEvents::new(2);
        p.assist_begins(0);
        p.park_begins(5);
        let taken = p.consume(10);
        assert_eq!((taken.idle_ns, taken.assist_ns), (5, 10));
        p.assist_begins(10);
        p.pause_begins(20);
        p.pause_ends(30);
        p.assist_ends(40);
        let taken = p.consume(50);
        assert_eq!(taken.assist_ns, 2 * 10 + 2 * 10 + 10, "none of the pause");
        assert_eq!(taken.idle_ns, 40 - 10);
    }

    /// With more mutators running than the Ps left to them, parks first hand their Ps
    /// to waiting mutators: whichever park ends, the idle count is the parks beyond the
    /// excess.
    #[test]
    fn parks_idle_a_p_only_beyond_the_mutators_waiting_for_one() {
        let p = PEvents::new(2);
        p.plan(0, 3, 2, 0);
        p.park_begins(0);
        assert_eq!(
            p.consume(10).idle_ns,
            0,
            "one mutator more than Ps: the park feeds it"
        );
        p.park_begins(10);
        assert_eq!(p.consume(20).idle_ns, 10);
        p.park_ends(20);
        p.park_begins(20);
        assert_eq!(
            p.consume(30).idle_ns,
            10,
            "still one idle P, whichever park ended"
        );
        p.park_ends(30);
        p.park_ends(30);
        assert_eq!(p.consume(40).idle_ns, 0);
    }
}
