//! The barrier models, each with a negative control per protection the barrier relies on
//! (a `LoomFaults` switch removing it, or barrier `none`).
//!
//! **(a) A mutator hides a pointer during concurrent mark.**
//!
//! Setup (before the threads start): a global G → Y → Z. Threads: the model's main
//! thread is the collector (an inline concurrent cycle: begin, scan roots, mark, finish);
//! one mutator thread registers, loads Y from G and Z from Y (so Z is now held by a
//! handle: a root), deletes Y → Z, then blocks until the cycle is over and checks Z.
//! Property: whatever the interleaving, verification finds no lost object and Z is intact
//! (not poisoned) under `hybrid`, `yuasa` and `dijkstra`. Negative controls, each finding
//! the interleaving in which the mutator's roots are scanned before it loads Z and Y is
//! scanned after the delete: barrier `none`; `hybrid` without shading the old value
//! (`unshaded_old`); `dijkstra` without its rescan of the roots at mark termination
//! (`no_termination_rescan`: Z, loaded into an already-scanned root, is seen only there).
//!
//! **(b) A barrier-buffer entry recorded just before termination is never lost.** The
//! same scenario under `yuasa`, where Z survives only through the entry the deletion
//! barrier puts in the mutator's buffer. Negative control: the `skip_termination_flush`
//! fault (mark termination neither runs the ragged flush nor takes buffers in its pause);
//! loom finds the execution in which the entry is never marked.
//!
//! **(c) A mutator stores a root into a black object before its roots are scanned.**
//!
//! Setup: a global G with an empty slot. Threads: one mutator registers, allocates Z (a
//! root), signals the collector, polls a safepoint (where the first pause may park it),
//! stores Z into G, drops its handle, polls a safepoint again, then blocks until the
//! cycle is over and checks G → Z. The collector waits for the signal, then runs an
//! inline cycle (begin, scan roots, mark, finish); the first pause takes what the
//! globals hold, so G is black from then on. Property: nothing lost under `hybrid`,
//! `yuasa` and `dijkstra`. Negative controls, each finding the interleaving in which the
//! store lands after the first pause and before the mutator's roots are scanned:
//! `hybrid` without shading the new value while the writer is unscanned
//! (`unshaded_new`), and `yuasa` without its root snapshot at the first pause
//! (`no_root_snapshot`: its roots scanned concurrently, after the store).
//!
//! **(d) A mutator marks its own full barrier buffer beside the mark** (Go's
//! `wbBufFlush1`, `mark::barrier_flush`). Model (c)'s scenario under `go-hybrid`, with Z
//! holding W (W reachable only through Z once the mutator drops its handle) and a
//! barrier buffer of one reference (`LoomFaults::wbuf_capacity`), so the store of Z into
//! G, when marking is on, records Z and the mutator marks it at once, greying it while
//! the collector marks and terminates. Property: nothing lost. Negative control: the
//! flush drops what it greyed (`flush_drops_grey`); loom finds the execution in which
//! the flush marks Z first and nothing scans it, so W is never marked.
#![cfg(loom)]

use collector::{Barrier, Dijkstra, GoHybrid, Hybrid, LoomFaults, NoBarrier, Shape, Yuasa, POISON};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{assert_control, assert_nothing_lost, concurrent_heap, faults, step_cycle};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static NODE: Shape = Shape::new("node", 1, 1);

/// What verification reports when the hide-pointer model loses Z (span 2 slot 1), held
/// by the mutator's handle.
const LOST_Z: &str = "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 1 \
                      (1 refs + 1 words) reached from handle 0 of mutator 1\"]";

/// What verification reports when the store-into-black model loses Z, held by G.
const LOST_STORED_Z: &str =
    "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 0 \
                             (1 refs + 1 words) reached from reference slot 0 of global span 1 \
                             slot 0\"]";

fn hide_pointer_model<B: Barrier>() {
    hide_pointer_with_faults::<B>(LoomFaults::default());
}

