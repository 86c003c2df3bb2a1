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
//! Callbacks are stored type-erased (one box, `Callback::Typed`'s `Box<dyn Unpack>`): the
//! layer that registers them knows the heap's barrier type and takes the closure back
//! as the type it runs.
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

/// A stored callback.
pub(crate) enum Callback {
    /// A cleanup without an environment box: it needs no mutator, so it is stored as
    /// what it is (one allocation, no downcast).
    Plain(Box<dyn FnOnce() + Send>),
    /// A callback that takes handles: its type names the heap's barrier, so it is stored
    /// type-erased and recovered by the runner, which knows the barrier.
    Typed(Box<dyn Unpack>),
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

impl Callback {
    /// The typed callback, as a `T`.
    pub(crate) fn typed<T: 'static>(self) -> T {
        match self {
            Callback::Typed(b) => {
                let mut out: Option<T> = None;
                b.unpack(&mut out);
                out.unwrap_or_else(|| {
                    panic!("collector: internal error: a callback of another type")
                })
            }
            Callback::Plain(_) => {
                panic!("collector: internal error: a plain callback where a typed one belongs")
            }
        }
    }
}

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
                f: Callback::Plain(Box::new(|| ())),
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
