//! Differential testing against Go itself (issue 23): sequential random programs run on
//! the testbed and on Go 1.27 (`workloads/go/randprog`), their traces compared
//! collection by collection (`difftest/`). These tests need the interpreter built, so
//! they are ignored by a plain `cargo test`; `scripts/diff-go.sh` installs Go, builds the
//! interpreter and runs them (`DIFF_GO_CASES`, default 500, and `DIFF_GO_SEED`, default
//! 1, choose the programs).
//!
//! The negative controls plant a bug in the testbed's sweep (`HeapConfig::planted_bug`)
//! and require the comparison to find it and shrink it to a program of a few operations
//! that agrees with Go once the bug is gone.

mod common;
mod difftest;
#[allow(dead_code)]
mod random {
    pub mod oracle;
    pub mod program;
    pub mod scoped;
}

use collector::PlantedBug;
use difftest::go::{sequential_program, GoInterpreter};
use difftest::trace::Cycle;
use difftest::{check, shrink, Outcome};
use random::program::Program;

/// Programs per interpreter process.
const BATCH: u64 = 1000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, got {v:?}"))
    })
}

/// Events summed over agreeing traces: what the comparison reached.
#[derive(Debug, Default)]
struct Reached {
    collections: usize,
    finalizers: usize,
    cleanups: usize,
    freed: usize,
    weak_nil: usize,
    /// Objects freed in a later collection than the one that started their finalizer
    /// (two-cycle reclamation, S43).
    freed_after_finalizer: usize,
    /// Collections that started finalizers after an earlier one of the same program
    /// did (where dependency order, S45, shows).
    later_finalizer_batches: usize,
}

impl Reached {
    fn add(&mut self, trace: &[Cycle]) {
        self.collections += trace.len();
        let mut finalized_at = std::collections::HashMap::new();
        for (i, c) in trace.iter().enumerate() {
            if !c.fin.is_empty() && !finalized_at.is_empty() {
                self.later_finalizer_batches += 1;
            }
            finalized_at.extend(c.fin.iter().map(|&o| (o, i)));
            let after = |o: &&u32| finalized_at.get(*o).is_some_and(|&at| at < i);
            self.freed_after_finalizer += c.freed.iter().filter(after).count();
            self.finalizers += c.fin.len();
            self.cleanups += c.cleanup.len();
            self.freed += c.freed.len();
            self.weak_nil += c.weak_nil.len();
        }
    }
}

#[test]
#[ignore = "needs Go 1.27 and the interpreter: scripts/diff-go.sh"]
fn the_testbed_agrees_with_go() {
    let cases = env_u64("DIFF_GO_CASES", 500);
    let first = env_u64("DIFF_GO_SEED", 1);
    let go = GoInterpreter::find();
    let (mut reached, mut ops) = (Reached::default(), 0);
    for start in (first..first + cases).step_by(BATCH as usize) {
        let seeds: Vec<u64> = (start..(start + BATCH).min(first + cases)).collect();
        let programs: Vec<Program> = seeds.iter().map(|&s| sequential_program(s)).collect();
        let outcomes = check(&go, &programs, None).unwrap_or_else(|e| panic!("{e}"));
        for ((seed, program), outcome) in seeds.iter().zip(&programs).zip(outcomes) {
            ops += program.len();
            if let Outcome::Same(trace) = &outcome {
                reached.add(trace);
                continue;
            }
            let first_report = outcome.report();
            let (min, o) = shrink(&go, program.clone(), outcome, None)
                .unwrap_or_else(|e| panic!("while shrinking seed {seed}: {e}"));
            panic!(
                "seed {seed}: the testbed and Go disagree: {first_report}\n{program}\n\
                 shrunk to {} operations: {}\n{min}\n\
                 rerun: DIFF_GO_SEED={seed} DIFF_GO_CASES=1 scripts/diff-go.sh",
                min.len(),
                o.report()
            );
        }
    }
    eprintln!("{cases} programs ({ops} operations) agreed with Go; reached: {reached:?}");
    assert!(
        cases < 100
            || (reached.finalizers > 0
                && reached.cleanups > 0
                && reached.freed > 0
                && reached.weak_nil > 0
                && reached.freed_after_finalizer > 0
                && reached.later_finalizer_batches > 0),
        "the programs never reached some event: {reached:?}"
    );
}

/// Finds the first of 500 programs that differs from Go with `bug` planted, shrinks it,
/// and checks that the shrunk program is small and agrees with Go without the bug.
/// Returns the shrunk program's first differing collection on both sides.
fn find_planted(bug: PlantedBug) -> (Cycle, Cycle) {
    let go = GoInterpreter::find();
    let programs: Vec<Program> = (1..=500).map(sequential_program).collect();
    let outcomes = check(&go, &programs, Some(bug)).unwrap_or_else(|e| panic!("{e}"));
    let Some((i, outcome)) = outcomes.into_iter().enumerate().find(|(_, o)| o.differs()) else {
        panic!(
            "500 programs with {bug:?} planted all agreed with Go: the comparison is blind to it"
        );
    };
    let (min, outcome) =
        shrink(&go, programs[i].clone(), outcome, Some(bug)).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{bug:?}: seed {} differs; shrunk to {} operations:\n{min}{}",
        i + 1,
        min.len(),
        outcome.report()
    );
    assert!(
        min.len() <= 4,
        "{bug:?} shrank only to {} operations",
        min.len()
    );
    let without = check(&go, std::slice::from_ref(&min), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !without[0].differs(),
        "the shrunk program differs without the bug too: {}",
        without[0].report()
    );
    let Outcome::Differs { at, testbed, go } = outcome else {
        panic!(
            "{bug:?}: the testbed failed instead of differing: {}",
            outcome.report()
        );
    };
    (testbed[at].clone(), go[at].clone())
}

/// S48: with the bug, an object's cleanups (its free-probe among them) run in the
/// collection that starts its finalizer; in Go only after the finalizer, in a later one.
#[test]
#[ignore = "needs Go 1.27 and the interpreter: scripts/diff-go.sh"]
fn a_cleanup_queued_beside_its_finalizer_is_found() {
    let (testbed, go) = find_planted(PlantedBug::CleanupBesideFinalizer);
    let early: Vec<u32> = testbed
        .freed
        .iter()
        .copied()
        .filter(|o| testbed.fin.contains(o))
        .collect();
    assert!(
        !early.is_empty() && early.iter().all(|o| go.fin.contains(o) && !go.freed.contains(o)),
        "expected objects freed in the collection that starts their finalizer: testbed {testbed}, go {go}"
    );
}

/// S34: with the bug, a finalized object's weak handles still read it after the
/// collection that queued its finalizer; in Go they read nil from that collection on.
#[test]
#[ignore = "needs Go 1.27 and the interpreter: scripts/diff-go.sh"]
fn a_weak_handle_cleared_after_the_finalizer_is_found() {
    let (testbed, go) = find_planted(PlantedBug::WeakClearedAfterFinalizer);
    assert!(
        !go.fin.is_empty()
            && testbed.fin == go.fin
            && go.weak_nil.iter().any(|w| !testbed.weak_nil.contains(w)),
        "expected a weak handle Go clears with the finalizer and the testbed does not: \
         testbed {testbed}, go {go}"
    );
}
