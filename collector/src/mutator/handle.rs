//! Handles: a mutator's only way to hold a managed reference. A handle occupies a slot in
//! its mutator's root table from creation to drop, so the object it names stays alive
//! exactly that long — dropping a handle (or passing it to `keep_alive`) is Go's "last
//! use". Handles borrow their mutator, so they are neither `Send` nor usable after it.
//!
//! Every access is checked: a slot index out of range, a handle of another heap, a heap
//! that was shut down, a stale reference read from the heap, or a handle whose object was
//! freed all panic with a message that says which, and none is undefined behaviour.
//!
//! Invariant: a handle owns exactly one slot of its mutator's root table, pushed when it
//! is made (a clone pushes another) and cleared when it is dropped, holding its reference
//! throughout; so the span, base and layout it caches at creation stay valid for its life
//! (a span named by a root is never retired, `heap::retire`, even when a collector bug or
//! the `NoBarrier` ablation frees the handle's object).
//! Every heap access through it is bounds-checked against that layout and made with the
//! mutator running, and a load and the handle it yields happen in one running step.

use super::Mutator;
use crate::barrier::{Barrier, GoHybrid};
use crate::core::shut_down_panic;
use crate::heap::span::Span;
use crate::heap::Located;
use crate::object::Ref;
use crate::sync::Ordering::*;
use crate::world::FLAG_SHUTDOWN;
use std::fmt;

/// A rooted reference to a heap object, owned by one mutator.
///
/// Every field is word-sized on purpose: two adjacent `u32` fields written separately and
/// then copied as one 8-byte word stall store forwarding, which cost ~15 ns an
/// allocation when handles were moved (measured with `allocbench`).
pub struct Handle<'m, B: Barrier = GoHybrid> {
    pub(super) m: &'m Mutator<B>,
    root: usize,
    pub(super) r: Ref,
    pub(super) span: &'m Span,
    base: usize,
    ptr_slots: usize,
    words: usize,
}

impl<'m, B: Barrier> Handle<'m, B> {
    #[inline(always)]
    pub(crate) fn new(
        m: &'m Mutator<B>,
        root: u32,
        r: Ref,
        span: &'m Span,
        base: usize,
        ptr_slots: u32,
        words: u32,
    ) -> Handle<'m, B> {
        Handle {
            m,
            root: root as usize,
            r,
            span,
            base,
            ptr_slots: ptr_slots as usize,
            words: words as usize,
        }
    }

    #[inline(always)]
    pub(crate) fn located(m: &'m Mutator<B>, root: u32, r: Ref, loc: Located<'m>) -> Handle<'m, B> {
        Handle::new(m, root, r, loc.span, loc.base, loc.ptr_slots, loc.words)
    }

    /// The span holding the object.
    pub(crate) fn span(&self) -> &'m Span {
        self.span
    }

    /// The object's first word within its span.
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// The mutator that owns this handle.
    pub fn mutator(&self) -> &'m Mutator<B> {
        self.m
    }

    /// The reference this handle holds (for diagnostics and identity).
    pub fn reference(&self) -> Ref {
        self.r
    }

    /// The number of reference slots of the object.
    pub fn ptr_slots(&self) -> usize {
        self.ptr_slots
    }

    /// The number of raw data words of the object.
    pub fn data_words(&self) -> usize {
        self.words - self.ptr_slots
    }

    /// Whether both handles name the same object.
    pub fn same_object(&self, other: &Handle<'_, B>) -> bool {
        self.r == other.r && self.m.same_heap(other.m)
    }

    #[inline(always)]
    pub(super) fn check_flags(&self) {
        if self.m.core.flags.load(Relaxed) & FLAG_SHUTDOWN != 0 {
            shut_down_panic();
        }
    }

    #[inline(always)]
    pub(super) fn ptr_word(&self, slot: usize) -> &'m crate::sync::AtomicUsize {
        if slot >= self.ptr_slots {
            slot_panic("reference slot", slot, self.ptr_slots, self.r);
        }
        self.span.word(self.base + slot)
    }

    #[inline(always)]
    fn data_word(&self, i: usize) -> &'m crate::sync::AtomicUsize {
        let n = self.data_words();
        if i >= n {
            slot_panic("data word", i, n, self.r);
        }
        self.span.word(self.base + self.ptr_slots + i)
    }

    /// Loads reference slot `slot`: a new handle to the object it names, or `None` for
    /// null. Panics if the slot is out of range or the stored reference is stale.
    ///
    /// A load is a safepoint (the flags word it polls is the one it reads for shutdown
    /// anyway): a mutator that walks a structure without allocating still stops within
    /// one load of a pause request, where Go would preempt it asynchronously.
    #[inline]
    pub fn get(&self, slot: usize) -> Option<Handle<'m, B>> {
        self.m.safepoint();
        let word = self.ptr_word(slot);
        // The fast path (running) inlines whole into the caller; inside `blocking` the
        // load goes out of line.
        if self.m.shared.blocking_depth.get() != 0 {
            return self.get_blocking(word, slot);
        }
        self.load_running(word, slot)
    }

    /// [`Handle::get`] inside `blocking`: the load and the handle's creation happen in
    /// one running section, as a pause between them could free the object read.
    #[cold]
    #[inline(never)]
    fn get_blocking(&self, word: &crate::sync::AtomicUsize, slot: usize) -> Option<Handle<'m, B>> {
        self.m.running(|| self.load_running(word, slot))
    }

    /// Loads reference slot `slot` (its word `word`) and makes a handle for what it
    /// names; the caller is running.
    #[inline(always)]
    fn load_running(&self, word: &crate::sync::AtomicUsize, slot: usize) -> Option<Handle<'m, B>> {
        let r = Ref::from_word(word.load(Acquire))?;
        let me = self.r;
        Some(
            self.m
                .handle_for(r, &|| format!("reference slot {slot} of object {me}")),
        )
    }

    /// Reads data word `i`. Panics if out of range.
    #[inline]
    pub fn read(&self, i: usize) -> u64 {
        self.check_flags();
        let w = self.data_word(i);
        self.m.running(|| w.load(Relaxed) as u64)
    }

    /// Writes data word `i`. Panics if out of range.
    #[inline]
    pub fn write(&self, i: usize, value: u64) {
        self.check_flags();
        let w = self.data_word(i);
        self.m.running(|| w.store(value as usize, Relaxed));
    }

    /// Reads data word `i` as an `f64`.
    #[inline]
    pub fn read_f64(&self, i: usize) -> f64 {
        f64::from_bits(self.read(i))
    }

    /// Writes data word `i` as an `f64`.
    #[inline]
    pub fn write_f64(&self, i: usize, value: f64) {
        self.write(i, value.to_bits())
    }

    /// An interior handle to word `field` of the object (reference slots first, then data
    /// words). Like Go's interior pointers, it keeps the whole object alive.
    pub fn interior(&self, field: usize) -> InteriorHandle<'m, B> {
        if field >= self.words {
            slot_panic("field", field, self.words, self.r);
        }
        InteriorHandle {
            object: self.clone(),
            field: field as u32,
        }
    }
}

