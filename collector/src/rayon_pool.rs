//! A rayon thread pool whose workers are mutators of one heap ([`MutatorPool`]).
//!
//! Each worker thread registers a [`Mutator`] before it runs any task and drops it when
//! it exits (the pool's spawn handler wraps rayon's worker loop). The worker loop runs
//! inside [`Mutator::blocking`], so a worker waiting for work — or sleeping in rayon's
//! idle loop — is blocked, and a pause never waits for it; [`MutatorPool::with_mutator`]
//! makes the thread's mutator running for one closure, as a heap access inside
//! `blocking` does for one access.
//!
//! Invariant: a worker's mutator is running only inside `with_mutator`'s closure on that
//! worker's thread; everywhere else on the thread (rayon's idle loop, a task outside
//! `with_mutator`, a `join` or `scope` that [`MutatorPool::join`] or the user wrapped in
//! `blocking`) it is blocked. `with_mutator` refuses to run on a thread whose mutator is
//! already running (a task stolen by a thread that waits inside `with_mutator` without
//! blocking: that wait would hold up every pause, so it is a panic, not a silent stall).

use crate::barrier::{Barrier, GoHybrid};
use crate::core::HeapCore;
use crate::mutator::Mutator;
use crate::sync::unmodelled::{lock, thread, AtomicU64, Mutex, Ordering};
use crate::sync::Arc;
use crate::world::running_mutator_on_this_thread;
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

/// Pool ids, so a thread knows which pool it works for.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// What a pool's worker thread keeps: its pool and its mutator (`None` if the heap was
/// shut down before the worker started).
struct Worker {
    pool: u64,
    mutator: Option<Rc<dyn Any>>,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// A rayon [`rayon::ThreadPool`] whose worker threads are mutators of one heap: made by
/// [`crate::Heap::mutator_pool`] or [`crate::Heap::mutator_pool_with`].
///
/// Each worker registers a mutator when it starts and drops it when it exits. Between
/// tasks the mutator is *blocked* (as inside [`Mutator::blocking`]): an idle pool never
/// delays a pause. A task reaches its thread's mutator through
/// [`MutatorPool::with_mutator`], which makes it running for the closure.
///
/// What a task may do:
/// - Inside `with_mutator(|m| …)` (and in [`MutatorPool::join`]'s and
///   [`MutatorPool::broadcast`]'s closures, which get `m` the same way): allocate, load, store, make handles (they borrow `m`,
///   so they cannot leave the closure), call `m.gc()`, publish objects through a
///   [`crate::Global`] (which is `Send`), return plain data.
/// - Fork and wait only in the blocking state: [`MutatorPool::join`] does this for two
///   closures that each get their thread's mutator; or wrap `rayon::join`, `rayon::scope`,
///   a parallel iterator or [`MutatorPool::install`] in `m.blocking(|| …)`. A thread that
///   waits there may steal another task, whose `with_mutator` then runs the same mutator
///   for its own closure (its handles live beside the waiting task's in one root table).
/// - Never wait for other tasks inside `with_mutator` outside `blocking`: rayon runs one
///   half of a `join` on the calling thread at once, so such a fork is caught as a nested
///   `with_mutator` and panics (so does a `with_mutator` called directly inside another:
///   use the `m` you have); a wait that steals nothing would hold up every pause
///   until it ends, and deadlock if the awaited task needs a pause to end.
///
/// Dropping the pool terminates its workers and, unless the dropping thread has a
/// running mutator of the heap (joining could then wait for a pause that waits for it)
/// or is one of the workers, joins them, so their mutators are gone when it returns.
///
/// ```
/// use collector::{Heap, HeapConfig, Shape};
/// static NODE: Shape = Shape::new("node", 2, 1);
///
/// // Count the nodes of trees built in parallel: each half on whichever worker takes it,
/// // with that worker's mutator.
/// fn build(pool: &collector::MutatorPool, m: &collector::Mutator, depth: u32) -> u64 {
///     if depth < 4 {
///         let root = m.alloc(&NODE);
///         root.set(0, Some(&m.alloc(&NODE)));
///         m.gc(); // allowed: gc() blocks the mutator while it waits
///         return 2 + root.get(0).map_or(0, |c| c.read(0));
///     }
///     let (a, b) = pool.join(|m| build(pool, m, depth - 1), |m| build(pool, m, depth - 1));
///     a + b
/// }
///
/// let heap = Heap::new(HeapConfig { verify: true, ..HeapConfig::default() }).unwrap();
/// let pool = heap.mutator_pool(2).unwrap();
/// assert_eq!(pool.install(|| pool.with_mutator(|m| build(&pool, m, 6))), 2 * 8);
/// assert_eq!(heap.stats().lost_objects, 0);
/// ```
pub struct MutatorPool<B: Barrier = GoHybrid> {
    id: u64,
    core: Arc<HeapCore>,
    pool: Option<rayon::ThreadPool>,
    threads: Arc<Mutex<Vec<thread::JoinHandle<()>>>>,
    _barrier: PhantomData<fn() -> B>,
}

impl<B: Barrier> MutatorPool<B> {
    /// Builds a pool from `builder` over heap `core`. The builder's spawn handler is
    /// replaced (it is how each worker gets its mutator); its thread names, stack size,
    /// start and exit handlers are kept (the handlers run with the mutator blocked).
    pub(crate) fn build(
        core: Arc<HeapCore>,
        builder: rayon::ThreadPoolBuilder,
    ) -> Result<MutatorPool<B>, rayon::ThreadPoolBuildError> {
        core.check_live();
        let id = NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed);
        let threads: Arc<Mutex<Vec<thread::JoinHandle<()>>>> = Default::default();
        let (c, t) = (core.clone(), threads.clone());
        let pool = builder
            .spawn_handler(move |worker| {
                let mut b = thread::Builder::new();
                if let Some(name) = worker.name() {
                    b = b.name(name.to_owned());
                }
                if let Some(size) = worker.stack_size() {
                    b = b.stack_size(size);
                }
                let core = c.clone();
                let h = b.spawn(move || worker_main::<B>(core, id, worker))?;
                lock(&t).push(h);
                Ok(())
            })
            .build()?;
        if pool.current_thread_index().is_some() {
            // rayon's `use_current_thread`: the building thread became a worker without
            // going through the spawn handler, so it has no worker mutator.
            panic!(
                "collector: a MutatorPool cannot be built with rayon's use_current_thread: \
                 the building thread would be a worker with no mutator of its own"
            );
        }
        Ok(MutatorPool {
            id,
            core,
            pool: Some(pool),
            threads,
            _barrier: PhantomData,
        })
    }

