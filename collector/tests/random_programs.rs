//! Random programs against a sequential reachability oracle (issue 11; S34, S43, S44,
//! S48, S53 and the weak-pointer items of `SEMANTICS.md`).
//!
//! Each case generates a program from its seed: up to four threads allocating, storing,
//! loading, dropping, keeping alive, setting and clearing finalizers, adding and
//! stopping cleanups, making and reading weak handles, collecting, churning garbage so
//! background cycles mark while the program runs, spawning and joining threads. The
//! program's operations are linearised by one lock (each takes a global sequence
//! number); the collector and its callback threads run alongside. The oracle
//! (`random/oracle.rs`) replays the operations in order and the checks
//! (`random/exec.rs`) assert: no reachable object is freed or damaged (verification is
//! on; every load and weak read is compared with the oracle); a finalizer runs at most
//! once per registration, only after its object became unreachable, and sees its
//! object's fields intact; a cleanup runs at most once, only after its object became
//! unreachable, never after a `stop` made while the object was reachable; a weak handle
//! never reads as gone while its object is reachable, and never comes back; after a
//! drain `queued == executed`; and, collected to a fixed point, exactly what Go's rules
//! say must die has died.
//!
//! A failure is shrunk (operations and threads deleted while it still fails in one of
//! three runs) and reported with its seed and the minimal program.
//!
//! `RANDOM_PROGRAM_CASES` (default 10,000) and `RANDOM_PROGRAM_SEED` (the first case's
//! seed, default 1) choose the cases, `RANDOM_PROGRAM_BARRIER` (hybrid, dijkstra, yuasa)
//! runs them all under one barrier; the long mode is
//! `RANDOM_PROGRAM_CASES=200000 cargo test --release -p collector --test random_programs`.

mod common;
mod random;

use random::exec::{run_case, Exercised};
use random::program::{Op, Program};

/// The tests here run one at a time: whether a case's scope block meets a mark depends on
/// timing, and the negative controls ran out of seeds when the main test ran beside them
/// on 2 cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, got {v:?}")),
        Err(_) => default,
    }
}

/// Whether `error` is what a reachable object freed by a missing barrier leads to: the
/// checkmark's report, a use of the freed object, or its memory reused under a
/// reference (a damaged object, a load or weak read the oracle contradicts). Which one
/// a run meets first depends on timing. (Two runs failed first with "another thread
/// failed holding the operation lock", a thread's use of the freed object having
/// panicked under the lock: thread 0 now reports the failure of the thread that poisoned
/// the lock, `random::exec`.) The last two would also catch a bug of another kind; the
/// main test, with barriers, runs the same checks and finds none.
fn from_a_lost_object(error: &str) -> bool {
    [
        "lost objects",
        "freed",
        "is damaged",
        "the oracle says",
        "the weak handle",
    ]
    .iter()
    .any(|what| error.contains(what))
}

/// Whether `program` fails in any of `tries` runs; returns the first error.
fn fails(program: &Program, tries: usize) -> Option<String> {
    (0..tries).find_map(|_| run_case(program).err())
}

/// Deletes operations and threads while the program still fails.
fn shrink(mut program: Program, mut error: String) -> (Program, String) {
    let mut budget = 400;
    'outer: while budget > 0 {
        for candidate in program.shrink_candidates() {
            budget -= 1;
            if let Some(e) = fails(&candidate, 3) {
                program = candidate;
                error = e;
                continue 'outer;
            }
            if budget == 0 {
                break;
            }
        }
        break;
    }
    (program, error)
}

