//! Finalizers (Go's `runtime.SetFinalizer`, S3–S6, S10, S12, S28, S31, S34, S37–S39,
//! S43–S47, S49–S52): registration and clearing on a [`Mutator`], and the runner that
//! takes queued finalizers in chunks of up to 64 and runs them one at a time — the heap's
//! finalizer thread, or the caller of [`Mutator::run_finalizers`].
//!
//! The testbed's choices where Go's behaviour is an accident: finalizers of one batch run
//! in queue order (the sweep's order: span class by span class, each class's spans as its
//! lists hold them, though a refill may sweep its own class out of turn; within a span,
//! by address), not Go's LIFO (S38).
//!
//! Invariants: at most one finalizer per registered address (a second one is fatal);
//! registering and clearing change the span's specials in one running step after sweeping
//! it, so no sweep generation can begin in between. A queued finalizer's object and box are
//! rooted at every moment: by the queue until a running step takes them and makes handles
//! (shaded while marking), then by those handles until it has run — or, if one panics,
//! until the chunk's unstarted rest is queued again at the front. A taken chunk leaves the
//! queue's `running` count once, when it is done or unwound (`Finished`).

use super::{fatal, run_guarded_each};
use crate::barrier::Barrier;
use crate::callbacks::queue::{InsideCallback, Kind, QueuedFinalizer};
use crate::heap::span::SpanKind;
use crate::heap::specials::{Callback, Payload, Special, SpecialKind, Unpack};
use crate::mutator::handle::{Handle, InteriorHandle};
use crate::mutator::Mutator;
use crate::sync::{lock, Ordering::Relaxed};
use crate::world::FLAG_MARKING;

/// A finalizer as its runner calls it: it gets the object, the registered interior field
/// (if any) and the environment box (if any), as handles of the mutator running it.
pub(crate) trait FinalizerCall<B: Barrier>: Send {
    fn call<'m>(
        self: Box<Self>,
        obj: Handle<'m, B>,
        field: Option<u32>,
        env: Option<Handle<'m, B>>,
    );
}

/// A finalizer's closure as a special stores it: one box holding the closure itself (no
/// allocation at all for a closure that captures nothing), which the runner takes back as
/// a `Box<dyn FinalizerCall<B>>` (`Unpack`), the same box. (A boxed closure inside a
/// `Box<dyn Any>` cost an allocation at registration and a free, from another thread, at
/// each run.)
struct Stored<B, C>(C, std::marker::PhantomData<fn(B)>);

impl<B: Barrier, C> FinalizerCall<B> for Stored<B, C>
where
    C: for<'m> FnOnce(Handle<'m, B>, Option<u32>, Option<Handle<'m, B>>) + Send,
{
    fn call<'m>(
        self: Box<Self>,
        obj: Handle<'m, B>,
        field: Option<u32>,
        env: Option<Handle<'m, B>>,
    ) {
        let Stored(f, _) = *self;
        f(obj, field, env)
    }
}

impl<B: Barrier, C> Unpack for Stored<B, C>
where
    C: for<'m> FnOnce(Handle<'m, B>, Option<u32>, Option<Handle<'m, B>>) + Send + 'static,
{
    fn unpack(self: Box<Self>, out: &mut dyn std::any::Any) {
        if let Some(slot) = out.downcast_mut::<Option<Box<dyn FinalizerCall<B>>>>() {
            *slot = Some(self);
        }
    }
}

/// `f` as a special stores it.
fn stored<B: Barrier, C>(f: C) -> Callback
where
    C: for<'m> FnOnce(Handle<'m, B>, Option<u32>, Option<Handle<'m, B>>) + Send + 'static,
{
    Callback::boxed(Stored(f, std::marker::PhantomData))
}

/// How many queued finalizers the runner takes at a time (each becomes a root of the
/// running mutator until it has run).
const CHUNK: usize = 64;

/// The finalizer queue, as a stale reference taken from it is reported.
const QUEUE: &str = "the finalizer queue";

