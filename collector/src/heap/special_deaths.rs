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
///
/// Specials that stay (those of live objects, and a finalized object's cleanups) are not
/// moved: the list is read once to find the dead objects with a finalizer, and what goes
/// is taken out of it in one more pass (`Vec::extract_if`), in list order. When the
/// first pass finds every special's object dead and either no finalizer among them or
/// only finalizers (so nothing is kept beside a finalizer: the benchmarks' spans whose
/// objects all died), the second pass takes the whole list instead, without asking each
/// special again whether its object is dead (callgrind, cleanupbench: 112 -> 81
/// instructions a cleanup). Other lists whose specials all go (a finalizer on one dead
/// object, a cleanup on another) take the `extract_if` pass, with the same result.
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
    let (weak_after, cleanup_beside) = (planted(WeakAfter), planted(CleanupBeside));
    // Read before any resurrection below sets a mark bit.
    let dead = |slot: u32| span.is_allocated(slot as usize) && !span.is_marked(slot as usize);
    let mut finalizers = Vec::new();
    let mut cleanups = Vec::new();
    span.specials.with(|list| {
        // The dead objects with a finalizer, in slot order (the list is sorted by word,
        // so by slot), and how many specials of dead objects there are.
        let mut finalized: Vec<u32> = Vec::new();
        let (mut dying, mut with_finalizer) = (0, 0);
        for s in list.iter().filter(|s| dead(s.slot)) {
            dying += 1;
            if s.kind == SpecialKind::Finalizer {
                with_finalizer += 1;
                if finalized.last() != Some(&s.slot) {
                    finalized.push(s.slot);
                }
            }
        }
        if dying == 0 {
            return;
        }
        finalizers.reserve(with_finalizer);
        cleanups.reserve(dying - with_finalizer);
        // Every special goes: all are of dead objects, and either none of those has a
        // finalizer (nothing is resurrected) or all the specials are finalizers.
        let all_go = dying == list.len() && (with_finalizer == 0 || with_finalizer == dying);
        let mut next = finalized.iter().copied().peekable();
        let goes = |s: &mut Special| {
            if !dead(s.slot) {
                return false;
            }
            while next.next_if(|&f| f < s.slot).is_some() {}
            let has_finalizer = next.peek() == Some(&s.slot);
            match s.payload {
                Payload::Finalizer { .. } => true,
                Payload::Weak(_) => !(has_finalizer && weak_after),
                Payload::Cleanup { .. } => !has_finalizer || cleanup_beside,
            }
        };
        if all_go {
            for s in std::mem::take(list) {
                gone(s, &mut finalizers, &mut cleanups);
            }
        } else {
            for s in list.extract_if(.., goes) {
                gone(s, &mut finalizers, &mut cleanups);
            }
        }
        if resurrect {
            // Resurrected for this cycle: their referents were marked by their finalizer
            // specials' scan (S28), so the whole subgraph survives.
            for &slot in &finalized {
                span.try_mark(slot as usize);
            }
            // The mark counted each scannable one without marking it: now in memory.
            if !span.noscan() {
                space.counted_resident(finalized.len() * span.slot_bytes());
            }
        }
    });
    queues.finalizers.push_batch(finalizers);
    queues.cleanups.push_batch(cleanups);
}

/// What becomes of a special that leaves a dead object: a finalizer or a cleanup is
/// queued, a weak handle cleared. (Inlined into both of the sweep's loops: called through
/// a closure, each special was moved once more, 17 instructions.)
#[inline(always)]
fn gone(s: Special, finalizers: &mut Vec<QueuedFinalizer>, cleanups: &mut Vec<QueuedCleanup>) {
    match s.payload {
        Payload::Finalizer { env, f } => finalizers.push(QueuedFinalizer {
            obj: s.obj,
            field: s.field,
            env,
            f,
        }),
        Payload::Weak(cell) => cell.clear(),
        Payload::Cleanup { env, f, .. } => cleanups.push(QueuedCleanup { env, f }),
    }
}
