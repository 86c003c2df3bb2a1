//! The two callback queues that sweeping fills — the finalizer queue (Go's `finq`,
//! `mfinal.go`) and the cleanup queue (`mcleanup.go`) — with their counters and the
//! rendezvous of the threads that run them (wake-ups, idle waits, shutdown).
//!
//! Invariant: an entry is in exactly one place at a time — queued (a root of every mark,
//! so its object and environment survive), taken by a runner (counted in `running`
//! until its callback returns; the runner holds it through a handle), or finished.
//! `items` and `running` change only under the queue's lock, and a change that leaves
//! the queue idle (nothing queued or running) is signalled on `cv`, so `wait_idle`
//! returns exactly when nothing is queued or running (or at exit). The runners inside
//! `wait_for_work` (watching the queue, or waiting on `work_cv`) number exactly
//! `asleep + woken`: a push takes ownership of waking up to `asleep` of them (moving them
//! to `woken`, as Go's `cleanupQueue.wake` does) and notifies one for each, and a runner
//! leaving the wait gives up a `woken` if there is one, else an `asleep`; so a push that
//! finds `asleep` zero has every waiting runner woken or its notification on the way, to
//! look at the queue under the lock after the push. `needg` never asks for more workers
//! than the pool has room for (`max_workers - workers`).

use crate::callbacks::blocks::Blocks;
use crate::config::CLEANUP_BLOCK;
use crate::heap::specials::Callback;
use crate::object::Ref;
use crate::sync::unmodelled::{
    AtomicBool as StdAtomicBool, AtomicU64 as StdAtomicU64, Ordering as StdOrdering,
};
use crate::sync::{lock, AtomicBool, Condvar, Mutex, Ordering::*};

/// A finalizer taken off a dead object, waiting to run: the object (its exact registered
/// word), the environment box and the callback. Queued entries are roots.
pub(crate) struct QueuedFinalizer {
    pub(crate) obj: Ref,
    /// The registered word within the object when it was an interior address.
    pub(crate) field: Option<u32>,
    pub(crate) env: Option<Ref>,
    pub(crate) f: Callback,
}

/// A cleanup whose object died, waiting to run: its environment box (a root while
/// queued) and callback.
pub(crate) struct QueuedCleanup {
    pub(crate) env: Option<Ref>,
    pub(crate) f: Callback,
}

/// Counters of one kind of callback (S63).
#[derive(Default)]
pub(crate) struct CallbackCounters {
    pub(crate) registered: StdAtomicU64,
    pub(crate) queued: StdAtomicU64,
    pub(crate) executed: StdAtomicU64,
    /// Cleanups removed by `Cleanup::stop`, finalizers by clearing.
    pub(crate) stopped: StdAtomicU64,
    /// Callbacks that panicked (counted in `executed` too).
    pub(crate) panicked: StdAtomicU64,
    /// Callbacks whose run has begun (counted before they start, so `queued - started`
    /// is what has not started: what an exit now leaves unrun, S54).
    pub(crate) started: StdAtomicU64,
}

impl CallbackCounters {
    /// Callbacks queued whose run has not begun.
    pub(crate) fn not_started(&self) -> u64 {
        let started = self.started.load(StdOrdering::Relaxed);
        self.queued
            .load(StdOrdering::Relaxed)
            .saturating_sub(started)
    }
}

/// The state of a callback queue behind its lock.
pub(crate) struct QueueState<T> {
    /// Queued entries, in fixed-size blocks (`callbacks::blocks`).
    pub(crate) items: Blocks<T>,
    /// Entries taken by runners and not finished yet.
    pub(crate) running: usize,
    /// The heap is shutting down: runners exit, leaving what is queued.
    pub(crate) exit: bool,
    /// Runner threads started (joined at shutdown).
    pub(crate) threads: Vec<crate::sync::unmodelled::thread::JoinHandle<()>>,
    /// How many runner threads were started (workers and the standby).
    pub(crate) spawned: usize,
    /// How many of them are workers (Go's `ng`): the standby is not one.
    pub(crate) workers: usize,
    /// The most workers the heap runs (Go's `maxCleanupGs`); 0 until the first
    /// registration starts one.
    pub(crate) max_workers: usize,
    /// Runners parked waiting for work that no push has claimed to wake (Go's `asleep`).
    pub(crate) asleep: usize,
    /// Parked runners a push has notified and that have not left the wait yet (Go's
    /// `wake` takes them off `asleep` before it readies them).
    pub(crate) woken: usize,
    /// Workers to start at the next registration (Go's `needg`), recorded when queued
    /// work outnumbers the parked workers (`note_demand`).
    pub(crate) needg: usize,
    /// How many of them have returned (each says so as its last step).
    pub(crate) exited: usize,
    /// Times a runner has come for work: the standby's sign of progress.
    pub(crate) takes: u64,
}

