//! Marking: tracing from the roots (mutators' handles, the globals space, specials and
//! queued callbacks) through reference slots, setting mark bits (Go's `mgcmark.go`). It
//! runs concurrently with the mutators during a concurrent cycle's mark (on the cycle's
//! thread, background workers, assists and mutators' barrier-buffer flushes,
//! `mark::barrier_flush`) and inside the pause at mark termination
//! and in stop-the-world cycles; for heaps big enough to pay for it, helper threads up
//! to GOMAXPROCS share grey work through [`pool::GreyPool`] and stop by the termination
//! protocol of [`Marker::run`].
//!
//! Invariant: a reference is marked at most once (the mark bit is set by one
//! atomic fetch-or, whose one winner scans the object), so every marked object is scanned
//! exactly once per cycle, and the mark ends only when no marker holds or can find grey
//! work.

pub(crate) mod assist;
pub(crate) mod barrier_flush;
pub(crate) mod park;
pub(crate) mod pool;
pub(crate) mod spares;
pub(crate) mod special_roots;
pub(crate) mod state;
#[cfg(not(loom))]
pub(crate) mod worker_pool;
pub(crate) mod workers;

use crate::heap::span::{prefetch, Marking, Span, SpanKind};
use crate::heap::Space;
use crate::object::Ref;
use crate::sync::{AtomicUsize, Ordering::*};
use crate::world::Stopped;
use pool::{Batch, DefaultPool, GreyPool, BATCH};

/// Reads a heap word the collector may race with a mutator on. Under loom it is a
/// read-modify-write, because loom otherwise can hide the race (loom explores a plain load as reading
/// any of the stores it may see, and can miss the one a racing marker needs).
#[inline(always)]
pub(crate) fn load_racy(w: &AtomicUsize) -> usize {
    #[cfg(loom)]
    return w.fetch_add(0, AcqRel);
    #[cfg(not(loom))]
    w.load(Acquire)
}

/// One marking thread's tracer: it sets mark bits and keeps its grey objects in a private
/// stack (and the few it has prefetched in a private ring), sharing batches through a
/// [`GreyPool`] when other markers may be idle.
pub(crate) struct Marker<'h, P: GreyPool> {
    space: &'h Space,
    /// Marked objects waiting to be scanned, shared between markers.
    pool: &'h P,
    /// References shaded by write barriers: to be marked (and then scanned).
    shaded: &'h P,
    /// Markers still working, and how many there are: `active < markers` means some are
    /// idle and waiting for a batch.
    active: &'h AtomicUsize,
    markers: usize,
    stack: Vec<(&'h Span, usize)>,
    /// Grey objects taken off the stack and prefetched, scanned oldest first: the
    /// prefetch issued as one enters has [`PREFETCH_DISTANCE`] scans to arrive (a stack
    /// alone scans what it pushed last at once, before its cache line can come).
    ring: Ring<'h>,
    /// Pushes since the last look at whether a marker is idle.
    since_balance: u32,
    /// References that named no live object (stale, poisoned or out of range). The
    /// checkmark pass reports each with its edge.
    pub(crate) bad_refs: u64,
    /// Objects newly marked.
    pub(crate) marked_objects: u64,
    /// Bytes of the objects newly marked (slot bytes; a large object's whole span).
    pub(crate) marked_bytes: u64,
    /// Scan work done: bytes of reference slots scanned (Go's scan work unit).
    pub(crate) scan_work: u64,
    /// [`Marker::drain`] returns once `scan_work` reaches this (`u64::MAX`: never).
    pub(crate) budget: u64,
}

