//! The sequential reachability oracle. Every program operation runs under one lock and
//! takes the next global sequence number there, so the operations form one sequence
//! (the collector, the sweeper, the finalizer thread and the cleanup workers run
//! alongside, unsynchronised). The oracle replays each operation's effect on a shadow
//! of the program's object graph in that order, and remembers, for every object, the
//! last operation after which a thread or the global could still reach it.
//!
//! Callbacks record the sequence counter when they start (`at`): every operation
//! numbered below `at` had started by then. A callback for an object that was still
//! reachable after operation `at − 1`, or later, ran too early.

use crate::random::program::{GLOBALS, REGS, SLOTS};

/// An object id (its index in [`Oracle::objects`]).
pub type ObjId = u32;

/// What the oracle knows of one object.
#[derive(Clone, Debug, Default)]
pub struct ShadowObject {
    /// Its reference slots.
    pub slots: [Option<ObjId>; SLOTS as usize],
    /// Its finalizer registration, if one is set.
    pub finalizer: Option<usize>,
    /// The last operation after which a root reached it.
    pub last_reachable: u64,
}

/// One finalizer registration.
#[derive(Clone, Debug)]
pub struct FinalizerReg {
    /// Its object.
    pub obj: ObjId,
    /// Cleared (with the object reachable) before it could run.
    pub cleared: bool,
}

/// One cleanup registration.
#[derive(Clone, Debug)]
pub struct CleanupReg {
    /// Its object.
    pub obj: ObjId,
    /// `stop` was called on it.
    pub stopped: bool,
    /// `stop` was called while its object was reachable: it must never run.
    pub stopped_while_reachable: bool,
}

/// The shadow state, guarded by the program's operation lock.
#[derive(Debug)]
pub struct Oracle {
    /// Every object the program allocated.
    pub objects: Vec<ShadowObject>,
    /// Each thread's registers.
    pub regs: Vec<[Option<ObjId>; REGS as usize]>,
    /// The global's slots.
    pub globals: [Option<ObjId>; GLOBALS as usize],
    /// Finalizer registrations, by registration number.
    pub finalizers: Vec<FinalizerReg>,
    /// Cleanup registrations, by registration number.
    pub cleanups: Vec<CleanupReg>,
    /// Objects a weak handle has read as gone, with the operation that read it.
    pub weak_gone: Vec<Option<u64>>,
    /// Weak handles made, with their objects (for the final check).
    pub weak_objects: Vec<ObjId>,
    /// Violations found while the program ran.
    pub violations: Vec<String>,
}

impl Oracle {
    /// An empty shadow for `threads` threads.
    pub fn new(threads: usize) -> Oracle {
        Oracle {
            objects: Vec::new(),
            regs: vec![[None; REGS as usize]; threads],
            globals: [None; GLOBALS as usize],
            finalizers: Vec::new(),
            cleanups: Vec::new(),
            weak_gone: Vec::new(),
            weak_objects: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// A new object; returns its id.
    pub fn new_object(&mut self) -> ObjId {
        self.objects.push(ShadowObject::default());
        self.weak_gone.push(None);
        (self.objects.len() - 1) as ObjId
    }

    /// The objects a thread or the global reaches now.
    pub fn reachable(&self) -> Vec<bool> {
        let roots = self.regs.iter().flatten().chain(self.globals.iter());
        self.reach_from(roots.filter_map(|r| *r))
    }

    /// The objects reachable from `roots` in the shadow graph.
    pub fn reach_from(&self, roots: impl Iterator<Item = ObjId>) -> Vec<bool> {
        let mut seen = vec![false; self.objects.len()];
        let mut stack: Vec<ObjId> = roots.collect();
        while let Some(o) = stack.pop() {
            if std::mem::replace(&mut seen[o as usize], true) {
                continue;
            }
            stack.extend(self.objects[o as usize].slots.iter().flatten());
        }
        seen
    }

    /// Records that operation `seq` is complete: every object reachable now was
    /// reachable after it.
    pub fn after_op(&mut self, seq: u64) {
        for (o, reached) in self.reachable().into_iter().enumerate() {
            if reached {
                self.objects[o].last_reachable = seq;
            }
        }
    }

    /// Whether `obj` was reachable after operation `seq` or any later one.
    pub fn reachable_at_or_after(&self, obj: ObjId, seq: u64) -> bool {
        // Every object is reachable right after its allocation, so `last_reachable`
        // is always set by a real operation.
        self.objects[obj as usize].last_reachable >= seq
    }

    /// A weak handle to `obj` read as gone at operation `seq` (before it took effect).
    pub fn weak_read_gone(&mut self, obj: ObjId, seq: u64) {
        if self.reachable()[obj as usize] {
            self.violations.push(format!(
                "op {seq}: a weak handle read as gone while object #{obj} was reachable"
            ));
        }
        self.weak_gone[obj as usize].get_or_insert(seq);
    }

    /// A weak handle to `obj` gave it back at operation `seq`.
    pub fn weak_read_live(&mut self, obj: ObjId, seq: u64) {
        if let Some(gone) = self.weak_gone[obj as usize] {
            self.violations.push(format!(
                "op {seq}: a weak handle to object #{obj} gave it back after reading as gone at op {gone}"
            ));
        }
    }

    /// The eventual fate of every object once all threads have gone and collection has
    /// run to a fixed point, computed from the final graph by Go's rules: an object
    /// with a finalizer is found dead when neither the global nor the fields of another
    /// (or its own, except a direct self-pointer) finalizable object reaches it; its
    /// finalizer runs, and the object and what it reaches survive that cycle; anything
    /// else unreached is freed. Returns the objects that stay (`kept`), the
    /// finalizer registrations that run, and the rounds needed.
    pub fn eventual_fate(&self) -> Fate {
        let n = self.objects.len();
        let mut pending: Vec<Option<usize>> = self.objects.iter().map(|o| o.finalizer).collect();
        let mut freed = vec![false; n];
        let mut finalized = Vec::new();
        let mut rounds = 0;
        loop {
            rounds += 1;
            let from_finalizers = (0..n)
                .filter(|&o| pending[o].is_some() && !freed[o])
                .flat_map(|o| {
                    self.objects[o]
                        .slots
                        .iter()
                        .flatten()
                        .copied()
                        .filter(move |&t| t as usize != o)
                });
            let roots: Vec<ObjId> = self
                .globals
                .iter()
                .flatten()
                .copied()
                .chain(from_finalizers)
                .collect();
            let marked = self.reach_from(roots.into_iter());
            let queued: Vec<usize> = (0..n)
                .filter(|&o| !freed[o] && !marked[o] && pending[o].is_some())
                .collect();
            let resurrected = self.reach_from(queued.iter().map(|&o| o as ObjId));
            let mut changed = !queued.is_empty();
            for &o in &queued {
                finalized.push(pending[o].take().expect("queued with a finalizer"));
            }
            for o in 0..n {
                if !freed[o] && !marked[o] && !resurrected[o] {
                    freed[o] = true;
                    changed = true;
                }
            }
            if !changed {
                return Fate {
                    kept: freed.iter().map(|f| !f).collect(),
                    finalized,
                    rounds,
                };
            }
        }
    }
}

/// What [`Oracle::eventual_fate`] computes.
#[derive(Debug)]
pub struct Fate {
    /// Per object: never freed.
    pub kept: Vec<bool>,
    /// Finalizer registrations that run.
    pub finalized: Vec<usize>,
    /// Collection rounds the model needed.
    pub rounds: usize,
}
