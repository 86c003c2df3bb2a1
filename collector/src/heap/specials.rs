//! Specials: the records a span keeps beside its objects (Go's `mspan.specials`, S23) —
//! finalizers, cleanups and weak handles — and the two callback queues that sweeping
//! fills: the finalizer queue (Go's `finq`) and the cleanup queue.
//!
//! Each span's specials sit in a list sorted by (registered word, kind), behind the span's
//! own lock; a flag says whether the list is non-empty, so that mark and sweep skip the
//! lock for spans without specials. Every change to a span's specials sweeps the span
//! first (S25): sweeping reads the list to decide what an unmarked object's death means.
//!
//! What sweeping does with an unmarked object that has specials (S34): with a finalizer,
//! the object is resurrected (its mark bit set), every finalizer on it is queued with its
//! exact registered address, and its weak handles are cleared; its cleanups stay. Without
//! one, every special goes: cleanups are queued, weak handles cleared, and the object is
//! freed in the same sweep.
//!
//! Callbacks are stored type-erased (`Box<dyn Any + Send>`): the layer that registers
//! them knows the heap's barrier type and recovers the closure's type when it runs it.

use super::span::Span;
use crate::object::Ref;
use crate::sync::{lock, AtomicBool, Condvar, Mutex, Ordering::*};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};

/// The kinds of special, in Go's sort order at one address (S23).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SpecialKind {
    /// A finalizer.
    Finalizer = 2,
    /// A weak handle's cell.
    Weak = 3,
    /// A cleanup.
    Cleanup = 7,
}

/// A stored callback.
pub(crate) enum Callback {
    /// A cleanup without an environment box: it needs no mutator, so it is stored as
    /// what it is (one allocation, no downcast).
    Plain(Box<dyn FnOnce() + Send>),
    /// A callback that takes handles: its type names the heap's barrier, so it is stored
    /// type-erased and recovered by the runner, which knows the barrier.
    Typed(Box<dyn Any + Send>),
}

impl Callback {
    /// The typed callback, of type `T`.
    pub(crate) fn typed<T: 'static>(self) -> T {
        match self {
            Callback::Typed(b) => *b.downcast::<T>().unwrap_or_else(|_| {
                panic!("collector: internal error: a callback of another type")
            }),
            Callback::Plain(_) => {
                panic!("collector: internal error: a plain callback where a typed one belongs")
            }
        }
    }
}

/// The cell a weak handle reads: the object's reference word, or 0 once the object has
/// been found dead (S30, S47).
#[derive(Debug)]
pub(crate) struct WeakCell {
    target: StdAtomicU64,
}

impl WeakCell {
    pub(crate) fn new(r: Ref) -> WeakCell {
        WeakCell {
            target: StdAtomicU64::new(r.word() as u64),
        }
    }

    /// The object, unless it was found dead.
    pub(crate) fn get(&self) -> Option<Ref> {
        Ref::from_word(self.target.load(StdOrdering::Acquire) as usize)
    }

    fn clear(&self) {
        self.target.store(0, StdOrdering::Release);
    }
}

/// What a special holds.
pub(crate) enum Payload {
    /// A finalizer: its environment box (traced) and callback.
    Finalizer { env: Option<Ref>, f: Callback },
    /// A cleanup: its id, environment box (traced) and callback.
    Cleanup {
        id: u64,
        env: Option<Ref>,
        f: Callback,
    },
    /// A weak handle's cell.
    Weak(std::sync::Arc<WeakCell>),
}

/// One special: the object's slot, the registered word within the span (sort key), the
/// object as registered (a tiny object's reference names its word of the block), the
/// interior field when registered on one, its kind, and what it holds.
pub(crate) struct Special {
    pub(crate) slot: u32,
    pub(crate) word: u32,
    pub(crate) obj: Ref,
    pub(crate) field: Option<u32>,
    pub(crate) kind: SpecialKind,
    pub(crate) payload: Payload,
}

