//! Verification, Go's `GODEBUG=gccheckmark=1`: after the mark, with the world stopped,
//! a second trace from the same roots into separate checkmark bits. Every object it
//! reaches must already be marked; one that is not was about to be freed while still
//! reachable — a lost object — and is reported with the edge that reached it. A
//! reference to a slot that was already freed (a stale reference, caught thanks to the
//! poison written into freed slots) is reported the same way.

use crate::heap::span::SpanKind;
use crate::mark::{for_each_global, load_racy};
use crate::mutator::world::Stopped;
use crate::mutator::HeapCore;
use crate::object::Ref;

/// Re-traces the heap; returns the number of lost objects found (each also recorded in
/// telemetry with its edge).
pub(crate) fn checkmark(core: &HeapCore, stopped: &Stopped<'_>, cycle: u64) -> u64 {
    let space = &core.space;
    for i in 0..space.table.len() {
        if let Some(span) = space.span(i) {
            span.clear_checkmarks();
        }
    }
    let mut lost = 0u64;
    let mut stack: Vec<Ref> = Vec::new();
    let mut visit = |r: Ref, from: &dyn Fn() -> String, stack: &mut Vec<Ref>| {
        let loc = match space.locate(r) {
            Ok(loc) => loc,
            Err(e) => {
                lost += 1;
                core.telemetry.record_lost(format!(
                    "cycle {cycle}: {} holds {r}, which names no live object ({e})",
                    from()
                ));
                return;
            }
        };
        if loc.span.kind() == SpanKind::Immortal {
            return;
        }
        let slot = r.slot();
        if !loc.span.try_checkmark(slot) {
            return;
        }
        if !loc.span.is_marked(slot) {
            lost += 1;
            core.telemetry.record_lost(format!(
                "cycle {cycle}: checkmark found unmarked object {r} ({} refs + {} words) reached from {}",
                loc.ptr_slots,
                loc.words - loc.ptr_slots,
                from()
            ));
        }
        if loc.ptr_slots > 0 {
            stack.push(r.block());
        }
    };
    for m in stopped.mutators() {
        m.roots_stopped(stopped, |t| {
            for (i, r) in t.iter() {
                visit(r, &|| format!("handle {i} of mutator {}", m.id), &mut stack);
            }
        });
    }
    for_each_global(space, |span, base, ptr_slots| {
        for k in 0..ptr_slots {
            if let Some(r) = Ref::from_word(load_racy(span.word(base + k))) {
                let g = Ref::new(span.index, base / span.elem_words().max(1), 0);
                visit(
                    r,
                    &|| format!("reference slot {k} of global {g}"),
                    &mut stack,
                );
            }
        }
    });
    while let Some(src) = stack.pop() {
        let Ok(loc) = space.locate(src) else { continue };
        for k in 0..loc.ptr_slots as usize {
            if let Some(r) = Ref::from_word(load_racy(loc.span.word(loc.base + k))) {
                visit(
                    r,
                    &|| format!("reference slot {k} of object {src}"),
                    &mut stack,
                );
            }
        }
    }
    lost
}
