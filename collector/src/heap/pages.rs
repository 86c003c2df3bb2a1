//! Span storage whose physical pages can be given back to the OS while its address stays
//! valid: a zeroed, page-aligned array of atomics (a span's words and slot metadata).
//!
//! Go's scavenger returns free pages with `madvise(MADV_DONTNEED)` and keeps the address
//! range (`sysUnused`, mgcscavenge.go); so does this. A span keeps its storage until it
//! is retired (`heap::retire`; so a `&Span` and every slice into it stay valid as
//! `heap::span` says), and a free span's pages can be released before: the kernel drops them, the
//! process's resident set falls, and the next access faults in a fresh zero page.
//!
//! `Retained` counts what the spans hold in memory (Go's `heapRetained`: mapped minus
//! released) and decides how much an allocation must release (Go's `allocSpan` rules).
//!
//! Invariant: a `PageBox` owns one allocation of `len` elements for its whole life (its
//! address and length never change until it is dropped); `release` only drops the
//! physical pages of whole OS pages inside it, after which those elements read as zero,
//! a valid value of every element type (`ZeroValid`). So a reader racing a release reads
//! the old value or zero, never freed memory. Under loom the storage is an ordinary boxed
//! slice and a release stores zero into each element: the same values a reader may see.

use crate::sync::unmodelled::{AtomicUsize, Ordering::Relaxed};
#[cfg(not(loom))]
use std::ptr::NonNull;

/// Element types for which all-zero bytes are a valid value (and zero the initial one).
///
/// # Safety
/// The implementor must have the size and bit validity of an integer type.
pub(crate) unsafe trait ZeroValid: Sized {
    /// The zero value (built one by one under loom, whose atomics are not plain memory).
    #[cfg_attr(not(loom), allow(dead_code))]
    fn zero() -> Self;
    /// Stores zero (what a released page reads as; loom's stand-in for the release; and
    /// `PageBox::touch_pages`' write).
    fn store_zero(&self);
}

// SAFETY: `std`'s `AtomicUsize` has the size and bit validity of `usize`.
unsafe impl ZeroValid for crate::sync::AtomicUsize {
    fn zero() -> Self {
        Self::new(0)
    }
    fn store_zero(&self) {
        self.store(0, crate::sync::Ordering::Relaxed);
    }
}

// SAFETY: `std`'s `AtomicU64` has the size and bit validity of `u64`.
unsafe impl ZeroValid for crate::sync::AtomicU64 {
    fn zero() -> Self {
        Self::new(0)
    }
    fn store_zero(&self) {
        self.store(0, crate::sync::Ordering::Relaxed);
    }
}

