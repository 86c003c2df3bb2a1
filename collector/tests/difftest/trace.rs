//! The trace format both sides write (the testbed here, Go in
//! `workloads/go/randprog`), its parser, the comparison and the side-by-side report.
//!
//! A trace is one line per collection: `gc` for a program's own `runtime.GC()`, `final`
//! for the collections after the program ended (registers cleared, global slots kept),
//! run until one changes nothing. Each line lists four sets of numbers:
//!
//! ```text
//! gc fin 0,3 cleanup 1 freed 2,4 weaknil 0
//! ```
//!
//! `fin`: the objects whose finalizer started during that collection (and its drain);
//! `cleanup`: the cleanup registrations (numbered in registration order) that ran;
//! `freed`: the objects freed, observed by a probe cleanup every object gets at
//! allocation; `weaknil`: the weak handles (numbered in creation order) that first read
//! nil after it. Objects are numbered in allocation order. The numbers are sorted: the
//! order within one batch is unspecified in Go (finalizers LIFO, S38; cleanups on one
//! object newest first, S24; blocks in parallel, S41), so sets are compared, not
//! sequences; the order of collections is compared exactly.

use std::fmt;

/// One collection's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cycle {
    /// After the program ended (a `final` line) rather than one of its `gc` operations.
    pub after_end: bool,
    /// Objects whose finalizer started.
    pub fin: Vec<u32>,
    /// Cleanup registrations that ran.
    pub cleanup: Vec<u32>,
    /// Objects freed (their probe cleanup ran).
    pub freed: Vec<u32>,
    /// Weak handles that first read nil.
    pub weak_nil: Vec<u32>,
}

impl Cycle {
    /// Whether anything happened in it.
    pub fn busy(&self) -> bool {
        !(self.fin.is_empty()
            && self.cleanup.is_empty()
            && self.freed.is_empty()
            && self.weak_nil.is_empty())
    }

    /// Sorts every set (they are compared as sets).
    pub fn normalise(mut self) -> Cycle {
        for v in [
            &mut self.fin,
            &mut self.cleanup,
            &mut self.freed,
            &mut self.weak_nil,
        ] {
            v.sort_unstable();
        }
        self
    }

    /// The line's body without its kind.
    fn sets(&self) -> String {
        let ids = |v: &[u32]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            }
        };
        format!(
            "fin {} cleanup {} freed {} weaknil {}",
            ids(&self.fin),
            ids(&self.cleanup),
            ids(&self.freed),
            ids(&self.weak_nil)
        )
    }

    fn kind(&self) -> &'static str {
        if self.after_end {
            "final"
        } else {
            "gc"
        }
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.sets())
    }
}

/// Parses one collection line.
pub fn parse_cycle(line: &str) -> Result<Cycle, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [kind, "fin", fin, "cleanup", cleanup, "freed", freed, "weaknil", weak_nil] = words[..]
    else {
        return Err(format!("not a collection line: {line:?}"));
    };
    let ids = |s: &str| -> Result<Vec<u32>, String> {
        if s == "-" {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(|x| x.parse().map_err(|_| format!("bad id {x:?} in {line:?}")))
            .collect()
    };
    let after_end = match kind {
        "gc" => false,
        "final" => true,
        _ => return Err(format!("not a collection line: {line:?}")),
    };
    Ok(Cycle {
        after_end,
        fin: ids(fin)?,
        cleanup: ids(cleanup)?,
        freed: ids(freed)?,
        weak_nil: ids(weak_nil)?,
    }
    .normalise())
}

/// Parses the interpreter's output: `program SEED`, collection lines, `end`, repeated.
pub fn parse_traces(text: &str) -> Result<Vec<(u64, Vec<Cycle>)>, String> {
    let mut out = Vec::new();
    let mut current: Option<(u64, Vec<Cycle>)> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(seed) = line.strip_prefix("program ") {
            let seed = seed
                .trim()
                .parse()
                .map_err(|_| format!("bad line {line:?}"))?;
            if current.replace((seed, Vec::new())).is_some() {
                return Err(format!("program {seed} began before the last one ended"));
            }
        } else if line == "end" {
            out.push(current.take().ok_or("an end without a program")?);
        } else {
            let (_, cycles) = current
                .as_mut()
                .ok_or(format!("{line:?} outside a program"))?;
            cycles.push(parse_cycle(line)?);
        }
    }
    match current {
        Some((seed, _)) => Err(format!("program {seed} has no end")),
        None => Ok(out),
    }
}

/// The first collection where the two traces differ, if any.
pub fn first_difference(testbed: &[Cycle], go: &[Cycle]) -> Option<usize> {
    (0..testbed.len().max(go.len())).find(|&i| testbed.get(i) != go.get(i))
}

/// Both traces side by side from collection `from` (one line of context before it).
pub fn side_by_side(testbed: &[Cycle], go: &[Cycle], from: usize) -> String {
    let width = testbed
        .iter()
        .chain(go)
        .map(|c| c.sets().len())
        .max()
        .unwrap_or(0)
        .max("testbed".len());
    let mut out = format!("{:>3} {:5}  {:width$} | go\n", "#", "", "testbed");
    for i in from.saturating_sub(1)..testbed.len().max(go.len()) {
        let cell = |c: Option<&Cycle>| c.map_or("(none)".to_string(), Cycle::sets);
        let kind = testbed.get(i).or(go.get(i)).map_or("", Cycle::kind);
        let mark = if testbed.get(i) == go.get(i) {
            ' '
        } else {
            '*'
        };
        out += &format!(
            "{mark}{i:>2} {kind:5}  {:width$} | {}\n",
            cell(testbed.get(i)),
            cell(go.get(i))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_its_sets_are_sorted() {
        let c = parse_cycle("final fin 3,1 cleanup - freed 2 weaknil 0,4").unwrap();
        assert_eq!(c.fin, vec![1, 3]);
        assert!(c.after_end && c.busy());
        assert_eq!(c.to_string(), "final fin 1,3 cleanup - freed 2 weaknil 0,4");
        assert!(parse_cycle("gc fin x cleanup - freed - weaknil -").is_err());
    }
}