impl Special {
    fn key(&self) -> (u32, SpecialKind) {
        (self.word, self.kind)
    }
}

/// A span's specials.
#[derive(Default)]
pub(crate) struct SpanSpecials {
    list: Mutex<Vec<Special>>,
    any: AtomicBool,
}

impl SpanSpecials {
    /// Whether the span may have specials (exact while the caller holds no lock).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Acquire)
    }

    /// Runs `f` on the list, keeping the flag in step. The span must be swept.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Vec<Special>) -> R) -> R {
        let mut list = lock(&self.list);
        let r = f(&mut list);
        self.any.store(!list.is_empty(), Release);
        r
    }

    /// Inserts `s` in (word, kind) order. Cleanups go before equal entries (Go's forced
    /// insert: the newest first, S24); other kinds fail with `Err(s)` if their (word,
    /// kind) is taken.
    pub(crate) fn insert(&self, s: Special) -> Result<(), Special> {
        self.with(|list| {
            let key = s.key();
            // Objects are usually registered in allocation (address) order: append.
            if list.last().is_none_or(|x| x.key() < key) {
                list.push(s);
                return Ok(());
            }
            let at = list.partition_point(|x| x.key() < key);
            if s.kind != SpecialKind::Cleanup && list.get(at).is_some_and(|x| x.key() == key) {
                return Err(s);
            }
            list.insert(at, s);
            Ok(())
        })
    }
}

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
}

/// The state of a callback queue behind its lock.
pub(crate) struct QueueState<T> {
    pub(crate) items: VecDeque<T>,
    /// Entries taken by runners and not finished yet.
    pub(crate) running: usize,
    /// The heap is shutting down: runners exit, leaving what is queued.
    pub(crate) exit: bool,
    /// Runner threads started (joined at shutdown).
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
    /// Whether runner threads were started (they are started once).
    pub(crate) started: bool,
    /// How many runner threads were started.
    pub(crate) spawned: usize,
    /// How many of them have returned (each says so as its last step).
    pub(crate) exited: usize,
    /// Times a runner has come for work: the standby's sign of progress.
    pub(crate) takes: u64,
}

/// A queue of callbacks and its runners' rendezvous.
pub(crate) struct CallbackQueue<T> {
    pub(crate) state: Mutex<QueueState<T>>,
    /// Signalled when work arrives, when work finishes, and at exit.
    pub(crate) cv: Condvar,
    /// The standby's: signalled only when work arrives in an empty queue, and at exit.
    /// While work waits the standby sleeps out its stall interval, which the queue's
    /// other signals (one per span swept) would otherwise cut short, each waking it to
    /// find the workers busy and contend for the lock. (Unused under loom, which has no
    /// standby.)
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) standby_cv: Condvar,
    pub(crate) counters: CallbackCounters,
    /// Set with `exit`, readable without the lock: runners stop between two callbacks.
    exiting: std::sync::atomic::AtomicBool,
    /// Set once runner threads have been started (a registration's fast check).
    runners_started: std::sync::atomic::AtomicBool,
}

