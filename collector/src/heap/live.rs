//! The heap's live bytes (Go's `heapLive`) and the peak the workloads report.
//!
//! `heapLive` restarts at each mark termination from the bytes the mark counted (Go's
//! `bytesMarked`), which include, as Go's do, the finalizable objects it scanned without
//! marking them (`mark::special_roots`): an unreachable one, which the sweep resurrects
//! (really in memory until the cycle after its finalizer has run), and a reachable one a
//! second time (not in memory twice). The peak is of objects in memory, so it leaves out
//! the unmarked count until the sweep finds each such object resurrected; what is left of
//! it after the sweep is the second counts. It then grows with allocation, as
//! `heapLive` does (cached spans count whole).
//!
//! Go's `heapAlloc` (`totalAlloc - totalFree`), which the memory limit's goal reads, also
//! counts the dead objects a concurrent sweep has not freed yet: `unswept_dead`, set when
//! a sweep generation begins and taken down by every object that sweep frees and every
//! object it resurrects that the mark had counted. One it resurrects that the mark had
//! not counted (noscan) stays in it: in memory, and counted nowhere else.
//!
//! Invariant: `heap_peak` is the highest `heap_live - counted_unmarked` seen at any
//! update of either; `counted_unmarked` is set only at a cycle's end (a pause) and
//! only falls between two (the sweep's resurrections). `unswept_dead` is set only at a
//! cycle's end, before the sweep generation advances, and only falls between two.

use super::Space;
use crate::sync::Ordering::Relaxed;

impl Space {
    /// Heap bytes in use now (Go's `heapLive`).
    #[inline(always)]
    pub(crate) fn heap_live(&self) -> usize {
        self.heap_live.load(Relaxed)
    }

    /// The highest heap size seen (of objects in memory: `heap_live` less what the mark
    /// counted without marking and the sweep has not found resurrected).
    pub(crate) fn heap_peak(&self) -> usize {
        self.heap_peak.load(Relaxed)
    }

    /// `heap_live` less the mark's unmarked count not found resident: the objects in
    /// memory, with no second counts, less the dead ones an unfinished sweep has yet to
    /// free ([`Self::heap_alloc`] adds those).
    pub(crate) fn heap_objects(&self) -> usize {
        let unmarked = self.counted_unmarked.load(Relaxed);
        self.heap_live().saturating_sub(unmarked)
    }

    /// Go's `heapAlloc`: the objects in memory ([`Self::heap_objects`]) and the dead ones
    /// the sweep has yet to free. One difference: a cached span counts whole here, where
    /// Go's `totalAlloc` counts a cached span's new objects when its cache gives it back.
    pub(crate) fn heap_alloc(&self) -> usize {
        let dead = self.unswept_dead.load(Relaxed);
        self.heap_objects().saturating_add(dead)
    }

    /// A sweep generation begins (a pause, before the generation advances) with
    /// `objects_before` bytes of objects in memory (`heap_alloc`, which still counts an
    /// object the last sweep resurrected without the mark having counted it): what the
    /// mark's count leaves out of them is dead, for this sweep to free or resurrect.
    pub(super) fn begin_unswept_dead(&self, objects_before: usize) {
        let dead = objects_before.saturating_sub(self.heap_objects());
        self.unswept_dead.store(dead, Relaxed);
    }

    /// The sweep freed `bytes` of dead objects.
    pub(super) fn swept_dead(&self, bytes: usize) {
        let _ = self
            .unswept_dead
            .fetch_update(Relaxed, Relaxed, |d| Some(d.saturating_sub(bytes)));
    }

    pub(super) fn add_live(&self, bytes: usize) {
        self.heap_live.fetch_add(bytes, Relaxed);
        self.heap_peak.fetch_max(self.heap_objects(), Relaxed);
    }

    /// Sets the live byte count at a cycle's end (a pause), `counted_unmarked` of it
    /// counted by the mark without marking (left out of the peak until found resident).
    /// Nothing is left unswept: a sweep that counts dead objects sets them after this
    /// (`begin_unswept_dead`).
    pub(crate) fn set_live(&self, bytes: usize, counted_unmarked: usize) {
        self.unswept_dead.store(0, Relaxed);
        self.counted_unmarked.store(counted_unmarked, Relaxed);
        self.heap_live.store(bytes, Relaxed);
        self.heap_peak.fetch_max(self.heap_objects(), Relaxed);
    }

    /// The sweep resurrected `bytes` of objects the mark counted without marking: they
    /// are in memory, so in the peak from now on.
    pub(crate) fn counted_resident(&self, bytes: usize) {
        let _ = self
            .counted_unmarked
            .fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_sub(bytes)));
        self.swept_dead(bytes);
        self.heap_peak.fetch_max(self.heap_objects(), Relaxed);
    }
}