    fn pool(&self) -> &rayon::ThreadPool {
        self.pool.as_ref().expect("the pool lives until dropped")
    }

    /// The number of worker threads.
    pub fn current_num_threads(&self) -> usize {
        self.pool().current_num_threads()
    }

    /// Runs `op` on one of the pool's workers (its mutator blocked) and returns its
    /// result: rayon's `ThreadPool::install`. Parallel iterators and `rayon::join` inside
    /// `op` run on this pool. The calling thread waits: if it has a running mutator of
    /// the heap, call this inside `m.blocking(|| …)`.
    pub fn install<R: Send>(&self, op: impl FnOnce() -> R + Send) -> R {
        self.refuse_waiting_while_running("install");
        self.pool().install(op)
    }

    /// Panics if the calling thread, not one of the pool's workers, has a running mutator
    /// of the heap: waiting for the pool then would hold up every pause, and the pool's
    /// tasks may need one to finish (a silent deadlock otherwise, found in review).
    fn refuse_waiting_while_running(&self, what: &str) {
        if !self.is_worker() && running_mutator_on_this_thread(self.core.id) {
            panic!(
                "collector: MutatorPool::{what} called on a thread whose mutator of the heap is                  running: the thread would wait for the pool with its mutator running, holding                  up every pause (and a task's gc() with it). Call it inside m.blocking(|| ...),                  outside any scope"
            );
        }
    }

    /// Runs `f` with the calling worker's mutator running, and blocks it again after
    /// (also on unwinding). Panics on a thread that is not one of this pool's workers
    /// (use [`MutatorPool::install`] to get onto one), after [`crate::Heap::shutdown`],
    /// and inside another `with_mutator` on the same thread (see the type's rules).
    pub fn with_mutator<R>(&self, f: impl FnOnce(&Mutator<B>) -> R) -> R {
        let m = self.worker_mutator();
        self.core.check_live();
        if running_mutator_on_this_thread(self.core.id) {
            nested_panic();
        }
        m.running(|| f(&m))
    }

