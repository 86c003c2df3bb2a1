//! The write barrier as mutators apply it: the store's fast path, the slow path that
//! shades what the heap's barrier policy (`crate::barrier`) names, and the per-mutator
//! buffer that carries shaded references to the mark (Go's `wbBuf`, `mbarrier.go`).
//!
//! Invariant: while `FLAG_MARKING` is set, every reference store made by a running
//! mutator shades what `B::shade` returns before the new value is visible, and every
//! shaded reference reaches the mark before mark termination ends it: through a full
//! buffer marked at once by its mutator (`mark::barrier_flush`, Go's `wbBufFlush1`), a
//! flush handshake (`REQ_FLUSH`), or the termination pause's flush. With every flag
//! clear the fast path reads two words (the blocking depth and the flags) and branches;
//! `NoBarrier` (`B::SHADES == false`) never takes the slow path's shading.

use super::handle::{dead_panic, foreign_panic, Handle};
use super::Mutator;
use crate::barrier::Barrier;
use crate::mark::barrier_flush::grey_barrier_buffer;
use crate::mark::pool::BATCH;
use crate::object::Ref;
use crate::sync::{unmodelled, AtomicUsize, Ordering::*};
use crate::world::FLAG_MARKING;

/// Slow paths a mutator counts before it adds them to the heap's count.
const SLOW_PATH_FLUSH: u64 = 1024;

/// Stores reference word `new` into `word`. Under loom it is a swap: there the
/// collector's racy reads of heap words are read-modify-writes (`mark::load_racy`), and
/// loom places a read-modify-write after only those stores its thread has seen, so a
/// plain store racing with one could be overwritten by the value it replaced (a lost
/// store that hardware, with one modification order per word, never shows).
#[inline(always)]
pub(super) fn store_ref(word: &AtomicUsize, new: usize) {
    #[cfg(loom)]
    word.swap(new, Release);
    #[cfg(not(loom))]
    word.store(new, Release);
}

impl<B: Barrier> Handle<'_, B> {
    /// Stores `value` (or null) into reference slot `slot`. Panics if the slot is out of
    /// range, `value` belongs to another heap, or `value`'s object has been freed.
    #[inline(always)]
    pub fn set(&self, slot: usize, value: Option<&Handle<'_, B>>) {
        let word = self.ptr_word(slot);
        let new = match value {
            None => 0,
            Some(v) => {
                if !self.m.same_heap(v.m) {
                    foreign_panic();
                }
                if v.span.meta(v.r.slot()).is_none() {
                    dead_panic(v.r);
                }
                v.r.word()
            }
        };
        // The barrier's fast path: running (not inside `blocking`) and no flag set
        // (marking off, no pause or handshake requested): two loads and a branch. The rest
        // is out of line, so the fast path saves no registers and inlines into the caller.
        if self.m.shared.blocking_depth.get() == 0 && self.m.core.flags.load(Relaxed) == 0 {
            store_ref(word, new);
            return;
        }
        self.set_outlined(word, new);
    }

    /// [`Handle::set`] inside `blocking`, or with a flag set. The flag test belongs inside
    /// the running section: inside `blocking`, entering it may wait out the pause that
    /// turns marking on, and a test made before that pause would skip the barrier.
    #[cold]
    #[inline(never)]
    fn set_outlined(&self, word: &AtomicUsize, new: usize) {
        self.m.running(|| {
            if self.m.core.flags.load(Relaxed) != 0 {
                return self.set_slow(word, new);
            }
            store_ref(word, new);
        });
    }

    /// The barrier's slow path (also taken while a pause or handshake is requested);
    /// the caller is running.
    #[cold]
    #[inline(never)]
    fn set_slow(&self, word: &AtomicUsize, new: usize) {
        self.check_flags();
        if B::SHADES && self.m.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
            self.m.shade_for_store(word.load(Acquire), new);
        }
        store_ref(word, new);
    }
}

impl<B: Barrier> Mutator<B> {
    /// The write barrier's slow path: records the references `B` says to shade for a
    /// store of `new` over `old` (marking is on; the caller is running).
    #[cold]
    #[inline(never)]
    pub(crate) fn shade_for_store(&self, old: usize, new: usize) {
        let n = self.slow_paths.get() + 1;
        self.slow_paths.set(n);
        if n >= SLOW_PATH_FLUSH {
            self.flush_slow_paths();
        }
        let scanned = self.shared.roots_scanned.load(Acquire);
        #[allow(unused_mut)]
        let mut shade = B::shade(old, new, scanned);
        #[cfg(loom)]
        {
            // The negative controls' faults: each drops one half of what `B` names.
            let faults = &self.core.config.faults;
            if faults.unshaded_old {
                shade[0] = 0;
            }
            if faults.unshaded_new {
                shade[1] = 0;
            }
        }
        for w in shade {
            if let Some(r) = Ref::from_word(w) {
                self.record_shade(r);
            }
        }
    }

    /// Adds this mutator's barrier slow-path count to the heap's.
    pub(super) fn flush_slow_paths(&self) {
        let n = self.slow_paths.replace(0);
        if n > 0 {
            self.core
                .telemetry
                .barrier_slow_paths
                .fetch_add(n, unmodelled::Ordering::Relaxed);
        }
    }

    /// Records `r` in the write-barrier buffer (shaded for the running mark; the caller
    /// is running, with marking on). A full buffer is marked here, on this thread, as
    /// Go's mutator flushes its `wbBuf` (`mark::barrier_flush`), and kept for the next
    /// references.
    pub(crate) fn record_shade(&self, r: Ref) {
        #[cfg(not(loom))]
        let capacity = BATCH;
        // The loom models' smaller buffer, so that a model reaches the flush.
        #[cfg(loom)]
        let capacity = match self.core.config.faults.wbuf_capacity {
            0 => BATCH,
            n => n,
        };
        let full = self.shared.wbuf.with_mut(|b| {
            // SAFETY: the buffer is owner-only while running, like the roots (`push_root`).
            let b = unsafe { &mut *b };
            b.push(r);
            b.len() >= capacity
        });
        if full {
            self.flush_full_buffer();
        }
    }

    /// Marks this mutator's full barrier buffer ([`Mutator::record_shade`]).
    #[cold]
    #[inline(never)]
    fn flush_full_buffer(&self) {
        let core = &*self.core;
        self.shared.wbuf.with_mut(|b| {
            // SAFETY: as in `record_shade`: owner-only while running, and nothing below
            // touches the buffer but through this reference.
            let buffer = unsafe { &mut *b };
            grey_barrier_buffer(
                &core.space,
                &core.shaded,
                &core.mark,
                buffer,
                #[cfg(loom)]
                core.config.faults.flush_drops_grey,
            )
        });
        // A worker or assist that looked for the mark's end while this flush was counted
        // busy did not wake the coordinator (Go's `gcEndWork`): look again.
        crate::mark::workers::wake_coordinator_if_complete(core);
    }

    /// Shades `r` if marking is on: a reference that reaches the mutator other than by a
    /// load the barrier covers (a weak pointer made strong, a queued callback taken) must
    /// not be lost by a mark that has already scanned this mutator's roots.
    pub(crate) fn shade_if_marking(&self, r: Ref) {
        if self.core.flags.load(Relaxed) & FLAG_MARKING != 0 {
            self.record_shade(r);
        }
    }
}
