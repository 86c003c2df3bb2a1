//! A full write-barrier buffer, marked by the mutator that filled it (Go's `wbBufFlush1`,
//! `mwbbuf.go`): each shaded reference has its mark bit set there, on the mutator's
//! thread and its time, and only the objects this flush marked that have reference
//! slots go on to the mark's grey pool for a marker to scan. Go's mutator pays for its
//! barrier's shading this way; a buffer handed whole to the markers (the testbed before
//! this) would make them pay for it instead, and leave the mutator faster during a mark
//! than Go's.
//!
//! Invariant: when the flush returns, every reference the buffer held is marked, every
//! object it newly marked that has reference slots is in the grey pool, its counts are
//! in the mark's ledger, and the buffer is empty with its capacity kept. While it runs the
//! flush counts itself in `MarkState::busy`, so a look at the pools and the count never
//! sees "no work" while a marked, unscanned object is held only here. It runs only on a
//! running mutator while marking is on, so never across a pause: the termination pause's
//! recheck sees what it put.

use crate::heap::Space;
use crate::mark::pool::{Batch, GreyPool};
use crate::mark::state::MarkState;
use crate::mark::{mark_ref, Marked};
use crate::sync::Ordering::*;

/// Marks the references of `buffer` (a mutator's full barrier buffer; see the module
/// documentation), leaving it empty.
pub(crate) fn grey_barrier_buffer(space: &Space, state: &MarkState, buffer: &mut Batch) {
    state.busy.fetch_add(1, SeqCst);
    let (mut objects, mut bytes, mut bad) = (0, 0, 0);
    let mut grey: Option<Batch> = None;
    for r in buffer.drain(..) {
        match mark_ref(space, r) {
            Marked::Nothing => {}
            Marked::Bad => bad += 1,
            Marked::New { span, bytes: b } => {
                objects += 1;
                bytes += b;
                if !span.noscan() {
                    grey.get_or_insert_with(|| state.grey.buffers().batches.take())
                        .push(r);
                }
            }
        }
    }
    if let Some(batch) = grey {
        state.grey.put(batch);
    }
    state.busy.fetch_sub(1, SeqCst);
    state.record(objects, bytes, bad);
}
