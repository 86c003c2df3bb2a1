//! The report writer every workload shares: the `.hgrm` percentile distribution
//! ([`hgrm`]), minimum and bounded mutator utilization from a pause log ([`mod@mmu`]), SVG
//! plots drawn by hand ([`svg`], on the primitives in `plot`), an output directory with
//! atomic writes ([`output`]) and the `summary.json` schema ([`summary`]).
//!
//! The module owns no measurement: workloads record into `hdrhistogram` histograms and
//! pause logs, and hand them here to be written out.

pub mod cli;
pub mod hgrm;
pub mod mmu;
pub mod output;
mod plot;
pub mod progress;
pub mod run;
pub mod summary;
pub mod svg;
#[cfg(test)]
mod xml_check;

pub use hgrm::{
    parse_percentile_distribution, percentile_points, write_percentile_distribution, HgrmRow,
    ParsedHgrm,
};
pub use mmu::{bmu_curve, default_windows, merge_pauses, mmu, mmu_curve, utilization_points};
pub use output::OutDir;
pub use summary::{CallbackCounts, LatencyStats, LeakCheck, Summary, VerifyStats};
pub use svg::{latency_svg, mmu_svg, pauses_svg};
