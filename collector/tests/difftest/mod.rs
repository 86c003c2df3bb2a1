//! Differential testing against Go itself (issue 23): the same sequential random
//! programs run on the testbed (`testbed`) and on Go 1.27 (`go`, through the interpreter
//! in `workloads/go/randprog`), and their traces (`trace`: per collection, which
//! finalizers started, which cleanups ran, which objects were freed, which weak handles
//! went nil) are compared collection by collection. A differing program is shrunk with
//! the random programs' shrinker, every candidate checked on both sides.

pub mod go;
pub mod testbed;
pub mod trace;

use crate::random::program::Program;
use collector::PlantedBug;
use go::GoInterpreter;
use trace::{first_difference, side_by_side, Cycle};

/// How one program's two traces compare.
#[derive(Debug)]
pub enum Outcome {
    /// Identical (the trace, the same on both sides).
    Same(Vec<Cycle>),
    /// They differ from collection `at` on.
    Differs {
        /// The first differing collection.
        at: usize,
        /// The testbed's trace.
        testbed: Vec<Cycle>,
        /// Go's trace.
        go: Vec<Cycle>,
    },
    /// The testbed run itself failed (a panic, a lost object, a callback panic).
    Failed(String),
}

impl Outcome {
    /// Whether the program shows a difference (or a failure).
    pub fn differs(&self) -> bool {
        !matches!(self, Outcome::Same(_))
    }

    /// The report: both traces side by side from the first difference.
    pub fn report(&self) -> String {
        match self {
            Outcome::Same(_) => "the traces agree".to_string(),
            Outcome::Differs { at, testbed, go } => format!(
                "the traces differ from collection {at} (* marks differing lines):\n{}",
                side_by_side(testbed, go, *at)
            ),
            Outcome::Failed(e) => format!("the testbed run failed: {e}"),
        }
    }
}

/// Compares the testbed's trace of a program with Go's.
///
/// No difference is excused: the sequential subset has no behaviour where the testbed
/// departs from Go on purpose. The choices SEMANTICS.md lets it make are orders within
/// one batch (S24, S38, S41), which the traces do not record; the cleanup options that
/// depart from Go (standby, eager start, adaptive batches) are off, as by default, and
/// would move no cleanup from one collection to another once both queues are drained
/// after every collection.
pub fn compare(testbed: Result<Vec<Cycle>, String>, go: Vec<Cycle>) -> Outcome {
    match testbed {
        Err(e) => Outcome::Failed(e),
        Ok(testbed) => match first_difference(&testbed, &go) {
            None => Outcome::Same(testbed),
            Some(at) => Outcome::Differs { at, testbed, go },
        },
    }
}

/// Runs `programs` on both sides (Go in one process) and compares each.
pub fn check(
    go: &GoInterpreter,
    programs: &[Program],
    bug: Option<PlantedBug>,
) -> Result<Vec<Outcome>, String> {
    let go_traces = go.run(programs)?;
    Ok(programs
        .iter()
        .zip(go_traces)
        .map(|(p, g)| compare(testbed::run_on_testbed(p, bug), g))
        .collect())
}

/// Deletes operations while the program still differs (each round's candidates run on
/// Go in one process); returns the smallest differing program and its outcome.
pub fn shrink(
    go: &GoInterpreter,
    mut program: Program,
    mut outcome: Outcome,
    bug: Option<PlantedBug>,
) -> Result<(Program, Outcome), String> {
    for _round in 0..200 {
        let candidates = program.shrink_candidates();
        let go_traces = go.run(&candidates)?;
        let found = candidates
            .into_iter()
            .zip(go_traces)
            .map(|(p, g)| {
                let o = compare(testbed::run_on_testbed(&p, bug), g);
                (p, o)
            })
            .find(|(_, o)| o.differs());
        match found {
            Some((p, o)) => (program, outcome) = (p, o),
            None => break,
        }
    }
    Ok((program, outcome))
}
