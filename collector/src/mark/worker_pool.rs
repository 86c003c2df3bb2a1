//! The background mark workers' threads, kept from one mark to the next as Go keeps its
//! `gcBgMarkWorker` goroutines (started once per P by `gcBgMarkStartWorkers` and parked
//! between marks) instead of started and joined every cycle: a mark hands each planned
//! worker's job to a waiting pool thread, starting one only when none waits, and waits
//! until every job it handed out has ended. A thread started per mark cost its creation
//! and exit every cycle, and its allocator's thread heap took fresh pages the kernel had
//! to zero (binary-trees: 79 threads started a run, 8 with the pool; perf on a busy
//! machine found 7 to 241 of a run's ~5,000 samples zeroing pages in mark-worker threads
//! before, 5 to 77 after, varying with the kernel's huge-page state).
//!
//! The pool knows nothing of marking: a job is a closure (`mark::workers` makes each
//! worker's), borrowed for the mark's duration as a scoped thread's closure is.
//!
//! Invariant: a job runs only between [`WorkerPool::run`]'s hand-out and its wait for the
//! jobs' end, which neither returns nor unwinds before every job it handed out has
//! signalled its end; so whatever a job borrows outlives the job (the pool stores jobs
//! with their lifetime erased on that ground). A thread that waits for a job holds none.
//! `jobs` and `unfinished` change only under the lock: `unfinished` counts the jobs
//! handed out and not ended. [`WorkerPool::stop`] runs when the heap is dropped, when no
//! mark runs.

use crate::sync::unmodelled::{lock, thread, Arc, AtomicBool, Condvar, Mutex, Ordering};

/// A worker's job, with its borrows' lifetime erased (the module invariant keeps them
/// valid while it runs).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A job as `WorkerPool::run` receives it.
pub(crate) type ScopedJob<'a> = Box<dyn FnOnce() + Send + 'a>;

#[derive(Default)]
struct State {
    jobs: Vec<Job>,
    /// Jobs handed out by the current mark and not ended.
    unfinished: usize,
    /// Threads started (waiting, or running a job).
    threads: usize,
    /// A job's panic (an internal error), re-raised by the mark that handed it out.
    panic: Option<Box<dyn std::any::Any + Send>>,
    exit: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when jobs are handed out or at exit.
    work: Condvar,
    /// Signalled when a job ends.
    ended: Condvar,
}

/// The pool of a heap's mark worker threads.
#[derive(Default)]
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl WorkerPool {
    /// Runs `jobs` on the pool's threads while `body` runs on the calling thread, then
    /// sets `stop` (which the jobs watch) and waits until every job has ended, also if
    /// `body` panics. A job's panic is raised here after the wait.
    pub(crate) fn run<'a>(
        &self,
        jobs: Vec<ScopedJob<'a>>,
        stop: &'a AtomicBool,
        body: impl FnOnce(),
    ) {
        let jobs = jobs
            .into_iter()
            .map(|job| {
                // SAFETY: only the lifetime changes; `run` waits for every job's end
                // before it returns or unwinds (`EndJobs`), so what `job` borrows for
                // `'a` outlives it (module invariant).
                unsafe { std::mem::transmute::<ScopedJob<'a>, Job>(job) }
            })
            .collect();
        let mut end = EndJobs { pool: self, stop };
        self.hand_out(jobs);
        body();
        if let Some(panic) = end.wait() {
            std::panic::resume_unwind(panic);
        }
    }

    fn hand_out(&self, jobs: Vec<Job>) {
        let mut g = lock(&self.shared.state);
        g.unfinished += jobs.len();
        g.jobs.extend(jobs);
        // Every job of the last mark has ended, so every started thread waits for one or
        // is on its way back to the wait.
        let start = g.unfinished.saturating_sub(g.threads);
        g.threads += start;
        drop(g);
        self.shared.work.notify_all();
        let mut handles = lock(&self.handles);
        for started in 0..start {
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("gc-mark-worker".into())
                .spawn(move || pool_thread(&shared));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    // No thread will take the jobs not taken yet: withdraw them, so the
                    // wait for the mark's end counts only jobs that will end.
                    let mut g = lock(&self.shared.state);
                    g.threads -= start - started;
                    let withdrawn = g.jobs.len();
                    g.jobs.clear();
                    g.unfinished -= withdrawn;
                    drop(g);
                    panic!("collector: spawning a mark worker: {e}");
                }
            }
        }
    }

    /// Ends the pool's threads and joins them (the heap is being dropped).
    pub(crate) fn stop(&self) {
        lock(&self.shared.state).exit = true;
        self.shared.work.notify_all();
        for handle in std::mem::take(&mut *lock(&self.handles)) {
            let _ = handle.join();
        }
    }
}

