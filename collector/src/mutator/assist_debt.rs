//! A mutator's mark-assist debt (Go's `gcAssistBytes`): what its allocation during a
//! concurrent mark owes in scan work, charged per span refill and paid by assisting
//! (`mark::assist`), parking for background credit, or, while Go's GC CPU limiter is on
//! (`pacer::limiter`), not at all until it turns off.
//!
//! Invariant: the debt is this mutator's own, read and written only on its thread
//! (`Cell`s), and belongs to the mark whose cycle `assist_cycle` names; a debt of a mark
//! that has ended is void. An assist or a park runs only outside a scope with the mutator
//! running (a scope carries the debt to its end, `settle_assist`).

use super::Mutator;
use crate::barrier::Barrier;
use crate::sync::Ordering::*;
use crate::world::FLAG_MARKING;

impl<B: Barrier> Mutator<B> {
    /// Charges `bytes` of allocation during a concurrent mark to this mutator's assist
    /// debt and pays it (Go's `gcAssistAlloc`, charged per span refill rather than per
    /// object, to keep the fast path free of it). A debt that finds no grey work to pay
    /// with (or whose assist the GC CPU limiter stopped) parks the mutator, blocked, until
    /// background credit pays it or the mark ends (Go's `gcParkAssist`); where the mark
    /// parks no assist (a stepped cycle), it carries over.
    #[cold]
    pub(super) fn charge_assist(&self, bytes: usize) {
        #[cfg(not(loom))]
        {
            let core = &*self.core;
            let state = &core.mark;
            let cycle = state.cycle.load(crate::sync::unmodelled::Ordering::Acquire);
            if self.assist_cycle.replace(cycle) != cycle {
                self.assist_debt.set(0);
            }
            let (live, goal) = (core.space.heap_live(), self.assist_goal());
            let hard = crate::pacer::hard_goal(&core.config, goal);
            let debt = self.assist_debt.get() + state.debt_for(bytes, live, goal, hard);
            let left = if debt > 0 {
                self.assist_or_park(debt, cycle)
            } else {
                debt
            };
            self.assist_debt.set(left);
        }
        #[cfg(loom)]
        let _ = bytes;
    }

    /// Pays `debt` (positive) of cycle `cycle` by marking ([`Mutator::assist`]); what is
    /// left parks the mutator, blocked, until credit pays it or the mark ends (Go's
    /// `gcParkAssist`). A scope never waits, nor a thread whose mutator of another heap
    /// is inside one (`Mutator::wait_for_collector`): there, and where the mark parks no
    /// assist, the debt left is returned, to carry over. Before it parks, an assist that
    /// sees the mark complete wakes the mark's coordinator (Go's assist runs `gcMarkDone`
    /// then). With Go's GC CPU limiter on it
    /// neither assists nor parks (`gcAssistAlloc`'s early return): the whole debt is
    /// returned, for an allocation after the limiter turns off, which an update here may
    /// find (Go's scheduler updates it as often). An assist that the limiter stops
    /// midway parks for the rest unless background credit is banked (Go's
    /// `gcParkAssist`, then its retry's early return). The mutator is running.
    pub(crate) fn assist_or_park(&self, debt: i64, cycle: u64) -> i64 {
        let state = &self.core.mark;
        if self.core.assists_limited() {
            self.core.space.limiter.maybe_update();
            return debt;
        }
        let left = self.assist(debt, cycle);
        if left <= 0 {
            return left;
        }
        // An assist the limiter stopped parks only if no background credit is banked:
        // Go's `gcParkAssist` backs out while `bgScanCredit` is positive, and the retry
        // returns, the limiter on. (Loads the credit only with the limiter on.)
        if self.core.assists_limited() && state.bg_credit.load(Relaxed) > 0 {
            return left;
        }
        self.wait_for_collector(|| {
            // About to park (no grey work visible, or the limiter stopped the assist): if
            // no marker is busy and none is visible, the mark is complete, and its
            // coordinator looks now rather than at its next poll.
            if state.parked.is_open(cycle) {
                crate::mark::workers::wake_coordinator_if_complete(&self.core);
            }
            // Its P may idle while it waits (`pacer::p_events`).
            let _idle = self.core.space.limiter.park_begins();
            state.parked.park(&state.bg_credit, cycle, left)
        })
        .unwrap_or(left)
    }

    /// Pays `debt` of cycle `cycle` with mark work (`mark::assist`); where the assist
    /// could park (outside a scope, a mark that parks assists), with this mutator's own
    /// barrier buffer and roots too if no other grey work is visible.
    pub(super) fn assist(&self, debt: i64, cycle: u64) -> i64 {
        use crate::mark::assist::{assist, assist_or_serve_self};
        let (core, state) = (&*self.core, &self.core.mark);
        let (limiter, limited) = (&core.space.limiter, &|| core.assists_limited());
        if self.in_scope() || !state.parked.is_open(cycle) {
            return assist(&core.space, &core.shaded, state, limiter, limited, debt);
        }
        assist_or_serve_self(
            &core.space,
            &core.shaded,
            state,
            limiter,
            limited,
            &self.shared,
            debt,
        )
    }

