//! The finalizer and cleanup models: KeepAlive, Stop, ordering and happens-before, and
//! resurrection, each over the collector's real code in its inline mode (cycles run by
//! `Heap::gc` on a model thread; queued callbacks run by `Mutator::run_finalizers` /
//! `run_cleanups` on a model thread standing in for the finalizer thread or a cleanup
//! worker). Cycles are stop-the-world (`concurrent: false`): these properties are about
//! reachability and the queues, not about the barrier, and one pause per cycle keeps the
//! models small. The exception is model 6, a runner's take racing a concurrent mark. Each property has a negative control that loom must fail with the
//! expected message. See this crate's README.md.
#![cfg(loom)]

use collector::{
    keep_alive, CallbackPanic, Gogc, Heap, HeapConfig, LoomFaults, Shape, Yuasa, POISON,
};
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Mutex, Notify};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost, explore};

/// One reference slot (unused by some models) and one data word.
static OBJ: Shape = Shape::new("obj", 1, 1);

fn heap(faults: LoomFaults) -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: false,
        // A failed assertion inside a callback unwinds to the model, where loom sees it.
        callback_panic: CallbackPanic::Propagate,
        faults,
        ..HeapConfig::default()
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. The KeepAlive race (S53).

/// A descriptor table: a closed descriptor's number is reused by the next open, as a
/// kernel reuses the lowest free descriptor.
type Fds = Arc<Mutex<Vec<Option<&'static str>>>>;

fn open(fds: &Fds, name: &'static str) -> usize {
    let mut t = fds.lock().unwrap();
    match t.iter().position(Option::is_none) {
        Some(i) => {
            t[i] = Some(name);
            i
        }
        None => {
            t.push(Some(name));
            t.len() - 1
        }
    }
}

/// A mutator copies a descriptor out of an object whose finalizer closes it, and uses
/// the descriptor in the blocking state (Go's system call); meanwhile the main thread
/// runs a cycle, the finalizer, and another open. With `keep_alive` after the use, the
/// use always reaches its own file.
fn keepalive_model(keep: bool) {
    let heap = heap(LoomFaults::default());
    let fds: Fds = Arc::new(Mutex::new(Vec::new()));
    let fd = open(&fds, "file A");
    let (h, f2) = (heap.clone(), fds.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let file = m.alloc(&OBJ);
        file.write(0, fd as u64);
        let f3 = f2.clone();
        m.set_finalizer(&file, move |f| {
            f3.lock().unwrap()[f.read(0) as usize] = None;
        });
        let fd = file.read(0) as usize;
        let file = if keep {
            Some(file)
        } else {
            drop(file); // the read above was its last use
            None
        };
        let name = m.blocking(|| f2.lock().unwrap()[fd]);
        if let Some(file) = file {
            keep_alive(file);
        }
        match name {
            Some("file A") => {}
            Some(other) => panic!("the late use reached another resource: {other}"),
            None => panic!("the late use found its descriptor closed"),
        }
    });
    heap.gc();
    {
        let m = heap.mutator();
        m.run_finalizers();
    }
    open(&fds, "file B");
    mutator.join().unwrap();
}

#[test]
fn keep_alive_after_the_use_keeps_the_resource_open() {
    explore("keepalive", || keepalive_model(true));
}

#[test]
fn negative_control_without_keep_alive_the_use_reaches_another_resource() {
    assert_control(
        "callbacks/no keep_alive",
        || keepalive_model(false),
        "the late use reached another resource: file B",
    );
}

// ---------------------------------------------------------------------------------------
// 2. The Stop race (S21, S22).