impl<'h, P: GreyPool> Marker<'h, P> {
    pub(crate) fn new(
        space: &'h Space,
        pool: &'h P,
        shaded: &'h P,
        active: &'h AtomicUsize,
        markers: usize,
    ) -> Marker<'h, P> {
        Marker {
            space,
            pool,
            shaded,
            active,
            markers,
            stack: stack_from_spare(pool.buffers().stacks.take()),
            ring: Ring::default(),
            since_balance: 0,
            bad_refs: 0,
            marked_objects: 0,
            marked_bytes: 0,
            scan_work: 0,
            budget: u64::MAX,
        }
    }

    /// Greys `r` if it is not marked yet. The span comes from the table's flat index (a
    /// shift and a load, as Go's `spanOf`; the table's empty span, which is `Free`, for no
    /// span); one look at the kind, then the allocation and mark bits of the slot's bitmap
    /// word (Go's `greyobject`).
    #[inline(always)]
    pub(crate) fn mark(&mut self, r: Ref) {
        let span = self.space.table.span_or_empty(r.key());
        let large = match span.kind() {
            SpanKind::Small => false,
            SpanKind::Large => true,
            // Globals are roots; they are scanned by `mark_globals`, never marked.
            SpanKind::Immortal => return,
            SpanKind::Free => {
                self.bad_refs += 1;
                return;
            }
        };
        let slot = r.slot();
        // The allocation bit, not the metadata, says whether the slot holds an object:
        // the bitmap is 64 times denser, so it is usually in cache.
        match span.mark_allocated(slot) {
            Marking::Already => {}
            Marking::Bad => self.bad_refs += 1,
            Marking::New => {
                self.marked_objects += 1;
                self.marked_bytes += if large {
                    span.large_bytes() as u64
                } else {
                    (span.elem_words() * crate::object::WORD_BYTES) as u64
                };
                if !span.noscan() {
                    self.push(span, slot);
                }
            }
        }
    }

    #[inline(always)]
    fn push(&mut self, span: &'h Span, slot: usize) {
        self.stack.push((span, slot));
        self.since_balance += 1;
        if self.since_balance >= BALANCE_INTERVAL {
            self.balance();
        }
    }

    /// Go's `gcWork.balance`: when another marker is idle and the pool is empty, hand it
    /// the older half of the stack (nearest the roots: the biggest subgraphs), at most a
    /// batch. A tree traced depth-first keeps a shallow stack, so waiting for a full
    /// batch would starve the others.
    #[cold]
    fn balance(&mut self) {
        self.since_balance = 0;
        if self.markers == 1
            || self.stack.len() < 2
            || self.active.load(Relaxed) == self.markers
            || !self.pool.is_empty()
        {
            return;
        }
        let n = (self.stack.len() / 2).min(BATCH);
        // Taking from the front moves the rest of the stack: fine for a tree's shallow
        // stack, quadratic for the millions of entries one huge object pushes, which are
        // shared from the top instead.
        let range = if self.stack.len() <= 8 * BATCH {
            0..n
        } else {
            self.stack.len() - n..self.stack.len()
        };
        self.hand_over(range);
    }

    /// Puts the stack's entries in `range` (at most a batch) in the pool, as one batch in
    /// a spare buffer.
    #[inline(never)]
    fn hand_over(&mut self, range: std::ops::Range<usize>) {
        let mut batch: Batch = self.pool.buffers().batches.take();
        let refs = self.stack.drain(range);
        batch.extend(refs.map(|(span, slot)| Ref::new(span.index, slot, 0)));
        self.pool.put(batch);
    }

    /// Scans grey objects, local ones first, then batches from the pool, then marks
    /// shaded references, until no work is visible (true) or the scan work reaches the
    /// budget (false; grey objects may be left on the local stack: see
    /// [`Marker::publish`]).
    pub(crate) fn drain(&mut self) -> bool {
        loop {
            while let Some((span, slot)) = self.next_grey() {
                self.scan(span, slot);
                if self.scan_work >= self.budget {
                    return false;
                }
            }
            if !self.refill() {
                return true;
            }
        }
    }

    /// Takes a batch from the pool onto the stack, or else marks a batch of shaded
    /// references; false if neither pool had one. The emptied batch becomes a spare of
    /// the pool it came from: the grey pool's for this marker's hand-overs, the shaded
    /// pool's for the barrier buffers that pauses, handshakes and assists take from
    /// mutators (`hand_over_wbuf_stopped`). Kept out of [`Marker::drain`]'s loop.
    #[inline(never)]
    fn refill(&mut self) -> bool {
        if let Some(mut batch) = self.pool.take() {
            for r in batch.drain(..) {
                if let Some(span) = self.space.span(r.span()) {
                    self.stack.push((span, r.slot()));
                }
            }
            self.pool.buffers().batches.give(batch);
        } else if let Some(mut batch) = self.shaded.take() {
            for r in batch.drain(..) {
                self.mark(r);
            }
            self.shaded.buffers().batches.give(batch);
        } else {
            return false;
        }
        true
    }

    /// The next local grey object to scan: the stack's top enters the ring, prefetched
    /// (its first word and its metadata), in exchange for the ring's oldest; once the
    /// stack is empty, the ring's oldest.
    #[inline(always)]
    fn next_grey(&mut self) -> Option<(&'h Span, usize)> {
        while let Some((span, slot)) = self.stack.pop() {
            if let Some(w) = span.words().get(span.slot_base(slot)) {
                prefetch(w);
            }
            span.prefetch_meta(slot);
            if let Some(oldest) = self.ring.exchange((span, slot)) {
                return Some(oldest);
            }
        }
        self.ring.pop()
    }

    /// Hands the local stack to the pool, for a marker that stops before its work is
    /// done (an assist or a worker at the end of its time slice).
    pub(crate) fn publish(&mut self) {
        while let Some(grey) = self.ring.pop() {
            self.stack.push(grey);
        }
        while !self.stack.is_empty() {
            let at = self.stack.len().saturating_sub(BATCH);
            self.hand_over(at..self.stack.len());
        }
    }

    /// Drops the local stack: grey objects nobody will scan (a loom fault's worker).
    #[cfg(loom)]
    pub(crate) fn discard(&mut self) {
        self.stack.clear();
        self.ring = Ring::default();
    }

    /// Scans a grey object's reference slots (Go's `scanobject`): its metadata says how
    /// many, and they are one slice of the span's words.
    #[inline(always)]
    fn scan(&mut self, span: &'h Span, slot: usize) {
        let Some(meta) = span.meta(slot) else { return };
        let n = meta.ptr_slots as usize;
        let base = span.slot_base(slot);
        self.scan_work += (n * crate::object::WORD_BYTES) as u64;
        for w in &span.words()[base..base + n] {
            if let Some(r) = Ref::from_word(load_racy(w)) {
                self.mark(r);
            }
        }
    }

    /// Marks until every marker sharing `active` has run out of work: the termination
    /// protocol. `active` starts at the number of markers. A marker out of work leaves
    /// the count, and rejoins it before it takes a batch it saw in the pool; since only
    /// counted markers create or hold grey objects, a zero count with an empty pool means
    /// the mark is complete. (A marker may leave while another still works; the last to
    /// leave sees everything done, and the caller waits for all. During a concurrent
    /// mark, mutators' assists and barrier flushes add grey work outside this count;
    /// mark termination's handshake and pause recheck the pools for it.)
    pub(crate) fn run(&mut self) {
        let active = self.active;
        'work: loop {
            let done = self.drain();
            debug_assert!(done, "Marker::run marks without a budget");
            active.fetch_sub(1, SeqCst);
            let mut spins = 0u32;
            loop {
                if !self.pool.is_empty() || !self.shaded.is_empty() {
                    active.fetch_add(1, SeqCst);
                    continue 'work;
                }
                if active.load(SeqCst) == 0 {
                    return;
                }
                spins += 1;
                if spins.is_multiple_of(64) {
                    crate::sync::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }

    /// What this marker found, as the result of a mark on `threads` threads.
    pub(crate) fn result(&self, threads: usize) -> MarkResult {
        MarkResult {
            marked_objects: self.marked_objects,
            marked_bytes: self.marked_bytes,
            bad_refs: self.bad_refs,
            threads,
            scan_work: self.scan_work,
        }
    }

    /// Greys every mutator's handles.
    pub(crate) fn mark_mutator_roots(&mut self, stopped: &Stopped<'_>) {
        for m in stopped.mutators() {
            m.roots_stopped(stopped, |t| {
                for (_, r) in t.iter() {
                    self.mark(r);
                }
            });
        }
    }

    /// Greys everything the globals space references.
    pub(crate) fn mark_globals(&mut self) {
        let space = self.space;
        for_each_global(space, |span, base, ptr_slots| {
            for i in 0..ptr_slots {
                if let Some(r) = Ref::from_word(load_racy(span.word(base + i))) {
                    self.mark(r);
                }
            }
        });
    }
}

impl<P: GreyPool> Drop for Marker<'_, P> {
    /// The private stack, emptied (see [`Marker::publish`]), is kept as a spare.
    fn drop(&mut self) {
        let stack = std::mem::take(&mut self.stack);
        self.pool.buffers().stacks.give(stack_to_spare(stack));
    }
}

