//! Epoch-based reclamation: memory that other threads may still be reading is freed only
//! after every thread that could have reached it has left its critical section.
//!
//! A reader pins a [`Domain`] for as long as it holds a reference obtained from a shared
//! structure; a writer unlinks an object (so that no reader that pins afterwards can reach
//! it) and hands it to [`Guard::defer_drop`], which drops it once every guard pinned before
//! the unlink has been dropped.
//!
//! In normal builds this is crossbeam-epoch's process-wide collector (`crossbeam_epoch::pin`,
//! `Guard::defer_unchecked`). Under `--cfg loom`, where crossbeam-epoch's own loom support
//! would need `--cfg crossbeam_loom` across the whole build, it is a small epoch scheme of
//! loom atomics with crossbeam's shape (a global epoch, each pin publishing the epoch it
//! read followed by a SeqCst fence, a retired object tagged with the epoch at its unlink
//! and dropped once no pin at or before that epoch remains), so loom checks the
//! unlink-then-defer protocol of its callers. What the loom scheme does not model is
//! crossbeam's own implementation (its bags, its global queue and its epoch advance).
//!
//! Invariant: a deferred object is dropped only after every `Guard` of its domain that
//! was pinned before the call that deferred it has been dropped; so a reference a reader
//! obtained under a guard, from a structure whose writer unlinks before deferring, stays
//! valid until that guard is dropped. A `Guard` is neither `Send` nor `Sync`. Nothing is
//! deferred on an inert domain (asserted under loom, where its pins do nothing).

use std::marker::PhantomData;

/// A reclamation domain: what readers pin.
pub(crate) struct Domain {
    #[cfg(loom)]
    state: loom_epoch::State,
}

/// A pinned critical section of a [`Domain`]: what it guards stays allocated until it is
/// dropped.
pub(crate) struct Guard<'d> {
    #[cfg(not(loom))]
    inner: crossbeam_epoch::Guard,
    #[cfg(loom)]
    slot: usize,
    #[cfg(loom)]
    domain: &'d Domain,
    _pins: PhantomData<(&'d Domain, *const ())>,
}

impl Domain {
    /// A domain (normal builds: a handle on crossbeam-epoch's process-wide collector).
    pub(crate) fn new() -> Domain {
        Domain {
            #[cfg(loom)]
            state: loom_epoch::State::new(true),
        }
    }

    /// A domain whose owner never defers anything (normal builds: as [`Domain::new`]).
    /// Under loom its pins do nothing, so that models of a heap that never retires a span
    /// do not explore the pins' interleavings, which guard nothing there.
    pub(crate) fn inert() -> Domain {
        Domain {
            #[cfg(loom)]
            state: loom_epoch::State::new(false),
        }
    }

    /// Pins the calling thread until the guard is dropped. Pins nest.
    #[inline]
    pub(crate) fn pin(&self) -> Guard<'_> {
        Guard {
            #[cfg(not(loom))]
            inner: crossbeam_epoch::pin(),
            #[cfg(loom)]
            slot: self.state.pin(),
            #[cfg(loom)]
            domain: self,
            _pins: PhantomData,
        }
    }
}

impl Guard<'_> {
    /// Whether this guard pins `domain` (normal builds: one process-wide domain).
    pub(crate) fn pins(&self, domain: &Domain) -> bool {
        #[cfg(loom)]
        return std::ptr::eq(self.domain, domain);
        #[cfg(not(loom))]
        {
            let _ = domain;
            true
        }
    }

    /// Drops `Box::from_raw(p)` once every guard pinned before this call is dropped.
    ///
    /// # Safety
    /// `p` came from `Box::into_raw`, is passed here once, and is already unreachable to a
    /// reader that pins after this call (its owner unlinked it first).
    pub(crate) unsafe fn defer_drop<T: Send + 'static>(&self, p: *mut T) {
        let owned = Owned(p);
        #[cfg(not(loom))]
        {
            // SAFETY: crossbeam runs the closure once, after every thread pinned now has
            // unpinned; by this function's contract no later pin can reach `p`, and `T` is
            // `Send`, so dropping it on whichever thread runs the closure is sound.
            unsafe { self.inner.defer_unchecked(move || owned.drop_now()) };
            // Hands the deferred drop to the global queue at once, so that it does not wait
            // for this thread's local bag to fill.
            self.inner.flush();
        }
        #[cfg(loom)]
        self.domain.state.defer(Box::new(move || owned.drop_now()));
    }
}

