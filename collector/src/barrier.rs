//! Write-barrier policies: what a reference store must *shade* (grey) while marking is
//! on, and the root scanning each policy needs, so that a concurrent mark loses nothing.
//! Each barrier is a type, and mutators, handles and heaps are generic over it, so every
//! barrier compiles to its own code and `NoBarrier` pays nothing (Go: `mbarrier.go`).
//! The store path that applies a policy is `mutator::write_barrier`.
//!
//! Invariant: a barrier's [`Barrier::shade`] together with its [`RootRules`] keeps the
//! weak tri-colour invariant for a mark that scans roots as the rules say (`NoBarrier`
//! excepted: it exists to show the loss). Each barrier and its rules, which the cycle
//! controller reads from [`Barrier::ROOTS`] and never from the barrier's name:
//! - [`Dijkstra`] (insertion): shade the new value. Roots are scanned concurrently and
//!   rescanned at mark termination, since a root written after its scan is unprotected.
//! - [`Yuasa`] (deletion, snapshot-at-the-beginning): shade the old value. All roots are
//!   captured in the pause that starts marking.
//! - [`GoHybrid`] (the default): the hybrid barrier as Go 1.27 implements it. Go does not
//!   track whether the writing goroutine's stack has been scanned, so its barrier records
//!   both the old and the new pointer on every store while marking (`mbitmap.go`'s
//!   `buf.get2()`; the TODO in `mwbbuf.go` on skipping the new pointers once the stack is
//!   shaded; `SEMANTICS.md` S58). Each mutator's roots are scanned once, concurrently; no
//!   rescan.
//! - [`Hybrid`] (the barrier proposal 17503 designed for Go 1.8): shade the old value, and
//!   the new one while the writing mutator's roots are not yet scanned. Roots as
//!   [`GoHybrid`], whose shading is a superset of this one's. A departure from Go 1.27,
//!   which records the new pointer on every store: this one shades less once the
//!   writer's roots are scanned.
//! - [`NoBarrier`]: shade nothing — the ablation, which can lose objects.

use std::fmt;

/// The barrier of a heap, as a value (the collector's view).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarrierKind {
    /// The hybrid barrier as designed (Go's proposal 17503), which Go 1.27 does not
    /// implement: no new pointer shaded once the writer's roots are scanned.
    Hybrid,
    /// The hybrid barrier as Go 1.27 implements it: both halves, always (the default).
    GoHybrid,
    /// Dijkstra's insertion barrier.
    Dijkstra,
    /// Yuasa's deletion barrier.
    Yuasa,
    /// No barrier (ablation).
    None,
}

impl BarrierKind {
    /// Every barrier, in a fixed order.
    pub const ALL: [BarrierKind; 5] = [
        BarrierKind::Hybrid,
        BarrierKind::GoHybrid,
        BarrierKind::Dijkstra,
        BarrierKind::Yuasa,
        BarrierKind::None,
    ];

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BarrierKind::Hybrid => "hybrid",
            BarrierKind::GoHybrid => "go-hybrid",
            BarrierKind::Dijkstra => "dijkstra",
            BarrierKind::Yuasa => "yuasa",
            BarrierKind::None => "none",
        }
    }
}

impl fmt::Display for BarrierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BarrierKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BarrierKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = BarrierKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "invalid barrier {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The root scanning a barrier needs (the cycle controller's only view of the barrier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootRules {
    /// Every mutator's roots are taken in the pause that starts marking
    /// (snapshot-at-the-beginning) instead of scanned concurrently afterwards.
    pub snapshot_at_start: bool,
    /// Every mutator's roots are scanned again in the mark termination pause (a root
    /// written after its concurrent scan is otherwise unprotected).
    pub rescan_at_termination: bool,
}

/// Roots scanned once, concurrently, each mutator at a handshake; no rescan.
const SCAN_ONCE: RootRules = RootRules {
    snapshot_at_start: false,
    rescan_at_termination: false,
};

/// A write barrier, as a type parameter of heaps, mutators and handles.
pub trait Barrier: sealed::Sealed + Copy + Default + fmt::Debug + Send + Sync + 'static {
    /// The barrier as a value.
    const KIND: BarrierKind;

    /// The root scanning this barrier needs.
    const ROOTS: RootRules;

    /// Whether the store's slow path shades anything at all (false only for
    /// [`NoBarrier`], whose stores then cost nothing beyond the store).
    const SHADES: bool = true;

    /// The reference words a store of `new` over `old` must shade while marking is on,
    /// given whether the writing mutator's roots have been scanned this cycle (`0` for
    /// nothing).
    fn shade(old: usize, new: usize, roots_scanned: bool) -> [usize; 2];
}

macro_rules! barrier {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $roots:expr, $shades:expr,
     |$old:ident, $new:ident, $scanned:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl Barrier for $name {
            const KIND: BarrierKind = BarrierKind::$kind;
            const ROOTS: RootRules = $roots;
            const SHADES: bool = $shades;
            #[inline(always)]
            fn shade($old: usize, $new: usize, $scanned: bool) -> [usize; 2] {
                $body
            }
        }
    };
}

barrier!(
    /// The hybrid barrier as designed (proposal 17503), not as Go 1.27 implements it:
    /// shade old; shade new while the writer's roots are unscanned.
    Hybrid, Hybrid, SCAN_ONCE, true, |old, new, scanned| [old, if scanned { 0 } else { new }]
);
barrier!(
    /// The hybrid barrier as Go 1.27 implements it: shade old and new, always.
    GoHybrid, GoHybrid, SCAN_ONCE, true, |old, new, _scanned| [old, new]
);
barrier!(
    /// Dijkstra's insertion barrier: shade new.
    Dijkstra, Dijkstra,
    RootRules { snapshot_at_start: false, rescan_at_termination: true }, true,
    |_old, new, _scanned| [0, new]
);
barrier!(
    /// Yuasa's deletion barrier: shade old.
    Yuasa, Yuasa,
    RootRules { snapshot_at_start: true, rescan_at_termination: false }, true,
    |old, _new, _scanned| [old, 0]
);
barrier!(
    /// No barrier: the ablation that shows what barriers are for.
    NoBarrier, None, SCAN_ONCE, false, |_old, _new, _scanned| [0, 0]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_barrier_shades_what_its_rule_says() {
        assert_eq!(Hybrid::shade(1, 2, false), [1, 2]);
        assert_eq!(Hybrid::shade(1, 2, true), [1, 0]);
        assert_eq!(GoHybrid::shade(1, 2, false), [1, 2]);
        assert_eq!(GoHybrid::shade(1, 2, true), [1, 2]);
        assert_eq!(Dijkstra::shade(1, 2, true), [0, 2]);
        assert_eq!(Yuasa::shade(1, 2, false), [1, 0]);
        assert_eq!(NoBarrier::shade(1, 2, false), [0, 0]);
    }

    #[test]
    fn names_round_trip() {
        for k in BarrierKind::ALL {
            assert_eq!(k.name().parse::<BarrierKind>(), Ok(k));
        }
        let e = "fast".parse::<BarrierKind>().unwrap_err();
        assert!(
            e.contains("expected one of hybrid, go-hybrid, dijkstra, yuasa, none"),
            "{e}"
        );
    }
}
