//! Finalizers, cleanups, weak handles and `keep_alive`: Go's `runtime.SetFinalizer`,
//! `runtime.AddCleanup` / `Cleanup.Stop`, `weak.Pointer` and `runtime.KeepAlive` on the
//! testbed (the semantics catalogue's items are cited as Sn; README lists where each
//! lives).
//!
//! Registration adds a special to the object's span (`heap::specials`); mark treats
//! specials and the queues as roots (`mark::special_roots`), and a runner that takes an
//! entry during a mark shades its objects (`Mutator::take_queued`); sweeping queues the
//! callbacks of dead objects. This module owns the registration rules and the runners: one
//! finalizer thread and a pool of cleanup workers (normal builds), each a mutator that
//! runs user code in the blocking state. Under loom no thread is started: a model runs
//! queued callbacks inline with [`crate::Mutator::run_finalizers`] and
//! [`crate::Mutator::run_cleanups`].
//!
//! What Go checks at run time because its API takes `any` (S1, S2, S7–S9, S13) cannot be
//! written here: the object is a [`crate::Handle`], the callback a typed closure. What
//! remains keeps Go's kind of failure and message: SetFinalizer mistakes are fatal (the
//! process prints `fatal error: runtime.SetFinalizer: …` and exits with status 2), AddCleanup
//! mistakes are panics a caller can catch.
//!
//! Invariants: a queued callback's object and box are rooted at every moment — by the
//! queue until a runner takes the entry, then by the runner's handles, which
//! `take_queued` makes in the same running step, shading them while marking. Every entry a
//! runner takes leaves its queue's `running` count exactly once, also when a callback's
//! panic unwinds the runner (`Finished`, `Unwinding`). `run_guarded` counts a callback as
//! executed whether it returns or panics, and lets its panic out only under
//! `CallbackPanic::Propagate` on a thread that is not one of the heap's runners.

pub(crate) mod blocks;
pub(crate) mod cleanup;
pub(crate) mod finalizer;
pub(crate) mod queue;
pub(crate) mod runner;
pub(crate) mod weak;

use crate::barrier::Barrier;
use crate::callbacks::queue::{CallbackCounters, Kind};
use crate::config::CallbackPanic;
use crate::mutator::handle::Handle;
use crate::mutator::Mutator;
use crate::sync::unmodelled::Ordering::Relaxed;
use runner::ON_RUNNER_THREAD;

impl<B: Barrier> Mutator<B> {
    /// A handle to an object that a callback queue held, for the runner (this running
    /// mutator) that took its entry. The queue rooted the object (S27, S43); from now
    /// on this mutator's roots do. During a mark those roots may be scanned already
    /// (Yuasa's first pause scans them; a runner registered during a mark counts as
    /// scanned) and the queue not yet, so the object is shaded, as Go shades a weak
    /// pointer made strong; otherwise the mark could miss it and the sweep free it
    /// under its callback.
    pub(crate) fn take_queued(&self, r: crate::object::Ref, queue: &'static str) -> Handle<'_, B> {
        #[cfg(loom)]
        let shade = !self.core.config.faults.unshaded_queue_take;
        #[cfg(not(loom))]
        let shade = true;
        if shade {
            self.shade_if_marking(r);
        }
        self.handle_for(r, &|| queue.to_string())
    }
}

/// Go's `runtime.KeepAlive`: consumes the handle here, so the object stays reachable at
/// least up to this point (S53). A handle that lives to the end of its scope is Go's
/// `defer runtime.KeepAlive(x)`.
#[inline(never)]
pub fn keep_alive<B: Barrier>(h: Handle<'_, B>) {
    drop(std::hint::black_box(h));
}

/// A snapshot of one kind of callback's counters (Go's `/gc/finalizers/*` and
/// `/gc/cleanups/*` metrics, S63, and more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackStats {
    /// Registrations that added a special (no-ops on globals and zero-sized objects are
    /// not counted).
    pub registered: u64,
    /// Callbacks queued because their object was found dead.
    pub queued: u64,
    /// Callbacks that have run (panicked ones included).
    pub executed: u64,
    /// Registrations removed before their object died (`Cleanup::stop`, clearing a
    /// finalizer).
    pub stopped: u64,
    /// Callbacks that panicked.
    pub panicked: u64,
    /// Callbacks queued and not yet finished (queued − executed).
    pub pending: u64,
    /// Runner threads started (the finalizer thread, or the cleanup workers and the
    /// standby).
    pub runners: usize,
    /// Worker threads started (Go's `ng` for cleanups, S40; the standby is not one).
    pub workers: usize,
}

impl CallbackStats {
    pub(crate) fn read<T>(q: &crate::callbacks::queue::CallbackQueue<T>) -> CallbackStats {
        let c = &q.counters;
        let (runners, workers) = {
            let g = crate::sync::lock(&q.state);
            (g.spawned, g.workers)
        };
        let queued = c.queued.load(Relaxed);
        let executed = c.executed.load(Relaxed);
        CallbackStats {
            registered: c.registered.load(Relaxed),
            queued,
            executed,
            stopped: c.stopped.load(Relaxed),
            panicked: c.panicked.load(Relaxed),
            pending: queued.saturating_sub(executed),
            runners,
            workers,
        }
    }
}

