//! The command line every workload binary shares: [`Args`], flattened into each binary's
//! own `clap::Parser` with `#[command(flatten)]`; [`parse`], which fills in the defaults
//! that depend on the workload ([`Workload`]: `--out`, `--mutators`, `--duration`); the
//! value parsers; the `HeapConfig` a run's flags ask for ([`Args::heap_config`]); the
//! flags as the `config` object of `summary.json` ([`Args::config_json`]); and
//! [`with_barrier!`](crate::with_barrier), which turns a `--barrier` value into the
//! heap's barrier type parameter.
//!
//! Every invalid value is a usage error: clap prints `error: invalid value …` with the
//! reason on stderr and the process exits with status 2, before any work or output.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
pub use collector::{BarrierKind, Dijkstra, GoHybrid, Hybrid, NoBarrier, Yuasa};
use collector::{CleanupBatches, Gogc, HeapConfig, LeakCheck};
use serde_json::{Map, Value};
use std::fmt;
use std::path::PathBuf;

/// The flags every workload binary takes. The same struct is the `config` object of
/// `summary.json` (serialised by serde: each flag under its own name, `--gogc`,
/// `--barrier`, `--cleanup-batches` and the worker counts as their command-line
/// spellings). The defaults are Go 1.27's; the testbed's cleanup improvements are
/// switched on with `--cleanup-standby`, `--cleanup-eager-start` and
/// `--cleanup-batches adaptive`.
#[derive(clap::Args, serde::Serialize, Clone, Debug)]
pub struct Args {
    /// GOGC: the heap growth (percent of the live heap) that triggers a cycle, or "off".
    #[arg(long, default_value = "100", value_name = "N|off", value_parser = parse_gogc, allow_negative_numbers = true)]
    #[serde(serialize_with = "as_text")]
    pub gogc: Gogc,
    /// The write barrier: go-hybrid (Go 1.27's: old and new shaded on every store while
    /// marking), hybrid (Go's as designed, which Go 1.27 does not implement: no new
    /// pointer once the writer's roots are scanned), dijkstra, yuasa, or none (an
    /// ablation that can lose objects).
    #[arg(long, default_value = "go-hybrid", value_name = "go-hybrid|hybrid|dijkstra|yuasa|none",
          value_parser = parse_barrier)]
    #[serde(serialize_with = "as_text")]
    pub barrier: BarrierKind,
    /// Collect in one stop-the-world pause per cycle (Go's gcstoptheworld=1) instead of
    /// marking concurrently between two short pauses (the default).
    #[arg(long)]
    pub stw: bool,
    /// Mutator threads, each with its own collector::Mutator.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_mutators, allow_negative_numbers = true)]
    pub mutators: usize,
    /// Background mark workers of a concurrent cycle: a count (0 = mark assists only), or
    /// "auto" for Go's 25% rule.
    #[arg(long, default_value = "auto", value_name = "N|auto", value_parser = parse_workers, allow_negative_numbers = true)]
    #[serde(serialize_with = "as_text")]
    pub mark_workers: Workers,
    /// The most cleanup worker threads (at least 1), or "auto" for Go's
    /// max(GOMAXPROCS/4, 1). As in Go they start lazily: one with the first registration,
    /// more only inside a later one, once queued work outnumbered the idle workers.
    #[arg(long, default_value = "auto", value_name = "N|auto", value_parser = parse_cleanup_workers, allow_negative_numbers = true)]
    #[serde(serialize_with = "as_text")]
    pub cleanup_workers: Workers,
    /// The testbed's improvement: start all cleanup workers with the first registration
    /// (Go starts further ones only inside a later AddCleanup).
    #[arg(long)]
    pub cleanup_eager_start: bool,
    /// The testbed's improvement: a standby cleanup thread that takes queued cleanups
    /// after 1 ms without progress, so a slow cleanup does not hold up the rest (Go has
    /// none).
    #[arg(long)]
    pub cleanup_standby: bool,
    /// What a cleanup worker takes at a time: "go" (Go's blocks of 20, run in order) or
    /// "adaptive" (the testbed's improvement: one at a time with several workers, growing
    /// batches of up to 64 with one).
    #[arg(long, default_value = "go", value_name = "go|adaptive", value_parser = parse_cleanup_batches)]
    #[serde(serialize_with = "as_text")]
    pub cleanup_batches: CleanupBatches,
    /// A hard cap on the heap, in bytes (suffixes KiB, MiB, GiB): an allocation past it
    /// fails instead of growing the heap. Default: no cap.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, allow_negative_numbers = true)]
    pub heap_limit: Option<usize>,
    /// Go's soft memory limit (GOMEMLIMIT), in bytes (suffixes KiB, MiB, GiB): the pacer
    /// lowers the goal to stay under it. Default: none.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, allow_negative_numbers = true)]
    pub memory_limit: Option<usize>,
    /// GOMAXPROCS: the most threads that mark at once (default: all cores).
    #[arg(long, default_value_t = collector::default_gomaxprocs(), value_name = "N",
          value_parser = parse_gomaxprocs, allow_negative_numbers = true)]
    pub gomaxprocs: usize,
    /// Seconds to run (a positive number).
    #[arg(long, value_name = "SECS", value_parser = parse_duration, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Seed of the workload's random numbers.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub seed: u64,
    /// Re-trace every cycle's mark (Go's gccheckmark) and poison freed slots; a lost
    /// object makes the exit status 1.
    #[arg(long)]
    pub verify: bool,
    /// After the workload drops every handle, run two full cycles and report what is still
    /// reachable as leaked (a leak makes the exit status 1).
    #[arg(long)]
    pub check_leaks: bool,
    /// Ask the collector for a Go-style gctrace line per cycle on stderr (gctrace.log in
    /// the report is written either way).
    #[arg(long)]
    pub gctrace: bool,
    /// Record each thread's timeline (blocked, at a safepoint, marking, sweeping, running
    /// callbacks) into trace.json beside the GC phases and pauses, which it always holds.
    #[arg(long)]
    pub trace: bool,
    /// The report directory (created with its parents).
    #[arg(long, value_name = "DIR")]
    #[serde(serialize_with = "path_text")]
    pub out: PathBuf,
    /// Print summary.json on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no text report (the report files are still written).
    #[arg(long)]
    pub quiet: bool,
}

