//! The callback runners: the finalizer thread and the cleanup workers. Each parks on its
//! queue while idle, wakes as soon as work is queued, and runs a batch as a mutator of
//! the heap, created for the batch, so that an idle runner neither keeps the heap alive
//! nor delays a pause. Shutdown makes them exit and joins them, leaving what is still
//! queued (S54).
//!
//! Normal builds run the loop ([`serve`]) on threads of their own ([`ensure_runners`]).
//! Under loom no thread is started: a model runs the same loop on a model thread with
//! `Heap::run_cleanup_worker` / `Heap::run_finalizer_thread`, until `Heap::shutdown`.
//!
//! Workers start as Go's cleanup goroutines do (S40): the first with the first
//! registration, more only inside a later registration once queued work outnumbered the
//! parked workers, never more than the pool's size (`HeapConfig::cleanup_eager_start`
//! starts them all at once instead, and `cleanup_standby` adds the standby).
//!
//! Invariants: runners are started only inside a registration, under the queue's lock,
//! never more workers than the pool's size, and never after exit is signalled. Between
//! batches a runner holds no mutator and only a weak reference to the heap. A worker
//! counts itself parked and checks for work in one step under the queue's lock (before
//! it watches the queue without the lock, and again before it waits), so no wake-up is
//! lost.
//! A runner exits once exit is signalled, the heap is gone, or the heap is shut down.

use crate::callbacks::queue::{CallbackQueue, Queues};
use crate::core::HeapCore;
use crate::sync::{lock, Ordering::Relaxed};
use crate::world::FLAG_SHUTDOWN;
#[cfg(loom)]
use crate::{barrier::Barrier, mutator::Mutator};

thread_local! {
    /// Set on the heap's own runner threads, where `CallbackPanic::Propagate` acts as
    /// `Exit` (there is no caller to propagate to).
    pub(crate) static ON_RUNNER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a parked runner was woken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// Work is queued (another runner may take it first).
    Work,
    /// The heap is shutting down.
    Exit,
}

/// How a runner parks. Normal builds always check for work and park in one step under the
/// queue's lock; under loom a fault switch can break that.
#[derive(Clone, Copy, Default)]
struct Park {
    /// `LoomFaults::runner_checks_outside_lock`.
    #[cfg(loom)]
    check_outside_lock: bool,
}

/// Parks until work is queued or exit is signalled. Counting itself parked and checking
/// are one step under the queue's lock: `push_batch` and `signal_exit` change the queue
/// under it, so a runner either sees the change at its check, or is counted parked when
/// the push looks, and then claimed and notified (or, at exit, notified) — no wake-up is
/// lost. While it watches the queue before waiting (normal builds) it counts as parked,
/// as Go's cleanup goroutine is parked while its M spins: a push then claims it rather
/// than ask for another worker (S40).
fn wait_for_work<T>(q: &CallbackQueue<T>, park: Park) -> Wake {
    #[cfg(loom)]
    if park.check_outside_lock {
        return wait_for_work_checking_outside_lock(q);
    }
    let _ = park;
    let mut g = lock(&q.state);
    if g.items.is_empty() && !g.exit {
        g.asleep += 1;
        let seen = q.pushes();
        drop(g);
        spin_for_work(q, seen);
        g = lock(&q.state);
        CallbackQueue::leave_wait(&mut g);
    }
    // Parked: counted against queued work when deciding whether more workers are needed
    // (Go's `asleep`).
    let g = q.park_runner(g);
    if g.exit {
        Wake::Exit
    } else {
        Wake::Work
    }
}

/// How long a runner that found its queue empty watches for more work before it parks.
/// A sweep queues a batch a span, and a runner that keeps up with it finds the queue
/// empty after each: parked, it must be woken for the next (a futex wake paid by the
/// sweeping thread, and a context switch). A push during the watch still claims the
/// runner and makes the futex call (std's condition variable does not track waiters),
/// which then wakes no one: the context switch is what is saved. With the watch,
/// cleanupbench's run made 390 context switches instead of 1,200 (collect+run 32.6
/// against 34.3 ms), finbench's 400 against 370 (51.2 against 52.3 ms): medians of 8
/// and 6 alternating runs on this 2-core VM. It does not remove the slow mode both show on some days (`gc()` twice as
/// long, the runner keeping up with the sweep): that came with the watch too. Go's idle
/// Ms likewise spin looking for work before they sleep (`findRunnable`'s spinning
/// state); the runner counts as parked meanwhile, as Go's goroutine is.
#[cfg(not(loom))]
const RUNNER_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Under loom the watch is one yield with the lock released, so that the models reach a
/// push made while the runner counts as parked but does not wait.
#[cfg(loom)]
fn spin_for_work<T>(_: &CallbackQueue<T>, _: u64) {
    crate::sync::yield_now();
}

