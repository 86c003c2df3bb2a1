//! Runs a random program on a real heap (verification on, callback panics reported
//! rather than fatal) and checks it against the oracle: while it runs, each load and
//! weak read against the shadow; afterwards, every callback's timing and count, the
//! callback counters, lost objects, and, after collecting to a fixed point, that what
//! Go's rules say must die did (and nothing else).

use crate::random::oracle::{ObjId, Oracle};
use crate::random::program::{Op, Program, SLOTS};
use collector::{
    keep_alive, Barrier, BarrierKind, CallbackPanic, Cleanup, Dijkstra, Global, Gogc, Handle, Heap,
    HeapConfig, Hybrid, Mutator, Shape, WeakHandle, Yuasa,
};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Program objects: three reference slots, an id and a check word (id XOR [`MAGIC`]).
static NODE: Shape = Shape::new("node", SLOTS as u32, 2);
/// Garbage for [`Op::Churn`].
static BLOB: Shape = Shape::new("blob", 0, 30);
/// The one global object.
static GLOBAL: Shape = Shape::new("globals", crate::random::program::GLOBALS as u32, 0);
const MAGIC: u64 = 0x00DD_BA11_5EED;

/// What a callback recorded when it ran.
#[derive(Debug)]
enum Event {
    Finalizer {
        reg: usize,
        obj: u64,
        intact: bool,
        seen: [Option<u64>; SLOTS as usize],
        at: u64,
        /// The callback clock when it returned.
        ended: u64,
    },
    Cleanup {
        reg: usize,
        at: u64,
        /// The callback clock when it started.
        started: u64,
    },
}

/// State every thread of a case shares.
struct Shared {
    program: Program,
    seq: AtomicU64,
    /// The callback clock: callbacks tick it, to order themselves (S48).
    ticks: AtomicU64,
    oracle: Mutex<Oracle>,
    events: Mutex<Vec<Event>>,
    weak_handles: Mutex<Vec<WeakHandle>>,
    global: Global,
}

/// What one run exercised (summed over cases, it shows the test reaches what it checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct Exercised {
    /// Collection cycles.
    pub cycles: u64,
    /// Barrier slow paths taken (stores while marking).
    pub barrier_slow_paths: u64,
    /// Finalizers run.
    pub finalizers: u64,
    /// Cleanups run.
    pub cleanups: u64,
    /// Cleanups stopped.
    pub stopped: u64,
    /// Weak reads that found the object gone.
    pub weak_gone: u64,
}

impl std::ops::AddAssign for Exercised {
    fn add_assign(&mut self, o: Exercised) {
        self.cycles += o.cycles;
        self.barrier_slow_paths += o.barrier_slow_paths;
        self.finalizers += o.finalizers;
        self.cleanups += o.cleanups;
        self.stopped += o.stopped;
        self.weak_gone += o.weak_gone;
    }
}

/// Runs `program` once; `Err` says what went wrong.
pub fn run_case(program: &Program) -> Result<Exercised, String> {
    match program.config.barrier {
        BarrierKind::Hybrid => run_with::<Hybrid>(program),
        BarrierKind::GoHybrid => run_with::<collector::GoHybrid>(program),
        BarrierKind::Dijkstra => run_with::<Dijkstra>(program),
        BarrierKind::Yuasa => run_with::<Yuasa>(program),
        BarrierKind::None => run_with::<collector::NoBarrier>(program),
    }
}

fn run_with<B: Barrier>(program: &Program) -> Result<Exercised, String> {
    crate::common::on_heap::<B, _>(
        HeapConfig {
            gogc: Gogc::Percent(100),
            min_heap_bytes: 64 << 10,
            verify: true,
            concurrent: program.config.concurrent,
            cleanup_workers: Some(program.config.cleanup_workers),
            callback_panic: CallbackPanic::Report,
            ..HeapConfig::default()
        },
        |heap| drive(heap, program),
    )
}

