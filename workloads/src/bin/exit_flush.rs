//! exit-flush: a buffered writer flushed by a finalizer loses its data at exit
//! (`SEMANTICS.md` S54: finalizers still queued, or never queued, when the program ends
//! do not run).
//!
//! The writer is a heap object (one reference slot, left null, and one data word: the
//! count of buffered bytes, Go's `bufio.Writer`); the "file" is a `Vec<u8>` outside the
//! heap. The program writes `--bytes` bytes in chunks of 1000; a write that would overflow
//! `--buffer` bytes (at least one chunk) flushes the buffer to the file first. The writer's
//! finalizer flushes what is buffered. At the end the buffer is flushed explicitly
//! (`--flush explicit`) or left to the finalizer (`--flush finalizer`); then the program
//! drops the writer and ends the way a Go program's `main` returns: `Heap::shutdown`,
//! without collecting or waiting for finalizers. No cycle runs before exit, so in the
//! finalizer mode the finalizer is never even queued and whatever was buffered is lost,
//! deterministically.
//!
//! `--flush queued` shows the other way to lose it: a cycle does queue the writer's
//! finalizer, and the process exits before it runs. First a *blocker* object's finalizer
//! is queued by a `gc()` and starts; it never returns (it parks its thread until the
//! process ends), so the one finalizer thread is held. Then the program writes, drops the
//! writer, and calls `gc()`, which queues the writer's finalizer behind the blocker's; it
//! reads the file's length and the finalizer counters, writes its report and exits the
//! process (`std::process::exit`, as Go's `os.Exit`: no shutdown, no waiting).
//!
//! Findings: `flush`, `bytes_written`, `bytes_flushed` (in the file at exit),
//! `bytes_lost` (the difference), `finalizer_ran`, and the heap's finalizer counters at
//! exit: `finalizers_queued` (by the cycles: 2 in the queued mode, the blocker's and the
//! writer's) and `finalizers_pending` (queued and not finished). `--check-leaks` is a
//! usage error here (its cycles need the heap this workload shuts down). Losing bytes in
//! the explicit mode makes the exit status 1; losing them in the finalizer and queued modes
//! is the finding, but the queued mode exits with 1 if its cycle did not queue the
//! writer's finalizer (there would be nothing to show).
//!
//! `cargo run --release -p workloads --bin exit-flush -- [--flush finalizer] [--json]`

use clap::Parser;
use collector::{Barrier, Handle, Mutator, Shape};
use serde_json::{json, Map};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;
use workloads::harness::cli::{self, Args, DurationUse, Workload};
use workloads::harness::progress::Goal;
use workloads::harness::run::{exit_status, fail, latency_histogram, Run};
use workloads::with_barrier;

workloads::use_mimalloc!();

/// The writer: a reference slot (never a pointer-free tiny object) and the buffered count.
static WRITER: Shape = Shape::new("buffered writer", 1, 1);

/// The "file", outside the heap.
static FILE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Whether the writer's finalizer ran.
static FINALIZER_RAN: AtomicBool = AtomicBool::new(false);

/// Bytes per `write` call.
const CHUNK: u64 = 1000;

const WORKLOAD: Workload = Workload {
    name: "exit-flush",
    mutators: 1,
    max_mutators: Some(1),
    duration: DurationUse::Ignored("exit-flush is sized by --bytes"),
};

/// Who flushes the writer's last buffer.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Flush {
    /// The program calls flush before exit.
    Explicit,
    /// Only the writer's finalizer would.
    Finalizer,
    /// Only the writer's finalizer would, and a cycle queues it before the process exits;
    /// another finalizer holds the finalizer thread meanwhile.
    Queued,
}

impl Flush {
    fn name(self) -> &'static str {
        match self {
            Flush::Explicit => "explicit",
            Flush::Finalizer => "finalizer",
            Flush::Queued => "queued",
        }
    }
}

/// exit-flush: data buffered in an object whose finalizer flushes it is lost at exit.
#[derive(Parser, Debug)]
#[command(name = "exit-flush", version)]
struct Cli {
    /// Who flushes the last buffer: the program (explicit), the writer's finalizer never
    /// queued (finalizer), or queued by a cycle just before the process exits (queued).
    #[arg(long, value_enum, default_value = "explicit")]
    flush: Flush,
    /// Bytes to write (suffixes KiB, MiB, GiB).
    #[arg(long, default_value = "1MiB", value_parser = cli::parse_bytes, allow_negative_numbers = true)]
    bytes: usize,
    /// The writer's buffer size in bytes (suffixes KiB, MiB, GiB; at least one 1000-byte
    /// write).
    #[arg(long, default_value = "4096", value_parser = parse_buffer, allow_negative_numbers = true)]
    buffer: usize,
    #[command(flatten)]
    common: Args,
}