impl<B: Barrier> Mutator<B> {
    /// Go's `runtime.SetFinalizer(obj, f)`: when the collector finds `obj` unreachable, it
    /// resurrects it and queues `f`, which the heap's finalizer thread runs with a handle
    /// to the object (S34, S43). The object is freed by the first cycle that finds it
    /// unreachable after `f` has returned (two-cycle reclamation); `f` may store the object
    /// (resurrection, S47) or register a new finalizer on it.
    ///
    /// `f` cannot capture handles (they are not `Send`); managed references it needs go in
    /// an environment box ([`Mutator::set_finalizer_with`]).
    ///
    /// On a global or the zero-sized sentinel this is a silent no-op (S4, S52). A second
    /// finalizer at the same address is a fatal error, as in Go: the process prints
    /// `fatal error: runtime.SetFinalizer: finalizer already set` and exits with status 2
    /// (S10); clear it first.
    pub fn set_finalizer<F>(&self, obj: &Handle<'_, B>, f: F)
    where
        F: for<'m> FnOnce(Handle<'m, B>) + Send + 'static,
    {
        self.register_finalizer(obj, None, None, stored(move |h, _, _| f(h)));
    }

    /// [`Mutator::set_finalizer`] with an environment box: `env` is kept alive (traced) as
    /// long as the finalizer is registered or queued, and handed to `f` with the object.
    /// A box that reaches the object keeps it from ever being finalized (S49).
    pub fn set_finalizer_with<F>(&self, obj: &Handle<'_, B>, env: &Handle<'_, B>, f: F)
    where
        F: for<'m> FnOnce(Handle<'m, B>, Handle<'m, B>) + Send + 'static,
    {
        let call =
            stored(move |h, _, env: Option<Handle<'_, B>>| f(h, env.expect("the environment box")));
        self.register_finalizer(obj, None, Some(env), call);
    }

    /// A finalizer on an interior address (Go's `SetFinalizer(&s.field, f)`, S5): each
    /// data-word field may carry its own finalizer, which receives its own field (S50).
    /// A reference-slot field is Go's fatal `pointer not at beginning of allocated block`
    /// (its static type is not pointer-free).
    pub fn set_finalizer_at<F>(&self, field: &InteriorHandle<'_, B>, f: F)
    where
        F: for<'m> FnOnce(InteriorHandle<'m, B>) + Send + 'static,
    {
        let obj = field.object();
        if field.field() < obj.ptr_slots() {
            fatal("runtime.SetFinalizer: pointer not at beginning of allocated block");
        }
        let call = stored(move |h: Handle<'_, B>, field: Option<u32>, _| {
            f(h.interior(field.expect("an interior field") as usize))
        });
        self.register_finalizer(obj, Some(field.field() as u32), None, call);
    }

    /// Go's `runtime.SetFinalizer(obj, nil)`: removes the finalizer registered at exactly
    /// this address, if any (S6). It never starts the finalizer thread.
    pub fn clear_finalizer(&self, obj: &Handle<'_, B>) {
        self.remove_finalizer(obj, None);
    }

    /// Clears the finalizer registered on an interior field.
    pub fn clear_finalizer_at(&self, field: &InteriorHandle<'_, B>) {
        self.remove_finalizer(field.object(), Some(field.field() as u32));
    }