/// A queue of callbacks and its runners' rendezvous.
pub(crate) struct CallbackQueue<T> {
    pub(crate) state: Mutex<QueueState<T>>,
    /// Signalled when the queue becomes idle (nothing queued or running), when a runner
    /// exits, and at exit: drains and shutdown wait on it.
    pub(crate) cv: Condvar,
    /// Where runners park for work: notified once per runner a push claims to wake
    /// (`asleep` → `woken`), and at exit. A push that finds every runner busy or already
    /// woken notifies no one, as Go's sweeper readies no cleanup goroutine then
    /// (`gcCleanups.needsWake`).
    pub(crate) work_cv: Condvar,
    /// The standby's: signalled only when work arrives in an empty queue, and at exit.
    /// While work waits the standby sleeps out its stall interval, which the queue's
    /// other signals (one per span swept) would otherwise cut short, each waking it to
    /// find the workers busy and contend for the lock. (Unused under loom, which has no
    /// standby.)
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) standby_cv: Condvar,
    pub(crate) counters: CallbackCounters,
    /// Set with `exit`, readable without the lock: runners stop between two callbacks.
    exiting: AtomicBool,
    /// How many batches have been queued, counted under the lock and readable without
    /// it: a runner that found the queue empty watches it for a moment before it parks
    /// (`runner::spin_for_work`). A hint only: whether work is queued is decided under
    /// the lock.
    pushes: StdAtomicU64,
    /// Whether a registration should start runners (Go's `needG`): true until the first
    /// one is started, then whenever `needg` is set. Readable without the lock, so a
    /// registration that needs none takes no lock. (Not modelled: under loom no runner
    /// thread is started.)
    need_runners: StdAtomicBool,
}

impl<T> Default for CallbackQueue<T> {
    fn default() -> Self {
        CallbackQueue {
            state: Mutex::new(QueueState {
                items: Blocks::default(),
                running: 0,
                exit: false,
                threads: Vec::new(),
                spawned: 0,
                workers: 0,
                max_workers: 0,
                asleep: 0,
                woken: 0,
                needg: 0,
                exited: 0,
                takes: 0,
            }),
            cv: Condvar::new(),
            work_cv: Condvar::new(),
            standby_cv: Condvar::new(),
            counters: CallbackCounters::default(),
            exiting: AtomicBool::new(false),
            pushes: StdAtomicU64::new(0),
            need_runners: StdAtomicBool::new(true),
        }
    }
}

impl<T> CallbackQueue<T> {
    /// Appends a batch and wakes parked runners at once (Go wakes the finalizer goroutine
    /// before the sweep ends, S37): one for each block of queued work, up to those parked
    /// and not already woken (Go's `cleanupQueue.wake`). A runner that is busy, or already
    /// woken, finds the batch when it next looks; so a sweep that queues a batch a span
    /// while the runner keeps up makes one wake-up, not one a span.
    pub(crate) fn push_batch(&self, batch: Vec<T>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let mut g = lock(&self.state);
        let was_empty = g.items.is_empty();
        g.items.append(batch);
        self.pushes.fetch_add(1, StdOrdering::Relaxed);
        self.note_demand(&mut g);
        let wake = Self::claim_sleepers(&mut g);
        drop(g);
        self.counters.queued.fetch_add(n, StdOrdering::Relaxed);
        self.wake_runners(wake);
        if was_empty {
            self.notify_standby();
        }
    }

    /// Takes ownership of waking parked runners, one for each block of queued work
    /// (Go's work units), up to those not already woken; returns how many.
    fn claim_sleepers(g: &mut QueueState<T>) -> usize {
        let wake = g.asleep.min(g.items.len().div_ceil(CLEANUP_BLOCK));
        g.asleep -= wake;
        g.woken += wake;
        wake
    }

    /// A runner that has just taken work and left some queued claims one more parked
    /// runner for the rest (returns 1), unless nothing is left, no runner is parked
    /// unclaimed, or the runners already claimed cover the blocks left. A push claims one
    /// runner a block, and a Go goroutine takes a whole block; the testbed's adaptive
    /// batches take one cleanup at a time, and the rest of the block would wait behind
    /// the taker's cleanup while the other workers sleep. (No worker is asked for here,
    /// as Go's `wake` would where it finds too few asleep: pushes and registrations do.)
    pub(crate) fn claim_one_for_rest(g: &mut QueueState<T>) -> usize {
        let blocks = g.items.len().div_ceil(CLEANUP_BLOCK);
        if blocks <= g.woken || g.asleep == 0 {
            return 0;
        }
        g.asleep -= 1;
        g.woken += 1;
        1
    }

    /// Notifies `n` parked runners (claimed by `claim_sleepers` or `claim_one_for_rest`).
    pub(crate) fn wake_runners(&self, n: usize) {
        for _ in 0..n {
            self.work_cv.notify_one();
        }
    }