fn hide_pointer_with_faults<B: Barrier>(faults: LoomFaults) {
    let heap = concurrent_heap::<B>(faults);
    let g = {
        let m0 = heap.mutator();
        let g = m0.alloc_global(&NODE);
        let y = m0.alloc(&NODE);
        let z = m0.alloc(&NODE);
        z.write(0, 42);
        y.set(0, Some(&z));
        m0.global(&g).set(0, Some(&y));
        g
    };
    let cycle_done = Arc::new(Notify::new());
    let (h, done) = (heap.clone(), cycle_done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let y = m.global(&g).get(0).expect("G holds Y");
        let z = y.get(0).expect("Y holds Z");
        y.set(0, None);
        drop(y);
        m.blocking(|| done.wait());
        assert_ne!(
            z.read(0),
            POISON as u64,
            "Z was freed while a handle held it"
        );
        assert_eq!(z.read(0), 42);
    });
    step_cycle(&heap);
    let s = heap.stats();
    assert_nothing_lost(&s);
    cycle_done.notify();
    mutator.join().unwrap();
}

/// Model (c): see the module documentation.
fn store_into_black_model<B: Barrier>(faults: LoomFaults) {
    let heap = concurrent_heap::<B>(faults);
    let g = heap.mutator().alloc_global(&NODE);
    let ready = Arc::new(Notify::new());
    let cycle_done = Arc::new(Notify::new());
    let (h, r, done) = (heap.clone(), ready.clone(), cycle_done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let z = m.alloc(&NODE);
        z.write(0, 42);
        r.notify();
        m.safepoint();
        m.global(&g).set(0, Some(&z));
        drop(z);
        m.safepoint();
        m.blocking(|| done.wait());
        assert_eq!(m.global(&g).get(0).expect("G holds Z").read(0), 42);
    });
    ready.wait();
    step_cycle(&heap);
    assert_nothing_lost(&heap.stats());
    cycle_done.notify();
    mutator.join().unwrap();
}

/// What verification reports when model (d) loses W, held by Z.
const LOST_W: &str = "lost object: [\"cycle 1: checkmark found unmarked object span 2 slot 1 \
                      (1 refs + 1 words) reached from reference slot 0 of object span 2 slot 0\"]";

/// Model (d): see the module documentation.
fn own_flush_model(faults: LoomFaults) {
    let heap = concurrent_heap::<GoHybrid>(LoomFaults {
        wbuf_capacity: 1,
        ..faults
    });
    let g = heap.mutator().alloc_global(&NODE);
    let ready = Arc::new(Notify::new());
    let cycle_done = Arc::new(Notify::new());
    let (h, r, done) = (heap.clone(), ready.clone(), cycle_done.clone());
    let mutator = thread::spawn(move || {
        let m = h.mutator();
        let z = m.alloc(&NODE);
        let w = m.alloc(&NODE);
        w.write(0, 42);
        z.set(0, Some(&w));
        drop(w);
        r.notify();
        m.safepoint();
        m.global(&g).set(0, Some(&z));
        drop(z);
        m.safepoint();
        m.blocking(|| done.wait());
        let z = m.global(&g).get(0).expect("G holds Z");
        assert_eq!(z.get(0).expect("Z holds W").read(0), 42);
    });
    ready.wait();
    step_cycle(&heap);
    assert_nothing_lost(&heap.stats());
    cycle_done.notify();
    mutator.join().unwrap();
}

fn check<B: Barrier>(name: &str) {
    check_model(&format!("barriers/{name}"), hide_pointer_model::<B>);
}

