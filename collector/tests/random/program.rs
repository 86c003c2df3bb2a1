//! Random programs: the operations a program is made of, a seeded generator, the ways a
//! failing program is shrunk, and the printed form a failure reports.
//!
//! A program is a list of operations per thread. Thread 0 is the main thread; it spawns
//! and joins the others. Operations name *registers* (a thread's local handles), weak
//! registers, cleanup tokens and global slots rather than objects, so every
//! subsequence of a program is still a program: an operation whose register is empty
//! does nothing. That is what lets a failure shrink by deleting operations.

use crate::common::Rng;
use crate::random::scoped::{random_steps, Step, STEPS};
use collector::BarrierKind;
use std::fmt;

/// Handle registers per thread.
pub const REGS: u8 = 6;
/// Weak-handle registers per thread.
pub const WEAKS: u8 = 3;
/// Cleanup-token registers per thread.
pub const TOKENS: u8 = 3;
/// Reference slots of the one global object all threads share.
pub const GLOBALS: u8 = 4;
/// Reference slots of every program object.
pub const SLOTS: u8 = 3;
/// Threads besides the main one, at most.
pub const MAX_CHILDREN: u8 = 3;

/// One operation of one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `r[dst] = new object` (with a fresh id).
    Alloc { dst: u8 },
    /// `r[obj].slot = r[val]` (null when `val` is `None` or an empty register).
    Store { obj: u8, slot: u8, val: Option<u8> },
    /// `r[dst] = r[obj].slot`, checked against the oracle's value.
    Load { dst: u8, obj: u8, slot: u8 },
    /// `r[dst] = r[src]`.
    Copy { dst: u8, src: u8 },
    /// `r[reg] = nil`.
    Drop { reg: u8 },
    /// `runtime.KeepAlive(r[reg])` (a use; the register keeps its value).
    KeepAlive { reg: u8 },
    /// `global.g = r[src]` (null when `src` is `None`).
    StoreGlobal { g: u8, src: Option<u8> },
    /// `r[dst] = global.g`, checked against the oracle's value.
    LoadGlobal { dst: u8, g: u8 },
    /// `runtime.SetFinalizer(r[reg], record)` unless it has one.
    SetFinalizer { reg: u8 },
    /// `runtime.SetFinalizer(r[reg], nil)` if it has one.
    ClearFinalizer { reg: u8 },
    /// `t[token] = runtime.AddCleanup(r[reg], record, id)`.
    AddCleanup { reg: u8, token: u8 },
    /// `t[token].Stop()`.
    Stop { token: u8 },
    /// `w[weak] = weak.Make(r[reg])`.
    Weak { reg: u8, weak: u8 },
    /// `r[dst] = w[weak].Value()`, checked against the oracle.
    Upgrade { dst: u8, weak: u8 },
    /// Allocates `objects` garbage blobs: drives the pacer into background cycles that
    /// mark while the following operations run.
    Churn { objects: u16 },
    /// `runtime.GC()`.
    Gc,
    /// A block of steps in one scope, on `Gc` temporaries (`random::scoped`).
    Scope { steps: [Step; STEPS] },
    /// Waits until the queued finalizers and cleanups have run.
    Drain,
    /// Main thread only: starts thread `child` (1-based).
    Spawn { child: u8 },
    /// Main thread only: joins thread `child`.
    Join { child: u8 },
}

/// How the case's heap is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseConfig {
    /// The write barrier.
    pub barrier: BarrierKind,
    /// Concurrent marking and sweeping (false: stop-the-world cycles).
    pub concurrent: bool,
    /// Cleanup worker threads.
    pub cleanup_workers: usize,
}

/// A whole program: the configuration and each thread's operations (`threads[0]` is the
/// main thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The heap's configuration.
    pub config: CaseConfig,
    /// Operations per thread.
    pub threads: Vec<Vec<Op>>,
}

impl Program {
    /// The number of operations over all threads.
    pub fn len(&self) -> usize {
        self.threads.iter().map(Vec::len).sum()
    }

    /// A program generated from `seed`.
    pub fn generate(seed: u64) -> Program {
        let mut rng = Rng::new(seed);
        let barrier = match rng.below(4) {
            0 => BarrierKind::Hybrid,
            1 => BarrierKind::GoHybrid,
            2 => BarrierKind::Dijkstra,
            _ => BarrierKind::Yuasa,
        };
        let config = CaseConfig {
            barrier,
            concurrent: rng.below(5) != 0,
            cleanup_workers: 1 + rng.below(2),
        };
        let children = rng.below(MAX_CHILDREN as usize + 1);
        let main_len = 8 + rng.below(30);
        let mut main = random_ops(&mut rng, main_len);
        // Spawn each child in the first half, join it somewhere after.
        for child in 1..=children as u8 {
            let at = rng.below(main.len() / 2 + 1);
            main.insert(at, Op::Spawn { child });
            let join_at = at + 1 + rng.below(main.len() - at);
            main.insert(join_at, Op::Join { child });
        }
        let mut threads = vec![main];
        for _ in 0..children {
            let n = 8 + rng.below(30);
            threads.push(random_ops(&mut rng, n));
        }
        Program { config, threads }
    }

