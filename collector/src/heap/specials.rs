//! Specials: the records a span keeps beside its objects (Go's `mspan.specials`, S23) —
//! finalizers, cleanups and weak handles. What sweeping does with them is
//! `heap::sweeping::sweep_specials`; the queues it fills are `callbacks::queue`.
//!
//! Each span's specials sit in a list sorted by (registered word, kind), behind the span's
//! own lock; a flag says whether the list is non-empty, so that mark and sweep skip the
//! lock for spans without specials. Every change to a span's specials sweeps the span
//! first (S25): sweeping reads the list to decide what an unmarked object's death means.
//!
//! What sweeping does with an unmarked object that has specials (S34): with a finalizer,
//! the object is resurrected (its mark bit set), every finalizer on it is queued with its
//! exact registered address, and its weak handles are cleared; its cleanups stay. Without
//! one, every special goes: cleanups are queued, weak handles cleared, and the object is
//! freed in the same sweep.
//!
//! Callbacks are stored type-erased in two words ([`Callback`]): a callback that takes
//! handles is a box of an [`Unpack`] value, which the layer that registers it (knowing
//! the heap's barrier type) takes back as the type it runs; a cleanup without a box needs
//! no such step, and is stored in place when it is small (no allocation, and no free at
//! its run).
//!
//! Invariants: a span's list is read and changed only through `SpanSpecials::with`,
//! under the span's own lock, which sets the `any` flag before it unlocks. The list stays
//! sorted by (word, kind), with at most one finalizer and one weak cell per word (cleanups
//! may repeat, the newest first). A `WeakCell` is only ever cleared, never set again.

use crate::object::Ref;
use crate::sync::unmodelled::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use crate::sync::{lock, AtomicBool, Mutex, Ordering::*};
use std::any::Any;

/// The kinds of special, in Go's sort order at one address (S23).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SpecialKind {
    /// A finalizer.
    Finalizer = 2,
    /// A weak handle's cell.
    Weak = 3,
    /// A cleanup.
    Cleanup = 7,
}

/// A type-erased callback that the runner recovers by naming the type it wants: `unpack`
/// moves it into `out` when `out` is an `Option` of a type it can become (a finalizer's
/// closure becomes its barrier's boxed trait object without a new allocation), and leaves
/// `out` untouched otherwise.
pub(crate) trait Unpack: Send {
    fn unpack(self: Box<Self>, out: &mut dyn Any);
}

/// Any value as an [`Unpack`]: it unpacks into an `Option<T>`, moved out of its box.
pub(crate) struct Packed<T>(pub(crate) T);

impl<T: Send + 'static> Unpack for Packed<T> {
    fn unpack(self: Box<Self>, out: &mut dyn Any) {
        if let Some(slot) = out.downcast_mut::<Option<T>>() {
            *slot = Some(self.0);
        }
    }
}

/// A stored callback, in two words: one word of storage and the table of the type stored
/// there. Either *plain* (a cleanup without a box: a `FnOnce()` that needs no mutator,
/// stored in place when it fits one word, as a cleanup's `move || f(arg)` with a one-word
/// `arg` does, else boxed), or *typed* (a callback that takes handles, whose type names
/// the heap's barrier: a box of an [`Unpack`] value, which the runner takes back as the
/// type it runs).
///
/// In place, a plain cleanup costs no allocation at registration and no free at its run,
/// which the cleanup runner made from another thread than the registering one (with
/// mimalloc, a cross-thread free into a page the registering thread had abandoned as full:
/// about 160 instructions a cleanup, half of the cleanup runner's cost; callgrind,
/// cleanupbench). Two words, as the `Box<dyn …>` it replaces: every queued entry that
/// holds one is moved several times on its way to the runner, and a third word cost the
/// finalizer runner about 16 instructions a finalizer.
///
/// Invariant: `data` holds a live value of the type `vt` was made for (see
/// [`Callback::in_place`]) until exactly one of `call`, `typed` or `drop` moves it out or
/// drops it.
pub(crate) struct Callback {
    data: std::mem::MaybeUninit<usize>,
    vt: &'static CallbackVt,
    /// Neither `Send` nor `Sync` by itself (what is stored could be anything): `Send` is
    /// granted below, from the constructors' bounds.
    _unsync: std::marker::PhantomData<*mut ()>,
}

