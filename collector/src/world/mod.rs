//! The mutator registry and the stop-the-world handshake.
//!
//! Each registered mutator is *running* (it may touch the heap), *parked* at a safepoint,
//! or *blocked* (sleeping, in I/O or a system call, or running a callback that does not
//! touch the heap). A stop request sets a flag that running mutators poll at allocation
//! and at `safepoint()`; the collector waits only until no mutator is running, so a
//! blocked mutator never delays a pause. A mutator whose thread exited without dropping
//! it counts as blocked from then on (`World::thread_exited`). All waiting parks on a
//! mutex and condition variables — no spinning — which is also what keeps loom models
//! small.
//!
//! The collector holds the registry lock for the whole pause: that is what makes every
//! mutator's roots and cache readable by it (see [`Stopped`]).
//!
//! Invariants: all registry state is behind the world lock. `running` counts the
//! registered mutators that are neither blocked nor parked; a mutator becomes running
//! (registering, returning from `park`, leaving the blocking state) only under that lock
//! while the world is not stopped — and, leaving the blocking state, not claimed. A
//! [`Stopped`] holds the lock for the whole pause and exists only once `running` is 0
//! (outside loom's `skip_wait` fault), so while it lives no mutator runs; a [`Claim`] keeps
//! its mutator blocked until it is dropped.

pub(crate) mod mutator_state;
pub(crate) mod roots;
pub(crate) mod this_thread;

use crate::sync::{lock, wait, Arc, AtomicU32, Condvar, Mutex, MutexGuard, Ordering::*};
pub(crate) use mutator_state::{Exclusive, MutatorShared};
use std::time::Instant;
use this_thread::note_running;
pub(crate) use this_thread::{running_mutator_on_this_thread, ThreadExit};

/// Flag: a stop-the-world pause has been requested; running mutators must park.
pub(crate) const FLAG_STOP: u32 = 1;
/// Flag: marking is on: write barriers shade, and new objects are allocated black.
pub(crate) const FLAG_MARKING: u32 = 2;
/// Flag: the heap has been shut down; every operation panics.
pub(crate) const FLAG_SHUTDOWN: u32 = 4;

/// Flag: some mutator has a handshake request pending (scan your roots, flush your
/// barrier buffer); running mutators serve it at their next safepoint.
pub(crate) const FLAG_HANDSHAKE: u32 = 8;

/// One registered mutator, as the registry sees it.
struct Entry {
    m: Arc<MutatorShared>,
    /// In the blocking state: the collector may act for it (see [`Claim`]).
    blocked: bool,
    /// Held by the collector through a [`Claim`]: it may not leave the blocking state.
    claimed: bool,
    /// Blocked only to wait for the cycle its allocation asked for to start
    /// ([`World::awaiting_cycle_start`]): it runs on the moment the mark begins.
    awaiting_start: bool,
}

/// The registry state behind the world lock.
pub(crate) struct WorldState {
    stopped: bool,
    running: usize,
    mutators: Vec<Entry>,
    /// Bumped whenever a mutator blocks, serves a handshake request or leaves, so the
    /// collector can wait for the next such change without polling.
    epoch: u64,
    /// Threads waiting in `wait_for_change`: a change notifies only when there are some
    /// (a futex wake per blocking transition cost a system call per callback run).
    change_waiters: usize,
}

impl WorldState {
    fn entry(&mut self, m: &Arc<MutatorShared>) -> &mut Entry {
        self.mutators
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.m, m))
            .expect("a registered mutator")
    }
}

/// The registry of mutators and the handshake between them and the collector.
pub(crate) struct World {
    /// The heap's id (for this thread's mutator bookkeeping).
    heap: u64,
    /// Ids for new mutators (diagnostics only, so a `std` atomic).
    next_id: crate::sync::unmodelled::AtomicU64,
    state: Mutex<WorldState>,
    /// Mutators wait here for the world to restart.
    restart: Condvar,
    /// The collector waits here for the last running mutator to stop.
    all_stopped: Condvar,
    /// The collector waits here for `epoch` to change.
    changed: Condvar,
}

