//! The workload harness: what every workload binary shares — the common flags, the run
//! and its report directory, the summary and its files (`harness`) — and the binary trees
//! gcbench and binary-trees build on the scope API in scopes of bounded size (`trees`), and
//! lru's cache, written once for both APIs (`lru_cache`).
//!
//! Every binary declares mimalloc as its global allocator with [`use_mimalloc!`] (the
//! collector's own heap is separate; mimalloc serves the Rust-side allocations such as
//! root tables), built with its `no_thp` feature: it does not ask for transparent huge
//! pages (`MADV_HUGEPAGE`) for its arenas, as Go's runtime does not for its heap, so a
//! machine with THP set to `madvise` zeroes no 2 MiB pages for the harness's buffers.

pub mod callback_batch;
pub mod harness;
pub mod lru_cache;
pub mod trees;

pub use mimalloc::MiMalloc;

/// Makes mimalloc the binary's global allocator. Invoke once at a binary's top level: a
/// `#[global_allocator]` inside this library would apply only to binaries that happen to
/// link it.
#[macro_export]
macro_rules! use_mimalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::MiMalloc = $crate::MiMalloc;
    };
}