/// Watches the queue's push count (no lock) until it moves past `seen`, exit is
/// signalled, or [`RUNNER_SPIN`] has passed, yielding the CPU between looks.
#[cfg(not(loom))]
fn spin_for_work<T>(q: &CallbackQueue<T>, seen: u64) {
    let deadline = std::time::Instant::now() + RUNNER_SPIN;
    while q.pushes() == seen && !q.exiting() && std::time::Instant::now() < deadline {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
        crate::sync::unmodelled::thread::yield_now();
    }
}

/// The loom fault: the check and the wait are two steps, with the lock released in
/// between, so a batch queued (or an exit signalled) there notifies nobody and this runner
/// waits for a notification that has already happened.
#[cfg(loom)]
fn wait_for_work_checking_outside_lock<T>(q: &CallbackQueue<T>) -> Wake {
    loop {
        let (empty, exit) = {
            let g = lock(&q.state);
            (g.items.is_empty(), g.exit)
        };
        if exit {
            return Wake::Exit;
        }
        if !empty {
            return Wake::Work;
        }
        // Counted parked, as the real wait is, so that the one fault is the check made
        // outside the lock: a push between it and this count claims no one.
        let mut g = lock(&q.state);
        g.asleep += 1;
        g = crate::sync::wait(&q.work_cv, g);
        CallbackQueue::leave_wait(&mut g);
    }
}

/// How long queued cleanups wait with no runner coming for work before the standby
/// takes them: a worker has been inside one callback (or one batch) that long.
pub const CLEANUP_STALL: std::time::Duration = std::time::Duration::from_millis(1);

/// The standby's park: until work is queued *and* no runner has come for work for
/// [`CLEANUP_STALL`] (the queue's `takes` count has not moved), or exit is signalled.
/// While work waits and runners make progress it wakes once per interval to look.
#[cfg(not(loom))]
fn wait_for_stalled_work<T>(q: &CallbackQueue<T>) -> Wake {
    use std::time::Instant;
    let mut g = lock(&q.state);
    loop {
        if g.exit {
            return Wake::Exit;
        }
        if g.items.is_empty() {
            g = crate::sync::wait(&q.standby_cv, g);
            continue;
        }
        let seen = g.takes;
        let deadline = Instant::now() + CLEANUP_STALL;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            g = crate::sync::wait_timeout(&q.standby_cv, g, left);
            if g.exit || g.items.is_empty() || g.takes != seen {
                break;
            }
        }
        if !g.exit && !g.items.is_empty() && g.takes == seen {
            return Wake::Work;
        }
    }
}

/// Under loom (where no runner thread is started, and time is not modelled) the
/// standby would park as a worker does.
#[cfg(loom)]
fn wait_for_stalled_work<T>(q: &CallbackQueue<T>) -> Wake {
    wait_for_work(q, Park::default())
}

/// The runner loop, shared by the runner threads and loom models: parks (`park`) until
/// work is queued, runs `batch` (which returns false when the runner should exit), and
/// parks again, until exit is signalled.
fn serve<T>(
    q: &CallbackQueue<T>,
    park: impl Fn(&CallbackQueue<T>) -> Wake,
    mut batch: impl FnMut() -> bool,
) {
    while park(q) == Wake::Work {
        if !batch() {
            return;
        }
    }
}

/// Runs one batch; returns whether the runner goes on.
///
/// A runner woken for work can find the heap shut down by the time its batch creates its
/// mutator (`Heap::shutdown` signals the queues before it sets the shutdown flag, and a
/// runner checks the flag before the batch, but the flag can be set in between), and
/// creating a mutator of a shut-down heap panics: that panic means the runner should exit
/// (what is still queued stays unrun, S54). Any other panic here is the collector's own
/// (callbacks' panics are caught where they run): the runner dies loudly rather than
/// leave drains waiting for a runner that is gone (under loom the panic goes on to the
/// model).
fn run_batch(core: &HeapCore, batch: impl FnOnce()) -> bool {
    let trace = &core.telemetry.trace;
    let queues = &core.space.queues;
    trace.counter(
        "finalizers queued",
        queues.finalizers.counters.not_started(),
    );
    trace.counter("cleanups queued", queues.cleanups.counters.not_started());
    let _slice = trace.slice("callback batch");
    let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(batch)) else {
        return true;
    };
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    if shut_down(core) && msg == crate::core::SHUT_DOWN_MESSAGE {
        return false;
    }
    #[cfg(loom)]
    std::panic::resume_unwind(p);
    #[cfg(not(loom))]
    {
        crate::telemetry::stderr_line(format_args!(
            "collector: internal error in a callback runner: {msg}"
        ));
        std::process::abort();
    }
}

/// Whether the heap has been shut down.
fn shut_down(core: &HeapCore) -> bool {
    core.flags.load(Relaxed) & FLAG_SHUTDOWN != 0
}

