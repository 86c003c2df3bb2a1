//! The storage of a callback queue: a FIFO of blocks that are never grown or moved, as Go
//! keeps queued finalizers in `finblock`s (`mfinal.go`) and cleanups in `cleanupBlock`s
//! (`mcleanup.go`) rather than in one growable array.
//!
//! One growable array (a `VecDeque`) holding a million queued finalizers doubles its
//! buffer some twenty times while the sweep fills it, each time copying every entry into
//! fresh memory that the kernel must fault in and zero; how far it grows depends on how
//! far the runner lags behind the sweep, so the cost varied from run to run by a factor of
//! three. Here a batch the sweep queues (one span's dead objects' callbacks, already in a
//! vector of exactly its size) becomes a block as it is, in constant time under the
//! queue's lock: nothing is copied, so the sweep holds the lock as briefly as a runner
//! does (copying every entry under it, as the first version of this module did, made the
//! cleanup runner wait on the lock behind the sweep). Batches of at most [`SMALL`]
//! entries are copied into a block with room instead, so single callbacks do not each
//! make a block; an emptied block of a reusable size is kept for that (up to [`SPARE`] of
//! them, as Go's free list reuses finblocks; Go keeps every one it made, the cap is the
//! testbed's).
//!
//! Invariant: every block in `blocks` holds at least one entry and never reallocates
//! (entries are added to a block only within its spare capacity); `len` is the sum of
//! their lengths; spare blocks are empty, with a capacity of at least [`SMALL`]. The
//! closures callers pass (`take`, `map`) must not panic: one that did would leave `len`
//! out of step. Entries leave in the order they came (FIFO), with `push_front` putting
//! one before all others.

use std::collections::VecDeque;

/// Entries in a block made for small batches.
pub(crate) const BLOCK: usize = 128;

/// Batches of at most this many entries are copied into a block with room; larger ones
/// become blocks themselves.
pub(crate) const SMALL: usize = BLOCK / 4;

/// Emptied blocks larger than this are freed rather than kept.
const SPARE_MAX_CAPACITY: usize = 8 * BLOCK;

/// Empty blocks kept for reuse; more are freed.
pub(crate) const SPARE: usize = 64;

