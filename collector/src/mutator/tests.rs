//! Unit tests of the mutator layer: the write barriers' slow path and allocate-black
//! (driven by setting the marking flag by hand), and a store inside `blocking` racing
//! the start of a cycle.

use super::*;
use crate::barrier::{Dijkstra, GoHybrid, Hybrid, NoBarrier, Yuasa};
use crate::config::Gogc;
use crate::mark::pool::{GreyPool, BATCH};
use crate::mutator::handle::Handle;
use crate::object::Shape;
use crate::sync::unmodelled::mpsc;
use crate::{keep_alive, Heap, HeapConfig};

thread_local! {
    /// Runs (once) when a mutator of this thread is about to leave the blocking state
    /// for a heap access: lets a test hold the thread in that window.
    static BEFORE_UNBLOCK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        std::cell::RefCell::new(None);
}

pub(super) fn before_unblock() {
    if let Some(f) = BEFORE_UNBLOCK.with(|h| h.borrow_mut().take()) {
        f();
    }
}

/// A store made inside `blocking` just as a cycle starts must still run the barrier.
/// Thread A deletes h → o inside `blocking` and is held just before it re-enters the
/// running state; meanwhile the cycle begins and scans both mutators' roots, and
/// thread B copies o into a new handle (a root already scanned). Then A's store
/// proceeds: unless it sees that marking is on, o is lost.
fn store_inside_blocking_across_cycle_start<B: Barrier>() -> u64 {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (go_a_tx, go_a_rx) = mpsc::channel::<()>();
    let (go_b_tx, go_b_rx) = mpsc::channel::<()>();
    let (b_done_tx, b_done_rx) = mpsc::channel::<()>();
    let (end_tx, end_rx) = mpsc::channel::<()>();
    let (end_b_tx, end_b_rx) = mpsc::channel::<()>();
    let (g_tx, g_rx) = mpsc::channel();
    let h = heap.clone();
    let a = crate::sync::unmodelled::thread::spawn(move || {
        let m = h.mutator();
        let g = m.alloc_global(&NODE);
        let holder = m.alloc(&NODE);
        let o = m.alloc(&NODE);
        o.write(0, 42);
        holder.set(0, Some(&o));
        m.global(&g).set(0, Some(&holder));
        drop(o);
        g_tx.send(g).unwrap();
        BEFORE_UNBLOCK.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || {
                held_tx.send(()).unwrap();
                go_a_rx.recv().unwrap();
            }))
        });
        m.blocking(|| holder.set(0, None));
        m.blocking(|| end_rx.recv().unwrap());
    });
    let g = g_rx.recv().unwrap();
    let h = heap.clone();
    let b = crate::sync::unmodelled::thread::spawn(move || {
        let m = h.mutator();
        m.blocking(|| go_b_rx.recv().unwrap());
        let o = m.global(&g).get(0).unwrap().get(0).expect("o still linked");
        b_done_tx.send(()).unwrap();
        // Hold o until the cycle is over.
        m.blocking(|| end_b_rx.recv().unwrap());
        o.read(0)
    });
    held_rx.recv().unwrap(); // A is inside blocking, about to store
    let mut cycle = heap.begin_cycle();
    cycle.scan_roots(); // both mutators are blocked: scanned by the collector
    go_b_tx.send(()).unwrap();
    b_done_rx.recv().unwrap(); // B holds o in a root scanned before it
    go_a_tx.send(()).unwrap();
    cycle.finish();
    end_tx.send(()).unwrap();
    end_b_tx.send(()).unwrap();
    a.join().unwrap();
    let data = b.join().unwrap();
    let lost = heap.stats().lost_objects;
    assert_eq!(data == 42, lost == 0, "a lost object reads as poison");
    lost
}

#[test]
fn a_store_inside_blocking_runs_the_barrier_when_a_cycle_starts_meanwhile() {
    assert_eq!(store_inside_blocking_across_cycle_start::<Hybrid>(), 0);
    assert_eq!(store_inside_blocking_across_cycle_start::<Yuasa>(), 0);
}

