//! Unit tests of span sweeping: generations, claims, the swept and unswept lists.

use super::*;
use crate::object::Shape;

const SC: SpanClass = SpanClass(8); // class 4 (32-byte objects), scan

/// A space with one cached-and-returned span of class 4 whose slots `allocated` hold
/// objects, of which `marked` are marked.
fn space_with(allocated: &[usize], marked: &[usize]) -> (Space, usize) {
    let space = Space::new(8192).poisoning(true);
    let span = space.refill(SpanClass::new(4, false));
    let meta = Shape::new("t", 1, 3).meta();
    for &s in allocated {
        span.alloc_bits(s / 64).fetch_or(1 << (s % 64), Relaxed);
        span.set_meta(s, meta);
    }
    for &s in marked {
        assert!(span.try_mark(s));
    }
    space.uncache(span);
    let index = span.index;
    (space, index)
}

#[test]
fn begin_sweep_counts_marked_bytes_and_leaves_every_span_unswept() {
    let (space, i) = space_with(&[0, 1, 2, 3], &[1, 3]);
    assert_eq!(SpanClass::new(4, false), SC);
    let span = space.span(i).unwrap();
    assert!(!space.is_unswept(span), "new spans start swept");
    assert_eq!(space.begin_sweep(2 * 32, 0, true), 2 * 32);
    assert_eq!(space.heap_live(), 64, "live bytes are the marked bytes");
    assert!(space.is_unswept(span));
    assert_eq!(space.unswept_spans(), 1);
    // Not allocatable until swept: the partial list is empty.
    assert!(lock(&space.pools).partial[SC.index()].is_empty());
}

/// Bytes the mark counted without marking (the finalizer objects it scanned, as Go's
/// `bytesMarked` counts them) join the live bytes, and the check against the mark bits,
/// which hold none of them, leaves them out.
#[test]
fn begin_sweep_counts_unmarked_bytes_as_live_and_checks_only_the_marked() {
    let (space, _) = space_with(&[0, 1, 2, 3], &[1, 3]);
    assert_eq!(space.begin_sweep(2 * 32, 3 * 32, true), 5 * 32);
    assert_eq!(space.heap_live(), 5 * 32);
    space.finish_sweep();
    let (space, _) = space_with(&[0, 1, 2, 3], &[1, 3]);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        space.begin_sweep(5 * 32, 0, true);
    }));
    assert!(failed.is_err(), "the unmarked bytes are not in the bits");
}

/// Runs `begin_sweep(marked_bytes, 0, true)` and returns its internal-error message.
fn check_fails(space: &Space, marked_bytes: usize) -> String {
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        space.begin_sweep(marked_bytes, 0, true);
    }));
    let message = failed.expect_err("the check passed");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.starts_with("collector: internal error: "),
        "{message}"
    );
    message.clone()
}

/// The mark's own count is trusted without verification; with it, a count the mark
/// bits disagree with is a collector bug, reported rather than used.
#[test]
fn begin_sweep_checks_the_marks_count_against_the_bits_when_verifying() {
    let (space, _) = space_with(&[0, 1, 2, 3], &[1, 3]);
    assert_eq!(
        space.begin_sweep(96, 0, false),
        96,
        "unchecked: the count is used"
    );
    space.finish_sweep();
    let (space, _) = space_with(&[0, 1, 2, 3], &[1, 3]);
    let message = check_fails(&space, 96);
    assert!(
        message.contains("counted 96 bytes marked, the mark bits hold 64"),
        "{message}"
    );
}

/// A full span given back by its cache is on the class's full list, and the new
/// generation takes it with the partial ones.
#[test]
fn begin_sweep_takes_full_spans_too() {
    let all: Vec<usize> = (0..256).collect();
    let (space, i) = space_with(&all, &[7]);
    assert_eq!(lock(&space.pools).full[SC.index()], vec![i]);
    space.begin_sweep(32, 0, true);
    assert!(space.is_unswept(space.span(i).unwrap()));
    assert_eq!(space.unswept_spans(), 1);
    space.finish_sweep();
    assert_eq!(
        lock(&space.pools).partial[SC.index()],
        vec![i],
        "255 slots freed"
    );
}

