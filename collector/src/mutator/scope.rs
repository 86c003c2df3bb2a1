//! Scopes: managed references at hardware cost. [`Mutator::scope`] runs a closure that
//! gets a [`Scope`]; inside it, [`Gc`] references are plain words (an address into the
//! object's span and its layout) that cost no root-table slot, no safepoint poll and no
//! span lookup per access (gc-arena's branded `Gc<'gc>`, Go's pointers in registers
//! between safepoints). A load reads the slot word and turns it into an address through
//! the span table and the slot's metadata word; a store is the write barrier's fast path
//! (one flag load and a branch, the barrier's own slow path out of line).
//!
//! A scope is a non-preemptible region, as a Go loop without calls was before Go 1.14's
//! asynchronous preemption: the mutator stays running and reaches no safepoint inside it
//! (`Mutator::poll_slow` returns at once), so a stop-the-world pause or a root-scanning
//! handshake waits for the scope to end, and the wait shows in the pause's
//! time-to-safepoint (`PauseRecord::ttsp_ns`). Entering and leaving the outermost scope
//! are safepoints. Inside a scope the mutator may not block ([`Mutator::blocking`],
//! `gc()`, the drains panic), and allocation never waits for a cycle: an automatic
//! cycle the heap reaches its trigger for is requested (concurrent heaps) or run when the
//! outermost scope ends (stop-the-world heaps; the end checks the goal as a refill
//! does), an assist past the hard goal
//! pays what grey work it finds and does not wait for the cycle (the debt left is paid
//! when the outermost scope ends, parking there as Go's assists do), and a heap cap
//! (`HeapConfig::heap_limit`) that the allocation would pass refuses it at once, without
//! the full cycle an allocation outside a scope runs first ([`Scope::alloc`] panics with
//! the out-of-memory message, [`Scope::try_alloc`] returns it). A long scope therefore
//! lets the heap overshoot its goal by what it allocates.
//!
//! References cross scopes only as [`Handle`]s: [`Scope::root`] roots a `Gc`,
//! [`Scope::get`] enters a handle's object. A `Gc<'s>` is branded with the scope's
//! invariant lifetime `'s`, which the closure must accept for every `'s`, so no `Gc` can
//! leave its scope (returned, stored in a captured variable, a thread-local or another
//! scope's objects) — checked by the compiler, at no run-time cost.
//!
//! What a load still checks: the slot index against the object's reference slots, and
//! that the word it read names an allocated object — its span from the table's flat
//! index (the table's empty span, which has no metadata words, for a word that names no
//! span: key 0, a retired span, a key past the table), then the slot's metadata word, 0
//! past the span's metadata, with `META_VALID` set (an object) or `META_TINY` (a tiny
//! block, out of the straight path); every free clears it (`sweeping::free_slot`,
//! `Span::init`). The metadata word is the `Gc`'s layout as read (the object's bytes in
//! the high half, reference slots in the low 30 bits, flags above them), so nothing is
//! decoded. Last, the object's bytes at its byte offset (the slot times the span's
//! element size in bytes) against the span's storage (see [`Gc::at`]). A stale
//! reference (a freed object's, which only a collector bug or the `NoBarrier` ablation
//! leaves in the heap) panics as `Handle::get`'s does. Data reads and writes check their
//! index against the object's data words. The instructions of a load, and what a lower
//! count would need: `results/barrier-fastpath/scope-load.md`.
//!
//! Invariant: a `Gc` is made only inside a scope, from an object allocated, loaded or
//! entered there, and its `ptr..ptr + words` lies inside one span's word storage (checked
//! when it is made — for a new object of the fast path, once per span when the allocation
//! cache takes the span, `cache::Slot`; the storage is fixed at the span's creation and
//! freed only with the heap, which the scope's borrow of the mutator keeps alive, or when
//! the span is retired, which happens only with the world stopped, so never while a scope
//! is open), with
//! `ptr_slots <= words`
//! (every metadata word comes from `Shape::meta`); so every access through it is in
//! bounds, whatever the span holds now. While any scope of a mutator is open its
//! `scope_depth` is above 0 and it is running: no pause starts and no handshake is served
//! on its behalf until the scope ends, so the collector never looks for its `Gc`s among
//! its roots, and every `Gc` is dead or rooted (a `Handle`) before the collector next
//! scans them. Concurrent sweep: a `Gc` names an object that was reachable (from a root
//! or a reachable object) or allocated during the scope; the sweeper frees only what the
//! last completed mark left unmarked, and an object reachable after that mark was marked
//! by it (or allocated since, in a span already swept for this generation, or black), so
//! no sweep frees it while the scope lasts — a new mark, whose verdicts a later sweep
//! would act on, cannot start before the scope ends, as it begins with a pause.
//! A `Gc` of an object the sweeper frees anyway (a collector bug, the `NoBarrier`
//! ablation) still reads and writes inside its span's storage: wrong data, never
//! undefined behaviour, and a load of the freed object's reference from the heap panics.