    fn register_finalizer(
        &self,
        obj: &Handle<'_, B>,
        field: Option<u32>,
        env: Option<&Handle<'_, B>>,
        call: Callback,
    ) {
        self.check_same_heap(obj);
        if let Some(e) = env {
            self.check_same_heap(e);
        }
        let span = obj.span();
        if span.kind() == SpanKind::Immortal {
            return; // S4, S52: globals and the zero-sized sentinel.
        }
        #[cfg(not(loom))]
        super::runner::ensure_runners(
            &self.core,
            |q| &q.finalizers,
            super::runner::RunnerPool {
                max: 1,
                standby: false,
                eager: true,
            },
            "gc-finalizer",
            finalizer_batch::<B>,
        );
        self.running(|| {
            let space = &self.core.space;
            space.ensure_swept(span);
            let special = Special {
                slot: obj.reference().slot() as u32,
                word: (obj.base() + field.unwrap_or(0) as usize) as u32,
                obj: obj.reference(),
                field,
                kind: SpecialKind::Finalizer,
                payload: Payload::Finalizer {
                    env: env.map(|e| e.reference()),
                    f: call,
                },
            };
            if span.specials.insert(special).is_err() {
                fatal("runtime.SetFinalizer: finalizer already set");
            }
            // S31: registered during a mark, the special shades its own roots. Go's
            // `addfinalizer` scans the object with `scanObject`, which counts it in the
            // mark's `bytesMarked` and scan work (`mark::special_roots`).
            if self.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
                use crate::mark::special_roots::scan_finalizer_object;
                let mut refs = Vec::new();
                let (bytes, work) = scan_finalizer_object(span, obj.reference().slot(), &mut refs);
                self.core.mark.count_finalizer_scan(bytes, work, false);
                refs.extend(env.map(|e| e.reference()));
                for r in refs {
                    self.record_shade(r);
                }
            }
            space
                .queues
                .finalizers
                .counters
                .registered
                .fetch_add(1, crate::sync::unmodelled::Ordering::Relaxed);
        });
    }

    fn remove_finalizer(&self, obj: &Handle<'_, B>, field: Option<u32>) {
        self.check_same_heap(obj);
        let span = obj.span();
        if span.kind() == SpanKind::Immortal {
            return;
        }
        let word = (obj.base() + field.unwrap_or(0) as usize) as u32;
        self.running(|| {
            let space = &self.core.space;
            space.ensure_swept(span);
            let removed = span.specials.with(|list| {
                let at = list
                    .iter()
                    .position(|s| s.word == word && s.kind == SpecialKind::Finalizer);
                at.map(|i| list.remove(i))
            });
            if removed.is_some() {
                space
                    .queues
                    .finalizers
                    .counters
                    .stopped
                    .fetch_add(1, crate::sync::unmodelled::Ordering::Relaxed);
            }
        });
    }

    /// Runs queued finalizers on this thread, one at a time, until the queue is empty,
    /// and returns how many ran: what the heap's finalizer thread does, for loom models
    /// and callers that step the collector themselves. Each finalizer runs in the
    /// blocking state (a finalizer that sleeps delays no pause); its heap accesses
    /// re-enter the running state. Under [`crate::CallbackPanic::Propagate`] a
    /// finalizer's panic unwinds out of this call, and the finalizers this call had
    /// taken and not started go back to the front of the queue (none is lost).
    pub fn run_finalizers(&self) -> usize {
        let queues = self.core.space.queues.clone();
        let q = &queues.finalizers;
        let policy = self.core.config.callback_panic;
        let mut ran = 0;
        loop {
            // Taking entries and rooting their objects is one step with respect to pauses.
            let (chunk, envs) = self.running(|| {
                let mut g = lock(&q.state);
                if g.exit {
                    return (Vec::new(), Vec::new());
                }
                let n = g.items.len().min(CHUNK);
                let mut items = Vec::with_capacity(n);
                g.items.take_front(n, &mut items);
                g.running += n;
                drop(g);
                let mut envs = Vec::new();
                let chunk = items
                    .into_iter()
                    .map(|e| {
                        let obj = self.take_queued(e.obj, QUEUE);
                        let env = e.env.map_or(NO_ENV, |r| {
                            envs.push(Some(self.take_queued(r, QUEUE)));
                            envs.len() as u32 - 1
                        });
                        Taken {
                            obj,
                            field: e.field,
                            env,
                            f: e.f,
                        }
                    })
                    .collect::<Vec<_>>();
                (chunk, envs)
            });
            if chunk.is_empty() {
                return ran;
            }
            let _finished = super::Finished(q, chunk.len());
            // Dropped before `_finished`: on a panic the chunk's rest is queued again first.
            let mut unstarted = Unstarted {
                m: self,
                rest: chunk.into_iter(),
                envs,
            };
            // One blocking section for the chunk: each finalizer's heap accesses (its
            // handle's drop, at least) re-enter the running state for themselves.
            self.blocking(|| {
                // Inside a finalizer for the whole chunk: between two, only this loop runs
                // (one thread-local push and pop a chunk, not one a finalizer).
                let _inside = InsideCallback::enter(self.core.id, Kind::Finalizer);
                // Shutdown (`exiting`): the rest of the chunk is neither run nor counted.
                ran += run_guarded_each(
                    policy,
                    Kind::Finalizer,
                    &q.counters,
                    &mut unstarted.rest,
                    |_| !q.exiting(),
                    |t| {
                        let env = take_env(&mut unstarted.envs, t.env);
                        let call = t.f.typed::<Box<dyn FinalizerCall<B>>>();
                        call.call(t.obj, t.field, env)
                    },
                );
            });
        }
    }

    /// Panics unless `h` belongs to this mutator's heap.
    pub(crate) fn check_same_heap(&self, h: &Handle<'_, B>) {
        if !self.same_heap(h.mutator()) {
            panic!("collector: the handle belongs to a different heap");
        }
    }
}