/// What a [`Callback`] does with what it holds.
struct CallbackVt {
    /// Plain: moves the closure out of the storage and calls it.
    call: Option<unsafe fn(*mut u8)>,
    /// Typed: moves the box out of the storage and unpacks it into `out`.
    unpack: Option<unsafe fn(*mut u8, &mut dyn Any)>,
    /// Drops what the storage holds.
    drop: unsafe fn(*mut u8),
}

/// The table of a plain closure type `G` stored in place.
struct PlainVt<G>(std::marker::PhantomData<G>);

impl<G: FnOnce()> PlainVt<G> {
    const VT: CallbackVt = CallbackVt {
        call: Some(call_in_place::<G>),
        unpack: None,
        drop: drop_in_place::<G>,
    };
}

/// The table of a typed callback stored as a `Box<S>`.
struct TypedVt<S>(std::marker::PhantomData<S>);

impl<S: Unpack> TypedVt<S> {
    const VT: CallbackVt = CallbackVt {
        call: None,
        unpack: Some(unpack_in_place::<S>),
        drop: drop_in_place::<Box<S>>,
    };
}

/// Whether an `X` fits a [`Callback`]'s storage (size and alignment).
const fn fits<X>() -> bool {
    std::mem::size_of::<X>() <= std::mem::size_of::<usize>()
        && std::mem::align_of::<X>() <= std::mem::align_of::<usize>()
}

/// # Safety
/// `p` points to a live `G` that nothing reads or drops afterwards.
unsafe fn call_in_place<G: FnOnce()>(p: *mut u8) {
    // SAFETY: the caller's contract: a live, aligned `G` (`Callback::in_place` checked
    // that it fits), moved out here, once.
    let g = unsafe { std::ptr::read(p.cast::<G>()) };
    g()
}

/// # Safety
/// `p` points to a live `Box<S>` that nothing reads or drops afterwards.
unsafe fn unpack_in_place<S: Unpack>(p: *mut u8, out: &mut dyn Any) {
    // SAFETY: the caller's contract: a live `Box<S>`, moved out here, once.
    let b = unsafe { std::ptr::read(p.cast::<Box<S>>()) };
    b.unpack(out)
}

/// # Safety
/// `p` points to a live `X` that nothing reads or drops afterwards.
unsafe fn drop_in_place<X>(p: *mut u8) {
    // SAFETY: the caller's contract: a live, aligned `X`, dropped here, once.
    unsafe { std::ptr::drop_in_place(p.cast::<X>()) }
}

