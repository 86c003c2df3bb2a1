//! Mark assists: a mutator that allocates while a concurrent mark runs pays for its
//! allocation with mark work (Go's `gcAssistAlloc`), so a fast allocator cannot outrun
//! the mark. The debt is priced by the pacer (`pacer::assist_debt`, through
//! [`MarkState::debt_for`]); background workers' surplus credit is taken first; what is
//! left is marked here, on the mutator's thread. A debt that finds no grey work to pay
//! with (or that the limiter stopped, below) parks the mutator in `mark::park`'s queue
//! (Go's `gcParkAssist`) until background workers' credit pays it (`gcFlushBgCredit`) or
//! the mark ends (`gcWakeAllAssists`).
//! While Go's GC CPU limiter is on an assist does nothing, and one running when it turns
//! on stops at its next flush (`gcDrainN`), without serving itself.
//!
//! Before it parks, an assist that found no grey work serves itself, as far as Go's does
//! for its own goroutine (`gcDrainN`: `wbBufFlush`, then the root jobs, its own stack a
//! self-scan): its mutator's barrier buffer and, not yet scanned this mark, its roots go
//! to the marker, and it assists again. Unlike Go's, it takes no other root job (other
//! mutators' roots, the specials' and the callback queues' roots stay with the GC
//! thread; Go's assists claim any of `markroot`'s jobs). So an assist never waits for a
//! GC thread to ask for work the mutator holds itself (under valgrind, a starved GC
//! thread's handshake). Only where it could park: in a stepped cycle the caller steps
//! the root scan itself.
//!
//! This and `mark::barrier_flush` are the mutator layer's calls into marking: an assist
//! is an allocation slow path that runs a [`Marker`].
//!
//! Invariant: an assist runs on the allocating mutator's thread while that mutator is
//! running (a span refill or a large allocation, with marking on), and counts itself in
//! `MarkState::busy` from before it takes grey work until it has published what it has
//! left, so a look for visible work (`mark::workers`) never misses work an assist holds;
//! its scan work and finds are in the ledger before it returns. It serves itself only
//! as its running owner outside any scope (a safepoint, where a handshake could ask the
//! same), so the roots it hands over are all its mutator's.

use super::state::{Busy, MarkState, CREDIT_SLACK, MIN_ASSIST_WORK};
use super::Marker;
use crate::heap::Space;
use crate::mark::pool::{DefaultPool, GreyPool};
use crate::pacer::limiter::CpuLimiter;
use crate::sync::unmodelled::Ordering::*;
use crate::telemetry::nanos;
use crate::world::mutator_state::{MutatorShared, Owner};
use std::time::Instant;

/// Marks up to `slice` units of scan work with `m` (less if no grey work is visible, or
/// if `flush` returns false), passing its scan work to `flush` every [`CREDIT_SLACK`]
/// units (and none when a chunk did none): Go's `gcDrain` and `gcDrainN` add their work
/// to the mark's progress every `gcCreditSlack` units (a background worker flushing it as
/// credit too), so a parked assist waits for at most that much of a worker's marking and
/// assists price their debt from fresh progress. An assist's `flush` returns false once
/// the GC CPU limiter is on (Go's `gcDrainN` stops then).
pub(crate) fn drain_slice<P: GreyPool>(
    m: &mut Marker<'_, P>,
    slice: u64,
    mut flush: impl FnMut(u64) -> bool,
) {
    let end = m.scan_work + slice;
    loop {
        let before = m.scan_work;
        m.budget = (before + CREDIT_SLACK).min(end);
        let visible_done = m.drain();
        let go_on = m.scan_work == before || flush(m.scan_work - before);
        if visible_done || m.scan_work >= end || !go_on {
            return;
        }
    }
}

/// Pays `debt` units of scan work, first from background credit, then by marking at
/// least [`MIN_ASSIST_WORK`]; its time is the GC CPU `limiter`'s as it runs. While
/// `limited()` (the limiter is on where it stops assists: `HeapCore::assists_limited`)
/// it does nothing, and it stops at its next flush once `limited()` turns true, as Go's
/// `gcAssistAlloc` returns at once and `gcDrainN` stops when `gcCPULimiter.limiting()`.
/// Returns the debt left (negative: credit for later allocations), which is positive
/// only if no grey work was visible or `limited()` held.
pub(crate) fn assist(
    space: &Space,
    shaded: &DefaultPool,
    state: &MarkState,
    limiter: &CpuLimiter,
    limited: &dyn Fn() -> bool,
    debt: i64,
) -> i64 {
    if limited() {
        return debt;
    }
    let debt = debt - state.steal_credit(debt);
    if debt <= 0 {
        return debt;
    }
    let t = Instant::now();
    let assisting = limiter.assist_begins();
    let busy = Busy::enter(&state.busy);
    let markers = state.planned.load(Relaxed) + 1;
    let mut m = Marker::new(space, &state.grey, shaded, &state.busy, markers);
    drain_slice(&mut m, (debt as u64).max(MIN_ASSIST_WORK), |work| {
        state.scan_work.fetch_add(work, Relaxed);
        !limited()
    });
    m.publish();
    drop(busy);
    drop(assisting);
    state.record(m.marked_objects, m.marked_bytes, m.bad_refs);
    state.assist_ns.fetch_add(nanos(t.elapsed()), Relaxed);
    // Go updates the limiter after every assist (`gcAssistAlloc1`).
    limiter.update();
    debt - m.scan_work as i64
}

/// [`assist`], then, if no grey work was visible, the assist's own work: `m`'s barrier
/// buffer and (unscanned this mark) its roots, and [`assist`] again with them; none of
/// that once `limited()` (an assist the limiter stopped is done, as Go's). `m` is the
/// calling thread's running mutator, outside any scope (see the invariant).
pub(crate) fn assist_or_serve_self(
    space: &Space,
    shaded: &DefaultPool,
    state: &MarkState,
    limiter: &CpuLimiter,
    limited: &dyn Fn() -> bool,
    m: &MutatorShared,
    debt: i64,
) -> i64 {
    let left = assist(space, shaded, state, limiter, limited, debt);
    if left <= 0 || limited() {
        return left;
    }
    // Serving itself is the assist's time too (Go's `limiterEventMarkAssist` spans all of
    // `gcAssistAlloc1`, `gcDrainN`'s root jobs included).
    let serving = limiter.assist_begins();
    let owner = Owner(m);
    let mut found = m.hand_over_wbuf_stopped(&owner, shaded);
    if !m.roots_scanned.load(Acquire) {
        // Go's markroot self-scan: the roots as a handshake's REQ_SCAN would take them
        // at this safepoint (one that comes later scans them again, harmlessly).
        let roots = m.root_refs(&owner);
        m.roots_scanned.store(true, Release);
        found |= !roots.is_empty();
        shaded.put(roots);
    }
    drop(serving);
    if found {
        assist(space, shaded, state, limiter, limited, left)
    } else {
        left
    }
}