    /// Smaller programs to try while shrinking: without a child thread, then without
    /// runs of operations of decreasing length.
    pub fn shrink_candidates(&self) -> Vec<Program> {
        let mut out = Vec::new();
        for child in (1..self.threads.len()).rev() {
            let mut p = self.clone();
            p.threads.remove(child);
            // Renumber the children after it; drop its spawn and join.
            for op in p.threads[0].iter_mut() {
                if let Op::Spawn { child: c } | Op::Join { child: c } = op {
                    if *c as usize > child {
                        *c -= 1;
                    } else if *c as usize == child {
                        *c = 0; // marked for removal
                    }
                }
            }
            p.threads[0].retain(|op| !matches!(op, Op::Spawn { child: 0 } | Op::Join { child: 0 }));
            out.push(p);
        }
        for (t, ops) in self.threads.iter().enumerate() {
            let mut chunk = ops.len().div_ceil(2).max(1);
            loop {
                let mut start = 0;
                while start < ops.len() {
                    let mut p = self.clone();
                    let end = (start + chunk).min(ops.len());
                    p.threads[t].drain(start..end);
                    out.push(p);
                    start = end;
                }
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
        }
        out
    }
}

/// `n` random operations (no spawns or joins), and a churn before some scope blocks.
fn random_ops(rng: &mut Rng, n: usize) -> Vec<Op> {
    (0..n).flat_map(|_| random_op(rng)).collect()
}

/// One random operation; a scope block comes after a churn half the time, so that it
/// often begins while the mark the churn started is on (the trigger-crossing mutator
/// waits for marking to begin, and nothing ends the mark before this thread's next
/// safepoint).
fn random_op(rng: &mut Rng) -> Vec<Op> {
    let reg = |rng: &mut Rng| rng.below(REGS as usize) as u8;
    let op = match rng.below(125) {
        0..=15 => Op::Alloc { dst: reg(rng) },
        16..=28 => Op::Store {
            obj: reg(rng),
            slot: rng.below(SLOTS as usize) as u8,
            val: (rng.below(6) != 0).then(|| reg(rng)),
        },
        29..=38 => Op::Load {
            dst: reg(rng),
            obj: reg(rng),
            slot: rng.below(SLOTS as usize) as u8,
        },
        39..=42 => Op::Copy {
            dst: reg(rng),
            src: reg(rng),
        },
        43..=51 => Op::Drop { reg: reg(rng) },
        52..=53 => Op::KeepAlive { reg: reg(rng) },
        54..=57 => Op::StoreGlobal {
            g: rng.below(GLOBALS as usize) as u8,
            src: (rng.below(4) != 0).then(|| reg(rng)),
        },
        58..=60 => Op::LoadGlobal {
            dst: reg(rng),
            g: rng.below(GLOBALS as usize) as u8,
        },
        61..=65 => Op::SetFinalizer { reg: reg(rng) },
        66 => Op::ClearFinalizer { reg: reg(rng) },
        67..=72 => Op::AddCleanup {
            reg: reg(rng),
            token: rng.below(TOKENS as usize) as u8,
        },
        73..=75 => Op::Stop {
            token: rng.below(TOKENS as usize) as u8,
        },
        76..=81 => Op::Weak {
            reg: reg(rng),
            weak: rng.below(WEAKS as usize) as u8,
        },
        82..=89 => Op::Upgrade {
            dst: reg(rng),
            weak: rng.below(WEAKS as usize) as u8,
        },
        90..=93 => Op::Churn {
            objects: 50 + rng.below(400) as u16,
        },
        94..=97 => Op::Gc,
        98..=99 => Op::Drain,
        _ => Op::Scope {
            steps: random_steps(rng),
        },
    };
    match op {
        Op::Scope { .. } if rng.below(2) == 0 => vec![
            Op::Churn {
                objects: 50 + rng.below(400) as u16,
            },
            op,
        ],
        _ => vec![op],
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let val = |v: &Option<u8>| v.map_or("nil".to_string(), |r| format!("r{r}"));
        match self {
            Op::Alloc { dst } => write!(f, "r{dst} = new()"),
            Op::Store { obj, slot, val: v } => write!(f, "r{obj}.f{slot} = {}", val(v)),
            Op::Load { dst, obj, slot } => write!(f, "r{dst} = r{obj}.f{slot}"),
            Op::Copy { dst, src } => write!(f, "r{dst} = r{src}"),
            Op::Drop { reg } => write!(f, "r{reg} = nil"),
            Op::KeepAlive { reg } => write!(f, "KeepAlive(r{reg})"),
            Op::StoreGlobal { g, src } => write!(f, "global.g{g} = {}", val(src)),
            Op::LoadGlobal { dst, g } => write!(f, "r{dst} = global.g{g}"),
            Op::SetFinalizer { reg } => write!(f, "SetFinalizer(r{reg}, record)"),
            Op::ClearFinalizer { reg } => write!(f, "SetFinalizer(r{reg}, nil)"),
            Op::AddCleanup { reg, token } => write!(f, "t{token} = AddCleanup(r{reg}, record)"),
            Op::Stop { token } => write!(f, "t{token}.Stop()"),
            Op::Weak { reg, weak } => write!(f, "w{weak} = weak.Make(r{reg})"),
            Op::Upgrade { dst, weak } => write!(f, "r{dst} = w{weak}.Value()"),
            Op::Churn { objects } => write!(f, "churn({objects} blobs)"),
            Op::Gc => write!(f, "runtime.GC()"),
            Op::Scope { steps } => {
                let steps: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
                write!(f, "scope {{ {} }}", steps.join("; "))
            }
            Op::Drain => write!(f, "drain()"),
            Op::Spawn { child } => write!(f, "go thread{child}()"),
            Op::Join { child } => write!(f, "join(thread{child})"),
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "// barrier {}, {}, {} cleanup worker(s)",
            c.barrier,
            if c.concurrent {
                "concurrent"
            } else {
                "stop-the-world"
            },
            c.cleanup_workers
        )?;
        for (t, ops) in self.threads.iter().enumerate() {
            writeln!(f, "thread{t}:")?;
            for op in ops {
                writeln!(f, "    {op}")?;
            }
        }
        Ok(())
    }
}
