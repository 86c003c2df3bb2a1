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
//! Two modes (`LeakCheck`): the testbed's report mode, whose format is below (one line
//! each, at most [`crate::telemetry::MAX_LEAK_REPORTS`] kept, all counted), and Go's mode,
//! Go's words (S62) with the testbed's path after each finding, then Go's fatal error
//! ([`report_go_and_exit`]).
//!
//! Report-mode format:
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
use crate::phases::PhaseThreads;
use crate::telemetry::{fatal, stderr_line, MAX_LEAK_REPORTS};
use std::collections::{HashMap, VecDeque};

/// What the checker found about one special.
#[derive(Clone, Debug)]
pub(crate) enum Issue {
    /// The special's own roots reach its object, by this path.
    Reachable(String),
    /// The object shares a tiny block with others (S51).
    TinyBlock,
}

/// One finding: a special of `kind` ("finalizer" or "cleanup") on `obj`.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    cycle: u64,
    kind: &'static str,
    obj: Ref,
    /// The object's reference slots and words, when it is allocated.
    shape: Option<(u32, u32)>,
    issue: Issue,
}

impl Finding {
    /// The testbed's one-line report (the module documentation's format).
    pub(crate) fn line(&self) -> String {
        let (cycle, kind, obj) = (self.cycle, self.kind, self.obj);
        match &self.issue {
            Issue::Reachable(path) => format!(
                "leak check: cycle {cycle}: {kind} on {obj} is reachable from its {kind}: {path}"
            ),
            Issue::TinyBlock => format!(
                "leak check: cycle {cycle}: {kind} on {obj} is in a tiny block with other (possibly long-lived) values"
            ),
        }
    }

    /// Go's lines for the finding (`checkfinalizers`, S62), the testbed's path after them.
    pub(crate) fn go_lines(&self) -> Vec<String> {
        let what = match self.shape {
            Some((refs, words)) => format!("object ({refs} refs + {} words)", words - refs),
            None => "object".to_string(),
        };
        let mut lines = vec![format!("Value of type {what} at {}", self.obj)];
        match (&self.issue, self.kind) {
            (Issue::Reachable(path), "finalizer") => {
                lines.push("  is reachable from finalizer".to_string());
                lines.push(format!("  path: {path}"));
            }
            (Issue::Reachable(path), _) => {
                lines.push("  is reachable from cleanup or cleanup argument".to_string());
                lines.push(format!("  path: {path}"));
            }
            (Issue::TinyBlock, _) => lines
                .push("  is in a tiny block with other (possibly long-lived) values".to_string()),
        }
        lines.push(String::new());
        lines.push(format!("Has {} at {}", self.kind, self.obj));
        lines.push(String::new());
        lines
    }
}

/// One special's trace roots: the first step of each path, labelled.
struct Start {
    label: String,
    r: Ref,
}

/// One special to check: its kind, object, shape, whether it is in a tiny block, and its
/// trace's roots.
struct Job {
    kind: &'static str,
    obj: Ref,
    target: (usize, usize),
    shape: Option<(u32, u32)>,
    tiny: bool,
    starts: Vec<Start>,
}

/// The trace roots of a finalizer on the object at `slot` of `span`: the object's
/// references (self-pointers excepted) and the finalizer's box.
fn finalizer_starts(span: &crate::heap::span::Span, slot: usize, env: Option<Ref>) -> Vec<Start> {
    let mut starts = Vec::new();
    if let Some(meta) = span.meta(slot) {
        if !span.noscan() {
            let base = span.slot_base(slot);
            for j in 0..meta.ptr_slots as usize {
                if let Some(r) = Ref::from_word(load_racy(span.word(base + j))) {
                    if r.span() != span.index || r.slot() != slot {
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
    starts
}

/// Every finalizer and cleanup of `space`, in span and list order.
fn jobs(space: &Space) -> Vec<Job> {
    let mut jobs = Vec::new();
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if !matches!(span.kind(), SpanKind::Small | SpanKind::Large) || !span.specials.any() {
            continue;
        }
        span.specials.with(|list| {
            for s in list.iter() {
                let slot = s.slot as usize;
                let (kind, starts) = match &s.payload {
                    Payload::Finalizer { env, .. } => {
                        ("finalizer", finalizer_starts(span, slot, *env))
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
                let meta = span.meta(slot);
                jobs.push(Job {
                    kind,
                    obj: s.obj,
                    target: (span.index, slot),
                    shape: meta.map(|m| (m.ptr_slots, m.words)),
                    tiny: meta.is_some_and(|m| m.tiny),
                    starts,
                });
            }
        });
    }
    jobs
}

/// Runs the check over every special of `space` (the world is stopped, after the mark,
/// before the sweep) and returns the reports and the queue line. The specials are listed
/// on this thread; their traces, each independent, run on `phase`'s threads, and the
/// reports keep the specials' order.
pub(crate) fn check(space: &Space, cycle: u64, phase: &PhaseThreads) -> (Vec<Finding>, String) {
    let jobs = jobs(space);
    let paths = phase.map(&jobs, |j| path_to(space, &j.starts, j.target));
    let mut reports = Vec::new();
    for (j, path) in jobs.iter().zip(paths) {
        let finding = |issue| Finding {
            cycle,
            kind: j.kind,
            obj: j.obj,
            shape: j.shape,
            issue,
        };
        if let Some(path) = path {
            reports.push(finding(Issue::Reachable(path)));
        }
        if j.tiny {
            reports.push(finding(Issue::TinyBlock));
        }
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

/// Go's mode (`LeakCheck::Go`), for a cycle that found something: Go's report on stderr
/// (at most [`MAX_LEAK_REPORTS`] findings, then Go's overflow line), the queue line, and
/// Go's fatal error, exit status 2.
pub(crate) fn report_go_and_exit(findings: &[Finding], queue: &str) -> ! {
    stderr_line(format_args!("WARNING: LIKELY CLEANUP/FINALIZER ISSUES"));
    stderr_line(format_args!(""));
    for f in findings.iter().take(MAX_LEAK_REPORTS) {
        for line in f.go_lines() {
            stderr_line(format_args!("{line}"));
        }
    }
    if findings.len() > MAX_LEAK_REPORTS {
        stderr_line(format_args!("... too many potential issues ..."));
    }
    stderr_line(format_args!("{queue}"));
    fatal("detected possible issues with cleanups and/or finalizers")
}