/// A mutator adds a cleanup and stops it while the main thread runs a cycle and then the
/// cleanups. With the object reachable across `stop`, the cleanup never runs.
fn stop_model(keep_across_stop: bool) {
    let heap = heap(LoomFaults::default());
    let ran = Arc::new(AtomicBool::new(false));
    let (h, r) = (heap.clone(), ran.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let obj = m.alloc(&OBJ);
        let c = m.add_cleanup(&obj, r, |r| r.store(true, SeqCst));
        // A safepoint before `stop` stands for any point where Go could preempt the
        // goroutine: a cycle can run there.
        if keep_across_stop {
            m.safepoint();
            c.stop();
            keep_alive(obj);
        } else {
            drop(obj);
            m.safepoint();
            c.stop();
        }
    });
    heap.gc();
    mutator.join().unwrap();
    let m = heap.mutator();
    m.run_cleanups();
    assert!(!ran.load(SeqCst), "the stopped cleanup ran");
}

#[test]
fn a_cleanup_stopped_while_its_object_is_reachable_never_runs() {
    explore("stop", || stop_model(true));
}

#[test]
fn negative_control_dropping_the_object_before_stop_lets_the_cleanup_run() {
    assert_control(
        "callbacks/drop before stop",
        || stop_model(false),
        "the stopped cleanup ran",
    );
}

// ---------------------------------------------------------------------------------------
// 3. Ordering and happens-before (S12, S45, S48).

/// The main thread is a mutator that writes A's data, registers finalizers on A → B and
/// a cleanup on A, and drops them, while one thread runs two cycles and another runs the
/// finalizers twice. Properties: A's finalizer sees the write made before
/// `set_finalizer`; B's finalizer runs only in a cycle after the one A's finalizer
/// returned in; A's cleanup never runs before A's finalizer returned.
fn ordering_model(faults: LoomFaults) {
    let heap = heap(faults);
    let a_returned_at = Arc::new(AtomicU64::new(u64::MAX));
    let h = heap.clone();
    let cycles = thread::spawn(move || {
        h.gc();
        h.gc();
    });
    let h = heap.clone();
    let runner = thread::spawn(move || {
        let m = h.mutator();
        m.run_finalizers();
        m.run_finalizers();
    });
    {
        let m = heap.mutator();
        let a = m.alloc(&OBJ);
        let b = m.alloc(&OBJ);
        a.set(0, Some(&b));
        a.write(0, 7);
        // The callbacks must not capture the heap: a registered callback that holds its
        // heap is a reference cycle (the heap holds the callback).
        let at = a_returned_at.clone();
        m.set_finalizer(&a, move |a| {
            assert_eq!(
                a.read(0),
                7,
                "the finalizer missed a write made before set_finalizer"
            );
            at.store(a.mutator().gc_cycles(), SeqCst);
        });
        let at = a_returned_at.clone();
        m.set_finalizer(&b, move |b| {
            let returned = at.load(SeqCst);
            assert!(
                returned != u64::MAX && b.mutator().gc_cycles() > returned,
                "B's finalizer ran before A's had returned and a later cycle ran"
            );
        });
        let at = a_returned_at.clone();
        m.add_cleanup(&a, (), move |()| {
            assert_ne!(
                at.load(SeqCst),
                u64::MAX,
                "A's cleanup ran before its finalizer"
            );
        });
    }
    cycles.join().unwrap();
    runner.join().unwrap();
}

#[test]
fn finalizers_run_in_dependency_order_and_see_earlier_writes() {
    explore("ordering", || ordering_model(LoomFaults::default()));
}

#[test]
fn negative_control_without_the_finalizer_scan_b_runs_in_as_cycle() {
    let faults = LoomFaults {
        skip_finalizer_scan: true,
        ..LoomFaults::default()
    };
    assert_control(
        "callbacks/no finalizer scan",
        move || ordering_model(faults),
        "B's finalizer ran before A's had returned and a later cycle ran",
    );
}

// ---------------------------------------------------------------------------------------
// 5. Resurrection (S34, S47).

