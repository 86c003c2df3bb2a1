//! Go's GC CPU limiter (`mgclimit.go`): a leaky bucket that fills with the collector's
//! CPU time and drains with the mutators', holding at most one CPU-second per P. While
//! it is full the limiter is on and mark assists do not run (Go's `gcAssistAlloc`
//! returns early when `gcCPULimiter.limiting()`), so a heap that cannot be kept under its
//! memory limit (or a GOGC so low that the collector runs all the time) is collected at
//! about half the CPU, the heap growing past its goal, instead of spending every cycle
//! in assists (a death spiral).
//!
//! What counts, as in Go's `updateLocked`: while a mark runs, a quarter of the window's
//! CPU time (Go's background utilization, whatever the workers used) plus the assists'
//! time (mark assists, and an allocation's scavenging: `heap::scavenge`); a pause counts
//! the whole window times GOMAXPROCS (`finishGCTransition`); idle mark workers' time is
//! taken out of the window's total. Updated at every pause, after every assist, and at
//! most every [`UPDATE_PERIOD_NS`] from the GC thread's wait for the mark's end and a
//! refill whose assist the limiter skipped (where Go's scheduler updates it).
//! Mark assists and idle mark workers' slices are taken at every update for the part
//! that has run, as Go consumes each P's event in flight (`pacer::p_events`), and an
//! assist stops at its next flush of work once the limiter is on (Go's `gcDrainN` checks
//! `limiting()` at each step).
//! A mutator parked in an assist (`mark::park`) counts as its P's idle time, taken out
//! of the window, where no other mutator could take the P (`pacer::p_events`): Go's
//! goroutine parks and its P, with nothing else to run, runs an idle mark worker or goes
//! idle (`limiterEventIdleMarkWork`, `limiterEventIdle`). Counted as the mutators' time
//! instead, the waits of a spiral whose assists mostly park kept the bucket from ever
//! filling (a test's 7,500 cycles without the limiter turning on).
//! Departures from Go: (1) Go also takes out the time its other Ps spend on the idle
//! list; the testbed has no Ps and counts every P's time as available, so with fewer
//! running mutators than GOMAXPROCS its limiter turns on later than Go's would; and
//! where Go's P runs its fractional worker for a parked goroutine, the testbed counts
//! the park as idle all the same; (2) an allocation's scavenging is counted when it
//! ends, where Go counts every event's running part at each update; (3) an assist stops
//! at its next flush (every `mark::state::CREDIT_SLACK` units of scan work) after the
//! limiter turns on, Go's `gcDrainN` at its next object or buffer; (4) a window's idle
//! time is capped at the window's length times GOMAXPROCS, which Go does not do (a guard
//! only: the events in flight never count more idle Ps than GOMAXPROCS); (5) with a
//! hard heap cap (`HeapConfig::heap_limit`, the testbed's own) the limiter never stops
//! an assist (`HeapCore::assists_limited`).
//!
//! Invariant: `fill <= capacity`; `on` is set when an accumulation fills the bucket and
//! cleared by the next one that changes it without filling it (Go's `accumulate`); the
//! bucket changes only under its lock, and a window of time is accounted once (the
//! assist pool and the events in flight are taken under the lock, `last_update` moves
//! forward only).

use super::p_events::PEvents;
use crate::sync::unmodelled::{
    AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering::Relaxed, TryLockError,
};
use std::time::Instant;

/// The bucket's capacity per P: one CPU-second (Go's `capacityPerProc`).
pub(crate) const CAPACITY_PER_PROC_NS: u64 = 1_000_000_000;

/// The most wall time between two updates that an assist lets pass (Go's
/// `gcCPULimiterUpdatePeriod`).
pub(crate) const UPDATE_PERIOD_NS: u64 = 10_000_000;

/// Go's `gcBackgroundUtilization`: the share of the CPU a mark is taken to use.
const BACKGROUND_SHARE: f64 = 0.25;

/// The bucket and what it needs to account a window.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) fill: u64,
    pub(crate) capacity: u64,
    /// GC time that found the bucket full (Go's `overflow`).
    pub(crate) overflow: u64,
    /// A mark runs (its background share counts as GC time).
    pub(crate) marking: bool,
    pub(crate) procs: u64,
}

