//! Misuse through the safe API: each panics with a message that says what was wrong,
//! and none is undefined behaviour.

mod common;

use collector::{Gogc, Heap, HeapConfig, Shape};
use common::verified_heap;

static NODE: Shape = Shape::new("node", 2, 1);

#[test]
#[should_panic(expected = "reference slot 2 is out of range")]
fn loading_an_out_of_range_slot_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    m.alloc(&NODE).get(2);
}

#[test]
#[should_panic(expected = "reference slot 5 is out of range")]
fn storing_an_out_of_range_slot_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&NODE);
    a.set(5, None);
}

#[test]
#[should_panic(expected = "data word 1 is out of range")]
fn reading_an_out_of_range_data_word_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    m.alloc(&NODE).read(1);
}

#[test]
#[should_panic(expected = "data word 0 is out of range")]
fn writing_a_zero_sized_object_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    m.alloc(&Shape::new("empty", 0, 0)).write(0, 1);
}

#[test]
#[should_panic(expected = "field 3 is out of range")]
fn an_interior_handle_past_the_object_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    m.alloc(&NODE).interior(3);
}

#[test]
#[should_panic(expected = "the handle belongs to a different heap")]
fn storing_a_handle_of_another_heap_panics() {
    let (h1, h2) = (verified_heap(Gogc::Off), verified_heap(Gogc::Off));
    let (m1, m2) = (h1.mutator(), h2.mutator());
    let a = m1.alloc(&NODE);
    let b = m2.alloc(&NODE);
    a.set(0, Some(&b));
}

#[test]
#[should_panic(expected = "the global belongs to a different heap")]
fn a_global_of_another_heap_panics() {
    let (h1, h2) = (verified_heap(Gogc::Off), verified_heap(Gogc::Off));
    let g = h1.mutator().alloc_global(&NODE);
    h2.mutator().global(&g);
}

#[test]
#[should_panic(expected = "the heap has been shut down")]
fn a_handle_used_after_shutdown_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&NODE);
    heap.shutdown();
    assert!(heap.is_shut_down());
    a.read(0);
}

#[test]
#[should_panic(expected = "the heap has been shut down")]
fn allocating_after_shutdown_panics() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    heap.shutdown();
    m.alloc(&NODE);
}

#[test]
#[should_panic(expected = "the heap has been shut down")]
fn a_new_mutator_after_shutdown_panics() {
    let heap = verified_heap(Gogc::Off);
    heap.shutdown();
    heap.mutator();
}

#[test]
fn dropping_handles_and_mutators_after_shutdown_is_quiet() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    let a = m.alloc(&NODE);
    heap.shutdown();
    drop(a);
    drop(m);
    assert!(heap.is_shut_down());
    assert_eq!(
        heap.stats().mutators,
        0,
        "the dropped mutator left the heap"
    );
}

#[test]
#[should_panic(expected = "Heap::gc called on a thread whose mutator is running")]
fn heap_gc_on_a_thread_with_a_running_mutator_panics_instead_of_deadlocking() {
    let heap = verified_heap(Gogc::Off);
    let _m = heap.mutator();
    heap.gc();
}

#[test]
fn heap_gc_inside_blocking_is_allowed() {
    let heap = verified_heap(Gogc::Off);
    let m = heap.mutator();
    m.blocking(|| heap.gc());
    assert_eq!(heap.stats().gc_cycles, 1);
}

#[test]
fn invalid_configurations_are_rejected_with_the_field_named() {
    let err = Heap::new(HeapConfig {
        page_bytes: 1000,
        ..HeapConfig::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("page_bytes"), "{err}");
}

/// More dedicated mark workers than GOMAXPROCS is refused at creation, with the reason
/// (Go runs at most one per P), instead of a heap whose cycles never finish.
#[test]
fn more_mark_workers_than_gomaxprocs_is_refused() {
    let err = Heap::new(HeapConfig {
        gomaxprocs: 2,
        mark_workers: Some(3),
        ..HeapConfig::default()
    })
    .err()
    .expect("3 workers on GOMAXPROCS 2 must be refused");
    assert_eq!(
        err,
        "mark_workers must be at most gomaxprocs (2), got 3: Go runs at most one dedicated \
         mark worker per P"
    );
}

/// GOMAXPROCS far past the CPUs is accepted (Go accepts it) and runs no more marking
/// threads than there are CPUs: every cycle's record says how many ran.
#[test]
fn a_gomaxprocs_past_the_cpus_runs_cycles_on_at_most_as_many_threads_as_cpus() {
    let cpus = collector::default_gomaxprocs();
    let heap = Heap::new(HeapConfig {
        gomaxprocs: 1024,
        gogc: Gogc::Percent(100),
        min_heap_bytes: 64 << 10,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    for i in 0..20_000u64 {
        let o = m.alloc(&NODE);
        o.write(0, i);
        keep.set(i as usize % 2, Some(&o));
    }
    m.gc();
    let s = heap.stats();
    assert!(s.gc_cycles >= 2, "{} cycles", s.gc_cycles);
    for c in &s.cycles {
        assert!(
            c.mark_workers as usize <= cpus,
            "cycle {}: {} workers",
            c.cycle,
            c.mark_workers
        );
        assert!(
            c.mark_threads as usize <= cpus,
            "cycle {}: {} threads",
            c.cycle,
            c.mark_threads
        );
    }
    assert_eq!(s.lost_objects, 0);
}

/// `gc()` on the thread that holds a stepped cycle of the same heap would wait for that
/// cycle, and so for itself: it panics saying so, and the cycle then finishes as usual.
#[test]
fn gc_while_holding_a_stepped_cycle_panics_instead_of_waiting_forever() {
    let heap = verified_heap(Gogc::Off);
    let mut cycle = heap.begin_cycle();
    cycle.scan_roots();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.gc()));
    let message = common::panic_message(&*refused.expect_err("gc() must refuse"));
    assert!(
        message.contains("this thread holds a cycle of this heap"),
        "{message}"
    );
    let waited =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.wait_for_background()));
    assert!(
        waited.is_err(),
        "waiting for the background thread must refuse too"
    );
    cycle.finish();
    heap.gc();
    assert_eq!(heap.stats().gc_cycles, 2);
}
