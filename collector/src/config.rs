//! Heap configuration: the knobs a researcher sets before a heap starts (GOGC,
//! verification, span geometry), with their validation. The defaults are Go 1.27's; the
//! testbed's own improvements are options, off by default, each saying which Go
//! behaviour it departs from (`cleanup_eager_start`, `cleanup_standby`,
//! `cleanup_batches`).
//!
//! Invariant: a `HeapConfig` is plain data, shared with nothing. `Heap::with_barrier`,
//! the only way to a heap, runs `validate` before anything else and the heap core keeps
//! the config unchanged for its life, so every heap runs with a configuration `validate`
//! accepts (a power-of-two page of 64 B to 1 MiB, GOMAXPROCS and worker counts in range).

use std::fmt;

/// Go's `GOGC`: the percentage of heap growth over the live heap that triggers the next
/// automatic cycle, or `Off` for no automatic cycles (`gc()` still runs one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gogc {
    /// Automatic collection when the heap reaches `live × (1 + percent/100)`.
    Percent(u32),
    /// No automatic collection (`GOGC=off`).
    Off,
}

impl Default for Gogc {
    fn default() -> Self {
        Gogc::Percent(100)
    }
}

impl fmt::Display for Gogc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gogc::Percent(p) => write!(f, "{p}"),
            Gogc::Off => f.write_str("off"),
        }
    }
}

impl std::str::FromStr for Gogc {
    type Err = String;

    /// Parses Go's spelling: a non-negative integer percentage, or `off`. As in Go, a
    /// negative value also means off.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("off") {
            return Ok(Gogc::Off);
        }
        match t.parse::<i64>() {
            Ok(n) if n < 0 => Ok(Gogc::Off),
            Ok(n) if n <= u32::MAX as i64 => Ok(Gogc::Percent(n as u32)),
            _ => Err(format!(
                "invalid GOGC value {s:?}: expected a non-negative integer percentage or \"off\""
            )),
        }
    }
}

/// The leak checker's mode (S60–S62; the checker itself is `leakcheck`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeakCheck {
    /// No check (the default, as Go without `GODEBUG=checkfinalizers`).
    #[default]
    Off,
    /// The testbed's report mode: every finding is counted
    /// ([`crate::HeapStats::leaks_found`]) and reported on stderr with its path, one line
    /// each, and the run goes on (the workloads' `--check-leaks`).
    Report,
    /// Go's `GODEBUG=checkfinalizers=1`: at the end of a cycle that found something,
    /// Go's words on stderr (`WARNING: LIKELY CLEANUP/FINALIZER ISSUES`, then per finding
    /// `Value … at …` and `is reachable from finalizer`, `is reachable from cleanup or
    /// cleanup argument` or `is in a tiny block with other (possibly long-lived)
    /// values`, each followed by the testbed's path), then `fatal error: detected
    /// possible issues with cleanups and/or finalizers` and exit status 2.
    Go,
}

/// How much a cleanup worker takes from the queue at a time (S36, S41).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CleanupBatches {
    /// Go's: a worker takes a block of up to [`CLEANUP_BLOCK`] (20) queued cleanups and
    /// runs them in order, so a blocking cleanup stalls the rest of its block (S41). (The
    /// testbed's queue is one list, so a block is what is at its front: up to 20
    /// consecutive cleanups without an environment box. A cleanup with a box is taken
    /// alone, as its box becomes a handle of the worker in the step that takes it.)
    #[default]
    Go,
    /// The testbed's improvement: with several workers each takes one cleanup at a time,
    /// so a slow cleanup holds back nothing another worker can take; a lone worker takes
    /// batches of up to 64 (saving a lock per cleanup), starting at one and doubling while
    /// each batch finishes within [`crate::CLEANUP_STALL`] when the standby is on, so a
    /// slow cleanup holds back at most the rest of its batch. Departs from Go's blocks of
    /// 20 (S41).
    Adaptive,
}

impl fmt::Display for CleanupBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CleanupBatches::Go => "go",
            CleanupBatches::Adaptive => "adaptive",
        })
    }
}

impl std::str::FromStr for CleanupBatches {
    type Err = String;

