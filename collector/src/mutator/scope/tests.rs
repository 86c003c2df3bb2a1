//! Unit tests of scopes: loads, stores (the barriers' slow paths driven by setting the
//! marking flag by hand), allocation, crossing scopes through handles, and misuse.

use super::*;
use crate::barrier::{Dijkstra, GoHybrid, Hybrid, NoBarrier, Yuasa};
use crate::config::Gogc;
use crate::mark::pool::GreyPool;
use crate::{Heap, HeapConfig};
use std::panic::{catch_unwind, AssertUnwindSafe};

static NODE: Shape = Shape::new("node", 2, 1);
static INT: Shape = Shape::new("int", 0, 1);
static BIG: Shape = Shape::new("big", 1, 5000);
static EMPTY: Shape = Shape::new("empty", 0, 0);

fn heap<B: Barrier>() -> Heap<B> {
    Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let e = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn loads_stores_and_data_round_trip_in_a_scope() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let kept = m.scope(|s| {
        let a = s.alloc(&NODE);
        let b = s.alloc(&NODE);
        assert_eq!((a.ptr_slots(), a.data_words()), (2, 1));
        b.write(0, 7);
        b.write_f64(0, 1.5);
        assert_eq!(b.read_f64(0), 1.5);
        b.write(0, 42);
        assert!(s.load(a, 0).is_none(), "a new object is zeroed");
        s.store(a, 1, Some(b));
        let got = s.load(a, 1).expect("stored");
        assert!(got.same(b) && !got.same(a));
        assert_eq!(got.read(0), 42);
        s.store(a, 1, None);
        assert!(s.load(a, 1).is_none());
        s.store(a, 0, Some(b));
        s.root(a)
    });
    assert_eq!(m.live_handles(), 1, "only the rooted object is a root");
    m.gc();
    // The rooted object and what it reaches survive a cycle; the scope's other
    // references were not roots, and no pause came while they lived.
    let b = kept.get(0).expect("b survives through a");
    assert_eq!(b.read(0), 42);
    m.scope(|s| {
        let a = s.get(&kept);
        assert_eq!(s.load(a, 0).unwrap().read(0), 42);
    });
    assert_eq!(heap.stats().lost_objects, 0);
}

#[test]
fn an_object_only_a_scope_named_is_collected_after_it() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let r = m.scope(|s| s.alloc(&NODE).reference());
    assert!(heap.is_allocated(r));
    m.gc();
    assert!(!heap.is_allocated(r), "a Gc is no root");
}

#[test]
fn tiny_large_and_zero_sized_objects_in_a_scope() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let h = m.scope(|s| {
        let holder = s.alloc(&NODE);
        let i = s.alloc(&INT);
        let j = s.alloc(&INT);
        i.write(0, 1);
        j.write(0, 2);
        let big = s.alloc(&BIG);
        big.write(4999, 9);
        let e = s.alloc(&EMPTY);
        assert_eq!((e.ptr_slots(), e.data_words()), (0, 0));
        s.store(big, 0, Some(j));
        s.store(holder, 0, Some(i));
        s.store(holder, 1, Some(big));
        assert_eq!(s.load(holder, 0).unwrap().read(0), 1);
        let big2 = s.load(holder, 1).unwrap();
        assert_eq!(big2.read(4999), 9);
        assert_eq!(s.load(big2, 0).unwrap().read(0), 2);
        s.root(holder)
    });
    m.gc();
    m.scope(|s| {
        let holder = s.get(&h);
        assert_eq!(s.load(holder, 0).unwrap().read(0), 1);
        let big = s.load(holder, 1).unwrap();
        assert_eq!(s.load(big, 0).unwrap().read(0), 2);
    });
    assert_eq!(heap.stats().lost_objects, 0);
}

/// Stores `new` over `old` in a scope with marking on (roots scanned or not) and
/// returns what the barrier recorded, in order.
fn shaded<B: Barrier>(roots_scanned: bool) -> (Vec<Ref>, Ref, Ref) {
    let heap = heap::<B>();
    let m = heap.mutator();
    m.scope(|s| {
        let holder = s.alloc(&NODE);
        let old = s.alloc(&NODE);
        let new = s.alloc(&NODE);
        s.store(holder, 0, Some(old));
        m.shared.roots_scanned.store(roots_scanned, Relaxed);
        m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
        s.store(holder, 0, Some(new));
        m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
        // SAFETY: this thread owns the mutator and no cycle runs.
        let got = m.shared.wbuf.with(|b| unsafe { &*b }.clone());
        (got, old.reference(), new.reference())
    })
}