    /// The goal this mark's assists pace to (`pacer::assist_goal`).
    #[cfg(not(loom))]
    fn assist_goal(&self) -> usize {
        let core = &*self.core;
        let triggered = core
            .mark
            .heap_start
            .load(crate::sync::unmodelled::Ordering::Relaxed);
        let goal = crate::cycle::pacing_now::goal(core);
        crate::pacer::assist_goal(&core.config, goal, triggered as usize)
    }

    /// Takes back the debt `charge_assist` charged for `bytes` not allocated after all
    /// (the slots a refilled span already held), if the same mark still runs.
    #[cold]
    pub(super) fn credit_assist(&self, bytes: usize) {
        #[cfg(not(loom))]
        {
            let core = &*self.core;
            let state = &core.mark;
            let cycle = state.cycle.load(crate::sync::unmodelled::Ordering::Acquire);
            if bytes == 0 || self.assist_cycle.get() != cycle {
                return;
            }
            let (live, goal) = (core.space.heap_live(), self.assist_goal());
            let hard = crate::pacer::hard_goal(&core.config, goal);
            let credit = state.debt_for(bytes, live, goal, hard);
            self.assist_debt.set(self.assist_debt.get() - credit);
        }
        #[cfg(loom)]
        let _ = bytes;
    }

    /// Pays the assist debt a scope carried over (at the end of the outermost scope, a
    /// safepoint): Go's `gcAssistAlloc` runs at every allocation a goroutine makes,
    /// assisting and parking there, and a scope, which may not wait, defers only the
    /// wait. Without this a mutator that allocates in scopes never parks, and its heap
    /// outruns the mark (binary-trees' default: the heap at twice its goal at mark
    /// termination).
    #[inline(always)]
    pub(super) fn settle_assist(&self) {
        // One load and a branch at every outermost scope's end; the rest out of line.
        if self.assist_debt.get() > 0 {
            self.settle_assist_slow();
        }
    }

    #[cold]
    fn settle_assist_slow(&self) {
        #[cfg(not(loom))]
        {
            let core = &*self.core;
            let state = &core.mark;
            let debt = self.assist_debt.get();
            let cycle = state.cycle.load(crate::sync::unmodelled::Ordering::Acquire);
            if core.flags.load(Relaxed) & FLAG_MARKING == 0 || self.assist_cycle.get() != cycle {
                // A debt of a mark that has ended is void (Go resets every goroutine's
                // assist bytes for the next cycle); cleared, the next scope's end takes
                // the fast path again.
                self.assist_debt.set(0);
                return;
            }
            self.assist_debt.set(self.assist_or_park(debt, cycle));
        }
    }

    /// A mark assist (loom builds): what an allocation during a concurrent mark pays with
    /// (`mark::assist`, Go's `gcAssistAlloc`), `work` units of scan work (at least its
    /// minimum), on this thread in the running state, so a pause waits for it. Nothing
    /// while marking is off. Returns the debt left.
    #[cfg(loom)]
    pub fn mark_assist(&self, work: i64) -> i64 {
        let core = &*self.core;
        let assist = || {
            if core.flags.load(Relaxed) & FLAG_MARKING == 0 {
                return work;
            }
            crate::mark::assist::assist(
                &core.space,
                &core.shaded,
                &core.mark,
                &core.space.limiter,
                &|| core.assists_limited(),
                work,
            )
        };
        if core.config.faults.assist_while_blocking {
            return self.blocking(assist);
        }
        self.running(assist)
    }

    /// An allocation's assist where it may park (loom builds): the real path of a span
    /// refill that owes `debt` units of scan work during a concurrent mark
    /// (`Mutator::assist_or_park`: `mark::assist::assist_or_serve_self`, then the park
    /// queue, Go's `gcAssistAlloc` and `gcParkAssist`). Nothing while marking is off.
    /// Returns the debt left (at most 0 once paid, by marking, credit or the mark's end).
    #[cfg(loom)]
    pub fn allocation_assist(&self, debt: i64) -> i64 {
        let core = &*self.core;
        let assist = || {
            if core.flags.load(Relaxed) & FLAG_MARKING == 0 {
                return debt;
            }
            let cycle = core
                .mark
                .cycle
                .load(crate::sync::unmodelled::Ordering::Acquire);
            Mutator::assist_or_park(self, debt, cycle)
        };
        if core.config.faults.assist_while_blocking {
            return self.blocking(assist);
        }
        self.running(assist)
    }
}
