//! Bad input on every workload binary: every flag given an invalid value exits with
//! status 2 and a clear message, and an unusable `--out` is a clear error that leaves
//! nothing behind.
//!
//! - [`BINARIES`] lists every binary in `src/bin` (checked against the directory) with
//!   every one of its own flags (checked against its `--help`), each with invalid values:
//!   the wrong type, out of range, zero where it makes no sense, negative, an unknown
//!   enum variant. Generated for every flag that takes a value: the value missing, and
//!   an empty value; for every switch: a value given to it.
//! - [`SHARED`]: the harness's flags, with invalid values, on every binary built on the
//!   harness; [`UNKNOWN`]: flags no binary has, on every binary.
//! - Each of those exits with status 2, says `error:` and names the flag on stderr (and
//!   the problem, where the table says what), prints nothing on stdout, and writes
//!   nothing: it runs in an empty scratch directory (where the default `--out` would
//!   land) with `--out` inside it, and the directory stays empty.
//! - An unusable `--out` on every harness binary (a path under a regular file, a regular
//!   file, a name too long after two new parents, paths in `/proc`, a dangling symlink, a
//!   read-only directory when the tests do not run privileged): exit status 2 (the
//!   harness creates and checks the directory before any work), "cannot create the
//!   output directory" and the cause on stderr, nothing on stdout even with `--json`,
//!   and nothing left behind (the parents it created on the way are removed again).
//!   allocbench, rootsbench, markbench and barrier-fastpath write no report: `--out` is an unknown
//!   flag there, checked with the other unknown flags.
//!
//! No workload runs: every case is refused before any work (each run still gets the
//! binary's tiny sizes, so that a case that is not refused ends quickly and fails).

mod common;

use common::{names, run_in, Scratch};
use std::collections::BTreeSet;
use std::path::Path;

/// A flag and the invalid values it is checked with: `(value, what stderr says besides
/// the flag's name)`.
struct Flag {
    name: &'static str,
    /// Whether it takes a value (`false`: a switch).
    takes_value: bool,
    bad: &'static [(&'static str, &'static str)],
}

const fn value(name: &'static str, bad: &'static [(&'static str, &'static str)]) -> Flag {
    Flag {
        name,
        takes_value: true,
        bad,
    }
}

const fn switch(name: &'static str) -> Flag {
    Flag {
        name,
        takes_value: false,
        bad: &[],
    }
}

/// A case of its own: the arguments, and what stderr says (the first argument's flag is
/// named too).
type Case = (&'static [&'static str], &'static str);

struct Binary {
    name: &'static str,
    path: &'static str,
    /// Built on the harness: takes [`SHARED`] and writes its report into `--out`.
    harness: bool,
    /// Its own flags, every one (the harness's are in [`SHARED`]).
    own: &'static [Flag],
    /// Usage errors of its own beyond bad values: a limit it sets on a shared flag, a
    /// combination it refuses.
    extra: &'static [Case],
    /// Tiny sizes, so that a run that is not refused as it should be ends quickly.
    tiny: &'static [(&'static str, &'static str)],
}

/// "`N` is not in `a..=b`", clap's range message.
const RANGE: &str = "is not in";
const NOT_A_NUMBER: &str = "invalid digit found in string";
const TOO_LARGE: &str = "number too large to fit in target type";
const SIZE: &str = "invalid size";
const ONE_MUTATOR: &[Case] = &[(&["--mutators", "2"], "this workload runs at most 1 mutator")];