    /// `go` or `adaptive`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "go" => Ok(CleanupBatches::Go),
            "adaptive" => Ok(CleanupBatches::Adaptive),
            _ => Err(format!(
                "invalid cleanup batches {s:?}: expected \"go\" (Go's blocks of 20) or \"adaptive\""
            )),
        }
    }
}

/// Cleanups in one of Go's `cleanupBlock`s: 512 bytes less the header, 24 bytes an entry,
/// on 64-bit (S36). A block is Go's unit of cleanup work: what one goroutine takes, and
/// what `wake` counts against the sleeping goroutines to decide that more are needed.
pub const CLEANUP_BLOCK: usize = 20;

/// What happens when a finalizer or cleanup panics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallbackPanic {
    /// Go's behaviour: print the panic and how many callbacks were still queued, and exit
    /// the process with status 2.
    #[default]
    Exit,
    /// Print the panic, count it (`panicked`) and go on with the next callback.
    Report,
    /// Count it and let the panic unwind out of [`crate::Mutator::run_finalizers`] or
    /// [`crate::Mutator::run_cleanups`] to their caller (tests and loom models that step
    /// callbacks themselves). On the heap's own runner threads it acts as `Exit`.
    Propagate,
}

/// Everything fixed when a heap is created.
#[derive(Clone, Debug)]
pub struct HeapConfig {
    /// The GOGC pacing goal.
    pub gogc: Gogc,
    /// Go's `heapMinimum` before scaling by GOGC: no automatic cycle starts below
    /// `min_heap_bytes × GOGC/100` (Go: 4 MiB). A quarter of it is the room an unfinished
    /// sweep is left (Go's `sweepMinHeapDistance`, 1 MiB).
    pub min_heap_bytes: usize,
    /// Run the checkmark re-trace after every mark and poison freed slots
    /// (Go's `GODEBUG=gccheckmark=1`).
    pub verify: bool,
    /// Record the run's timeline (`--trace`): per-thread slices (blocked, at a safepoint,
    /// assisting, marking, sweeping, running callbacks) and queue-length counters, read
    /// with [`crate::Heap::trace`]. Off (the default) it costs a flag test at each site.
    pub trace: bool,
    /// Collect concurrently (the default): mark beside the mutators with write barriers
    /// on between two short pauses, and sweep after the second. `false` is Go's
    /// `GODEBUG=gcstoptheworld=1` (`--stw`): the whole cycle, sweep included, in one
    /// pause.
    pub concurrent: bool,
    /// Bytes in a one-page span. Go uses 8 KiB; loom models use a few words.
    pub page_bytes: usize,
    /// Go's `GOMAXPROCS`: the processors the pacer and Go's 25% rule count, and the most
    /// threads that mark during a pause. Defaults to the available parallelism (1 under
    /// loom, whose models drive marking themselves). The collector starts at most as many
    /// marking threads at once as the machine has CPUs, whatever this says: a marking
    /// thread beyond the CPUs would only time-slice with the others, and idle markers poll
    /// for work where Go parks its workers in the scheduler (so on 2 CPUs, GOMAXPROCS
    /// 1024 meant 1,024 polling threads a pause and no cycle finishing in a minute).
    pub gomaxprocs: usize,
    /// Background mark workers of a concurrent cycle: `None` follows Go's 25% rule
    /// (dedicated workers for a quarter of GOMAXPROCS, a time-sliced fractional worker
    /// for the remainder, and idle workers on cores no mutator runs on); `Some(n)` runs
    /// `n` dedicated workers (at most `gomaxprocs`, as Go runs at most one per P; and, as
    /// for every marking thread, no more than the CPUs there are), `Some(0)` leaving the
    /// mark to assists.
    pub mark_workers: Option<usize>,
    /// A hard cap on the heap (`--heap-limit`): an allocation that would take the heap
    /// past it, even after a full cycle, fails with an out-of-memory error
    /// ([`crate::OutOfMemory`]) instead of growing the heap. `None`: no cap.
    pub heap_limit: Option<usize>,
    /// Go's soft memory limit (`GOMEMLIMIT`): the pacer lowers the goal so that the heap
    /// stays under it when it can. `None`: no limit.
    pub memory_limit: Option<usize>,
    /// Print one line per cycle in Go's `GODEBUG=gctrace=1` format on stderr.
    pub gctrace: bool,
    /// The most threads that run cleanups concurrently (Go's `maxCleanupGs`, S40):
    /// `None` follows Go's rule, `max(GOMAXPROCS / 4, 1)`; `Some(n)` allows `n` (at least
    /// 1; Go has no such setting). As in Go they start lazily: the first with the first
    /// registration, further ones only inside a later registration, after queued work
    /// outnumbered the idle workers (see `cleanup_eager_start`).
    pub cleanup_workers: Option<usize>,
    /// The testbed's improvement (default off, as Go): start all `cleanup_workers` with
    /// the first registration. Go (S40, `mcleanup.go`: `needG`/`createGs`) starts one
    /// with the first `AddCleanup`, and more only inside a later `AddCleanup` once the
    /// scheduler's `wake` found more queued blocks than sleeping goroutines, so a program
    /// whose registrations all came before the collection runs one goroutine.
    pub cleanup_eager_start: bool,
    /// The testbed's improvement (default off, as Go): a standby cleanup thread besides
    /// the workers. It takes queued cleanups only when no worker has taken one for
    /// [`crate::CLEANUP_STALL`] (1 ms), so one slow cleanup cannot hold up those queued
    /// behind it. Go has no such thread: a slow cleanup holds up the rest of its block,
    /// and on fewer than 8 cores (one goroutine) everything queued after it (S40/S41).
    pub cleanup_standby: bool,
    /// How much a cleanup worker takes from the queue at a time: Go's blocks (the
    /// default) or the testbed's adaptive batches.
    pub cleanup_batches: CleanupBatches,
    /// What a panicking finalizer or cleanup does.
    pub callback_panic: CallbackPanic,
    /// The leak checker, run at every mark termination (Go's `GODEBUG=checkfinalizers`,
    /// finding indirect reach too): off, the testbed's report mode, or Go's fatal mode.
    pub leak_check: LeakCheck,
    /// Test-only: a bug planted in sweeping for the differential test's negative controls.
    #[doc(hidden)]
    pub planted_bug: Option<PlantedBug>,
    /// Protections the loom suite's negative controls switch off (loom builds only).
    #[cfg(loom)]
    pub faults: LoomFaults,
    /// The whole-heap fork-join phases run on GOMAXPROCS threads (a rayon pool shared by
    /// the process's heaps, at most one thread per CPU) once the heap holds at least the
    /// parallel mark's threshold (1 MiB): the checkmark re-trace (`verify`), the leak
    /// checker's per-special traces, and the sweep that [`crate::Heap::gc`] finishes
    /// before it returns. Default off: Go's `runtime.GC` finishes the sweep on the calling
    /// goroutine, and Go's `gccheckmark` and `checkfinalizers` traces run on one thread;
    /// and on 2 busy cores it was not measurably faster (`results/rayon-phases.md`). With
    /// it on, callbacks queued by that sweep are queued in the order the threads reach
    /// the spans, not in span order, and lost-object reports come in trace order.
    pub parallel_phases: bool,
    /// The testbed's improvement (default off, as Go): at each cycle's first pause, free
    /// spans whose pages were all released are retired: their span structure, bitmaps,
    /// slot metadata and address space are freed (through crossbeam-epoch, once no
    /// collector thread can still read them; `heap::retire`), so address space shrinks
    /// as memory does. Go never unmaps heap arenas (`mheap.go`: `sysFree` is never called
    /// on arena memory); it coalesces free pages so that address space is reused, which
    /// this heap, whose spans do not coalesce, cannot. Costs: span indices are never
    /// reused, so a run that retires about a million spans leaves the span table's flat
    /// index (its first 2^20 entries) and every later span takes the two-level lookup;
    /// retirement stops at half the table's capacity. The retiring pause may also run
    /// crossbeam's collection of spans retired earlier (their unmapping) inside the pause.
    pub unmap_released_spans: bool,
}

