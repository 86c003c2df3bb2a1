//! A mutator's root table: the slots its handles occupy. The owner pushes and clears
//! entries while running; the collector reads them only during a handshake.
//!
//! Invariant: a slot holds 0 exactly when its index is on the free list, which holds each
//! index at most once (each pushed slot is cleared once, by its handle's drop), so `live`
//! is the number of handles and `iter` yields exactly their references. The table has no
//! synchronization of its own: `world::mutator_state`'s access protocol (the owner while
//! running, the collector with an `Exclusive` proof) makes every access exclusive.

use crate::object::Ref;

/// The handles' slots of one mutator: a slot holds a reference word, `0` when free.
#[derive(Default)]
pub(crate) struct RootTable {
    slots: Vec<usize>,
    free: Vec<u32>,
}

impl RootTable {
    /// Stores `r` in a free slot and returns its index.
    #[inline(always)]
    pub(crate) fn push(&mut self, r: Ref) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = r.word();
                i
            }
            None => {
                let i = self.slots.len();
                assert!(i < u32::MAX as usize, "collector: too many live handles");
                self.slots.push(r.word());
                i as u32
            }
        }
    }

    /// Frees slot `i`.
    #[inline(always)]
    pub(crate) fn clear(&mut self, i: u32) {
        self.slots[i as usize] = 0;
        self.free.push(i);
    }

    /// The references held, with their slot indices.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Ref)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, &w)| Ref::from_word(w).map(|r| (i, r)))
    }

    /// The number of live handles.
    pub(crate) fn live(&self) -> usize {
        self.slots.len() - self.free.len()
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
        assert_eq!(t.live(), 2);
        t.clear(a);
        assert_eq!(
            t.iter().map(|(_, r)| r).collect::<Vec<_>>(),
            vec![Ref::new(0, 2, 0)]
        );
        let c = t.push(Ref::new(1, 3, 0));
        assert_eq!(c, a, "a freed slot is reused");
        assert_eq!(t.live(), 2);
        t.clear(b);
        t.clear(c);
        assert_eq!(t.iter().count(), 0);
    }
}
