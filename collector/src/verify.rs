//! Verification, Go's `GODEBUG=gccheckmark=1`: after the mark, with the world stopped,
//! a second trace into separate checkmark bits, from every root the mark has: the
//! mutators' handles, the globals, and the specials and queued callbacks (a finalizer's
//! object's referents, the environment boxes, the queued entries). Every object it
//! reaches must already be marked; one that is not was about to be freed while still
//! reachable — a lost object — and is reported with the edge that reached it. A
//! reference to a slot that was already freed (a stale reference, caught thanks to the
//! poison written into freed slots) is reported the same way.
//!
//! Invariant: runs only in the pause that ends the mark (its caller passes the `Stopped`
//! proof), before the sweep. It writes only checkmark bits, cleared at its start, and reads
//! the mark bits, so it never changes what the sweep frees: it reports and counts lost
//! objects, it does not repair them.

use crate::core::HeapCore;
use crate::heap::span::SpanKind;
use crate::mark::special_roots::special_refs;
use crate::mark::{for_each_global, load_racy};
use crate::object::Ref;
use crate::sync::unmodelled::{AtomicU64, Ordering::Relaxed};
use crate::world::Stopped;

/// Clears every span's checkmark bits (each verification starts from none).
fn clear_checkmarks(space: &crate::heap::Space) {
    for i in 0..space.table.len() {
        if let Some(span) = space.span(i) {
            span.clear_checkmarks();
        }
    }
}

/// Re-traces the heap; returns the number of lost objects found (each also recorded in
/// telemetry with its edge). The roots are taken on this thread; the trace from them
/// runs on the heap's phase threads (`phases`): each object is claimed by the one thread
/// whose checkmark sets its bit first.
pub(crate) fn checkmark(core: &HeapCore, stopped: &Stopped<'_>, cycle: u64) -> u64 {
    let space = &core.space;
    clear_checkmarks(space);
    let lost = AtomicU64::new(0);
    let visit = |r: Ref, from: &dyn Fn() -> String, stack: &mut Vec<Ref>| {
        let loc = match space.locate(r) {
            Ok(loc) => loc,
            Err(e) => {
                lost.fetch_add(1, Relaxed);
                core.telemetry.record_lost(format!(
                    "cycle {cycle}: {} holds {r}, which names no live object ({e})",
                    from()
                ));
                return;
            }
        };
        if loc.span.kind() == SpanKind::Immortal {
            return;
        }
        let slot = r.slot();
        if !loc.span.try_checkmark(slot) {
            return;
        }
        if !loc.span.is_marked(slot) {
            lost.fetch_add(1, Relaxed);
            core.telemetry.record_lost(format!(
                "cycle {cycle}: checkmark found unmarked object {r} ({} refs + {} words) reached from {}",
                loc.ptr_slots,
                loc.words - loc.ptr_slots,
                from()
            ));
        }
        if loc.ptr_slots > 0 {
            stack.push(r.block());
        }
    };
    let mut stack: Vec<Ref> = Vec::new();
    root_edges(core, stopped, |r, from| visit(r, from, &mut stack));
    let phase = core.phase_threads();
    phase.trace(stack, |src, out| {
        let Ok(loc) = space.locate(src) else { return };
        for k in 0..loc.ptr_slots as usize {
            if let Some(r) = Ref::from_word(load_racy(loc.span.word(loc.base + k))) {
                visit(r, &|| format!("reference slot {k} of object {src}"), out);
            }
        }
    });
    lost.into_inner()
}

