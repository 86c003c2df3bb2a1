//! The leak checker (Go's `GODEBUG=checkfinalizers`, S60–S62, done better): at every
//! mark termination, for each finalizer and cleanup, a trace from that special's own
//! roots alone — a finalizer's object's referents (self-pointers excepted) and its
//! environment box, a cleanup's box — that reports the special if the trace reaches its
//! own object, through any chain of references (Go finds only direct captures), with the
//! path. A finalizer cycle (A ↔ B, both finalized) is reported for each member, as each
//! special reaches its own object through the other. A special on an object in a tiny
//! block is reported too: a neighbour in the block can keep it alive (S51). A stopped
//! cleanup is no longer a special, so it is never reported; a self-pointer is not a path.
//!
//! Report format, one line each (at most [`crate::telemetry::MAX_LEAK_REPORTS`] kept, all counted):
//!
//! ```text
//! leak check: cycle <n>: <finalizer|cleanup> on <object> is reachable from its <finalizer|cleanup>: <root> -> [slot <i>] <ref> -> … -> [slot <i>] <object> (the object)
//! leak check: cycle <n>: <finalizer|cleanup> on <object> is in a tiny block with other (possibly long-lived) values
//! ```
//!
//! where `<root>` is `object's slot <i> -> <ref>` (a finalizer's own reference slot) or
//! `box <ref>`, and each step names the slot it was read from. Every cycle also reports the
//! queues: `checkfinalizers: queue: <n> finalizers + <m> cleanups` (Go's line: queued
//! minus executed, so callbacks running count too), kept as the last queue line.
//!
//! Invariant: read-only. It runs with the world stopped, after the mark and before the
//! sweep, and changes nothing — no mark, checkmark or allocation bit, no heap word, no
//! special (its visited set is its own) — so it cannot change what the sweep frees; while it
//! holds a span's specials lock it takes no other lock.

use crate::heap::span::SpanKind;
use crate::heap::specials::Payload;
use crate::heap::Space;
use crate::mark::load_racy;
use crate::object::Ref;
use std::collections::{HashMap, VecDeque};

/// One special's trace roots: the first step of each path, labelled.
struct Start {
    label: String,
    r: Ref,
}

/// Runs the check over every special of `space` (the world is stopped, after the mark,
/// before the sweep) and returns the reports and the queue line.
pub(crate) fn check(space: &Space, cycle: u64) -> (Vec<String>, String) {
    let mut reports = Vec::new();
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if !matches!(span.kind(), SpanKind::Small | SpanKind::Large) || !span.specials.any() {
            continue;
        }
        span.specials.with(|list| {
            for s in list.iter() {
                let (kind, starts) = match &s.payload {
                    Payload::Finalizer { env, .. } => {
                        let mut starts = Vec::new();
                        if let Some(meta) = span.meta(s.slot as usize) {
                            if !span.noscan() {
                                let base = span.slot_base(s.slot as usize);
                                for j in 0..meta.ptr_slots as usize {
                                    if let Some(r) = Ref::from_word(load_racy(span.word(base + j))) {
                                        if r.span() != span.index || r.slot() != s.slot as usize {
                                            starts.push(Start {
                                                label: format!("object's slot {j} -> {r}"),
                                                r,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                        starts.extend(env.map(|r| Start {
                            label: format!("box {r}"),
                            r,
                        }));
                        ("finalizer", starts)
                    }
                    Payload::Cleanup { env, .. } => (
                        "cleanup",
                        env.map(|r| Start {
                            label: format!("box {r}"),
                            r,
                        })
                        .into_iter()
                        .collect(),
                    ),
                    Payload::Weak(_) => continue,
                };
                let target = (span.index, s.slot as usize);
                if let Some(path) = path_to(space, &starts, target) {
                    reports.push(format!(
                        "leak check: cycle {cycle}: {kind} on {} is reachable from its {kind}: {path}",
                        s.obj
                    ));
                }
                if span.meta(s.slot as usize).is_some_and(|m| m.tiny) {
                    reports.push(format!(
                        "leak check: cycle {cycle}: {kind} on {} is in a tiny block with other (possibly long-lived) values",
                        s.obj
                    ));
                }
            }
        });
    }
    let pending = |c: &crate::callbacks::queue::CallbackCounters| {
        let queued = c.queued.load(crate::sync::unmodelled::Ordering::Relaxed);
        queued.saturating_sub(c.executed.load(crate::sync::unmodelled::Ordering::Relaxed))
    };
    let queue = format!(
        "checkfinalizers: queue: {} finalizers + {} cleanups",
        pending(&space.queues.finalizers.counters),
        pending(&space.queues.cleanups.counters)
    );
    (reports, queue)
}

/// A breadth-first trace from `starts`: the shortest path to the object `target` (span,
/// slot), written out, or `None` if it is not reachable.
fn path_to(space: &Space, starts: &[Start], target: (usize, usize)) -> Option<String> {
    // Each visited object remembers how it was reached: (parent, slot) or its start.
    enum From {
        Start(usize),
        Parent((usize, usize), usize),
    }
    let mut seen: HashMap<(usize, usize), From> = HashMap::new();
    let mut queue = VecDeque::new();
    for (i, s) in starts.iter().enumerate() {
        let key = (s.r.span(), s.r.slot());
        if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(key) {
            e.insert(From::Start(i));
            queue.push_back(key);
        }
    }
    while let Some(key) = queue.pop_front() {
        if key == target {
            let mut steps = Vec::new();
            let mut cur = key;
            loop {
                match seen[&cur] {
                    From::Start(i) => {
                        steps.push(starts[i].label.clone());
                        break;
                    }
                    From::Parent(p, slot) => {
                        steps.push(format!("[slot {slot}] {}", Ref::new(cur.0, cur.1, 0)));
                        cur = p;
                    }
                }
            }
            steps.reverse();
            return Some(format!("{} (the object)", steps.join(" -> ")));
        }
        let Some(span) = space.span(key.0) else {
            continue;
        };
        if !matches!(span.kind(), SpanKind::Small | SpanKind::Large)
            || span.noscan()
            || key.1 >= span.nslots()
            || !span.is_allocated(key.1)
        {
            continue;
        }
        let Some(meta) = span.meta(key.1) else {
            continue;
        };
        let base = span.slot_base(key.1);
        for j in 0..meta.ptr_slots as usize {
            if let Some(r) = Ref::from_word(load_racy(span.word(base + j))) {
                let child = (r.span(), r.slot());
                if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(child) {
                    e.insert(From::Parent(key, j));
                    queue.push_back(child);
                }
            }
        }
    }
    None
}