impl Callback {
    /// A plain callback: `f` in place if it fits, else in a box whose pointer is in place.
    pub(crate) fn plain<F: FnOnce() + Send + 'static>(f: F) -> Callback {
        if fits::<F>() {
            Callback::plain_in_place(f)
        } else {
            let boxed = Box::new(f);
            Callback::plain_in_place(boxed)
        }
    }

    /// A plain callback `g` in place (it must fit).
    fn plain_in_place<G: FnOnce() + Send + 'static>(g: G) -> Callback {
        // SAFETY: the table is `G`'s, and `G` fits (`plain` checked, or a box).
        unsafe { Callback::in_place(g, &PlainVt::<G>::VT) }
    }

    /// A typed callback: `s` in a box (no allocation if `s` is zero-sized), which
    /// [`Callback::typed`] unpacks.
    pub(crate) fn boxed<S: Unpack + 'static>(s: S) -> Callback {
        // SAFETY: the table is `Box<S>`'s, which is one pointer.
        unsafe { Callback::in_place(Box::new(s), &TypedVt::<S>::VT) }
    }

    /// Stores `x`, which must fit.
    ///
    /// # Safety
    /// `vt` must be the table made for `X` (its functions read an `X`).
    unsafe fn in_place<X>(x: X, vt: &'static CallbackVt) -> Callback {
        assert!(fits::<X>(), "a value that does not fit stored in place");
        let mut data = std::mem::MaybeUninit::<usize>::uninit();
        // SAFETY: `X` fits the storage's size and alignment (asserted above), and the
        // storage is fresh: nothing is overwritten.
        unsafe { data.as_mut_ptr().cast::<X>().write(x) };
        Callback {
            data,
            vt,
            _unsync: std::marker::PhantomData,
        }
    }

    /// Whether this is a plain callback.
    pub(crate) fn is_plain(&self) -> bool {
        self.vt.call.is_some()
    }

    /// The storage, moved out of `self` (a bitwise move of the value it holds, which
    /// every Rust value allows); `self` is forgotten, so nothing is dropped with it.
    fn into_storage(self) -> std::mem::MaybeUninit<usize> {
        std::mem::ManuallyDrop::new(self).data
    }

    /// Runs a plain callback (consumed; a panic in it drops what it captured as it
    /// unwinds, and nothing else).
    pub(crate) fn call(self) {
        let Some(call) = self.vt.call else {
            panic!("collector: internal error: a typed callback where a plain one belongs")
        };
        let mut data = self.into_storage();
        // SAFETY: `data` holds the live closure `vt` was made for (the invariant), moved
        // out here, once (`self` was forgotten).
        unsafe { call(data.as_mut_ptr().cast()) }
    }

    /// The typed callback, as a `T`.
    pub(crate) fn typed<T: 'static>(self) -> T {
        let Some(unpack) = self.vt.unpack else {
            panic!("collector: internal error: a plain callback where a typed one belongs")
        };
        let mut out: Option<T> = None;
        let mut data = self.into_storage();
        // SAFETY: `data` holds the live box `vt` was made for (the invariant), moved out
        // here, once (`self` was forgotten).
        unsafe { unpack(data.as_mut_ptr().cast(), &mut out) };
        out.unwrap_or_else(|| panic!("collector: internal error: a callback of another type"))
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        let p = self.data.as_mut_ptr().cast::<u8>();
        // SAFETY: neither `call` nor `typed` consumed `self` (they do not drop it), so
        // `data` still holds the live value `vt` was made for; dropped here, once.
        unsafe { (self.vt.drop)(p) }
    }
}

// SAFETY: a `Callback` holds a plain closure that is `Send` (`plain`'s bound; the box of a
// large one is `Send` with it) or the box of an `Unpack` value (`Send` by that trait's
// bound), and nothing else.
unsafe impl Send for Callback {}

/// The cell a weak handle reads: the object's reference word, or 0 once the object has
/// been found dead (S30, S47).
#[derive(Debug)]
pub(crate) struct WeakCell {
    target: StdAtomicU64,
}

impl WeakCell {
    pub(crate) fn new(r: Ref) -> WeakCell {
        WeakCell {
            target: StdAtomicU64::new(r.word() as u64),
        }
    }

    /// The object, unless it was found dead.
    pub(crate) fn get(&self) -> Option<Ref> {
        Ref::from_word(self.target.load(StdOrdering::Acquire) as usize)
    }

    pub(crate) fn clear(&self) {
        self.target.store(0, StdOrdering::Release);
    }
}

/// What a special holds.
pub(crate) enum Payload {
    /// A finalizer: its environment box (traced) and callback.
    Finalizer { env: Option<Ref>, f: Callback },
    /// A cleanup: its id, environment box (traced) and callback.
    Cleanup {
        id: u64,
        env: Option<Ref>,
        f: Callback,
    },
    /// A weak handle's cell.
    Weak(crate::sync::unmodelled::Arc<WeakCell>),
}

