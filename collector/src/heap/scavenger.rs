//! The background scavenger (Go's `bgscavenge`, mgcscavenge.go): a thread per heap that
//! gives free spans' pages back to the OS while the heap holds more than its retention
//! goal — the lower of Go's `gcPercentGoal` (span bytes in use at the last mark
//! termination scaled to the heap goal, plus 10 %; see `Retained::pace_scavenger`) and
//! 95 % of the memory limit (`reduceExtraPercent`) — paced to about 1 % of
//! one CPU (Go's `scavengePercent`): after each step it sleeps 99 times as long as the
//! step took. With nothing to do it looks again every `IDLE` (Go parks it until the
//! sweeper wakes it; here a heap's threads do not know of each other).
//!
//! As Go's, a step releases 64 KiB (`STEP_BYTES`): from the largest free spans first,
//! the last one only in part (its tail pages).
//!
//! Invariant: the thread holds only a weak reference to the heap between steps (so a
//! heap whose last user is gone is freed), sleeps on its [`Stop`], which the heap's drop
//! and `Heap::shutdown` set (it then exits at once, and the drop joins it unless the
//! drop runs on the scavenger itself), and releases only through
//! [`Space::scavenge_step`], which releases free spans only, under the span lock.

use super::Space;
use crate::sync::lock;
use crate::sync::unmodelled::{self, thread, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Bytes a step releases at least (Go's scavenger works in 64 KiB chunks).
const STEP_BYTES: usize = 64 << 10;

/// How often an idle scavenger looks again.
const IDLE: Duration = Duration::from_millis(100);

/// Go's `scavengePercent`: the share of one CPU the scavenger aims to use.
const CPU_PERCENT: u32 = 1;

impl Space {
    /// One background step: releases free spans until `STEP_BYTES` are released or the
    /// heap holds no more than its background goal. Returns the bytes released.
    pub(crate) fn scavenge_step(&self) -> usize {
        let mut pools = lock(&self.pools);
        let over = self
            .pages
            .retained()
            .saturating_sub(self.pages.background_goal());
        if over == 0 {
            return 0;
        }
        self.release_free(&mut pools, over.min(STEP_BYTES))
    }
}

/// What the scavenger reads of the heap that holds a space.
pub(crate) struct HeapView<T> {
    /// The heap's space.
    pub(crate) space: fn(&T) -> &Space,
    /// Whether the heap was shut down.
    pub(crate) stopped: fn(&T) -> bool,
}

/// The scavenger's stop signal and its thread, which the heap holds.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Stop {
    /// Tells the scavenger to exit and, unless called on the scavenger itself, waits for
    /// it to be gone.
    pub(crate) fn stop(&self) {
        *unmodelled::lock(&self.stopped) = true;
        self.cv.notify_all();
        let t = unmodelled::lock(&self.thread).take();
        if let Some(t) = t {
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Sleeps for `d` or until told to stop; true if told.
    fn sleep(&self, d: Duration) -> bool {
        let g = unmodelled::lock(&self.stopped);
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        *g
    }
}

/// Starts the scavenger of the heap `heap` points to, stopped by `stop`; the OS's error
/// if it cannot.
pub(crate) fn spawn<T: Send + Sync + 'static>(
    heap: Weak<T>,
    view: HeapView<T>,
    stop: unmodelled::Arc<Stop>,
) -> std::io::Result<()> {
    let signal = unmodelled::Arc::clone(&stop);
    let t = thread::Builder::new()
        .name("gc-scavenger".into())
        .spawn(move || loop {
            let Some(h) = heap.upgrade() else { return };
            if (view.stopped)(&h) {
                return;
            }
            let t = Instant::now();
            let space = (view.space)(&h);
            let released = space.scavenge_step();
            drop(h);
            let pause = if released == 0 {
                IDLE
            } else {
                t.elapsed() * (100 - CPU_PERCENT) / CPU_PERCENT
            };
            if signal.sleep(pause) {
                return;
            }
        })?;
    *unmodelled::lock(&stop.thread) = Some(t);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::SweptLists;
    use crate::size_class::SpanClass;

    #[test]
    fn a_step_releases_a_chunk_down_to_the_goal_and_no_further() {
        let space = Space::new(8192);
        let sc = SpanClass::new(4, false);
        let spans: Vec<usize> = (0..32).map(|_| space.refill(sc).index).collect();
        let in_use = space.pages.retained();
        assert_eq!(in_use, 33 * 8192, "32 spans and the sentinel's");
        space
            .pages
            .pace_scavenger(1 << 20, 1 << 20, space.pages.in_use());
        assert_eq!(
            space.pages.background_goal(),
            usize::MAX,
            "all in use: no goal"
        );
        space.rebuild_pools(SweptLists::empty(), spans);
        assert_eq!(space.scavenge_step(), 0, "no goal: nothing released");
        space.pages.pace_scavenger(1, 1 << 20, space.pages.in_use());
        assert_eq!(space.scavenge_step(), STEP_BYTES, "one chunk of free spans");
        assert_eq!(space.pages.retained(), in_use - STEP_BYTES);
        while space.scavenge_step() > 0 {}
        assert_eq!(space.pages.retained(), 8192, "only the span in use");
        assert_eq!(space.pages.released_total(), 32 * 8192);
    }

    /// A release walks only the free spans still holding pages: each step takes the
    /// spans it released whole out of the walk, so a long run's releases do not walk
    /// every span ever released (they did: quadratic over a run, under the span lock).
    #[test]
    fn released_spans_leave_the_walk() {
        let space = Space::new(8192);
        let sc = SpanClass::new(4, false);
        let spans: Vec<usize> = (0..32).map(|_| space.refill(sc).index).collect();
        space.rebuild_pools(SweptLists::empty(), spans);
        let holding = || lock(&space.pools).holding.len();
        assert_eq!(holding(), 32);
        space.pages.pace_scavenger(1, 1 << 20, space.pages.in_use());
        assert_eq!(space.scavenge_step(), STEP_BYTES);
        assert_eq!(
            holding(),
            32 - STEP_BYTES / 8192,
            "the spans released whole left"
        );
        assert_eq!(space.free_os_memory(), (32 - STEP_BYTES / 8192) * 8192);
        assert_eq!(holding(), 0);
        assert_eq!(space.free_os_memory(), 0, "nothing left to walk");
    }

    #[test]
    fn a_step_releases_only_a_chunk_of_a_large_free_span() {
        let space = Space::new(8192);
        let span = space.alloc_large(&crate::object::Shape::new("big", 0, 1 << 16));
        let index = span.index;
        space.rebuild_pools(SweptLists::empty(), vec![index]);
        space.pages.pace_scavenger(0, 1, space.pages.in_use());
        assert_eq!(space.scavenge_step(), STEP_BYTES);
        assert_eq!(
            span.retained.load(crate::sync::Ordering::Relaxed),
            (512 << 10) - STEP_BYTES
        );
        space.free_os_memory();
        assert_eq!(span.retained.load(crate::sync::Ordering::Relaxed), 0);
        let again = space.alloc_large(&crate::object::Shape::new("big", 0, 1 << 10));
        assert_eq!(
            again.index, index,
            "the free span, reused for a smaller object"
        );
        assert_eq!(again.retained.load(crate::sync::Ordering::Relaxed), 8192);
    }
}
