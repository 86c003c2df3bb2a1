//! The heap's service threads: the background GC thread, which runs a concurrent cycle
//! per request (Go's `gcBgMarkWorker` owner and `gcStart` from `mallocgc`), and the
//! background sweeper (Go's `bgsweep`). Neither runs under loom, where cycles are
//! stepped inline and model threads stand in for them (`Heap::run_background_cycle`,
//! `Heap::run_background_sweep`).
//!
//! Invariant: a service thread holds only a weak reference to the heap between
//! requests, so a heap whose last user is gone is freed, and a shut-down heap's thread
//! exits at its next request.

use super::concurrent::ConcurrentCycle;
use super::start_threshold;
use crate::core::{cycle_guard, HeapCore};
use crate::sync::unmodelled;
use crate::sync::Ordering::*;
use crate::telemetry::CycleReason;
use crate::world::FLAG_SHUTDOWN;

/// Asks the heap's background GC thread for a concurrent cycle, starting the thread on
/// first use.
pub(crate) fn request_background(core: &unmodelled::Arc<HeapCore>) {
    let bg = core.background.clone();
    bg.ensure_thread(|| {
        let weak = unmodelled::Arc::downgrade(core);
        let bg = core.background.clone();
        unmodelled::thread::Builder::new()
            .name("gc-background".into())
            .spawn(move || background_main(&bg, weak))
            .expect("spawning the background GC thread")
    });
    bg.request();
}

/// Asks the heap's background sweeper to sweep the spans left unswept, starting it on
/// first use (Go's `bgsweep`).
fn request_sweep(core: &unmodelled::Arc<HeapCore>) {
    let bg = core.sweeper.clone();
    bg.ensure_thread(|| {
        let weak = unmodelled::Arc::downgrade(core);
        let bg = core.sweeper.clone();
        unmodelled::thread::Builder::new()
            .name("gc-sweeper".into())
            .spawn(move || {
                while bg.next_request() {
                    if let Some(core) = weak.upgrade() {
                        let _slice = core.telemetry.trace.slice("sweep");
                        core.space.finish_sweep();
                    }
                    bg.cycle_done();
                }
            })
            .expect("spawning the background sweeper")
    });
    bg.request_again();
}

/// Marks the GC thread gone if it dies by a panic (an internal error): waiters for a
/// cycle's start or end return instead of waiting forever for a thread that is gone.
struct ExitOnUnwind<'a>(&'a crate::background::Background);

impl Drop for ExitOnUnwind<'_> {
    fn drop(&mut self) {
        if unmodelled::thread::panicking() {
            self.0.signal_exit();
            self.0.cycle_done();
        }
    }
}

/// The background GC thread: runs a concurrent cycle per request until the heap is
/// gone or shut down, coordinating the cycle's mark workers.
fn background_main(bg: &crate::background::Background, heap: unmodelled::Weak<HeapCore>) {
    let _exit_on_unwind = ExitOnUnwind(bg);
    while bg.next_request() {
        let Some(core) = heap.upgrade() else {
            bg.cycle_done();
            return;
        };
        let guard = cycle_guard(&core);
        if core.space.heap_live() >= start_threshold(&core)
            && core.flags.load(Relaxed) & FLAG_SHUTDOWN == 0
        {
            let _slice = core.telemetry.trace.slice("concurrent cycle");
            let mut c = ConcurrentCycle::begin_with_workers(&core, guard, CycleReason::Automatic);
            bg.started();
            c.mark_with_workers();
            c.finish();
            request_sweep(&core);
        } else {
            drop(guard);
        }
        drop(core);
        bg.cycle_done();
    }
}
