//! loom models over the collector's real code. The models live in `tests/` and compile
//! only with `--cfg loom` (see this crate's README.md); this library holds what they
//! share.

/// Runs `model` under loom and returns the panic message loom reported, or `None` if
/// every execution passed. Negative controls use it to assert that loom finds the bug
/// they plant, with the expected message.
#[cfg(loom)]
pub fn loom_failure(model: impl Fn() + Sync + Send + 'static) -> Option<String> {
    loom_failure_with(builder(), model)
}

/// [`loom_failure`] under builder `b`.
#[cfg(loom)]
pub fn loom_failure_with(
    b: loom::model::Builder,
    model: impl Fn() + Sync + Send + 'static,
) -> Option<String> {
    // loom prints the failing execution's panic; the message is also returned.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.check(model))) {
        Ok(()) => None,
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "<non-string panic>".to_string()),
        ),
    }
}

/// Runs a negative control: `model` under loom must fail, and with exactly `expected`
/// as its panic message (a deadlock, or an unrelated panic such as a stale-reference one,
/// does not pass). Prints what loom reported.
#[cfg(loom)]
pub fn assert_control(name: &str, model: impl Fn() + Sync + Send + 'static, expected: &str) {
    assert_control_with(builder(), name, model, expected);
}

/// [`assert_control`] under builder `b`.
#[cfg(loom)]
pub fn assert_control_with(
    b: loom::model::Builder,
    name: &str,
    model: impl Fn() + Sync + Send + 'static,
    expected: &str,
) {
    let t = std::time::Instant::now();
    let msg = loom_failure_with(b, model)
        .unwrap_or_else(|| panic!("{name} control: loom found no failing execution"));
    println!(
        "{name} control: loom reported in {:.1} s: {msg:?}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(msg, expected, "{name} control: unexpected failure");
}

/// A concurrent heap with barrier `B`, verification on, no automatic cycles, and
/// `faults` (the heap every concurrent model uses).
#[cfg(loom)]
pub fn concurrent_heap<B: collector::Barrier>(faults: collector::LoomFaults) -> collector::Heap<B> {
    collector::Heap::<B>::with_barrier(collector::HeapConfig {
        gogc: collector::Gogc::Off,
        verify: true,
        concurrent: true,
        faults,
        ..collector::HeapConfig::default()
    })
    .unwrap()
}

/// Steps a whole concurrent cycle inline on the calling thread, the models' collector:
/// `begin_cycle`, `scan_roots`, `mark`, `finish`.
#[cfg(loom)]
pub fn step_cycle<B: collector::Barrier>(heap: &collector::Heap<B>) {
    let mut cycle = heap.begin_cycle();
    cycle.scan_roots();
    cycle.mark();
    cycle.finish();
}

/// A global G → A → B, every object of shape `node` (a reference slot and a data word),
/// B's data word 22, made by a mutator of `heap` that is gone on return: the graph the
/// assist and park models mark.
#[cfg(loom)]
pub fn global_to_a_to_b<B: collector::Barrier>(
    heap: &collector::Heap<B>,
    node: &collector::Shape,
) -> collector::Global {
    let m0 = heap.mutator();
    let g = m0.alloc_global(node);
    let a = m0.alloc(node);
    let b = m0.alloc(node);
    b.write(0, 22);
    a.set(0, Some(&b));
    m0.global(&g).set(0, Some(&a));
    g
}

/// The fault switches with `set` applied to the defaults (`faults(|f| f.x = true)`).
#[cfg(loom)]
pub fn faults(set: impl FnOnce(&mut collector::LoomFaults)) -> collector::LoomFaults {
    let mut f = collector::LoomFaults::default();
    set(&mut f);
    f
}

/// Panics with `lost object: [reports]` if verification found any reachable object
/// unmarked (the message the barrier and sweep controls expect).
#[cfg(loom)]
pub fn assert_nothing_lost(stats: &collector::HeapStats) {
    if stats.lost_objects != 0 {
        panic!("lost object: {:?}", stats.lost_reports);
    }
}

/// The model builder the suite uses: loom's defaults (the preemption bound comes from
/// `LOOM_MAX_PREEMPTIONS`), with room for the longer executions of models that run whole
/// collection cycles (every atomic access of a sweep is a branch).
#[cfg(loom)]
pub fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.max_branches = 20_000;
    b
}

/// [`builder`] with a preemption bound of at least `min` (for small models whose bugs
/// need more preemptions than the suite's bound; an unbounded run stays unbounded).
#[cfg(loom)]
pub fn builder_with_bound(min: usize) -> loom::model::Builder {
    let mut b = builder();
    if let Some(p) = b.preemption_bound {
        b.preemption_bound = Some(p.max(min));
    }
    b
}

/// Runs `model` under [`builder`] and prints how many executions loom explored and how
/// long it took (the figures `README.md` quotes); returns the count.
#[cfg(loom)]
pub fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) -> usize {
    explore_with(builder(), name, model)
}

/// [`explore`] under builder `b`.
#[cfg(loom)]
pub fn explore_with(
    b: loom::model::Builder,
    name: &str,
    model: impl Fn() + Sync + Send + 'static,
) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let t = std::time::Instant::now();
    b.check(move || {
        r.fetch_add(1, Relaxed);
        model();
    });
    let n = runs.load(Relaxed);
    println!(
        "{name}: {n} executions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n
}

/// Owns a value that holds loom objects and leaks it when dropped during a panic. loom
/// reports a deadlock by panicking on the thread that blocked last; dropping a loom `Arc`
/// while that panic unwinds would panic again (no thread is active any more) and abort
/// the test process, so the models' threads keep what they own in these (the deadlock
/// controls of `wakeups.rs` and `park.rs`).
#[cfg(loom)]
pub struct LeakOnPanic<T>(std::mem::ManuallyDrop<T>);

#[cfg(loom)]
impl<T> LeakOnPanic<T> {
    /// Owns `t`.
    pub fn new(t: T) -> Self {
        LeakOnPanic(std::mem::ManuallyDrop::new(t))
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for LeakOnPanic<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(loom)]
impl<T> Drop for LeakOnPanic<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: dropped once, here; never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.0) }
        }
    }
}
