//! Cleanups (Go's `runtime.AddCleanup` and `Cleanup.Stop`, S14, S16–S22, S24, S29, S34,
//! S36, S40–S42, S44, S46, S48, S50): registration on a [`Mutator`], [`Cleanup::stop`], and
//! the runner that the heap's cleanup workers (or [`Mutator::run_cleanups`]) use.
//!
//! By default the runner is Go's (S40, S41): the first worker starts with the first
//! registration, more only inside a later one (`callbacks::runner`), and a worker takes a
//! block of up to `CLEANUP_BLOCK` (20) cleanups and runs them in order. Cleanups on one
//! address are queued newest first, as Go's (S24). The testbed's improvements are
//! options (`HeapConfig`): `cleanup_batches: Adaptive` (with several workers each takes
//! one cleanup at a time; a lone worker takes batches of up to 64, starting at one and
//! doubling while the standby is on), `cleanup_standby`, `cleanup_eager_start`.
//!
//! Invariants: a registered cleanup is in one place at a time — a cleanup special on its
//! object's span (inserted in one running step after the span is swept), the cleanup queue
//! (moved there by the sweep that finds the object dead), a runner's hands (counted in the
//! queue's `running` until it returns, or until `Unwinding` drops if it panics; a panicking
//! batch's unstarted rest goes back to the queue's front), or gone (run, or removed by
//! `stop` and counted in `stopped`). Its box is rooted throughout: by the special, by the
//! queue, then by the runner's handle, made in the running step that pops the entry.

use super::run_guarded;
use super::runner::RunnerRole;
use crate::barrier::Barrier;
use crate::callbacks::queue::{CallbackQueue, InsideCallback, Kind, QueuedCleanup};
use crate::config::{CleanupBatches, CLEANUP_BLOCK};
use crate::core::HeapCore;
use crate::heap::span::SpanKind;
use crate::heap::specials::{Callback, Payload, Special, SpecialKind};
use crate::mutator::handle::{Handle, InteriorHandle};
use crate::mutator::Mutator;
use crate::sync::lock;
use crate::sync::unmodelled::{AtomicU64, Ordering as StdOrdering};

/// A cleanup with an environment box: it gets the box as a handle of the runner's mutator.
pub(crate) type EnvCleanupCall<B> = Box<dyn for<'m> FnOnce(Handle<'m, B>) + Send>;

/// Cleanup ids: a process-wide counter, pre-incremented, 0 reserved for the no-op (S20).
static NEXT_CLEANUP_ID: AtomicU64 = AtomicU64::new(0);

/// A registered cleanup (Go's `runtime.Cleanup`): it can be stopped, and does not keep
/// its object alive (S22).
#[derive(Clone)]
pub struct Cleanup {
    /// `None` for the no-op cleanup of a global or zero-sized object (S17).
    core: Option<HeapRef>,
    id: u64,
    span: usize,
    word: u32,
}

impl std::fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cleanup(id {}, span {}, word {})",
            self.id, self.span, self.word
        )
    }
}

impl Cleanup {
    /// Go's `Cleanup.Stop` (S21): removes exactly this cleanup if it has not been queued
    /// yet. It sweeps the object's span first, so a cleanup whose object a finished mark
    /// found dead is queued by that sweep and not stopped. Idempotent; a no-op for the
    /// cleanup of a global or zero-sized object, and once the heap is gone.
    ///
    /// To be sure it stops the cleanup, keep the object reachable across the call (a
    /// handle dropped after it, or [`crate::keep_alive`]): a cycle that completes while
    /// the object is unreachable queues the cleanup (S22).
    pub fn stop(&self) {
        if let Some(core) = self.core.as_ref().and_then(upgrade) {
            self.stop_in(&core);
        }
    }