/// Test-only bugs the differential test against Go must find (issue 23).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// Sweep queues an object's cleanups beside its finalizer in one cycle (breaks S48).
    CleanupBesideFinalizer,
    /// Sweep leaves a finalized object's weak handles set until it is freed (breaks S34).
    WeakClearedAfterFinalizer,
}

/// Fault switches for loom negative controls: each removes one protection, so a model
/// can show that loom finds the bug it guards against; and one knob that is not a fault,
/// `wbuf_capacity`. They exist only under `cfg(loom)`.
#[cfg(loom)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LoomFaults {
    /// Stop-the-world does not wait for running mutators to reach a safepoint.
    pub stop_without_waiting: bool,
    /// Mark termination neither runs the ragged barrier-buffer flush nor takes the
    /// buffers in its pause.
    pub skip_termination_flush: bool,
    /// Mark does not scan what a finalizer special's object references (S28), so objects
    /// reachable from a finalizable object can be finalized in the same cycle.
    pub skip_finalizer_scan: bool,
    /// Sweep queues a finalizer without resurrecting its object (S34): the object is
    /// freed while its finalizer is queued.
    pub no_resurrection: bool,
    /// A callback runner (the finalizer thread, a cleanup worker) checks its queue for
    /// work under the lock, releases it, and then parks without checking again: a batch
    /// queued in between is notified to nobody (the classic lost wake-up).
    pub runner_checks_outside_lock: bool,
    /// A cleanup worker that takes part of the queue leaves the rest to whoever the push
    /// claimed (`CallbackQueue::claim_one_for_rest` skipped): with one cleanup taken at a
    /// time, the rest of a block waits behind the taker's cleanup while the other workers
    /// sleep (the bug b1f84f40 fixed).
    pub no_claim_for_rest: bool,
    /// A callback runner that takes a queued entry during a mark does not shade its
    /// objects: the queue no longer roots them, and this runner's roots may have been
    /// scanned already.
    pub unshaded_queue_take: bool,
    /// The write barrier's slow path drops the old value its policy names (the hybrid
    /// barrier without its deletion half; Yuasa's barrier without anything).
    pub unshaded_old: bool,
    /// The write barrier's slow path drops the new value its policy names (the hybrid
    /// barrier without shading the new value while the writer's roots are unscanned).
    pub unshaded_new: bool,
    /// Mark termination does not rescan the mutators' roots
    /// (`RootRules::rescan_at_termination` off: Dijkstra's barrier without its rescan).
    pub no_termination_rescan: bool,
    /// The first pause does not take the mutators' roots (`RootRules::snapshot_at_start`
    /// off: Yuasa's barrier with each mutator's roots scanned concurrently, by handshake).
    pub no_root_snapshot: bool,
    /// `begin_sweep` advances the sweep generation before it counts the mark bits (the
    /// bug 67d46f1 fixed): a sweeper running through the pause claims spans mid-count.
    /// It yields after the advance: loom's scheduler does not otherwise run another
    /// thread inside that window (the control found nothing even unbounded).
    pub sweepgen_before_count: bool,
    /// `finish_sweep` returns once the unswept lists are empty, without checking every
    /// span (the bug 21c3deb fixed): a span another sweeper popped or claimed is left to
    /// it, and swept late.
    pub finish_sweep_on_empty_lists: bool,
    /// The scavenger chooses the free spans to release under the span lock but releases
    /// them after dropping it: an allocator can take one of them meanwhile and have its
    /// new object's words released under it.
    pub scavenge_outside_lock: bool,
    /// `Heap::stats` walks the span table without pinning the epoch domain: a pause can
    /// retire and free a span it is reading (`heap::retire`).
    pub stats_unpinned: bool,
    /// `sweep_span` publishes a span as swept before it files it (the bug 2b6aa44
    /// fixed): `finish_sweep` no longer waits for the filing.
    pub publish_before_filing: bool,
    /// A mark assist (`Mutator::mark_assist`, `Mutator::allocation_assist`) runs in the
    /// blocking state, so a pause does not wait for it: mark termination can end while
    /// the assist holds grey objects, and the collector serves a handshake for the
    /// mutator while its assist takes its own roots and barrier buffer.
    pub assist_while_blocking: bool,
    /// `Cleanup::stop` edits the specials of its object's span once `ensure_swept` has
    /// returned, without checking under the list's lock that no sweep generation has
    /// begun since (the behaviour before the fix): a mark termination in between leaves
    /// it editing an unswept span, whose sweep then reads a list its mark never saw.
    pub stop_edits_unswept: bool,
    /// The concurrent mark's coordinator stops its mark workers without waiting for them
    /// to exit (no join): mark termination can begin while a worker still holds grey
    /// objects, and its pause does not stop workers, which are not mutators.
    pub workers_unjoined: bool,
    /// A mark worker drops the grey objects its slice leaves instead of publishing them:
    /// marked objects that nobody scans.
    pub worker_drops_grey: bool,
    /// A scope (`Mutator::scope`) is preemptible: a safepoint inside it parks for a pause
    /// and serves handshakes, so the collector may scan the mutator's roots while the
    /// scope's `Gc` references (not roots) are live.
    pub preemptible_scopes: bool,
    /// A blocked mutator clears a dropped handle's root slot as a running one does, with
    /// exclusive access to its root table, though a collector may be reading the table
    /// (a pause does not wait for blocked mutators, and a handshake may claim one).
    pub blocking_clear_unsynchronized: bool,
    /// The mark's end (`MarkState::end`, Go's `gcWakeAllAssists`) closes the park queue
    /// and forgets its parked assists without waking them.
    pub close_without_wake: bool,
    /// A credit flush (`AssistQueue::flush_credit`, Go's `gcFlushBgCredit`) pays parked
    /// assists and takes them off the queue without waking them.
    pub flush_without_wake: bool,
    /// A mutator's flush of its full barrier buffer (`mark::barrier_flush`) drops the
    /// objects it greyed instead of publishing them: marked objects that nobody scans.
    pub flush_drops_grey: bool,
    /// Not a fault: the number of references at which a mutator's barrier buffer counts
    /// as full and its mutator marks it (`mark::barrier_flush`); 0 keeps the real
    /// capacity (`mark::pool::BATCH`), which no model's handful of stores reaches.
    pub wbuf_capacity: usize,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            gogc: Gogc::default(),
            min_heap_bytes: 4 << 20,
            verify: false,
            trace: false,
            concurrent: true,
            page_bytes: DEFAULT_PAGE_BYTES,
            gomaxprocs: default_gomaxprocs(),
            mark_workers: None,
            heap_limit: None,
            memory_limit: None,
            gctrace: false,
            cleanup_workers: None,
            cleanup_eager_start: false,
            cleanup_standby: false,
            cleanup_batches: CleanupBatches::Go,
            callback_panic: CallbackPanic::default(),
            leak_check: LeakCheck::Off,
            planted_bug: None,
            #[cfg(loom)]
            faults: LoomFaults::default(),
            parallel_phases: false,
            unmap_released_spans: false,
        }
    }
}