/// The main thread: runs thread 0, then collects to a fixed point and checks.
fn drive<B: Barrier>(heap: &Heap<B>, program: &Program) -> Result<Exercised, String> {
    let m = heap.mutator();
    let shared = Arc::new(Shared {
        program: program.clone(),
        seq: AtomicU64::new(0),
        ticks: AtomicU64::new(0),
        oracle: Mutex::new(Oracle::new(program.threads.len())),
        events: Mutex::new(Vec::new()),
        weak_handles: Mutex::new(Vec::new()),
        global: m.alloc_global(&GLOBAL),
    });
    run_thread(heap, &m, &shared, 0)?;
    let fate = shared
        .oracle
        .lock()
        .map_err(|_| "oracle poisoned")?
        .eventual_fate();
    for _ in 0..fate.rounds + 2 {
        m.gc();
        m.drain_finalizers();
        m.drain_cleanups();
    }
    let oracle = shared.oracle.lock().map_err(|_| "oracle poisoned")?;
    let events = shared.events.lock().map_err(|_| "events poisoned")?;
    let weak_handles = shared
        .weak_handles
        .lock()
        .map_err(|_| "weak list poisoned")?;
    let mut problems = oracle.violations.clone();
    check_events(&oracle, &events, &fate, &mut problems);
    for (i, &obj) in oracle.weak_objects.iter().enumerate() {
        let gone = weak_handles[i].is_gone();
        if gone == fate.kept[obj as usize] {
            problems.push(format!(
                "at the end, weak handle {i} to #{obj} reads {} though the object was {}",
                if gone { "gone" } else { "live" },
                if fate.kept[obj as usize] {
                    "kept"
                } else {
                    "freed"
                }
            ));
        }
    }
    let stats = heap.stats();
    if stats.lost_objects != 0 {
        problems.push(format!("lost objects: {:?}", stats.lost_reports));
    }
    for (what, s) in [
        ("finalizers", stats.finalizers),
        ("cleanups", stats.cleanups),
    ] {
        if s.queued != s.executed || s.panicked != 0 {
            problems.push(format!("after the drain, {what}: {s:?}"));
        }
    }
    if problems.is_empty() {
        Ok(Exercised {
            cycles: stats.gc_cycles,
            barrier_slow_paths: stats.barrier_slow_paths,
            finalizers: stats.finalizers.executed,
            cleanups: stats.cleanups.executed,
            stopped: stats.cleanups.stopped,
            weak_gone: oracle.weak_gone.iter().flatten().count() as u64,
        })
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks each callback against the oracle, and the fixed point's fates.
fn check_events(
    oracle: &Oracle,
    events: &[Event],
    fate: &crate::random::oracle::Fate,
    problems: &mut Vec<String>,
) {
    let mut finalizer_runs = vec![0u32; oracle.finalizers.len()];
    let mut cleanup_runs = vec![0u32; oracle.cleanups.len()];
    let too_early = |obj: ObjId, at: u64| at == 0 || oracle.reachable_at_or_after(obj, at - 1);
    // When each finalizer registration's callback returned.
    let mut finalizer_ended = vec![None; oracle.finalizers.len()];
    for e in events {
        if let Event::Finalizer { reg, ended, .. } = *e {
            finalizer_ended[reg] = Some(ended);
        }
    }
    for e in events {
        match *e {
            Event::Finalizer {
                reg,
                obj,
                intact,
                seen,
                at,
                ended: _,
            } => {
                finalizer_runs[reg] += 1;
                let r = &oracle.finalizers[reg];
                if obj != r.obj as u64 || !intact {
                    problems.push(format!(
                        "finalizer {reg} of #{} got object #{obj} (intact: {intact})",
                        r.obj
                    ));
                }
                if r.cleared {
                    problems.push(format!(
                        "finalizer {reg} of #{} ran though it was cleared",
                        r.obj
                    ));
                }
                if too_early(r.obj, at) {
                    problems.push(format!(
                        "finalizer {reg} ran at op {at}, but #{} was reachable after op {}",
                        r.obj, oracle.objects[r.obj as usize].last_reachable
                    ));
                }
                let want = oracle.objects[r.obj as usize]
                    .slots
                    .map(|s| s.map(u64::from));
                if seen != want {
                    problems.push(format!(
                        "finalizer {reg} saw #{}'s fields {seen:?}, the oracle says {want:?}",
                        r.obj
                    ));
                }
            }
            Event::Cleanup { reg, at, started } => {
                cleanup_runs[reg] += 1;
                let r = &oracle.cleanups[reg];
                // S48: an object with a finalizer is freed, and its cleanups queued, only
                // after its finalizer has run and it is found unreachable again.
                if let Some(f) = oracle.objects[r.obj as usize].finalizer {
                    if finalizer_ended[f].is_none_or(|ended| ended >= started) {
                        problems.push(format!(
                            "cleanup {reg} of #{} started before its finalizer {f} had returned",
                            r.obj
                        ));
                    }
                }
                if r.stopped_while_reachable {
                    problems.push(format!("cleanup {reg} of #{} ran though it was stopped while the object was reachable", r.obj));
                }
                if too_early(r.obj, at) {
                    problems.push(format!(
                        "cleanup {reg} ran at op {at}, but #{} was reachable after op {}",
                        r.obj, oracle.objects[r.obj as usize].last_reachable
                    ));
                }
            }
        }
    }
    for (reg, r) in oracle.finalizers.iter().enumerate() {
        let runs = finalizer_runs[reg];
        let should = fate.finalized.contains(&reg);
        if runs > 1 || (should && runs == 0) || (!should && !r.cleared && runs > 0) {
            problems.push(format!(
                "finalizer {reg} of #{} ran {runs} time(s); Go's rules say it {}",
                r.obj,
                if should { "runs once" } else { "never runs" }
            ));
        }
    }
    for (reg, r) in oracle.cleanups.iter().enumerate() {
        let runs = cleanup_runs[reg];
        let kept = fate.kept[r.obj as usize];
        if runs > 1 || (kept && runs > 0) || (!kept && !r.stopped && runs == 0) {
            problems.push(format!(
                "cleanup {reg} of #{} (stopped: {}) ran {runs} time(s) though its object was {}",
                r.obj,
                r.stopped,
                if kept { "kept" } else { "freed" }
            ));
        }
    }
}

/// A thread's registers.
struct Registers<'m, B: Barrier> {
    regs: Vec<Option<Handle<'m, B>>>,
    weaks: Vec<Option<(WeakHandle, ObjId)>>,
    tokens: Vec<Option<(Cleanup, usize)>>,
}

/// Runs thread `tid`'s operations on mutator `m`. Thread 0 also spawns and joins.
fn run_thread<B: Barrier>(
    heap: &Heap<B>,
    m: &Mutator<B>,
    shared: &Arc<Shared>,
    tid: usize,
) -> Result<(), String> {
    use crate::random::program::{REGS, TOKENS, WEAKS};
    let global = m.global(&shared.global);
    let mut r = Registers {
        regs: vec![None; REGS as usize],
        weaks: vec![None; WEAKS as usize],
        tokens: vec![None; TOKENS as usize],
    };
    let mut children: Vec<Option<JoinHandle<Result<(), String>>>> =
        (0..shared.program.threads.len()).map(|_| None).collect();
    let join = |h: JoinHandle<Result<(), String>>, child: usize| {
        m.blocking(|| h.join())
            .unwrap_or_else(|p| Err(format!("panicked: {}", crate::common::panic_message(&*p))))
            .map_err(|e| format!("thread{child}: {e}"))
    };
    let ops = run_ops(heap, m, &global, shared, &mut r, tid, &mut children, &join);
    // A thread that failed on the poisoned lock reports the failure of the thread that
    // poisoned it (a child joined here) when it can: that is the cause.
    let mut failure = ops.err();
    for (child, h) in children.iter_mut().enumerate() {
        if let Some(h) = h.take() {
            if let Err(e) = join(h, child) {
                if failure.as_deref().is_none_or(|f| f.contains(POISONED)) {
                    failure = Some(e);
                }
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // The thread's end: its registers go, as one operation.
    let mut oracle = m
        .blocking(|| shared.oracle.lock())
        .map_err(|_| POISONED.to_string())?;
    let seq = shared.seq.fetch_add(1, SeqCst);
    r.regs.iter_mut().for_each(|h| *h = None);
    oracle.regs[tid] = Default::default();
    oracle.after_op(seq);
    Ok(())
}

/// What a thread reports when another panicked holding the operation lock.
const POISONED: &str = "another thread failed holding the operation lock";

/// Thread `tid`'s operations, up to the first failure; thread 0 spawns and joins.
#[allow(clippy::too_many_arguments)]
fn run_ops<'m, B: Barrier>(
    heap: &Heap<B>,
    m: &'m Mutator<B>,
    global: &Handle<'m, B>,
    shared: &Arc<Shared>,
    r: &mut Registers<'m, B>,
    tid: usize,
    children: &mut [Option<JoinHandle<Result<(), String>>>],
    join: &dyn Fn(JoinHandle<Result<(), String>>, usize) -> Result<(), String>,
) -> Result<(), String> {
    for (i, &op) in shared.program.threads[tid].iter().enumerate() {
        match op {
            Op::Spawn { child } => {
                let child = child as usize;
                if tid == 0 && child < children.len() && children[child].is_none() {
                    let (heap, shared) = (heap.clone(), shared.clone());
                    children[child] = Some(std::thread::spawn(move || {
                        let m = heap.mutator();
                        run_thread(&heap, &m, &shared, child)
                    }));
                }
                continue;
            }
            Op::Join { child } => {
                if let Some(h) = children.get_mut(child as usize).and_then(Option::take) {
                    join(h, child as usize)?;
                }
                continue;
            }
            _ => {}
        }
        let mut oracle = m
            .blocking(|| shared.oracle.lock())
            .map_err(|_| POISONED.to_string())?;
        let seq = shared.seq.fetch_add(1, SeqCst);
        apply(m, global, shared, &mut oracle, r, tid, op)
            .map_err(|e| format!("thread{tid} op {i} `{op}` (seq {seq}): {e}"))?;
        oracle.after_op(seq);
    }
    Ok(())
}

/// A program object's id, checking its check word.
fn id_of<B: Barrier>(h: &Handle<'_, B>) -> Result<ObjId, String> {
    let (id, check) = (h.read(0), h.read(1));
    if check != id ^ MAGIC {
        return Err(format!("object #{id} is damaged (check word {check:#x})"));
    }
    Ok(id as ObjId)
}

/// Performs one operation and its effect on the oracle.
fn apply<'m, B: Barrier>(
    m: &'m Mutator<B>,
    global: &Handle<'m, B>,
    shared: &Arc<Shared>,
    oracle: &mut Oracle,
    r: &mut Registers<'m, B>,
    tid: usize,
    op: Op,
) -> Result<(), String> {
    let expect =
        |got: &Option<Handle<'m, B>>, want: Option<ObjId>, what: &str| -> Result<(), String> {
            let got = got.as_ref().map(id_of).transpose()?;
            if got != want {
                return Err(format!("{what} read {got:?}, the oracle says {want:?}"));
            }
            Ok(())
        };
    match op {
        Op::Alloc { dst } => {
            let h = m.alloc(&NODE);
            let id = oracle.new_object();
            h.write(0, id as u64);
            h.write(1, id as u64 ^ MAGIC);
            r.regs[dst as usize] = Some(h);
            oracle.regs[tid][dst as usize] = Some(id);
        }
        Op::Store { obj, slot, val } => {
            if let Some(h) = &r.regs[obj as usize] {
                let v = val.and_then(|v| r.regs[v as usize].as_ref());
                h.set(slot as usize, v);
                let o = id_of(h)?;
                oracle.objects[o as usize].slots[slot as usize] =
                    val.and_then(|v| oracle.regs[tid][v as usize]);
            }
        }
        Op::Load { dst, obj, slot } => {
            if let Some(h) = &r.regs[obj as usize] {
                let got = h.get(slot as usize);
                let want = oracle.objects[id_of(h)? as usize].slots[slot as usize];
                expect(&got, want, "the field")?;
                r.regs[dst as usize] = got;
                oracle.regs[tid][dst as usize] = want;
            }
        }
        Op::Copy { dst, src } => {
            r.regs[dst as usize] = r.regs[src as usize].clone();
            oracle.regs[tid][dst as usize] = oracle.regs[tid][src as usize];
        }
        Op::Drop { reg } => {
            r.regs[reg as usize] = None;
            oracle.regs[tid][reg as usize] = None;
        }
        Op::KeepAlive { reg } => {
            if let Some(h) = &r.regs[reg as usize] {
                id_of(h)?;
                keep_alive(h.clone());
            }
        }
        Op::StoreGlobal { g, src } => {
            let v = src.and_then(|v| r.regs[v as usize].as_ref());
            global.set(g as usize, v);
            oracle.globals[g as usize] = src.and_then(|v| oracle.regs[tid][v as usize]);
        }
        Op::LoadGlobal { dst, g } => {
            let got = global.get(g as usize);
            expect(&got, oracle.globals[g as usize], "the global")?;
            r.regs[dst as usize] = got;
            oracle.regs[tid][dst as usize] = oracle.globals[g as usize];
        }
        Op::SetFinalizer { reg } => {
            if let Some(h) = &r.regs[reg as usize] {
                let o = id_of(h)?;
                if oracle.objects[o as usize].finalizer.is_none() {
                    let reg = oracle.finalizers.len();
                    oracle.finalizers.push(crate::random::oracle::FinalizerReg {
                        obj: o,
                        cleared: false,
                    });
                    oracle.objects[o as usize].finalizer = Some(reg);
                    let s = shared.clone();
                    m.set_finalizer(h, move |obj: Handle<'_, B>| {
                        let at = s.seq.load(SeqCst);
                        let id = obj.read(0);
                        let intact = obj.read(1) == id ^ MAGIC;
                        let seen = [0, 1, 2].map(|k| obj.get(k).map(|c| c.read(0)));
                        let ended = s.ticks.fetch_add(1, SeqCst);
                        if let Ok(mut events) = s.events.lock() {
                            events.push(Event::Finalizer {
                                reg,
                                obj: id,
                                intact,
                                seen,
                                at,
                                ended,
                            });
                        }
                    });
                }
            }
        }
        Op::ClearFinalizer { reg } => {
            if let Some(h) = &r.regs[reg as usize] {
                let o = id_of(h)?;
                if let Some(f) = oracle.objects[o as usize].finalizer.take() {
                    m.clear_finalizer(h);
                    oracle.finalizers[f].cleared = true;
                }
            }
        }
        Op::AddCleanup { reg, token } => {
            if let Some(h) = &r.regs[reg as usize] {
                let o = id_of(h)?;
                let id = oracle.cleanups.len();
                oracle.cleanups.push(crate::random::oracle::CleanupReg {
                    obj: o,
                    stopped: false,
                    stopped_while_reachable: false,
                });
                let s = shared.clone();
                let c = m.add_cleanup(h, id, move |id| {
                    let at = s.seq.load(SeqCst);
                    let started = s.ticks.fetch_add(1, SeqCst);
                    if let Ok(mut events) = s.events.lock() {
                        events.push(Event::Cleanup {
                            reg: id,
                            at,
                            started,
                        });
                    }
                });
                r.tokens[token as usize] = Some((c, id));
            }
        }
        Op::Stop { token } => {
            if let Some((c, id)) = &r.tokens[token as usize] {
                c.stop();
                let obj = oracle.cleanups[*id].obj;
                let reachable = oracle.reachable()[obj as usize];
                let reg = &mut oracle.cleanups[*id];
                reg.stopped = true;
                reg.stopped_while_reachable |= reachable;
            }
        }
        Op::Weak { reg, weak } => {
            if let Some(h) = &r.regs[reg as usize] {
                let o = id_of(h)?;
                let w = m.weak(h);
                oracle.weak_objects.push(o);
                shared
                    .weak_handles
                    .lock()
                    .map_err(|_| "weak list poisoned")?
                    .push(w.clone());
                r.weaks[weak as usize] = Some((w, o));
            }
        }
        Op::Upgrade { dst, weak } => {
            if let Some((w, o)) = &r.weaks[weak as usize] {
                let got = w.upgrade(m);
                match &got {
                    Some(h) => {
                        if id_of(h)? != *o {
                            return Err(format!("the weak handle to #{o} gave #{}", id_of(h)?));
                        }
                        oracle.weak_read_live(*o, oracle_seq(shared));
                    }
                    None => oracle.weak_read_gone(*o, oracle_seq(shared)),
                }
                oracle.regs[tid][dst as usize] = got.as_ref().map(|_| *o);
                r.regs[dst as usize] = got;
            }
        }
        Op::Churn { objects } => {
            for _ in 0..objects {
                drop(m.alloc(&BLOB));
            }
        }
        Op::Gc => m.gc(),
        Op::Scope { steps } => crate::random::scoped::run(
            crate::random::scoped::Block {
                m,
                oracle,
                regs: &mut r.regs,
                tid,
                node: &NODE,
                blob: &BLOB,
                magic: MAGIC,
            },
            &steps,
        )?,
        Op::Drain => {
            m.drain_finalizers();
            m.drain_cleanups();
        }
        Op::Spawn { .. } | Op::Join { .. } => unreachable!("handled by run_thread"),
    }
    Ok(())
}

/// The number of the operation in progress (the lock holder's).
fn oracle_seq(shared: &Shared) -> u64 {
    shared.seq.load(SeqCst) - 1
}