/// A FIFO queue in blocks that never move.
pub(crate) struct Blocks<T> {
    blocks: VecDeque<VecDeque<T>>,
    spare: Vec<VecDeque<T>>,
    len: usize,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks {
            blocks: VecDeque::new(),
            spare: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Blocks<T> {
    /// Entries queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An empty block: a spare one, or a new one of capacity `BLOCK`.
    fn fresh(&mut self) -> VecDeque<T> {
        self.spare
            .pop()
            .unwrap_or_else(|| VecDeque::with_capacity(BLOCK))
    }

    /// Keeps an emptied block for reuse, or frees it.
    fn retire(&mut self, block: VecDeque<T>) {
        debug_assert!(block.is_empty());
        let reusable = (SMALL..=SPARE_MAX_CAPACITY).contains(&block.capacity());
        if reusable && self.spare.len() < SPARE {
            self.spare.push(block);
        }
    }

    /// Appends `batch` in order: a batch of more than [`SMALL`] entries becomes a block
    /// as it is (no entry copied, constant time); a smaller one is copied into the last
    /// block if it has room, else into an empty block.
    pub(crate) fn append(&mut self, batch: Vec<T>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        self.len += n;
        if n > SMALL {
            // `VecDeque::from(Vec)` keeps the vector's buffer (no copy, no allocation).
            self.blocks.push_back(VecDeque::from(batch));
            return;
        }
        let has_room = |b: &VecDeque<T>| b.capacity() - b.len() >= n;
        if !self.blocks.back().is_some_and(has_room) {
            let b = self.fresh();
            self.blocks.push_back(b);
        }
        let last = self.blocks.back_mut().expect("a block with room");
        // Within the block's spare capacity: it does not reallocate.
        last.extend(batch);
    }

    /// Puts `item` before every queued entry.
    pub(crate) fn push_front(&mut self, item: T) {
        if self.blocks.front().is_none_or(|b| b.len() == b.capacity()) {
            let b = self.fresh();
            self.blocks.push_front(b);
        }
        self.blocks
            .front_mut()
            .expect("a block with room")
            .push_front(item);
        self.len += 1;
    }

    /// Takes the first entry.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let first = self.blocks.front_mut()?;
        let item = first.pop_front().expect("blocks are never empty");
        if first.is_empty() {
            let b = self.blocks.pop_front().expect("the first block");
            self.retire(b);
        }
        self.len -= 1;
        Some(item)
    }

    /// Moves up to `n` entries from the front into `out`, in order, a block's worth at a
    /// time.
    pub(crate) fn take_front(&mut self, n: usize, out: &mut Vec<T>) {
        let mut taken = 0;
        while taken < n {
            let Some(first) = self.blocks.front_mut() else {
                break;
            };
            let k = (n - taken).min(first.len());
            taken += k;
            self.len -= k;
            if k < first.len() {
                out.extend(first.drain(..k));
                break;
            }
            // The whole block: moved as one copy (`Vec::from` of a block whose entries
            // are contiguous takes its buffer as it is), its emptied buffer kept.
            let mut b = Vec::from(self.blocks.pop_front().expect("the first block"));
            out.append(&mut b);
            self.retire(VecDeque::from(b));
        }
    }

    /// Moves entries from the front into `out` (made by `map`), in order, while fewer
    /// than `n` are taken and the next one satisfies `take`, a block's worth at a time;
    /// returns how many it moved.
    pub(crate) fn take_front_while<U>(
        &mut self,
        n: usize,
        take: impl Fn(&T) -> bool,
        mut map: impl FnMut(T) -> U,
        out: &mut Vec<U>,
    ) -> usize {
        let mut taken = 0;
        while taken < n {
            let Some(first) = self.blocks.front_mut() else {
                break;
            };
            let k = first.iter().take(n - taken).take_while(|e| take(e)).count();
            out.reserve(k);
            first.drain(..k).for_each(|e| out.push(map(e)));
            taken += k;
            self.len -= k;
            if !first.is_empty() {
                break;
            }
            let b = self.blocks.pop_front().expect("the first block");
            self.retire(b);
        }
        taken
    }

    /// The first entry.
    pub(crate) fn front(&self) -> Option<&T> {
        self.blocks.front().and_then(|b| b.front())
    }

    /// Every entry, first to last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.blocks.iter().flatten()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// FIFO order across block boundaries, for batches small and large, with entries put
    /// back at the front, against a `VecDeque` doing the same.
    #[test]
    fn keeps_fifo_order_across_blocks() {
        let mut q = Blocks::default();
        let mut model = VecDeque::new();
        let mut next = 0u64;
        for round in 0..40usize {
            for _ in 0..(round * 37) % (3 * BLOCK) {
                q.append(vec![next]);
                model.push_back(next);
                next += 1;
            }
            for n in [
                (round * 29) % (2 * BLOCK),
                (round * 13) % SMALL + 1,
                SMALL + 1,
            ] {
                let n = n as u64;
                q.append((next..next + n).collect());
                model.extend(next..next + n);
                next += n;
            }
            for _ in 0..(round * 53) % (2 * BLOCK) + 1 {
                assert_eq!(q.pop_front(), model.pop_front());
            }
            let mut taken = Vec::new();
            let n = (round * 71) % (3 * BLOCK);
            q.take_front(n, &mut taken);
            let k = n.min(model.len());
            assert!(taken.iter().eq(model.drain(..k).collect::<Vec<_>>().iter()));
            // Up to n entries, stopping at the first multiple of 7.
            let mut doubled = Vec::new();
            let n = (round * 43) % (3 * BLOCK);
            let moved = q.take_front_while(n, |x| x % 7 != 0, |x| 2 * x, &mut doubled);
            let k = model.iter().take(n).take_while(|&&x| x % 7 != 0).count();
            assert_eq!(moved, k);
            assert!(doubled.into_iter().eq(model.drain(..k).map(|x| 2 * x)));
            if round % 3 == 0 {
                for _ in 0..BLOCK + 5 {
                    q.push_front(next);
                    model.push_front(next);
                    next += 1;
                }
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.is_empty(), model.is_empty());
            assert_eq!(q.front(), model.front());
            assert!(q.iter().eq(model.iter()));
        }
        while let Some(x) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(x));
        }
        assert_eq!(q.pop_front(), None);
        assert!(q.is_empty());
    }

    /// A large batch becomes a block with its own buffer (nothing copied), no block ever
    /// grows (a queued entry never moves), small batches share blocks, and a runner that
    /// keeps pace with single pushes reuses one block instead of making new ones.
    #[test]
    fn blocks_never_move_and_are_reused() {
        let mut q = Blocks::default();
        let batch: Vec<u64> = (0..BLOCK as u64).collect();
        let buffer = batch.as_ptr();
        q.append(batch);
        assert_eq!(
            q.front().map(|x| x as *const u64),
            Some(buffer),
            "not copied"
        );
        for i in 0..(10 * BLOCK) as u64 {
            q.append(vec![BLOCK as u64 + i]);
        }
        assert_eq!(
            q.front().map(|x| x as *const u64),
            Some(buffer),
            "never moved"
        );
        assert_eq!(q.blocks.len(), 11, "single entries share blocks");
        while q.pop_front().is_some() {}
        assert_eq!(q.spare.len(), 11);
        for i in 0..(100 * BLOCK) as u64 {
            q.append(vec![i]);
            assert_eq!(q.pop_front(), Some(i));
        }
        assert_eq!(q.spare.len(), 11, "no block made while one was spare");
    }
}
