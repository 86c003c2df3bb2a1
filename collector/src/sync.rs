//! The synchronization shim: the only file in `collector` that names `std::sync` or
//! `std::thread` (`scripts/check-structure.py` fails on any other).
//!
//! In normal builds it re-exports the standard library's primitives; under `--cfg loom`
//! it re-exports loom's, so the collector's real code can be model-checked. Everything
//! concurrent in the collector (heap words, bitmaps, handshakes, callback queues and
//! their runners' flags, the assists' park queue and its credit) goes through here.
//!
//! What loom must not see goes through [`unmodelled`], which is `std` in every build:
//! telemetry counters and process-wide ids, and the threads and mailboxes of the
//! services that never run under loom (the background GC thread, the sweeper, mark
//! workers, the parallel phases' scoped threads).
//!
//! Invariant: the top-level names are loom's under `--cfg loom` and std's otherwise,
//! with the API the collector uses identical in both, so its code compiles unchanged under
//! either; `unmodelled` is std in every build. `lock` and `wait` take a poisoned mutex as
//! it is, relying on the collector's rule that its state behind a mutex is consistent
//! before any code that can panic runs.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

/// A memory fence (loom's under loom).
#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence as atomic_fence;

/// A memory fence (loom's under loom).
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::atomic::fence as atomic_fence;

/// Yields the processor (loom's scheduler under loom, which needs it in every spin).
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// The standard library's primitives in every build, for what loom never explores:
/// telemetry counters, process-wide ids, and the threads of services that do not run
/// under loom.
#[cfg_attr(loom, allow(unused_imports))]
pub(crate) mod unmodelled {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    #[cfg(test)]
    pub(crate) use std::sync::mpsc;
    #[cfg(test)]
    pub(crate) use std::sync::Barrier;
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError, Weak};
    pub(crate) use std::thread;

    /// Locks a standard mutex, treating poisoning as [`super::lock`] does.
    #[cfg(loom)]
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(not(loom))]
    pub(crate) use super::lock;
}

/// Locks a mutex, treating poisoning as recoverable: the collector's own state behind a
/// mutex is always left consistent before any code that can panic runs.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Waits on a condition variable, treating poisoning as [`lock`] does.
pub(crate) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    match cv.wait(g) {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Waits on a condition variable for at most `timeout`, treating poisoning as [`lock`]
/// does (normal builds: loom has no timed wait).
#[cfg(not(loom))]
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> MutexGuard<'a, T> {
    match cv.wait_timeout(g, timeout) {
        Ok((g, _)) => g,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

/// An `UnsafeCell` with loom's closure-based API, so that loom can check that the
/// owner-or-handshake access protocol of mutator-private memory is never violated.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure-based API, so that loom can check that the
/// owner-or-handshake access protocol of mutator-private memory is never violated.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `data`.
    pub(crate) fn new(data: T) -> Self {
        Self(std::cell::UnsafeCell::new(data))
    }

    /// Gives `f` a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Gives `f` an exclusive raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
