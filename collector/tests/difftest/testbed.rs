//! Runs a sequential random program on the testbed and records its trace
//! ([`super::trace`]): the same operations the Go interpreter runs, on a heap with
//! automatic collection off (`Gogc::Off`, so the program's `runtime.GC()` operations are
//! the only cycles), every collection followed by both drains, and a probe cleanup on
//! every object to observe when it is freed.

use super::trace::Cycle;
use crate::random::program::{Op, Program, GLOBALS, REGS, SLOTS, TOKENS, WEAKS};
use collector::{
    keep_alive, Barrier, BarrierKind, CallbackPanic, Cleanup, Dijkstra, Global, Gogc, Handle, Heap,
    HeapConfig, Hybrid, Mutator, PlantedBug, Shape, WeakHandle, Yuasa,
};
use std::sync::{Arc, Mutex};

/// Program objects: three reference slots and the object's number.
static NODE: Shape = Shape::new("node", SLOTS as u32, 1);
/// The global slots.
static GLOBAL: Shape = Shape::new("globals", GLOBALS as u32, 0);

/// The most collections run after a program ends before giving up on a fixed point
/// (the Go interpreter's bound too).
pub const FINAL_ROUNDS: usize = 64;

/// What the callbacks record during one collection.
#[derive(Default)]
struct Events {
    fin: Vec<u32>,
    cleanup: Vec<u32>,
    freed: Vec<u32>,
}

/// The program's state on the testbed.
struct State<'m, B: Barrier> {
    m: &'m Mutator<B>,
    global: Handle<'m, B>,
    regs: Vec<Option<Handle<'m, B>>>,
    /// Weak registers: indices into `made`.
    weaks: Vec<Option<usize>>,
    tokens: Vec<Option<Cleanup>>,
    made: Vec<WeakHandle>,
    was_nil: Vec<bool>,
    /// Per object: it has a finalizer set (the operation's "unless it has one").
    has_fin: Vec<bool>,
    next_cleanup: u32,
    events: Arc<Mutex<Events>>,
    cycles: Vec<Cycle>,
}

/// Runs `program` (its main thread only) on the testbed, with `bug` planted if given.
pub fn run_on_testbed(program: &Program, bug: Option<PlantedBug>) -> Result<Vec<Cycle>, String> {
    match program.config.barrier {
        BarrierKind::Hybrid => run_with::<Hybrid>(program, bug),
        BarrierKind::GoHybrid => run_with::<collector::GoHybrid>(program, bug),
        BarrierKind::Dijkstra => run_with::<Dijkstra>(program, bug),
        BarrierKind::Yuasa => run_with::<Yuasa>(program, bug),
        BarrierKind::None => run_with::<collector::NoBarrier>(program, bug),
    }
}

fn run_with<B: Barrier>(program: &Program, bug: Option<PlantedBug>) -> Result<Vec<Cycle>, String> {
    crate::common::on_heap::<B, _>(
        HeapConfig {
            gogc: Gogc::Off,
            verify: true,
            concurrent: program.config.concurrent,
            cleanup_workers: Some(program.config.cleanup_workers),
            callback_panic: CallbackPanic::Report,
            planted_bug: bug,
            ..HeapConfig::default()
        },
        |heap| drive(heap, program),
    )
}

fn drive<B: Barrier>(heap: &Heap<B>, program: &Program) -> Result<Vec<Cycle>, String> {
    let m = heap.mutator();
    let global: Global = m.alloc_global(&GLOBAL);
    let mut s = State {
        m: &m,
        global: m.global(&global),
        regs: vec![None; REGS as usize],
        weaks: vec![None; WEAKS as usize],
        tokens: (0..TOKENS).map(|_| None).collect(),
        made: Vec::new(),
        was_nil: Vec::new(),
        has_fin: Vec::new(),
        next_cleanup: 0,
        events: Arc::default(),
        cycles: Vec::new(),
    };
    for &op in &program.threads[0] {
        s.apply(op)?;
    }
    s.regs.iter_mut().for_each(|r| *r = None);
    for _ in 0..FINAL_ROUNDS {
        if !s.collect(true)? {
            break;
        }
    }
    let stats = heap.stats();
    if stats.lost_objects != 0 || stats.finalizers.panicked + stats.cleanups.panicked != 0 {
        return Err(format!(
            "lost objects {:?}, callback panics {} + {}",
            stats.lost_reports, stats.finalizers.panicked, stats.cleanups.panicked
        ));
    }
    Ok(s.cycles)
}

impl<'m, B: Barrier> State<'m, B> {
    /// The object number of register `r`'s object, if it holds one.
    fn id(&self, r: u8) -> Option<u32> {
        self.regs[r as usize].as_ref().map(|h| h.read(0) as u32)
    }