/// The OS page size.
#[cfg(not(loom))]
fn os_page() -> usize {
    // SAFETY: `sysconf` with a valid name has no precondition.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// The OS page size of the loom build (which maps nothing).
#[cfg(loom)]
fn os_page() -> usize {
    4096
}

/// Address space mapped at a time for span storage, carved into spans' boxes in order.
#[cfg(not(loom))]
const CHUNK_BYTES: usize = 4 << 20;

/// The unused rest of the last chunk mapped (`start..end`, whole OS pages).
#[cfg(not(loom))]
static CHUNK: crate::sync::unmodelled::Mutex<(usize, usize)> =
    crate::sync::unmodelled::Mutex::new((0, 0));

/// An anonymous private mapping of `len` bytes (whole OS pages), at an address the kernel
/// chooses.
#[cfg(not(loom))]
fn mmap_anonymous(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping of a non-zero length, at an address the
    // kernel chooses, touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// `len` bytes (whole OS pages) of zeroed, untouched memory that no one else owns: cut
/// from the front of a chunk of [`CHUNK_BYTES`] mapped at once (one system call and one
/// kernel mapping for many spans, where a mapping per span cost binary-trees some 3,000
/// `mmap` calls a run; as Go maps heap arenas), or mapped alone when larger. Each range
/// is still its own to release (`madvise`) and to unmap (`munmap` takes a part of a
/// mapping), so a `PageBox` owns it exactly as a mapping of its own.
#[cfg(not(loom))]
fn map_pages(len: usize) -> Option<NonNull<u8>> {
    if len > CHUNK_BYTES / 4 {
        return mmap_anonymous(len);
    }
    let mut chunk = crate::sync::unmodelled::lock(&CHUNK);
    let (start, end) = *chunk;
    if end - start < len {
        let fresh = mmap_anonymous(CHUNK_BYTES)?.as_ptr() as usize;
        if end > start {
            // SAFETY: `start..end` is whole OS pages of the previous chunk that no box
            // was given: unmapping it touches nothing anyone holds.
            unsafe { libc::munmap(start as *mut libc::c_void, end - start) };
        }
        *chunk = (fresh, fresh + CHUNK_BYTES);
    }
    let p = chunk.0;
    chunk.0 += len;
    NonNull::new(p as *mut u8)
}

/// A fixed array of `T`s, zeroed at creation, whose whole OS pages can be released.
#[cfg(not(loom))]
pub(crate) struct PageBox<T: ZeroValid> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a `PageBox` owns its elements like a `Box<[T]>` does.
#[cfg(not(loom))]
unsafe impl<T: ZeroValid + Send> Send for PageBox<T> {}
// SAFETY: as above; shared access hands out only `&T`.
#[cfg(not(loom))]
unsafe impl<T: ZeroValid + Sync> Sync for PageBox<T> {}

#[cfg(not(loom))]
impl<T: ZeroValid> PageBox<T> {
    /// Whether `len` elements are mapped from the OS (whole OS pages) rather than taken
    /// from the global allocator (a span smaller than a page: never released).
    fn mapped(len: usize) -> bool {
        let bytes = len * std::mem::size_of::<T>();
        bytes >= os_page() && bytes.is_multiple_of(os_page())
    }

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::array::<T>(len).expect("span storage layout")
    }

    /// `len` zero elements: whole pages mapped from the OS ([`map_pages`]), which cost
    /// memory only once touched; anything smaller from the global allocator.
    pub(crate) fn zeroed(len: usize) -> PageBox<T> {
        if len == 0 {
            return PageBox {
                ptr: NonNull::dangling(),
                len,
            };
        }
        let p = if Self::mapped(len) {
            match map_pages(len * std::mem::size_of::<T>()) {
                Some(p) => p.as_ptr().cast::<T>(),
                None => std::alloc::handle_alloc_error(Self::layout(len)),
            }
        } else {
            // SAFETY: the layout's size is not zero.
            unsafe { std::alloc::alloc_zeroed(Self::layout(len)) }.cast::<T>()
        };
        let Some(ptr) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(Self::layout(len))
        };
        PageBox { ptr, len }
    }

    /// Stores zero into the first element of each OS page, so that every page is faulted
    /// in writable now, by one write fault each. Read first (a write barrier's look at
    /// the old value of a new object's slot, during a mark), a page not yet faulted in
    /// maps the shared zero page, and the write after it takes a second, copy-on-write
    /// fault whose TLB flush interrupts every CPU the process runs on. The caller must
    /// own every value in the box (a span fresh from the page pool, all its slots free):
    /// the zeros it stores may replace values.
    pub(crate) fn touch_pages(&self) {
        let step = (os_page() / std::mem::size_of::<T>()).max(1);
        for element in self.iter().step_by(step) {
            element.store_zero();
        }
    }

    /// Drops the physical pages of the whole OS pages inside elements `from..`; returns
    /// the bytes released. The elements read as zero afterwards.
    pub(crate) fn release_from(&self, from: usize) -> usize {
        // Only a box of mapped pages is released: inside a global-allocator block the
        // kind of memory is the allocator's business (found in review).
        if from >= self.len || !Self::mapped(self.len) {
            return 0;
        }
        let page = os_page();
        let start = self.ptr.as_ptr() as usize + from * std::mem::size_of::<T>();
        let end = self.ptr.as_ptr() as usize + self.len * std::mem::size_of::<T>();
        let (lo, hi) = (start.next_multiple_of(page), end / page * page);
        if hi <= lo {
            return 0;
        }
        // SAFETY: `lo..hi` is whole OS pages inside this box's own range of private
        // anonymous mapped pages (`mapped` checked above; `map_pages`), which no one
        // else owns. `MADV_DONTNEED` on
        // private anonymous memory only replaces the pages with zero-fill ones: every element
        // stays a valid `T` (`ZeroValid`), and all accesses are atomic, so a racing
        // reader sees the old value or zero.
        let rc = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
        if rc == 0 {
            hi - lo
        } else {
            0
        }
    }
}

