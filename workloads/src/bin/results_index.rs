//! Writes `results/index.html` (and `results/compare-ratios.svg`): a static page linking
//! every run's report directory under `results/`, the other result folders, and the
//! testbed beside Go from `results/compare/*/runs.jsonl` (see
//! [`workloads::harness::site`]). Reads only what is committed; runs nothing.
//!
//! `cargo run --release -p workloads --bin results-index -- [--results DIR]`

use clap::Parser;
use std::path::PathBuf;

workloads::use_mimalloc!();

/// Writes the results index page.
#[derive(Parser, Debug)]
#[command(name = "results-index", version, about)]
struct Args {
    /// The results directory to index (the page and the ratio plot are written into it).
    #[arg(long, default_value = "results", value_name = "DIR", value_parser = directory)]
    results: PathBuf,
}

/// A `--results` value: an existing directory.
fn directory(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else {
        Err("not a directory".to_string())
    }
}

fn main() {
    let args = Args::parse();
    match workloads::harness::site::write_site(&args.results) {
        Ok((runs, compared)) => eprintln!(
            "results-index: {} ({runs} runs, {compared} workloads compared with Go)",
            args.results.join("index.html").display()
        ),
        Err(e) => workloads::harness::run::fail("results-index", &e),
    }
}