/// A blocked mutator held by the collector: until this is dropped, the mutator cannot
/// leave the blocking state, so the collector may read and change its private state.
pub(crate) struct Claim<'a> {
    world: &'a World,
    /// The mutator held.
    pub(crate) m: Arc<MutatorShared>,
}

impl Exclusive for Claim<'_> {
    fn covers(&self, m: &MutatorShared) -> bool {
        std::ptr::eq(&*self.m, m)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut g = lock(&self.world.state);
        if let Some(e) = g.mutators.iter_mut().find(|e| Arc::ptr_eq(&e.m, &self.m)) {
            e.claimed = false;
        }
        drop(g);
        self.world.restart.notify_all();
    }
}

/// Proof that the world is stopped: no registered mutator is running, and none can start
/// until this is passed to [`World::start`]. Holding it gives access to every mutator.
///
/// Dropping it restarts the world, so a panic inside a pause cannot leave every mutator
/// parked forever.
pub(crate) struct Stopped<'a> {
    world: &'a World,
    flags: &'a AtomicU32,
    guard: MutexGuard<'a, WorldState>,
    /// When the stop was requested.
    pub(crate) requested: Instant,
    /// When the last running mutator stopped.
    pub(crate) reached: Instant,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.flags.fetch_and(!FLAG_STOP, SeqCst);
        self.guard.stopped = false;
        self.world.restart.notify_all();
    }
}

impl Stopped<'_> {
    /// Every registered mutator.
    pub(crate) fn mutators(&self) -> impl Iterator<Item = &Arc<MutatorShared>> + '_ {
        self.guard.mutators.iter().map(|e| &e.m)
    }

    /// How many mutators were running (not blocking) when the world stopped, counting
    /// those blocked only until this cycle starts: in Go the goroutine whose allocation
    /// crosses the trigger runs `gcStart` itself and goes on running, so its P is busy,
    /// and Go's idle mark workers run only on idle Ps.
    pub(crate) fn running_mutators(&self) -> usize {
        self.guard
            .mutators
            .iter()
            .filter(|e| !e.blocked || e.awaiting_start)
            .count()
    }
}

impl Exclusive for Stopped<'_> {
    fn covers(&self, _m: &MutatorShared) -> bool {
        true
    }
}

impl World {
    pub(crate) fn new(heap: u64) -> World {
        World {
            heap,
            next_id: crate::sync::unmodelled::AtomicU64::new(0),
            state: Mutex::new(WorldState {
                stopped: false,
                running: 0,
                mutators: Vec::new(),
                epoch: 0,
                change_waiters: 0,
            }),
            restart: Condvar::new(),
            all_stopped: Condvar::new(),
            changed: Condvar::new(),
        }
    }

