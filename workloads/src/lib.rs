//! The workload harness: what every workload binary shares — the global allocator, the
//! summary statistics and the JSON report.
//!
//! Every binary links this library, so all of them run on mimalloc (the collector's own
//! heap is separate; mimalloc serves the Rust-side allocations such as root tables).

pub mod report;

/// mimalloc as the global allocator of every workload binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