use super::handle::{foreign_panic, slot_panic, stale_panic, Handle};
use super::write_barrier::store_ref;
use super::Mutator;
use crate::barrier::{Barrier, GoHybrid};
use crate::core::shut_down_panic;
use crate::heap::cache::Slot;
use crate::heap::span::Span;
use crate::heap::span_table::Flat;
use crate::heap::OutOfMemory;
use crate::object::{Ref, Shape, META_PTR_SLOTS, META_TINY, META_VALID};
use crate::size_class::SpanClass;
use crate::sync::{AtomicU32, AtomicUsize, Ordering::*};
use crate::world::{FLAG_MARKING, FLAG_SHUTDOWN};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Bytes per heap word.
const WORD: usize = std::mem::size_of::<AtomicUsize>();

/// The brand of a scope: invariant in `'s`, neither `Send` nor `Sync`.
type Brand<'s> = PhantomData<(Cell<&'s ()>, *const ())>;

/// A non-preemptible region of a mutator, in which [`Gc`] references are used at hardware
/// cost. Made by [`Mutator::scope`]; see the module documentation (`collector::Scope`'s
/// rules are README's "Scopes").
///
/// A `Gc` cannot leave its scope:
///
/// ```compile_fail
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// let escaped = m.scope(|s| s.alloc(&NODE));
/// ```
///
/// ```compile_fail
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// let mut kept = Vec::new();
/// m.scope(|s| kept.push(s.alloc(&NODE)));
/// ```
///
/// nor be stored through another scope (of this heap or another):
///
/// ```compile_fail
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// m.scope(|outer| {
///     let a = outer.alloc(&NODE);
///     m.scope(|inner| {
///         let b = inner.alloc(&NODE);
///         inner.store(b, 0, Some(a));
///     });
/// });
/// ```
///
/// while what crosses scopes as a handle compiles:
///
/// ```
/// static NODE: collector::Shape = collector::Shape::new("node", 1, 0);
/// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
/// let m = heap.mutator();
/// let h = m.scope(|s| s.root(s.alloc(&NODE)));
/// m.scope(|s| {
///     let b = s.alloc(&NODE);
///     s.store(b, 0, Some(s.get(&h)));
/// });
/// ```
pub struct Scope<'s, 'm, B: Barrier = GoHybrid> {
    m: &'m Mutator<B>,
    flags: &'m AtomicU32,
    flat: Flat<'m>,
    _brand: Brand<'s>,
}

/// A managed reference valid inside one [`Scope`] (`'s`): not a root, and free to copy.
/// Its accessors check indices; loads and stores go through the scope.
#[derive(Clone, Copy)]
pub struct Gc<'s> {
    /// The object's first word.
    ptr: NonNull<AtomicUsize>,
    r: Ref,
    /// The object's bytes in the high half, its reference slots in the low 30 bits: a
    /// metadata word (`Shape::meta`; its flags, if set, are ignored).
    layout: u64,
    _brand: Brand<'s>,
}

/// Leaves a scope (also on unwinding).
struct Leave<'a, B: Barrier>(&'a Mutator<B>);

impl<B: Barrier> Drop for Leave<'_, B> {
    fn drop(&mut self) {
        self.0
            .shared
            .scope_depth
            .set(self.0.shared.scope_depth.get() - 1);
    }
}

