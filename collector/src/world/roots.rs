//! A mutator's root table: the slots its handles occupy. The owner pushes entries while
//! running and clears them in either state; the collector reads them only during a
//! handshake or a pause.
//!
//! Invariant: a slot holds 0 exactly when its index is on the free list or on the owner's
//! list of slots it cleared while blocked (`Mutator::cleared_blocked`, moved onto the free
//! list the next time it runs), each index on at most one of them at most once (each
//! pushed slot is cleared once, by its handle's drop), so `iter` yields exactly the live
//! handles' references. The table has no synchronization of its own:
//! `world::mutator_state`'s access protocol makes every change of its vectors exclusive
//! (the owner while running, through `&mut`). The one change made without it is
//! [`RootTable::clear_shared`], an atomic store of 0 into a slot by the blocked owner,
//! which a collector reading the table meanwhile sees either before (the reference, kept
//! one cycle more) or after (no reference): both are right for a handle being dropped.

use crate::object::Ref;
use crate::sync::{AtomicUsize, Ordering::Relaxed};

/// The handles' slots of one mutator: a slot holds a reference word, `0` when free.
#[derive(Default)]
pub(crate) struct RootTable {
    slots: Vec<AtomicUsize>,
    free: Vec<u32>,
}

impl RootTable {
    /// Stores `r` in a free slot and returns its index.
    #[inline(always)]
    pub(crate) fn push(&mut self, r: Ref) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].store(r.word(), Relaxed);
                i
            }
            None => {
                let i = self.slots.len();
                assert!(i < u32::MAX as usize, "collector: too many live handles");
                self.slots.push(AtomicUsize::new(r.word()));
                i as u32
            }
        }
    }

    /// Frees slot `i`.
    #[inline(always)]
    pub(crate) fn clear(&mut self, i: u32) {
        self.slots[i as usize].store(0, Relaxed);
        self.free.push(i);
    }

    /// Empties slot `i` without freeing it, through a shared reference: the blocked
    /// owner's clear, which a collector may be reading the table meanwhile (the module's
    /// invariant). The caller keeps `i` and hands it to [`RootTable::free_cleared`] once
    /// it runs again. Relaxed is enough: the handle's last access to its object was made
    /// running, which the world's lock orders before any collector access that could
    /// follow this one.
    #[inline(always)]
    pub(crate) fn clear_shared(&self, i: u32) {
        self.slots[i as usize].store(0, Relaxed);
    }

    /// Puts slots that `clear_shared` emptied on the free list.
    pub(crate) fn free_cleared(&mut self, cleared: impl Iterator<Item = u32>) {
        self.free.extend(cleared);
    }

    /// The references held, with their slot indices.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Ref)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Ref::from_word(w.load(Relaxed)).map(|r| (i, r)))
    }

    /// The number of live handles, given how many slots the owner has cleared while
    /// blocked and not yet freed.
    pub(crate) fn live(&self, cleared: usize) -> usize {
        self.slots.len() - self.free.len() - cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_cleared() {
        let mut t = RootTable::default();
        let a = t.push(Ref::new(0, 1, 0));
        let b = t.push(Ref::new(0, 2, 0));
        assert_eq!(t.live(0), 2);
        t.clear(a);
        assert_eq!(
            t.iter().map(|(_, r)| r).collect::<Vec<_>>(),
            vec![Ref::new(0, 2, 0)]
        );
        let c = t.push(Ref::new(1, 3, 0));
        assert_eq!(c, a, "a freed slot is reused");
        assert_eq!(t.live(0), 2);
        t.clear(b);
        t.clear(c);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn a_slot_cleared_shared_is_empty_at_once_and_reused_once_freed() {
        let mut t = RootTable::default();
        let a = t.push(Ref::new(0, 1, 0));
        let b = t.push(Ref::new(0, 2, 0));
        t.clear_shared(a);
        assert_eq!(
            t.iter().map(|(_, r)| r).collect::<Vec<_>>(),
            vec![Ref::new(0, 2, 0)],
            "a reader sees the cleared slot empty"
        );
        assert_eq!(t.live(1), 1);
        let c = t.push(Ref::new(0, 3, 0));
        assert_ne!(c, a, "not reused before it is freed");
        t.free_cleared([a].into_iter());
        assert_eq!(t.live(0), 2);
        assert_eq!(t.push(Ref::new(0, 4, 0)), a, "reused once freed");
        t.clear(b);
    }
}