/// An object whose finalizer stores it in a global, and a weak handle to it; one thread
/// runs two cycles, another the finalizer. Afterwards the object is intact (not freed
/// and poisoned while reachable), verification found nothing lost, and the weak handle
/// stays cleared.
fn resurrection_model(faults: LoomFaults) {
    let heap = heap(faults);
    let (g, weak) = {
        let m = heap.mutator();
        let g = m.alloc_global(&OBJ);
        let obj = m.alloc(&OBJ);
        obj.write(0, 42);
        m.set_finalizer(&obj, move |o| o.mutator().global(&g).set(0, Some(&o)));
        (g, m.weak(&obj))
    };
    let h = heap.clone();
    let cycles = thread::spawn(move || {
        h.gc();
        h.gc();
    });
    let h = heap.clone();
    let runner = thread::spawn(move || {
        let m = h.mutator();
        m.run_finalizers();
    });
    cycles.join().unwrap();
    runner.join().unwrap();
    let m = heap.mutator();
    m.run_finalizers();
    m.gc();
    let obj = m
        .global(&g)
        .get(0)
        .expect("the finalizer stored the object");
    assert_ne!(
        obj.read(0),
        POISON as u64,
        "the resurrected object was freed"
    );
    assert_eq!(obj.read(0), 42);
    assert!(weak.upgrade(&m).is_none(), "the weak handle came back");
    assert_nothing_lost(&heap.stats());
}

#[test]
fn a_resurrected_object_is_never_freed_and_its_weak_handle_stays_cleared() {
    explore("resurrection", || resurrection_model(LoomFaults::default()));
}

#[test]
fn negative_control_without_resurrection_the_queued_object_is_freed() {
    let faults = LoomFaults {
        no_resurrection: true,
        ..LoomFaults::default()
    };
    assert_control(
        "callbacks/no resurrection",
        move || resurrection_model(faults),
        // The runner's take of the queued object: freed (its span with it) while its
        // finalizer was queued.
        "collector: use of a freed object: the reference span 2 slot 0 read from the \
         finalizer queue is stale (its span was freed)",
    );
}

// ---------------------------------------------------------------------------------------
// 6. A queued finalizer taken during a concurrent mark (S27, S43).

/// A queued finalizer's object is rooted by the queue alone. A runner takes the entry
/// while a Yuasa cycle marks: the first pause has scanned every mutator's roots (a runner
/// registered during the mark counts as scanned), and the mark scans the queue at some
/// point of the runner's take. The finalizer holds its object until the cycle is over;
/// verification must find nothing lost, and the finalizer must see its object intact.
fn queue_take_model(faults: LoomFaults) {
    let heap = Heap::<Yuasa>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: true,
        callback_panic: CallbackPanic::Propagate,
        faults,
        ..HeapConfig::default()
    })
    .unwrap();
    let cycle_done = Arc::new(Notify::new());
    {
        let m = heap.mutator();
        let obj = m.alloc(&OBJ);
        obj.write(0, 42);
        let done = cycle_done.clone();
        // Finalizers run in the blocking state: the wait delays no pause.
        m.set_finalizer(&obj, move |o| {
            done.wait();
            assert_ne!(o.read(0), POISON as u64, "the finalizer's object was freed");
        });
    }
    heap.gc();
    let h = heap.clone();
    let runner = thread::spawn(move || {
        h.mutator().run_finalizers();
    });
    {
        let mut cycle = heap.begin_cycle();
        cycle.scan_roots();
        cycle.mark();
        cycle.finish();
    }
    let s = heap.stats();
    assert_nothing_lost(&s);
    cycle_done.notify();
    runner.join().unwrap();
}

#[test]
fn a_finalizer_taken_during_a_mark_keeps_its_object() {
    explore("queue take", || queue_take_model(LoomFaults::default()));
}

#[test]
fn negative_control_an_unshaded_take_loses_the_finalizers_object() {
    let faults = LoomFaults {
        unshaded_queue_take: true,
        ..LoomFaults::default()
    };
    assert_control(
        "callbacks/unshaded take",
        move || queue_take_model(faults),
        "lost object: [\"cycle 2: checkmark found unmarked object span 1 slot 0 (1 refs + 1 \
         words) reached from handle 0 of mutator 1\"]",
    );
}
