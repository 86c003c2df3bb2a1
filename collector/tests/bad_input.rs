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
