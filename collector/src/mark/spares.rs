//! Spare buffers for marking: empty vectors of one fixed capacity, kept for reuse so that
//! a marker's private stack and the grey batches it hands over are allocated once and
//! then recycled, not allocated by one marker and freed by another at every mark assist
//! and every hand-off (Go keeps its empty `workbuf`s on `work.empty` for the same reason:
//! `getempty`/`putempty` in `mgcwork.go`).
//!
//! A fixed array of slots, each empty (null) or holding the pointer to one spare buffer's
//! allocation; every spare has the store's capacity, so a pointer is all a slot needs.
//! Giving puts a pointer into an empty slot by compare-exchange; taking swaps a slot to
//! null, so one swap hands a spare to exactly one taker. No lock, no allocation; a spare
//! given to a full store is freed, and a take from an empty one allocates a new buffer,
//! so the store bounds the memory it keeps (slots × capacity) and never fails.
//!
//! The slots are `unmodelled` atomics: under loom the recycling runs but is not explored,
//! as it decides nothing the models check (a spare holds no elements).
//!
//! Invariant: every non-null slot holds the pointer to a distinct allocation made for a
//! `Vec<T>` of exactly `cap` elements, owned by the store alone (no `Vec` points at it);
//! taking it leaves the slot null, and the store frees what its slots hold when dropped.

use crate::sync::unmodelled::{AtomicPtr, Ordering::*};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

/// Up to `N` spare `Vec<T>`s of capacity `cap`, shared by every thread.
pub(crate) struct Spares<T, const N: usize> {
    slots: [AtomicPtr<T>; N],
    cap: usize,
    /// The store owns vectors of `T` (and is `Send`/`Sync` only if they may move).
    _owns: PhantomData<Vec<T>>,
}

impl<T, const N: usize> Spares<T, N> {
    /// An empty store of spares of `cap` elements (`cap` > 0, `T` not zero-sized, so a
    /// spare is a real allocation).
    pub(crate) fn new(cap: usize) -> Spares<T, N> {
        assert!(
            cap > 0 && size_of::<T>() > 0,
            "a spare is a real allocation"
        );
        Spares {
            slots: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            cap,
            _owns: PhantomData,
        }
    }

    /// An empty vector of capacity `cap`: a spare if there is one, else a new one.
    pub(crate) fn take(&self) -> Vec<T> {
        for slot in &self.slots {
            if slot.load(Relaxed).is_null() {
                continue;
            }
            let ptr = slot.swap(std::ptr::null_mut(), Acquire);
            if !ptr.is_null() {
                // SAFETY: a non-null slot holds an allocation made for a `Vec<T>` of `cap`
                // elements that nothing else owns (the invariant); the swap made this
                // thread its one owner, and acquired the giver's writes to it.
                return unsafe { Vec::from_raw_parts(ptr, 0, self.cap) };
            }
        }
        Vec::with_capacity(self.cap)
    }

    /// Keeps `v` (emptied) as a spare if it has the store's capacity and a slot is free;
    /// otherwise frees it.
    pub(crate) fn give(&self, mut v: Vec<T>) {
        if v.capacity() != self.cap {
            return;
        }
        v.clear();
        let mut v = ManuallyDrop::new(v);
        let ptr = v.as_mut_ptr();
        for slot in &self.slots {
            if slot.load(Relaxed).is_null()
                && slot
                    .compare_exchange(std::ptr::null_mut(), ptr, Release, Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // No free slot: free it after all.
        drop(ManuallyDrop::into_inner(v));
    }

    /// Spares held now (a hint while other threads give and take).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !s.load(Relaxed).is_null())
            .count()
    }
}

impl<T, const N: usize> Drop for Spares<T, N> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let ptr = std::mem::replace(slot.get_mut(), std::ptr::null_mut());
            if !ptr.is_null() {
                // SAFETY: as in `take`; `&mut self` makes this the slot's one reader.
                drop(unsafe { Vec::from_raw_parts(ptr, 0, self.cap) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_spare_given_back_is_the_next_one_taken() {
        let s: Spares<u64, 2> = Spares::new(16);
        let mut v = s.take();
        assert_eq!(v.capacity(), 16);
        v.extend(0..16);
        let at = v.as_ptr();
        s.give(v);
        assert_eq!(s.len(), 1);
        let again = s.take();
        assert_eq!(again.as_ptr(), at, "the same allocation, reused");
        assert!(again.is_empty() && again.capacity() == 16);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn only_buffers_of_the_capacity_are_kept_and_at_most_n() {
        let s: Spares<u64, 2> = Spares::new(16);
        s.give(Vec::with_capacity(32));
        s.give(Vec::new());
        assert_eq!(s.len(), 0, "other capacities are freed");
        let (a, b, c) = (s.take(), s.take(), s.take());
        let kept = [a.as_ptr(), b.as_ptr()];
        s.give(a);
        s.give(b);
        s.give(c);
        assert_eq!(s.len(), 2, "a full store frees what it cannot keep");
        let (d, e) = (s.take(), s.take());
        let mut got = [d.as_ptr(), e.as_ptr()];
        got.sort();
        let mut kept = kept;
        kept.sort();
        assert_eq!(got, kept);
    }

    #[test]
    fn concurrent_gives_and_takes_hand_each_spare_to_one_taker() {
        let s: Spares<u64, 4> = Spares::new(8);
        crate::sync::unmodelled::thread::scope(|sc| {
            for t in 0..4u64 {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..2000u64 {
                        let mut v = s.take();
                        assert!(v.is_empty());
                        // A spare shared by two takers would see the other's element.
                        v.push(t << 32 | i);
                        std::hint::spin_loop();
                        assert_eq!(v, [t << 32 | i]);
                        s.give(v);
                    }
                });
            }
        });
        assert!(s.len() <= 4);
    }
}
