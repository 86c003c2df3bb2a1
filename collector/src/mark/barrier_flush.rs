//! A full write-barrier buffer, marked by the mutator that filled it (Go's `wbBufFlush1`,
//! `mwbbuf.go`, which runs on the mutator's M): each shaded reference has its mark bit
//! set there, on the mutator's thread and its time, and only the objects this flush
//! marked that have reference slots go on to the mark's grey pool for a marker to scan.
//! Go's mutator pays for its barrier's shading this way; a buffer handed whole to the
//! markers (the testbed before d447510) made them pay for it instead, and left the
//! mutator faster during a mark than Go's.
//!
//! Departures from Go 1.27, kept: Go puts the objects it greys on its P's own work buffer
//! (`gcw`), which reaches the shared queue only when full or disposed, where this flush
//! publishes to the shared grey pool at once; Go 1.27's Green Tea marking defers most
//! small objects to their span (`tryDeferToSpanScan`) where the testbed marks objects;
//! Go's buffer holds 512 entries, nils included, and flushes every 256 stores, where the
//! testbed's holds 256 non-null references (`mark::pool::BATCH`); and the buffers that
//! a flush handshake, mark termination or an assist takes (Go's `forEachP` and
//! `gcDrainN` flush them on their P) still go whole to the markers' shaded pool.
//!
//! Invariant: when the flush returns, every reference the buffer held that names a heap
//! object is marked (a global is a root, a stale reference counted bad), every object it
//! newly marked that has reference slots is in the grey pool, its counts are in the
//! mark's ledger, and the buffer is empty with its capacity kept. It runs on a running
//! mutator, from a store or shade made while marking was on, so never across a pause:
//! mark termination's flush handshake waits for it to end, and the termination pause's
//! recheck of the pools sees what it put. That, not the look at the pools and
//! `MarkState::busy` (in which the flush is counted while it runs, by a guard that also
//! drops on unwinding), is what keeps its grey objects from being missed: a look that
//! reads the count before the flush enters and the pools before it publishes can see
//! "no work", and only wakes the coordinator early.

use crate::heap::Space;
use crate::mark::pool::{Batch, DefaultPool};
use crate::mark::state::{Busy, MarkState};
use crate::mark::Marker;

/// Marks the references of `buffer` (a mutator's full barrier buffer; see the module
/// documentation) with a [`Marker`] of the grey pool, which publishes what it greyed at
/// the end (as one marker alone: it hands nothing over on the way), leaving the buffer
/// empty. Under loom, `drop_grey` is the `flush_drops_grey` fault.
pub(crate) fn grey_barrier_buffer(
    space: &Space,
    shaded: &DefaultPool,
    state: &MarkState,
    buffer: &mut Batch,
    #[cfg(loom)] drop_grey: bool,
) {
    let busy = Busy::enter(&state.busy);
    let mut m = Marker::new(space, &state.grey, shaded, &state.busy, 1);
    for r in buffer.drain(..) {
        m.mark(r);
    }
    #[cfg(loom)]
    if drop_grey {
        m.discard();
    }
    m.publish();
    drop(busy);
    if m.marked_objects | m.bad_refs != 0 {
        state.record(m.marked_objects, m.marked_bytes, m.bad_refs);
    }
}
