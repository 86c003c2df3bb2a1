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
//! Invariant: `heap_peak` is the highest `heap_live - counted_unmarked` seen at any
//! update of either; `counted_unmarked` is set only at a cycle's end (a pause) and
//! only falls between two (the sweep's resurrections).

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

    /// `heap_live` less the mark's unmarked count not found resident: Go's `heapAlloc`
    /// as the memory-limit goal reads it, which has no second counts.
    pub(crate) fn heap_objects(&self) -> usize {
        let unmarked = self.counted_unmarked.load(Relaxed);
        self.heap_live().saturating_sub(unmarked)
    }

    pub(super) fn add_live(&self, bytes: usize) {
        self.heap_live.fetch_add(bytes, Relaxed);
        self.heap_peak.fetch_max(self.heap_objects(), Relaxed);
    }

    /// Sets the live byte count at a cycle's end (a pause), `counted_unmarked` of it
    /// counted by the mark without marking (left out of the peak until found resident).
    pub(crate) fn set_live(&self, bytes: usize, counted_unmarked: usize) {
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
        self.heap_peak.fetch_max(self.heap_objects(), Relaxed);
    }
}