/// What a binary tells [`parse`] about itself: the defaults and help of the flags whose
/// meaning depends on the workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// The binary's name, as in reports and in the default `--out`
    /// (`results/<name>/latest`).
    pub name: &'static str,
    /// The default `--mutators`.
    pub mutators: usize,
    /// The most mutators the workload can use (`None`: no limit); more is a usage error.
    pub max_mutators: Option<usize>,
    /// How the workload treats `--duration`.
    pub duration: DurationUse,
}

/// How a workload treats `--duration`.
#[derive(Clone, Copy, Debug)]
pub enum DurationUse {
    /// The workload runs for the duration; the string is its default in seconds.
    Default(&'static str),
    /// Optional; the string is the help text saying what it changes.
    Optional(&'static str),
    /// Accepted (and validated) but ignored; the string says what sizes the workload.
    Ignored(&'static str),
}

/// A worker count or Go's automatic choice (`None`), as `--mark-workers` and
/// `--cleanup-workers` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers(pub Option<usize>);

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("auto"),
        }
    }
}

/// Parses a binary's command line: `P`'s flags, [`Args`] among them, with `workload`'s
/// defaults filled in. On a usage error it prints clap's message on stderr and exits with
/// status 2 (`--help` and `--version` exit 0).
pub fn parse<P: Parser>(workload: &Workload) -> P {
    parse_from(workload, std::env::args_os())
}

/// [`parse`] over the given arguments (the first is the program name).
pub fn parse_from<P: Parser, I, T>(workload: &Workload, args: I) -> P
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command::<P>(workload);
    let mut matches = cmd.clone().get_matches_from(args);
    P::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// `P`'s `clap::Command` with `workload`'s defaults and help for the shared flags.