    fn stop_in(&self, core: &HeapCore) {
        if self.id == 0 {
            return;
        }
        let space = &core.space;
        // Any thread may stop a cleanup: pinned, as its span may be retired meanwhile.
        let guard = space.table.pin();
        let Some(span) = space.table.lookup(self.span, &guard) else {
            return;
        };
        let removed = space.edit_specials_swept(span, |list| {
            let at = list.iter().position(|s| {
                s.word == self.word
                    && s.kind == SpecialKind::Cleanup
                    && matches!(s.payload, Payload::Cleanup { id, .. } if id == self.id)
            });
            at.map(|i| list.remove(i))
        });
        if removed.is_some() {
            space
                .queues
                .cleanups
                .counters
                .stopped
                .fetch_add(1, StdOrdering::Relaxed);
        }
    }

    /// The cleanup's id (0 for a no-op cleanup).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// An environment box for [`Mutator::add_cleanup_with`]: a whole object, or an interior
/// handle (whose object is the box).
pub trait CleanupEnv<'m, B: Barrier> {
    /// The box object, and whether it was given as an interior handle.
    fn env_box(&self) -> (&Handle<'m, B>, bool);
}

impl<'m, B: Barrier> CleanupEnv<'m, B> for Handle<'m, B> {
    fn env_box(&self) -> (&Handle<'m, B>, bool) {
        (self, false)
    }
}

impl<'m, B: Barrier> CleanupEnv<'m, B> for InteriorHandle<'m, B> {
    fn env_box(&self) -> (&Handle<'m, B>, bool) {
        (self.object(), true)
    }
}

impl<B: Barrier> Mutator<B> {
    /// Go's `runtime.AddCleanup(obj, f, arg)`: when the collector finds `obj` unreachable
    /// (and it has no finalizer, S48), `f(arg)` is queued and run by a cleanup worker; the
    /// object is freed in the same sweep (S44), so `f` can never see it. `arg` is moved
    /// into the registration; it cannot hold handles (they are not `Send`), so it cannot
    /// keep `obj` alive — Go's S14/S18 mistakes with a plain argument are impossible here.
    ///
    /// Any number of cleanups may be registered on one object (S20). On a global or the
    /// zero-sized sentinel, the returned cleanup is a no-op (S17).
    pub fn add_cleanup<T, F>(&self, obj: &Handle<'_, B>, arg: T, f: F) -> Cleanup
    where
        T: Send + 'static,
        F: FnOnce(T) + Send + 'static,
    {
        let call = Callback::plain(move || f(arg));
        self.register_cleanup(obj, None, None, call)
    }

    /// [`Mutator::add_cleanup`] on an interior field; it runs when the whole object dies.
    pub fn add_cleanup_at<T, F>(&self, field: &InteriorHandle<'_, B>, arg: T, f: F) -> Cleanup
    where
        T: Send + 'static,
        F: FnOnce(T) + Send + 'static,
    {
        let call = Callback::plain(move || f(arg));
        self.register_cleanup(field.object(), Some(field.field() as u32), None, call)
    }

    /// [`Mutator::add_cleanup`] with an environment box: the managed references the
    /// cleanup needs travel in `env`, which the registration keeps alive (traced) and
    /// hands to `f` (S16, S29). Go's checks run on the box, with Go's messages, as panics
    /// the caller can catch:
    /// - the box is the object: `runtime.AddCleanup: ptr is equal to arg, cleanup will
    ///   never run` (S14);
    /// - the box is an interior handle into the object: `runtime.AddCleanup: ptr is
    ///   within arg, cleanup will never run` (S18);
    /// - a reference slot of the box holds the object: `runtime.AddCleanup: cleanup
    ///   function closes over ptr, cleanup will never run` (S19). As in Go only direct
    ///   references are checked; the leak checker finds indirect ones.
    pub fn add_cleanup_with<'m, T, F, E>(
        &self,
        obj: &Handle<'_, B>,
        env: &E,
        arg: T,
        f: F,
    ) -> Cleanup
    where
        T: Send + 'static,
        F: for<'r> FnOnce(Handle<'r, B>, T) + Send + 'static,
        E: CleanupEnv<'m, B>,
    {
        let (boxed, interior) = env.env_box();
        self.check_same_heap(obj);
        self.check_same_heap(boxed);
        if boxed.same_object(obj) {
            if interior {
                panic!("runtime.AddCleanup: ptr is within arg, cleanup will never run");
            }
            panic!("runtime.AddCleanup: ptr is equal to arg, cleanup will never run");
        }
        for i in 0..boxed.ptr_slots() {
            if boxed.get(i).is_some_and(|r| r.same_object(obj)) {
                panic!(
                    "runtime.AddCleanup: cleanup function closes over ptr, cleanup will never run"
                );
            }
        }
        let call: EnvCleanupCall<B> = Box::new(move |env| f(env, arg));
        let call = Callback::boxed(crate::heap::specials::Packed(call));
        self.register_cleanup(obj, None, Some(boxed), call)
    }

