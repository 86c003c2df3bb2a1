//! What the sweep does with the specials of an object the mark left unmarked (S34), as
//! Go's `mspan.sweep` does with `specials` before it frees anything: an object with a
//! finalizer is resurrected for one more cycle and its finalizers are queued; an object
//! without one has its cleanups queued; either way its weak handles are cleared first.
//!
//! A test-only switch (`HeapConfig::planted_bug`) breaks S48 or S34 here, for the
//! differential test's negative controls.
//!
//! Invariant: called by whoever sweeps the span, which owns it until the sweep ends, and
//! before any of its slots is freed; every special of a dead object leaves the span's
//! list exactly once (queued, cleared, or kept on the resurrected object), and the list
//! stays sorted.

use super::span::Span;
use super::specials::{Payload, Special, SpecialKind};
use super::Space;
use crate::callbacks::queue::{QueuedCleanup, QueuedFinalizer};
use crate::config::PlantedBug::{
    CleanupBesideFinalizer as CleanupBeside, WeakClearedAfterFinalizer as WeakAfter,
};

/// Handles the specials of `span`'s unmarked objects before the span is swept (S34):
/// resurrects objects with finalizers (setting their mark bits) and queues their
/// finalizers; queues the cleanups of objects without; clears their weak handles. Called
/// by whoever sweeps the span, which owns it until the sweep ends.
pub(crate) fn sweep_specials(span: &Span, space: &Space) {
    let queues = &*space.queues;
    #[cfg(loom)]
    let resurrect = !space.faults.no_resurrection;
    #[cfg(not(loom))]
    let resurrect = true;
    if !span.specials.any() {
        return;
    }
    let planted = |bug| space.planted_bug == Some(bug);
    let mut finalizers = Vec::new();
    let mut cleanups = Vec::new();
    span.specials.with(|list| {
        // Sized once: in a bulk release most of a span's specials are queued.
        cleanups.reserve(list.len());
        let mut old = std::mem::take(list).into_iter().peekable();
        let mut group = Vec::new();
        while let Some(first) = old.next() {
            let slot = first.slot;
            group.clear();
            group.push(first);
            while let Some(s) = old.next_if(|s| s.slot == slot) {
                group.push(s);
            }
            let slot = slot as usize;
            if !span.is_allocated(slot) || span.is_marked(slot) {
                list.append(&mut group);
                continue;
            }
            let has_finalizer = group.iter().any(|s| s.kind == SpecialKind::Finalizer);
            if has_finalizer && resurrect {
                // Resurrect for this cycle: its referents were marked by its finalizer
                // special's scan (S28), so the whole subgraph survives.
                span.try_mark(slot);
            }
            for s in group.drain(..) {
                match s.payload {
                    Payload::Finalizer { env, f } => finalizers.push(QueuedFinalizer {
                        obj: s.obj,
                        field: s.field,
                        env,
                        f,
                    }),
                    Payload::Weak(cell) if !(has_finalizer && planted(WeakAfter)) => cell.clear(),
                    Payload::Cleanup { env, f, .. } if !has_finalizer || planted(CleanupBeside) => {
                        cleanups.push(QueuedCleanup { env, f })
                    }
                    payload => list.push(Special { payload, ..s }),
                }
            }
        }
    });
    queues.finalizers.push_batch(finalizers);
    queues.cleanups.push_batch(cleanups);
}
