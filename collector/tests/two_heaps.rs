//! A thread may hold mutators of several heaps. When it waits for one heap's collector,
//! its running mutator of another heap must not hold up that other heap's pauses: two
//! threads, each allocating in bursts on heaps A and B with both mutators running,
//! deadlocked (found in review: 0 cycles on either heap; gdb showed thread 1 parked at
//! A's safepoint for A's pause, which waited for thread 2's A mutator, thread 2 parked at
//! B's for B's, which waited for thread 1's B mutator). Parked at a safepoint, a thread's
//! mutators of other heaps now count as blocked (`this_thread::try_block_others`), and so they
//! do in the waits allocation makes (for marking to begin, a parked assist, a cycle it
//! runs) and in `Mutator::gc`. Before the fix this test hung 4 times in 4. A mutator of
//! another heap inside a scope cannot block: with one, the thread neither parks nor
//! waits (allocation goes on, a heap cap refuses at once), and `gc()` panics.

use collector::{Gogc, Heap, HeapConfig, OutOfMemory, Shape};
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

static BLOCK: Shape = Shape::new("block", 0, 16 << 10);
static BIG: Shape = Shape::new("big", 0, 80 << 10);

/// `gc()` of one heap inside a scope of another panics: the cycle could wait for threads
/// that wait for the other heap's pauses, which wait for the scope.
#[test]
fn gc_inside_another_heaps_scope_panics_saying_why() {
    let (a, b) = (
        Heap::new(HeapConfig::default()).unwrap(),
        Heap::new(HeapConfig::default()).unwrap(),
    );
    let (ma, mb) = (a.mutator(), b.mutator());
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ma.scope(|_| mb.gc());
    }))
    .expect_err("gc() inside another heap's scope");
    let msg = err
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| err.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    assert!(msg.contains("mutator of another heap is inside"), "{msg}");
    // Outside the scope it runs, the other heap's mutator blocked meanwhile.
    mb.gc();
    assert_eq!(b.stats().gc_cycles, 1);
}

/// A heap cap that an allocation would pass runs a full cycle first, except where the
/// thread may not wait: inside a scope of another heap the allocation is refused at once.
#[test]
fn a_heap_cap_refuses_at_once_inside_another_heaps_scope() {
    let capped = HeapConfig {
        gogc: Gogc::Off,
        heap_limit: Some(2 << 20),
        ..HeapConfig::default()
    };
    let (a, b) = (
        Heap::new(HeapConfig::default()).unwrap(),
        Heap::new(capped).unwrap(),
    );
    let (ma, mb) = (a.mutator(), b.mutator());
    // 1.5 MiB of garbage under the 2 MiB cap, no cycle yet: one would free all of it.
    for _ in 0..12 {
        drop(mb.alloc(&BLOCK));
    }
    assert_eq!(b.stats().gc_cycles, 0);
    // 640 KiB more would pass the cap.
    let refused: Result<(), OutOfMemory> = ma.scope(|_| mb.try_alloc(&BIG).map(drop));
    assert!(refused.is_err(), "refused inside the other heap's scope");
    assert_eq!(b.stats().gc_cycles, 0, "no cycle ran for it");
    assert!(
        mb.try_alloc(&BIG).is_ok(),
        "outside it a cycle frees the garbage"
    );
    assert_eq!(b.stats().gc_cycles, 1);
}