const BINARIES: &[Binary] = &[
    Binary {
        name: "allocbench",
        path: env!("CARGO_BIN_EXE_allocbench"),
        harness: false,
        own: &[
            value(
                "--objects",
                &[
                    ("0", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1.5", NOT_A_NUMBER),
                    ("18446744073709551616", TOO_LARGE),
                ],
            ),
            value(
                "--runs",
                &[("0", RANGE), ("-3", NOT_A_NUMBER), ("many", NOT_A_NUMBER)],
            ),
            value(
                "--only",
                &[("gc", "possible values: scope, handle, mimalloc")],
            ),
            value(
                "--shape",
                &[("3", RANGE), ("-1", RANGE), ("one", NOT_A_NUMBER)],
            ),
            switch("--json"),
        ],
        extra: &[],
        tiny: &[("--objects", "10"), ("--runs", "1")],
    },
    Binary {
        name: "barrier-ablation",
        path: env!("CARGO_BIN_EXE_barrier-ablation"),
        harness: true,
        own: &[
            value(
                "--nodes",
                &[
                    ("15", "15 is not in 16..=1000000"),
                    ("0", RANGE),
                    ("1000001", RANGE),
                    ("-16", NOT_A_NUMBER),
                    ("lots", NOT_A_NUMBER),
                ],
            ),
            value(
                "--driven-rounds",
                &[
                    ("100001", "100001 is not in 0..=100000"),
                    ("-1", NOT_A_NUMBER),
                    ("some", NOT_A_NUMBER),
                ],
            ),
        ],
        extra: &[],
        tiny: &[
            ("--nodes", "16"),
            ("--driven-rounds", "1"),
            ("--duration", "0.1"),
            ("--mutators", "1"),
        ],
    },
    Binary {
        name: "barrier-fastpath",
        path: env!("CARGO_BIN_EXE_barrier-fastpath"),
        harness: false,
        own: &[
            value(
                "--barrier",
                &[
                    (
                        "steele",
                        "expected one of hybrid, go-hybrid, dijkstra, yuasa, none",
                    ),
                    ("HYBRID", "invalid barrier"),
                ],
            ),
            value(
                "--stores",
                &[
                    ("-1", NOT_A_NUMBER),
                    ("1000000000001", RANGE),
                    ("1e6", NOT_A_NUMBER),
                    ("18446744073709551616", TOO_LARGE),
                ],
            ),
            value(
                "--loads",
                &[
                    ("-1", NOT_A_NUMBER),
                    ("1000000000001", RANGE),
                    ("1.5", NOT_A_NUMBER),
                ],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
            switch("--json"),
        ],
        extra: &[],
        tiny: &[("--stores", "10"), ("--loads", "10")],
    },
    Binary {
        name: "binary-trees",
        path: env!("CARGO_BIN_EXE_binary-trees"),
        harness: true,
        own: &[
            value(
                "--depth",
                &[
                    ("3", "3 is not in 4..=24"),
                    ("25", RANGE),
                    ("-4", "-4 is not in 4..=24"),
                    ("4.5", NOT_A_NUMBER),
                ],
            ),
            value(
                "--iterations",
                &[("0", RANGE), ("-1", NOT_A_NUMBER), ("once", NOT_A_NUMBER)],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
        ],
        extra: &[],
        tiny: &[("--depth", "4"), ("--mutators", "1")],
    },
    Binary {
        name: "binary-trees-rayon",
        path: env!("CARGO_BIN_EXE_binary-trees-rayon"),
        harness: true,
        own: &[
            value(
                "--depth",
                &[
                    ("3", "3 is not in 4..=24"),
                    ("25", RANGE),
                    ("-4", "-4 is not in 4..=24"),
                    ("4.5", NOT_A_NUMBER),
                ],
            ),
            value(
                "--iterations",
                &[("0", RANGE), ("-1", NOT_A_NUMBER), ("once", NOT_A_NUMBER)],
            ),
        ],
        extra: &[],
        tiny: &[("--depth", "4"), ("--mutators", "1")],
    },
    Binary {
        name: "cleanupbench",
        path: env!("CARGO_BIN_EXE_cleanupbench"),
        harness: true,
        own: &[
            value(
                "--objects",
                &[
                    ("0", RANGE),
                    ("100000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1e6", NOT_A_NUMBER),
                ],
            ),
            value(
                "--work-us",
                &[
                    ("1000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1ms", NOT_A_NUMBER),
                ],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
        ],
        extra: ONE_MUTATOR,
        tiny: &[("--objects", "10")],
    },
    Binary {
        name: "cycles",
        path: env!("CARGO_BIN_EXE_cycles"),
        harness: true,
        own: &[value(
            "--rounds",
            &[
                ("0", RANGE),
                ("1001", RANGE),
                ("-1", NOT_A_NUMBER),
                ("few", NOT_A_NUMBER),
            ],
        )],
        extra: ONE_MUTATOR,
        tiny: &[("--rounds", "1")],
    },
    Binary {
        name: "exit-flush",
        path: env!("CARGO_BIN_EXE_exit-flush"),
        harness: true,
        own: &[
            value(
                "--flush",
                &[
                    ("maybe", "[possible values: explicit, finalizer, queued]"),
                    ("Explicit", "[possible values: explicit, finalizer, queued]"),
                ],
            ),
            value(
                "--bytes",
                &[
                    ("0", SIZE),
                    ("-1", SIZE),
                    ("12XB", SIZE),
                    ("99999999999GiB", SIZE),
                ],
            ),
            value(
                "--buffer",
                &[
                    ("0", SIZE),
                    ("999", "the buffer must hold at least one 1000-byte write"),
                    ("-4096", SIZE),
                    ("1.5", SIZE),
                ],
            ),
        ],
        extra: &[
            (&["--mutators", "2"], "this workload runs at most 1 mutator"),
            (
                &["--check-leaks"],
                "exit-flush shuts its heap down at exit, so --check-leaks cannot run",
            ),
        ],
        tiny: &[("--bytes", "1000")],
    },
    Binary {
        name: "fd-churn",
        path: env!("CARGO_BIN_EXE_fd-churn"),
        harness: true,
        own: &[
            value(
                "--objects",
                &[("0", RANGE), ("100000001", RANGE), ("-1", NOT_A_NUMBER)],
            ),
            value(
                "--release",
                &[
                    ("never", "[possible values: explicit, finalizer, cleanup]"),
                    ("1", "[possible values: explicit, finalizer, cleanup]"),
                ],
            ),
            value(
                "--payload-words",
                &[("4097", RANGE), ("-1", NOT_A_NUMBER), ("8.5", NOT_A_NUMBER)],
            ),
            value(
                "--idle-ms",
                &[
                    ("600001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("0.5", NOT_A_NUMBER),
                ],
            ),
            value(
                "--sample-ms",
                &[("0", RANGE), ("10001", RANGE), ("-1", NOT_A_NUMBER)],
            ),
        ],
        extra: ONE_MUTATOR,
        tiny: &[("--objects", "10")],
    },
    Binary {
        name: "finalizer-chain",
        path: env!("CARGO_BIN_EXE_finalizer-chain"),
        harness: true,
        own: &[
            value(
                "--length",
                &[
                    ("0", RANGE),
                    ("1000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("long", NOT_A_NUMBER),
                ],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
        ],
        extra: ONE_MUTATOR,
        tiny: &[("--length", "2")],
    },
    Binary {
        name: "finbench",
        path: env!("CARGO_BIN_EXE_finbench"),
        harness: true,
        own: &[
            value(
                "--objects",
                &[
                    ("0", RANGE),
                    ("100000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1M", NOT_A_NUMBER),
                ],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
        ],
        extra: ONE_MUTATOR,
        tiny: &[("--objects", "10")],
    },
    Binary {
        name: "gcbench",
        path: env!("CARGO_BIN_EXE_gcbench"),
        harness: true,
        own: &[value("--api", &[("gc", "possible values: handle, scope")])],
        extra: ONE_MUTATOR,
        // GCBench's size is fixed (about a second).
        tiny: &[],
    },
    Binary {
        name: "head-of-line",
        path: env!("CARGO_BIN_EXE_head-of-line"),
        harness: true,
        own: &[
            value(
                "--quick",
                &[("0", RANGE), ("10000001", RANGE), ("-1", NOT_A_NUMBER)],
            ),
            value(
                "--slow-ms",
                &[
                    ("600001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1.5", NOT_A_NUMBER),
                ],
            ),
        ],
        extra: ONE_MUTATOR,
        tiny: &[("--quick", "1"), ("--slow-ms", "0")],
    },
    Binary {
        name: "intern",
        path: env!("CARGO_BIN_EXE_intern"),
        harness: true,
        own: &[
            value(
                "--sample-every",
                &[
                    ("0", RANGE),
                    ("1000000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("often", NOT_A_NUMBER),
                ],
            ),
            value(
                "--rate",
                &[
                    ("10000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("fast", NOT_A_NUMBER),
                ],
            ),
            value(
                "--value-words",
                &[("1", RANGE), ("4097", RANGE), ("-2", RANGE)],
            ),
            value(
                "--cleanup-work-us",
                &[
                    ("1000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("0.5", NOT_A_NUMBER),
                ],
            ),
            value(
                "--sample-ms",
                &[("0", RANGE), ("60001", RANGE), ("-1", NOT_A_NUMBER)],
            ),
        ],
        extra: &[],
        tiny: &[("--duration", "0.1"), ("--mutators", "1")],
    },
    Binary {
        name: "lru",
        path: env!("CARGO_BIN_EXE_lru"),
        harness: true,
        own: &[
            value(
                "--rate",
                &[
                    ("0", RANGE),
                    ("10000001", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("1e3", NOT_A_NUMBER),
                ],
            ),
            value(
                "--capacity",
                &[("0", RANGE), ("100000001", RANGE), ("-1", NOT_A_NUMBER)],
            ),
            value(
                "--keys",
                &[
                    ("0", RANGE),
                    ("-1", NOT_A_NUMBER),
                    ("18446744073709551616", TOO_LARGE),
                ],
            ),
            value(
                "--dist",
                &[
                    ("pareto", "[possible values: zipf, uniform]"),
                    ("ZIPF", "[possible values: zipf, uniform]"),
                ],
            ),
            value(
                "--writes",
                &[
                    ("101", RANGE),
                    ("-1", RANGE),
                    ("256", RANGE),
                    ("1%", NOT_A_NUMBER),
                ],
            ),
            value(
                "--value-words",
                &[
                    ("2", "2 is not in 3..=4096"),
                    ("4097", RANGE),
                    ("-3", RANGE),
                ],
            ),
            value("--api", &[("gc", "possible values: handle, scope")]),
            value(
                "--give-up",
                &[
                    ("0", "invalid duration"),
                    ("NaN", "invalid duration"),
                    ("2s", "invalid duration"),
                ],
            ),
        ],
        extra: &[],
        tiny: &[
            ("--duration", "0.1"),
            ("--mutators", "1"),
            ("--rate", "100"),
        ],
    },
    Binary {
        name: "results-index",
        path: env!("CARGO_BIN_EXE_results-index"),
        harness: false,
        own: &[value("--results", &[("nowhere", "not a directory")])],
        extra: &[],
        tiny: &[],
    },
    Binary {
        name: "resurrection",
        path: env!("CARGO_BIN_EXE_resurrection"),
        harness: true,
        own: &[value(
            "--rounds",
            &[
                ("1", "1 is not in 2..=1000"),
                ("0", RANGE),
                ("1001", RANGE),
                ("-2", NOT_A_NUMBER),
            ],
        )],
        extra: ONE_MUTATOR,
        tiny: &[("--rounds", "2")],
    },
    Binary {
        name: "rootsbench",
        path: env!("CARGO_BIN_EXE_rootsbench"),
        harness: false,
        own: &[
            value(
                "--cycles",
                &[("0", RANGE), ("-1", NOT_A_NUMBER), ("x", NOT_A_NUMBER)],
            ),
            switch("--json"),
        ],
        extra: &[],
        tiny: &[("--cycles", "1")],
    },
    Binary {
        name: "markbench",
        path: env!("CARGO_BIN_EXE_markbench"),
        harness: false,
        own: &[
            value(
                "--depth",
                &[
                    ("0", RANGE),
                    ("25", RANGE),
                    ("-1", RANGE),
                    ("x", NOT_A_NUMBER),
                ],
            ),
            value(
                "--cycles",
                &[("0", RANGE), ("-1", NOT_A_NUMBER), ("x", NOT_A_NUMBER)],
            ),
            switch("--stw"),
            value(
                "--gomaxprocs",
                &[
                    ("0", "invalid GOMAXPROCS"),
                    ("1025", "expected an integer in 1..=1024"),
                    ("all", "invalid GOMAXPROCS"),
                ],
            ),
            switch("--json"),
        ],
        extra: &[],
        tiny: &[("--depth", "1"), ("--cycles", "1")],
    },
];

/// The harness's flags (`workloads::harness::cli::Args`), on every harness binary.
const SHARED: &[Flag] = &[
    value(
        "--gogc",
        &[
            ("fast", "invalid GOGC value"),
            ("99999999999", "invalid GOGC value"),
            ("1.5", "invalid GOGC value"),
        ],
    ),
    value(
        "--barrier",
        &[
            (
                "steele",
                "expected one of hybrid, go-hybrid, dijkstra, yuasa, none",
            ),
            ("HYBRID", "invalid barrier"),
        ],
    ),
    value(
        "--mutators",
        &[
            ("0", "invalid mutator count"),
            ("-1", "invalid mutator count"),
            ("1025", "expected an integer in 1..=1024"),
            ("two", "invalid mutator count"),
        ],
    ),
    value(
        "--mark-workers",
        &[
            ("many", "invalid worker count"),
            ("-1", "invalid worker count"),
            ("1025", "expected \"auto\" or an integer in 0..=1024"),
        ],
    ),
    value(
        "--cleanup-workers",
        &[
            ("0", "expected \"auto\" or an integer in 1..=1024"),
            ("-1", "invalid worker count"),
            ("1025", "invalid worker count"),
            ("Auto", "invalid worker count"),
        ],
    ),
    value(
        "--cleanup-batches",
        &[
            ("blocks", "invalid cleanup batches"),
            ("Go", "expected \"go\" (Go's blocks of 20) or \"adaptive\""),
        ],
    ),
    value(
        "--heap-limit",
        &[("12XB", SIZE), ("0", SIZE), ("-1", SIZE), ("1.5", SIZE)],
    ),
    value(
        "--memory-limit",
        &[("0", SIZE), ("1KB", SIZE), ("99999999999GiB", SIZE)],
    ),
    value(
        "--gomaxprocs",
        &[
            ("0", "invalid GOMAXPROCS"),
            ("-2", "invalid GOMAXPROCS"),
            ("1025", "expected an integer in 1..=1024"),
            ("all", "invalid GOMAXPROCS"),
        ],
    ),
    value(
        "--duration",
        &[
            ("0", "invalid duration"),
            ("-1", "invalid duration"),
            ("NaN", "invalid duration"),
            ("inf", "invalid duration"),
            ("2s", "invalid duration"),
            ("1e300", "at most 31536000 (a year)"),
            ("31536001", "at most 31536000 (a year)"),
        ],
    ),
    value(
        "--seed",
        &[
            ("x", NOT_A_NUMBER),
            ("-1", NOT_A_NUMBER),
            ("1.5", NOT_A_NUMBER),
            ("18446744073709551616", TOO_LARGE),
        ],
    ),
    // Any path is a valid value; unusable ones are `an_unusable_out_...`'s.
    value("--out", &[]),
    switch("--stw"),
    switch("--cleanup-standby"),
    switch("--cleanup-eager-start"),
    switch("--verify"),
    switch("--check-leaks"),
    switch("--gctrace"),
    switch("--trace"),
    switch("--json"),
    switch("--quiet"),
];

/// Flags no binary has, and what stderr says about each. Outside the harness, the
/// harness's flags are unknown too (see [`check_unknown_harness_flags`]).
const UNKNOWN: &[Case] = &[
    (
        &["--frobnicate"],
        "unexpected argument '--frobnicate' found",
    ),
    (
        &["--concurrent"],
        "unexpected argument '--concurrent' found",
    ),
    (&["-x"], "unexpected argument '-x' found"),
];

fn binary(name: &str) -> &'static Binary {
    BINARIES
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("{name} is in BINARIES"))
}

/// The flag a case's first argument names (`--verify=maybe`: `--verify`).
fn flag_of(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(flag, _)| flag)
}

/// Runs `b` with `args` (after its tiny sizes, less any the case sets itself, and a
/// `--out` inside `scratch` for a harness binary) and asserts a usage error: status 2,
/// `error:`, the flag and `says` on stderr, nothing on stdout, nothing written.
fn assert_refused(b: &Binary, scratch: &Scratch, args: &[&str], says: &str) {
    let flag = flag_of(args[0]);
    let never = scratch.join("never/run");
    let mut all: Vec<&str> = Vec::new();
    for (f, v) in b.tiny {
        if *f != flag {
            all.extend([*f, *v]);
        }
    }
    if b.harness && flag != "--out" {
        all.extend(["--out", never.as_str()]);
    }
    // Last, so that a flag with its value missing is at the end.
    all.extend(args);
    let out = run_in(&scratch.0, b.path, &all);
    let err = String::from_utf8_lossy(&out.stderr);
    let what = format!("{} {args:?}", b.name);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(err.contains("error:"), "{what}: {err}");
    assert!(err.contains(flag), "{what}: stderr names {flag}: {err}");
    assert!(err.contains(says), "{what}: stderr says {says:?}: {err}");
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    assert!(
        names(&scratch.0).is_empty(),
        "{what}: wrote {:?}",
        names(&scratch.0)
    );
}

/// Every case of `flags` on `b`: each bad value; with the value missing and empty when
/// the flag takes one; with a value when it is a switch. Returns how many ran.
fn check_flags(b: &Binary, scratch: &Scratch, flags: &[Flag]) -> usize {
    let mut count = 0;
    for flag in flags {
        let f = flag.name;
        if flag.takes_value {
            for (v, says) in flag.bad {
                assert_refused(b, scratch, &[f, v], says);
            }
            let missing = format!("a value is required for '{f} <");
            assert_refused(b, scratch, &[f], &missing);
            assert_refused(b, scratch, &[f, ""], f);
            count += flag.bad.len() + 2;
        } else {
            let with_value = format!("{f}=yes");
            let says = format!("unexpected value 'yes' for '{f}' found");
            assert_refused(b, scratch, &[&with_value], &says);
            count += 1;
        }
    }
    count
}

/// Outside the harness, its flags are unknown (and so no report is written anywhere).
fn check_unknown_harness_flags(b: &Binary, scratch: &Scratch) -> usize {
    let mut count = 0;
    for flag in ["--out", "--gogc", "--mutators", "--duration"] {
        if b.own.iter().any(|f| f.name == flag) {
            continue;
        }
        let never = scratch.join("never/run");
        let says = format!("unexpected argument '{flag}' found");
        let value = if flag == "--out" { never.as_str() } else { "1" };
        assert_refused(b, scratch, &[flag, value], &says);
        count += 1;
    }
    count
}

/// Runs every bad-value case of `b`; returns how many ran.
fn check_binary(b: &Binary) -> usize {
    let scratch = Scratch::new(&format!("bad-input-{}", b.name));
    let mut count = check_flags(b, &scratch, b.own);
    if b.harness {
        count += check_flags(b, &scratch, SHARED);
    } else {
        count += check_unknown_harness_flags(b, &scratch);
    }
    for (args, says) in b.extra.iter().chain(UNKNOWN) {
        assert_refused(b, &scratch, args, says);
        count += 1;
    }
    count
}

#[test]
fn every_flag_of_every_binary_refuses_invalid_values() {
    let counts: Vec<(&str, usize)> = std::thread::scope(|s| {
        let threads: Vec<_> = BINARIES
            .iter()
            .map(|b| s.spawn(move || (b.name, check_binary(b))))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a binary's checks passed"))
            .collect()
    });
    for (name, count) in counts {
        let b = binary(name);
        // Shown with --nocapture: the coverage per binary.
        eprintln!(
            "{name}: {count} invalid-input cases over {} own flags",
            b.own.len()
        );
        // Each flag at least once; each value flag at least three times (its own bad
        // values, missing, empty).
        let flags: Vec<&Flag> = b
            .own
            .iter()
            .chain(if b.harness { SHARED } else { &[] })
            .collect();
        let least: usize = flags
            .iter()
            .map(|f| if f.takes_value { 3 } else { 1 })
            .sum();
        assert!(
            count >= least,
            "{name}: {count} cases for {} flags",
            flags.len()
        );
    }
}

/// The long flags a binary's `--help` lists, `--help` and `--version` aside.
fn help_flags(b: &Binary) -> BTreeSet<String> {
    let out = run_in(Path::new("."), b.path, &["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", b.name);
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .filter_map(|line| {
            // An option's line: `      --name <V>  help` or `  -h, --name  help`;
            // wrapped help and possible values are indented further.
            let rest = line.strip_prefix("      --").or_else(|| {
                line.strip_prefix("  -")
                    .and_then(|l| l.get(1..)?.strip_prefix(", --"))
            })?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(format!("--{name}"))
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

#[test]
fn the_table_lists_every_binary_and_every_flag() {
    // Every binary in src/bin (a file `a_b.rs` is the binary `a-b`).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            Some(name.strip_suffix(".rs")?.replace('_', "-"))
        })
        .collect();
    let listed: BTreeSet<String> = BINARIES.iter().map(|b| b.name.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "every binary in src/bin has an entry in BINARIES, with its flags"
    );

    let shared: BTreeSet<String> = SHARED.iter().map(|f| f.name.to_string()).collect();
    for b in BINARIES {
        let help = help_flags(b);
        assert!(!help.is_empty(), "{}: no flags found in --help", b.name);
        let own: BTreeSet<String> = if b.harness {
            assert!(help.is_superset(&shared), "{}: {help:?}", b.name);
            help.difference(&shared).cloned().collect()
        } else {
            assert!(!help.contains("--out"), "{}: no report", b.name);
            help
        };
        let declared: BTreeSet<String> = b.own.iter().map(|f| f.name.to_string()).collect();
        assert_eq!(own, declared, "{}: BINARIES lists every flag", b.name);
        for f in b.own {
            assert!(
                !f.takes_value || !f.bad.is_empty(),
                "{}: {} has invalid values of its own",
                b.name,
                f.name
            );
        }
    }
    for f in SHARED {
        assert!(
            !f.takes_value || !f.bad.is_empty() || f.name == "--out",
            "{} has invalid values",
            f.name
        );
    }
}

/// Runs harness binary `b` with `--json --out out` and asserts a clean failure: status
/// 2, "cannot create the output directory" and each of `says` on stderr, nothing on
/// stdout, and `scratch` holding exactly `left` afterwards.
fn assert_out_refused(b: &Binary, scratch: &Scratch, out: &str, says: &[&str], left: &[&str]) {
    let mut args: Vec<&str> = b.tiny.iter().flat_map(|(f, v)| [*f, *v]).collect();
    args.extend(["--json", "--out", out]);
    let run = run_in(&scratch.0, b.path, &args);
    let err = String::from_utf8_lossy(&run.stderr);
    let what = format!("{} --out {out}", b.name);
    assert_eq!(run.status.code(), Some(2), "{what}: {err}");
    assert!(
        err.contains(&format!(
            "{}: cannot create the output directory {out}",
            b.name
        )),
        "{what}: {err}"
    );
    for s in says {
        assert!(err.contains(s), "{what}: stderr says {s:?}: {err}");
    }
    assert!(run.stdout.is_empty(), "{what}: nothing on stdout");
    assert_eq!(names(&scratch.0), left, "{what}: nothing left behind");
}

/// Whether this process can create a file in a directory whose mode forbids it (root).
fn privileged(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let can = std::fs::write(&probe, "x").is_ok();
    let _ = std::fs::remove_file(&probe);
    can
}

fn check_unusable_out(b: &Binary) -> usize {
    let scratch = Scratch::new(&format!("bad-out-{}", b.name));
    let mut count = 0;

    // A path under a regular file: the error names the file, which is left as it was.
    let file = scratch.0.join("plain");
    std::fs::write(&file, "not a directory").unwrap();
    let file_s = file.display().to_string();
    let under = file.join("sub/run").display().to_string();
    assert_out_refused(b, &scratch, &under, &[&file_s], &["plain"]);
    // The regular file itself.
    assert_out_refused(
        b,
        &scratch,
        &file_s,
        &["it exists and is not a directory"],
        &["plain"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
    std::fs::remove_file(&file).unwrap();
    count += 2;

    // Two new parents, then a name longer than any file system allows: the parents it
    // created are removed again.
    let long = scratch.join(&format!("new/deeper/{}", "x".repeat(300)));
    assert_out_refused(b, &scratch, &long, &["xxxx"], &[]);
    count += 1;

    // /proc: a path under a regular file of it, a directory that cannot exist there, and
    // /proc itself, a directory no file can be created in (even by root).
    if Path::new("/proc/version").is_file() {
        assert_out_refused(
            b,
            &scratch,
            "/proc/version/run",
            &["/proc/version/run"],
            &[],
        );
        let nope = "/proc/no-such-gc-testbed-dir/run";
        assert_out_refused(b, &scratch, nope, &["/proc/no-such-gc-testbed-dir"], &[]);
        assert_out_refused(b, &scratch, "/proc", &["it is not writable"], &[]);
        assert!(!Path::new("/proc/no-such-gc-testbed-dir").exists());
        count += 3;
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;

        // A dangling symlink: refused, and its target is not created.
        let link = scratch.0.join("link");
        std::os::unix::fs::symlink(scratch.0.join("nowhere"), &link).unwrap();
        let link_s = link.display().to_string();
        assert_out_refused(b, &scratch, &link_s, &[], &["link"]);
        std::fs::remove_file(&link).unwrap();
        count += 1;

        // A read-only directory: under it, and itself. Root writes through the mode, so
        // this runs only where the mode is enforced.
        let ro = scratch.0.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if !privileged(&ro) {
            let inside = ro.join("run").display().to_string();
            assert_out_refused(b, &scratch, &inside, &[], &["ro"]);
            let ro_s = ro.display().to_string();
            assert_out_refused(b, &scratch, &ro_s, &["it is not writable"], &["ro"]);
            assert!(
                names(&ro).is_empty(),
                "{}: nothing in the read-only dir",
                b.name
            );
            count += 2;
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    count
}

#[test]
fn an_unusable_out_fails_cleanly_on_every_harness_binary() {
    let harness: Vec<&Binary> = BINARIES.iter().filter(|b| b.harness).collect();
    assert_eq!(harness.len(), 14);
    std::thread::scope(|s| {
        let threads: Vec<_> = harness
            .iter()
            .map(|b| s.spawn(move || (b.name, check_unusable_out(b))))
            .collect();
        for t in threads {
            let (name, count) = t.join().expect("a binary's checks passed");
            assert!(count >= 3, "{name}: {count} cases");
        }
    });
}