/// A finalizer a runner took: the object, the interior field, the environment box (its
/// index in the chunk's `envs`, or `NO_ENV`), the call. The box's handle is kept beside
/// the chunk, not in it: with it (136 bytes) each finalizer taken from the chunk was
/// copied by a `memcpy` call (about 29 instructions a finalizer, callgrind).
struct Taken<'m, B: Barrier> {
    obj: Handle<'m, B>,
    field: Option<u32>,
    env: u32,
    f: Callback,
}

/// `Taken::env` of a finalizer without an environment box.
const NO_ENV: u32 = u32::MAX;

/// The environment box at `i` of a chunk's `envs` (each is taken once), if any.
fn take_env<'m, B: Barrier>(envs: &mut [Option<Handle<'m, B>>], i: u32) -> Option<Handle<'m, B>> {
    if i == NO_ENV {
        return None;
    }
    envs[i as usize].take()
}

/// The finalizers of a runner's chunk that have not started. If a finalizer's panic
/// unwinds through the runner (`CallbackPanic::Propagate`), they go back to the front of
/// the queue, in order, so that the next runner runs them: the panic loses no other
/// finalizer, and the counters stay right.
struct Unstarted<'m, B: Barrier> {
    m: &'m Mutator<B>,
    rest: std::vec::IntoIter<Taken<'m, B>>,
    /// The environment boxes' handles of the whole chunk (`Taken::env`).
    envs: Vec<Option<Handle<'m, B>>>,
}

impl<B: Barrier> Drop for Unstarted<'_, B> {
    fn drop(&mut self) {
        if !crate::sync::unmodelled::thread::panicking() {
            return;
        }
        let rest = std::mem::take(&mut self.rest);
        let m = self.m;
        m.running(|| {
            let mut handles = Vec::with_capacity(rest.len());
            let mut entries = Vec::with_capacity(rest.len());
            for t in rest {
                let (h, field, f) = (t.obj, t.field, t.f);
                let env = take_env(&mut self.envs, t.env);
                let (obj, env_ref) = (h.reference(), env.as_ref().map(|e| e.reference()));
                // From this mutator's roots back to the queue's: during a mark the queue
                // may have been scanned already, so the objects are shaded (as at the take).
                m.shade_if_marking(obj);
                env_ref.inspect(|&e| m.shade_if_marking(e));
                entries.push(QueuedFinalizer {
                    obj,
                    field,
                    env: env_ref,
                    f,
                });
                handles.push((h, env));
            }
            m.core
                .space
                .queues
                .finalizers
                .requeue_front(entries.into_iter());
            // The handles go only now that the queue roots their objects again.
            drop(handles);
        });
    }
}

/// The finalizer thread's batch: a mutator for as long as finalizers are queued.
#[cfg(not(loom))]
fn finalizer_batch<B: Barrier>(
    core: &crate::sync::unmodelled::Arc<crate::core::HeapCore>,
    _role: super::runner::RunnerRole,
) {
    let m = Mutator::<B>::new(core.clone());
    m.run_finalizers();
}