    /// One collection and both drains; records its line. Returns whether anything
    /// happened.
    fn collect(&mut self, after_end: bool) -> Result<bool, String> {
        self.m.gc();
        self.m.drain_finalizers();
        self.m.drain_cleanups();
        let mut weak_nil = Vec::new();
        for (i, w) in self.made.iter().enumerate() {
            if !self.was_nil[i] && w.is_gone() {
                self.was_nil[i] = true;
                weak_nil.push(i as u32);
            }
        }
        let e = std::mem::take(&mut *self.events.lock().map_err(|_| "events poisoned")?);
        let cycle = Cycle {
            after_end,
            fin: e.fin,
            cleanup: e.cleanup,
            freed: e.freed,
            weak_nil,
        }
        .normalise();
        let busy = cycle.busy();
        self.cycles.push(cycle);
        Ok(busy)
    }

    fn record(events: &Arc<Mutex<Events>>, f: impl FnOnce(&mut Events)) {
        if let Ok(mut e) = events.lock() {
            f(&mut e);
        }
    }

    fn apply(&mut self, op: Op) -> Result<(), String> {
        let m = self.m;
        match op {
            Op::Alloc { dst } => {
                let h = m.alloc(&NODE);
                let id = self.has_fin.len() as u32;
                h.write(0, id as u64);
                self.has_fin.push(false);
                let ev = self.events.clone();
                drop(m.add_cleanup(&h, id, move |id| Self::record(&ev, |e| e.freed.push(id))));
                self.regs[dst as usize] = Some(h);
            }
            Op::Store { obj, slot, val } => {
                if let Some(h) = &self.regs[obj as usize] {
                    h.set(
                        slot as usize,
                        val.and_then(|v| self.regs[v as usize].as_ref()),
                    );
                }
            }
            Op::Load { dst, obj, slot } => {
                if let Some(h) = &self.regs[obj as usize] {
                    self.regs[dst as usize] = h.get(slot as usize);
                }
            }
            Op::Copy { dst, src } => self.regs[dst as usize] = self.regs[src as usize].clone(),
            Op::Drop { reg } => self.regs[reg as usize] = None,
            Op::KeepAlive { reg } => {
                if let Some(h) = &self.regs[reg as usize] {
                    keep_alive(h.clone());
                }
            }
            Op::StoreGlobal { g, src } => {
                let v = src.and_then(|v| self.regs[v as usize].as_ref());
                self.global.set(g as usize, v);
            }
            Op::LoadGlobal { dst, g } => self.regs[dst as usize] = self.global.get(g as usize),
            Op::Gc => {
                self.collect(false)?;
            }
            Op::Churn { .. }
            | Op::Drain
            | Op::Scope { .. }
            | Op::Spawn { .. }
            | Op::Join { .. } => return Err(format!("`{op}` is not in the sequential subset")),
            _ => self.apply_special(op),
        }
        Ok(())
    }

    /// Finalizers, cleanups and weak handles.
    fn apply_special(&mut self, op: Op) {
        let m = self.m;
        match op {
            Op::SetFinalizer { reg } => {
                if let (Some(h), Some(id)) = (&self.regs[reg as usize], self.id(reg)) {
                    if !std::mem::replace(&mut self.has_fin[id as usize], true) {
                        let ev = self.events.clone();
                        m.set_finalizer(h, move |obj: Handle<'_, B>| {
                            let id = obj.read(0) as u32;
                            Self::record(&ev, |e| e.fin.push(id))
                        });
                    }
                }
            }
            Op::ClearFinalizer { reg } => {
                if let (Some(h), Some(id)) = (&self.regs[reg as usize], self.id(reg)) {
                    if std::mem::replace(&mut self.has_fin[id as usize], false) {
                        m.clear_finalizer(h);
                    }
                }
            }
            Op::AddCleanup { reg, token } => {
                if let Some(h) = &self.regs[reg as usize] {
                    let ev = self.events.clone();
                    let c = m.add_cleanup(h, self.next_cleanup, move |id| {
                        Self::record(&ev, |e| e.cleanup.push(id))
                    });
                    self.next_cleanup += 1;
                    self.tokens[token as usize] = Some(c);
                }
            }
            Op::Stop { token } => {
                if let Some(c) = &self.tokens[token as usize] {
                    c.stop();
                }
            }
            Op::Weak { reg, weak } => {
                if let Some(h) = &self.regs[reg as usize] {
                    self.made.push(m.weak(h));
                    self.was_nil.push(false);
                    self.weaks[weak as usize] = Some(self.made.len() - 1);
                }
            }
            Op::Upgrade { dst, weak } => {
                if let Some(i) = self.weaks[weak as usize] {
                    self.regs[dst as usize] = self.made[i].upgrade(m);
                }
            }
            _ => unreachable!("apply handles {op}"),
        }
    }
}