impl<B: Barrier> Mutator<B> {
    /// Runs `f` in a scope: a non-preemptible region in which it works with [`Gc`]
    /// references at hardware cost (see [`Scope`]). A pause or handshake requested
    /// meanwhile waits for `f` to return. Entering and leaving are safepoints; inside
    /// [`Mutator::blocking`] the scope runs in the running state. Scopes nest.
    ///
    /// ```
    /// static NODE: collector::Shape = collector::Shape::new("node", 1, 1);
    /// let heap = collector::Heap::new(collector::HeapConfig::default()).unwrap();
    /// let m = heap.mutator();
    /// let list = m.scope(|s| {
    ///     let head = s.alloc(&NODE);
    ///     let next = s.alloc(&NODE);
    ///     s.store(head, 0, Some(next));
    ///     next.write(0, 7);
    ///     assert_eq!(s.load(head, 0).unwrap().read(0), 7);
    ///     s.root(head)
    /// });
    /// m.gc();
    /// m.scope(|s| assert!(s.load(s.get(&list), 0).is_some()));
    /// ```
    pub fn scope<'m, R>(&'m self, f: impl for<'s> FnOnce(&Scope<'s, 'm, B>) -> R) -> R {
        if self.shared.blocking_depth.get() != 0 {
            return self.running(|| self.scope_running(f));
        }
        self.scope_running(f)
    }

    fn scope_running<'m, R>(&'m self, f: impl for<'s> FnOnce(&Scope<'s, 'm, B>) -> R) -> R {
        let outermost = !self.in_scope();
        if outermost {
            self.core.check_live();
            self.safepoint();
        }
        self.shared
            .scope_depth
            .set(self.shared.scope_depth.get() + 1);
        let leave = Leave(self);
        let r = f(&Scope {
            m: self,
            flags: &self.core.flags,
            flat: self.core.space.table.flat(),
            _brand: PhantomData,
        });
        drop(leave);
        if outermost {
            self.safepoint();
            // The assist debt its allocations could not wait for (`settle_assist`).
            self.settle_assist();
            // The cycle the scope's allocations may have deferred (a stop-the-world heap
            // past its goal; a concurrent one past its trigger asks the GC thread again).
            self.maybe_collect();
        }
        r
    }
}

