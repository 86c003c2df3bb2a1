//! The calling thread's mutators: which heaps it has one of and whether each is running,
//! so that a thread holds at most one mutator per heap, `Heap::gc` and the drains refuse
//! a thread whose mutator runs, and a thread that exits without dropping a mutator does
//! not hold up every later pause.
//!
//! Invariant: a mutator is recorded here from its creation until its drop or its
//! thread's exit, whichever comes first. At exit (the thread-local's destructor) each
//! mutator still recorded — forgotten, leaked, or kept in another thread-local that is
//! destroyed after this one — is reported to its heap ([`ThreadExit`]), which from then
//! on counts it as blocked (`World::thread_exited`). Every access uses `try_with`: a
//! mutator may be dropped during thread-local destruction, after this record is gone,
//! and a panic there would abort the process.
//!
//! Under loom nothing is recorded (model threads share one OS thread).

#[cfg(not(loom))]
use crate::callbacks::queue::{inside_callback, Kind};
use crate::sync::Arc;
use crate::world::mutator_state::MutatorShared;

/// What a heap does when a thread exits still holding one of its mutators, or parks at a
/// safepoint of another heap.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) trait ThreadExit: Send + Sync {
    /// `m`'s thread has exited without dropping it.
    fn thread_exited(&self, m: &Arc<MutatorShared>);
    /// `m` (running, of the calling thread) counts as blocked until [`ThreadExit::unblock`]:
    /// its thread is about to wait for another heap's collector.
    fn block(&self, m: &Arc<MutatorShared>);
    /// `m` runs again (once this heap's pause in progress, if any, has ended).
    fn unblock(&self, m: &Arc<MutatorShared>);
}

/// The thread's other running mutators, blocked while it waits for one heap's collector
/// ([`try_block_others`]); running again when dropped.
pub(crate) struct OthersBlocked {
    #[cfg(not(loom))]
    blocked: Vec<(
        crate::sync::unmodelled::Arc<dyn ThreadExit>,
        Arc<MutatorShared>,
    )>,
}

impl Drop for OthersBlocked {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        for (owner, m) in self.blocked.drain(..) {
            owner.unblock(&m);
        }
    }
}

/// Blocks the calling thread's running mutators of heaps other than `heap` until the
/// guard drops, for a thread about to wait for heap `heap`'s collector (parked at its
/// safepoint, a cycle's start, a parked assist, a cycle it runs): a thread waiting for
/// one heap must not hold up another heap's pause (whose own waiting threads may hold up
/// `heap`'s: two threads, each waiting for one heap with its mutator of the other
/// running, would wait for each other forever). `None`, blocking nothing, if one of them
/// is inside a scope, which cannot be blocked (its `Gc` references are not roots): the
/// caller then does not wait.
pub(crate) fn try_block_others(heap: u64) -> Option<OthersBlocked> {
    #[cfg(not(loom))]
    {
        let others: Option<Vec<_>> = MUTATORS
            .try_with(|v| {
                let v = v.borrow();
                let mut others = Vec::new();
                for h in v.0.iter().filter(|h| h.heap != heap && h.running) {
                    if h.m.scope_depth.get() != 0 {
                        return None;
                    }
                    if let Some(owner) = h.owner.upgrade() {
                        others.push((owner, h.m.clone()));
                    }
                }
                Some(others)
            })
            .unwrap_or(Some(Vec::new()));
        let others = others?;
        // Outside the borrow: blocking records the mutator as not running here.
        for (owner, m) in &others {
            owner.block(m);
        }
        Some(OthersBlocked { blocked: others })
    }
    #[cfg(loom)]
    {
        let _ = heap;
        Some(OthersBlocked {})
    }
}

/// One mutator of this thread.
#[cfg(not(loom))]
struct Here {
    heap: u64,
    /// Running (not inside `blocking`).
    running: bool,
    m: Arc<MutatorShared>,
    /// Its heap, told if the thread exits first.
    owner: crate::sync::unmodelled::Weak<dyn ThreadExit>,
}

/// This thread's mutators; dropped when the thread exits.
#[cfg(not(loom))]
struct Mutators(Vec<Here>);