#[test]
fn each_barrier_records_what_it_must_shade_for_a_scope_store() {
    let (got, old, new) = shaded::<Hybrid>(false);
    assert_eq!(got, vec![old, new], "hybrid, roots unscanned: old and new");
    let (got, old, _) = shaded::<Hybrid>(true);
    assert_eq!(got, vec![old], "hybrid, roots scanned: old only");
    let (got, old, new) = shaded::<GoHybrid>(true);
    assert_eq!(got, vec![old, new], "go-hybrid: old and new, always");
    let (got, _, new) = shaded::<Dijkstra>(true);
    assert_eq!(got, vec![new]);
    let (got, old, _) = shaded::<Yuasa>(false);
    assert_eq!(got, vec![old]);
    let (got, _, _) = shaded::<NoBarrier>(false);
    assert!(got.is_empty());
}

#[test]
fn scope_stores_while_marking_is_off_record_nothing() {
    let heap = heap::<Yuasa>();
    let m = heap.mutator();
    m.scope(|s| {
        let a = s.alloc(&NODE);
        let b = s.alloc(&NODE);
        s.store(a, 0, Some(b));
        s.store(a, 0, None);
    });
    // SAFETY: this thread owns the mutator and no cycle runs.
    let empty = m.shared.wbuf.with(|w| unsafe { &*w }.is_empty());
    assert!(empty);
    assert!(m.core.shaded.take().is_none());
}

#[test]
fn objects_allocated_in_a_scope_while_marking_are_black() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    m.scope(|s| {
        let before = s.alloc(&NODE);
        m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
        let during = [s.alloc(&NODE), s.alloc(&INT), s.alloc(&BIG)];
        m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
        let marked = |g: Gc<'_>| {
            let r = g.reference();
            m.core.space.span(r.span()).unwrap().is_marked(r.slot())
        };
        assert!(!marked(before));
        assert!(during.iter().all(|&g| marked(g)));
    });
}

#[test]
fn out_of_range_indices_panic() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    m.scope(|s| {
        let a = s.alloc(&NODE);
        let msg = panic_message(|| {
            s.load(a, 2);
        });
        assert!(msg.contains("reference slot 2 is out of range"), "{msg}");
        let msg = panic_message(|| s.store(a, 5, None));
        assert!(msg.contains("reference slot 5 is out of range"), "{msg}");
        let msg = panic_message(|| {
            a.read(1);
        });
        assert!(msg.contains("data word 1 is out of range"), "{msg}");
        let msg = panic_message(|| a.write(3, 0));
        assert!(msg.contains("data word 3 is out of range"), "{msg}");
    });
}

/// Stores an object of `shape` into a `NODE`'s slot 0, frees it behind the collector's
/// back (a collector bug: the sweeper's `free_slot`), and returns the panic message of
/// loading it again through the `NODE`.
fn message_of_a_stale_load(shape: &'static Shape) -> String {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    m.scope(|s| {
        let a = s.alloc(&NODE);
        let b = s.alloc(shape);
        s.store(a, 0, Some(b));
        assert_eq!(
            s.load(a, 0).map(|g| g.data_words()),
            Some(shape.words() - shape.ptr_slots() as usize)
        );
        let r = b.reference();
        let span = m.core.space.span(r.span()).unwrap();
        crate::heap::sweeping::free_slot(span, r.slot(), false);
        panic_message(|| {
            s.load(a, 0);
        })
    })
}

#[test]
fn a_stale_reference_is_caught_on_load() {
    let msg = message_of_a_stale_load(&NODE);
    assert!(
        msg.contains("use of a freed object") && msg.contains("reference slot 0 of object"),
        "{msg}"
    );
}

/// A freed tiny block's reference is stale too: the tiny path is taken only for a slot
/// whose metadata says `META_TINY` (S-none: README "Misuse panics").
#[test]
fn a_stale_reference_to_a_freed_tiny_block_is_caught_on_load() {
    let msg = message_of_a_stale_load(&INT);
    assert!(
        msg.contains("use of a freed object") && msg.contains("reference slot 0 of object"),
        "{msg}"
    );
}