/// Verification finds a span the lists lost (it would never be swept again) and one
/// listed twice.
#[test]
fn begin_sweep_check_finds_a_span_on_no_list_or_on_two() {
    let (space, i) = space_with(&[0, 1], &[1]);
    lock(&space.pools).partial[SC.index()].clear();
    let message = check_fails(&space, 32);
    assert!(
        message.contains(&format!("span {i} (Some(Small)) is on no list")),
        "{message}"
    );
    let (space, i) = space_with(&[0, 1], &[1]);
    lock(&space.pools).full[SC.index()].push(i);
    let message = check_fails(&space, 32);
    assert!(
        message.contains(&format!("span {i} is listed twice")),
        "{message}"
    );
}

#[test]
fn a_span_is_swept_once_by_whoever_claims_it() {
    let (space, i) = space_with(&[0, 1, 2], &[2]);
    let span = space.span(i).unwrap();
    space.begin_sweep(32, 0, true);
    let h = space.sweepgen();
    assert_eq!(
        space.sweep_span(span, h, Filing::Always),
        Some((Swept::Partial, 2))
    );
    assert_eq!(
        space.sweep_span(span, h, Filing::Always),
        None,
        "already swept"
    );
    assert_eq!(
        lock(&space.pools).partial[SC.index()],
        vec![i],
        "filed once"
    );
    assert!(span.is_allocated(2) && !span.is_allocated(0));
    assert!(!span.is_marked(2), "mark bits cleared for the next cycle");
    assert_eq!(
        span.word(span.slot_base(0)).load(Relaxed),
        crate::object::POISON
    );
}

#[test]
fn refill_sweeps_the_unswept_spans_of_its_class() {
    let (space, i) = space_with(&[0, 1], &[0]);
    space.begin_sweep(32, 0, true);
    let got = space.refill(SC);
    assert_eq!(got.index, i, "the unswept span is swept and reused");
    assert!(!space.is_unswept(got));
    assert!(got.is_allocated(0) && !got.is_allocated(1));
    // Its free slots count as allocated while cached: 255 of 256 slots.
    assert_eq!(space.heap_live(), 32 + 255 * 32);
}

#[test]
fn sweep_one_files_partial_spans_and_frees_empty_ones() {
    let (space, i) = space_with(&[0, 1], &[]);
    space.begin_sweep(0, 0, true);
    assert!(space.sweep_one());
    assert!(!space.sweep_one(), "nothing left");
    assert_eq!(space.span(i).unwrap().kind(), SpanKind::Free);
    let (space, i) = space_with(&[0, 1], &[1]);
    space.begin_sweep(32, 0, true);
    space.finish_sweep();
    assert_eq!(lock(&space.pools).partial[SC.index()], vec![i]);
    assert_eq!(space.unswept_spans(), 0);
}

/// A span (slots 0 and 1 allocated, 1 marked) made unswept, popped by a sweeper
/// that goes no further (`sweep_one`'s pop), then the sweep finished by another
/// thread: returns the space, the span and the generation of the pop.
fn popped_then_finished() -> (Space, usize, u32) {
    let (space, i) = space_with(&[0, 1], &[1]);
    space.begin_sweep(32, 0, true);
    let (popped, h) = space
        .pop_unswept(|pools| pools.unswept[SC.index()].pop())
        .unwrap();
    assert_eq!(popped.index, i);
    space.finish_sweep();
    (space, i, h)
}

/// The lost-object race the random programs found: the background sweeper has taken
/// a span off its unswept list but not claimed it yet when the next cycle finishes
/// the sweep. `finish_sweep` must not return with that span unswept (the late sweep
/// would clear the new cycle's mark bits); it sweeps it itself.
#[test]
fn finish_sweep_sweeps_a_span_taken_off_its_list_but_not_claimed() {
    let (space, i, h) = popped_then_finished();
    let span = space.span(i).unwrap();
    assert!(!space.is_unswept(span), "finish_sweep left a span unswept");
    assert!(span.is_allocated(1) && !span.is_allocated(0));
    // The next mark sets a bit; the sweeper's late claim must fail and clear nothing.
    assert!(span.try_mark(1));
    assert_eq!(space.sweep_span(span, h, Filing::Always), None);
    assert!(span.is_marked(1));
}

/// The same pop one step later: the sweeper, not a mutator, is not stopped by pauses,
/// so its stale pop can outlive the next mark termination. Its claim still fails: a
/// pop claims only in the generation it was made in (in the new one the span is
/// unswept again, listed again, and swept by whoever pops it there).
#[test]
fn a_pop_from_an_earlier_generation_claims_nothing_after_the_next_termination() {
    let (space, i, h) = popped_then_finished();
    let span = space.span(i).unwrap();
    assert!(span.try_mark(1));
    space.begin_sweep(32, 0, true);
    assert!(space.is_unswept(span));
    assert_eq!(
        space.sweep_span(span, h, Filing::Always),
        None,
        "a stale pop claimed the span"
    );
    assert!(span.is_marked(1), "a stale pop cleared the new mark bits");
}