/// Calls `edge` with every root reference the mark has, and where it was found: the
/// mutators' handles, the globals, the specials' and queued callbacks' roots.
fn root_edges(
    core: &HeapCore,
    stopped: &Stopped<'_>,
    mut edge: impl FnMut(Ref, &dyn Fn() -> String),
) {
    let space = &core.space;
    for m in stopped.mutators() {
        m.roots_stopped(stopped, |t| {
            for (i, r) in t.iter() {
                edge(r, &|| format!("handle {i} of mutator {}", m.id));
            }
        });
    }
    for_each_global(space, |span, base, ptr_slots| {
        for k in 0..ptr_slots {
            if let Some(r) = Ref::from_word(load_racy(span.word(base + k))) {
                let g = Ref::new(span.index, base / span.elem_words().max(1), 0);
                edge(r, &|| format!("reference slot {k} of global {g}"));
            }
        }
    });
    // The specials' and queued callbacks' roots, as the mark takes them (a finalizer's
    // object's referents, the environment boxes, the queued entries).
    for r in special_refs(space, true, |_, _| {}) {
        edge(r, &|| "a special or a queued callback".to_string());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Verification must catch what a broken mark would lose. These tests break the mark
    //! by hand (clearing a mark bit between mark and verification, as a missing write
    //! barrier would leave it) and check the report, the poison, and the panics that
    //! follow.

    use crate::mark::{mark_from, Roots};
    use crate::object::{Shape, POISON};
    use crate::sweep::sweep_all;
    use crate::{Gogc, Heap, HeapConfig};

    static NODE: Shape = Shape::new("node", 1, 1);

    fn heap() -> Heap {
        Heap::new(HeapConfig {
            gogc: Gogc::Off,
            verify: true,
            ..HeapConfig::default()
        })
        .unwrap()
    }

    /// The message of the panic `f` raises.
    fn panic_message(f: impl FnOnce()) -> String {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        err.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    /// Runs a cycle by hand from a non-mutator thread, un-marking `victim` before the
    /// checkmark. Returns the number of lost objects reported.
    fn cycle_losing(heap: &Heap, victim: crate::Ref) -> u64 {
        let core = &heap.core;
        let stopped = core.world.stop(&core.flags, false);
        for m in stopped.mutators() {
            m.flush_cache_stopped(&stopped, &core.space);
        }
        mark_from(
            &core.space,
            &core.shaded,
            &core.mark.grey,
            Roots::All(&stopped),
            1,
        );
        let span = core.space.span(victim.span()).unwrap();
        assert!(
            span.is_marked(victim.slot()),
            "the real mark found the victim"
        );
        let bit = 1u64 << (victim.slot() % 64);
        span.mark_bits(victim.slot() / 64)
            .fetch_and(!bit, crate::sync::Ordering::Relaxed);
        let lost = super::checkmark(core, &stopped, 1);
        sweep_all(core, &stopped);
        lost
    }

    #[test]
    fn checkmark_reports_an_unmarked_reachable_object_with_its_edge() {
        let heap = heap();
        crate::sync::unmodelled::thread::scope(|s| {
            let (tx, rx) = crate::sync::unmodelled::mpsc::channel();
            let (done_tx, done_rx) = crate::sync::unmodelled::mpsc::channel::<()>();
            let h = heap.clone();
            s.spawn(move || {
                let m = h.mutator();
                let parent = m.alloc(&NODE);
                let child = m.alloc(&NODE);
                child.write(0, 42);
                parent.set(0, Some(&child));
                tx.send((child.reference(), parent.reference())).unwrap();
                drop(child);
                m.blocking(|| done_rx.recv().unwrap());
                // The child was freed while reachable: loading it is caught.
                let msg = panic_message(|| {
                    parent.get(0);
                });
                assert!(msg.contains("use of a freed object"), "{msg}");
                assert!(msg.contains("the object was freed"), "{msg}");
            });
            let (child, parent) = rx.recv().unwrap();
            let lost = cycle_losing(&heap, child);
            assert_eq!(lost, 1);
            let reports = heap.stats().lost_reports;
            assert_eq!(reports.len(), 1);
            let want = format!("checkmark found unmarked object {child} (1 refs + 1 words) reached from reference slot 0 of object {parent}");
            assert!(reports[0].contains(&want), "{}", reports[0]);
            // The freed slot was poisoned.
            let span = heap.core.space.span(child.span()).unwrap();
            let base = span.slot_base(child.slot());
            assert_eq!(span.word(base).load(crate::sync::Ordering::Relaxed), POISON);
            done_tx.send(()).unwrap();
        });
        assert_eq!(heap.stats().lost_objects, 1);
    }

    #[test]
    fn storing_a_handle_whose_object_was_freed_panics() {
        let heap = heap();
        crate::sync::unmodelled::thread::scope(|s| {
            let (tx, rx) = crate::sync::unmodelled::mpsc::channel();
            let (done_tx, done_rx) = crate::sync::unmodelled::mpsc::channel::<()>();
            let h = heap.clone();
            s.spawn(move || {
                let m = h.mutator();
                let holder = m.alloc(&NODE);
                let parent = m.alloc(&NODE);
                let child = m.alloc(&NODE);
                parent.set(0, Some(&child));
                tx.send(child.reference()).unwrap();
                m.blocking(|| done_rx.recv().unwrap());
                // `child`'s handle outlived its object (as a missing barrier can cause).
                let msg = panic_message(|| holder.set(0, Some(&child)));
                assert!(msg.contains("storing a handle of a dead object"), "{msg}");
            });
            let child = rx.recv().unwrap();
            // The child is reachable from a handle and from `parent`: un-marking it makes
            // sweep free it although a handle still names it.
            assert_eq!(cycle_losing(&heap, child), 1);
            done_tx.send(()).unwrap();
        });
    }

    /// A graph wide enough for the re-trace to split across the phase threads (600
    /// chains of three under one object): the one object un-marked deep in it is found,
    /// with its edge, and nothing else is reported.
    #[test]
    fn a_split_re_trace_finds_a_deep_unmarked_object() {
        static WIDE: Shape = Shape::new("wide", 600, 0);
        const { assert!(600 > crate::phases::SPLIT_AT) };
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            verify: true,
            parallel_phases: true,
            ..HeapConfig::default()
        })
        .unwrap();
        crate::sync::unmodelled::thread::scope(|s| {
            let (tx, rx) = crate::sync::unmodelled::mpsc::channel();
            let (done_tx, done_rx) = crate::sync::unmodelled::mpsc::channel::<()>();
            let h = heap.clone();
            s.spawn(move || {
                let m = h.mutator();
                // Past the 1 MiB under which a phase runs on one thread.
                for _ in 0..(1 << 20) / 16 {
                    m.alloc(&NODE);
                }
                let wide = m.alloc(&WIDE);
                let mut victim = None;
                for i in 0..600 {
                    let a = m.alloc(&NODE);
                    let b = m.alloc(&NODE);
                    let c = m.alloc(&NODE);
                    a.set(0, Some(&b));
                    b.set(0, Some(&c));
                    wide.set(i, Some(&a));
                    if i == 450 {
                        victim = Some((c.reference(), b.reference()));
                    }
                }
                tx.send(victim.unwrap()).unwrap();
                m.blocking(|| done_rx.recv().unwrap());
            });
            let (victim, parent) = rx.recv().unwrap();
            let threads = heap.core.phase_threads().threads();
            assert!(threads > 1 || crate::default_gomaxprocs() == 1, "{threads}");
            assert_eq!(cycle_losing(&heap, victim), 1);
            let reports = heap.stats().lost_reports;
            assert_eq!(reports.len(), 1, "{reports:?}");
            let want = format!("unmarked object {victim} (1 refs + 1 words) reached from reference slot 0 of object {parent}");
            assert!(reports[0].contains(&want), "{}", reports[0]);
            done_tx.send(()).unwrap();
        });
    }

    /// Verification re-traces from every root the mark has, specials included: with
    /// nothing marked, an object reachable only through a finalizer's object is reported.
    #[test]
    fn verification_traces_from_the_specials_too() {
        let heap = Heap::new(HeapConfig {
            gogc: Gogc::Off,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        let f = m.alloc(&NODE);
        let z = m.alloc(&NODE);
        f.set(0, Some(&z));
        m.set_finalizer(&f, |_| {});
        drop((f, z));
        let lost = m.blocking(|| {
            let core = &heap.core;
            let stopped = core.world.stop(&core.flags, false);
            let lost = super::checkmark(core, &stopped, 1);
            core.world.start(stopped);
            lost
        });
        assert_eq!(lost, 1, "{:?}", heap.stats().lost_reports);
        let report = &heap.stats().lost_reports[0];
        assert!(
            report.contains("reached from a special or a queued callback"),
            "{report}"
        );
    }
}
