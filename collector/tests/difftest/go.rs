//! The Go side: which random programs Go can run deterministically, their serialization
//! for the interpreter (`workloads/go/randprog`, whose doc comment gives the format),
//! and running the interpreter on a batch of programs.

use super::trace::{parse_traces, Cycle};
use crate::random::program::{Op, Program};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The program generated from `seed`, restricted to what Go runs deterministically: the
/// main thread only (no spawns, joins or child threads), no `Churn` (it drives
/// background cycles, whose timing Go does not fix) and no `Drain` (every collection
/// drains). A `Churn` becomes a `runtime.GC()`: a forced cycle where the generator put
/// an unforced one, so the programs collect as often as before.
pub fn sequential_program(seed: u64) -> Program {
    let mut p = Program::generate(seed);
    p.threads.truncate(1);
    p.threads[0] = p.threads[0]
        .iter()
        .filter_map(|&op| match op {
            Op::Churn { .. } => Some(Op::Gc),
            // A scope block is the testbed's own API: Go has no twin of it.
            Op::Drain | Op::Scope { .. } | Op::Spawn { .. } | Op::Join { .. } => None,
            op => Some(op),
        })
        .collect();
    p
}

/// One operation as an interpreter line.
fn op_line(op: Op) -> String {
    let v = |r: Option<u8>| r.map_or(-1, i32::from);
    match op {
        Op::Alloc { dst } => format!("alloc {dst}"),
        Op::Store { obj, slot, val } => format!("store {obj} {slot} {}", v(val)),
        Op::Load { dst, obj, slot } => format!("load {dst} {obj} {slot}"),
        Op::Copy { dst, src } => format!("copy {dst} {src}"),
        Op::Drop { reg } => format!("drop {reg}"),
        Op::KeepAlive { reg } => format!("keep {reg}"),
        Op::StoreGlobal { g, src } => format!("sglobal {g} {}", v(src)),
        Op::LoadGlobal { dst, g } => format!("lglobal {dst} {g}"),
        Op::SetFinalizer { reg } => format!("setfin {reg}"),
        Op::ClearFinalizer { reg } => format!("clearfin {reg}"),
        Op::AddCleanup { reg, token } => format!("cleanup {reg} {token}"),
        Op::Stop { token } => format!("stop {token}"),
        Op::Weak { reg, weak } => format!("weak {reg} {weak}"),
        Op::Upgrade { dst, weak } => format!("upgrade {dst} {weak}"),
        Op::Gc => "gc".to_string(),
        Op::Churn { .. } | Op::Drain | Op::Scope { .. } | Op::Spawn { .. } | Op::Join { .. } => {
            panic!("`{op}` is not in the sequential subset")
        }
    }
}

/// The interpreter's input for `programs` (each numbered by its position).
pub fn serialize(programs: &[Program]) -> String {
    let mut out = String::new();
    for (i, p) in programs.iter().enumerate() {
        out += &format!("program {i}\n");
        for &op in &p.threads[0] {
            out += &op_line(op);
            out.push('\n');
        }
        out += "end\n";
    }
    out
}

/// The built interpreter.
pub struct GoInterpreter {
    bin: PathBuf,
}

impl GoInterpreter {
    /// The interpreter named by `DIFF_GO_BIN`, else `target/go-twins/randprog` (where
    /// `scripts/diff-go.sh` builds it). Panics, saying how to build it, if neither exists.
    pub fn find() -> GoInterpreter {
        let bin = std::env::var_os("DIFF_GO_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/go-twins/randprog"),
            PathBuf::from,
        );
        assert!(
            bin.is_file(),
            "no Go interpreter at {}: run scripts/diff-go.sh (it installs Go and builds it), \
             or set DIFF_GO_BIN",
            bin.display()
        );
        GoInterpreter { bin }
    }

    /// Runs `programs` in one process; returns each one's trace, in order.
    pub fn run(&self, programs: &[Program]) -> Result<Vec<Vec<Cycle>>, String> {
        let mut child = Command::new(&self.bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bin.display()))?;
        let input = serialize(programs);
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        // Written from another thread: the interpreter answers while it reads.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for the interpreter: {e}"))?;
        writer
            .join()
            .map_err(|_| "the writer panicked")?
            .map_err(|e| format!("writing to the interpreter: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the interpreter failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let traces = parse_traces(&String::from_utf8_lossy(&out.stdout))?;
        if traces.len() != programs.len()
            || traces.iter().enumerate().any(|(i, (n, _))| *n != i as u64)
        {
            return Err(format!(
                "{} programs in, {} traces out",
                programs.len(),
                traces.len()
            ));
        }
        Ok(traces.into_iter().map(|(_, t)| t).collect())
    }
}
