//! The callback runner threads (normal builds): the finalizer thread and the cleanup
//! workers. Each parks on its queue while idle, wakes as soon as work is queued, and runs
//! a batch as a mutator of the heap, created for the batch, so that an idle runner
//! neither keeps the heap alive nor delays a pause. Shutdown makes them exit and joins
//! them, leaving what is still queued (S54).

#![cfg_attr(loom, allow(dead_code))]

use crate::heap::specials::CallbackQueue;
use crate::mutator::world::FLAG_SHUTDOWN;
use crate::mutator::HeapCore;
use crate::sync::{lock, Ordering::Relaxed};
use std::sync::{Arc, Weak};

/// Starts `n` runners for the queue `queue` picks out of the heap's queues, once per
/// heap. Each runs `batch(core)` whenever work is queued; `batch` returns once the queue
/// is empty.
pub(crate) fn ensure_runners<T: Send + 'static>(
    core: &Arc<HeapCore>,
    queue: fn(&crate::heap::specials::Queues) -> &CallbackQueue<T>,
    n: usize,
    name: &str,
    batch: fn(&Arc<HeapCore>),
) {
    if queue(&core.space.queues).started() {
        return;
    }
    let queues = core.space.queues.clone();
    let q = queue(&queues);
    let mut g = lock(&q.state);
    if g.started || g.exit {
        return;
    }
    q.mark_started();
    g.started = true;
    for i in 0..n {
        let queues = queues.clone();
        let weak: Weak<HeapCore> = Arc::downgrade(core);
        let name = if n == 1 {
            name.to_string()
        } else {
            format!("{name}-{i}")
        };
        let t = std::thread::Builder::new()
            .name(name)
            .spawn(move || runner_main(&queues, queue, &weak, batch))
            .expect("spawning a callback runner thread");
        g.threads.push(t);
        g.spawned += 1;
    }
}

fn runner_main<T>(
    queues: &crate::heap::specials::Queues,
    queue: fn(&crate::heap::specials::Queues) -> &CallbackQueue<T>,
    weak: &Weak<HeapCore>,
    batch: fn(&Arc<HeapCore>),
) {
    let q = queue(queues);
    loop {
        {
            let mut g = lock(&q.state);
            while g.items.is_empty() && !g.exit {
                g = crate::sync::wait(&q.cv, g);
            }
            if g.exit {
                return;
            }
        }
        let Some(core) = weak.upgrade() else { return };
        if core.flags.load(Relaxed) & FLAG_SHUTDOWN != 0 {
            return;
        }
        // A panic here is the collector's own (callbacks' panics are caught where they
        // run): die loudly rather than leave drains waiting for a runner that is gone.
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| batch(&core))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            crate::telemetry::stderr_line(format_args!(
                "collector: internal error in a callback runner: {msg}"
            ));
            std::process::abort();
        }
    }
}
