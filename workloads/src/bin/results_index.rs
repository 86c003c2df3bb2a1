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
    #[arg(long, default_value = "results")]
    results: PathBuf,
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
