//! Mark assists: a mutator that allocates while a concurrent mark runs pays for its
//! allocation with mark work (Go's `gcAssistAlloc`), so a fast allocator cannot outrun
//! the mark. The debt is priced by the pacer (`pacer::assist_debt`, through
//! [`MarkState::debt_for`]); background workers' surplus credit is taken first; what is
//! left is marked here, on the mutator's thread. A debt that finds no grey work to pay
//! with parks the mutator in `mark::park`'s queue (Go's `gcParkAssist`) until background
//! workers' credit pays it (`gcFlushBgCredit`) or the mark ends (`gcWakeAllAssists`).
//!
//! This is the one call from the mutator layer up into marking: an assist is an
//! allocation slow path that runs a [`Marker`].
//!
//! Invariant: an assist runs on the allocating mutator's thread while that mutator is
//! running (a span refill or a large allocation, with marking on), and counts itself in
//! `MarkState::busy` from before it takes grey work until it has published what it has
//! left, so a look for visible work (`mark::workers`) never misses work an assist holds;
//! its scan work and finds are in the ledger before it returns.

use super::state::{MarkState, MIN_ASSIST_WORK};
use super::Marker;
use crate::heap::Space;
use crate::mark::pool::DefaultPool;
use crate::sync::unmodelled::Ordering::*;
use crate::telemetry::nanos;
use std::time::Instant;

/// Pays `debt` units of scan work, first from background credit, then by marking at
/// least [`MIN_ASSIST_WORK`]. Returns the debt left (negative: credit for later
/// allocations), which is positive only if no grey work was visible.
pub(crate) fn assist(space: &Space, shaded: &DefaultPool, state: &MarkState, debt: i64) -> i64 {
    let debt = debt - state.steal_credit(debt);
    if debt <= 0 {
        return debt;
    }
    let t = Instant::now();
    state.busy.fetch_add(1, SeqCst);
    let markers = state.planned.load(Relaxed) + 1;
    let mut m = Marker::new(space, &state.grey, shaded, &state.busy, markers);
    m.budget = (debt as u64).max(MIN_ASSIST_WORK);
    m.drain();
    m.publish();
    state.busy.fetch_sub(1, SeqCst);
    state.scan_work.fetch_add(m.scan_work, Relaxed);
    state.record(m.marked_objects, m.marked_bytes, m.bad_refs);
    state.assist_ns.fetch_add(nanos(t.elapsed()), Relaxed);
    debt - m.scan_work as i64
}