    /// A runner's wait for work, counted as the module invariant says: parks on
    /// `work_cv` until work is queued or exit is signalled.
    pub(crate) fn park_runner<'a>(
        &self,
        mut g: crate::sync::MutexGuard<'a, QueueState<T>>,
    ) -> crate::sync::MutexGuard<'a, QueueState<T>> {
        while g.items.is_empty() && !g.exit {
            g.asleep += 1;
            g = crate::sync::wait(&self.work_cv, g);
            Self::leave_wait(&mut g);
        }
        g
    }

    /// A runner leaving its wait (or its watch) gives up a claim if one is pending, else
    /// its count as parked.
    pub(crate) fn leave_wait(g: &mut QueueState<T>) {
        if g.woken > 0 {
            g.woken -= 1;
        } else {
            g.asleep -= 1;
        }
    }

    /// Puts entries a runner took and did not start back at the front of the queue, in
    /// their order (a callback's panic unwound through the runner, under
    /// `CallbackPanic::Propagate`): the next runner takes them first. They were counted
    /// as queued when first queued, and are not counted again. The caller still counts
    /// them as running, and settles that after this returns, so a drain never sees the
    /// queue idle in between.
    pub(crate) fn requeue_front(&self, items: impl DoubleEndedIterator<Item = T>) {
        let mut g = lock(&self.state);
        let before = g.items.len();
        for item in items.rev() {
            g.items.push_front(item);
        }
        let was_empty = before == 0 && !g.items.is_empty();
        self.pushes.fetch_add(1, StdOrdering::Relaxed);
        self.note_demand(&mut g);
        let wake = Self::claim_sleepers(&mut g);
        drop(g);
        self.wake_runners(wake);
        if was_empty {
            self.notify_standby();
        }
    }

    /// Go's `wake` deciding that more workers are needed (`mcleanup.go`): the queued work
    /// in blocks of [`CLEANUP_BLOCK`] (Go's work units), less the parked workers it can
    /// wake, is what more workers could take; up to the pool's room, that many are to be
    /// started at the next registration (`needg`, which adds up as Go's does). Called
    /// under the queue's lock whenever work is queued. (Go's scheduler asks at every
    /// scheduling round, so it may also ask for one while a goroutine it woke has not
    /// taken its block yet; the testbed asks when work arrives, which gives Go's
    /// start-up wherever that timing does not decide it.)
    fn note_demand(&self, g: &mut QueueState<T>) {
        let units = g.items.len().div_ceil(CLEANUP_BLOCK);
        let extra = units.saturating_sub(g.asleep);
        let room = g.max_workers.saturating_sub(g.workers);
        if extra > 0 && room > 0 {
            g.needg += extra.min(room);
            self.need_runners.store(true, StdOrdering::Release);
        }
    }

    /// How many batches have been queued so far (a hint, read without the lock).
    pub(crate) fn pushes(&self) -> u64 {
        self.pushes.load(StdOrdering::Relaxed)
    }

    /// Whether a registration should start runners (Go's `needG`; no lock taken).
    pub(crate) fn needs_runners(&self) -> bool {
        self.need_runners.load(StdOrdering::Acquire)
    }

    /// Records that the runners a registration should start have been (under the lock,
    /// which `note_demand` also holds when it sets the flag).
    pub(crate) fn runners_started(&self) {
        self.need_runners.store(false, StdOrdering::Release);
    }

    /// Whether the heap is shutting down (runners stop before their next callback).
    pub(crate) fn exiting(&self) -> bool {
        self.exiting.load(Acquire)
    }

    /// Waits until nothing is queued or running (or the heap is shutting down), without
    /// sleeping: runners signal every finished batch.
    pub(crate) fn wait_idle(&self) {
        let mut g = lock(&self.state);
        while (!g.items.is_empty() || g.running > 0) && !g.exit {
            g = crate::sync::wait(&self.cv, g);
        }
    }

    /// Tells the runners to exit (leaving what is queued), without waiting for them.
    pub(crate) fn signal_exit(&self) {
        self.exiting.store(true, Release);
        lock(&self.state).exit = true;
        self.cv.notify_all();
        self.work_cv.notify_all();
        self.notify_standby();
    }

    /// Wakes the standby runner (see `standby_cv`).
    fn notify_standby(&self) {
        #[cfg(not(loom))]
        self.standby_cv.notify_all();
    }

    /// Tells the runners to exit (leaving what is queued) and joins them, except the
    /// calling thread if it is one. A runner between callbacks exits at once; one inside
    /// a callback exits when the callback returns, and is waited for at most
    /// [`RUNNER_EXIT_WAIT`]: a callback that never returns cannot hold up shutdown. Such
    /// a runner is left running (detached, holding its own reference to the heap's
    /// memory) and a line on stderr says so.
    pub(crate) fn stop(&self) {
        self.exiting.store(true, Release);
        let me = crate::sync::unmodelled::thread::current().id();
        let mut g = lock(&self.state);
        g.exit = true;
        self.cv.notify_all();
        self.work_cv.notify_all();
        self.notify_standby();
        let me_a_runner = g.threads.iter().any(|t| t.thread().id() == me) as usize;
        #[cfg(not(loom))]
        {
            let deadline = std::time::Instant::now() + RUNNER_EXIT_WAIT;
            while g.exited + me_a_runner < g.spawned {
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                g = crate::sync::wait_timeout(&self.cv, g, deadline - now);
            }
        }
        let stuck = g.spawned - g.exited - me_a_runner;
        let threads = std::mem::take(&mut g.threads);
        drop(g);
        if stuck > 0 {
            crate::telemetry::stderr_line(format_args!(
                "collector: shutdown: {stuck} callback runner(s) still inside a callback after {} ms, left running",
                RUNNER_EXIT_WAIT.as_millis()
            ));
        }
        for t in threads {
            if t.thread().id() != me && (stuck == 0 || t.is_finished()) {
                let _ = t.join();
            }
        }
    }

    /// Called by a runner thread as its last step: shutdown counts it as gone.
    pub(crate) fn runner_exited(&self) {
        lock(&self.state).exited += 1;
        self.cv.notify_all();
    }

    /// Calls `f` on every queued entry (the mark's roots); the lock is held meanwhile.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&T)) {
        let g = lock(&self.state);
        for item in g.items.iter() {
            f(item);
        }
    }
}