/// One special: the object's slot, the registered word within the span (sort key), the
/// object as registered (a tiny object's reference names its word of the block), the
/// interior field when registered on one, its kind, and what it holds.
pub(crate) struct Special {
    pub(crate) slot: u32,
    pub(crate) word: u32,
    pub(crate) obj: Ref,
    pub(crate) field: Option<u32>,
    pub(crate) kind: SpecialKind,
    pub(crate) payload: Payload,
}

impl Special {
    fn key(&self) -> (u32, SpecialKind) {
        (self.word, self.kind)
    }
}

/// A span's specials.
pub(crate) struct SpanSpecials {
    list: Mutex<Vec<Special>>,
    any: AtomicBool,
    /// The sweep generation in which [`SpanSpecials::edit`] last changed the list
    /// ([`NEVER_EDITED`] before any), written under the list's lock: a sweep of that
    /// same generation would read a list changed after the mark it acts on had ended.
    edited_in: crate::sync::unmodelled::AtomicU32,
}

/// `SpanSpecials::edited_in` of a list never edited: odd, and generations are even.
const NEVER_EDITED: u32 = 1;

impl Default for SpanSpecials {
    fn default() -> Self {
        SpanSpecials {
            list: Mutex::default(),
            any: AtomicBool::default(),
            edited_in: crate::sync::unmodelled::AtomicU32::new(NEVER_EDITED),
        }
    }
}