/// Stops the mark's workers and waits for their jobs to end: in `wait`, or on an unwind
/// out of the body.
struct EndJobs<'a> {
    pool: &'a WorkerPool,
    stop: &'a AtomicBool,
}

impl EndJobs<'_> {
    /// Sets the stop flag, waits until no job is unfinished, and takes a job's panic.
    fn wait(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.stop.store(true, Ordering::SeqCst);
        let shared = &self.pool.shared;
        let mut g = lock(&shared.state);
        while g.unfinished > 0 {
            g = shared.ended.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        // Every job handed out was taken and ended (a spawn failure withdrew the rest).
        debug_assert!(g.jobs.is_empty());
        g.panic.take()
    }
}

impl Drop for EndJobs<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let _ = self.wait();
        }
    }
}

/// A pool thread: waits for a job, runs it, signals its end; until the pool stops.
fn pool_thread(shared: &Shared) {
    loop {
        let job = {
            let mut g = lock(&shared.state);
            loop {
                if g.exit {
                    return;
                }
                if let Some(job) = g.jobs.pop() {
                    break job;
                }
                g = shared.work.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        };
        // The job is unfinished until its end is signalled below (module invariant).
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let mut g = lock(&shared.state);
        g.unfinished -= 1;
        if let Err(panic) = ran {
            g.panic.get_or_insert(panic);
        }
        drop(g);
        shared.ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::unmodelled::AtomicUsize;

    fn started(pool: &WorkerPool) -> usize {
        lock(&pool.shared.state).threads
    }

    /// Jobs run on threads kept across runs: three marks of two workers start two
    /// threads, not six; every job has ended when `run` returns, and what they borrow
    /// from the caller's frame is what they see.
    #[test]
    fn threads_are_kept_across_runs_and_every_job_ends_before_run_returns() {
        let pool = WorkerPool::default();
        for round in 1..=3 {
            let stop = AtomicBool::new(false);
            let done = AtomicUsize::new(0);
            let jobs: Vec<ScopedJob<'_>> = (0..2)
                .map(|_| -> ScopedJob<'_> {
                    Box::new(|| {
                        while !stop.load(Ordering::SeqCst) {
                            std::hint::spin_loop();
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            pool.run(jobs, &stop, || {});
            assert_eq!(done.load(Ordering::SeqCst), 2, "round {round}");
            assert_eq!(started(&pool), 2, "round {round}");
            assert_eq!(
                lock(&pool.handles).len(),
                2,
                "round {round}: threads spawned"
            );
        }
        pool.stop();
        assert!(lock(&pool.handles).is_empty());
    }

    /// A job's panic is raised by `run` once every job has ended; a body's panic stops
    /// the jobs (its stop flag) and waits for them before it unwinds out of `run`. The
    /// pool goes on serving afterwards.
    #[test]
    fn panics_are_raised_after_every_job_has_ended() {
        let pool = WorkerPool::default();
        let stop = AtomicBool::new(false);
        let done = AtomicUsize::new(0);
        let jobs: Vec<ScopedJob<'_>> = vec![
            Box::new(|| panic!("a worker's internal error")),
            Box::new(|| {
                while !stop.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                done.fetch_add(1, Ordering::SeqCst);
            }),
        ];
        let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(jobs, &stop, || {})
        }));
        assert!(raised.is_err());
        assert_eq!(done.load(Ordering::SeqCst), 1);
        let stop = AtomicBool::new(false);
        let done = AtomicUsize::new(0);
        let job: ScopedJob<'_> = Box::new(|| {
            while !stop.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            done.fetch_add(1, Ordering::SeqCst);
        });
        let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(vec![job], &stop, || panic!("the coordinator's"))
        }));
        assert!(raised.is_err());
        assert_eq!(
            done.load(Ordering::SeqCst),
            1,
            "ended before the unwind left run"
        );
        assert_eq!(started(&pool), 2);
        pool.stop();
    }
}
