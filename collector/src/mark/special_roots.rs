//! The roots that specials and the callback queues hold (S27–S30), and what scanning a
//! finalizer's object counts (Go's `markrootSpans` and `gcScanFinalizer`).
//!
//! Go scans the object of every finalizer special with `scanObject`, so that what the
//! finalizer can reach stays alive, but does not mark the object itself. `scanObject`
//! adds the object's size to the cycle's `bytesMarked` and its scanned bytes to the scan
//! work all the same (`mgcmark_greenteagc.go`, and `mgcmark_nogreenteagc.go` alike). So
//! Go's `heapMarked`, the base of the next goal, counts every scannable object with a
//! finalizer: an unreachable one once (sweep resurrects it, and it stays in the heap
//! until the cycle after its finalizer runs, S43), a reachable one twice (it is also
//! marked and scanned). [`special_refs`] passes those counts to its caller as it goes,
//! after every [`SPAN_ROOT_PAGES`] pages of spans (Go's root job for spans), for the
//! mark's ledger (`MarkState::count_finalizer_scan`), and a root scan banks each step as
//! credit. A departure that stands in for another: Go's worker flushes its span root
//! jobs' work only after its root jobs, but Go's assist does not wait for that, it takes
//! a root job itself (`gcDrainN` → `markroot`, at least `gcOverAssistWork` of work, and a
//! span root job is one unit) and pays its debt with that job's work; the testbed's
//! assists take no root jobs, so a parked one waits for about one job's worth of the GC
//! thread's scan, about what Go's spends doing one.
//!
//! Invariant: the references are what the specials and queues hold when read, never an
//! object a finalizer special is set on (S28); the counts passed on, summed, are the
//! scannable finalizer objects among the specials read, one object's slot bytes and
//! scanned words each, each object counted once.

use crate::heap::span::Span;
use crate::heap::Space;
use crate::mark::load_racy;
use crate::object::{Ref, WORD_BYTES};

/// The pages of spans one step of the root scan covers (Go's `pagesPerSpanRoot`: the
/// heap one root job for spans scans the specials of).
pub(crate) const SPAN_ROOT_PAGES: usize = 512;

/// The counts of finalizer objects scanned and not yet passed on.
#[derive(Default)]
struct Unpassed {
    /// Slot bytes (Go's `scanObject` adds them to `bytesMarked`, marked or not).
    bytes: u64,
    /// Scan work: their reference slots, in bytes, as `Marker::scan` counts an object's.
    work: u64,
}

impl Unpassed {
    /// Passes the counts to `count` (nothing if there are none) and starts again.
    fn pass(&mut self, count: &mut impl FnMut(u64, u64)) {
        if self.bytes > 0 || self.work > 0 {
            count(self.bytes, self.work);
        }
        *self = Unpassed::default();
    }
}

/// The roots that specials and the callback queues hold (S27–S30): for each finalizer,
/// what its object references (pointers back into the object itself excepted: a
/// self-pointer does not keep a finalized object alive, S28) and its environment box,
/// but not the object; for each cleanup, its environment box; for each queued
/// finalizer, its object and box; for each queued cleanup, its box. Finalizer objects
/// are scanned only with `scan_finalizer_objects` (false only for a loom negative
/// control); their bytes and scan work go to `count(bytes, work)` after every
/// [`SPAN_ROOT_PAGES`] pages of spans walked (between two spans, outside any span's
/// specials lock), and the rest at the end.
pub(crate) fn special_refs(
    space: &Space,
    scan_finalizer_objects: bool,
    mut count: impl FnMut(u64, u64),
) -> Vec<Ref> {
    use crate::heap::specials::Payload;
    let mut refs = Vec::new();
    let mut unpassed = Unpassed::default();
    let mut pages = 0;
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if pages >= SPAN_ROOT_PAGES {
            pages = 0;
            unpassed.pass(&mut count);
        }
        pages += span.pages;
        if !span.specials.any() {
            continue;
        }
        span.specials.with(|list| {
            for s in list.iter() {
                match &s.payload {
                    Payload::Finalizer { env, .. } => {
                        if scan_finalizer_objects {
                            let (bytes, work) =
                                scan_finalizer_object(span, s.slot as usize, &mut refs);
                            unpassed.bytes += bytes;
                            unpassed.work += work;
                        }
                        refs.extend(env);
                    }
                    Payload::Cleanup { env, .. } => refs.extend(env),
                    Payload::Weak(_) => {}
                }
            }
        });
    }
    unpassed.pass(&mut count);
    space.queues.finalizers.for_each(|q| {
        refs.push(q.obj);
        refs.extend(q.env);
    });
    space.queues.cleanups.for_each(|q| refs.extend(q.env));
    refs
}