impl SpanSpecials {
    /// Whether the span may have specials (exact while the caller holds no lock).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Acquire)
    }

    /// Runs `f` on the list, keeping the flag in step. The span must be swept.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Vec<Special>) -> R) -> R {
        let mut list = lock(&self.list);
        let r = f(&mut list);
        if list.is_empty() {
            // An emptied list's buffer goes back to the allocator (a span whose objects
            // died would otherwise keep it for the heap's life).
            *list = Vec::new();
        }
        self.any.store(!list.is_empty(), Release);
        r
    }

    /// Runs `f` on the list as an edit made in generation `gen()`, which is read under
    /// the list's lock and may refuse (`None`: `f` does not run).
    pub(crate) fn edit<R>(
        &self,
        gen: impl FnOnce() -> Option<u32>,
        f: impl FnOnce(&mut Vec<Special>) -> R,
    ) -> Option<R> {
        self.with(|list| {
            let g = gen()?;
            self.edited_in.store(g, StdOrdering::Relaxed);
            Some(f(list))
        })
    }

    /// Checks (debug builds, loom's included) that no [`SpanSpecials::edit`] changed the
    /// list in generation `h`, which the span `index` is being swept for: an edit must
    /// sweep the span first (S25), so one made in `h` would be made after the mark that
    /// the sweep acts on had ended, and the sweep would read a list that mark never saw.
    pub(crate) fn debug_check_unedited(&self, index: usize, h: u32) {
        debug_assert!(
            self.edited_in.load(StdOrdering::Relaxed) != h,
            "collector: internal error: span {index}'s specials were changed after its mark \
             ended and before its sweep (S25)"
        );
    }

    /// Inserts `s` in (word, kind) order. Cleanups go before equal entries (Go's forced
    /// insert: the newest first, S24); other kinds fail with `Err(s)` if their (word,
    /// kind) is taken.
    pub(crate) fn insert(&self, s: Special) -> Result<(), Special> {
        self.with(|list| {
            let key = s.key();
            // Objects are usually registered in allocation (address) order: append.
            if list.last().is_none_or(|x| x.key() < key) {
                list.push(s);
                return Ok(());
            }
            let at = list.partition_point(|x| x.key() < key);
            if s.kind != SpecialKind::Cleanup && list.get(at).is_some_and(|x| x.key() == key) {
                return Err(s);
            }
            list.insert(at, s);
            Ok(())
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Counts its drops.
    struct Dropped(Arc<AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A cleanup's closure as `add_cleanup` makes it (a function item and a one-word
    /// argument) is stored in place; a larger one goes in a box. Called, each runs once
    /// and drops what it captured once; dropped uncalled, it drops it once; a panic in it
    /// drops it once as it unwinds. A typed callback unpacks as its type, once.
    #[test]
    fn callbacks_run_or_drop_what_they_hold_once() {
        static SUM: AtomicUsize = AtomicUsize::new(0);
        fn add(x: u64) {
            SUM.fetch_add(x as usize, SeqCst);
        }
        fn fits_in_place<X>(_: &X) -> bool {
            fits::<X>()
        }
        let arg = 7u64;
        let small = Callback::plain(move || add(arg));
        // SAFETY: in place, the storage holds the closure, whose one capture is `arg`:
        // eight initialised bytes (a box would hold a pointer instead).
        let word = unsafe { small.data.assume_init() };
        assert_eq!(word, 7, "a one-word cleanup is stored in place");
        small.call();
        assert_eq!(SUM.load(SeqCst), 7);

        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let in_place = move || {
            r.fetch_add(1, SeqCst);
        };
        assert!(fits_in_place(&in_place), "one word: in place");
        let (d, r, pad) = (Dropped(drops.clone()), ran.clone(), [2usize; 2]);
        let boxed = move || {
            let _keep = &d;
            r.fetch_add(pad[0], SeqCst);
        };
        assert!(!fits_in_place(&boxed), "four words: boxed");
        Callback::plain(in_place).call();
        Callback::plain(boxed).call();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "captures dropped once after the call"
        );
        assert_eq!(ran.load(SeqCst), 1 + 2);

        let d = Dropped(drops.clone());
        drop(Callback::plain(move || drop(d)));
        assert_eq!(drops.load(SeqCst), 2, "dropped uncalled, in place: once");
        let (d, pad) = (Dropped(drops.clone()), [0usize; 4]);
        drop(Callback::plain(move || drop((d, pad))));
        assert_eq!(drops.load(SeqCst), 3, "dropped uncalled, boxed: once");

        let d = Dropped(drops.clone());
        let f = Callback::plain(move || {
            let _keep = &d;
            panic!("in the cleanup");
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call()));
        assert!(r.is_err());
        assert_eq!(drops.load(SeqCst), 4, "a panicking closure: once");

        let typed = Callback::boxed(Packed((Dropped(drops.clone()), 5u32)));
        assert!(!typed.is_plain());
        let (d, five) = typed.typed::<(Dropped, u32)>();
        assert_eq!((drops.load(SeqCst), five), (4, 5), "unpacked, not dropped");
        drop(d);
        drop(Callback::boxed(Packed(Dropped(drops.clone()))));
        assert_eq!(
            drops.load(SeqCst),
            6,
            "a typed callback dropped unpacked: once"
        );
    }

    fn cleanup(word: u32) -> Special {
        Special {
            slot: word,
            word,
            obj: Ref::NULL,
            field: None,
            kind: SpecialKind::Cleanup,
            payload: Payload::Cleanup {
                id: word as u64,
                env: None,
                f: Callback::plain(|| ()),
            },
        }
    }

    /// A list that an edit or a sweep empties gives its buffer back (a span whose
    /// objects all died kept it before: after a million cleanups, 80 MB held by empty
    /// lists, and the queue's memory came from fresh pages instead); one that keeps an
    /// entry keeps its buffer.
    #[test]
    fn an_emptied_list_releases_its_buffer() {
        let specials = SpanSpecials::default();
        for w in 0..100 {
            assert!(specials.insert(cleanup(w)).is_ok());
        }
        specials.with(|list| list.truncate(1));
        assert!(
            specials.with(|list| list.capacity()) >= 100,
            "one entry left: kept"
        );
        assert!(specials.any());
        specials.with(|list| list.clear());
        assert_eq!(specials.with(|list| list.capacity()), 0);
        assert!(!specials.any());
    }
}
