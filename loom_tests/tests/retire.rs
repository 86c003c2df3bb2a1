//! A reader racing the retirement of a span (`heap::span_table`, `crate::epoch`).
//!
//! A retired span's table entries are nulled and its memory freed through the epoch
//! domain once every reader pinned before the null store has unpinned; a reader looks a
//! span up by a reference's key under a guard and may use it until the guard drops.
//!
//! What is modelled: the real table (`SpanTable::retire`, `SpanTable::lookup_by_key`) and
//! the loom stand-in for crossbeam-epoch (`collector/src/epoch.rs`: a global epoch, pins
//! publishing it with a SeqCst fence, a retired span dropped when no pin at or before its
//! unlink's epoch remains); the free is modelled as a flag on the span (`Span::freed`)
//! that the reader checks, its memory returned at the table's drop. Not modelled:
//! crossbeam-epoch's own implementation, and the heap's readers (the heap does not retire
//! spans yet: see `span_table.rs`'s header).
//!
//! Threads: a reader pins, looks span 0 up, reads it, yields, and checks it was not freed;
//! the main thread retires span 0, then looks it up again. Property: a pinned reader never
//! sees its span freed, and after the retirement no reader finds it.
//!
//! Negative control: `retire(false)` frees the span at once, without the grace period;
//! loom finds the reader holding it.
#![cfg(loom)]

use collector::RetireModel;
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_control, explore};

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