#[cfg(not(loom))]
impl<T: ZeroValid> PageBox<T> {
    /// Gives up the box's pages without unmapping them, for an [`UnmapOnDrop`] to unmap
    /// with their neighbours in one call; `None` (and the box dropped as usual) for an
    /// empty box or one from the global allocator.
    pub(crate) fn into_mapped_range(self) -> Option<MappedRange> {
        if self.len == 0 || !Self::mapped(self.len) {
            return None;
        }
        let start = self.ptr.as_ptr() as usize;
        let range = start..start + self.len * std::mem::size_of::<T>();
        std::mem::forget(self);
        Some(MappedRange(range))
    }
}

/// The pages of a box given up by [`PageBox::into_mapped_range`]: the box's own range of
/// whole OS pages from `map_pages`, which nothing else unmaps or reads once the box is
/// forgotten. Made only there and neither `Clone` nor `Copy`, so each box's range is
/// unmapped once, by the [`UnmapOnDrop`] it is pushed to.
#[cfg(not(loom))]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MappedRange(std::ops::Range<usize>);

#[cfg(not(loom))]
impl MappedRange {
    /// The range's bounds (to look at; only an [`UnmapOnDrop`] unmaps it).
    #[cfg(test)]
    pub(crate) fn bounds(&self) -> std::ops::Range<usize> {
        self.0.clone()
    }
}

/// Boxes' pages to unmap, unmapped when this is dropped (also while a panic unwinds),
/// each run of ranges that touch in one `munmap`: a heap's boxes are carved one after
/// another from the same chunks (`map_pages`), so its drop unmaps a few runs instead of
/// every span's words and metadata apart (one call each, each splitting the chunk's
/// mapping: binary-trees spent about 12 ms of a 0.27 s run there, after its mutators).
#[cfg(not(loom))]
#[derive(Default)]
pub(crate) struct UnmapOnDrop(Vec<MappedRange>);

#[cfg(not(loom))]
impl UnmapOnDrop {
    /// Adds a box's pages, if it gave any up.
    pub(crate) fn push(&mut self, range: Option<MappedRange>) {
        self.0.extend(range);
    }

    /// Unmaps every range now; returns the number of `munmap` calls (runs).
    pub(crate) fn unmap_now(mut self) -> usize {
        self.unmap()
    }

    fn unmap(&mut self) -> usize {
        let mut ranges = std::mem::take(&mut self.0);
        ranges.sort_unstable_by_key(|r| r.0.start);
        let mut calls = 0;
        let mut rest = ranges.iter().peekable();
        while let Some(first) = rest.next() {
            let (start, mut end) = (first.0.start, first.0.end);
            while let Some(next) = rest.next_if(|r| r.0.start == end) {
                end = next.0.end;
            }
            debug_assert!(
                rest.peek().is_none_or(|r| r.0.start > end),
                "overlapping ranges"
            );
            // SAFETY: `start..end` is a union of ranges that touch, each a `MappedRange`:
            // a box's own whole OS pages, given up once (the type is neither `Clone` nor
            // `Copy`, and `ranges` was taken out of `self`), which nothing else unmaps or
            // reads: no one else owns any page in it.
            let rc = unsafe { libc::munmap(start as *mut libc::c_void, end - start) };
            debug_assert_eq!(rc, 0, "munmap of owned pages failed");
            calls += 1;
        }
        calls
    }
}

#[cfg(not(loom))]
impl Drop for UnmapOnDrop {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(not(loom))]
impl<T: ZeroValid> std::ops::Deref for PageBox<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised elements (zeroed, a valid `T`) for the
        // box's life, or is dangling with `len` 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(not(loom))]
