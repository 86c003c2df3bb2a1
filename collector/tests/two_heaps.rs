//! A thread may hold mutators of several heaps. When it waits for one heap's collector,
//! its running mutator of another heap must not hold up that other heap's pauses: two
//! threads, each allocating in bursts on heaps A and B with both mutators running,
//! deadlocked (found in review: 0 cycles on either heap; gdb showed thread 1 parked at
//! A's safepoint for A's pause, which waited for thread 2's A mutator, thread 2 parked at
//! B's for B's, which waited for thread 1's B mutator). Parked at a safepoint, a thread's
//! mutators of other heaps now count as blocked (`this_thread::block_others`); the waits
//! allocation makes (for marking to begin, a parked assist) are skipped while the thread
//! has a running mutator of another heap. Before the fix this test hung 4 times in 4.

use collector::{Heap, HeapConfig, Shape};
use std::sync::mpsc;
use std::time::Duration;

static NODE: Shape = Shape::new("node", 2, 1);

/// How long the test waits for the threads before it reports a hang.
const WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn threads_allocating_on_two_heaps_with_both_mutators_running_do_not_deadlock() {
    let config = || HeapConfig {
        min_heap_bytes: 1 << 20,
        ..HeapConfig::default()
    };
    let (a, b) = (Heap::new(config()).unwrap(), Heap::new(config()).unwrap());
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..2 {
        let (a, b, done) = (a.clone(), b.clone(), done_tx.clone());
        // Not joined on failure: a deadlocked thread stays so, and the assertion says it.
        std::thread::spawn(move || {
            let (ma, mb) = (a.mutator(), b.mutator());
            // Each thread keeps a small live list on each heap and churns the rest.
            let (mut keep_a, mut keep_b) = (ma.alloc(&NODE), mb.alloc(&NODE));
            for round in 0..300 {
                let first = (round + t) % 2 == 0;
                for _ in 0..2000 {
                    if first {
                        let n = ma.alloc(&NODE);
                        n.set(0, Some(&keep_a));
                        keep_a = n;
                    } else {
                        let n = mb.alloc(&NODE);
                        n.set(0, Some(&keep_b));
                        keep_b = n;
                    }
                }
                // Drop the lists now and then, so the heaps hold garbage to collect.
                if round % 10 == 9 {
                    keep_a = ma.alloc(&NODE);
                    keep_b = mb.alloc(&NODE);
                }
            }
            let _ = done.send(());
        });
    }
    for _ in 0..2 {
        assert!(
            done_rx.recv_timeout(WATCHDOG).is_ok(),
            "deadlock: {} cycles on heap A, {} on heap B",
            a.stats().gc_cycles,
            b.stats().gc_cycles
        );
    }
    assert!(
        a.stats().gc_cycles > 0 && b.stats().gc_cycles > 0,
        "both heaps collected"
    );
}