#[test]
fn random_programs_agree_with_the_oracle() {
    let _serial = one_at_a_time();
    let cases = env_u64("RANDOM_PROGRAM_CASES", 10_000);
    let first = env_u64("RANDOM_PROGRAM_SEED", 1);
    let barrier = std::env::var("RANDOM_PROGRAM_BARRIER").ok().map(|b| {
        b.parse::<collector::BarrierKind>()
            .unwrap_or_else(|e| panic!("RANDOM_PROGRAM_BARRIER: {e}"))
    });
    let mut ops = 0;
    let mut exercised = Exercised::default();
    for seed in first..first + cases {
        let mut program = Program::generate(seed);
        if let Some(b) = barrier {
            program.config.barrier = b;
        }
        ops += program.len();
        match run_case(&program) {
            Ok(e) => exercised += e,
            Err(error) => {
                let (minimal, min_error) = shrink(program.clone(), error.clone());
                panic!(
                "seed {seed} failed: {error}\n\nshrunk to {} operations, failing with: {min_error}\n{minimal}\n\
                 rerun: RANDOM_PROGRAM_SEED={seed} RANDOM_PROGRAM_CASES=1 cargo test --release -p collector --test random_programs",
                minimal.len()
            );
            }
        }
    }
    let scope_accesses = random::scoped::SCOPE_ACCESSES.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{cases} random programs ({ops} operations) agreed with the oracle; exercised: {exercised:?}, {scope_accesses} scope loads and stores");
    // The checks are only as good as what the programs reach.
    assert!(
        cases < 1000
            || (exercised.finalizers > 0
                && exercised.cleanups > 0
                && exercised.weak_gone > 0
                && exercised.barrier_slow_paths > 0
                && scope_accesses > 0),
        "the programs never exercised some check: {exercised:?}"
    );
}

/// The negative control: with the barrier removed (the `none` ablation, concurrent
/// marking), the same programs must lose objects and the checks must say so. (The
/// failure shrinks, to four operations on a quiet machine; how far depends on timing,
/// so the size is printed, not asserted.) Whether a program's stores race a mark depends
/// on timing: here the first loss came at seed 60-975 in 7 runs, but CI's 2 cores ran
/// 2,000 seeds without one (at 6be43d3d), hence 20,000 seeds, as the scope control has.
#[test]
fn the_checks_catch_the_no_barrier_ablation() {
    let _serial = one_at_a_time();
    let mut tried = 0;
    for seed in 1..=20_000 {
        let mut program = Program::generate(seed);
        program.config.barrier = collector::BarrierKind::None;
        program.config.concurrent = true;
        tried += 1;
        if let Err(error) = run_case(&program) {
            // The first failure decides (shrinking keeps any failure).
            assert!(
                from_a_lost_object(&error),
                "the ablation failed for another reason: {error}"
            );
            let (minimal, min_error) = shrink(program, error);
            eprintln!(
                "the no-barrier ablation failed at seed {seed} (case {tried}); shrunk to {} operations: {min_error}\n{minimal}",
                minimal.len()
            );
            return;
        }
    }
    panic!("{tried} programs without a barrier never lost an object: the checks cannot see a lost object");
}

/// The negative control of the scope path: programs whose only stores are made inside
/// scope blocks (every handle store removed), without a barrier, must lose objects and
/// the checks must say so — so the random programs can see a scope store that does not
/// shade, not only a handle store. Since assists park from a cycle's first pause (as
/// Go's may from `gcStart` on), a thread whose scope allocated during a mark waits at the
/// scope's end for the mark more often, and fewer programs race a store against it: the
/// first loss came at seed 665-8675 in 14 native runs (132-2815 before, in 4), and the
/// checked profile (debug assertions) once ran 20,000 without one, hence 60,000 seeds
/// (under memcheck about 33 ms each).
#[test]
fn the_checks_catch_a_missing_barrier_in_scopes() {
    let _serial = one_at_a_time();
    let mut tried = 0;
    for seed in 1..=60_000 {
        let mut program = Program::generate(seed);
        program.config.barrier = collector::BarrierKind::None;
        program.config.concurrent = true;
        for ops in &mut program.threads {
            ops.retain(|op| !matches!(op, Op::Store { .. } | Op::StoreGlobal { .. }));
        }
        tried += 1;
        if let Err(error) = run_case(&program) {
            assert!(
                from_a_lost_object(&error),
                "the scope ablation failed for another reason: {error}"
            );
            eprintln!("the scope ablation failed at seed {seed} (case {tried}): {error}");
            return;
        }
    }
    panic!("{tried} programs storing only in scopes, without a barrier, never lost an object");
}
