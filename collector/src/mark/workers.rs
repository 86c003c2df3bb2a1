//! Background mark workers of a concurrent cycle (normal builds; loom models step the
//! mark inline), run as the pacer's `WorkerPlan` says (Go's 25% rule: dedicated
//! workers, a fractional worker in time slices, idle workers on cores no mutator runs
//! on; Go's `gcControllerState.startCycle` and `findRunnableGCWorker`).
//!
//! Workers live for one concurrent mark. They take grey work from the shared pool and
//! the barrier-shaded references in slices of [`SLICE_WORK`], publish what a slice
//! leaves, and bank their scan work as credit for mutator assists.
//!
//! Invariant: workers are scoped threads of [`run`], so none outlives the call. A worker
//! counts itself in `MarkState::busy` from before it takes work until it has published the
//! rest of its slice, so when `run` sees no marker busy and both pools empty, no worker
//! holds private grey work; every worker has recorded its finds and CPU time before `run`
//! returns.

use super::pool::GreyPool;
use super::state::MarkState;
use super::Marker;
use crate::core::HeapCore;
use crate::pacer::WorkerPlan;
use crate::sync::unmodelled::{AtomicBool, Ordering::*};
use crate::telemetry::nanos;
use std::time::{Duration, Instant};

/// Scan work a worker does between two looks at its stop flag and its time budget.
pub(crate) const SLICE_WORK: u64 = 256 << 10;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dedicated,
    Fractional,
    Idle,
}

/// Runs `plan`'s workers while `coordinate` runs on the calling thread (it scans the
/// roots), then waits until no grey work is visible and stops them. With no workers the
/// caller waits for assists to empty the pools, and gives up waiting (leaving the rest
/// to mark termination) once the heap stops growing, as no assist will then come.
pub(crate) fn run(core: &HeapCore, plan: WorkerPlan, coordinate: impl FnOnce()) {
    let state = &core.mark;
    state.planned.store(plan.threads(), Relaxed);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    crate::sync::unmodelled::thread::scope(|s| {
        let kinds = std::iter::repeat_n(Kind::Dedicated, plan.dedicated)
            .chain(std::iter::repeat_n(Kind::Idle, plan.idle))
            .chain((plan.fractional_cores > 0.0).then_some(Kind::Fractional));
        for kind in kinds {
            let stop = &stop;
            crate::sync::unmodelled::thread::Builder::new()
                .name("gc-mark-worker".into())
                .spawn_scoped(s, move || {
                    worker(core, kind, stop, plan.fractional_cores, start)
                })
                .expect("spawning a mark worker");
        }
        coordinate();
        let mut last_live = core.space.heap_live();
        let mut polls = 0u32;
        loop {
            if no_work_visible(core, state) {
                break;
            }
            polls += 1;
            backoff(polls);
            if plan.threads() == 0 && polls.is_multiple_of(16) {
                let live = core.space.heap_live();
                if live == last_live {
                    break;
                }
                last_live = live;
            }
        }
        stop.store(true, Release);
    });
}

/// Whether no marker holds grey work and both pools are empty (the count is read first:
/// a marker counts itself before it takes work).
fn no_work_visible(core: &HeapCore, state: &MarkState) -> bool {
    state.busy.load(SeqCst) == 0 && state.grey.is_empty() && core.shaded.is_empty()
}

/// Waits a little between two looks for work: spins, then yields, then sleeps up to
/// 200 µs (a worker idles only until roots or barrier buffers bring work).
fn backoff(polls: u32) {
    if polls < 16 {
        std::hint::spin_loop();
    } else if polls < 32 {
        crate::sync::unmodelled::thread::yield_now();
    } else {
        let us = (polls - 31).min(200) as u64;
        crate::sync::unmodelled::thread::sleep(Duration::from_micros(us));
    }
}

fn worker(core: &HeapCore, kind: Kind, stop: &AtomicBool, fractional_cores: f64, start: Instant) {
    let state = &core.mark;
    let markers = state.planned.load(Relaxed).max(1);
    let mut m = Marker::new(&core.space, &state.grey, &core.shaded, &state.busy, markers);
    let mut cpu_ns = 0u64;
    let mut polls = 0u32;
    while !stop.load(Acquire) {
        if state.grey.is_empty() && core.shaded.is_empty() {
            polls += 1;
            backoff(polls);
            continue;
        }
        polls = 0;
        let t = Instant::now();
        state.busy.fetch_add(1, SeqCst);
        let before = m.scan_work;
        m.budget = before + SLICE_WORK;
        m.drain();
        m.publish();
        state.busy.fetch_sub(1, SeqCst);
        let work = m.scan_work - before;
        state.scan_work.fetch_add(work, Relaxed);
        state.flush_credit(work as i64);
        let ns = nanos(t.elapsed());
        cpu_ns += ns;
        match kind {
            Kind::Idle => state.idle_ns.fetch_add(ns, Relaxed),
            _ => state.background_ns.fetch_add(ns, Relaxed),
        };
        if kind == Kind::Fractional {
            throttle(stop, cpu_ns, fractional_cores, start);
        }
    }
    state.record(m.marked_objects, m.marked_bytes, m.bad_refs);
}

/// Keeps the fractional worker at its share: sleeps while its marking time exceeds
/// `cores × elapsed`, looking at the stop flag every millisecond.
fn throttle(stop: &AtomicBool, cpu_ns: u64, cores: f64, start: Instant) {
    let earned_at = Duration::from_nanos((cpu_ns as f64 / cores) as u64);
    while !stop.load(Acquire) {
        let elapsed = start.elapsed();
        if elapsed >= earned_at {
            return;
        }
        crate::sync::unmodelled::thread::sleep((earned_at - elapsed).min(Duration::from_millis(1)));
    }
}