/// A free span's generation falls behind: neither `ensure_swept` nor the full scan
/// of `finish_sweep` waits for it.
#[test]
fn ensure_swept_returns_for_a_span_that_becomes_free() {
    let (space, i) = space_with(&[0], &[]);
    let span = space.span(i).unwrap();
    space.begin_sweep(0, 0, true);
    assert!(space.sweep_one(), "swept empty, so freed");
    assert_eq!(span.kind(), SpanKind::Free);
    // Two generations on, a free span's generation is stale: no wait.
    space.begin_sweep(0, 0, true);
    space.begin_sweep(0, 0, true);
    space.ensure_swept(span);
    space.finish_sweep();
}

#[test]
fn ensure_swept_sweeps_one_span_out_of_turn() {
    let (space, i) = space_with(&[5], &[5]);
    let span = space.span(i).unwrap();
    space.begin_sweep(32, 0, true);
    space.ensure_swept(span);
    assert!(!space.is_unswept(span));
    assert!(!span.is_marked(5));
    // Its list entry is skipped when popped later.
    assert!(!space.sweep_one());
    assert_eq!(lock(&space.pools).partial[SC.index()], vec![i]);
}
/// The background sweeper runs through pauses, and its `finish_sweep` claims any
/// span it finds unswept in the generation it reads at that moment. A termination's
/// `begin_sweep` counts and checks the mark bits before it advances the generation,
/// so no span is claimable while they are counted. (With the generation advanced
/// first, this failed within a few thousand rounds: the sweeper cleared bits in the
/// middle of the count, the race CI's random programs met.)
#[test]
fn the_sweeper_claims_nothing_while_a_termination_counts_the_mark_bits() {
    use crate::sync::unmodelled::AtomicBool;
    let (space, i) = space_with(&[0, 1, 2, 3], &[]);
    let span = space.span(i).unwrap();
    let stop = AtomicBool::new(false);
    /// Stops the sweeper also when the check panics.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Relaxed);
        }
    }
    crate::sync::unmodelled::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                space.finish_sweep();
            }
        });
        let _stop = StopOnDrop(&stop);
        for _ in 0..20_000 {
            // The previous generation swept (as at a cycle's start), then a mark.
            space.finish_sweep();
            for slot in [0, 1, 2, 3] {
                span.alloc_bits(0).fetch_or(1 << slot, Relaxed);
                span.try_mark(slot);
            }
            space.begin_sweep(4 * 32, 0, true);
        }
    });
}

/// Go's `heapAlloc` counts the dead objects until the sweep frees them: a sweep
/// generation begins with them counted, and each span's sweep takes its own off.
#[test]
fn dead_objects_count_in_heap_alloc_until_their_span_is_swept() {
    let (space, _) = space_with(&[0, 1, 2, 3], &[1, 3]);
    assert_eq!(
        space.heap_live(),
        4 * 32,
        "the span's cache counted its objects"
    );
    assert_eq!(space.begin_sweep(2 * 32, 0, true), 2 * 32);
    assert_eq!((space.heap_objects(), space.heap_alloc()), (64, 128));
    assert!(space.sweep_one());
    assert_eq!((space.heap_objects(), space.heap_alloc()), (64, 64));
}

/// An object the mark counted without marking and the sweep found resurrected moves
/// from the dead to the objects in memory: `heapAlloc` counts it once, and once the
/// sweep has freed the rest, the objects in memory are all it counts. (The sweep's
/// resurrection, `sweep_specials`, marks the object and reports it; here both by hand.)
#[test]
fn a_resurrected_object_counts_once_in_heap_alloc() {
    let (space, i) = space_with(&[0, 1, 2, 3], &[1, 3]);
    assert_eq!(
        space.heap_live(),
        4 * 32,
        "the span's cache counted its objects"
    );
    space.begin_sweep(2 * 32, 32, true);
    assert_eq!((space.heap_objects(), space.heap_alloc()), (64, 128));
    assert!(space.span(i).unwrap().try_mark(0), "slot 0 is resurrected");
    space.counted_resident(32);
    assert_eq!((space.heap_objects(), space.heap_alloc()), (96, 128));
    space.finish_sweep();
    assert_eq!((space.heap_objects(), space.heap_alloc()), (96, 96));
}