    fn wait_restart<'a>(&self, mut g: MutexGuard<'a, WorldState>) -> MutexGuard<'a, WorldState> {
        while g.stopped {
            g = wait(&self.restart, g);
        }
        g
    }

    /// Adds a running mutator (waiting out a pause in progress).
    pub(crate) fn register(&self, m: Arc<MutatorShared>) {
        let mut g = self.wait_restart(lock(&self.state));
        g.running += 1;
        g.mutators.push(Entry {
            m,
            blocked: false,
            claimed: false,
            awaiting_start: false,
        });
        note_running(self.heap, true);
    }

    /// Removes a running mutator; `flush` runs under the lock, before it is gone.
    ///
    /// It does not wait out a pause: a stopping collector is waiting on `all_stopped`
    /// (with the lock released) and reads no mutator until every running one has
    /// stopped, so leaving now is safe — and waiting while counted as running would
    /// deadlock with it.
    pub(crate) fn unregister(&self, m: &Arc<MutatorShared>, flush: impl FnOnce()) {
        let mut g = lock(&self.state);
        flush();
        g.mutators.retain(|e| !Arc::ptr_eq(&e.m, m));
        self.stopped_running(&mut g);
    }

    /// The safepoint slow path: parks the calling running mutator while the world is
    /// stopped.
    #[cold]
    pub(crate) fn park(&self) {
        let mut g = lock(&self.state);
        if !g.stopped {
            return;
        }
        g.running -= 1;
        if g.running == 0 {
            self.all_stopped.notify_all();
        }
        let mut g = self.wait_restart(g);
        g.running += 1;
    }

    /// Mutator `m` (the caller's) stops running: the collector may proceed without it,
    /// and act for it.
    pub(crate) fn enter_blocking(&self, m: &Arc<MutatorShared>) {
        let mut g = lock(&self.state);
        g.entry(m).blocked = true;
        self.stopped_running(&mut g);
        note_running(self.heap, false);
    }

    /// A running mutator has just been marked blocked: one fewer running, and the
    /// collector, if it waits for that or for any change, is told.
    fn stopped_running(&self, g: &mut WorldState) {
        g.running -= 1;
        if g.running == 0 && g.stopped {
            self.all_stopped.notify_all();
        }
        g.epoch += 1;
        if g.change_waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// `m`'s thread has exited without dropping it (forgotten, leaked, or kept in a
    /// thread-local destroyed after the collector's own record, `this_thread`): from
    /// now on it counts as blocked, so no pause waits for it, and the collector reads
    /// its roots (they stay roots), cache and barrier buffer as any blocked mutator's.
    /// Called on the owner's thread, between two of its operations, so its last access
    /// happens before (through this lock) any access of the collector's. Its blocking
    /// depth is raised as if it had entered `Mutator::blocking`, so any later use by that
    /// thread (a later thread-local destructor) re-enters the running state through
    /// this world first, as a use inside `blocking` does; a drop leaves it the same way.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn thread_exited(&self, m: &Arc<MutatorShared>) {
        let mut g = lock(&self.state);
        let Some(e) = g.mutators.iter_mut().find(|e| Arc::ptr_eq(&e.m, m)) else {
            return;
        };
        if e.blocked {
            return;
        }
        e.blocked = true;
        m.blocking_depth.set(m.blocking_depth.get() + 1);
        self.stopped_running(&mut g);
    }

    /// Mutator `m` (the caller's) runs again, once any pause in progress has ended and
    /// the collector no longer holds it.
    pub(crate) fn exit_blocking(&self, m: &Arc<MutatorShared>) {
        let mut g = lock(&self.state);
        while g.stopped || g.entry(m).claimed {
            g = wait(&self.restart, g);
        }
        g.entry(m).blocked = false;
        g.running += 1;
        note_running(self.heap, true);
    }

    /// Mutator `m` (the caller's) is about to block only to wait for the cycle its
    /// allocation asked for to start (`on`), or is back from that wait: see
    /// [`Stopped::running_mutators`].
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn awaiting_cycle_start(&self, m: &Arc<MutatorShared>, on: bool) {
        lock(&self.state).entry(m).awaiting_start = on;
    }

    /// Holds a blocked mutator for which `wanted` is true and that nobody holds yet.
    pub(crate) fn claim_blocked(
        &self,
        wanted: impl Fn(&MutatorShared) -> bool,
    ) -> Option<Claim<'_>> {
        let mut g = lock(&self.state);
        let e = g
            .mutators
            .iter_mut()
            .find(|e| e.blocked && !e.claimed && wanted(&e.m))?;
        e.claimed = true;
        Some(Claim {
            world: self,
            m: e.m.clone(),
        })
    }

    /// The current change counter (see [`World::wait_for_change`]).
    pub(crate) fn epoch(&self) -> u64 {
        lock(&self.state).epoch
    }

    /// Records a change the collector may be waiting for (a served handshake request).
    pub(crate) fn note_change(&self) {
        let mut g = lock(&self.state);
        g.epoch += 1;
        if g.change_waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits until the change counter differs from `seen`.
    pub(crate) fn wait_for_change(&self, seen: u64) {
        let mut g = lock(&self.state);
        while g.epoch == seen {
            g.change_waiters += 1;
            g = wait(&self.changed, g);
            g.change_waiters -= 1;
        }
    }

    /// The registered mutators now.
    pub(crate) fn snapshot(&self) -> Vec<Arc<MutatorShared>> {
        lock(&self.state)
            .mutators
            .iter()
            .map(|e| e.m.clone())
            .collect()
    }

    /// Stops the world: sets the stop flag and waits until no mutator is running. The
    /// caller must not be a running mutator. `skip_wait` is a loom fault switch (always
    /// false outside loom negative controls).
    pub(crate) fn stop<'a>(&'a self, flags: &'a AtomicU32, skip_wait: bool) -> Stopped<'a> {
        let requested = Instant::now();
        let mut g = self.wait_restart(lock(&self.state));
        g.stopped = true;
        flags.fetch_or(FLAG_STOP, SeqCst);
        while g.running > 0 && !skip_wait {
            g = wait(&self.all_stopped, g);
        }
        Stopped {
            world: self,
            flags,
            guard: g,
            requested,
            reached: Instant::now(),
        }
    }

    /// Restarts the world stopped by [`World::stop`].
    pub(crate) fn start(&self, stopped: Stopped<'_>) {
        drop(stopped);
    }

    /// A fresh mutator id.
    pub(crate) fn next_id(&self) -> usize {
        self.next_id
            .fetch_add(1, crate::sync::unmodelled::Ordering::Relaxed) as usize
    }

    /// The number of registered mutators.
    pub(crate) fn mutator_count(&self) -> usize {
        lock(&self.state).mutators.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn shared(id: usize) -> Arc<MutatorShared> {
        Arc::new(MutatorShared::new(id))
    }

    #[test]
    fn stop_does_not_wait_for_blocked_mutators() {
        let world = World::new(0);
        let flags = AtomicU32::new(0);
        let m = shared(0);
        world.register(m.clone());
        world.enter_blocking(&m);
        let stopped = world.stop(&flags, false);
        assert_eq!(stopped.mutators().count(), 1);
        assert_eq!(flags.load(Relaxed) & FLAG_STOP, FLAG_STOP);
        world.start(stopped);
        assert_eq!(
            flags.load(Relaxed),
            0,
            "the stop flag is cleared at restart"
        );
        world.exit_blocking(&m);
        world.unregister(&m, || {});
        assert_eq!(world.mutator_count(), 0);
    }

    #[test]
    fn stop_waits_for_a_running_mutator_to_park() {
        let world = Arc::new(World::new(0));
        let flags = Arc::new(AtomicU32::new(0));
        let m = shared(0);
        world.register(m.clone());
        let (w, f) = (world.clone(), flags.clone());
        // The mutator polls until it sees the stop request, then parks.
        let t = crate::sync::unmodelled::thread::spawn(move || {
            while f.load(Relaxed) & FLAG_STOP == 0 {
                crate::sync::unmodelled::thread::yield_now();
            }
            w.park();
            w.unregister(&m, || {});
        });
        let stopped = world.stop(&flags, false);
        // Reaching here means the running mutator parked.
        drop(stopped);
        t.join().unwrap();
        assert_eq!(world.mutator_count(), 0);
    }

    #[test]
    fn dropping_stopped_restarts_the_world_even_on_panic() {
        let world = World::new(0);
        let flags = AtomicU32::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _stopped = world.stop(&flags, false);
            panic!("collector bug inside a pause");
        }));
        assert!(r.is_err());
        assert_eq!(flags.load(Relaxed), 0);
        world.register(shared(1)); // would wait forever if the world stayed stopped
        assert_eq!(world.mutator_count(), 1);
    }
}