fn check_model(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let t = std::time::Instant::now();
    // The suite's builder: the merged root-table atomics (a blocked mutator's root clear)
    // and the park queue's loom types made Yuasa's longest execution pass loom's default
    // of 1,000 branches.
    loom_tests::builder().check(move || {
        r.fetch_add(1, Relaxed);
        model();
    });
    println!(
        "{name}: {} executions in {:.2} s",
        runs.load(Relaxed),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn hybrid_never_loses_a_hidden_pointer() {
    check::<Hybrid>("hybrid");
}

#[test]
fn yuasa_never_loses_a_hidden_pointer() {
    check::<Yuasa>("yuasa");
}

#[test]
fn dijkstra_never_loses_a_hidden_pointer() {
    check::<Dijkstra>("dijkstra");
}

#[test]
fn negative_control_no_barrier_loses_the_hidden_pointer() {
    assert_control("barriers/none", hide_pointer_model::<NoBarrier>, LOST_Z);
}

#[test]
fn negative_control_skipping_the_termination_flush_loses_the_buffered_entry() {
    assert_control(
        "barriers/skipped flush",
        || hide_pointer_with_faults::<Yuasa>(faults(|f| f.skip_termination_flush = true)),
        LOST_Z,
    );
}

#[test]
fn negative_control_hybrid_without_shading_the_old_value_loses_the_hidden_pointer() {
    assert_control(
        "barriers/hybrid without shade-old",
        || hide_pointer_with_faults::<Hybrid>(faults(|f| f.unshaded_old = true)),
        LOST_Z,
    );
}

#[test]
fn negative_control_dijkstra_without_the_termination_rescan_loses_the_hidden_pointer() {
    assert_control(
        "barriers/dijkstra without rescan",
        || hide_pointer_with_faults::<Dijkstra>(faults(|f| f.no_termination_rescan = true)),
        LOST_Z,
    );
}

#[test]
fn hybrid_never_loses_a_root_stored_into_a_black_object() {
    check_model("barriers/store into black, hybrid", || {
        store_into_black_model::<Hybrid>(LoomFaults::default())
    });
}

#[test]
fn yuasa_never_loses_a_root_stored_into_a_black_object() {
    check_model("barriers/store into black, yuasa", || {
        store_into_black_model::<Yuasa>(LoomFaults::default())
    });
}

#[test]
fn dijkstra_never_loses_a_root_stored_into_a_black_object() {
    check_model("barriers/store into black, dijkstra", || {
        store_into_black_model::<Dijkstra>(LoomFaults::default())
    });
}

#[test]
fn negative_control_hybrid_without_shading_the_new_value_loses_the_stored_root() {
    assert_control(
        "barriers/hybrid without shade-new",
        || store_into_black_model::<Hybrid>(faults(|f| f.unshaded_new = true)),
        LOST_STORED_Z,
    );
}

#[test]
fn negative_control_yuasa_without_the_root_snapshot_loses_the_stored_root() {
    assert_control(
        "barriers/yuasa without root snapshot",
        || store_into_black_model::<Yuasa>(faults(|f| f.no_root_snapshot = true)),
        LOST_STORED_Z,
    );
}

// GoHybrid, the hybrid barrier as Go 1.27 implements it (both halves on every store),
// added by CONTRIBUTING.md's steps: the same two models, and a control for each half.

#[test]
fn go_hybrid_never_loses_a_hidden_pointer() {
    check::<GoHybrid>("go-hybrid");
}

#[test]
fn go_hybrid_never_loses_a_root_stored_into_a_black_object() {
    check_model("barriers/store into black, go-hybrid", || {
        store_into_black_model::<GoHybrid>(LoomFaults::default())
    });
}

#[test]
fn negative_control_go_hybrid_without_shading_the_old_value_loses_the_hidden_pointer() {
    assert_control(
        "barriers/go-hybrid without shade-old",
        || hide_pointer_with_faults::<GoHybrid>(faults(|f| f.unshaded_old = true)),
        LOST_Z,
    );
}

#[test]
fn negative_control_go_hybrid_without_shading_the_new_value_loses_the_stored_root() {
    assert_control(
        "barriers/go-hybrid without shade-new",
        || store_into_black_model::<GoHybrid>(faults(|f| f.unshaded_new = true)),
        LOST_STORED_Z,
    );
}

#[test]
fn a_mutator_marking_its_own_full_buffer_loses_nothing() {
    check_model("barriers/own flush, go-hybrid", || {
        own_flush_model(LoomFaults::default())
    });
}

#[test]
fn negative_control_a_flush_that_drops_what_it_greyed_loses_the_child() {
    assert_control(
        "barriers/own flush dropping its grey objects",
        || own_flush_model(faults(|f| f.flush_drops_grey = true)),
        LOST_W,
    );
}