/// Scans the object of a finalizer special, `slot` of `span`, as Go's `gcScanFinalizer`
/// does (from the root scan, or `addfinalizer` during a mark): appends its references
/// to `out` and returns the bytes and scan work Go's `scanObject` counts for it (both 0
/// for an object that is not scanned).
pub(crate) fn scan_finalizer_object(span: &Span, slot: usize, out: &mut Vec<Ref>) -> (u64, u64) {
    match object_refs_except_self(span, slot, out) {
        Some(words) => (span.slot_bytes() as u64, (words * WORD_BYTES) as u64),
        None => (0, 0),
    }
}

/// Appends what object `slot` of `span` references, leaving out references into itself.
/// Returns the reference slots scanned, or `None` for an object that is not scanned (a
/// pointer-free span's, or a slot with no metadata).
pub(crate) fn object_refs_except_self(
    span: &Span,
    slot: usize,
    out: &mut Vec<Ref>,
) -> Option<usize> {
    if span.noscan() {
        return None;
    }
    let meta = span.meta(slot)?;
    let base = span.slot_base(slot);
    for i in 0..meta.ptr_slots as usize {
        if let Some(r) = Ref::from_word(load_racy(span.word(base + i))) {
            if r.span() != span.index || r.slot() != slot {
                out.push(r);
            }
        }
    }
    Some(meta.ptr_slots as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::specials::{Callback, Payload, Special, SpecialKind};
    use crate::object::Shape;
    use crate::size_class::{class_for, SpanClass};
    use crate::sync::unmodelled::Ordering::Relaxed;

    /// fd-churn's object: one reference slot and 65 data words (a 576-byte slot).
    static FILE: Shape = Shape::new("file", 1, 65);

    /// A space of `spans` full spans of `FILE` objects, each with a finalizer. Returns
    /// the space and the objects.
    fn finalizable(spans: usize) -> (Space, usize) {
        let space = Space::new(8192);
        let mut objects = 0;
        for _ in 0..spans {
            let span = space.refill(SpanClass::new(class_for(576) as usize, false));
            for s in 0..span.nslots() {
                span.alloc_bits(s / 64).fetch_or(1 << (s % 64), Relaxed);
                span.set_meta(s, FILE.meta());
                let obj = Ref::new(span.index, s, 0);
                span.specials.with(|list| {
                    list.push(Special {
                        slot: s as u32,
                        word: (s * span.slot_bytes() / WORD_BYTES) as u32,
                        obj,
                        field: None,
                        kind: SpecialKind::Finalizer,
                        payload: Payload::Finalizer {
                            env: None,
                            f: Callback::plain(|| {}),
                        },
                    })
                });
                objects += 1;
            }
        }
        (space, objects)
    }

    /// A root scan passes its counts on in steps of `SPAN_ROOT_PAGES` pages of spans (Go's
    /// root job for spans), so that a parked assist's credit comes during the scan; the
    /// steps add up to every object once.
    #[test]
    fn the_counts_come_in_steps_of_a_span_root_job_and_add_up() {
        const SPANS: usize = 2100;
        let (space, objects) = finalizable(SPANS);
        let span_pages = space.span(0).unwrap().pages;
        let per_step = SPAN_ROOT_PAGES.div_ceil(span_pages);
        let mut steps = Vec::new();
        let refs = special_refs(&space, true, |bytes, work| steps.push((bytes, work)));
        assert!(refs.is_empty(), "dead objects with no references: {refs:?}");
        let slot = 576u64;
        let per_object = WORD_BYTES as u64;
        assert!(
            SPANS >= 4 * per_step,
            "{SPANS} spans of {span_pages} pages are enough"
        );
        assert_eq!(
            steps.iter().map(|s| s.0).sum::<u64>(),
            objects as u64 * slot
        );
        assert_eq!(
            steps.iter().map(|s| s.1).sum::<u64>(),
            objects as u64 * per_object
        );
        let per_span = (objects / SPANS) as u64 * per_object;
        let (last, whole) = steps.split_last().unwrap();
        assert!(whole.len() >= 4, "{steps:?}");
        // A step is one job's spans: the space's first may hold a span without specials.
        let job = per_step as u64 * per_span;
        for &(bytes, work) in whole {
            assert!((job - per_span..=job).contains(&work), "{steps:?}");
            assert_eq!(bytes, work / per_object * slot);
        }
        assert!(
            last.1 > 0 && last.1 <= per_step as u64 * per_span,
            "{steps:?}"
        );
        // Without the finalizer objects' scan (a loom control's fault) nothing is counted.
        let mut none = 0;
        special_refs(&space, false, |_, _| none += 1);
        assert_eq!(none, 0);
    }
}
