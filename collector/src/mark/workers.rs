//! Background mark workers of a concurrent cycle, run as the pacer's `WorkerPlan` says
//! (Go's 25% rule: dedicated workers, a fractional worker in time slices, idle workers on
//! cores no mutator runs on; Go's `gcControllerState.startCycle` and
//! `findRunnableGCWorker`).
//!
//! Workers live for one concurrent mark. They take grey work from the shared pool and
//! the barrier-shaded references in slices of [`SLICE_WORK`], publish what a slice
//! leaves, and bank their scan work as credit for mutator assists. In normal builds they
//! are jobs of the heap's worker pool (`mark::worker_pool`: threads kept across marks);
//! under loom, where the collector starts no threads, a model thread runs a worker's loop
//! ([`serve`], through `Heap::run_mark_worker`), and [`run`] joins it through
//! `MarkState::workers_in`.
//!
//! Invariant: no worker outlives [`run`] (`WorkerPool::run` waits for every job's end,
//! also on an unwind; under loom, [`run`] waits until `workers_in` is zero after setting
//! `workers_stop`, and a worker counts itself in before it reads the flag, so one that
//! missed the flag is waited for). A worker counts itself
//! in `MarkState::busy` from before it takes work until it has published the rest of its
//! slice, so when `run` sees no marker busy and both pools empty, no worker holds private
//! grey work; every worker has recorded its finds and CPU time before `run` returns.

use super::assist::drain_slice;
use super::pool::GreyPool;
use super::state::{Busy, MarkState};
#[cfg(not(loom))]
use super::worker_pool::ScopedJob;
use super::Marker;
use crate::core::HeapCore;
use crate::pacer::WorkerPlan;
use crate::sync::unmodelled::Ordering as Stats;
use crate::sync::{AtomicBool, Ordering::*};
use crate::telemetry::nanos;
use std::time::{Duration, Instant};

/// Scan work a worker does between two looks at its stop flag and its time budget.
#[cfg(not(loom))]
pub(crate) const SLICE_WORK: u64 = 256 << 10;
/// Scan work a worker does between two looks at its stop flag: under loom one object's
/// reference slot, so that a slice ends with grey work left to publish.
#[cfg(loom)]
pub(crate) const SLICE_WORK: u64 = crate::object::WORD_BYTES as u64;

#[derive(Clone, Copy, PartialEq)]
#[cfg_attr(loom, allow(dead_code))]
enum Kind {
    Dedicated,
    Fractional,
    Idle,
}

/// Runs `plan`'s workers while `coordinate` runs on the calling thread (it scans the
/// roots), then waits until no grey work is visible and stops them. With no workers the
/// caller waits for assists to empty the pools, and gives up waiting (leaving the rest
/// to mark termination) once the heap stops growing, as no assist will then come.
#[cfg(not(loom))]
pub(crate) fn run(core: &HeapCore, plan: WorkerPlan, coordinate: impl FnOnce()) {
    let state = &core.mark;
    state.planned.store(plan.threads(), Stats::Relaxed);
    state.workers_stop.store(false, SeqCst);
    let start = Instant::now();
    let jobs = std::iter::repeat_n(Kind::Dedicated, plan.dedicated)
        .chain(std::iter::repeat_n(Kind::Idle, plan.idle))
        .chain((plan.fractional_cores > 0.0).then_some(Kind::Fractional))
        .map(|kind| -> ScopedJob<'_> {
            Box::new(move || worker(core, kind, plan.fractional_cores, start))
        })
        .collect();
    core.worker_pool.run(jobs, &state.workers_stop, || {
        coordinate();
        wait_until_no_work(core, plan);
    });
}

/// [`run`] under loom: the plan's workers are model threads in [`serve`] (the model
/// starts them); after the wait it joins them, waiting until none is counted in.
#[cfg(loom)]
pub(crate) fn run(core: &HeapCore, plan: WorkerPlan, coordinate: impl FnOnce()) {
    let state = &core.mark;
    state.planned.store(plan.threads(), Stats::Relaxed);
    state.workers_stop.store(false, SeqCst);
    coordinate();
    wait_until_no_work(core, plan);
    state.workers_stop.store(true, SeqCst);
    if core.config.faults.workers_unjoined {
        return;
    }
    while state.workers_in.load(SeqCst) != 0 {
        crate::sync::yield_now();
    }
}

