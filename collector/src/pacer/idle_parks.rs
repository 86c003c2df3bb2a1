//! The GC CPU limiter's account of mutators parked in assists (`mark::park`): while a
//! goroutine of Go's waits in `gcParkAssist`, its P runs whatever else is runnable, a
//! dedicated or fractional mark worker first (GC time, in the limiter's background
//! share), then other goroutines, and failing both an idle mark worker or nothing (idle
//! time, which Go's `updateLocked` takes out of the window: `limiterEventIdleMarkWork`,
//! `limiterEventIdle`). The testbed counts parks as idle Ps where no other mutator could
//! take those Ps, integrated over time and taken at every update, as Go consumes each
//! P's limiter event (`limiterEvent.consume`), so no window gets more than it lasted;
//! and none of a pause's time, which counts as GC time on every P.
//!
//! How many Ps idle: a mark plans its workers for the mutators running at its start
//! (`pacer::WorkerPlan`, Go's rule for GOMAXPROCS); where more run than the Ps its
//! dedicated workers leave, a park first hands its P to a mutator that was waiting for one
//! (Go's run queue). So with `parks` parked, `excess` mutators beyond the free Ps and
//! `free` Ps, `min(parks - excess, free)` Ps idle (none below the excess). An estimate of
//! Go's schedule: it does not see the fractional worker taking the P, nor mutators that
//! were blocked at the mark's start and run later; `pacer::limiter` lists it among its
//! departures.
//!
//! Invariant: `idle_ns` is the integral of the idle Ps over the time since it was last
//! taken, outside pauses: every change to the count or to the pause state first
//! integrates up to its own time (never backwards: a time before the last integration
//! counts as that time), all under one lock.

use crate::sync::unmodelled::Mutex;

/// The parks' idle Ps over time (behind a lock: parks are a slow path).
pub(crate) struct IdleParks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Mutators parked now.
    parks: usize,
    /// Running mutators beyond the Ps the current mark's dedicated workers leave them.
    excess: usize,
    /// The Ps the current mark's dedicated workers leave.
    free: usize,
    /// A pause is in progress: no idle time accrues.
    paused: bool,
    /// Where the integral was last taken up to (nanoseconds from the limiter's epoch).
    since: u64,
    /// Idle P-nanoseconds not yet taken by an update.
    idle_ns: u64,
}

impl State {
    /// The Ps the parks leave idle.
    fn idle_ps(&self) -> usize {
        self.parks.saturating_sub(self.excess).min(self.free)
    }

    /// Integrates the idle Ps up to `now` (outside pauses).
    fn advance(&mut self, now: u64) {
        let now = now.max(self.since);
        if !self.paused {
            self.idle_ns += (now - self.since) * self.idle_ps() as u64;
        }
        self.since = now;
    }
}

impl IdleParks {
    /// Parks on `procs` Ps, every one of them free until a mark plans otherwise.
    pub(crate) fn new(procs: usize) -> IdleParks {
        IdleParks {
            state: Mutex::new(State {
                free: procs.max(1),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> crate::sync::unmodelled::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mark starts at `now` with `running` mutators and `free` Ps left by its
    /// dedicated workers.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn plan(&self, now: u64, running: usize, free: usize) {
        let mut s = self.lock();
        s.advance(now);
        s.excess = running.saturating_sub(free);
        s.free = free;
    }

    /// A park begins at `now`.
    pub(crate) fn begin(&self, now: u64) {
        let mut s = self.lock();
        s.advance(now);
        s.parks += 1;
    }

    /// A park ends at `now`.
    pub(crate) fn end(&self, now: u64) {
        let mut s = self.lock();
        s.advance(now);
        s.parks = s.parks.saturating_sub(1);
    }

    /// The idle P-nanoseconds up to `now` not yet taken, which it takes.
    pub(crate) fn consume(&self, now: u64) -> u64 {
        let mut s = self.lock();
        s.advance(now);
        std::mem::take(&mut s.idle_ns)
    }

    /// A pause begins at `at`: no idle time accrues until it ends.
    pub(crate) fn pause_begins(&self, at: u64) {
        let mut s = self.lock();
        s.advance(at);
        s.paused = true;
    }

    /// The pause ended at `end`.
    pub(crate) fn pause_ends(&self, end: u64) {
        let mut s = self.lock();
        s.advance(end);
        s.paused = false;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Idle P-time is the parks' count integrated over time, taken once, none of it
    /// inside a pause (also for a park that begins or ends there), never more Ps than
    /// are free.
    #[test]
    fn parks_idle_their_ps_outside_pauses_and_each_nanosecond_counts_once() {
        let p = IdleParks::new(2);
        p.begin(100);
        p.begin(150);
        p.begin(160);
        assert_eq!(
            p.consume(200),
            50 + 2 * 10 + 2 * 40,
            "at most the two free Ps"
        );
        assert_eq!(p.consume(200), 0, "nothing twice");
        p.pause_begins(300);
        p.end(350);
        p.begin(360);
        p.end(370);
        p.pause_ends(400);
        assert_eq!(
            p.consume(400),
            2 * 100,
            "two Ps idle up to the pause, none in it"
        );
        p.end(450);
        p.end(450);
        assert_eq!(p.consume(500), 2 * 50);
    }

    /// With more mutators running than the Ps left to them, parks first hand their Ps
    /// to waiting mutators: whichever park ends, the idle count is the parks beyond the
    /// excess.
    #[test]
    fn parks_idle_a_p_only_beyond_the_mutators_waiting_for_one() {
        let p = IdleParks::new(2);
        p.plan(0, 3, 2);
        p.begin(0);
        assert_eq!(
            p.consume(10),
            0,
            "one mutator more than Ps: the park feeds it"
        );
        p.begin(10);
        assert_eq!(p.consume(20), 10);
        p.end(20);
        p.begin(20);
        assert_eq!(p.consume(30), 10, "still one idle P, whichever park ended");
        p.end(30);
        p.end(30);
        assert_eq!(p.consume(40), 0);
    }
}