// A stack entry has the layout of a spare stack's element (`pool::Buffers::stacks`).
const _: () = assert!(size_of::<(&Span, usize)>() == size_of::<[usize; 2]>());
const _: () = assert!(align_of::<(&Span, usize)>() == align_of::<[usize; 2]>());

/// A spare stack as a marker's private stack (its allocation reused).
fn stack_from_spare<'h>(spare: Vec<[usize; 2]>) -> Vec<(&'h Span, usize)> {
    let mut spare = std::mem::ManuallyDrop::new(spare);
    // SAFETY: the entry types have one size and alignment (asserted above), so the
    // allocation is one made for this many entries; length 0 reads no element.
    unsafe { Vec::from_raw_parts(spare.as_mut_ptr().cast(), 0, spare.capacity()) }
}

/// A marker's private stack, emptied, as a spare stack (its allocation kept).
fn stack_to_spare(mut stack: Vec<(&Span, usize)>) -> Vec<[usize; 2]> {
    stack.clear();
    let mut stack = std::mem::ManuallyDrop::new(stack);
    // SAFETY: as in `stack_from_spare`; the stack is empty, so no reference outlives it.
    unsafe { Vec::from_raw_parts(stack.as_mut_ptr().cast(), 0, stack.capacity()) }
}

/// A fixed ring of [`PREFETCH_DISTANCE`] grey objects, first in first out: an entry
/// goes in where `next` points, which holds the oldest entry (or none), and `next`
/// moves on, so from `next` round the ring the entries are in the order they came in
/// (with gaps where `pop` took one). A power of two, so an index is masked, never
/// bounds-checked, and nothing is allocated.
#[derive(Default)]
struct Ring<'h> {
    entries: [Option<(&'h Span, usize)>; PREFETCH_DISTANCE],
    next: usize,
    /// Entries held.
    len: usize,
}

impl<'h> Ring<'h> {
    /// Puts `grey` in and takes out the entry that came in [`PREFETCH_DISTANCE`]
    /// insertions before it (`None` while the ring has a gap there).
    #[inline(always)]
    fn exchange(&mut self, grey: (&'h Span, usize)) -> Option<(&'h Span, usize)> {
        let oldest = self.entries[self.next].replace(grey);
        self.next = (self.next + 1) & (PREFETCH_DISTANCE - 1);
        if oldest.is_none() {
            self.len += 1;
        }
        oldest
    }

    /// Takes the oldest entry.
    #[inline(always)]
    fn pop(&mut self) -> Option<(&'h Span, usize)> {
        while self.len > 0 {
            let grey = self.entries[self.next].take();
            self.next = (self.next + 1) & (PREFETCH_DISTANCE - 1);
            if grey.is_some() {
                self.len -= 1;
                return grey;
            }
        }
        None
    }
}

/// What a mark found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkResult {
    /// Objects marked.
    pub(crate) marked_objects: u64,
    /// Bytes of the objects marked (as `Span::slot_bytes` counts them).
    pub(crate) marked_bytes: u64,
    /// References to no live object that the mark met.
    pub(crate) bad_refs: u64,
    /// Threads that marked.
    pub(crate) threads: usize,
    /// Scan work done.
    pub(crate) scan_work: u64,
}

impl MarkResult {
    /// Adds the results of another mark of the same cycle.
    pub(crate) fn absorb(&mut self, other: MarkResult) {
        self.marked_objects += other.marked_objects;
        self.marked_bytes += other.marked_bytes;
        self.bad_refs += other.bad_refs;
        self.scan_work += other.scan_work;
        self.threads = self.threads.max(other.threads);
    }
}

/// Grey objects prefetched ahead of the scan (see `Marker::ring`; a power of two).
const PREFETCH_DISTANCE: usize = 16;
const _: () = assert!(PREFETCH_DISTANCE.is_power_of_two());

/// Pushes between two looks at whether another marker needs work.
const BALANCE_INTERVAL: u32 = 32;

/// Live heaps smaller than this are marked by the collecting thread alone: starting
/// helpers would cost more than they save.
pub(crate) const PARALLEL_MARK_MIN_BYTES: usize = 1 << 20;

/// Which roots a mark starts from, besides the `shaded` references.
#[derive(Clone, Copy)]
pub(crate) enum Roots<'a, 's> {
    /// Every mutator's handles and the globals (a stop-the-world mark).
    All(&'a Stopped<'s>),
    /// Every mutator's handles only (Dijkstra's rescan at mark termination).
    Handles(&'a Stopped<'s>),
    /// None: the roots were handed over already, as shaded references.
    None,
}

/// Marks everything reachable from `roots` and from the `shaded` references, on `threads`
/// threads (the calling one and `threads - 1` helpers that live for this mark only).
/// With the world running (concurrent marking), mutators may add shaded references and
/// grey objects (their full barrier buffers, marked: `mark::barrier_flush`) meanwhile;
/// the mark returns once it sees none left.
pub(crate) fn mark_from(
    space: &Space,
    shaded: &DefaultPool,
    pool: &DefaultPool,
    roots: Roots<'_, '_>,
    threads: usize,
) -> MarkResult {
    let threads = threads.max(1);
    let active = AtomicUsize::new(threads);
    let run_roots = |m: &mut Marker<'_, DefaultPool>| {
        match roots {
            Roots::All(stopped) => {
                m.mark_mutator_roots(stopped);
                m.mark_globals();
            }
            Roots::Handles(stopped) => m.mark_mutator_roots(stopped),
            Roots::None => {}
        }
        m.run();
        m.result(1)
    };
    #[cfg(not(loom))]
    if threads > 1 {
        let active = &active;
        let mut total = MarkResult {
            threads,
            ..MarkResult::default()
        };
        crate::sync::unmodelled::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads)
                .map(|_| {
                    s.spawn(move || {
                        let mut m = Marker::new(space, pool, shaded, active, threads);
                        m.run();
                        m.result(1)
                    })
                })
                .collect();
            let mut m = Marker::new(space, pool, shaded, active, threads);
            total.absorb(run_roots(&mut m));
            for h in helpers {
                total.absorb(h.join().expect("a mark helper panicked"));
            }
        });
        return total;
    }
    let mut m = Marker::new(space, pool, shaded, &active, 1);
    run_roots(&mut m)
}

/// The references held by every global's reference slots (scanned as roots).
pub(crate) fn global_refs(space: &Space) -> Vec<Ref> {
    let mut out = Vec::new();
    for_each_global(space, |span, base, ptr_slots| {
        for i in 0..ptr_slots {
            if let Some(r) = Ref::from_word(load_racy(span.word(base + i))) {
                out.push(r);
            }
        }
    });
    out
}

/// Calls `f(span, first word, reference slots)` for every object in the globals space.
pub(crate) fn for_each_global(space: &Space, mut f: impl FnMut(&Span, usize, usize)) {
    for i in 0..space.table.len() {
        let Some(span) = space.span(i) else { continue };
        if span.kind() != SpanKind::Immortal {
            continue;
        }
        for w in 0..span.bitmap_words() {
            let mut bits = span.alloc_bits(w).load(Acquire);
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(meta) = span.meta(slot) {
                    if meta.ptr_slots > 0 {
                        f(span, span.slot_base(slot), meta.ptr_slots as usize);
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