/// Takes `n` off a queue's running count when dropped (also when a callback's panic
/// unwinds through the runner), and wakes drains.
pub(crate) struct Finished<'q, T>(
    pub(crate) &'q crate::callbacks::queue::CallbackQueue<T>,
    pub(crate) usize,
);

impl<T> Drop for Finished<'_, T> {
    fn drop(&mut self) {
        let mut g = crate::sync::lock(&self.0.state);
        g.running -= self.1;
        // Drains wait for idleness; runners wait for work, which `push_batch` signals.
        let idle = g.running == 0 && g.items.is_empty();
        drop(g);
        if idle {
            self.0.cv.notify_all();
        }
    }
}

/// Takes the entries a runner still holds (the count in the cell) off a queue's running
/// count if a callback's panic unwinds through the runner (the normal path counts them at
/// the runner's next take).
pub(crate) struct Unwinding<'q, T>(
    pub(crate) &'q crate::callbacks::queue::CallbackQueue<T>,
    pub(crate) std::cell::Cell<usize>,
);

impl<T> Drop for Unwinding<'_, T> {
    fn drop(&mut self) {
        if crate::sync::unmodelled::thread::panicking() {
            drop(Finished(self.0, self.1.get()));
        }
    }
}

pub(crate) use crate::telemetry::fatal;

/// Runs one callback of `kind`, catching a panic and applying the heap's policy (Go's
/// traces name the runner `runtime.runFinalizers` / `runtime.runCleanups`; so do the
/// messages). The caller records the thread as inside a callback of `kind` for as long
/// as it runs (`InsideCallback`, a drain of its own queue would wait for it, and
/// `Heap::mutator` says why it cannot be had); the runners hold one record around a
/// whole chunk or batch, where only their own code runs between two callbacks, so no
/// callback pays a thread-local push and pop.
pub(crate) fn run_guarded(
    policy: CallbackPanic,
    kind: Kind,
    counters: &CallbackCounters,
    f: impl FnOnce(),
) {
    counters.started.fetch_add(1, Relaxed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    counters.executed.fetch_add(1, Relaxed);
    if let Err(payload) = result {
        caught(policy, kind, counters, payload);
    }
}

/// [`run_guarded`] for each of a runner's taken callbacks, in order, with one panic catch
/// for the whole run rather than one a callback (a catch set up around each call moved
/// the callback and its handles into it: about 30 instructions a finalizer). Before each
/// callback, `go_on(&item)` says whether to run it; the first item it refuses ends the
/// run (dropped, not run, not counted); `go_on` must not panic. The counters are what `run_guarded` keeps, a
/// callback at a time: one that panics counts as executed and panicked, and the policy
/// applies to it; if the policy keeps the runner going, the rest run under a new catch.
/// Returns how many callbacks ran (panicked ones included).
pub(crate) fn run_guarded_each<T>(
    policy: CallbackPanic,
    kind: Kind,
    counters: &CallbackCounters,
    items: &mut impl Iterator<Item = T>,
    mut go_on: impl FnMut(&T) -> bool,
    mut run: impl FnMut(T),
) -> usize {
    let mut ran = 0;
    loop {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for item in items.by_ref() {
                if !go_on(&item) {
                    return;
                }
                counters.started.fetch_add(1, Relaxed);
                ran += 1;
                run(item);
                counters.executed.fetch_add(1, Relaxed);
            }
        }));
        match result {
            Ok(()) => return ran,
            Err(payload) => {
                // The callback that panicked (the last one started) counts as executed.
                counters.executed.fetch_add(1, Relaxed);
                caught(policy, kind, counters, payload);
            }
        }
    }
}

/// What [`run_guarded`] does with a callback's panic: counts it, and lets it out, reports
/// it or exits, as the policy says.
#[cold]
#[inline(never)]
fn caught(
    policy: CallbackPanic,
    kind: Kind,
    counters: &CallbackCounters,
    payload: Box<dyn std::any::Any + Send>,
) {
    counters.panicked.fetch_add(1, Relaxed);
    let on_runner = ON_RUNNER_THREAD.try_with(|f| f.get()).unwrap_or(false);
    if policy == CallbackPanic::Propagate && !on_runner {
        std::panic::resume_unwind(payload);
    }
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string panic payload)".to_string());
    let what = match kind {
        Kind::Finalizer => "finalizer (runtime.runFinalizers)",
        Kind::Cleanup => "cleanup (runtime.runCleanups)",
    };
    crate::telemetry::stderr_line(format_args!("collector: panic in {what}: {msg}"));
    if policy != CallbackPanic::Report {
        // Not the queue's length: what this runner (and any other) took and has not
        // started will not run either.
        crate::telemetry::stderr_line(format_args!(
            "collector: {} more callbacks were queued and will not run; exiting \
                 (HeapConfig::callback_panic = Report keeps running)",
            counters.not_started()
        ));
        std::process::exit(2);
    }
}