/// A mark worker's loop on the calling thread (loom builds: a model thread stands for a
/// worker thread of [`run`]): it counts itself in, then runs as a dedicated worker until
/// [`run`] stops it; nothing if that has happened already.
#[cfg(loom)]
pub(crate) fn serve(core: &HeapCore) {
    let state = &core.mark;
    state.workers_in.fetch_add(1, SeqCst);
    worker(core, Kind::Dedicated, 0.0, Instant::now());
    state.workers_in.fetch_sub(1, SeqCst);
}

/// Polls until no grey work is visible (see [`run`]). Between looks it waits as
/// [`backoff`] does, but a marker that sees the mark complete wakes it
/// ([`wake_coordinator_if_complete`]).
fn wait_until_no_work(core: &HeapCore, plan: WorkerPlan) {
    let state = &core.mark;
    #[cfg(not(loom))]
    let _coordinator = Coordinator::register(state);
    let mut last_live = core.space.heap_live();
    let mut polls = 0u32;
    loop {
        if no_work_visible(core, state) {
            break;
        }
        polls += 1;
        coordinator_backoff(state, polls);
        if polls.is_multiple_of(16) {
            // As Go's scheduler does in `findRunnableGCWorker`: a limiter left on with no
            // assist to update it would keep assists off for good.
            core.space.limiter.maybe_update();
        }
        if plan.threads() == 0 && polls.is_multiple_of(16) {
            let live = core.space.heap_live();
            if live == last_live {
                break;
            }
            last_live = live;
        }
    }
}

/// Whether no marker holds grey work and both pools are empty (the count is read first:
/// a marker counts itself before it takes work).
fn no_work_visible(core: &HeapCore, state: &MarkState) -> bool {
    state.busy.load(SeqCst) == 0 && state.grey.is_empty() && core.shaded.is_empty()
}

/// The calling thread counted as the mark's waiting coordinator
/// (`MarkState::coordinator`) until dropped, also on an unwind (normal builds).
#[cfg(not(loom))]
struct Coordinator<'a>(&'a MarkState);

#[cfg(not(loom))]
impl<'a> Coordinator<'a> {
    fn register(state: &'a MarkState) -> Coordinator<'a> {
        state.coordinator.set_waiting(true);
        Coordinator(state)
    }
}

#[cfg(not(loom))]
impl Drop for Coordinator<'_> {
    fn drop(&mut self) {
        self.0.coordinator.set_waiting(false);
    }
}

/// [`backoff`] for the coordinator: its sleeps are waits that a marker seeing the mark
/// complete ends early (`CoordinatorWake::wake`).
fn coordinator_backoff(state: &MarkState, polls: u32) {
    #[cfg(not(loom))]
    if polls >= 32 {
        let us = (polls - 31).min(200) as u64;
        state.coordinator.wait(Duration::from_micros(us));
        return;
    }
    let _ = state;
    backoff(polls);
}

/// Wakes the coordinator if the mark looks complete to a marker that has just published
/// what it held: no grey work visible and no marker busy (Go's `gcEndWork`, after which
/// the last worker or assist runs `gcMarkDone`).
pub(crate) fn wake_coordinator_if_complete(core: &HeapCore) {
    if no_work_visible(core, &core.mark) {
        core.mark.coordinator.wake();
    }
}

/// Waits a little between two looks for work: spins, then yields, then sleeps up to
/// 200 µs (a worker idles only until roots or barrier buffers bring work). Under loom it
/// yields to loom's scheduler.
fn backoff(polls: u32) {
    if cfg!(loom) {
        crate::sync::yield_now();
    } else if polls < 16 {
        std::hint::spin_loop();
    } else if polls < 32 {
        crate::sync::yield_now();
    } else {
        let us = (polls - 31).min(200) as u64;
        crate::sync::unmodelled::thread::sleep(Duration::from_micros(us));
    }
}