/// What a runner thread is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunnerRole {
    /// Takes work as soon as it is queued.
    Worker,
    /// Takes work only while the workers are stalled: it wakes once queued work has
    /// waited [`CLEANUP_STALL`] with no runner coming for it, and goes back to standing
    /// by as soon as a worker takes work again.
    Standby,
}

/// The runners a queue may have, and when they start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunnerPool {
    /// The most workers (Go's `maxCleanupGs`; the finalizer queue has one).
    pub(crate) max: usize,
    /// Start the standby (`HeapConfig::cleanup_standby`) with the first worker.
    pub(crate) standby: bool,
    /// Start all `max` workers with the first registration
    /// (`HeapConfig::cleanup_eager_start`), not lazily as Go does.
    pub(crate) eager: bool,
}

/// Starts the runners a registration should start (Go's `needG` / `createGs`, S40):
/// the first worker (and the standby, if the pool has one) with the first registration,
/// and later as many workers as `needg` asks for, up to the pool's `max`, which queued
/// work sets (`note_demand`) when it outnumbers the parked workers; with `eager`, all
/// `max` workers at once. Each runs `batch(core, role)` whenever work is queued; `batch`
/// returns once the queue is empty (or, for the standby, once a worker takes work
/// again). (Compiled under loom too, where nothing calls it: models run the loop on
/// their own threads.)
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn ensure_runners<T: Send + 'static>(
    core: &crate::sync::unmodelled::Arc<HeapCore>,
    queue: fn(&Queues) -> &CallbackQueue<T>,
    pool: RunnerPool,
    name: &str,
    batch: fn(&crate::sync::unmodelled::Arc<HeapCore>, RunnerRole),
) {
    if !queue(&core.space.queues).needs_runners() {
        return;
    }
    let queues = core.space.queues.clone();
    let q = queue(&queues);
    let mut g = lock(&q.state);
    if g.exit || !q.needs_runners() {
        return;
    }
    g.max_workers = pool.max;
    let have = g.workers;
    let room = pool.max.saturating_sub(have);
    let mut need = if pool.eager { room } else { g.needg.min(room) };
    if have == 0 {
        need = need.max(1);
    }
    g.needg = 0;
    q.runners_started();
    let roles = (0..need).map(|_| RunnerRole::Worker);
    let standby = (have == 0 && pool.standby).then_some(RunnerRole::Standby);
    for role in roles.chain(standby) {
        let name = match role {
            RunnerRole::Standby => format!("{name}-standby"),
            RunnerRole::Worker if g.workers == 0 => name.to_string(),
            RunnerRole::Worker => format!("{name}-{}", g.workers),
        };
        let t = spawn_runner(core, &queues, queue, role, name, batch);
        g.threads.push(t);
        g.spawned += 1;
        g.workers += (role == RunnerRole::Worker) as usize;
    }
}

/// Starts one runner thread of `role` on the queue `queue` picks.
#[cfg_attr(loom, allow(dead_code))]
fn spawn_runner<T: Send + 'static>(
    core: &crate::sync::unmodelled::Arc<HeapCore>,
    queues: &crate::sync::unmodelled::Arc<Queues>,
    queue: fn(&Queues) -> &CallbackQueue<T>,
    role: RunnerRole,
    name: String,
    batch: fn(&crate::sync::unmodelled::Arc<HeapCore>, RunnerRole),
) -> crate::sync::unmodelled::thread::JoinHandle<()> {
    let queues = queues.clone();
    let weak = crate::sync::unmodelled::Arc::downgrade(core);
    crate::sync::unmodelled::thread::Builder::new()
        .name(name)
        .spawn(move || {
            ON_RUNNER_THREAD.with(|f| f.set(true));
            let park = |q: &CallbackQueue<T>| {
                if role == RunnerRole::Standby {
                    wait_for_stalled_work(q)
                } else {
                    wait_for_work(q, Park::default())
                }
            };
            serve(queue(&queues), park, || {
                let Some(core) = weak.upgrade() else {
                    return false;
                };
                !shut_down(&core) && run_batch(&core, || batch(&core, role))
            });
            queue(&queues).runner_exited();
        })
        .expect("spawning a callback runner thread")
}

/// The runner loop on the calling thread (loom models): each batch runs on a mutator of
/// the heap created for it, as on a runner thread.
#[cfg(loom)]
pub(crate) fn serve_inline<B: Barrier, T>(
    core: &crate::sync::Arc<HeapCore>,
    queue: fn(&Queues) -> &CallbackQueue<T>,
    batch: fn(&Mutator<B>),
) {
    let park = Park {
        check_outside_lock: core.config.faults.runner_checks_outside_lock,
    };
    serve(
        queue(&core.space.queues),
        |q| wait_for_work(q, park),
        || !shut_down(core) && run_batch(core, || batch(&Mutator::new(core.clone()))),
    );
}
