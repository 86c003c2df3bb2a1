//! A new object reads zero (S1: allocation returns the zero value), also in a slot a
//! sweep has freed: the allocator skips zeroing only in spans whose free slots were never
//! written (Go's `needzero`), so these tests fill objects with non-zero words, free them,
//! allocate again until slots are reused, and check every word of every new object. They
//! fail if the skip is taken for a span with a freed slot (checked by forcing `needzero`
//! false: every case below fails).

use collector::{Gogc, Handle, Heap, HeapConfig, Ref, Shape};
use std::collections::HashSet;

/// One reference slot and two data words (a 24-byte size class: several spans below).
static NODE: Shape = Shape::new("node", 1, 2);
const N: usize = 3000;

fn heap(verify: bool) -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// Allocates `N` objects with every word non-zero (the reference slot names a live
/// object), keeps those `keep` picks, and collects the rest. Returns the kept handles and
/// the freed objects' references.
fn fill_and_free<'m>(
    m: &'m collector::Mutator,
    target: &Handle<'m>,
    keep: impl Fn(usize) -> bool,
) -> (Vec<Handle<'m>>, HashSet<Ref>) {
    let out = m.scope(|s| {
        let t = s.get(target);
        let (mut kept, mut freed) = (Vec::new(), HashSet::new());
        for i in 0..N {
            let g = s.alloc(&NODE);
            s.store(g, 0, Some(t));
            g.write(0, u64::MAX);
            g.write(1, i as u64 + 1);
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

/// Allocates `N` objects through scopes or handles, checks that each reads zero in every
/// word, and returns how many took a freed object's slot.
fn reallocate_and_check(m: &collector::Mutator, freed: &HashSet<Ref>, scope_api: bool) -> usize {
    let mut reused = 0;
    if scope_api {
        m.scope(|s| {
            for i in 0..N {
                let g = s.alloc(&NODE);
                assert!(
                    s.load(g, 0).is_none(),
                    "object {i}: reference slot not null"
                );
                assert_eq!((g.read(0), g.read(1)), (0, 0), "object {i}: data not zero");
                reused += usize::from(freed.contains(&g.reference()));
            }
        });
    } else {
        let mut hs = Vec::new();
        for i in 0..N {
            let h = m.alloc(&NODE);
            assert!(h.get(0).is_none(), "object {i}: reference slot not null");
            assert_eq!((h.read(0), h.read(1)), (0, 0), "object {i}: data not zero");
            reused += usize::from(freed.contains(&h.reference()));
            hs.push(h);
        }
    }
    reused
}

/// Every case: poisoning off (a freed slot keeps its old words) and on (`verify`: it
/// holds `POISON`), each API.
fn each_case(keep: impl Fn(usize) -> bool + Copy) {
    for verify in [false, true] {
        for scope_api in [true, false] {
            let heap = heap(verify);
            let m = heap.mutator();
            let target = m.alloc(&NODE);
            let (kept, freed) = fill_and_free(&m, &target, keep);
            let reused = reallocate_and_check(&m, &freed, scope_api);
            assert!(
                reused >= freed.len() / 2,
                "the test must reuse freed slots: {reused} of {} (verify {verify}, scope {scope_api})",
                freed.len()
            );
            drop(kept);
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
    let heap = heap(false);
    let m = heap.mutator();
    assert_eq!(reallocate_and_check(&m, &HashSet::new(), true), 0);
    assert_eq!(reallocate_and_check(&m, &HashSet::new(), false), 0);
}
