//! Root scanning during a concurrent mark: the specials and the callback queues, and
//! each mutator's handles by handshake, as the barrier's root rules say.
//!
//! Invariant: a handshake returns only when every mutator registered when it began has
//! served the request (itself at a safepoint, or the collector for it while holding it
//! blocked) or has left; a mutator registered later starts with its roots counted as
//! scanned (it has none older than the mark).

use crate::core::HeapCore;
use crate::mark::pool::{GreyPool, BATCH};
use crate::mark::special_roots::special_refs;
use crate::object::Ref;
use crate::sync::Ordering::*;
use crate::world::mutator_state::REQ_SCAN;
use crate::world::{Exclusive, FLAG_HANDSHAKE};

/// The concurrent part of root scanning: the specials and callback queues (the finalizer
/// objects' scan counted in the mark's ledger and banked as background credit, in steps
/// of one of Go's span root jobs: `mark::special_roots`), then (unless the barrier's
/// rules took them all in the first pause, as Yuasa's do) every mutator's handles.
/// Specials may be scanned with the mutators running: the barrier is on, so a reference
/// a mutator moves out of a finalizable object is shaded, and a special registered
/// meanwhile shades its own roots (S31). Returns how long the specials' scan took. With
/// `idle_marking`, the specials' scan is an idle mark worker's to the GC CPU limiter, as
/// it runs (`mark::workers::root_scan_is_idle`).
pub(super) fn scan_roots_concurrently(core: &HeapCore, idle_marking: bool) -> std::time::Duration {
    let t = std::time::Instant::now();
    let idle = idle_marking.then(|| core.space.limiter.idle_marking_begins());
    scan_specials(core);
    drop(idle);
    let specials = t.elapsed();
    if !core.roots.snapshot_at_start {
        handshake(core, REQ_SCAN);
    }
    specials
}

/// Hands the specials' and callback queues' roots to the marker, counting the finalizer
/// objects' scan in the mark's ledger as it goes (banked as background credit, in steps
/// of `SPAN_ROOT_PAGES`; once a cycle, `MarkState::claim_root_count`), then records the
/// cycle's specials as scanned (`MarkState::set_specials_scanned`).
pub(super) fn scan_specials(core: &HeapCore) {
    let counts = core.mark.claim_root_count();
    let refs = special_refs(&core.space, scans_finalizer_objects(core), |bytes, work| {
        if counts {
            core.mark.count_finalizer_scan(bytes, work, true);
        }
    });
    put_in_batches(core, refs);
    core.mark.set_specials_scanned();
}

/// Whether mark scans finalizer specials' objects (false only for a loom negative
/// control).
pub(super) fn scans_finalizer_objects(core: &HeapCore) -> bool {
    #[cfg(loom)]
    return !core.config.faults.skip_finalizer_scan;
    #[cfg(not(loom))]
    {
        let _ = core;
        true
    }
}

/// Hands `refs` to the marker as shaded references, in batches that markers can share.
pub(super) fn put_in_batches(core: &HeapCore, refs: Vec<Ref>) {
    if refs.len() <= BATCH {
        core.shaded.put(refs);
        return;
    }
    for chunk in refs.chunks(BATCH) {
        core.shaded.put(chunk.to_vec());
    }
}

/// Asks every mutator to serve `request` (scan its roots, or flush its barrier buffer)
/// and waits until all have: running mutators serve it at their next safepoint, and the
/// collector serves it for blocked ones, holding each while it does.
pub(super) fn handshake(core: &HeapCore, request: u32) {
    let mutators = core.world.snapshot();
    for m in &mutators {
        m.requests.fetch_or(request, AcqRel);
    }
    core.flags.fetch_or(FLAG_HANDSHAKE, SeqCst);
    loop {
        let seen = core.world.epoch();
        while let Some(claim) = core.world.claim_blocked(|m| m.requests.load(Acquire) != 0) {
            debug_assert!(claim.covers(&claim.m));
            core.serve_requests(&claim.m, &claim);
        }
        let live = core.world.snapshot();
        let pending = mutators.iter().any(|m| {
            m.requests.load(Acquire) != 0 && live.iter().any(|x| std::ptr::eq(&**x, &**m))
        });
        if !pending {
            break;
        }
        core.world.wait_for_change(seen);
    }
    core.flags.fetch_and(!FLAG_HANDSHAKE, SeqCst);
}
