//! The background GC thread's mailbox: where an allocating mutator requests a concurrent
//! cycle (Go's trigger) and where anyone can wait for the thread to be idle. The thread
//! itself is started and run by `cycle` (normal builds only; loom models drive cycles
//! inline).
//!
//! Invariant: every field is read and written under the mailbox's one mutex, and every
//! change a waiter waits for is notified on `cv` once made. `requested || in_cycle` holds
//! from an accepted request until the thread's `cycle_done` for it (a `request_again`
//! meanwhile keeps it through the next cycle), and `starts` only grows, so a waiter never
//! takes an ending cycle for a new one; once `exit` is set, no request is accepted and every
//! wait returns.

// Under loom no background thread exists: cycles run inline.
#![cfg_attr(loom, allow(dead_code))]

use crate::sync::unmodelled::thread::JoinHandle;
use crate::sync::unmodelled::{lock, Condvar, Mutex, MutexGuard};

#[derive(Default)]
struct State {
    requested: bool,
    in_cycle: bool,
    /// Cycles that have begun their work so far (for the GC thread: turned marking on); a
    /// waiter compares it with what it saw.
    starts: u64,
    exit: bool,
    thread: Option<JoinHandle<()>>,
}

/// The request box and state of a heap's background GC thread.
#[derive(Default)]
pub(crate) struct Background {
    state: Mutex<State>,
    cv: Condvar,
}

impl Background {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts the thread with `spawn` unless it runs already (or the heap is stopping).
    pub(crate) fn ensure_thread(&self, spawn: impl FnOnce() -> JoinHandle<()>) {
        let mut g = self.lock();
        if g.thread.is_none() && !g.exit {
            g.thread = Some(spawn());
        }
    }

    /// Asks for a cycle unless one is requested or running; true if this call asked.
    pub(crate) fn request(&self) -> bool {
        let mut g = self.lock();
        if g.requested || g.in_cycle || g.exit {
            return false;
        }
        g.requested = true;
        self.cv.notify_all();
        true
    }

    /// Asks for another run even if one is running now (the sweeper: a sweep that is
    /// ending may have missed spans of a generation that began meanwhile).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn request_again(&self) {
        let mut g = self.lock();
        if !g.exit {
            g.requested = true;
            self.cv.notify_all();
        }
    }

    /// The thread's side: the cycle has begun its work.
    pub(crate) fn started(&self) {
        self.lock().starts += 1;
        self.cv.notify_all();
    }

    /// How many cycles have begun their work so far (see [`Background::wait_started_after`]).
    pub(crate) fn starts(&self) -> u64 {
        self.lock().starts
    }

    /// Waits until a cycle begins its work after `seen` (a value of
    /// [`Background::starts`]), or none is requested or running.
    ///
    /// A count, not a flag of the running cycle: between a cycle's mark termination and
    /// the thread's `cycle_done` such a flag still said "started", and a waiter that
    /// trusted it went on allocating past the goal with marking off for as long as the
    /// GC thread went unscheduled (under valgrind: four times the goal, with no cycle).
    pub(crate) fn wait_started_after(&self, seen: u64) {
        let mut g = self.lock();
        while Self::start_pending(&g, seen) {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Whether a waiter that saw `seen` starts must go on waiting.
    fn start_pending(g: &State, seen: u64) -> bool {
        (g.requested || g.in_cycle) && g.starts == seen && !g.exit
    }

    /// Waits until no cycle is requested or running.
    pub(crate) fn wait_idle(&self) {
        let mut g = self.lock();
        while (g.requested || g.in_cycle) && !g.exit {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The thread's side: waits for a request; false when it should exit.
    pub(crate) fn next_request(&self) -> bool {
        let mut g = self.lock();
        while !g.requested && !g.exit {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        if g.exit {
            return false;
        }
        g.requested = false;
        g.in_cycle = true;
        true
    }

    /// The thread's side: the cycle is over.
    pub(crate) fn cycle_done(&self) {
        let mut g = self.lock();
        g.in_cycle = false;
        drop(g);
        self.cv.notify_all();
    }

    /// Tells the thread to exit, without waiting for it.
    pub(crate) fn signal_exit(&self) {
        self.lock().exit = true;
        self.cv.notify_all();
    }

    /// Tells the thread to exit and joins it (unless called from the thread itself).
    pub(crate) fn stop(&self) {
        let t = {
            let mut g = self.lock();
            g.exit = true;
            g.thread.take()
        };
        self.cv.notify_all();
        if let Some(t) = t {
            if t.thread().id() != crate::sync::unmodelled::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A mutator past the goal waits for a cycle to begin. In the window between a
    /// cycle's mark termination and the thread's `cycle_done`, the running cycle has
    /// begun already, yet no mark is on: the wait must be for the next cycle (asked for
    /// with `request_again`), not satisfied by the ending one.
    #[test]
    fn a_waiter_in_a_cycles_last_moments_waits_for_the_next_one() {
        let bg = Background::default();
        assert!(bg.request());
        assert!(bg.next_request());
        bg.started();
        // The mark is over; the thread has not called `cycle_done` yet.
        let seen = bg.starts();
        bg.request_again();
        let pending = || Background::start_pending(&bg.lock(), seen);
        assert!(pending(), "the ending cycle satisfied the wait");
        crate::sync::unmodelled::thread::scope(|s| {
            let waiter = s.spawn(|| bg.wait_started_after(seen));
            bg.cycle_done();
            assert!(pending(), "no cycle requested after the ending one");
            assert!(bg.next_request(), "the follow-up request is taken");
            assert!(pending());
            bg.started();
            assert!(!pending());
            waiter.join().unwrap();
        });
        // With nothing requested or running, the wait returns at once.
        bg.cycle_done();
        bg.wait_started_after(bg.starts());
    }
}
