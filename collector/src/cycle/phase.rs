//! The collector's phases as a type (Go's `gcphase`), the legal transitions between them,
//! and what holds in each. The cycle controller (`cycle`) is written as this machine:
//! every step of a cycle begins with `HeapCore::enter_phase`, which refuses an illegal
//! transition and keeps the barrier flag a function of the phase: `FLAG_MARKING` is set
//! exactly in [`Phase::Mark`] and [`Phase::MarkTermination`].
//!
//! Colours: *white* is unmarked, *grey* is marked or shaded but not yet scanned (the
//! shaded pool, the grey pool, the mutators' barrier buffers and the markers' and
//! barrier flushes' private batches hold every grey reference), *black* is marked and
//! scanned. The phases, in order:
//!
//! - [`Phase::Off`]: no cycle. `FLAG_MARKING` is clear: stores take the fast path and
//!   new objects are white. The previous cycle's spans may still be unswept (sweeping is
//!   lazy and concurrent by sweep generation, as in Go's `_GCoff`); an unswept span's
//!   mark bits are the last mark's verdict. Mutator-private state (roots, allocation
//!   cache, barrier buffer) belongs to its running owner.
//! - [`Phase::SweepTermination`]: the world is stopped (the previous sweep was finished
//!   before the stop). The controller alone touches mutator-private state: it empties
//!   every allocation cache, resets every mutator's roots-scanned state, and shades the
//!   globals — and, when the barrier's rules say so (Yuasa), every mutator's roots.
//!   Nothing is black yet.
//! - [`Phase::Mark`]: concurrent heaps run the mutators with `FLAG_MARKING` set, so every
//!   store shades what the heap's barrier names and new objects are allocated black;
//!   each mutator's roots are scanned once by handshake (its owner at a safepoint, or the
//!   collector holding it blocked), and mark workers and assists turn grey black.
//!   Stop-the-world heaps mark with the world stopped (the flag is set, as Go enables
//!   its barrier in either mode, but no mutator runs to see it). No white
//!   object reachable from a scanned root or a black object is unprotected: it is grey,
//!   or reachable from a grey object (the barrier's invariant, `crate::barrier`).
//! - [`Phase::MarkTermination`]: the world is stopped, the flag still set (concurrent
//!   heaps): every barrier buffer has been handed over, and the grey work is drained
//!   (with a rescan of every mutator's roots when the barrier's rules say so, Dijkstra).
//!   Finding new grey work may hand the world back to [`Phase::Mark`], at most
//!   `TERMINATION_RETRIES` times. It ends with no grey object: black is live, white is
//!   dead. Verification and the leak check run here.
//! - [`Phase::Sweep`]: entered in the last pause; `FLAG_MARKING` is cleared on entry. The
//!   sweep generation advances (concurrent heaps: spans are swept lazily from now on) or
//!   every span is swept (stop-the-world), and the next goal and trigger are set; the
//!   world restarts. A `gc()` or stepped cycle stays in this phase, the world running,
//!   until it has swept every span (Go's `runtime.GC` returns with the sweep done); then
//!   the phase returns to [`Phase::Off`].
//!
//! A cycle abandoned by a panic (a caller's code unwinding through a stepped
//! [`crate::ConcurrentCycle`]) returns to [`Phase::Off`] from wherever it was, with the
//! flag cleared and the mark noted as abandoned (`HeapCore::abandon_cycle`); the next
//! cycle's sweep termination then clears every mark bit (an object marked but never
//! scanned would otherwise hide what it reaches from the next mark), so it starts from
//! the state a finished sweep leaves.
//!
//! Invariant: the phase changes only through `PhaseCell::enter`, by the holder of
//! `cycle_lock`, along [`Phase::may_enter`]'s transitions (any other panics);
//! `FLAG_MARKING` changes with it — set on entering [`Phase::Mark`] from
//! [`Phase::SweepTermination`], cleared on entering [`Phase::Sweep`] or [`Phase::Off`] —
//! so it is set in `Mark` and `MarkTermination` and clear in every other phase.

use crate::sync::unmodelled::{AtomicU64, AtomicU8, Ordering as StatsOrdering};
use crate::sync::{AtomicU32, Ordering::SeqCst};
use crate::world::FLAG_MARKING;

