//! Background mark workers of a concurrent cycle (normal builds; loom models step the
//! mark inline). Go's 25% rule decides how many: dedicated workers that mark full time
//! for a quarter of GOMAXPROCS, a fractional worker that marks in time slices when the
//! rounding leaves a remainder, and idle workers on the cores no mutator runs on
//! (Go's `gcControllerState.startCycle` and `findRunnableGCWorker`).
//!
//! Workers live for one concurrent mark. They take grey work from the shared pool and
//! the barrier-shaded references in slices of [`SLICE_WORK`], publish what a slice
//! leaves, and bank their scan work as credit for mutator assists.

use super::pool::GreyPool;
use super::state::MarkState;
use super::Marker;
use crate::core::HeapCore;
use crate::sync::unmodelled::{AtomicBool, Ordering::*};
use crate::telemetry::nanos;
use std::time::{Duration, Instant};

/// The share of GOMAXPROCS that background marking aims to use (Go's
/// `gcBackgroundUtilization`).
pub(crate) const BACKGROUND_UTILIZATION: f64 = 0.25;

/// How far rounding may take the dedicated workers from the 25% goal before a
/// fractional worker makes up the difference (Go's `maxUtilError`).
const MAX_UTIL_ERROR: f64 = 0.3;

/// Scan work a worker does between two looks at its stop flag and its time budget.
pub(crate) const SLICE_WORK: u64 = 256 << 10;

/// How many workers of each kind a concurrent mark runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WorkerPlan {
    /// Workers that mark full time.
    pub(crate) dedicated: usize,
    /// The CPU, in cores, the fractional worker may use (0: none runs).
    pub(crate) fractional_cores: f64,
    /// Workers on cores that no mutator runs on.
    pub(crate) idle: usize,
}

impl WorkerPlan {
    /// Go's rule for `procs` = GOMAXPROCS with `running` mutators.
    pub(crate) fn go_rule(procs: usize, running: usize) -> WorkerPlan {
        let procs = procs.max(1);
        let goal = procs as f64 * BACKGROUND_UTILIZATION;
        let mut dedicated = (goal + 0.5) as usize;
        let error = dedicated as f64 / goal - 1.0;
        let mut fractional_per_proc = 0.0;
        if !(-MAX_UTIL_ERROR..=MAX_UTIL_ERROR).contains(&error) {
            if dedicated as f64 > goal {
                dedicated -= 1;
            }
            fractional_per_proc = (goal - dedicated as f64) / procs as f64;
        }
        // Each core running a mutator may give the fractional worker its share; a core
        // with nothing to run runs an idle worker instead.
        let free = procs - dedicated;
        let busy = running.min(free);
        WorkerPlan {
            dedicated,
            fractional_cores: fractional_per_proc * busy as f64,
            idle: free - busy,
        }
    }

    /// Exactly `n` dedicated workers (`--mark-workers n`; 0: assists only).
    pub(crate) fn fixed(n: usize) -> WorkerPlan {
        WorkerPlan {
            dedicated: n,
            fractional_cores: 0.0,
            idle: 0,
        }
    }

    /// Worker threads the plan starts.
    pub(crate) fn threads(&self) -> usize {
        self.dedicated + self.idle + usize::from(self.fractional_cores > 0.0)
    }
}

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
        state.bg_credit.fetch_add(work as i64, Release);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(procs: usize, running: usize) -> (usize, f64, usize) {
        let p = WorkerPlan::go_rule(procs, running);
        (p.dedicated, p.fractional_cores, p.idle)
    }

    #[test]
    fn go_rounds_to_dedicated_workers_when_within_thirty_percent() {
        // GOMAXPROCS 4: exactly one dedicated worker; 16: four. No fractional worker.
        assert_eq!(rule(4, 4), (1, 0.0, 0));
        assert_eq!(rule(16, 16), (4, 0.0, 0));
        // 8 → 2 dedicated; 10 → 2.5 rounds to 3 (error 0.2, within 0.3).
        assert_eq!(rule(8, 8), (2, 0.0, 0));
        assert_eq!(rule(10, 10), (3, 0.0, 0));
    }

    #[test]
    fn go_uses_a_fractional_worker_for_small_and_six_procs() {
        // Go's comment: rounding is more than 30% off for GOMAXPROCS <= 3 or 6.
        for procs in [1, 2, 3, 6] {
            let p = WorkerPlan::go_rule(procs, procs);
            let goal = procs as f64 * BACKGROUND_UTILIZATION;
            assert!(p.fractional_cores > 0.0, "GOMAXPROCS {procs}: {p:?}");
            // Each P without a dedicated worker gives it (goal - dedicated) / procs.
            let per_proc = (goal - p.dedicated as f64) / procs as f64;
            let expected = per_proc * (procs - p.dedicated) as f64;
            assert!(
                (p.fractional_cores - expected).abs() < 1e-9,
                "GOMAXPROCS {procs}: {p:?}, expected {expected} fractional cores"
            );
        }
        // GOMAXPROCS 2: no dedicated worker, half a core in fractional time.
        assert_eq!(rule(2, 2), (0, 0.5, 0));
        assert_eq!(rule(6, 6).0, 1);
    }

    #[test]
    fn cores_without_mutators_run_idle_workers() {
        // Two cores, one mutator: the other core marks full time, the mutator's core
        // gives the fractional worker its quarter.
        assert_eq!(rule(2, 1), (0, 0.25, 1));
        // Sixteen cores, two mutators: four dedicated, ten idle.
        assert_eq!(rule(16, 2), (4, 0.0, 10));
        // No mutator running: every non-dedicated core idles.
        assert_eq!(rule(4, 0), (1, 0.0, 3));
    }

    #[test]
    fn fixed_plans_have_only_dedicated_workers() {
        assert_eq!(WorkerPlan::fixed(0).threads(), 0);
        assert_eq!(WorkerPlan::fixed(3).threads(), 3);
        assert_eq!(WorkerPlan::go_rule(2, 1).threads(), 2);
    }
}
