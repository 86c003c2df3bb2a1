//! The whole-heap fork-join phases' threads: a rayon pool per thread count, shared by
//! every heap of the process, that the checkmark re-trace, the leak checker's traces and
//! the sweep `gc()` finishes run their work on.
//!
//! The pools hold only the collector's own jobs, so a phase's thread never runs user
//! code. The thread driving a phase waits for its jobs; rayon's wait steals work when
//! the waiting thread is a worker of some rayon pool, and a worker of a user's pool
//! (`MutatorPool`) could then steal a task that waits for the pause this phase belongs
//! to: so on a rayon worker thread, under loom, or with one thread, a phase runs on the
//! calling thread alone. The pools' threads live as long as the process (idle, they
//! sleep), as a Go program's GC workers do; they are not a heap's threads, so
//! `Heap::shutdown` does not join them.
//!
//! Invariant: every job run here is a collector phase's, which touches no mutator and
//! waits for nothing but its own jobs; a phase returns only when all its jobs are done
//! (`rayon::ThreadPool::scope`), so the jobs may borrow the caller's state.

/// At most this many references per job before a trace hands half of its stack to a new
/// job (work splitting; a job's stack stays in cache until it grows this large).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SPLIT_AT: usize = 256;

/// A phase's threads: `threads` of a pool shared by all heaps, or the calling thread.
pub(crate) struct PhaseThreads {
    #[cfg(not(loom))]
    pool: Option<&'static rayon::ThreadPool>,
}

impl PhaseThreads {
    /// Threads for a phase of a heap whose GOMAXPROCS is `gomaxprocs`, on a machine of
    /// `cpus`: one per P, at most one per CPU (as the mark's threads); the calling
    /// thread alone on a rayon worker thread, under loom, or for one.
    pub(crate) fn new(gomaxprocs: usize, cpus: usize) -> PhaseThreads {
        #[cfg(not(loom))]
        {
            let n = gomaxprocs.min(cpus);
            let pool = (n > 1 && rayon::current_thread_index().is_none()).then(|| pool_of(n));
            PhaseThreads { pool }
        }
        #[cfg(loom)]
        {
            let _ = (gomaxprocs, cpus);
            PhaseThreads {}
        }
    }

    /// The number of threads the phase runs on.
    pub(crate) fn threads(&self) -> usize {
        #[cfg(not(loom))]
        return self.pool.map_or(1, |p| p.current_num_threads());
        #[cfg(loom)]
        1
    }

    /// Runs `job(i)` for every `i` in `0..self.threads()`, one on each thread, and
    /// returns when all are done.
    pub(crate) fn each_thread(&self, job: impl Fn(usize) + Sync) {
        #[cfg(not(loom))]
        if let Some(pool) = self.pool {
            let job = &job;
            pool.scope(|s| {
                for i in 0..pool.current_num_threads() {
                    s.spawn(move |_| job(i));
                }
            });
            return;
        }
        job(0)
    }

    /// `f` of every item of `items`, in order; the items are shared out among the
    /// threads.
    pub(crate) fn map<T: Sync, R: Send>(&self, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
        #[cfg(not(loom))]
        if let Some(pool) = self.pool {
            use rayon::prelude::*;
            let f = &f;
            return pool.install(|| items.par_iter().map(f).collect());
        }
        items.iter().map(f).collect()
    }

    /// Traces from `stack`: `step(item, out)` handles one item, pushing the items it
    /// leads to onto `out`. With several threads, a job whose stack grows past
    /// [`SPLIT_AT`] hands half of it to a new job. Returns when every item is handled.
    pub(crate) fn trace<T: Send>(&self, stack: Vec<T>, step: impl Fn(T, &mut Vec<T>) + Sync) {
        #[cfg(not(loom))]
        if let Some(pool) = self.pool {
            let step = &step;
            pool.scope(|s| trace_job(s, stack, step));
            return;
        }
        let mut stack = stack;
        while let Some(item) = stack.pop() {
            step(item, &mut stack);
        }
    }
}

/// One job of a parallel trace: drains its stack, splitting it when it grows.
#[cfg(not(loom))]
fn trace_job<'s, T: Send + 's>(
    s: &rayon::Scope<'s>,
    mut stack: Vec<T>,
    step: &'s (impl Fn(T, &mut Vec<T>) + Sync),
) {
    while let Some(item) = stack.pop() {
        step(item, &mut stack);
        if stack.len() > SPLIT_AT {
            let half = stack.split_off(stack.len() / 2);
            s.spawn(move |s| trace_job(s, half, step));
        }
    }
}

/// The shared pool of `n` threads, made on first use.
#[cfg(not(loom))]
fn pool_of(n: usize) -> &'static rayon::ThreadPool {
    use crate::sync::unmodelled::{lock, Mutex};
    static POOLS: Mutex<Vec<(usize, &'static rayon::ThreadPool)>> = Mutex::new(Vec::new());
    let mut pools = lock(&POOLS);
    if let Some(&(_, p)) = pools.iter().find(|(k, _)| *k == n) {
        return p;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("gc-phase-{n}.{i}"))
        .build()
        .expect("the collector's phase threads start");
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    pools.push((n, pool));
    pool
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::unmodelled::{AtomicUsize, Ordering::Relaxed};

    /// A trace over a graph wide enough to split (one item leads to 10,000, each of
    /// which leads to one more) handles every item exactly once, on several jobs.
    #[test]
    fn a_trace_that_splits_handles_every_item_once() {
        let phase = PhaseThreads::new(2, 2);
        assert_eq!(phase.threads(), 2);
        const N: usize = 10_000;
        let seen: Vec<AtomicUsize> = (0..2 * N + 1).map(|_| AtomicUsize::new(0)).collect();
        let splits = AtomicUsize::new(0);
        phase.trace(vec![0usize], |item, out| {
            seen[item].fetch_add(1, Relaxed);
            if item == 0 {
                out.extend(1..=N);
            } else if item <= N {
                out.push(N + item);
            }
            if out.len() > SPLIT_AT {
                splits.fetch_add(1, Relaxed);
            }
        });
        assert!(seen.iter().all(|c| c.load(Relaxed) == 1));
        assert!(
            splits.load(Relaxed) > 0,
            "the stack grew past the split point"
        );
    }

    #[test]
    fn map_keeps_the_order_and_each_thread_runs_each_index_once() {
        let phase = PhaseThreads::new(2, 2);
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(
            phase.map(&items, |x| x * 3),
            items.iter().map(|x| x * 3).collect::<Vec<_>>()
        );
        let ran: Vec<AtomicUsize> = (0..phase.threads()).map(|_| AtomicUsize::new(0)).collect();
        phase.each_thread(|i| {
            ran[i].fetch_add(1, Relaxed);
        });
        assert!(ran.iter().all(|c| c.load(Relaxed) == 1));
    }

    /// On a rayon worker (a user's pool, say) a phase runs on the calling thread: a
    /// rayon wait there would steal the user's tasks.
    #[test]
    fn a_phase_on_a_rayon_worker_runs_on_that_thread_alone() {
        let user = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert_eq!(user.install(|| PhaseThreads::new(2, 2).threads()), 1);
        assert_eq!(PhaseThreads::new(1, 2).threads(), 1, "one P, one thread");
        assert_eq!(PhaseThreads::new(8, 2).threads(), 2, "at most one per CPU");
    }
}
