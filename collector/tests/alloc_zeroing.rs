//! A new object reads zero (S1: allocation returns the zero value), also in a slot a
//! sweep has freed: the allocator skips zeroing only in spans whose free slots were never
//! written (Go's `needzero`), so these tests fill objects with non-zero words, free them,
//! allocate again until slots are reused, and check every word of every new object. They
//! fail if the skip is taken for a span with a freed slot (checked by forcing `needzero`
//! false: both reuse tests fail).

use collector::{Gogc, Handle, Heap, HeapConfig, Mutator, Ref, Shape};
use std::collections::HashSet;

/// Shapes of one to seven words, odd and even (the zeroing runs two words a step, then a
/// tail), each with one reference slot first.
static SHAPES: [Shape; 5] = [
    Shape::new("ref", 1, 0),
    Shape::new("ref+1", 1, 1),
    Shape::new("ref+2", 1, 2),
    Shape::new("ref+4", 1, 4),
    Shape::new("ref+6", 1, 6),
];
/// Objects a round: several spans of each class.
const N: usize = 3000;

fn heap(verify: bool) -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// Allocates `N` objects of `shape` with every word non-zero (the reference slot names
/// `target`, live), keeps those `keep` picks, and collects the rest. Returns the kept
/// handles and the freed objects' references.
fn fill_and_free<'m>(
    m: &'m Mutator,
    shape: &Shape,
    target: &Handle<'m>,
    keep: impl Fn(usize) -> bool,
) -> (Vec<Handle<'m>>, HashSet<Ref>) {
    let out = m.scope(|s| {
        let t = s.get(target);
        let (mut kept, mut freed) = (Vec::new(), HashSet::new());
        for i in 0..N {
            let g = s.alloc(shape);
            s.store(g, 0, Some(t));
            for w in 0..shape.data_words() as usize {
                g.write(w, u64::MAX - w as u64);
            }
            if keep(i) {
                kept.push(s.root(g));
            } else {
                freed.insert(g.reference());
            }
        }
        (kept, freed)
    });
    m.gc();
    out
}

/// Allocates `N` objects of `shape` through scopes or handles, checks that each reads
/// zero in every word, and returns how many took a freed object's slot.
fn reallocate_and_check(
    m: &Mutator,
    shape: &Shape,
    freed: &HashSet<Ref>,
    scope_api: bool,
) -> usize {
    let data = 0..shape.data_words() as usize;
    let mut reused = 0;
    if scope_api {
        m.scope(|s| {
            for i in 0..N {
                let g = s.alloc(shape);
                assert!(
                    s.load(g, 0).is_none(),
                    "object {i}: reference slot not null"
                );
                for w in data.clone() {
                    assert_eq!(g.read(w), 0, "object {i}: data word {w} not zero");
                }
                reused += usize::from(freed.contains(&g.reference()));
            }
        });
    } else {
        let mut hs = Vec::new();
        for i in 0..N {
            let h = m.alloc(shape);
            assert!(h.get(0).is_none(), "object {i}: reference slot not null");
            for w in data.clone() {
                assert_eq!(h.read(w), 0, "object {i}: data word {w} not zero");
            }
            reused += usize::from(freed.contains(&h.reference()));
            hs.push(h);
        }
    }
    reused
}

/// Every case: each shape, poisoning off (a freed slot keeps its old words) and on
/// (`verify`: it holds `POISON`), each API.
fn each_case(keep: impl Fn(usize) -> bool + Copy) {
    for shape in &SHAPES {
        for verify in [false, true] {
            for scope_api in [true, false] {
                let heap = heap(verify);
                let m = heap.mutator();
                let target = m.alloc(shape);
                let (kept, freed) = fill_and_free(&m, shape, &target, keep);
                let reused = reallocate_and_check(&m, shape, &freed, scope_api);
                assert!(
                    reused >= freed.len() / 2,
                    "the test must reuse freed slots: {reused} of {} ({}, verify {verify}, \
                     scope {scope_api})",
                    freed.len(),
                    shape.name()
                );
                drop(kept);
            }
        }
    }
}

#[test]
fn slots_freed_in_a_span_that_stays_in_use_read_zero_when_reused() {
    // Every other object survives: each span is swept with slots freed and reused in
    // place (the span's `needzero` set by the free).
    each_case(|i| i % 2 == 0);
}

#[test]
fn slots_of_a_span_freed_whole_read_zero_when_reused() {
    // Nothing survives: whole spans go back to the page pool and are taken again.
    each_case(|_| false);
}

#[test]
fn objects_in_fresh_spans_read_zero() {
    // No free ever: every span is fresh, and the allocator skips zeroing throughout.
    for shape in &SHAPES {
        let heap = heap(false);
        let m = heap.mutator();
        assert_eq!(reallocate_and_check(&m, shape, &HashSet::new(), true), 0);
        assert_eq!(reallocate_and_check(&m, shape, &HashSet::new(), false), 0);
    }
}