#[cfg(not(loom))]
impl Drop for Mutators {
    fn drop(&mut self) {
        for here in self.0.drain(..) {
            if let Some(heap) = here.owner.upgrade() {
                heap.thread_exited(&here.m);
            }
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static MUTATORS: std::cell::RefCell<Mutators> =
        const { std::cell::RefCell::new(Mutators(Vec::new())) };
}

/// Records that this thread now has mutator `m` of heap `heap` (running); panics if it
/// already has one of that heap, saying why — and, inside a callback, which API gives
/// the callback the mutator its thread already has. During thread-local destruction,
/// once this record is gone, it panics too: a mutator made then could not be counted out
/// at the thread's exit (every later pause would wait for it), nor checked against a
/// second one.
#[cfg(not(loom))]
pub(crate) fn claim(
    heap: u64,
    m: &Arc<MutatorShared>,
    owner: crate::sync::unmodelled::Weak<dyn ThreadExit>,
) {
    let recorded = MUTATORS.try_with(|v| {
        let mut v = v.borrow_mut();
        if v.0.iter().any(|h| h.heap == heap) {
            drop(v);
            second_mutator_panic(heap);
        }
        v.0.push(Here {
            heap,
            running: true,
            m: m.clone(),
            owner,
        });
    });
    if recorded.is_err() {
        panic!(
            "collector: Heap::mutator called while this thread's thread-locals are being \
             destroyed: a mutator made now could not be counted out at the thread's exit; \
             create it before the thread exits (a thread-local may keep one made earlier)"
        );
    }
}

#[cfg(not(loom))]
#[cold]
fn second_mutator_panic(heap: u64) -> ! {
    if inside_callback(heap, Kind::Cleanup) {
        panic!(
            "collector: Heap::mutator called inside a cleanup: cleanups run on a thread that \
             already is a mutator of this heap (a cleanup worker, or the thread stepping \
             run_cleanups), and a thread holds at most one mutator per heap. A cleanup that \
             needs the heap gets the runner's mutator through an environment box: register \
             it with Mutator::add_cleanup_with, whose callback receives the box as a Handle \
             (box.mutator() is the runner's mutator)"
        );
    }
    if inside_callback(heap, Kind::Finalizer) {
        panic!(
            "collector: Heap::mutator called inside a finalizer: finalizers run on a thread \
             that already is a mutator of this heap (the finalizer thread, or the thread \
             stepping run_finalizers), and a thread holds at most one mutator per heap. Use \
             the runner's mutator: the handle the finalizer receives gives it (h.mutator())"
        );
    }
    panic!(
        "collector: this thread already has a mutator of this heap; a thread holds at \
         most one mutator per heap (a second one would never stop for a pause)"
    );
}

/// Records that this thread's mutator of heap `heap` is gone.
pub(crate) fn release(heap: u64) {
    #[cfg(not(loom))]
    let _ = MUTATORS.try_with(|v| v.borrow_mut().0.retain(|h| h.heap != heap));
    #[cfg(loom)]
    let _ = heap;
}

/// Records whether this thread's mutator of heap `heap` is running.
pub(crate) fn note_running(heap: u64, running: bool) {
    #[cfg(not(loom))]
    let _ = MUTATORS.try_with(|v| {
        if let Some(h) = v.borrow_mut().0.iter_mut().find(|h| h.heap == heap) {
            h.running = running;
        }
    });
    #[cfg(loom)]
    let _ = (heap, running);
}

/// Whether the calling thread has a running mutator of heap `heap`.
pub(crate) fn running_mutator_on_this_thread(heap: u64) -> bool {
    #[cfg(not(loom))]
    return MUTATORS
        .try_with(|v| v.borrow().0.iter().any(|h| h.heap == heap && h.running))
        .unwrap_or(false);
    #[cfg(loom)]
    {
        let _ = heap;
        false
    }
}

#[cfg(not(loom))]
thread_local! {
    /// The heaps whose cycle lock this thread holds (`core::CycleGuard`).
    static CYCLE_LOCKS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records that this thread holds heap `heap`'s cycle lock.
pub(crate) fn hold_cycle_lock(heap: u64) {
    #[cfg(not(loom))]
    let _ = CYCLE_LOCKS.try_with(|v| v.borrow_mut().push(heap));
    #[cfg(loom)]
    let _ = heap;
}

/// Records that this thread no longer holds heap `heap`'s cycle lock.
pub(crate) fn release_cycle_lock(heap: u64) {
    #[cfg(not(loom))]
    let _ = CYCLE_LOCKS.try_with(|v| v.borrow_mut().retain(|&h| h != heap));
    #[cfg(loom)]
    let _ = heap;
}

/// Whether this thread holds heap `heap`'s cycle lock.
pub(crate) fn holds_cycle_lock(heap: u64) -> bool {
    #[cfg(not(loom))]
    return CYCLE_LOCKS
        .try_with(|v| v.borrow().contains(&heap))
        .unwrap_or(false);
    #[cfg(loom)]
    {
        let _ = heap;
        false
    }
}