pub fn command<P: CommandFactory>(workload: &Workload) -> clap::Command {
    // clap keeps default values as `&'static str`; a binary parses its arguments once.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let out = leak(format!("results/{}/latest", workload.name));
    let (default_mutators, max) = (workload.mutators, workload.max_mutators);
    let mut cmd = P::command()
        .mut_arg("out", |a| a.required(false).default_value(out))
        .mut_arg("mutators", |a| {
            let a = a
                .default_value(leak(default_mutators.to_string()))
                .value_parser(move |s: &str| {
                    let n = parse_mutators(s)?;
                    match max {
                        Some(max) if n > max => Err(format!(
                            "this workload runs at most {max} mutator(s), not {n}"
                        )),
                        _ => Ok(n),
                    }
                });
            match max {
                Some(1) => a.help("Mutator threads: this workload runs on one."),
                _ => a,
            }
        });
    cmd = match workload.duration {
        DurationUse::Default(secs) => cmd.mut_arg("duration", |a| {
            a.default_value(secs)
                .help("Seconds to run (a positive number).")
        }),
        DurationUse::Optional(help) => cmd.mut_arg("duration", |a| a.help(help)),
        DurationUse::Ignored(why) => cmd.mut_arg("duration", |a| {
            a.help(leak(format!("Ignored (validated only): {why}.")))
        }),
    };
    cmd
}

/// A usage error found after parsing (a combination clap cannot check): prints it as
/// clap prints usage errors and exits with status 2.
pub fn usage_error<P: CommandFactory>(workload: &Workload, message: &str) -> ! {
    command::<P>(workload)
        .error(ErrorKind::ValueValidation, message)
        .exit()
}

impl Args {
    /// The heap configuration these flags ask for (`--duration`, `--seed` and the report
    /// flags are not the heap's).
    pub fn heap_config(&self) -> HeapConfig {
        HeapConfig {
            gogc: self.gogc,
            verify: self.verify,
            concurrent: !self.stw,
            gomaxprocs: self.gomaxprocs,
            mark_workers: self.mark_workers.0,
            heap_limit: self.heap_limit,
            memory_limit: self.memory_limit,
            gctrace: self.gctrace,
            trace: self.trace,
            leak_check: if self.check_leaks {
                LeakCheck::Report
            } else {
                LeakCheck::Off
            },
            cleanup_workers: self.cleanup_workers.0,
            cleanup_eager_start: self.cleanup_eager_start,
            cleanup_standby: self.cleanup_standby,
            cleanup_batches: self.cleanup_batches,
            ..HeapConfig::default()
        }
    }

    /// Every shared flag, defaults included, as `summary.json`'s `config` object: the
    /// flag's name with `_` for `-`; GOGC, the barrier and the worker counts as they are
    /// spelled on the command line (`"100"`, `"off"`, `"hybrid"`, `"auto"`), sizes in
    /// bytes or `null`, `duration` in seconds or `null`. A binary adds its own flags.
    pub fn config_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            other => unreachable!("Args serialises to an object, not {other:?}"),
        }
    }
}

/// Serialises a flag value as its command-line spelling.
fn as_text<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Serialises a path as text (lossily, should it not be UTF-8).
fn path_text<S: serde::Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

/// Runs `$body::<B>(args…)` with `B` the barrier type named by a [`BarrierKind`] value,
/// so that a workload generic over `B: Barrier` runs on the heap `--barrier` asked for:
/// `with_barrier!(args.barrier, run(&cli))` calls `run::<Hybrid>(&cli)` for `hybrid`.
#[macro_export]
macro_rules! with_barrier {
    ($kind:expr, $body:ident ( $($arg:expr),* $(,)? )) => {
        match $kind {
            $crate::harness::cli::BarrierKind::Hybrid => {
                $body::<$crate::harness::cli::Hybrid>($($arg),*)
            }
            $crate::harness::cli::BarrierKind::GoHybrid => {
                $body::<$crate::harness::cli::GoHybrid>($($arg),*)
            }
            $crate::harness::cli::BarrierKind::Dijkstra => {
                $body::<$crate::harness::cli::Dijkstra>($($arg),*)
            }
            $crate::harness::cli::BarrierKind::Yuasa => {
                $body::<$crate::harness::cli::Yuasa>($($arg),*)
            }
            $crate::harness::cli::BarrierKind::None => {
                $body::<$crate::harness::cli::NoBarrier>($($arg),*)
            }
        }
    };
}

/// `--gogc`: Go's spellings (a non-negative percentage, `off`, or a negative number).
pub fn parse_gogc(s: &str) -> Result<Gogc, String> {
    s.parse()
}

