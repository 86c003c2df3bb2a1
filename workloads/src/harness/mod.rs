//! The report writer every workload shares: the `.hgrm` percentile distribution
//! ([`hgrm`]) and HdrHistogram interval logs ([`hlog`]) of latency recorded per second
//! ([`latency`]), minimum and bounded mutator
//! utilization from a pause log ([`mod@mmu`]), SVG plots drawn with plotters ([`plots`]),
//! the run's `index.html` ([`page`]) and the `results/index.html` over many runs
//! ([`site`]), an output directory with atomic writes ([`output`]), a run's report directory put in
//! place whole ([`report_dir`], with [`interrupt`] for SIGINT and SIGTERM) and the
//! `summary.json` schema ([`summary`]).
//!
//! The module owns no measurement: workloads record into `hdrhistogram` histograms and
//! pause logs, and hand them here to be written out.

pub mod cli;
pub mod hgrm;
pub mod hlog;
pub mod interrupt;
pub mod latency;
pub mod mmu;
pub mod output;
pub mod page;
pub mod plots;
pub mod progress;
pub mod report_dir;
pub mod run;
pub mod site;
pub mod summary;
pub mod timeline;
pub mod trace_json;

pub use hgrm::{
    parse_percentile_distribution, percentile_points, write_percentile_distribution, HgrmRow,
    ParsedHgrm,
};
pub use mmu::{bmu_curve, default_windows, merge_pauses, mmu, mmu_curve, utilization_points};
pub use output::OutDir;
pub use plots::{latency_svg, mmu_svg, pauses_svg};
pub use report_dir::ReportDir;
pub use summary::{CallbackCounts, LatencyStats, LeakCheck, Summary, VerifyStats};