/// Words that name no span — span key 0 (a word below 2^33), a key past the table's
/// spans, a key past the flat index — resolve to the table's empty span, whose lack of
/// metadata makes the load stale, not a read through a null span (S-none: README
/// "Misuse panics").
#[test]
fn a_word_naming_no_span_is_caught_on_load() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let spans = m.core.space.table.len();
    for key in [0, spans + 2, 1 << 30] {
        let msg = m.scope(|s| {
            let a = s.alloc(&NODE);
            // A corrupt reference slot (a collector bug, a fault).
            a.ptr_word(0).store(key << 33 | 1, Relaxed);
            panic_message(|| {
                s.load(a, 0);
            })
        });
        assert!(
            msg.contains("use of a freed object") && msg.contains("no span has that index"),
            "key {key}: {msg}"
        );
    }
}

/// The storage check: a metadata word from another use of the span (the sweeper reused it
/// at another size class while a stale reference was being resolved) cannot send a `Gc`
/// past the span's storage. Simulated: the span's last slot gets a metadata word too wide
/// for it, and a reference to that slot is loaded.
#[test]
fn a_layout_past_the_span_panics_instead_of_leaving_its_storage() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let msg = m.scope(|s| {
        let a = s.alloc(&NODE);
        let r = a.reference();
        let span = m.core.space.span(r.span()).unwrap();
        let last = span.nslots() - 1;
        let wide = Shape::new("wide", 0, span.elem_words() as u32 * 3);
        span.set_meta(last, wide.meta());
        a.ptr_word(0)
            .store(Ref::new(r.span(), last, 0).word(), Relaxed);
        let msg = panic_message(|| {
            s.load(a, 0);
        });
        span.clear_meta(last);
        msg
    });
    assert!(msg.contains("lies outside its span"), "{msg}");
}

#[test]
fn a_handle_of_another_heap_is_refused() {
    let h1 = heap::<Hybrid>();
    let h2 = heap::<Hybrid>();
    let (m1, m2) = (h1.mutator(), h2.mutator());
    let other = m2.alloc(&NODE);
    let msg = m1.blocking(|| {
        m1.scope(|s| {
            panic_message(|| {
                s.get(&other);
            })
        })
    });
    assert!(msg.contains("belongs to a different heap"), "{msg}");
}

#[test]
fn blocking_and_collecting_inside_a_scope_panic_and_the_scope_is_left() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    let msg = panic_message(|| m.scope(|_| m.blocking(|| ())));
    assert!(msg.contains("blocking inside Mutator::scope"), "{msg}");
    let msg = panic_message(|| m.scope(|_| m.gc()));
    assert!(msg.contains("blocking inside Mutator::scope"), "{msg}");
    // The panics left the scope: blocking works again.
    assert!(!m.in_scope());
    m.blocking(|| ());
    m.gc();
}

#[test]
fn scopes_nest_and_run_from_inside_blocking() {
    let heap = heap::<Hybrid>();
    let m = heap.mutator();
    m.blocking(|| {
        m.scope(|outer| {
            let a = outer.alloc(&NODE);
            let h = outer.root(a);
            m.scope(|inner| {
                let b = inner.alloc(&NODE);
                inner.store(inner.get(&h), 0, Some(b));
            });
            assert!(m.in_scope(), "the outer scope is still open");
            assert!(outer.load(a, 0).is_some());
        });
        assert!(!m.in_scope());
    });
}