/// `--barrier`: `hybrid`, `go-hybrid`, `dijkstra`, `yuasa` or `none`.
pub fn parse_barrier(s: &str) -> Result<BarrierKind, String> {
    s.parse()
}

/// `--mutators`: an integer in `1..=1024`.
pub fn parse_mutators(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid mutator count {s:?}: expected an integer in 1..=1024"
        )),
    }
}

/// `--cleanup-workers`: `auto` or an integer in `1..=1024` (a heap has at least one
/// cleanup worker).
pub fn parse_cleanup_workers(s: &str) -> Result<Workers, String> {
    match parse_workers(s) {
        Ok(Workers(Some(0))) | Err(_) => Err(format!(
            "invalid worker count {s:?}: expected \"auto\" or an integer in 1..=1024"
        )),
        ok => ok,
    }
}

/// `--cleanup-batches`: `go` or `adaptive`.
pub fn parse_cleanup_batches(s: &str) -> Result<CleanupBatches, String> {
    s.parse()
}

/// `--mark-workers`: `auto` or an integer in `0..=1024`.
pub fn parse_workers(s: &str) -> Result<Workers, String> {
    let t = s.trim();
    if t == "auto" {
        return Ok(Workers(None));
    }
    match t.parse::<usize>() {
        Ok(n) if n <= 1024 => Ok(Workers(Some(n))),
        _ => Err(format!(
            "invalid worker count {s:?}: expected \"auto\" or an integer in 0..=1024"
        )),
    }
}

/// `--gomaxprocs`: an integer in `1..=1024`.
pub fn parse_gomaxprocs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid GOMAXPROCS {s:?}: expected an integer in 1..=1024"
        )),
    }
}

/// The longest `--duration`: a year, in seconds. A workload turns the duration into a
/// `std::time::Duration` and adds it (twice, for a deadline) to an `Instant`, which
/// panics far beyond this.
pub const MAX_DURATION_S: f64 = 365.0 * 24.0 * 3600.0;

/// `--duration`: a number of seconds greater than zero and at most [`MAX_DURATION_S`].
pub fn parse_duration(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= MAX_DURATION_S => Ok(v),
        _ => Err(format!(
            "invalid duration {s:?}: expected a number of seconds greater than 0 and at \
             most {MAX_DURATION_S} (a year)"
        )),
    }
}

