//! A reader racing the retirement of a span (`heap::span_table`, `heap::retire`,
//! `crate::epoch`).
//!
//! **Model 1: the table's protocol.**
//!
//! A retired span's table entries are taken (its chunk entry nulled, its flat-index entry
//! set to the table's empty span) and its memory freed through the epoch domain once
//! every reader pinned before those stores has unpinned; a reader looks a
//! span up by a reference's key under a guard and may use it until the guard drops.
//!
//! What is modelled: the real table (`SpanTable::retire`, `SpanTable::lookup_by_key`) and
//! the loom stand-in for crossbeam-epoch (`collector/src/epoch.rs`: a global epoch, pins
//! publishing it with a SeqCst fence, a retired span dropped when no pin at or before its
//! unlink's epoch remains); the free is modelled as a flag on the span (`Span::freed`)
//! that the reader checks, its memory returned at the table's drop. Not modelled:
//! crossbeam-epoch's own implementation. Mutators are covered by the pause in which the
//! heap retires spans (model 2 has its mutator blocked; a running one would stop there),
//! not by a pin, so no model pins one.
//!
//! Threads: a reader pins, looks span 0 up, reads it, yields, and checks it was not freed;
//! the main thread retires span 0, then looks it up again. Property: a pinned reader
//! never sees its span freed, and after the retirement no reader finds it. Negative
//! control: `retire(false)` frees the span at once, without the grace period; loom finds
//! the reader holding it.
//!
//! **Model 2: the heap's retirement against a reader that is no mutator.** Setup: a heap
//! with `unmap_released_spans`, an object allocated and dropped, then collected and its
//! span's pages released (`Heap::run_scavenger`; `Heap::free_os_memory` would retire the
//! span itself). Threads: a plain thread reads
//! `Heap::stats` (which walks the span table, pinned, reading each span's kind); the main
//! thread, its mutator blocked, runs a cycle whose first pause retires the released span
//! (`heap::retire`). Property: no span is read after it is freed (under loom a freed
//! span's `kind` panics, its flag set in the execution's real order), and the span is
//! gone after the cycle. Under loom the walk yields between a lookup and the read, so the
//! window is within the preemption bound. Negative control `stats_unpinned`: the walk
//! does not pin, and loom finds the pause freeing a span the walk holds.
#![cfg(loom)]

use collector::{Heap, HeapConfig, Hybrid, LoomFaults, RetireModel, Shape};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_control, explore, faults};

fn retire_model(grace: bool) {
    let table = Arc::new(RetireModel::default());
    let t2 = table.clone();
    let reader = thread::spawn(move || t2.read());
    table.retire(grace);
    assert!(!table.read(), "a retired span is still found");
    reader.join().unwrap();
}

#[test]
fn a_pinned_reader_keeps_its_span_until_it_unpins() {
    explore("retire: reader against retirement", || retire_model(true));
}

#[test]
fn negative_control_a_retirement_without_grace_frees_a_read_span() {
    assert_control(
        "retire/no grace period",
        || retire_model(false),
        "a pinned reader's span was freed under it",
    );
}

/// Two data words.
static BLOB: Shape = Shape::new("blob", 0, 2);

fn heap_retire_model(faults: LoomFaults) {
    let heap = Arc::new(
        Heap::<Hybrid>::with_barrier(HeapConfig {
            gogc: collector::Gogc::Off,
            verify: true,
            concurrent: true,
            unmap_released_spans: true,
            faults,
            ..HeapConfig::default()
        })
        .unwrap(),
    );
    let m = heap.mutator();
    drop(m.alloc(&BLOB));
    m.gc();
    heap.run_scavenger();
    let spans_before = heap.stats().spans;
    let h2 = heap.clone();
    let reader = thread::spawn(move || {
        let _ = h2.stats().spans;
    });
    m.blocking(|| heap.run_background_cycle());
    m.blocking(|| reader.join().unwrap());
    let after = heap.stats().spans;
    assert_eq!(
        after[3] + 1,
        spans_before[3],
        "the released span was not retired"
    );
}

#[test]
fn a_pinned_table_walk_keeps_the_spans_a_pause_retires() {
    explore("retire: stats walk against a retiring pause", || {
        heap_retire_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_an_unpinned_table_walk_reads_a_freed_span() {
    assert_control(
        "retire/stats unpinned",
        || heap_retire_model(faults(|f| f.stats_unpinned = true)),
        "collector: internal error: span 1 read after it was freed",
    );
}
