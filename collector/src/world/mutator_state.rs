//! The parts of a mutator that the collector reads: its root table, allocation cache and
//! write-barrier buffer, and the handshake requests it has to serve.
//!
//! Invariant: the owning thread touches the cells only while its mutator is *running*;
//! the collector touches them only with an [`Exclusive`] proof that the owner is not
//! running — the whole world stopped, or the mutator blocked and held by a claim — or the
//! owner itself through [`Owner`]. The world lock's acquire/release orders the two sides.
//! One exception: the blocked owner may empty a slot of its root table through a shared
//! reference with an atomic store (`RootTable::clear_shared`, a handle dropped while
//! blocked), while the collector reads the table through its own shared reference; the
//! table's vectors change only under the rule above. This is the access protocol every
//! `unsafe` block on these cells relies on.

use crate::heap::cache::AllocCache;
use crate::heap::Space;
use crate::mark::pool::{DefaultPool, GreyPool};
use crate::object::Ref;
use crate::sync::{AtomicBool, AtomicU32, Ordering::*, UnsafeCell};
use crate::world::roots::RootTable;

/// Handshake request: scan your roots (hand them to the collector as shaded references).
pub(crate) const REQ_SCAN: u32 = 1;
/// Handshake request: hand your write-barrier buffer to the collector.
pub(crate) const REQ_FLUSH: u32 = 2;

/// Exclusive access to some mutators' private state (roots, cache, barrier buffer): the
/// whole world stopped, one blocked mutator held, or the running owner itself.
pub(crate) trait Exclusive {
    /// Whether this access covers `m`.
    fn covers(&self, m: &MutatorShared) -> bool;
}

/// The owning thread's access to its own mutator's private state, while running.
pub(crate) struct Owner<'a>(pub(crate) &'a MutatorShared);

impl Exclusive for Owner<'_> {
    fn covers(&self, m: &MutatorShared) -> bool {
        std::ptr::eq(self.0, m)
    }
}

/// The parts of a mutator the collector reads during a handshake.
pub(crate) struct MutatorShared {
    /// A heap-unique id, for diagnostics.
    pub(crate) id: usize,
    /// The handles (roots). Owner-only while running, but for the blocked owner's
    /// atomic clear of a slot (module invariant).
    pub(crate) roots: UnsafeCell<RootTable>,
    /// The allocation cache. Owner-only while running (module invariant).
    pub(crate) cache: UnsafeCell<AllocCache>,
    /// The write-barrier buffer (Go's `wbBuf`): references the barrier shaded, not yet
    /// handed to the collector. Owner-only while running (module invariant).
    pub(crate) wbuf: UnsafeCell<Vec<Ref>>,
    /// Whether this cycle's mark has scanned this mutator's roots (the hybrid barrier
    /// shades new values until then).
    pub(crate) roots_scanned: AtomicBool,
    /// Handshake requests (`REQ_*`) the collector is waiting for this mutator to serve.
    pub(crate) requests: AtomicU32,
    /// How deep the owner is in `Mutator::blocking` (0: running). Owner-only: read and
    /// written only on the owning thread — by the mutator, and by the thread-exit hook
    /// (`World::thread_exited`, a thread-local destructor running on that thread), which
    /// raises it so that any later use of a forgotten mutator re-enters the running state
    /// through the world, as a use inside `blocking` does. The collector never reads it.
    pub(crate) blocking_depth: std::cell::Cell<u32>,
    /// How deep the owner is in `Mutator::scope` (0: in none). Owner-only, as
    /// `blocking_depth`: read by the owner's thread when it waits for another heap's
    /// collector (`this_thread::try_block_others` blocks none while one is inside a scope:
    /// its `Gc` references are not roots, so it must not count as blocked).
    pub(crate) scope_depth: std::cell::Cell<u32>,
}

// SAFETY: the cells are touched by the owning thread only while it is running (but for
// the blocked owner's atomic clear of a root slot through a shared reference, which the
// collector's shared reads tolerate), and by the collector only with an `Exclusive` proof
// (no mutator running, or this one held while blocked); the world lock's acquire/release
// orders the two. `blocking_depth` and
// `scope_depth` are touched only on the owning thread.
unsafe impl Send for MutatorShared {}
// SAFETY: as for `Send`.
unsafe impl Sync for MutatorShared {}

impl MutatorShared {
    /// A new mutator's state: no roots, an empty cache and buffer, no requests.
    pub(crate) fn new(id: usize) -> MutatorShared {
        MutatorShared {
            id,
            roots: UnsafeCell::new(RootTable::default()),
            cache: UnsafeCell::new(AllocCache::new()),
            wbuf: UnsafeCell::new(Vec::new()),
            roots_scanned: AtomicBool::new(false),
            requests: AtomicU32::new(0),
            blocking_depth: std::cell::Cell::new(0),
            scope_depth: std::cell::Cell::new(0),
        }
    }

    /// Calls `f` on the mutator's root table; `w` proves the owner is not running.
    pub(crate) fn roots_stopped<R>(
        &self,
        w: &impl Exclusive,
        f: impl FnOnce(&RootTable) -> R,
    ) -> R {
        assert!(
            w.covers(self),
            "collector: exclusive access to the wrong mutator"
        );
        // SAFETY: `w` proves exclusive access (module invariant).
        self.roots.with(|r| f(unsafe { &*r }))
    }

    /// Every reference the mutator's handles hold; `w` proves the owner is not running.
    pub(crate) fn root_refs(&self, w: &impl Exclusive) -> Vec<Ref> {
        self.roots_stopped(w, |t| t.iter().map(|(_, r)| r).collect())
    }

    /// Hands the mutator's write-barrier buffer to `shaded` (the markers mark it) and
    /// leaves one of that pool's spare batches in its place (the markers give it the
    /// batches they empty), so the buffer does not grow again from nothing; an empty
    /// buffer stays where it is. Returns whether there was anything to hand over. `w`
    /// proves exclusive access.
    pub(crate) fn hand_over_wbuf_stopped(&self, w: &impl Exclusive, shaded: &DefaultPool) -> bool {
        assert!(
            w.covers(self),
            "collector: exclusive access to the wrong mutator"
        );
        let full = self.wbuf.with_mut(|b| {
            // SAFETY: `w` proves exclusive access (module invariant).
            let b = unsafe { &mut *b };
            (!b.is_empty()).then(|| std::mem::replace(b, shaded.buffers().batches.take()))
        });
        match full {
            Some(batch) => {
                shaded.put(batch);
                true
            }
            None => false,
        }
    }

    /// Empties the mutator's allocation cache into `space`; `w` proves exclusive access.
    pub(crate) fn flush_cache_stopped(&self, w: &impl Exclusive, space: &Space) {
        assert!(
            w.covers(self),
            "collector: exclusive access to the wrong mutator"
        );
        // SAFETY: `w` proves exclusive access (module invariant).
        self.cache
            .with_mut(|c| unsafe { &mut *c }.flush(|s| space.uncache(s)));
    }

    /// Serves the pending handshake requests (`w` gives access: the running owner, or the
    /// collector holding this mutator blocked), handing roots and barrier buffer to
    /// `shaded`. Returns whether there was anything to serve.
    pub(crate) fn serve_requests(&self, w: &impl Exclusive, shaded: &DefaultPool) -> bool {
        let req = self.requests.swap(0, AcqRel);
        if req == 0 {
            return false;
        }
        if req & REQ_SCAN != 0 {
            shaded.put(self.root_refs(w));
            self.roots_scanned.store(true, Release);
        }
        self.hand_over_wbuf_stopped(w, shaded);
        true
    }
}