impl<T: ZeroValid> Drop for PageBox<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let p = self.ptr.as_ptr();
        // SAFETY: made in `zeroed`, by `map_pages` of this length (a range of whole pages
        // no one else owns, which `munmap` may take out of a larger mapping) or the
        // global allocator with this layout (`mapped` decides both ways alike); `&mut
        // self` means no reference into it is alive, and `T` (an atomic) needs no drop.
        unsafe {
            if Self::mapped(self.len) {
                libc::munmap(p.cast(), self.len * std::mem::size_of::<T>());
            } else {
                std::alloc::dealloc(p.cast(), Self::layout(self.len));
            }
        }
    }
}

/// Loom's stand-in: a boxed slice; a release stores zero into the elements.
#[cfg(loom)]
pub(crate) struct PageBox<T: ZeroValid>(Box<[T]>);

#[cfg(loom)]
impl<T: ZeroValid> PageBox<T> {
    pub(crate) fn zeroed(len: usize) -> PageBox<T> {
        PageBox((0..len).map(|_| T::zero()).collect())
    }

    pub(crate) fn release_from(&self, from: usize) -> usize {
        for e in self.0.get(from..).unwrap_or(&[]) {
            e.store_zero();
        }
        self.0.len().saturating_sub(from) * std::mem::size_of::<T>()
    }
}

#[cfg(loom)]
impl<T: ZeroValid> std::ops::Deref for PageBox<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

/// What a span is taken for.
#[derive(Clone, Copy)]
pub(crate) enum Fit {
    /// A small-object span: exactly `pages`, bitmaps for at least `slots` slots.
    Small { pages: usize, slots: usize },
    /// A large object of `pages` pages: any free span at least that long.
    Large { pages: usize },
}

/// The heap's page accounting and the scavenger's goals (Go's `heapRetained`, and the
/// goals of mgcscavenge.go). Changed under the span lock; read anywhere.
pub(crate) struct Retained {
    /// Bytes of span words that may be resident: mapped minus released.
    retained: AtomicUsize,
    /// Bytes of span words created (address space; never falls).
    mapped: AtomicUsize,
    /// Bytes released to the OS so far.
    released_total: AtomicUsize,
    /// Bytes of `retained` held by free spans (so `retained - free_retained` is Go's
    /// `heapInUse`).
    free_retained: AtomicUsize,
    /// Go's `gcPercentGoal`: the memory the heap needs at its goal, plus 10 %
    /// (`retainExtraPercent`; see `pace_scavenger`); `usize::MAX` for none (before the
    /// first cycle's end, or while the heap held no more at the last one's).
    gc_percent_goal: AtomicUsize,
    /// The memory limit the allocating thread scavenges down to (Go's inline rule in
    /// `allocSpan`): the lower of `heap_limit` and `memory_limit`; `usize::MAX` for none.
    pub(crate) limit: usize,
}

/// Go's `retainExtraPercent`.
const RETAIN_EXTRA_PERCENT: usize = 10;

/// Go's `reduceExtraPercent`.
#[cfg_attr(loom, allow(dead_code))]
const REDUCE_EXTRA_PERCENT: usize = 5;

impl Retained {
    pub(crate) fn new(limit: Option<usize>) -> Retained {
        Retained {
            retained: AtomicUsize::new(0),
            mapped: AtomicUsize::new(0),
            released_total: AtomicUsize::new(0),
            free_retained: AtomicUsize::new(0),
            gc_percent_goal: AtomicUsize::new(usize::MAX),
            limit: limit.unwrap_or(usize::MAX),
        }
    }

    /// Bytes the heap's spans hold in memory now (mapped minus released).
    pub(crate) fn retained(&self) -> usize {
        self.retained.load(Relaxed)
    }

    /// Bytes of the spans in use (Go's `heapInUse`: retained minus what free spans
    /// hold). Less the heap's live bytes, it is what the heap holds beyond its objects
    /// (fragmentation): what Go's memory-limit goal subtracts as non-heap memory.
    pub(crate) fn in_use(&self) -> usize {
        self.retained()
            .saturating_sub(self.free_retained.load(Relaxed))
    }