static NODE: Shape = Shape::new("node", 1, 1);

/// Stores `new` over `old` in a fresh object with marking on (roots scanned or not)
/// and returns what the barrier recorded, in order.
fn shaded<B: Barrier>(roots_scanned: bool) -> (Vec<Ref>, Ref, Ref) {
    let heap = Heap::<B>::with_barrier(HeapConfig {
        gogc: Gogc::Off,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let holder = m.alloc(&NODE);
    let old = m.alloc(&NODE);
    let new = m.alloc(&NODE);
    holder.set(0, Some(&old));
    m.shared.roots_scanned.store(roots_scanned, Relaxed);
    m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
    holder.set(0, Some(&new));
    m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
    // SAFETY: this thread owns the mutator and no cycle runs.
    let got = m.shared.wbuf.with(|b| unsafe { &*b }.clone());
    (got, old.reference(), new.reference())
}

#[test]
fn each_barrier_records_what_it_must_shade() {
    let (got, old, new) = shaded::<Hybrid>(false);
    assert_eq!(got, vec![old, new], "hybrid, roots unscanned: old and new");
    let (got, old, _) = shaded::<Hybrid>(true);
    assert_eq!(got, vec![old], "hybrid, roots scanned: old only");
    let (got, old, new) = shaded::<GoHybrid>(true);
    assert_eq!(got, vec![old, new], "go-hybrid, roots scanned: old and new");
    let (got, _, new) = shaded::<Dijkstra>(true);
    assert_eq!(got, vec![new]);
    let (got, old, _) = shaded::<Yuasa>(false);
    assert_eq!(got, vec![old]);
    let (got, _, _) = shaded::<NoBarrier>(false);
    assert!(got.is_empty());
}

#[test]
fn stores_while_marking_is_off_record_nothing() {
    let heap = Heap::new(HeapConfig::default()).unwrap();
    let m = heap.mutator();
    let a = m.alloc(&NODE);
    let b = m.alloc(&NODE);
    a.set(0, Some(&b));
    a.set(0, None);
    // SAFETY: this thread owns the mutator and no cycle runs.
    let empty = m.shared.wbuf.with(|w| unsafe { &*w }.is_empty());
    assert!(empty);
}

#[test]
fn objects_allocated_while_marking_are_black() {
    let heap = Heap::new(HeapConfig::default()).unwrap();
    let m = heap.mutator();
    let before = m.alloc(&NODE);
    m.core.flags.fetch_or(FLAG_MARKING, SeqCst);
    let during = m.alloc(&NODE);
    let tiny = m.alloc(&Shape::new("int", 0, 1));
    let large = m.alloc(&Shape::new("big", 0, 5000));
    m.core.flags.fetch_and(!FLAG_MARKING, SeqCst);
    let marked = |h: &Handle<'_>| {
        let r = h.reference();
        m.core.space.span(r.span()).unwrap().is_marked(r.slot())
    };
    assert!(!marked(&before));
    assert!(marked(&during) && marked(&tiny) && marked(&large));
}

/// The timeline shows a heap access made inside `blocking` as "running" within the
/// "blocked" slice (a rayon pool's worker runs its tasks so; found in review: the whole
/// task read as blocked).
#[test]
fn an_access_inside_blocking_shows_as_running_within_blocked() {
    static NODE: Shape = Shape::new("node", 1, 1);
    let heap = Heap::new(HeapConfig {
        trace: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let h = m.alloc(&NODE);
    m.blocking(|| h.write(0, 5));
    let trace = heap.trace();
    let mine = trace
        .threads
        .iter()
        .find(|t| t.slices.iter().any(|s| s.name == "blocked"))
        .expect("a blocked slice");
    let names: Vec<_> = mine.slices.iter().map(|s| s.name).collect();
    assert_eq!(names, ["blocked", "running"]);
    let (b, r) = (mine.slices[0], mine.slices[1]);
    assert!(b.start_ns <= r.start_ns && r.start_ns + r.dur_ns <= b.start_ns + b.dur_ns);
}

/// Where an assist could park, one that finds no grey work serves itself first, as Go's
/// does (`gcDrainN`: `wbBufFlush`, then the root jobs, its own stack a self-scan): its
/// roots, which no handshake has asked for yet (a starved GC thread), become grey work
/// that it marks. In a stepped cycle, whose caller steps the root scan, it does not.
#[test]
fn an_assist_with_no_grey_work_scans_its_own_roots_where_it_could_park() {
    for parks in [true, false] {
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            concurrent: true,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let head = chain(&m, 1000);
        let core = &*m.core;
        let cycle = begin_cycle_from(&m, parks);
        let debt = 1 << 20;
        let left = m.assist(debt, core.mark.cycle.load(SeqCst));
        let r = head.reference();
        let marked = core.space.span(r.span()).unwrap().is_marked(r.slot());
        assert_eq!(m.shared.roots_scanned.load(SeqCst), parks, "parks: {parks}");
        assert_eq!((marked, left < debt), (parks, parks), "parks: {parks}");
        m.blocking(|| cycle.finish());
    }
}

/// An assist that Go's GC CPU limiter stops (`gcAssistAlloc` returns at once, `gcDrainN`
/// stops when `limiting()`): limited from the start it marks nothing, keeps its debt and
/// does not serve itself; limited from its first flush on it marks that flush's work
/// and stops; never limited (the control) it marks the whole chain. `Mutator::assist`
/// asks `HeapCore::assists_limited`: with the limiter forced on it marks nothing, unless
/// a hard heap cap keeps assists on.
#[test]
fn the_cpu_limiter_stops_an_assist_at_once_or_at_its_next_flush() {
    use crate::mark::assist::assist_or_serve_self;
    use crate::mark::state::CREDIT_SLACK;
    let debt = 1 << 30;
    let mut whole = 0;
    for stop in ["never", "at once", "at the first flush"] {
        let heap = concurrent_heap_without_gogc();
        let m = heap.mutator();
        let _head = chain(&m, 10_000);
        let core = &*m.core;
        let cycle = begin_parking_cycle(&m);
        let work = || core.mark.scan_work.load(SeqCst);
        let limited = || match stop {
            "never" => false,
            "at once" => true,
            _ => work() > 0,
        };
        let (space, state, limiter) = (&core.space, &core.mark, &core.space.limiter);
        let left = assist_or_serve_self(
            space,
            &core.shaded,
            state,
            limiter,
            &limited,
            &m.shared,
            debt,
        );
        let roots = m.shared.roots_scanned.load(SeqCst);
        match stop {
            "never" => whole = work(),
            "at once" => assert_eq!((left, work(), roots), (debt, 0, false)),
            _ => assert!(
                roots && work() > 0 && work() <= CREDIT_SLACK + 64,
                "{}",
                work()
            ),
        }
        m.blocking(|| cycle.finish());
    }
    assert!(whole > 10_000, "the control marked the chain: {whole}");
    for heap_limit in [None, Some(1 << 30)] {
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            concurrent: true,
            heap_limit,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let _head = chain(&m, 10_000);
        let cycle = begin_parking_cycle(&m);
        m.core.space.limiter.force(true);
        m.assist(debt, m.core.mark.cycle.load(SeqCst));
        let work = m.core.mark.scan_work.load(SeqCst);
        assert_eq!(work, if heap_limit.is_some() { whole } else { 0 });
        m.blocking(|| cycle.finish());
    }
}

/// With Go's GC CPU limiter on, an allocation during a mark charges its assist debt and
/// neither assists nor parks (Go's `gcAssistAlloc` returns at once when
/// `gcCPULimiter.limiting()`); the debt stays for an allocation after it turns off. With
/// the limiter off, the same allocations assist.
#[test]
fn with_the_cpu_limiter_on_an_allocation_owes_its_assist_and_does_not_pay_it() {
    for limited in [false, true] {
        let heap = Heap::new(HeapConfig {
            concurrent: true,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let head = chain(&m, 10_000);
        let core = &*m.core;
        let cycle = begin_cycle_from(&m, false);
        core.space.limiter.force(limited);
        for _ in 0..100_000 {
            drop(m.alloc(&NODE));
        }
        let assisted = core.mark.assist_ns.load(SeqCst) > 0;
        assert_eq!(assisted, !limited, "limited: {limited}");
        if limited {
            assert!(m.assist_debt.get() > 0, "the debt is kept");
        }
        m.blocking(|| cycle.finish());
        drop(head);
    }
}

/// A handle dropped inside `blocking` (as the finalizer thread drops each finalizer's)
/// empties its root slot without re-entering the running state, so it neither takes the
/// world's lock nor waits for a pause; a cycle run after it, still blocked, finds the
/// object unreachable; and the count of handles is right once the mutator runs again.
#[test]
fn a_handle_dropped_inside_blocking_is_cleared_without_running() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        verify: true,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let keep = m.alloc(&NODE);
    let o = m.alloc(&NODE);
    let weak = m.weak(&o);
    let ran = std::rc::Rc::new(Cell::new(false));
    let r = ran.clone();
    BEFORE_UNBLOCK.with(|hook| *hook.borrow_mut() = Some(Box::new(move || r.set(true))));
    m.blocking(|| {
        drop(o);
        assert!(!ran.get(), "the drop re-entered the running state");
        // Still blocked: the cycle reads this mutator's roots as a blocked one's.
        m.gc();
    });
    BEFORE_UNBLOCK.with(|hook| hook.borrow_mut().take());
    assert!(
        weak.is_gone(),
        "the cleared slot no longer roots the object"
    );
    assert_eq!(m.live_handles(), 1);
    let _again = m.alloc(&NODE);
    assert_eq!(m.live_handles(), 2);
    keep_alive(keep);
}

/// A concurrent heap with GOGC off: its cycles are the ones a test begins.
fn concurrent_heap_without_gogc() -> Heap {
    Heap::new(HeapConfig {
        gogc: Gogc::Off,
        concurrent: true,
        ..HeapConfig::default()
    })
    .unwrap()
}

/// The first cycle's mark expects the heap it began with (`MarkState::begin`'s departure
/// from Go's `revise`, which would expect the globals' bytes alone); the next cycle's,
/// the work the first one did.
#[test]
fn the_first_cycle_expects_the_heap_it_began_with_and_the_next_the_work_done() {
    let heap = Heap::new(HeapConfig {
        gogc: Gogc::Off,
        ..HeapConfig::default()
    })
    .unwrap();
    let m = heap.mutator();
    let g = m.alloc_global(&NODE);
    let chain = chain(&m, 100);
    m.global(&g).set(0, Some(&chain));
    let cycle = begin_cycle_from(&m, false);
    let heap_start = m.core.mark.heap_start.load(Relaxed);
    assert!(heap_start > 0);
    assert_eq!(m.core.mark.expected_work.load(Relaxed), heap_start);
    m.blocking(|| cycle.finish());
    let done = m.core.mark.last_scan_work.load(Relaxed);
    assert!(
        done > 0 && done != heap_start,
        "the chain's slots were scanned: {done}"
    );
    let cycle = begin_cycle_from(&m, false);
    assert_eq!(m.core.mark.expected_work.load(Relaxed), done);
    m.blocking(|| cycle.finish());
}

/// A whole cycle's first pause (its assists may park), begun from `m`'s thread.
fn begin_parking_cycle(m: &Mutator) -> crate::ConcurrentCycle<'_> {
    begin_cycle_from(m, true)
}

/// A cycle's first pause begun from `m`'s thread: one whose assists may park (as the
/// background GC thread begins one) or a stepped one, whose assists never park.
fn begin_cycle_from(m: &Mutator, parks: bool) -> crate::ConcurrentCycle<'_> {
    let core = &*m.core;
    m.blocking(|| {
        let guard = crate::core::cycle_guard(core);
        let reason = crate::telemetry::CycleReason::Forced;
        if parks {
            crate::ConcurrentCycle::begin_with_workers(core, guard, reason)
        } else {
            crate::ConcurrentCycle::begin_locked(core, guard, reason)
        }
    })
}

/// A chain of `n` + 1 nodes from the returned head, each linked through slot 0.
fn chain(m: &Mutator, n: usize) -> Handle<'_> {
    let head = m.alloc(&NODE);
    let mut tail = head.clone();
    for _ in 0..n {
        let next = m.alloc(&NODE);
        tail.set(0, Some(&next));
        tail = next;
    }
    head
}

/// Whether `r`'s object is marked.
fn is_marked(m: &Mutator, r: Ref) -> bool {
    m.core.space.span(r.span()).unwrap().is_marked(r.slot())
}

/// Where an assist could park, one that finds no grey work hands its own write-barrier
/// buffer to the marker before it would park (Go's `gcDrainN` flushes the buffer,
/// `wbBufFlush`, before it looks for work): X, which only the buffer holds (the deletion
/// P → X shaded it, and the mutator's roots hold P, not X), is marked by the assist, and
/// the buffer is empty, not left for a GC thread's handshake while the mutator waits.
#[test]
fn an_assist_with_no_grey_work_marks_its_own_barrier_buffer_where_it_could_park() {
    let heap = concurrent_heap_without_gogc();
    let m = heap.mutator();
    let p = m.alloc(&NODE);
    let x = m.alloc(&NODE);
    p.set(0, Some(&x));
    let xr = x.reference();
    drop(x);
    let cycle = begin_parking_cycle(&m);
    p.set(0, None);
    // SAFETY: the buffer is owner-only while running; this thread runs `m`, and no
    // GC thread exists to take it by handshake.
    let buffered = |m: &Mutator| m.shared.wbuf.with(|b| unsafe { &*b }.len());
    assert_eq!(buffered(&m), 1, "the deletion shaded X into the buffer");
    assert!(!is_marked(&m, xr));
    let debt = 1 << 20;
    let left = m.assist(debt, m.core.mark.cycle.load(SeqCst));
    assert!(left < debt);
    assert_eq!((is_marked(&m, xr), buffered(&m)), (true, 0));
    m.blocking(|| cycle.finish());
}

/// Inside a scope an assist does not serve itself (`Mutator::assist`), even where it
/// could park: the scope's references are not roots, so its roots are not scannable
/// there (a scan would record them as scanned, and the hybrid barrier stop shading new
/// values, while the scope holds references no scan saw). Its debt carries over, unpaid
/// and unparked (a scope never waits), to the scope's end.
#[test]
fn an_assist_inside_a_scope_neither_serves_itself_nor_parks() {
    let heap = concurrent_heap_without_gogc();
    let m = heap.mutator();
    let head = m.alloc(&NODE);
    let cycle = begin_parking_cycle(&m);
    let debt = 1 << 20;
    let core_cycle = m.core.mark.cycle.load(SeqCst);
    let (left, parked) = m.scope(|_| {
        (
            m.assist(debt, core_cycle),
            m.assist_or_park(debt, core_cycle),
        )
    });
    assert_eq!((left, parked), (debt, debt), "no work, no wait");
    assert!(
        !m.shared.roots_scanned.load(SeqCst),
        "roots scanned in a scope"
    );
    assert!(!is_marked(&m, head.reference()));
    // Outside the scope, the same assist serves itself (the control of this test).
    assert!(m.assist(debt, core_cycle) < debt);
    assert!(m.shared.roots_scanned.load(SeqCst) && is_marked(&m, head.reference()));
    m.blocking(|| cycle.finish());
}

/// A full write-barrier buffer is marked by the mutator that filled it, as Go's
/// `wbBufFlush1` marks a full `wbBuf` on the mutator's goroutine (`mark::barrier_flush`):
/// its white objects are marked and counted there, only those with reference slots go to
/// the grey pool (a pointer-free one is black at once, and a reference already marked
/// goes nowhere), nothing reaches the shaded pool, and the buffer is kept, emptied.
#[test]
fn a_full_barrier_buffer_is_marked_by_its_mutator() {
    static LEAF: Shape = Shape::new("leaf", 0, 2);
    let heap = concurrent_heap_without_gogc();
    let m = heap.mutator();
    let node = m.alloc(&NODE);
    let leaf = m.alloc(&LEAF);
    let cycle = begin_cycle_from(&m, false);
    let black = m.alloc(&NODE);
    let state = &m.core.mark;
    let marked_before = state.marked_objects.load(SeqCst);
    let bytes_before = state.marked_bytes.load(SeqCst);
    // SAFETY: the buffer is owner-only while running; this thread runs `m`, and the
    // stepped cycle's caller (this thread) takes no buffer by handshake.
    let buffer = || m.shared.wbuf.with(|b| unsafe { &*b }.as_ptr());
    // SAFETY: as for `buffer`.
    let len = || m.shared.wbuf.with(|b| unsafe { &*b }.len());
    m.record_shade(node.reference());
    m.record_shade(leaf.reference());
    for _ in 2..BATCH - 1 {
        m.record_shade(black.reference());
    }
    let (len_before, buffer_before) = (len(), buffer());
    assert_eq!(len_before, BATCH - 1, "not flushed before it is full");
    // SAFETY: as for `buffer`.
    let capacity = m.shared.wbuf.with(|b| unsafe { &*b }.capacity());
    assert_eq!(capacity, BATCH, "no growth is left to move the buffer");
    m.record_shade(black.reference());
    assert_eq!((len(), buffer()), (0, buffer_before), "emptied and kept");
    assert!(is_marked(&m, node.reference()) && is_marked(&m, leaf.reference()));
    assert_eq!(
        state.marked_bytes.load(SeqCst) - bytes_before,
        2 * 16,
        "two 16-byte slots"
    );
    assert_eq!(state.busy.load(SeqCst), 0);
    assert_eq!(state.marked_objects.load(SeqCst) - marked_before, 2);
    assert!(m.core.shaded.is_empty(), "nothing reached the shaded pool");
    let grey = state.grey.take().expect("the node was greyed");
    assert_eq!(
        grey,
        vec![node.reference()],
        "only the node has slots to scan"
    );
    state.grey.put(grey);
    m.blocking(|| cycle.finish());
}

/// A barrier buffer that a pause, a handshake or an assist hands to the shaded pool
/// (`hand_over_wbuf_stopped`) is replaced by one of that pool's spare batches, which the
/// markers give back as they empty them, so the buffer does not grow again from nothing;
/// an empty buffer is not handed over at all.
#[test]
fn a_handed_over_barrier_buffer_is_replaced_by_a_spare_batch() {
    let heap = concurrent_heap_without_gogc();
    let m = heap.mutator();
    let owner = crate::world::mutator_state::Owner(&m.shared);
    let shaded = &m.core.shaded;
    let spares = &shaded.buffers().batches;
    while spares.len() > 0 {
        drop(spares.take());
    }
    assert!(
        !m.shared.hand_over_wbuf_stopped(&owner, shaded),
        "nothing to hand over"
    );
    assert!(shaded.is_empty());
    let cycle = begin_cycle_from(&m, false);
    let x = m.alloc(&NODE);
    m.record_shade(x.reference());
    let spare: Vec<Ref> = Vec::with_capacity(BATCH);
    let spare_at = spare.as_ptr();
    spares.give(spare);
    assert!(m.shared.hand_over_wbuf_stopped(&owner, shaded));
    assert_eq!(shaded.take(), Some(vec![x.reference()]));
    // SAFETY: the buffer is owner-only while running; this thread runs `m`, and the
    // stepped cycle's caller (this thread) takes no buffer by handshake.
    let now_at = m.shared.wbuf.with(|b| unsafe { &*b }.as_ptr());
    assert_eq!(now_at, spare_at, "the spare took the buffer's place");
    assert_eq!(spares.len(), 0);
    m.blocking(|| cycle.finish());
}