    fn register_cleanup(
        &self,
        obj: &Handle<'_, B>,
        field: Option<u32>,
        env: Option<&Handle<'_, B>>,
        call: Callback,
    ) -> Cleanup {
        self.check_same_heap(obj);
        let span = obj.span();
        let word = (obj.base() + field.unwrap_or(0) as usize) as u32;
        if span.kind() == SpanKind::Immortal {
            return Cleanup {
                core: None,
                id: 0,
                span: span.index,
                word,
            };
        }
        #[cfg(not(loom))]
        super::runner::ensure_runners(
            &self.core,
            |q| &q.cleanups,
            super::runner::RunnerPool {
                max: self.core.config.cleanup_worker_count(),
                standby: self.core.config.cleanup_standby,
                eager: self.core.config.cleanup_eager_start,
            },
            "gc-cleanup",
            cleanup_batch::<B>,
        );
        let id = NEXT_CLEANUP_ID.fetch_add(1, StdOrdering::Relaxed) + 1;
        self.running(|| {
            let space = &self.core.space;
            space.ensure_swept(span);
            let special = Special {
                slot: obj.reference().slot() as u32,
                word,
                obj: obj.reference(),
                field,
                kind: SpecialKind::Cleanup,
                payload: Payload::Cleanup {
                    id,
                    env: env.map(|e| e.reference()),
                    f: call,
                },
            };
            if span.specials.insert(special).is_err() {
                unreachable!("cleanups are inserted whatever is there");
            }
            // S31: registered during a mark, the cleanup shades its own box.
            if let Some(e) = env {
                self.shade_if_marking(e.reference());
            }
            space
                .queues
                .cleanups
                .counters
                .registered
                .fetch_add(1, StdOrdering::Relaxed);
        });
        Cleanup {
            core: Some(heap_ref(&self.core)),
            id,
            span: span.index,
            word,
        }
    }

    /// [`Cleanup::stop`] through this mutator's heap (the same `stop`, for a caller that
    /// has the mutator at hand).
    pub fn stop_cleanup(&self, c: &Cleanup) {
        c.stop_in(&self.core);
    }

    /// Runs queued cleanups on this thread until the queue is empty, and returns how many
    /// ran: what each cleanup worker does, for loom models and callers that step the
    /// collector themselves. Cleanups are taken one at a time and run in the blocking
    /// state. Under [`crate::CallbackPanic::Propagate`] a cleanup's panic unwinds out of
    /// this call, and the cleanups this call had taken and not started go back to the
    /// front of the queue.
    pub fn run_cleanups(&self) -> usize {
        self.run_cleanups_as(RunnerRole::Worker)
    }