    /// Runs `op` once on every worker (rayon's `ThreadPool::broadcast`), each with its
    /// thread's mutator running, and returns the results in worker order. The calling
    /// thread waits, as in [`MutatorPool::install`].
    pub fn broadcast<R: Send>(&self, op: impl Fn(&Mutator<B>) -> R + Sync) -> Vec<R> {
        self.refuse_waiting_while_running("broadcast");
        self.pool().broadcast(|_| self.with_mutator(&op))
    }

    /// Runs `a` and `b` in parallel on the pool (`rayon::join`), each with its thread's
    /// mutator running, and returns both results. Called inside a `with_mutator` closure
    /// (or anywhere on a worker), it blocks the thread's mutator while it waits, so a
    /// pause can proceed meanwhile. Outside the pool, it runs the join on the pool.
    pub fn join<RA: Send, RB: Send>(
        &self,
        a: impl FnOnce(&Mutator<B>) -> RA + Send,
        b: impl FnOnce(&Mutator<B>) -> RB + Send,
    ) -> (RA, RB) {
        let fork = || rayon::join(|| self.with_mutator(a), || self.with_mutator(b));
        if !self.is_worker() {
            self.refuse_waiting_while_running("join");
            return self.pool().install(fork);
        }
        let m = self.worker_mutator();
        m.blocking(fork)
    }

    /// Whether the calling thread is one of this pool's workers.
    fn is_worker(&self) -> bool {
        WORKER
            .try_with(|w| w.borrow().as_ref().is_some_and(|w| w.pool == self.id))
            .unwrap_or(false)
    }

    /// The calling worker's mutator; panics elsewhere.
    fn worker_mutator(&self) -> Rc<Mutator<B>> {
        let found = WORKER.try_with(|w| match &*w.borrow() {
            Some(w) if w.pool == self.id => Some(w.mutator.clone()),
            _ => None,
        });
        let Some(mutator) = found.ok().flatten() else {
            panic!(
                "collector: MutatorPool::with_mutator called on a thread that is not one of \
                 this pool's workers; run the task on the pool (MutatorPool::install, join, \
                 or a rayon call inside install)"
            );
        };
        let Some(m) = mutator else {
            self.core.check_live();
            unreachable!("a worker without a mutator started after the heap was shut down");
        };
        m.downcast::<Mutator<B>>()
            .expect("a pool's workers hold mutators of the pool's barrier")
    }
}

/// The panic of a `with_mutator` inside another on one thread.
#[cold]
fn nested_panic() -> ! {
    panic!(
        "collector: MutatorPool::with_mutator called while this thread's mutator is already \
         running (inside another with_mutator): a task that waits for other tasks (rayon::join, \
         scope, a parallel iterator, install) must do so inside m.blocking(|| ...) or through \
         MutatorPool::join, or its wait would hold up every pause"
    );
}

/// A worker thread: registers its mutator, runs rayon's worker loop with it blocked, and
/// drops it when the loop ends (the pool was dropped).
fn worker_main<B: Barrier>(core: Arc<HeapCore>, pool: u64, worker: rayon::ThreadBuilder) {
    // A heap shut down before this worker started: the pool still runs tasks, and
    // `with_mutator` panics saying the heap is shut down. One check (a second one inside
    // `Mutator::new` could panic and kill the worker, leaving rayon waiting for it).
    let Some(m) = Mutator::<B>::new_if_live(core) else {
        set_worker(Some(Worker {
            pool,
            mutator: None,
        }));
        worker.run();
        return;
    };
    let m = Rc::new(m);
    let any: Rc<dyn Any> = m.clone();
    set_worker(Some(Worker {
        pool,
        mutator: Some(any),
    }));
    m.blocking(|| worker.run());
    set_worker(None);
    drop(m);
}

fn set_worker(w: Option<Worker>) {
    let _ = WORKER.try_with(|slot| *slot.borrow_mut() = w);
}

impl<B: Barrier> Drop for MutatorPool<B> {
    fn drop(&mut self) {
        drop(self.pool.take());
        if self.is_worker() || running_mutator_on_this_thread(self.core.id) {
            return;
        }
        let handles = std::mem::take(&mut *lock(&self.threads));
        for h in handles {
            let _ = h.join();
        }
    }
}