/// A phase of the collector (see the module documentation for what holds in each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// No cycle running; the last cycle's sweep may be in progress, lazily.
    Off = 0,
    /// The first pause: caches emptied, roots-scanned reset, globals shaded.
    SweepTermination = 1,
    /// Marking (concurrent heaps: beside the mutators, barriers on).
    Mark = 2,
    /// The last pause's mark part: buffers flushed, grey work drained.
    MarkTermination = 3,
    /// The last pause's sweep part: marking off, the sweep set up or done.
    Sweep = 4,
}

impl Phase {
    /// Whether a cycle may go from `self` to `next`. Any phase may return to `Off` (the
    /// end of a cycle from `Sweep`, an abandoned one from the others).
    pub(crate) fn may_enter(self, next: Phase) -> bool {
        use Phase::*;
        matches!(
            (self, next),
            (Off, SweepTermination)
                | (SweepTermination, Mark)
                | (Mark, MarkTermination)
                | (MarkTermination, Mark)
                | (MarkTermination, Sweep)
                | (_, Off)
        )
    }

    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Off,
            1 => Phase::SweepTermination,
            2 => Phase::Mark,
            3 => Phase::MarkTermination,
            _ => Phase::Sweep,
        }
    }
}

/// The current phase, and how many cycles have begun. Written only by the thread holding
/// the cycle lock; read anywhere (a stale phase is only used for assertions and
/// diagnostics; `gc()` reads the count before it waits for the lock, as Go's
/// `runtime.GC` reads `work.cycles`).
#[derive(Debug, Default)]
pub(crate) struct PhaseCell {
    phase: AtomicU8,
    started: AtomicU64,
    /// The `started` count of the last cycle that completed (entered `Off` from `Sweep`);
    /// an abandoned cycle leaves it as it was.
    completed: AtomicU64,
}

impl PhaseCell {
    /// The current phase.
    pub(crate) fn get(&self) -> Phase {
        Phase::from_u8(self.phase.load(StatsOrdering::Acquire))
    }

    /// Cycles begun so far (counted on entering `SweepTermination`).
    pub(crate) fn started(&self) -> u64 {
        self.started.load(StatsOrdering::Acquire)
    }

    /// The number (in the `started` count) of the last cycle that completed.
    pub(crate) fn last_completed(&self) -> u64 {
        self.completed.load(StatsOrdering::Acquire)
    }

    fn set(&self, p: Phase) {
        self.phase.store(p as u8, StatsOrdering::Release);
    }

    /// Moves the collector to phase `next`, panicking on an illegal transition (a bug in
    /// the controller, never a user's misuse). Keeps `FLAG_MARKING` in `flags` a function
    /// of the phase: set on entering `Mark` from `SweepTermination`, clear from `Sweep`
    /// and `Off` on.
    pub(crate) fn enter(&self, next: Phase, flags: &AtomicU32) {
        let now = self.get();
        assert!(
            now.may_enter(next),
            "collector: internal error: phase {now:?} cannot go to {next:?}"
        );
        match (now, next) {
            (_, Phase::SweepTermination) => {
                self.started.fetch_add(1, StatsOrdering::AcqRel);
            }
            (Phase::SweepTermination, Phase::Mark) => {
                flags.fetch_or(FLAG_MARKING, SeqCst);
            }
            (Phase::Sweep, Phase::Off) => {
                let cycle = self.started.load(StatsOrdering::Acquire);
                self.completed.store(cycle, StatsOrdering::Release);
            }
            (_, Phase::Sweep | Phase::Off) => {
                flags.fetch_and(!FLAG_MARKING, SeqCst);
            }
            _ => {}
        }
        self.set(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Phase; 5] = [
        Phase::Off,
        Phase::SweepTermination,
        Phase::Mark,
        Phase::MarkTermination,
        Phase::Sweep,
    ];

    #[test]
    fn a_cycle_goes_round_in_order_and_may_retry_the_mark() {
        use Phase::*;
        let legal = [
            (Off, SweepTermination),
            (SweepTermination, Mark),
            (Mark, MarkTermination),
            (MarkTermination, Mark),
            (MarkTermination, Sweep),
        ];
        for from in ALL {
            for to in ALL {
                let expected = to == Off || legal.contains(&(from, to));
                assert_eq!(from.may_enter(to), expected, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn phases_round_trip_through_the_cell() {
        let cell = PhaseCell::default();
        assert_eq!(cell.get(), Phase::Off);
        for p in ALL {
            cell.set(p);
            assert_eq!(cell.get(), p);
        }
    }
}