    /// [`Mutator::run_cleanups`] as a worker, or as the standby: that one returns as soon
    /// as it finds that another runner took work since its own last take (the workers
    /// are not stalled any more), so that it never becomes a second worker contending
    /// for the queue (measured on 2 cores: with it staying on until the queue was empty,
    /// draining 1,000,000 cleanups took 95–240 ms instead of 73–104).
    ///
    /// The worker stays in the blocking state: a cleanup without a box touches no
    /// managed memory, so taking it needs no running state; one with a box is taken and
    /// its box rooted in one running step (a box in the queue is a root until it is in a
    /// handle).
    pub(crate) fn run_cleanups_as(&self, role: RunnerRole) -> usize {
        let queues = self.core.space.queues.clone();
        let mut r = CleanupRun {
            q: &queues.cleanups,
            standby: role == RunnerRole::Standby,
            claim_for_rest: claims_for_rest(&self.core),
            after_own_take: None,
            plain: Vec::new(),
            done: 0,
            ran: 0,
            batching: Batching::new(&self.core.config),
        };
        self.blocking(|| loop {
            let (env, f) = match r.take_next() {
                Next::Done => return r.ran,
                Next::Plain => {
                    self.run_plain_batch(&mut r);
                    continue;
                }
                Next::Boxed => match self.take_boxed(r.q) {
                    Some(t) => t,
                    None => continue,
                },
            };
            let unwinding = super::Unwinding(r.q, std::cell::Cell::new(1));
            let inside = InsideCallback::enter(self.core.id, Kind::Cleanup);
            self.run_one_cleanup(env, f);
            drop(inside);
            drop(unwinding);
            r.done = 1;
            r.ran += 1;
        })
    }

    /// Runs a batch of plain cleanups in order; on a panic the unstarted rest goes back
    /// to the front of the queue.
    fn run_plain_batch(&self, r: &mut CleanupRun<'_>) {
        let q = r.q;
        // The batch's vector goes back to `r` empty afterwards, for the next batch.
        let mut fs = std::mem::take(&mut r.plain);
        let started = r.batching.ramp.then(std::time::Instant::now);
        // On a panic, everything taken and not yet settled leaves the count.
        let unwinding = super::Unwinding(q, std::cell::Cell::new(r.done + fs.len()));
        // Dropped before `unwinding`: on a panic the batch's rest is queued again first.
        let mut unstarted = UnstartedPlain(q, fs.drain(..));
        // Inside a cleanup for the whole batch: between two, only this loop runs (one
        // thread-local push and pop a batch, not one a cleanup).
        let inside = InsideCallback::enter(self.core.id, Kind::Cleanup);
        let policy = self.core.config.callback_panic;
        for f in unstarted.1.by_ref() {
            run_guarded(policy, Kind::Cleanup, &q.counters, || f.call());
            r.done += 1;
            r.ran += 1;
        }
        drop(inside);
        drop(unstarted);
        drop(unwinding);
        r.plain = fs;
        if let Some(t) = started {
            r.batching.after(t.elapsed());
        }
    }

    /// Takes the cleanup with a box at the front of the queue, its box made a handle of
    /// this mutator in the same running step (`None`: another runner took it first).
    #[allow(clippy::type_complexity)]
    fn take_boxed(
        &self,
        q: &CallbackQueue<QueuedCleanup>,
    ) -> Option<(Option<Handle<'_, B>>, Callback)> {
        let mut wake = 0;
        let taken = self.running(|| {
            let mut g = lock(&q.state);
            let e = g.items.pop_front()?;
            g.running += 1;
            if claims_for_rest(&self.core) {
                wake = CallbackQueue::claim_one_for_rest(&mut g);
            }
            drop(g);
            let env = e.env.map(|r| self.take_queued(r, "the cleanup queue"));
            Some((env, e.f))
        });
        // Outside the running step, which a handshake would wait for.
        q.wake_runners(wake);
        taken
    }

