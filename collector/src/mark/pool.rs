//! The shared pool of grey work: batches of grey objects that a marker with too much work
//! hands to markers with none (Go's `work.full` list of `workbuf`s).
//!
//! Markers keep their own grey objects in a private stack and touch the pool only to
//! publish or take a whole batch, so marking costs no synchronization per object (a
//! mutator marking its full barrier buffer, `mark::barrier_flush`, publishes the same
//! way). The pool is a trait with two implementations: crossbeam-deque's lock-free
//! `Injector` in normal builds, and a mutex-protected queue under loom (which cannot see
//! crossbeam's atomics). Each pool also keeps its markers' spare buffers ([`Buffers`]): a
//! batch emptied by its taker is reused for the next batch handed over, and a private
//! stack outlives its marker, so that after warm-up a hand-off and a mark assist allocate
//! nothing (Go's `work.empty`).
//!
//! Invariant: every batch put in stays in the pool until one `take` hands it out whole —
//! none is lost or handed out twice — and an empty batch is never stored. `is_empty` is a hint,
//! exact only while no thread puts or takes (inside a pause).

use super::spares::Spares;
use crate::object::Ref;

/// A batch of grey objects.
pub(crate) type Batch = Vec<Ref>;

/// How many grey objects a published batch holds.
pub(crate) const BATCH: usize = 256;

/// The capacity of a marker's private stack, and of the spare stacks kept.
pub(crate) const STACK: usize = 4 * BATCH;

/// Spare batches kept per pool (at most 128 KiB).
const SPARE_BATCHES: usize = 64;
/// Spare private stacks kept per pool (at most 256 KiB).
const SPARE_STACKS: usize = 16;

/// The spare buffers of the markers sharing a pool: empty batches of [`BATCH`], and
/// empty private stacks of [`STACK`] entries, kept as `[usize; 2]` (a stack entry's
/// layout: `mark` converts).
pub(crate) struct Buffers {
    pub(crate) batches: Spares<Ref, SPARE_BATCHES>,
    pub(crate) stacks: Spares<[usize; 2], SPARE_STACKS>,
}

impl Default for Buffers {
    fn default() -> Buffers {
        Buffers {
            batches: Spares::new(BATCH),
            stacks: Spares::new(STACK),
        }
    }
}

/// A concurrent pool of grey batches.
pub(crate) trait GreyPool: Sync {
    /// Adds a batch (an empty one is kept as a spare, so callers need not check).
    fn put(&self, batch: Batch);
    /// Takes some batch, if any is there.
    fn take(&self) -> Option<Batch>;
    /// Whether the pool looked empty (a hint; it may change at once).
    fn is_empty(&self) -> bool;
    /// The spare buffers of the markers using this pool.
    fn buffers(&self) -> &Buffers;
}

/// The pool of normal builds: crossbeam-deque's lock-free injector queue.
#[cfg(not(loom))]
#[derive(Default)]
pub(crate) struct InjectorPool(crossbeam_deque::Injector<Batch>, Buffers);

#[cfg(not(loom))]
impl GreyPool for InjectorPool {
    fn put(&self, batch: Batch) {
        if batch.is_empty() {
            self.1.batches.give(batch);
        } else {
            self.0.push(batch);
        }
    }

    fn take(&self) -> Option<Batch> {
        loop {
            match self.0.steal() {
                crossbeam_deque::Steal::Success(b) => return Some(b),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn buffers(&self) -> &Buffers {
        &self.1
    }
}

/// A pool behind a mutex: the loom build's pool (and usable anywhere).
#[derive(Default)]
#[cfg_attr(not(any(loom, test)), allow(dead_code))]
pub(crate) struct LockedPool(
    crate::sync::Mutex<std::collections::VecDeque<Batch>>,
    Buffers,
);

impl GreyPool for LockedPool {
    fn put(&self, batch: Batch) {
        if batch.is_empty() {
            self.1.batches.give(batch);
        } else {
            crate::sync::lock(&self.0).push_back(batch);
        }
    }

    fn take(&self) -> Option<Batch> {
        crate::sync::lock(&self.0).pop_front()
    }

    fn is_empty(&self) -> bool {
        crate::sync::lock(&self.0).is_empty()
    }

    fn buffers(&self) -> &Buffers {
        &self.1
    }
}

/// The pool this build uses.
#[cfg(not(loom))]
pub(crate) type DefaultPool = InjectorPool;
/// The pool this build uses.
#[cfg(loom)]
pub(crate) type DefaultPool = LockedPool;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn exercise(pool: &dyn GreyPool) {
        assert!(pool.is_empty());
        assert!(pool.take().is_none());
        let mut spare = pool.buffers().batches.take();
        let at = spare.as_ptr();
        spare.push(Ref::new(0, 9, 0));
        spare.clear();
        pool.put(spare);
        assert!(pool.is_empty(), "an empty batch is not stored");
        assert_eq!(pool.buffers().batches.len(), 1, "it is kept as a spare");
        let spare = pool.buffers().batches.take();
        assert_eq!(spare.as_ptr(), at);
        pool.put(vec![Ref::new(0, 1, 0)]);
        pool.put(vec![Ref::new(0, 2, 0), Ref::new(0, 3, 0)]);
        assert!(!pool.is_empty());
        let mut got: Vec<Ref> = std::iter::from_fn(|| pool.take()).flatten().collect();
        got.sort();
        assert_eq!(
            got,
            vec![Ref::new(0, 1, 0), Ref::new(0, 2, 0), Ref::new(0, 3, 0)]
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn both_pools_hand_back_every_batch() {
        exercise(&InjectorPool::default());
        exercise(&LockedPool::default());
    }

    #[test]
    fn concurrent_puts_and_takes_lose_nothing() {
        let pool = InjectorPool::default();
        let taken = crate::sync::unmodelled::Mutex::new(Vec::new());
        crate::sync::unmodelled::thread::scope(|s| {
            for t in 0..4usize {
                let pool = &pool;
                s.spawn(move || {
                    for i in 0..1000usize {
                        pool.put(vec![Ref::new(t, i, 0)]);
                    }
                });
            }
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..1500 {
                        if let Some(b) = pool.take() {
                            taken.lock().unwrap().extend(b);
                        }
                    }
                });
            }
        });
        let mut all = taken.into_inner().unwrap();
        all.extend(std::iter::from_fn(|| pool.take()).flatten());
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4000);
    }
}