impl Bucket {
    pub(crate) fn new(procs: usize) -> Bucket {
        let procs = procs.max(1) as u64;
        Bucket {
            fill: 0,
            capacity: procs * CAPACITY_PER_PROC_NS,
            overflow: 0,
            marking: false,
            procs,
        }
    }

    /// Adds a window's GC and mutator time; returns whether the limiter is on after it,
    /// given whether it was (`on`). Go's `accumulate`: the bucket never goes below 0 nor
    /// above its capacity; the limiter turns on when the GC's excess over the mutators'
    /// time fills it (the excess past the capacity is `overflow`), and off at the next
    /// change that leaves room.
    pub(crate) fn accumulate(&mut self, mutator_ns: i64, gc_ns: i64, on: bool) -> bool {
        let headroom = self.capacity - self.fill;
        // Go's `change`; the mutators' time is negative when idle marking took more
        // than the rest of the window (the total less idle time, less GC time).
        let change = gc_ns.saturating_sub(mutator_ns);
        if change > 0 {
            let excess = change as u64;
            if excess >= headroom {
                self.overflow += excess - headroom;
                self.fill = self.capacity;
                return true;
            }
            self.fill += excess;
        } else {
            self.fill = self.fill.saturating_sub(change.unsigned_abs());
        }
        // A change that leaves room turns it off; no change leaves it as it was.
        on && change == 0
    }

    /// Accounts `window_ns` of wall time with `assist_ns` of assists and `idle_ns` of
    /// idle marking in it (Go's `updateLocked`); returns whether the limiter is on after.
    pub(crate) fn account(
        &mut self,
        window_ns: u64,
        assist_ns: u64,
        idle_ns: u64,
        on: bool,
    ) -> bool {
        let clamp = |ns: u64| ns.min(i64::MAX as u64) as i64;
        let total = clamp(window_ns.saturating_mul(self.procs));
        let mut gc = clamp(assist_ns);
        if self.marking {
            gc = gc.saturating_add((total as f64 * BACKGROUND_SHARE) as i64);
        }
        // Idle time is at most the window's (an estimate for parks, `pacer::p_events`).
        let available = total.saturating_sub(clamp(idle_ns).min(total));
        self.accumulate(available.saturating_sub(gc), gc, on)
    }
}

/// A heap's limiter: the bucket behind a lock, the flag assists read, and the pools of
/// time accumulated between updates.
pub(crate) struct CpuLimiter {
    epoch: Instant,
    on: AtomicBool,
    bucket: Mutex<Bucket>,
    assist_pool: AtomicU64,
    /// Ps idle (parks, idle mark workers) and mutators in assists, in flight.
    events: PEvents,
    /// Nanoseconds from `epoch` to the end of the last accounted window.
    last_update: AtomicU64,
    /// How many times the limiter turned on.
    turned_on: AtomicU64,
    /// Set by `force`: updates do nothing.
    #[cfg(test)]
    forced: AtomicBool,
}

impl CpuLimiter {
    pub(crate) fn new(procs: usize) -> CpuLimiter {
        CpuLimiter {
            epoch: Instant::now(),
            on: AtomicBool::new(false),
            bucket: Mutex::new(Bucket::new(procs)),
            assist_pool: AtomicU64::new(0),
            events: PEvents::new(procs),
            last_update: AtomicU64::new(0),
            turned_on: AtomicU64::new(0),
            #[cfg(test)]
            forced: AtomicBool::new(false),
        }
    }

    /// Whether the limiter is on: assists do not run (one relaxed load).
    #[inline]
    pub(crate) fn limiting(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Turns the limiter on or off and keeps it so: updates stop (unit tests of its
    /// users, which must not depend on how long they take).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn force(&self, on: bool) {
        self.forced.store(true, Relaxed);
        self.set(on);
    }

    /// How many times the limiter has turned on, whether it is on, and the GC time that
    /// found the bucket full (ns).
    pub(crate) fn record(&self) -> crate::telemetry::CpuLimiterStats {
        let overflow_ns = self.lock().overflow;
        crate::telemetry::CpuLimiterStats {
            times_on: self.turned_on.load(Relaxed),
            on: self.limiting(),
            overflow_ns,
        }
    }

    /// Adds the time of an assist that has ended (an allocation's scavenging), counted
    /// at the next update.
    pub(crate) fn add_assist(&self, ns: u64) {
        self.assist_pool.fetch_add(ns, Relaxed);
    }

    /// A mutator's assist parks: until the returned guard drops, its P may be idle
    /// (`pacer::p_events`), and the time is taken out of the windows it spans.
    pub(crate) fn park_begins(&self) -> IdlePark<'_> {
        self.events.park_begins(self.now());
        IdlePark { limiter: self }
    }