    /// Runs one cleanup under the heap's panic policy; the caller holds the
    /// `InsideCallback` record.
    fn run_one_cleanup(&self, env: Option<Handle<'_, B>>, f: Callback) {
        let q = &self.core.space.queues.cleanups;
        let policy = self.core.config.callback_panic;
        run_guarded(policy, Kind::Cleanup, &q.counters, || match (env, f) {
            (Some(env), f) => run_with_box(env, f),
            (None, f) if f.is_plain() => f.call(),
            (None, _) => {
                panic!("collector: internal error: a cleanup without its box")
            }
        });
    }
}

/// Runs a cleanup with its box. Out of line, so that the box's handle and its drop do
/// not weigh on the plain cleanup's path in `run_guarded` (inlined, they changed its code
/// to cost 11 more instructions a plain cleanup, callgrind, cleanupbench).
#[inline(never)]
fn run_with_box<B: Barrier>(env: Handle<'_, B>, f: Callback) {
    f.typed::<EnvCleanupCall<B>>()(env)
}

/// What a cleanup runner takes next.
enum Next {
    /// Plain cleanups (no box), in queue order: taken into the runner's `plain`.
    Plain,
    /// The front entry has a box: it is taken in a running step.
    Boxed,
    /// Nothing to take (or the standby steps back, or exit).
    Done,
}

/// How much of the queue a runner takes at a time (`HeapConfig::cleanup_batches`).
struct Batching {
    /// Plain cleanups to take next.
    batch: usize,
    max: usize,
    /// Adaptive with the standby beside a lone worker: the batch starts at one and
    /// doubles (to `max`) while each batch finishes within `CLEANUP_STALL`, and falls
    /// back to one after a slower batch, so a slow cleanup holds back at most the rest of
    /// its batch, and none when it is the first (the standby takes what is queued).
    /// Under loom, where time is not modelled, the size is fixed.
    ramp: bool,
}

impl Batching {
    fn new(config: &crate::config::HeapConfig) -> Batching {
        match config.cleanup_batches {
            // Go's block (S41): a slow cleanup holds back the rest of its block.
            CleanupBatches::Go => Batching {
                batch: CLEANUP_BLOCK,
                max: CLEANUP_BLOCK,
                ramp: false,
            },
            // Several workers take one cleanup at a time (a slow cleanup holds back
            // nothing another worker can take); a lone worker takes batches, which saves
            // a lock per cleanup.
            CleanupBatches::Adaptive => {
                let lone = config.cleanup_worker_count() == 1;
                let max = if lone { 64 } else { 1 };
                let ramp = lone && config.cleanup_standby && cfg!(not(loom));
                Batching {
                    batch: if ramp { 1 } else { max },
                    max,
                    ramp,
                }
            }
        }
    }

    /// Sizes the next batch after one that took `took`.
    fn after(&mut self, took: std::time::Duration) {
        self.batch = if took < super::runner::CLEANUP_STALL {
            (self.batch * 2).min(self.max)
        } else {
            1
        };
    }
}

/// A cleanup runner's state across its takes.
struct CleanupRun<'q> {
    q: &'q CallbackQueue<QueuedCleanup>,
    standby: bool,
    /// Off under `LoomFaults::no_claim_for_rest` only.
    claim_for_rest: bool,
    /// The queue's take count just after this runner's last take.
    after_own_take: Option<u64>,
    /// The plain cleanups of the batch taken last (empty between batches; kept for its
    /// buffer).
    plain: Vec<Callback>,
    /// Cleanups finished since the queue's lock was last taken: they leave the running
    /// count under the next take's lock (one lock per cleanup, not two).
    done: usize,
    ran: usize,
    batching: Batching,
}