impl<B: Barrier> Clone for Handle<'_, B> {
    /// Another handle (another root) to the same object.
    fn clone(&self) -> Self {
        self.check_flags();
        let root = self.m.running(|| self.m.push_root(self.r)) as usize;
        Handle { root, ..*self }
    }
}

impl<B: Barrier> Drop for Handle<'_, B> {
    #[inline(always)]
    fn drop(&mut self) {
        self.m.clear_root(self.root as u32);
    }
}

impl<B: Barrier> fmt::Debug for Handle<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Handle({}, {} refs + {} words)",
            self.r,
            self.ptr_slots,
            self.data_words()
        )
    }
}

/// A handle to one word of an object that keeps the whole object alive (Go's interior
/// pointer, such as `&s.field`).
#[derive(Clone, Debug)]
pub struct InteriorHandle<'m, B: Barrier = GoHybrid> {
    object: Handle<'m, B>,
    field: u32,
}

impl<'m, B: Barrier> InteriorHandle<'m, B> {
    /// The word of the object this handle points at.
    pub fn field(&self) -> usize {
        self.field as usize
    }

    /// A handle to the whole object.
    pub fn object(&self) -> &Handle<'m, B> {
        &self.object
    }

    /// Loads the reference the field holds (it must be a reference slot).
    pub fn get(&self) -> Option<Handle<'m, B>> {
        self.object.get(self.field as usize)
    }

    /// Reads the data word the field is (it must be a data word).
    pub fn read(&self) -> u64 {
        let i = (self.field as usize)
            .checked_sub(self.object.ptr_slots())
            .unwrap_or_else(|| {
                panic!(
                    "collector: field {} of {} is a reference slot, not a data word",
                    self.field, self.object.r
                )
            });
        self.object.read(i)
    }
}

/// A global: an immortal object in the heap's globals space, usable from any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Global {
    heap_id: u64,
    r: Ref,
}

impl Global {
    pub(crate) fn new(heap_id: u64, r: Ref) -> Global {
        Global { heap_id, r }
    }

    pub(crate) fn heap_id(&self) -> u64 {
        self.heap_id
    }

    /// The global's reference.
    pub fn reference(&self) -> Ref {
        self.r
    }
}

#[cold]
#[inline(never)]
pub(super) fn slot_panic(what: &str, index: usize, len: usize, r: Ref) -> ! {
    panic!("collector: {what} {index} is out of range: object {r} has {len}")
}

#[cold]
#[inline(never)]
pub(super) fn foreign_panic() -> ! {
    panic!("collector: the handle belongs to a different heap")
}

#[cold]
#[inline(never)]
pub(super) fn dead_panic(r: Ref) -> ! {
    panic!("collector: storing a handle of a dead object: {r} has been freed")
}

impl<B: Barrier> Mutator<B> {
    /// Creates a handle for reference `r` read from the heap, or panics with why `r`
    /// names no live object (a stale reference: something freed an object that was still
    /// reachable).
    #[inline(always)]
    pub(crate) fn handle_for(&self, r: Ref, from: &dyn Fn() -> String) -> Handle<'_, B> {
        match self.core.space.locate(r) {
            Ok(loc) => Handle::located(self, self.push_root(r), r, loc),
            Err(e) => stale_panic(r, e, from()),
        }
    }
}

#[cold]
#[inline(never)]
pub(super) fn stale_panic(r: Ref, e: crate::heap::BadRef, from: String) -> ! {
    panic!("collector: use of a freed object: the reference {r} read from {from} is stale ({e})")
}