impl<T> Default for CallbackQueue<T> {
    fn default() -> Self {
        CallbackQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                running: 0,
                exit: false,
                threads: Vec::new(),
                started: false,
                spawned: 0,
                exited: 0,
                takes: 0,
            }),
            cv: Condvar::new(),
            standby_cv: Condvar::new(),
            counters: CallbackCounters::default(),
            exiting: std::sync::atomic::AtomicBool::new(false),
            runners_started: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<T> CallbackQueue<T> {
    /// Appends a batch and wakes the runners at once (Go wakes the finalizer goroutine
    /// before the sweep ends, S37).
    pub(crate) fn push_batch(&self, batch: Vec<T>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let mut g = lock(&self.state);
        let was_empty = g.items.is_empty();
        g.items.extend(batch);
        drop(g);
        self.counters.queued.fetch_add(n, StdOrdering::Relaxed);
        self.cv.notify_all();
        if was_empty {
            self.notify_standby();
        }
    }

    /// Whether runner threads have been started (no lock taken).
    pub(crate) fn started(&self) -> bool {
        self.runners_started.load(StdOrdering::Acquire)
    }

    /// Records that runner threads are being started.
    pub(crate) fn mark_started(&self) {
        self.runners_started.store(true, StdOrdering::Release);
    }

    /// Whether the heap is shutting down (runners stop before their next callback).
    pub(crate) fn exiting(&self) -> bool {
        self.exiting.load(StdOrdering::Acquire)
    }

    /// Entries queued and not yet taken.
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).items.len()
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
        self.exiting.store(true, StdOrdering::Release);
        lock(&self.state).exit = true;
        self.cv.notify_all();
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
        self.exiting.store(true, StdOrdering::Release);
        let me = std::thread::current().id();
        let mut g = lock(&self.state);
        g.exit = true;
        self.cv.notify_all();
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
                g = match self.cv.wait_timeout(g, deadline - now) {
                    Ok((g, _)) => g,
                    Err(poisoned) => poisoned.into_inner().0,
                };
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
        for item in &g.items {
            f(item);
        }
    }
}

/// How long shutdown waits for a runner that is inside a callback (the documented bound
/// on `Heap::shutdown` when a callback blocks).
pub const RUNNER_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Both queues.
#[derive(Default)]
pub(crate) struct Queues {
    pub(crate) finalizers: CallbackQueue<QueuedFinalizer>,
    pub(crate) cleanups: CallbackQueue<QueuedCleanup>,
}

/// Handles the specials of `span`'s unmarked objects before the span is swept (S34):
/// resurrects objects with finalizers (setting their mark bits) and queues their
/// finalizers; queues the cleanups of objects without; clears their weak handles. Called
/// by whoever sweeps the span, which owns it until the sweep ends.
pub(crate) fn sweep_specials(span: &Span, space: &super::Space) {
    let queues = &*space.queues;
    #[cfg(loom)]
    let resurrect = !space.no_resurrection;
    #[cfg(not(loom))]
    let resurrect = true;
    if !span.specials.any() {
        return;
    }
    use crate::PlantedBug::{
        CleanupBesideFinalizer as CleanupBeside, WeakClearedAfterFinalizer as WeakAfter,
    };
    let planted = |bug| space.planted_bug == Some(bug);
    let mut finalizers = Vec::new();
    let mut cleanups = Vec::new();
    span.specials.with(|list| {
        // Sized once: in a bulk release most of a span's specials are queued.
        cleanups.reserve(list.len());
        let mut old = std::mem::take(list).into_iter().peekable();
        let mut group = Vec::new();
        while let Some(first) = old.next() {
            let slot = first.slot;
            group.clear();
            group.push(first);
            while let Some(s) = old.next_if(|s| s.slot == slot) {
                group.push(s);
            }
            let slot = slot as usize;
            if !span.is_allocated(slot) || span.is_marked(slot) {
                list.append(&mut group);
                continue;
            }
            let has_finalizer = group.iter().any(|s| s.kind == SpecialKind::Finalizer);
            if has_finalizer && resurrect {
                // Resurrect for this cycle: its referents were marked by its finalizer
                // special's scan (S28), so the whole subgraph survives.
                span.try_mark(slot);
            }
            for s in group.drain(..) {
                match s.payload {
                    Payload::Finalizer { env, f } => finalizers.push(QueuedFinalizer {
                        obj: s.obj,
                        field: s.field,
                        env,
                        f,
                    }),
                    Payload::Weak(cell) if !(has_finalizer && planted(WeakAfter)) => cell.clear(),
                    Payload::Cleanup { env, f, .. } if !has_finalizer || planted(CleanupBeside) => {
                        cleanups.push(QueuedCleanup { env, f })
                    }
                    payload => list.push(Special { payload, ..s }),
                }
            }
        }
    });
    queues.finalizers.push_batch(finalizers);
    queues.cleanups.push_batch(cleanups);
}