/// How long shutdown waits for a runner that is inside a callback (the documented bound
/// on `Heap::shutdown` when a callback blocks).
pub const RUNNER_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The two kinds of callback, as messages name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Finalizer,
    Cleanup,
}

impl Kind {
    /// The kind's name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Finalizer => "finalizer",
            Kind::Cleanup => "cleanup",
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    /// The callbacks this thread is inside, innermost last: (heap id, kind). A callback
    /// can step another queue (or another heap's) itself, so this is a stack. (Under loom,
    /// whose model threads share one OS thread, nothing is recorded.)
    static INSIDE: std::cell::RefCell<Vec<(u64, Kind)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Records that this thread runs a callback of `kind` of heap `heap` until dropped.
pub(crate) struct InsideCallback(());

impl InsideCallback {
    pub(crate) fn enter(heap: u64, kind: Kind) -> InsideCallback {
        #[cfg(not(loom))]
        let _ = INSIDE.try_with(|v| v.borrow_mut().push((heap, kind)));
        #[cfg(loom)]
        let _ = (heap, kind);
        InsideCallback(())
    }
}

impl Drop for InsideCallback {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        let _ = INSIDE.try_with(|v| v.borrow_mut().pop());
    }
}

/// Whether this thread is inside a callback of `kind` of heap `heap`.
pub(crate) fn inside_callback(heap: u64, kind: Kind) -> bool {
    #[cfg(not(loom))]
    return INSIDE
        .try_with(|v| v.borrow().contains(&(heap, kind)))
        .unwrap_or(false);
    #[cfg(loom)]
    {
        let _ = (heap, kind);
        false
    }
}

/// Panics if this thread is inside a callback of heap `heap`. `what` waits until no
/// callback of `kind` is queued or running: inside a callback of that kind it would wait
/// for the caller itself; inside one of the other kind it could wait for a callback that
/// is waiting for the caller's kind (a finalizer draining cleanups while a cleanup drains
/// finalizers), and neither would return.
pub(crate) fn refuse_drain_inside(heap: u64, kind: Kind, what: &str) {
    let other = match kind {
        Kind::Finalizer => Kind::Cleanup,
        Kind::Cleanup => Kind::Finalizer,
    };
    if inside_callback(heap, other) {
        let (k, o) = (kind.name(), other.name());
        panic!(
            "collector: {what} called inside a {o} of the same heap: it waits until no {k} \
             is queued or running, and a {k} draining {o}s meanwhile would wait for this \
             {o}, so neither would ever return. Drain from a thread that runs no callback \
             (the one that called gc(), say)."
        );
    }
    if inside_callback(heap, kind) {
        let k = kind.name();
        panic!(
            "collector: {what} called inside a {k} of the same heap: it waits until no {k} \
             is queued or running, and this {k} is running until it returns, so {what} would \
             never return. Drain from a thread that is not running a {k} (the one that \
             called gc(), say), or have the {k} signal what it did (a channel, a counter)."
        );
    }
}

/// Both queues.
#[derive(Default)]
pub(crate) struct Queues {
    pub(crate) finalizers: CallbackQueue<QueuedFinalizer>,
    pub(crate) cleanups: CallbackQueue<QueuedCleanup>,
}