    /// An idle mark worker's slice of marking begins: until the returned guard drops, its
    /// P is idle (`pacer::p_events`), and the time is taken out of the windows it spans.
    pub(crate) fn idle_marking_begins(&self) -> IdleMarking<'_> {
        self.events.marking_begins(self.now());
        IdleMarking { limiter: self }
    }

    /// A mutator's mark assist begins: until the returned guard drops, its time is the
    /// collector's in the windows it spans (`pacer::p_events`).
    pub(crate) fn assist_begins(&self) -> Assisting<'_> {
        self.events.assist_begins(self.now());
        Assisting { limiter: self }
    }

    /// A concurrent mark starts with `running` mutators, `free` Ps besides its dedicated
    /// workers (which parks count as idle Ps) and `idle_workers` idle workers (at most as
    /// many idle markers count: `pacer::p_events`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn plan_mark(&self, running: usize, free: usize, idle_workers: usize) {
        self.events.plan(self.now(), running, free, idle_workers);
    }

    /// A cycle abandoned by a panic, perhaps inside a pause that will not end: events
    /// accrue again from now.
    pub(crate) fn forget_pause(&self) {
        self.events.pause_ends(self.now());
        self.lock().marking = false;
    }

    /// A stop-the-world pause begins at `at` (its end is [`CpuLimiter::pause`]).
    pub(crate) fn pausing(&self, at: Instant) {
        self.events.pause_begins(self.since_epoch(at));
    }

    /// Accounts the time since the last update if [`UPDATE_PERIOD_NS`] has passed (Go's
    /// `needUpdate`, then `update`).
    pub(crate) fn maybe_update(&self) {
        if self.now().saturating_sub(self.last_update.load(Relaxed)) > UPDATE_PERIOD_NS {
            self.update();
        }
    }

    /// Accounts the time since the last update unless another thread is updating (Go's
    /// `update`, as after an assist).
    pub(crate) fn update(&self) {
        #[cfg(test)]
        if self.forced.load(Relaxed) {
            return;
        }
        let now = self.now();
        let mut b = match self.bucket.try_lock() {
            Ok(b) => b,
            Err(TryLockError::WouldBlock) => return,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        self.update_locked(&mut b, now);
    }

    /// A stop-the-world pause from `start` to `end` that leaves a mark running or not
    /// (Go's `startGCTransition` and `finishGCTransition`): the time before it is
    /// accounted as it was, the pause as GC time on every P.
    pub(crate) fn pause(&self, start: Instant, end: Instant, marking_after: bool) {
        let (start, end) = (self.since_epoch(start), self.since_epoch(end));
        let mut b = self.lock();
        self.update_locked(&mut b, start);
        let last = self.last_update.load(Relaxed);
        let stopped = end.saturating_sub(last).saturating_mul(b.procs);
        let stopped = stopped.min(i64::MAX as u64) as i64;
        self.set(b.accumulate(0, stopped, self.limiting()));
        self.last_update.store(end.max(last), Relaxed);
        self.events.pause_ends(end);
        b.marking = marking_after;
    }

    fn update_locked(&self, b: &mut Bucket, now: u64) {
        let last = self.last_update.load(Relaxed);
        if now < last {
            return;
        }
        self.last_update.store(now, Relaxed);
        let in_flight = self.events.consume(now);
        let assist = self.assist_pool.swap(0, Relaxed) + in_flight.assist_ns;
        let idle = in_flight.idle_ns;
        self.set(b.account(now - last, assist, idle, self.limiting()));
    }

    fn set(&self, on: bool) {
        if on != self.on.swap(on, Relaxed) && on {
            self.turned_on.fetch_add(1, Relaxed);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        crate::telemetry::nanos(self.epoch.elapsed())
    }

    fn since_epoch(&self, t: Instant) -> u64 {
        crate::telemetry::nanos(t.saturating_duration_since(self.epoch))
    }
}

/// A parked assist, its P perhaps idle while this lives ([`CpuLimiter::park_begins`]).
pub(crate) struct IdlePark<'l> {
    limiter: &'l CpuLimiter,
}