#[cfg(loom)]
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.domain.state.unpin(self.slot);
    }
}

#[cfg(loom)]
impl Domain {
    /// Runs every deferred drop now (`&mut self`: no guard is pinned).
    pub(crate) fn drain(&mut self) {
        self.state.drain();
    }
}

/// A boxed object handed to a deferred drop.
struct Owned<T>(*mut T);

// SAFETY: `Owned` is only made by `defer_drop`, whose caller gives up the object, which is
// `Send`; nothing else reads the pointer.
unsafe impl<T: Send> Send for Owned<T> {}

impl<T> Owned<T> {
    fn drop_now(self) {
        // SAFETY: `defer_drop`'s contract: from `Box::into_raw`, passed once, and the grace
        // period is over, so no reader holds a reference into it.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// The loom stand-in for crossbeam-epoch (see the module header).
#[cfg(loom)]
mod loom_epoch {
    use crate::sync::{atomic_fence, lock, AtomicUsize, Mutex, Ordering::*};

    /// Concurrent pins a loom model may hold (loom runs at most 5 threads).
    const SLOTS: usize = 8;

    type Deferred = Box<dyn FnOnce() + Send>;

    pub(super) struct State {
        /// False for an inert domain: pins do nothing and nothing may be deferred.
        active: bool,
        epoch: AtomicUsize,
        /// 0: free; `e + 1`: pinned at epoch `e`.
        pins: [AtomicUsize; SLOTS],
        deferred: Mutex<Vec<(usize, Deferred)>>,
    }

    impl State {
        pub(super) fn new(active: bool) -> State {
            State {
                active,
                epoch: AtomicUsize::new(0),
                pins: std::array::from_fn(|_| AtomicUsize::new(0)),
                deferred: Mutex::new(Vec::new()),
            }
        }

        /// Claims a free slot, publishing the epoch read (crossbeam's `pin`: the local
        /// epoch stored, then a SeqCst fence before any read of the shared structure).
        pub(super) fn pin(&self) -> usize {
            if !self.active {
                return usize::MAX;
            }
            let e = self.epoch.load(Relaxed);
            for (i, p) in self.pins.iter().enumerate() {
                if p.compare_exchange(0, e + 1, Relaxed, Relaxed).is_ok() {
                    atomic_fence(SeqCst);
                    return i;
                }
            }
            panic!("epoch: more than {SLOTS} pins at once under loom");
        }

        pub(super) fn unpin(&self, slot: usize) {
            if slot == usize::MAX {
                return;
            }
            self.pins[slot].store(0, Release);
            self.collect();
        }

        /// Tags `f` with the epoch after the unlink its caller made, advancing the epoch.
        pub(super) fn defer(&self, f: Deferred) {
            assert!(self.active, "epoch: a drop deferred on an inert domain");
            // The unlink (before this call) is ordered before the epoch read by the fence:
            // a pin that saw the object published its epoch before the unlink.
            atomic_fence(SeqCst);
            let e = self.epoch.fetch_add(1, AcqRel);
            lock(&self.deferred).push((e, f));
            self.collect();
        }

        /// Runs the deferred drops whose epoch no pin at or before it still holds.
        fn collect(&self) {
            atomic_fence(SeqCst);
            let oldest = self
                .pins
                .iter()
                .map(|p| p.load(Acquire))
                .filter(|&v| v != 0)
                .map(|v| v - 1)
                .min();
            let ready: Vec<Deferred> = {
                let mut d = lock(&self.deferred);
                let (ready, kept) = std::mem::take(&mut *d)
                    .into_iter()
                    .partition(|&(e, _)| oldest.is_none_or(|o| o > e));
                *d = kept;
                ready.into_iter().map(|(_, f)| f).collect()
            };
            for f in ready {
                f();
            }
        }
    }

    impl State {
        pub(super) fn drain(&mut self) {
            for (_, f) in std::mem::take(&mut *lock(&self.deferred)) {
                f();
            }
        }
    }

    impl Drop for State {
        fn drop(&mut self) {
            self.drain();
        }
    }
}
