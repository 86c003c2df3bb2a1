//! Model 4, wake-ups and exactly-once: callbacks queued while the runners are parking
//! always run, exactly once, over the runners' real park-and-wake loop
//! (`Heap::run_cleanup_worker` / `Heap::run_finalizer_thread` run on model threads what
//! the runner threads run in normal builds), with a concurrent `stop()` and `shutdown()`.
//! A push notifies only the parked runners it claims (Go's `asleep` moved to `woken`, one
//! `notify_one` each): the models run that accounting too, for one push of one cleanup
//! (two parked workers) and of one finalizer. The control's runner counts itself parked
//! as the real one does; its one fault is the check made outside the lock.
//! The negative control makes the runners check for work outside the queue's lock before
//! parking (the classic lost wake-up); loom must report the deadlock. A third model runs
//! the testbed's one-cleanup-at-a-time option: a worker that takes the first cleanup of
//! a block claims another parked worker for the rest (its controls skip that claim, and
//! loom must report the deadlock), for plain cleanups and for cleanups with managed
//! arguments (`take_boxed`). See this crate's README.md.
#![cfg(loom)]

use collector::{keep_alive, CallbackPanic, Gogc, Heap, HeapConfig, LoomFaults, Shape};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use loom_tests::{assert_control, LeakOnPanic};

/// One reference slot (unused) and one data word.
static OBJ: Shape = Shape::new("obj", 1, 1);

fn heap(faults: LoomFaults) -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent: false,
        // A failed assertion inside a callback unwinds to the model, where loom sees it.
        callback_panic: CallbackPanic::Propagate,
        faults,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// Runs `model` with the shutdown race's expected panic kept quiet.
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    quiet_shutdown_race();
    loom_tests::explore(name, model);
}

/// Keeps the panic hook from printing the runner's expected shutdown race: a worker
/// woken for a cleanup the other worker has taken can reach its batch after the heap was
/// shut down, and creating the batch's mutator panics with the shut-down message, which
/// the runner catches and exits on (`run_batch` in the collector's `runner.rs`). Every
/// other panic is printed as before.
fn quiet_shutdown_race() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.contains("the heap has been shut down") {
                previous(info);
            }
        }));
    });
}

/// Two cleanup workers park on the empty queue while the main thread (a mutator)
/// registers a cleanup on an object it drops and another on an object it keeps, runs a
/// cycle (which queues the first cleanup and wakes the workers), stops the second
/// cleanup while the workers run, waits for the queue to drain, and shuts the heap down.
/// The first cleanup runs exactly once, the stopped one never, and every thread ends.
fn cleanup_workers_model(faults: LoomFaults) {
    let heap = LeakOnPanic::new(heap(faults));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let h = LeakOnPanic::new(heap.clone());
            thread::spawn(move || h.run_cleanup_worker())
        })
        .collect();
    let ran = LeakOnPanic::new(Arc::new(AtomicUsize::new(0)));
    let stopped_ran = LeakOnPanic::new(Arc::new(AtomicBool::new(false)));
    {
        let m = heap.mutator();
        let dead = m.alloc(&OBJ);
        let kept = m.alloc(&OBJ);
        let r = (*ran).clone();
        m.add_cleanup(&dead, (), move |()| {
            r.fetch_add(1, SeqCst);
        });
        let s = (*stopped_ran).clone();
        let c = m.add_cleanup(&kept, (), move |()| s.store(true, SeqCst));
        drop(dead);
        // Queues the first cleanup and wakes the workers.
        m.gc();
        // Concurrent with the workers running the first cleanup.
        c.stop();
        keep_alive(kept);
    }
    // Drained without a mutator on this thread: a deadlock found here unwinds through no
    // mutator state.
    heap.drain_cleanups();
    heap.shutdown();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(ran.load(SeqCst), 1, "the cleanup did not run exactly once");
    assert!(!stopped_ran.load(SeqCst), "the stopped cleanup ran");
}

/// The finalizer thread parks on the empty queue while the main thread registers a
/// finalizer on an object it drops, runs a cycle, waits for the queue to drain and shuts
/// the heap down: the finalizer runs exactly once, and the thread ends.
fn finalizer_thread_model(faults: LoomFaults) {
    let heap = LeakOnPanic::new(heap(faults));
    let h = LeakOnPanic::new(heap.clone());
    let runner = thread::spawn(move || h.run_finalizer_thread());
    let ran = LeakOnPanic::new(Arc::new(AtomicUsize::new(0)));
    {
        let m = heap.mutator();
        let obj = m.alloc(&OBJ);
        let r = (*ran).clone();
        m.set_finalizer(&obj, move |_| {
            r.fetch_add(1, SeqCst);
        });
        drop(obj);
        m.gc();
    }
    heap.drain_finalizers();
    heap.shutdown();
    runner.join().unwrap();
    assert_eq!(
        ran.load(SeqCst),
        1,
        "the finalizer did not run exactly once"
    );
}

