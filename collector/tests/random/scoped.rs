//! Scope blocks in random programs: one operation runs a few steps inside one
//! `Mutator::scope` on `Gc` temporaries — entered from registers, allocated, loaded
//! (checked against the oracle), stored through the barrier, rooted back into registers —
//! so scope loads and stores meet concurrent marks, sweeps and other threads' handles.
//! The block is one operation for the oracle: its temporaries are gone when it ends.

use crate::common::Rng;
use crate::random::oracle::{ObjId, Oracle};
use crate::random::program::{REGS, SLOTS};
use collector::{Barrier, Gc, Handle, Mutator, Shape};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `Gc` temporaries of a block.
pub const TEMPS: u8 = 3;
/// Steps of a block.
pub const STEPS: usize = 8;

/// Scope loads and stores made by all cases so far (the test shows it reached them).
pub static SCOPE_ACCESSES: AtomicU64 = AtomicU64::new(0);

/// One step of a scope block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `t[tmp] = s.get(r[reg])`.
    Enter { tmp: u8, reg: u8 },
    /// `t[tmp] = s.alloc()` (with a fresh id).
    New { tmp: u8 },
    /// `t[tmp] = s.load(t[from], slot)`, checked against the oracle.
    Load { tmp: u8, from: u8, slot: u8 },
    /// `s.store(t[obj], slot, t[val])`.
    Store { obj: u8, slot: u8, val: Option<u8> },
    /// `r[reg] = s.root(t[tmp])`.
    Root { reg: u8, tmp: u8 },
    /// `objects` garbage blobs allocated in the scope.
    Churn { objects: u16 },
}

/// A random block: a quarter of them open with [`hiding_steps`].
pub fn random_steps(rng: &mut Rng) -> [Step; STEPS] {
    let mut steps: [Step; STEPS] = std::array::from_fn(|_| random_step(rng));
    if rng.below(4) == 0 {
        let hide = hiding_steps(rng);
        steps[..hide.len()].copy_from_slice(&hide);
    }
    steps
}

/// The steps that lose an object when the scope's store barrier does not shade: load
/// `y` from a field of `x`, delete that field (a deletion barrier must shade `y`), store
/// `y` into a new (black) object (an insertion barrier must shade `y`), root the new
/// object. Met while a mark is on, only the barrier keeps `y`; random steps alone rarely
/// line up so (a scope without its shading passed 10,000 random cases).
fn hiding_steps(rng: &mut Rng) -> [Step; 6] {
    let reg = |rng: &mut Rng| rng.below(REGS as usize) as u8;
    let slot = |rng: &mut Rng| rng.below(SLOTS as usize) as u8;
    let (from, to) = (slot(rng), slot(rng));
    [
        Step::Enter {
            tmp: 0,
            reg: reg(rng),
        },
        Step::Load {
            tmp: 1,
            from: 0,
            slot: from,
        },
        Step::Store {
            obj: 0,
            slot: from,
            val: None,
        },
        Step::New { tmp: 2 },
        Step::Store {
            obj: 2,
            slot: to,
            val: Some(1),
        },
        Step::Root {
            reg: reg(rng),
            tmp: 2,
        },
    ]
}

/// One random step.
fn random_step(rng: &mut Rng) -> Step {
    let tmp = |rng: &mut Rng| rng.below(TEMPS as usize) as u8;
    let reg = |rng: &mut Rng| rng.below(REGS as usize) as u8;
    let slot = |rng: &mut Rng| rng.below(SLOTS as usize) as u8;
    match rng.below(100) {
        0..=27 => Step::Enter {
            tmp: tmp(rng),
            reg: reg(rng),
        },
        28..=39 => Step::New { tmp: tmp(rng) },
        40..=64 => Step::Load {
            tmp: tmp(rng),
            from: tmp(rng),
            slot: slot(rng),
        },
        65..=86 => Step::Store {
            obj: tmp(rng),
            slot: slot(rng),
            val: (rng.below(5) != 0).then(|| tmp(rng)),
        },
        87..=95 => Step::Root {
            reg: reg(rng),
            tmp: tmp(rng),
        },
        _ => Step::Churn {
            objects: 50 + rng.below(400) as u16,
        },
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Enter { tmp, reg } => write!(f, "t{tmp} = r{reg}"),
            Step::New { tmp } => write!(f, "t{tmp} = new()"),
            Step::Load { tmp, from, slot } => write!(f, "t{tmp} = t{from}.f{slot}"),
            Step::Store { obj, slot, val } => match val {
                Some(v) => write!(f, "t{obj}.f{slot} = t{v}"),
                None => write!(f, "t{obj}.f{slot} = nil"),
            },
            Step::Root { reg, tmp } => write!(f, "r{reg} = t{tmp}"),
            Step::Churn { objects } => write!(f, "churn({objects} blobs)"),
        }
    }
}