    /// Bytes of span storage ever mapped.
    pub(crate) fn mapped(&self) -> usize {
        self.mapped.load(Relaxed)
    }

    /// Bytes released to the OS so far.
    pub(crate) fn released_total(&self) -> usize {
        self.released_total.load(Relaxed)
    }

    /// Go's `gcPaceScavenger` (its GOGC part), called at each mark termination with the
    /// next heap `goal`, the goal the cycle ran with (`last_goal`), and the span bytes in
    /// use at the termination (Go's `lastHeapInUse`, read after its `gcSweep`: before a
    /// concurrent sweep frees any, after a blocking one): the retention goal is `in_use`
    /// scaled by `goal / last_goal` (as floats: both `usize::MAX` with GOGC off and no
    /// memory limit give Go's ratio 1), plus 10 % (`retainExtraPercent`), rounded up to
    /// an OS page; none at all (`usize::MAX`) if the heap holds no more than that now
    /// (or less than a page more), so that until the next cycle neither the background
    /// scavenger nor an allocation's growth releases anything for it.
    pub(crate) fn pace_scavenger(&self, goal: usize, last_goal: usize, in_use: usize) {
        let ratio = goal as f64 / last_goal.max(1) as f64;
        let scaled = (in_use as f64 * ratio).min(usize::MAX as f64 / 2.0) as usize;
        let g = (scaled + scaled / (100 / RETAIN_EXTRA_PERCENT)).next_multiple_of(os_page());
        let retained = self.retained();
        let within = retained <= g || retained - g < os_page();
        self.gc_percent_goal
            .store(if within { usize::MAX } else { g }, Relaxed);
    }

    /// What the background scavenger releases down to: the lower of the retention goal
    /// and 95 % of the memory limit (Go's `reduceExtraPercent`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn background_goal(&self) -> usize {
        let limit_goal = match self.limit {
            usize::MAX => usize::MAX,
            l => l / 100 * (100 - REDUCE_EXTRA_PERCENT),
        };
        self.gc_percent_goal.load(Relaxed).min(limit_goal)
    }

    /// Counts `bytes` retained by a span entering (`true`) or leaving the page pool.
    pub(crate) fn pool(&self, entering: bool, bytes: usize) {
        if entering {
            self.free_retained.fetch_add(bytes, Relaxed);
        } else {
            self.free_retained.fetch_sub(bytes, Relaxed);
        }
    }

    /// Counts `bytes` of new span storage.
    pub(crate) fn map(&self, bytes: usize) {
        self.mapped.fetch_add(bytes, Relaxed);
    }

    /// Counts `bytes` of span storage unmapped (a retired span's).
    pub(crate) fn unmap(&self, bytes: usize) {
        self.mapped.fetch_sub(bytes, Relaxed);
    }

    /// Counts `bytes` becoming resident.
    pub(crate) fn grow(&self, bytes: usize) {
        self.retained.fetch_add(bytes, Relaxed);
    }

    /// Counts `bytes` released.
    pub(crate) fn shrink(&self, bytes: usize) {
        self.retained.fetch_sub(bytes, Relaxed);
        self.released_total.fetch_add(bytes, Relaxed);
    }

    /// Bytes to release after an allocation made `growth` bytes resident (Go's
    /// `allocSpan`, after `HaveSpan`): down to the memory limit (unless `to_limit` is
    /// false: Go skips it while its GC CPU limiter is on), and on growth the lower of
    /// the growth and the excess over the GOGC retention goal.
    pub(crate) fn to_scavenge(&self, growth: usize, to_limit: bool) -> usize {
        let retained = self.retained();
        let over_limit = if to_limit {
            retained.saturating_sub(self.limit)
        } else {
            0
        };
        let goal = self.gc_percent_goal.load(Relaxed);
        let over_goal = if growth > 0 {
            growth.min(retained.saturating_sub(goal))
        } else {
            0
        };
        over_limit.max(over_goal)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