/// Two cleanups of one sweep that can finish only together: each counts itself started
/// and waits until both have. One sweep queues them as one block, for which the push
/// claims one parked worker; the testbed's adaptive batches with two workers take one
/// cleanup at a time, so the worker that takes the first must claim the other parked
/// worker for the second (`claim_one_for_rest`), or the first waits forever. Both run,
/// the drain ends, and every thread ends.
fn rest_of_a_block_model(faults: LoomFaults, boxed: bool) {
    let mut config = HeapConfig {
        gogc: Gogc::Off,
        concurrent: false,
        callback_panic: CallbackPanic::Propagate,
        faults,
        ..HeapConfig::default()
    }
    .with_testbed_cleanups();
    config.cleanup_standby = false;
    config.cleanup_workers = Some(2);
    let heap = LeakOnPanic::new(Heap::new(config).unwrap());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let h = LeakOnPanic::new(heap.clone());
            thread::spawn(move || h.run_cleanup_worker())
        })
        .collect();
    let started = LeakOnPanic::new(Arc::new((Mutex::new(0usize), Condvar::new())));
    {
        let m = heap.mutator();
        for _ in 0..2 {
            let obj = m.alloc(&OBJ);
            // Leaked if the cleanup unwinds: loom reports a deadlock by panicking on the
            // thread that blocked last, which may be a worker waiting here.
            let both = LeakOnPanic::new((*started).clone());
            let rendezvous = move || {
                let (count, cv) = &**both;
                let mut n = count.lock().unwrap();
                *n += 1;
                cv.notify_all();
                while *n < 2 {
                    n = cv.wait(n).unwrap();
                }
            };
            if boxed {
                // A managed argument: the worker takes it by `take_boxed`.
                let env = m.alloc(&OBJ);
                m.add_cleanup_with(&obj, &env, (), move |_env, ()| rendezvous());
            } else {
                m.add_cleanup(&obj, (), move |()| rendezvous());
            }
        }
        // Queues both cleanups (one block) and wakes the workers.
        m.gc();
    }
    // The drain waits until one cleanup has started (under the lock that cleanup waits
    // with, so that it waits first): loom reports a deadlock by panicking on the thread
    // that blocked last, which is then this one, whose unwinding touches no model state.
    {
        let (count, cv) = &**started;
        let mut n = count.lock().unwrap();
        while *n < 1 {
            n = cv.wait(n).unwrap();
        }
    }
    heap.drain_cleanups();
    heap.shutdown();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*started.0.lock().unwrap(), 2);
}

#[test]
fn a_cleanup_queued_while_two_workers_park_runs_exactly_once() {
    explore("wakeups: cleanup workers", || {
        cleanup_workers_model(LoomFaults::default())
    });
}

#[test]
fn a_finalizer_queued_while_the_finalizer_thread_parks_runs_exactly_once() {
    explore("wakeups: finalizer thread", || {
        finalizer_thread_model(LoomFaults::default())
    });
}

#[test]
fn the_rest_of_a_block_is_taken_while_its_first_cleanup_waits() {
    explore("wakeups: the rest of a block", || {
        rest_of_a_block_model(LoomFaults::default(), false)
    });
}

#[test]
fn the_rest_of_a_block_of_cleanups_with_managed_arguments_is_taken_too() {
    explore("wakeups: the rest of a block, managed arguments", || {
        rest_of_a_block_model(LoomFaults::default(), true)
    });
}

fn lost_wakeup() -> LoomFaults {
    LoomFaults {
        runner_checks_outside_lock: true,
        ..LoomFaults::default()
    }
}

#[test]
fn negative_control_workers_checking_outside_the_lock_lose_the_wakeup() {
    assert_control(
        "wakeups/cleanup workers",
        || cleanup_workers_model(lost_wakeup()),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Terminated), \
         (Id(2), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_the_finalizer_thread_checking_outside_the_lock_loses_the_wakeup() {
    assert_control(
        "wakeups/finalizer thread",
        || finalizer_thread_model(lost_wakeup()),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_a_worker_that_leaves_the_rest_of_its_block_strands_it() {
    assert_control(
        "wakeups/the rest of a block",
        || rest_of_a_block_model(no_claim_for_rest(), false),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None))), \
         (Id(2), Blocked(Location(None)))]",
    );
}

#[test]
fn negative_control_a_worker_that_leaves_the_rest_of_its_block_of_managed_arguments_strands_it() {
    assert_control(
        "wakeups/the rest of a block, managed arguments",
        || rest_of_a_block_model(no_claim_for_rest(), true),
        "deadlock; threads = [(Id(0), Blocked(Location(None))), (Id(1), Blocked(Location(None))), \
         (Id(2), Blocked(Location(None)))]",
    );
}

fn no_claim_for_rest() -> LoomFaults {
    LoomFaults {
        no_claim_for_rest: true,
        ..LoomFaults::default()
    }
}