impl Drop for IdlePark<'_> {
    fn drop(&mut self) {
        self.limiter.events.park_ends(self.limiter.now());
    }
}

/// An idle mark worker's slice of marking, its P idle while this lives
/// ([`CpuLimiter::idle_marking_begins`]).
pub(crate) struct IdleMarking<'l> {
    limiter: &'l CpuLimiter,
}

impl Drop for IdleMarking<'_> {
    fn drop(&mut self) {
        self.limiter.events.marking_ends(self.limiter.now());
    }
}

/// A mutator's mark assist, the collector's time while this lives
/// ([`CpuLimiter::assist_begins`]).
pub(crate) struct Assisting<'l> {
    limiter: &'l CpuLimiter,
}

impl Drop for Assisting<'_> {
    fn drop(&mut self) {
        self.limiter.events.assist_ends(self.limiter.now());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// `accumulate` with times in ms.
    fn add(b: &mut Bucket, mutator_ms: i64, gc_ms: i64, on: bool) -> bool {
        b.accumulate(mutator_ms * MS as i64, gc_ms * MS as i64, on)
    }

    /// Go's `accumulate`: the bucket fills with the GC's excess over the mutators' time
    /// and never leaves [0, capacity]; the limiter turns on when it fills (the excess
    /// past the capacity is overflow), stays on while nothing changes, and turns off at
    /// the next change that leaves room.
    #[test]
    fn the_bucket_turns_the_limiter_on_when_full_and_off_when_it_drains() {
        let mut b = Bucket::new(1);
        assert_eq!(b.capacity, CAPACITY_PER_PROC_NS);
        assert!(!add(&mut b, 100, 0, false), "mutator time: stays empty");
        assert_eq!(b.fill, 0);
        assert!(!add(&mut b, 200, 700, false));
        assert_eq!(b.fill, 500 * MS);
        assert!(add(&mut b, 0, 600, false), "filled: on");
        assert_eq!((b.fill, b.overflow), (CAPACITY_PER_PROC_NS, 100 * MS));
        assert!(add(&mut b, 5, 5, true), "no change: still on");
        assert!(add(&mut b, 0, 7, true), "full and more GC: on");
        assert_eq!(b.overflow, 107 * MS);
        assert!(!add(&mut b, 1, 0, true), "room again: off");
        assert_eq!(b.fill, CAPACITY_PER_PROC_NS - MS);
        assert!(!add(&mut b, 5000, 0, false));
        assert_eq!(b.fill, 0, "never below empty");
        // Negative mutator time (idle marking beyond the rest): Go's change is GC time
        // less it, so it adds.
        assert!(!add(&mut b, -3, 5, false));
        assert_eq!(b.fill, 8 * MS);
    }

    /// Go's `updateLocked`: while a mark runs a quarter of every P's time counts as GC
    /// time, plus the assists; idle marking is taken out of the total. A mark that
    /// spends half of two Ps in assists beside its quarter leaves the mutators a
    /// quarter: 10 ms of excess per 10 ms window, so the 2-CPU-second bucket fills in
    /// exactly 200 windows.
    #[test]
    fn a_mark_spending_three_quarters_of_the_cpu_fills_the_bucket_in_two_seconds() {
        let mut b = Bucket::new(2);
        b.marking = true;
        let mut on = false;
        for window in 1..=200 {
            on = b.account(10 * MS, 10 * MS, 0, on);
            assert_eq!(on, window == 200, "window {window}");
        }
        // Without the mark's share and assists, the mutators drain it: off.
        b.marking = false;
        assert!(!b.account(10 * MS, 0, 0, on));
        assert_eq!(b.fill, 2 * CAPACITY_PER_PROC_NS - 20 * MS);
        // Idle marking is not mutator time: a window all idle marking changes nothing.
        let fill = b.fill;
        assert!(!b.account(10 * MS, 0, 20 * MS, false));
        assert_eq!(b.fill, fill);
        // Marking, 18 of 20 ms idle marking: 5 ms of GC share against 2 available, so
        // mutator time -3 and the bucket gains 8 (Go's arithmetic, not clamped).
        b.marking = true;
        assert!(!b.account(10 * MS, 0, 18 * MS, false));
        assert_eq!(b.fill, fill + 8 * MS);
    }

    /// An idle worker's slice that outlasts many updates (a mark following a long list)
    /// is idle time in each window as it runs (`pacer::p_events`; Go's
    /// `limiterEvent.consume`). On 2 Ps with the one mutator parked in an assist beside
    /// it and an update every 100 µs, both Ps are idle: the mark's quarter of each window
    /// (its background share) is GC time, the mutators' time is minus as much, and the
    /// bucket gains a window's length each window, full at exactly 2 s. Counted in one
    /// lump when the slice ends, as it was, the same time fell in the last window and was
    /// cut to that window's length times GOMAXPROCS: the bucket gained one window and the
    /// limiter stayed off (results/pacer-go-fidelity.md finding 23).
    #[test]
    fn an_idle_workers_long_slice_counts_in_each_window_it_spans() {
        const STEP: u64 = 100_000;
        const STEPS: u64 = 30_000; // 3 s
        for counted_as_it_runs in [true, false] {
            let l = CpuLimiter::new(2);
            l.lock().marking = true;
            l.events.plan(0, 1, 2, 1);
            l.events.park_begins(0);
            if counted_as_it_runs {
                l.events.marking_begins(0);
            }
            let mut on_at = None;
            for step in 1..=STEPS {
                l.update_locked(&mut l.lock(), step * STEP);
                if l.limiting() && on_at.is_none() {
                    on_at = Some(step);
                }
            }
            if counted_as_it_runs {
                assert_eq!(on_at, Some(20_000), "full after 2 s of windows");
                continue;
            }
            assert_eq!((on_at, l.lock().fill), (None, 0), "park and share: even");
            // The slice's 3 s in the window after it, 100 µs on 2 Ps, the park in it too.
            let on = l.lock().account(STEP, 0, STEPS * STEP + STEP, false);
            assert_eq!(l.lock().fill, STEP, "the slice cut to the window");
            assert!(!on);
        }
    }

    /// A pause counts every P's time as GC time (`finishGCTransition`), and the window
    /// before it is accounted with the phase it had.
    #[test]
    fn a_pause_counts_all_procs_as_gc_time() {
        let l = CpuLimiter::new(4);
        let t0 = l.epoch + std::time::Duration::from_millis(10);
        l.pause(t0, t0 + std::time::Duration::from_millis(100), true);
        {
            let b = l.lock();
            assert_eq!(
                b.fill,
                400 * MS,
                "100 ms on 4 Ps (the 10 ms before drained nothing)"
            );
            assert!(b.marking);
        }
        // Another 300 ms stopped, then 150 ms of mark with 3 Ps' worth of assists.
        let t1 = t0 + std::time::Duration::from_millis(100);
        l.pause(t1, t1 + std::time::Duration::from_millis(300), true);
        assert_eq!(l.lock().fill, 1600 * MS);
        l.add_assist(450 * MS);
        let t2 = t1 + std::time::Duration::from_millis(450);
        // 150 ms on 4 Ps: 600 total, 150 background + 450 assists = 600 GC, 0 mutator;
        // then 1 ms stopped.
        l.pause(t2, t2 + std::time::Duration::from_millis(1), false);
        assert_eq!(l.lock().fill, 2204 * MS);
        assert!(!l.limiting());
        // 450 ms stopped: 1800 against 1796 of room: on, 4 ms over.
        let t3 = t2 + std::time::Duration::from_millis(1);
        l.pause(t3, t3 + std::time::Duration::from_millis(450), false);
        assert!(l.limiting());
        let stats = l.record();
        assert_eq!(
            (stats.times_on, stats.on, stats.overflow_ns),
            (1, true, 4 * MS)
        );
    }
}