/// The available parallelism (Go's default GOMAXPROCS); 1 under loom.
pub fn default_gomaxprocs() -> usize {
    #[cfg(loom)]
    return 1;
    #[cfg(not(loom))]
    crate::sync::unmodelled::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The default page size: 8 KiB as in Go, or 64 bytes under loom so that a modelled heap
/// is a handful of words.
#[cfg(not(loom))]
pub const DEFAULT_PAGE_BYTES: usize = 8192;
/// The default page size: 8 KiB as in Go, or 64 bytes under loom so that a modelled heap
/// is a handful of words.
#[cfg(loom)]
pub const DEFAULT_PAGE_BYTES: usize = 64;

impl HeapConfig {
    /// Checks the configuration, returning a message that names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.page_bytes < 64 || !self.page_bytes.is_power_of_two() {
            return Err(format!(
                "page_bytes must be a power of two of at least 64, got {}",
                self.page_bytes
            ));
        }
        if self.gomaxprocs == 0 || self.gomaxprocs > 1024 {
            return Err(format!(
                "gomaxprocs must be in 1..=1024, got {}",
                self.gomaxprocs
            ));
        }
        if let Some(n) = self.mark_workers {
            if n > self.gomaxprocs {
                return Err(format!(
                    "mark_workers must be at most gomaxprocs ({}), got {n}: Go runs at most \
                     one dedicated mark worker per P",
                    self.gomaxprocs
                ));
            }
        }
        if self.cleanup_workers.is_some_and(|n| n == 0 || n > 1024) {
            return Err(format!(
                "cleanup_workers must be in 1..=1024, got {}",
                self.cleanup_workers.unwrap_or(0)
            ));
        }
        if self.page_bytes > 1 << 20 {
            return Err(format!(
                "page_bytes must be at most 1 MiB, got {}",
                self.page_bytes
            ));
        }
        Ok(())
    }

    /// Switches on the testbed's cleanup improvements, each a departure from Go 1.27:
    /// all workers started with the first registration (`cleanup_eager_start`), the
    /// standby (`cleanup_standby`) and adaptive batches (`cleanup_batches`).
    pub fn with_testbed_cleanups(self) -> Self {
        HeapConfig {
            cleanup_eager_start: true,
            cleanup_standby: true,
            cleanup_batches: CleanupBatches::Adaptive,
            ..self
        }
    }

    /// The most cleanup workers: the configured count, or Go's `max(GOMAXPROCS / 4, 1)`.
    pub fn cleanup_worker_count(&self) -> usize {
        self.cleanup_workers.unwrap_or((self.gomaxprocs / 4).max(1))
    }

    /// The heap size below which no automatic cycle starts, scaled by GOGC as Go does.
    pub fn scaled_min_heap(&self) -> usize {
        match self.gogc {
            Gogc::Percent(p) => (self.min_heap_bytes as u128 * p as u128 / 100) as usize,
            Gogc::Off => usize::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gogc_parses_go_spellings() {
        assert_eq!("100".parse::<Gogc>(), Ok(Gogc::Percent(100)));
        assert_eq!("0".parse::<Gogc>(), Ok(Gogc::Percent(0)));
        assert_eq!("off".parse::<Gogc>(), Ok(Gogc::Off));
        assert_eq!("OFF".parse::<Gogc>(), Ok(Gogc::Off));
        assert_eq!("-1".parse::<Gogc>(), Ok(Gogc::Off));
        let err = "fast".parse::<Gogc>().unwrap_err();
        assert!(err.contains("invalid GOGC value \"fast\""), "{err}");
        assert!("99999999999".parse::<Gogc>().is_err());
    }

    #[test]
    fn validate_rejects_bad_page_sizes() {
        let mut c = HeapConfig::default();
        assert!(c.validate().is_ok());
        c.page_bytes = 100;
        assert!(c.validate().unwrap_err().contains("page_bytes"));
        c.page_bytes = 32;
        assert!(c.validate().is_err());
    }

    /// The defaults are Go's cleanup runner (S40, S41); the testbed's options are off.
    #[test]
    fn cleanup_defaults_are_gos_and_the_options_parse() {
        let c = HeapConfig::default();
        assert!(!c.cleanup_standby && !c.cleanup_eager_start);
        assert_eq!(c.cleanup_batches, CleanupBatches::Go);
        let t = c.with_testbed_cleanups();
        assert!(t.cleanup_standby && t.cleanup_eager_start);
        assert_eq!(t.cleanup_batches, CleanupBatches::Adaptive);
        for b in [CleanupBatches::Go, CleanupBatches::Adaptive] {
            assert_eq!(b.to_string().parse::<CleanupBatches>(), Ok(b));
        }
        let err = "blocks".parse::<CleanupBatches>().unwrap_err();
        assert!(err.contains("invalid cleanup batches \"blocks\""), "{err}");
    }

    #[test]
    fn min_heap_scales_with_gogc() {
        let mut c = HeapConfig::default();
        assert_eq!(c.scaled_min_heap(), 4 << 20);
        c.gogc = Gogc::Percent(200);
        assert_eq!(c.scaled_min_heap(), 8 << 20);
        c.gogc = Gogc::Off;
        assert_eq!(c.scaled_min_heap(), usize::MAX);
    }
}