/// A `Gc`'s program id, checking its check word.
fn id_of(g: Gc<'_>, magic: u64) -> Result<ObjId, String> {
    let (id, check) = (g.read(0), g.read(1));
    if check != id ^ magic {
        return Err(format!("object #{id} is damaged (check word {check:#x})"));
    }
    Ok(id as ObjId)
}

/// What a block needs of its thread.
pub struct Block<'a, 'm, B: Barrier> {
    pub m: &'m Mutator<B>,
    pub oracle: &'a mut Oracle,
    pub regs: &'a mut [Option<Handle<'m, B>>],
    pub tid: usize,
    pub node: &'static Shape,
    pub blob: &'static Shape,
    pub magic: u64,
}

/// Runs `steps` in one scope, updating the oracle as it goes.
pub fn run<B: Barrier>(b: Block<'_, '_, B>, steps: &[Step; STEPS]) -> Result<(), String> {
    let Block {
        m,
        oracle,
        regs,
        tid,
        node,
        blob,
        magic,
    } = b;
    m.scope(|s| {
        let mut t: [Option<(Gc<'_>, ObjId)>; TEMPS as usize] = [None; TEMPS as usize];
        for (k, &step) in steps.iter().enumerate() {
            let at = |e: String| format!("scope step {k} `{step}`: {e}");
            match step {
                Step::Enter { tmp, reg } => {
                    if let Some(h) = &regs[reg as usize] {
                        let g = s.get(h);
                        t[tmp as usize] = Some((g, id_of(g, magic).map_err(at)?));
                    }
                }
                Step::New { tmp } => {
                    let g = s.alloc(node);
                    let id = oracle.new_object();
                    g.write(0, id as u64);
                    g.write(1, id as u64 ^ magic);
                    t[tmp as usize] = Some((g, id));
                }
                Step::Load { tmp, from, slot } => {
                    if let Some((g, id)) = t[from as usize] {
                        SCOPE_ACCESSES.fetch_add(1, Relaxed);
                        let got = s.load(g, slot as usize);
                        let want = oracle.objects[id as usize].slots[slot as usize];
                        let got_id = got.map(|g| id_of(g, magic)).transpose().map_err(at)?;
                        if got_id != want {
                            return Err(at(format!(
                                "the field read {got_id:?}, the oracle says {want:?}"
                            )));
                        }
                        t[tmp as usize] = got.zip(want);
                    }
                }
                Step::Store { obj, slot, val } => {
                    if let Some((g, id)) = t[obj as usize] {
                        SCOPE_ACCESSES.fetch_add(1, Relaxed);
                        let v = val.and_then(|v| t[v as usize]);
                        s.store(g, slot as usize, v.map(|(g, _)| g));
                        oracle.objects[id as usize].slots[slot as usize] = v.map(|(_, id)| id);
                    }
                }
                Step::Root { reg, tmp } => {
                    if let Some((g, id)) = t[tmp as usize] {
                        regs[reg as usize] = Some(s.root(g));
                        oracle.regs[tid][reg as usize] = Some(id);
                    }
                }
                Step::Churn { objects } => {
                    for _ in 0..objects {
                        s.alloc(blob);
                    }
                }
            }
        }
        Ok(())
    })
}