/// `--buffer`: a size as `--bytes` takes it, of at least one write ([`CHUNK`] bytes): a
/// smaller buffer would hold more than its size after every write.
fn parse_buffer(s: &str) -> Result<usize, String> {
    let n = cli::parse_bytes(s)?;
    if (n as u64) < CHUNK {
        return Err(format!(
            "the buffer must hold at least one {CHUNK}-byte write, not {n} bytes"
        ));
    }
    Ok(n)
}

fn main() {
    let cli: Cli = cli::parse(&WORKLOAD);
    if cli.common.check_leaks {
        cli::usage_error::<Cli>(
            &WORKLOAD,
            "exit-flush shuts its heap down at exit, so --check-leaks cannot run its cycles",
        );
    }
    let mut own = Map::new();
    own.insert("flush".into(), json!(cli.flush.name()));
    own.insert("bytes".into(), json!(cli.bytes));
    own.insert("buffer".into(), json!(cli.buffer));
    let run =
        Run::start(WORKLOAD.name, &cli.common, own).unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let status = with_barrier!(cli.common.barrier, exit_flush(&cli, run));
    std::process::exit(status);
}

/// Moves the writer's buffered bytes into the file.
fn flush<B: Barrier>(w: &Handle<'_, B>) {
    let n = w.read(0);
    let mut file = FILE.lock().unwrap_or_else(|e| e.into_inner());
    let len = file.len() + n as usize;
    file.resize(len, b'x');
    drop(file);
    w.write(0, 0);
}

/// Queues a finalizer that never returns and waits until it has started: from then on
/// the finalizer thread runs no other finalizer.
fn hold_the_finalizer_thread<B: Barrier>(m: &Mutator<B>) {
    let (started, wait) = std::sync::mpsc::channel();
    let blocker = m.alloc(&WRITER);
    m.set_finalizer(&blocker, move |_| {
        let _ = started.send(());
        // The runner is in the blocking state: parked here it holds up no pause.
        loop {
            std::thread::park();
        }
    });
    drop(blocker);
    m.gc();
    m.blocking(|| wait.recv())
        .expect("the blocker's finalizer starts");
}

fn file_len() -> usize {
    FILE.lock().unwrap_or_else(|e| e.into_inner()).len()
}

fn exit_flush<B: Barrier>(cli: &Cli, mut run: Run) -> i32 {
    let total = cli.bytes as u64;
    let cap = cli.buffer as u64;
    let heap = run
        .heap::<B>(Goal::Work(total))
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    let m = heap.mutator();
    let mut latency = latency_histogram();
    let queued_mode = cli.flush == Flush::Queued;
    if queued_mode {
        hold_the_finalizer_thread(&m);
    }

    let w = m.alloc(&WRITER);
    m.set_finalizer(&w, |w| {
        FINALIZER_RAN.store(true, SeqCst);
        flush(&w);
    });
    let mut written = 0;
    while written < total {
        let n = CHUNK.min(total - written);
        let t = std::time::Instant::now();
        if w.read(0) + n > cap {
            flush(&w);
        }
        w.write(0, w.read(0) + n);
        latency.saturating_record(t.elapsed().as_nanos() as u64);
        run.progress().advance(n);
        written += n;
    }
    if cli.flush == Flush::Explicit {
        flush(&w);
    }
    drop(w);
    if queued_mode {
        // The writer is dead: this cycle queues its finalizer behind the blocker's.
        m.gc();
    }
    drop(m);
    // main returns: no further cycle, no waiting for finalizers (S54). In the queued mode
    // the process exits below without shutting the heap down, as Go's os.Exit does.
    if !queued_mode {
        heap.shutdown();
    }
    let flushed = file_len() as u64;
    let lost = written - flushed;
    let ran = FINALIZER_RAN.load(SeqCst);
    let fin = heap.stats().finalizers;

    let findings = json!({
        "flush": cli.flush.name(),
        "bytes_written": written,
        "bytes_flushed": flushed,
        "bytes_lost": lost,
        "finalizer_ran": ran,
        "finalizers_queued": fin.queued,
        "finalizers_pending": fin.pending,
    });
    let show = run.text();
    let summary = run
        .finish(&heap, &latency, findings)
        .unwrap_or_else(|e| fail(WORKLOAD.name, &e));
    if show {
        println!(
            "exit-flush: {written} bytes written through a {cap}-byte buffer, last flush: {}",
            cli.flush.name()
        );
        println!("flushed {flushed}, lost {lost}; finalizer ran: {ran}");
    }
    if cli.flush == Flush::Explicit && lost > 0 {
        eprintln!("exit-flush: failed: {lost} bytes lost despite the explicit flush");
        return 1;
    }
    if queued_mode && (fin.queued < 2 || ran) {
        eprintln!(
            "exit-flush: failed: the writer's finalizer was not left queued at exit ({} \
             finalizers queued, writer's ran: {ran})",
            fin.queued
        );
        return 1;
    }
    exit_status(&summary)
}