impl CleanupRun<'_> {
    /// Settles what finished, and decides under the queue's lock what to take next.
    fn take_next(&mut self) -> Next {
        let q = self.q;
        let mut g = lock(&q.state);
        g.running -= std::mem::take(&mut self.done);
        let idle = g.running == 0 && g.items.is_empty();
        let workers_back = self.standby && self.after_own_take.is_some_and(|t| g.takes != t);
        g.takes += 1;
        self.after_own_take = Some(g.takes);
        match g.items.front() {
            _ if g.exit => Next::Done,
            // Work is queued, so the queue is not idle: no one to notify.
            Some(_) if workers_back => Next::Done,
            None => {
                drop(g);
                if idle {
                    q.cv.notify_all();
                }
                Next::Done
            }
            Some(e) if is_plain(e) => {
                let batch = self.batching.batch;
                let fs = &mut self.plain;
                g.running += g.items.take_front_while(batch, is_plain, |e| e.f, fs);
                let wake = if self.claim_for_rest {
                    CallbackQueue::claim_one_for_rest(&mut g)
                } else {
                    0
                };
                drop(g);
                q.wake_runners(wake);
                Next::Plain
            }
            Some(_) => Next::Boxed,
        }
    }
}

/// Whether a queued cleanup has no box (`add_cleanup`, `add_cleanup_at`: a plain
/// callback, and no box; `add_cleanup_with` queues a typed callback and its box).
fn is_plain(e: &QueuedCleanup) -> bool {
    e.f.is_plain()
}

/// The plain cleanups of a runner's batch that have not started: if a cleanup's panic
/// unwinds through the runner (`CallbackPanic::Propagate`), they go back to the front of
/// the queue, in order, for the next runner (they hold no managed reference, so nothing
/// needs shading).
struct UnstartedPlain<'q, 'v>(
    &'q CallbackQueue<QueuedCleanup>,
    std::vec::Drain<'v, Callback>,
);

impl Drop for UnstartedPlain<'_, '_> {
    fn drop(&mut self) {
        if crate::sync::unmodelled::thread::panicking() {
            let rest = self.1.by_ref().map(|f| QueuedCleanup { env: None, f });
            self.0.requeue_front(rest);
        }
    }
}

/// Whether a runner that takes part of the queue claims a parked one for the rest
/// (`CallbackQueue::claim_one_for_rest`): always, except under loom's
/// `LoomFaults::no_claim_for_rest`.
fn claims_for_rest(core: &HeapCore) -> bool {
    #[cfg(loom)]
    return !core.config.faults.no_claim_for_rest;
    #[cfg(not(loom))]
    {
        let _ = core;
        true
    }
}

/// How a [`Cleanup`] reaches its heap: a weak reference, so that a cleanup does not keep
/// its heap alive (and `stop` does nothing once the heap is gone).
#[cfg(not(loom))]
type HeapRef = crate::sync::unmodelled::Weak<HeapCore>;
/// How a [`Cleanup`] reaches its heap: under loom, which has no `Weak`, a strong
/// reference (models drop their cleanups before their heaps), so that models run the
/// real `Cleanup::stop`.
#[cfg(loom)]
type HeapRef = crate::sync::Arc<HeapCore>;

#[cfg(not(loom))]
fn heap_ref(core: &crate::sync::Arc<HeapCore>) -> HeapRef {
    crate::sync::Arc::downgrade(core)
}

#[cfg(not(loom))]
fn upgrade(r: &HeapRef) -> Option<crate::sync::Arc<HeapCore>> {
    r.upgrade()
}

#[cfg(loom)]
fn heap_ref(core: &crate::sync::Arc<HeapCore>) -> HeapRef {
    core.clone()
}

#[cfg(loom)]
fn upgrade(r: &HeapRef) -> Option<crate::sync::Arc<HeapCore>> {
    Some(r.clone())
}

/// A cleanup worker's batch: a mutator for as long as cleanups are queued.
#[cfg(not(loom))]
fn cleanup_batch<B: Barrier>(core: &crate::sync::unmodelled::Arc<HeapCore>, role: RunnerRole) {
    let m = Mutator::<B>::new(core.clone());
    m.run_cleanups_as(role);
}