fn worker(core: &HeapCore, kind: Kind, fractional_cores: f64, start: Instant) {
    let slice = core.telemetry.trace.slice(match kind {
        Kind::Dedicated => "mark worker (dedicated)",
        Kind::Fractional => "mark worker (fractional)",
        Kind::Idle => "mark worker (idle)",
    });
    let state = &core.mark;
    let stop = &state.workers_stop;
    let markers = state.planned.load(Stats::Relaxed).max(1);
    let mut m = Marker::new(&core.space, &state.grey, &core.shaded, &state.busy, markers);
    let mut cpu_ns = 0u64;
    let mut polls = 0u32;
    while !stop.load(SeqCst) {
        if state.grey.is_empty() && core.shaded.is_empty() {
            polls += 1;
            backoff(polls);
            continue;
        }
        polls = 0;
        let t = Instant::now();
        // An idle worker's P is idle to the GC CPU limiter while it marks, counted as
        // the slice runs (`pacer::p_events`).
        let idle = (kind == Kind::Idle).then(|| core.space.limiter.idle_marking_begins());
        let busy = Busy::enter(&state.busy);
        drain_slice(&mut m, SLICE_WORK, |work| {
            state.scan_work.fetch_add(work, Stats::Relaxed);
            state.flush_credit(work as i64);
            true
        });
        publish(core, &mut m);
        drop(busy);
        drop(idle);
        wake_coordinator_if_complete(core);
        let ns = nanos(t.elapsed());
        cpu_ns += ns;
        count_time(core, kind, ns);
        if kind == Kind::Fractional {
            throttle(stop, cpu_ns, fractional_cores, start);
        }
    }
    state.record(m.marked_objects, m.marked_bytes, m.bad_refs);
    drop(slice);
    // The next mark's worker of this kind may run on another pool thread: it takes this
    // one's track over.
    core.telemetry.trace.leave_thread();
}

/// Counts `ns` of a worker's marking as its kind's time: idle mark time or background
/// time (an idle worker's slice is the GC CPU limiter's idle time as it runs).
fn count_time(core: &HeapCore, kind: Kind, ns: u64) {
    match kind {
        Kind::Idle => core.mark.idle_ns.fetch_add(ns, Stats::Relaxed),
        _ => core.mark.background_ns.fetch_add(ns, Stats::Relaxed),
    };
}

/// Counts the GC thread's scan of the specials' roots (`ns`, in [`run`]'s
/// `coordinate`, of a mark that began at `mark_start`) as mark worker time, as Go counts
/// its root jobs (`markrootSpans` among them) in the time of the workers that take them,
/// which Go's scheduler hands out dedicated first, then fractional, then idle
/// (`findRunnableGCWorker`, then `findRunnable`): a background worker's time when the
/// plan runs dedicated workers or no idle one, an idle worker's otherwise (on 2 Ps with
/// one mutator, Go's fractional worker leaves after a job or so, and the idle worker
/// takes the rest). The GC thread is not one of the plan's workers, so its idle time is
/// capped at what the plan's idle workers could have left in the mark so far, as read
/// when the scan ends (a worker's slice then in progress may still add its time, and the
/// mark's start is taken in its first pause). The cons/mark estimate counts idle time as
/// the mark's (`pacer::ConsMark`), so a mark whose work is its root scan is not taken
/// for one that needed no CPU.
pub(crate) fn count_root_scan_time(
    core: &HeapCore,
    plan: WorkerPlan,
    ns: u64,
    mark_start: Instant,
) {
    if !root_scan_is_idle(plan) {
        count_time(core, Kind::Dedicated, ns);
        return;
    }
    let capacity = nanos(mark_start.elapsed()).saturating_mul(plan.idle as u64);
    let room = capacity.saturating_sub(core.mark.idle_ns.load(Stats::Relaxed));
    count_time(core, Kind::Idle, ns.min(room));
}

/// Whether the GC thread's scan of the specials' roots is idle marking under `plan`
/// ([`count_root_scan_time`]); the GC CPU limiter counts it so as it runs, among the
/// idle Ps, never more than are free (`pacer::p_events`).
pub(crate) fn root_scan_is_idle(plan: WorkerPlan) -> bool {
    plan.dedicated == 0 && plan.idle > 0
}

/// Publishes what a worker's slice left (under loom's `worker_drops_grey` fault, drops
/// it instead: marked objects that nobody will scan).
fn publish(core: &HeapCore, m: &mut Marker<'_, crate::mark::pool::DefaultPool>) {
    #[cfg(loom)]
    if core.config.faults.worker_drops_grey {
        m.discard();
        return;
    }
    let _ = core;
    m.publish();
}

/// Keeps the fractional worker at its share: sleeps while its marking time exceeds
/// `cores × elapsed`, looking at the stop flag every millisecond.
fn throttle(stop: &AtomicBool, cpu_ns: u64, cores: f64, start: Instant) {
    let earned_at = Duration::from_nanos((cpu_ns as f64 / cores) as u64);
    while !stop.load(SeqCst) {
        let elapsed = start.elapsed();
        if elapsed >= earned_at {
            return;
        }
        crate::sync::unmodelled::thread::sleep((earned_at - elapsed).min(Duration::from_millis(1)));
    }
}
