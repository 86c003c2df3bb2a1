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
//! marked and scanned). [`SpecialRoots`] carries those counts beside the references, for
//! the mark's ledger (`MarkState::count_finalizer_scan`).
//!
//! Invariant: the references are what the specials and queues hold when read, never an
//! object a finalizer special is set on (S28); the counts are the scannable finalizer
//! objects among the specials read, one object's slot bytes and scanned words each.

use crate::heap::span::Span;
use crate::heap::Space;
use crate::mark::load_racy;
use crate::object::{Ref, WORD_BYTES};

/// What a scan of the specials and the callback queues found.
#[derive(Debug, Default)]
pub(crate) struct SpecialRoots {
    /// The references to mark.
    pub(crate) refs: Vec<Ref>,
    /// The slot bytes of the scannable objects whose finalizer specials were scanned
    /// (Go's `scanObject` adds them to `bytesMarked`, marked or not).
    pub(crate) finalizer_object_bytes: u64,
    /// The scan work of those objects' scans (their reference slots, in bytes, as
    /// `Marker::scan` counts an object's).
    pub(crate) scan_work: u64,
}

/// The roots that specials and the callback queues hold (S27–S30): for each finalizer,
/// what its object references (pointers back into the object itself excepted: a
/// self-pointer does not keep a finalized object alive, S28) and its environment box,
/// but not the object; for each cleanup, its environment box; for each queued
/// finalizer, its object and box; for each queued cleanup, its box. Finalizer objects
/// are scanned (and counted) only with `scan_finalizer_objects` (false only for a loom
/// negative control).
pub(crate) fn special_refs(space: &Space, scan_finalizer_objects: bool) -> SpecialRoots {
    use crate::heap::specials::Payload;
    let mut roots = SpecialRoots::default();
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if !span.specials.any() {
            continue;
        }
        span.specials.with(|list| {
            for s in list.iter() {
                match &s.payload {
                    Payload::Finalizer { env, .. } => {
                        if scan_finalizer_objects {
                            roots.count_finalizer_object(span, s.slot as usize);
                        }
                        roots.refs.extend(env);
                    }
                    Payload::Cleanup { env, .. } => roots.refs.extend(env),
                    Payload::Weak(_) => {}
                }
            }
        });
    }
    space.queues.finalizers.for_each(|q| {
        roots.refs.push(q.obj);
        roots.refs.extend(q.env);
    });
    space.queues.cleanups.for_each(|q| roots.refs.extend(q.env));
    roots
}

impl SpecialRoots {
    /// Scans the object of a finalizer special, `slot` of `span` ([`scan_finalizer_object`]).
    fn count_finalizer_object(&mut self, span: &Span, slot: usize) {
        let (bytes, work) = scan_finalizer_object(span, slot, &mut self.refs);
        self.finalizer_object_bytes += bytes;
        self.scan_work += work;
    }
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
