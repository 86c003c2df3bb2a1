//! Weak handles (Go's `weak.Pointer`, S30, S34, S47): a reference that does not keep its
//! object alive. It reads as gone from the cycle that finds the object dead — cleared by
//! the sweep that queues the object's finalizer, so before that finalizer runs — and
//! stays gone if a finalizer resurrects the object. One cell per object: every weak
//! handle made from one object compares equal, as Go's weak pointers do, globals and the
//! zero-sized sentinel included (their cells sit on immortal spans, which are never
//! swept, so they never go).
//!
//! Invariants: a cell's word goes from the object's reference to 0 once, when a sweep
//! finds the object dead (`heap::special_deaths`), and never back. An object has at most
//! one weak special per registered word, found or inserted under the span's specials lock,
//! in one running step after the span is swept. `upgrade` reads the cell again after
//! sweeping the object's span and makes the handle in the same running step (shading it
//! while marking), so it never hands out an object that a finished mark found dead.

use crate::barrier::Barrier;
use crate::heap::specials::{Payload, Special, SpecialKind, WeakCell};
use crate::mutator::handle::Handle;
use crate::mutator::Mutator;
use crate::sync::unmodelled::Arc;

/// A weak reference to a heap object; `Send` and `Sync`, usable with any mutator of its
/// heap.
#[derive(Clone, Debug)]
pub struct WeakHandle {
    heap_id: u64,
    cell: Arc<WeakCell>,
}

impl PartialEq for WeakHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl Eq for WeakHandle {}

impl WeakHandle {
    /// Go's `weak.Pointer.Value`: a handle to the object, or `None` once a cycle has
    /// found it dead. Panics if `m` belongs to another heap.
    pub fn upgrade<'m, B: Barrier>(&self, m: &'m Mutator<B>) -> Option<Handle<'m, B>> {
        if self.heap_id != m.core.id {
            panic!("collector: the weak handle belongs to a different heap");
        }
        m.running(|| {
            let r = self.cell.get()?;
            let space = &m.core.space;
            // A mark may have found it dead with its span not swept yet: sweeping the
            // span now clears the cell if so.
            space.ensure_swept(space.span(r.span())?);
            let r = self.cell.get()?;
            // A strong reference made during a mark is shaded, as Go's
            // makeStrongFromWeak does: this mutator's roots may be scanned already.
            m.shade_if_marking(r);
            Some(m.handle_for(r, &|| "a weak handle".to_string()))
        })
    }

    /// Whether the object has been found dead (a later `upgrade` returns `None`).
    pub fn is_gone(&self) -> bool {
        self.cell.get().is_none()
    }
}

impl<B: Barrier> Mutator<B> {
    /// Go's `weak.Make`: a weak handle to `obj`, equal to every other made from it.
    /// Weak handles to globals and the zero-sized sentinel never go.
    pub fn weak(&self, obj: &Handle<'_, B>) -> WeakHandle {
        self.check_same_heap(obj);
        let span = obj.span();
        let r = obj.reference();
        // A global's or the sentinel's cell is a special of its immortal span too (so
        // that it is canonical), which no sweep ever reads: it never goes.
        let cell = self.running(|| {
            self.core.space.ensure_swept(span);
            let word = obj.base() as u32;
            span.specials.with(|list| {
                let existing = list.iter().find_map(|s| match &s.payload {
                    Payload::Weak(c) if s.word == word => Some(c.clone()),
                    _ => None,
                });
                if let Some(c) = existing {
                    return c;
                }
                let cell = Arc::new(WeakCell::new(r));
                let key = (word, SpecialKind::Weak);
                let at = list.partition_point(|x| (x.word, x.kind) < key);
                list.insert(
                    at,
                    Special {
                        slot: r.slot() as u32,
                        word,
                        obj: r,
                        field: None,
                        kind: SpecialKind::Weak,
                        payload: Payload::Weak(cell.clone()),
                    },
                );
                cell
            })
        });
        WeakHandle {
            heap_id: self.core.id,
            cell,
        }
    }
}