/// `--heap-limit` and `--memory-limit`: a positive number of bytes, plain (`1048576`) or
/// with a binary suffix `KiB`, `MiB` or `GiB` (`64MiB`, `1.5 GiB`; any letter case; a
/// fraction is rounded down to whole bytes).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let bad = || {
        format!("invalid size {s:?}: expected a positive number of bytes, optionally with a KiB, MiB or GiB suffix")
    };
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, suffix) = (t[..split].trim(), &t[split..]);
    let scale: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = if suffix.is_empty() || !number.contains('.') {
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
    } else {
        let v = number.parse::<f64>().ok().filter(|v| v.is_finite());
        v.map(|v| v * scale as f64)
            .filter(|b| *b < u64::MAX as f64)
            .map(|b| b as u64)
    };
    match bytes.and_then(|b| usize::try_from(b).ok()) {
        Some(b) if b > 0 => Ok(b),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    #[derive(Parser, Debug)]
    #[command(name = "probe")]
    struct Probe {
        #[command(flatten)]
        common: Args,
    }

    const PROBE: Workload = Workload {
        name: "probe",
        mutators: 2,
        max_mutators: None,
        duration: DurationUse::Default("2"),
    };

    fn try_parse(args: &[&str]) -> Result<Probe, clap::Error> {
        let argv = std::iter::once("probe").chain(args.iter().copied());
        let matches = command::<Probe>(&PROBE).try_get_matches_from(argv)?;
        Probe::from_arg_matches(&matches)
    }

    #[test]
    fn defaults_follow_the_workload() {
        let a = try_parse(&[]).unwrap().common;
        assert_eq!(a.out, PathBuf::from("results/probe/latest"));
        assert_eq!((a.mutators, a.duration, a.seed), (2, Some(2.0), 1));
        assert_eq!(
            (a.gogc, a.barrier),
            (Gogc::Percent(100), BarrierKind::GoHybrid)
        );
        let c = a.heap_config();
        assert!(c.concurrent && !c.verify && c.mark_workers.is_none());
        assert_eq!(c.heap_limit, None);
        let config = a.config_json();
        assert_eq!(config["gogc"], "100");
        assert_eq!(config["mark_workers"], "auto");
        assert_eq!(config["heap_limit"], Value::Null);
        // The cleanup runner's defaults are Go's (S40, S41).
        assert_eq!(config["cleanup_standby"], false);
        assert_eq!(config["cleanup_eager_start"], false);
        assert_eq!(config["cleanup_batches"], "go");
        assert!(!c.cleanup_standby && !c.cleanup_eager_start);
        assert_eq!(c.cleanup_batches, CleanupBatches::Go);
        assert_eq!(config["trace"], false);
        assert_eq!(config.len(), 21);
    }

    #[test]
    fn every_flag_reaches_the_config() {
        let a = try_parse(&[
            "--gogc=off",
            "--barrier",
            "yuasa",
            "--stw",
            "--mutators",
            "3",
            "--mark-workers",
            "0",
            "--cleanup-workers",
            "4",
            "--heap-limit",
            "64MiB",
            "--memory-limit",
            "1.5GiB",
            "--gomaxprocs",
            "2",
            "--duration",
            "0.25",
            "--seed",
            "7",
            "--verify",
            "--check-leaks",
            "--trace",
            "--gctrace",
            "--cleanup-standby",
            "--cleanup-eager-start",
            "--cleanup-batches",
            "adaptive",
            "--out",
            "/tmp/x",
        ])
        .unwrap()
        .common;
        let c = a.heap_config();
        assert_eq!(c.gogc, Gogc::Off);
        assert!(!c.concurrent && c.verify && c.gctrace && c.trace);
        assert_eq!(c.mark_workers, Some(0));
        assert_eq!(c.heap_limit, Some(64 << 20));
        assert_eq!(c.memory_limit, Some(3 << 29));
        assert_eq!(c.gomaxprocs, 2);
        assert_eq!(a.cleanup_workers, Workers(Some(4)));
        assert!(c.cleanup_standby && c.cleanup_eager_start);
        assert_eq!(c.cleanup_batches, CleanupBatches::Adaptive);
        assert_eq!(a.config_json()["cleanup_batches"], "adaptive");
        assert_eq!((a.mutators, a.duration, a.seed), (3, Some(0.25), 7));
        assert_eq!(a.config_json()["barrier"], "yuasa");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--gogc", "fast"][..],
            &["--barrier", "steele"],
            &["--mutators", "0"],
            &["--mark-workers", "-1"],
            &["--cleanup-workers", "many"],
            &["--heap-limit", "12XB"],
            &["--memory-limit", "0"],
            &["--gomaxprocs", "0"],
            &["--duration", "0"],
            &["--duration", "nan"],
            &["--seed", "-1"],
            &["--concurrent"],
        ] {
            let e = try_parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        let limited = Workload {
            max_mutators: Some(1),
            ..PROBE
        };
        let argv = ["probe", "--mutators", "2"];
        let e = command::<Probe>(&limited)
            .try_get_matches_from(argv)
            .unwrap_err();
        assert!(e.to_string().contains("at most 1 mutator"), "{e}");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("4KiB"), Ok(4096));
        assert_eq!(parse_bytes("2 mib"), Ok(2 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("0.5KiB"), Ok(512));
        for bad in [
            "",
            "0",
            "-1",
            "1.5",
            "1KB",
            "MiB",
            "1e3",
            "99999999999GiB",
            "x",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_workers("auto"), Ok(Workers(None)));
        assert_eq!(parse_cleanup_workers("auto"), Ok(Workers(None)));
        assert_eq!(parse_cleanup_workers("2"), Ok(Workers(Some(2))));
        assert!(parse_cleanup_workers("0").is_err());
        assert_eq!(Workers(Some(3)).to_string(), "3");
        assert!(parse_duration("inf").is_err());
        assert_eq!(parse_duration("31536000"), Ok(MAX_DURATION_S));
        for bad in ["31536000.5", "1e300", "-0", "NaN"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("at most 31536000 (a year)"), "{err}");
        }
    }
}