#[test]
fn a_stop_the_world_heap_past_its_goal_collects_when_the_scope_ends_not_in_it() {
    let heap = Heap::new(HeapConfig {
        concurrent: false,
        gogc: Gogc::Percent(100),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let goal = heap.stats().heap_goal_bytes as usize;
    let cycles = m.gc_cycles();
    m.scope(|s| {
        // Twice the goal: several refills find the heap past it.
        for _ in 0..(2 * goal / NODE.bytes()) {
            s.alloc(&NODE);
        }
        assert_eq!(m.gc_cycles(), cycles, "no cycle inside the scope");
    });
    assert!(m.gc_cycles() > cycles, "the scope's end collects");
}

#[test]
fn the_heap_cap_refuses_a_scope_allocation_without_a_cycle() {
    let limit = 1 << 20;
    let heap = Heap::new(HeapConfig {
        heap_limit: Some(limit),
        concurrent: false,
        gogc: Gogc::Off,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let cycles = m.gc_cycles();
    let err = m.scope(|s| loop {
        match s.try_alloc(&NODE) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    });
    assert_eq!(m.gc_cycles(), cycles, "no cycle ran to make room");
    assert_eq!(err.limit_bytes, limit);
    // Outside a scope the same allocation collects the garbage the scope left.
    m.alloc(&NODE);
    assert!(m.gc_cycles() > cycles);
}

/// A scope delays a pause requested while it runs, and the pause's record shows the
/// wait in its time to safepoint. Another thread, started inside the scope, calls
/// `Heap::gc` (its first step is a stop-the-world pause, sweep termination or the whole
/// stop-the-world cycle); the scope waits (by
/// the heap's own state, not a sleep) until the collector has requested the stop, then
/// works on — loads, stores and safepoint polls that do not let the pause in — and
/// notes how long it ran after seeing the request. The stop was requested before the
/// scope saw it and reached after the scope ended, so the record's `ttsp_ns` is at least
/// that long.
fn a_scope_delays_the_pause(concurrent: bool) {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let root = m.alloc(&NODE);
    let cycle = m.gc_cycles() + 1;
    let (collector, in_scope_ns) = m.scope(|s| {
        // Started inside the scope, so that its first pause cannot come before it.
        let h = heap.clone();
        let collector = crate::sync::unmodelled::thread::spawn(move || h.gc());
        let a = s.get(&root);
        while m.core.flags.load(SeqCst) & crate::world::FLAG_STOP == 0 {
            std::hint::spin_loop();
        }
        let seen = std::time::Instant::now();
        for i in 0..1000 {
            let b = s.alloc(&NODE);
            b.write(0, i);
            s.store(a, 0, Some(b));
            assert_eq!(s.load(a, 0).unwrap().read(0), i);
            // Safepoints inside the scope do not park.
            m.safepoint();
            assert!(root.get(0).is_some());
        }
        assert_ne!(
            m.core.flags.load(SeqCst) & crate::world::FLAG_STOP,
            0,
            "the pause is still waiting for the scope"
        );
        assert_eq!(m.gc_cycles(), cycle - 1, "no cycle ran inside the scope");
        (collector, seen.elapsed().as_nanos() as u64)
    });
    // Leaving the scope was a safepoint: the pause went ahead.
    m.blocking(|| collector.join().unwrap());
    let stats = heap.stats();
    let first = stats
        .pauses
        .iter()
        .find(|p| p.cycle == cycle)
        .expect("the cycle's first pause is recorded");
    assert!(
        first.ttsp_ns >= in_scope_ns,
        "time to safepoint {} ns, but the scope ran {} ns after the stop was requested",
        first.ttsp_ns,
        in_scope_ns
    );
    assert!(first.duration_ns >= first.ttsp_ns);
    assert_eq!(stats.lost_objects, 0);
    assert_eq!(root.get(0).unwrap().read(0), 999, "the last store survives");
}

#[test]
fn a_long_scope_delays_a_stop_the_world_pause_and_its_record_shows_it() {
    a_scope_delays_the_pause(false);
}

#[test]
fn a_long_scope_delays_a_concurrent_cycles_first_pause_and_its_record_shows_it() {
    a_scope_delays_the_pause(true);
}

/// Go's `gcAssistAlloc` runs at every allocation, so a goroutine never carries assist
/// debt past grey work it could mark. A scope may not wait, so its allocations' debt
/// carries over; the outermost scope's end pays it from the grey work there is then
/// (`Mutator::settle_assist`). Checked to fail without the call in `scope_running`: the
/// debt stays as the scope left it.
#[test]
fn the_outermost_scopes_end_pays_the_assist_debt_its_allocations_carried() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Percent(100),
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    // A long rooted chain: grey work once the roots are scanned.
    let head = m.alloc(&NODE);
    let mut tail = head.clone();
    for _ in 0..50_000 {
        let n = m.alloc(&NODE);
        tail.set(0, Some(&n));
        tail = n;
    }
    drop(tail);
    let mut cycle = m.blocking(|| heap.begin_cycle());
    // Marking is on and no root is scanned yet: the grey pool holds only the globals,
    // so the scope's refills charge debt that no grey work pays.
    m.scope(|s| {
        for _ in 0..(256 << 10) / NODE.bytes() {
            s.alloc(&NODE);
        }
    });
    let carried = m.assist_debt.get();
    assert!(carried > 0, "the scope carried no debt: {carried}");
    m.blocking(|| cycle.scan_roots());
    assert!(!heap.core.mark.grey.is_empty() || !heap.core.shaded.is_empty());
    m.scope(|_| {});
    let left = m.assist_debt.get();
    assert!(
        left < carried,
        "the scope's end paid nothing: {carried} carried, {left} left"
    );
    m.blocking(|| cycle.finish());
    assert!(head.get(0).is_some());
}