impl<'s, 'm, B: Barrier> Scope<'s, 'm, B> {
    /// The scope's mutator.
    pub fn mutator(&self) -> &'m Mutator<B> {
        self.m
    }

    /// Allocates a zeroed object of `shape` (see [`Mutator::alloc`]). It never waits for a
    /// cycle (see the module documentation); past a heap cap it panics with the
    /// [`OutOfMemory`] message.
    #[inline(always)]
    pub fn alloc(&self, shape: &Shape) -> Gc<'s> {
        // The fast path (`mutator::alloc`): one flag load for the poll and marking, a
        // slot from the cache; the rest out of line.
        if self.m.alloc_fast_ok(shape, self.flags.load(Relaxed)) {
            if let Some((span, s)) = self.m.cached_slot(shape) {
                return self.init::<false>(shape, span, s);
            }
        }
        self.alloc_slow(shape)
    }

    /// Every allocation the fast path does not serve: polls, refills, blackens.
    #[inline(never)]
    fn alloc_slow(&self, shape: &Shape) -> Gc<'s> {
        self.m.poll_for_alloc();
        if !shape.is_fast() {
            return self.alloc_special::<false>(shape).expect("infallible");
        }
        let sc = SpanClass::new(shape.size_class(), shape.is_noscan());
        let Some((span, s)) = self.m.alloc_slot::<false>(sc) else {
            unreachable!("an infallible allocation returned no slot")
        };
        self.init::<true>(shape, span, s)
    }

    /// Allocates like [`Scope::alloc`], but returns the [`OutOfMemory`] error when the
    /// heap cap refuses the allocation (inside a scope no cycle runs to make room).
    pub fn try_alloc(&self, shape: &Shape) -> Result<Gc<'s>, OutOfMemory> {
        self.m.poll_for_alloc();
        let g = if shape.is_fast() {
            let sc = SpanClass::new(shape.size_class(), shape.is_noscan());
            self.m
                .alloc_slot::<true>(sc)
                .map(|(span, s)| self.init::<true>(shape, span, s))
        } else {
            self.alloc_special::<true>(shape)
        };
        g.ok_or_else(|| {
            self.m
                .out_of_memory
                .take()
                .expect("collector: internal error: an allocation failed without a reason")
        })
    }

    /// Zeroes a new small object (unless its words are known zero), records its shape,
    /// blackens it while marking if `MAY_MARK` (the fast path saw marking off).
    #[inline(always)]
    fn init<const MAY_MARK: bool>(&self, shape: &Shape, span: &Span, s: Slot) -> Gc<'s> {
        super::alloc::fill_slot(shape, &s);
        if MAY_MARK {
            self.m.allocate_black(span, s.slot);
        }
        // SAFETY: `s.words` is valid for the slot size of `shape`'s class, which
        // `shape.words()` does not exceed (as in `fill_slot`): inside the span's storage.
        unsafe { Gc::from_slot(s.words, s.r, shape.meta()) }
    }

    /// Tiny, zero-sized and large objects: through a handle, dropped at once (no pause can
    /// come between, and the object is black while marking).
    #[cold]
    fn alloc_special<const FALLIBLE: bool>(&self, shape: &Shape) -> Option<Gc<'s>> {
        let h = self.m.alloc_special::<FALLIBLE>(shape)?;
        Some(self.get(&h))
    }

    /// The object a handle names, as a `Gc` of this scope. Panics if the handle belongs to
    /// another heap.
    #[inline]
    pub fn get(&self, h: &Handle<'_, B>) -> Gc<'s> {
        if !self.m.same_heap(h.mutator()) {
            foreign_panic();
        }
        let bytes = ((h.ptr_slots() + h.data_words()) * WORD) as u64;
        Gc::at(
            h.span(),
            h.base() * WORD,
            h.reference(),
            bytes << 32 | h.ptr_slots() as u64,
        )
    }

    /// A handle (a root) to `gc`'s object, to keep it beyond the scope.
    pub fn root(&self, gc: Gc<'s>) -> Handle<'m, B> {
        let span = self
            .flat
            .table()
            .get(gc.r.span())
            .expect("collector: internal error: a Gc's span is not in the table");
        let base = (gc.ptr.as_ptr() as usize - span.words().as_ptr() as usize)
            / std::mem::size_of::<AtomicUsize>();
        let root = self.m.push_root(gc.r);
        let (ptr_slots, words) = (gc.ptr_slots() as u32, gc.words() as u32);
        Handle::new(self.m, root, gc.r, span, base, ptr_slots, words)
    }

    /// Loads reference slot `slot` of `obj`: the object it names, or `None` for null.
    /// Panics if the slot is out of range or the reference is stale. Not a safepoint.
    #[inline(always)]
    pub fn load(&self, obj: Gc<'s>, slot: usize) -> Option<Gc<'s>> {
        let w = obj.ptr_word(slot).load(Acquire);
        let r = Ref::from_word(w)?;
        Some(self.resolve(r, obj.r, slot))
    }

    /// The `Gc` for a reference read from reference slot `slot` of `obj`: its span from
    /// the span table (the table's empty span for none: it has no metadata words), its
    /// layout from the slot's metadata word (whose valid bit is the stale check; 0 past
    /// the span's metadata).
    #[inline(always)]
    fn resolve(&self, r: Ref, obj: Ref, slot: usize) -> Gc<'s> {
        let span = self.flat.span_or_empty(r.key());
        let meta = span.meta_word(r.slot());
        // `META_VALID` (the low half's sign bit): an allocated object, not a tiny block.
        let offset = r.slot() * span.elem_bytes();
        if meta & META_VALID == 0 {
            if meta & META_TINY == 0 {
                self.stale(r, obj, slot)
            }
            let tiny = (WORD as u64) << 32;
            return Gc::at(span, offset + r.tiny_offset() * WORD, r, tiny);
        }
        Gc::at(span, offset, r, meta)
    }

    #[cold]
    #[inline(never)]
    fn stale(&self, r: Ref, obj: Ref, slot: usize) -> ! {
        let e = match self.m.core.space.locate(r) {
            Err(e) => e,
            // Allocated again meanwhile (a race with the sweeper and an allocator).
            Ok(_) => crate::heap::BadRef::Freed,
        };
        stale_panic(r, e, format!("reference slot {slot} of object {obj}"))
    }

    /// Stores `value` (or null) into reference slot `slot` of `obj`, through the heap's
    /// write barrier. Panics if the slot is out of range, or after `Heap::shutdown`.
    #[inline(always)]
    pub fn store(&self, obj: Gc<'s>, slot: usize, value: Option<Gc<'s>>) {
        let word = obj.ptr_word(slot);
        let new = match value {
            None => 0,
            Some(v) => v.r.word(),
        };
        // The fast path: marking off (and not shut down): one flag load and a branch. The
        // flag cannot turn on during the scope: marking starts in a pause, which waits for
        // the scope to end.
        if self.flags.load(Relaxed) & (FLAG_MARKING | FLAG_SHUTDOWN) == 0 {
            store_ref(word, new);
            return;
        }
        self.store_slow(word, new);
    }

    /// The barrier's slow path: `B`'s own code, out of line.
    #[cold]
    #[inline(never)]
    fn store_slow(&self, word: &AtomicUsize, new: usize) {
        let f = self.flags.load(Relaxed);
        if f & FLAG_SHUTDOWN != 0 {
            shut_down_panic();
        }
        if B::SHADES && f & FLAG_MARKING != 0 {
            self.m.shade_for_store(word.load(Acquire), new);
        }
        store_ref(word, new);
    }
}

impl<'s> Gc<'s> {
    /// A `Gc` for the object of layout `layout` (a metadata word: bytes in the high half,
    /// reference slots in the low 30 bits) at byte `offset` of `span`'s storage (a
    /// multiple of a word); panics unless it lies inside the storage (only a stale
    /// reference racing with the span's reuse can fail this). `offset` is a slot (below
    /// 2^32) times a span's element size in bytes (below 2^32, `Shape::MAX_WORDS`), plus
    /// at most a word, so `offset + bytes` cannot overflow.
    #[inline(always)]
    fn at(span: &Span, offset: usize, r: Ref, layout: u64) -> Gc<'s> {
        if offset + (layout >> 32) as usize > span.bytes() {
            layout_panic(r);
        }
        debug_assert!(offset.is_multiple_of(WORD) && span.bytes() == span.words().len() * WORD);
        debug_assert!(layout as u32 & META_PTR_SLOTS <= (layout >> 35) as u32);
        // SAFETY: `offset <= span.bytes()`, the byte length of the span's words (checked
        // above), so the pointer stays inside the storage or one past its end, and a
        // slice's pointer is never null.
        let ptr = unsafe {
            NonNull::from(span.words())
                .cast::<AtomicUsize>()
                .byte_add(offset)
        };
        Gc {
            ptr,
            r,
            layout,
            _brand: PhantomData,
        }
    }

    /// A `Gc` for a new object at `ptr` of layout `layout` (see [`Gc::at`]).
    ///
    /// # Safety
    /// `ptr..ptr + words` lies inside one span's word storage, and `ptr_slots <= words`
    /// (`layout`'s fields).
    #[inline(always)]
    unsafe fn from_slot(ptr: NonNull<AtomicUsize>, r: Ref, layout: u64) -> Gc<'s> {
        debug_assert!(layout as u32 & META_PTR_SLOTS <= (layout >> 35) as u32);
        Gc {
            ptr,
            r,
            layout,
            _brand: PhantomData,
        }
    }

    /// The object's words.
    #[inline(always)]
    fn words(&self) -> usize {
        (self.layout >> 35) as usize
    }

    /// Word `i` of the object; the caller has checked `i < words`.
    #[inline(always)]
    fn word(&self, i: usize) -> &AtomicUsize {
        debug_assert!(i < self.words());
        // SAFETY: `ptr..ptr + words` lies in a span's storage, which lives while the scope
        // is open (retirement happens only with the world stopped, never during a scope:
        // module invariant), and `i < words`.
        unsafe { self.ptr.add(i).as_ref() }
    }

    #[inline(always)]
    fn ptr_word(&self, slot: usize) -> &AtomicUsize {
        if slot >= self.ptr_slots() {
            slot_panic("reference slot", slot, self.ptr_slots(), self.r);
        }
        self.word(slot)
    }

    #[inline(always)]
    fn data_word(&self, i: usize) -> &AtomicUsize {
        let n = self.data_words();
        if i >= n {
            slot_panic("data word", i, n, self.r);
        }
        self.word(self.ptr_slots() + i)
    }

    /// The reference (for diagnostics and identity).
    pub fn reference(&self) -> Ref {
        self.r
    }

    /// Whether both name the same object.
    pub fn same(&self, other: Gc<'s>) -> bool {
        self.r == other.r
    }

    /// The number of reference slots of the object.
    pub fn ptr_slots(&self) -> usize {
        (self.layout as u32 & META_PTR_SLOTS) as usize
    }

    /// The number of raw data words of the object.
    pub fn data_words(&self) -> usize {
        self.words() - self.ptr_slots()
    }

    /// Reads data word `i`. Panics if out of range.
    #[inline(always)]
    pub fn read(&self, i: usize) -> u64 {
        self.data_word(i).load(Relaxed) as u64
    }

    /// Writes data word `i`. Panics if out of range.
    #[inline(always)]
    pub fn write(&self, i: usize, value: u64) {
        self.data_word(i).store(value as usize, Relaxed)
    }

    /// Reads data word `i` as an `f64`.
    #[inline(always)]
    pub fn read_f64(&self, i: usize) -> f64 {
        f64::from_bits(self.read(i))
    }

    /// Writes data word `i` as an `f64`.
    #[inline(always)]
    pub fn write_f64(&self, i: usize, value: f64) {
        self.write(i, value.to_bits())
    }
}

impl fmt::Debug for Gc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Gc({}, {} refs + {} words)",
            self.r,
            self.ptr_slots(),
            self.data_words()
        )
    }
}

#[cold]
#[inline(never)]
fn layout_panic(r: Ref) -> ! {
    panic!("collector: use of a freed object: {r} lies outside its span (its span was reused)")
}

#[cfg(all(test, not(loom)))]
mod tests;
