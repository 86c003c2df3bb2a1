//! lru's cache (`src/bin/lru.rs`), written once over the [`Access`] trait so that the same
//! code runs on the scope API (`Gc` references inside one scope per operation, where a Go
//! program uses plain pointers) and on handles (a root per live reference): a bucket
//! array of hash chains and a doubly linked recency list, hanging off one global, with
//! the lock and its two counters outside the heap.
//!
//! Invariant: every operation runs with the cache lock held and, on the scope API,
//! inside one scope, so no other thread sees the structure between two of its stores,
//! and every object an operation reaches is reachable from the global or from a
//! reference the operation holds (a handle, or a `Gc` of its open scope).

use crate::harness::run::SplitMix64;
use collector::{Barrier, Gc, Global, Handle, Mutator, Scope, Shape};
use std::sync::Mutex;

/// Hash chains in the bucket array.
const BUCKETS: usize = 4096;
/// The global: the bucket array, the recency list's head and tail.
pub static ROOT: Shape = Shape::new("lru root", 3, 0);
/// The bucket array: one chain head per bucket.
pub static BUCKET_ARRAY: Shape = Shape::new("lru buckets", BUCKETS as u32, 0);
/// An entry: chain next, list prev, list next, value; key.
static ENTRY: Shape = Shape::new("lru entry", 4, 1);

/// The global's reference slots: the bucket array.
pub const R_BUCKETS: usize = 0;
/// The list's head (most recently used).
pub const R_HEAD: usize = 1;
/// The list's tail (least recently used).
pub const R_TAIL: usize = 2;
/// An entry's reference slots.
const E_CHAIN: usize = 0;
const E_PREV: usize = 1;
const E_NEXT: usize = 2;
const E_VALUE: usize = 3;

/// Which API the cache code runs on.
#[derive(Clone, Copy)]
pub struct Api {
    /// `Gc` references in scopes (else handles).
    pub scope: bool,
}

fn bucket_of(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % BUCKETS
}

fn checksum(key: u64, version: u64) -> u64 {
    SplitMix64::new(key ^ version.rotate_left(32)).next_u64()
}

/// Counters guarded by the cache lock.
#[derive(Default)]
pub struct Meta {
    /// Entries cached.
    pub len: u64,
    /// Entries evicted.
    pub evictions: u64,
}

/// The shared cache: its global, its lock, and the shape of its values.
pub struct Cache {
    /// The global the structure hangs off.
    pub root: Global,
    /// Held around each operation.
    pub lock: Mutex<Meta>,
    /// Entries kept before evicting.
    pub capacity: u64,
    /// The value objects' shape.
    pub value: Shape,
}

/// A cached value that is missing or fails its checksum.
#[derive(Debug)]
pub struct Corrupt;

/// The heap operations the cache is written in, so that one copy of it runs on either
/// API: `Gc` references inside a scope ([`Scope`]) or handles ([`Handles`]).
pub trait Access {
    /// A reference to an object.
    type R: Clone;
    /// Reference slot `slot` of `obj`.
    fn load(&self, obj: &Self::R, slot: usize) -> Option<Self::R>;
    /// Stores into reference slot `slot` of `obj`.
    fn store(&self, obj: &Self::R, slot: usize, value: Option<&Self::R>);
    /// Data word `i` of `obj`.
    fn read(&self, obj: &Self::R, i: usize) -> u64;
    /// Writes data word `i` of `obj`.
    fn write(&self, obj: &Self::R, i: usize, value: u64);
    /// A new object.
    fn alloc(&self, shape: &Shape) -> Self::R;
    /// Whether both name one object.
    fn same(&self, a: &Self::R, b: &Self::R) -> bool;
}

/// The handle API: a root per live reference.
pub struct Handles<'m, B: Barrier>(pub &'m Mutator<B>);

impl<'m, B: Barrier> Access for Handles<'m, B> {
    type R = Handle<'m, B>;
    fn load(&self, obj: &Self::R, slot: usize) -> Option<Self::R> {
        obj.get(slot)
    }
    fn store(&self, obj: &Self::R, slot: usize, value: Option<&Self::R>) {
        obj.set(slot, value)
    }
    fn read(&self, obj: &Self::R, i: usize) -> u64 {
        obj.read(i)
    }
    fn write(&self, obj: &Self::R, i: usize, value: u64) {
        obj.write(i, value)
    }
    fn alloc(&self, shape: &Shape) -> Self::R {
        self.0.alloc(shape)
    }
    fn same(&self, a: &Self::R, b: &Self::R) -> bool {
        a.same_object(b)
    }
}

/// The scope API: plain `Gc` words, as Go's pointers.
impl<'s, B: Barrier> Access for Scope<'s, '_, B> {
    type R = Gc<'s>;
    #[inline(always)]
    fn load(&self, obj: &Gc<'s>, slot: usize) -> Option<Gc<'s>> {
        Scope::load(self, *obj, slot)
    }
    #[inline(always)]
    fn store(&self, obj: &Gc<'s>, slot: usize, value: Option<&Gc<'s>>) {
        Scope::store(self, *obj, slot, value.copied())
    }
    #[inline(always)]
    fn read(&self, obj: &Gc<'s>, i: usize) -> u64 {
        obj.read(i)
    }
    #[inline(always)]
    fn write(&self, obj: &Gc<'s>, i: usize, value: u64) {
        obj.write(i, value)
    }
    #[inline(always)]
    fn alloc(&self, shape: &Shape) -> Gc<'s> {
        Scope::alloc(self, shape)
    }
    #[inline(always)]
    fn same(&self, a: &Gc<'s>, b: &Gc<'s>) -> bool {
        a.same(*b)
    }
}

/// Runs `f` on the cache through `api`'s references, with the cache lock held (waited
/// for in the blocking state) and, on the scope API, inside one scope. `global` is a
/// handle to the cache's global.
pub fn with_cache<B: Barrier, T>(
    m: &Mutator<B>,
    api: Api,
    cache: &Cache,
    global: &Handle<'_, B>,
    f: impl OpFn<T>,
) -> T {
    let mut meta = m.blocking(|| cache.lock.lock().unwrap_or_else(|p| p.into_inner()));
    if api.scope {
        m.scope(|s| f.call(Op::new(s, cache, &mut meta, s.get(global))))
    } else {
        let a = Handles(m);
        f.call(Op::new(&a, cache, &mut meta, global.clone()))
    }
}

/// A body for [`with_cache`], generic over the API (a closure cannot be).
pub trait OpFn<T> {
    /// Runs the body on the cache through `A`.
    fn call<A: Access>(self, op: Op<'_, A>) -> T;
}

/// One operation's view of the cache: its global and bucket array, and its counters
/// (the lock is held for as long as it lives).
pub struct Op<'a, A: Access> {
    /// The API.
    pub a: &'a A,
    cache: &'a Cache,
    /// The counters, under the lock.
    pub meta: &'a mut Meta,
    root: A::R,
    buckets: A::R,
}

impl<'a, A: Access> Op<'a, A> {
    fn new(a: &'a A, cache: &'a Cache, meta: &'a mut Meta, root: A::R) -> Self {
        let buckets = a.load(&root, R_BUCKETS).expect("the bucket array");
        Op {
            a,
            cache,
            meta,
            root,
            buckets,
        }
    }

    fn find(&self, key: u64) -> Option<A::R> {
        let a = self.a;
        let mut cur = a.load(&self.buckets, bucket_of(key));
        while let Some(e) = cur {
            if a.read(&e, 0) == key {
                return Some(e);
            }
            cur = a.load(&e, E_CHAIN);
        }
        None
    }

    fn unlink(&self, e: &A::R) {
        let a = self.a;
        let (prev, next) = (a.load(e, E_PREV), a.load(e, E_NEXT));
        match &prev {
            Some(p) => a.store(p, E_NEXT, next.as_ref()),
            None => a.store(&self.root, R_HEAD, next.as_ref()),
        }
        match &next {
            Some(n) => a.store(n, E_PREV, prev.as_ref()),
            None => a.store(&self.root, R_TAIL, prev.as_ref()),
        }
    }

    fn push_front(&self, e: &A::R) {
        let a = self.a;
        let head = a.load(&self.root, R_HEAD);
        a.store(e, E_PREV, None);
        a.store(e, E_NEXT, head.as_ref());
        match &head {
            Some(h) => a.store(h, E_PREV, Some(e)),
            None => a.store(&self.root, R_TAIL, Some(e)),
        }
        a.store(&self.root, R_HEAD, Some(e));
    }

    fn touch(&self, e: &A::R) {
        let head = self.a.load(&self.root, R_HEAD);
        if !head.is_some_and(|h| self.a.same(&h, e)) {
            self.unlink(e);
            self.push_front(e);
        }
    }

    fn new_value(&self, key: u64, version: u64) -> A::R {
        let a = self.a;
        let v = a.alloc(&self.cache.value);
        a.write(&v, 0, key);
        a.write(&v, 1, version);
        a.write(&v, 2, checksum(key, version));
        v
    }

    /// Whether `v` is the sound value object of `key`.
    fn sound(&self, v: &A::R, key: u64) -> bool {
        let a = self.a;
        a.read(v, 0) == key && a.read(v, 2) == checksum(key, a.read(v, 1))
    }

    /// The value's version if `key` is cached (and makes it most recent); `Err` if its
    /// value object fails its checksum.
    pub fn get(&self, key: u64) -> Result<Option<u64>, Corrupt> {
        let Some(e) = self.find(key) else {
            return Ok(None);
        };
        self.touch(&e);
        let v = self.a.load(&e, E_VALUE).ok_or(Corrupt)?;
        if !self.sound(&v, key) {
            return Err(Corrupt);
        }
        Ok(Some(self.a.read(&v, 1)))
    }

    /// Caches `key` at `version`, evicting the least recently used entry when full.
    pub fn put(&mut self, key: u64, version: u64) {
        let a = self.a;
        let value = self.new_value(key, version);
        if let Some(e) = self.find(key) {
            a.store(&e, E_VALUE, Some(&value));
            self.touch(&e);
            return;
        }
        let e = a.alloc(&ENTRY);
        a.write(&e, 0, key);
        a.store(&e, E_VALUE, Some(&value));
        let b = bucket_of(key);
        a.store(&e, E_CHAIN, a.load(&self.buckets, b).as_ref());
        a.store(&self.buckets, b, Some(&e));
        self.push_front(&e);
        self.meta.len += 1;
        if self.meta.len > self.cache.capacity {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let a = self.a;
        let tail = a.load(&self.root, R_TAIL).expect("a full cache has a tail");
        self.unlink(&tail);
        let b = bucket_of(a.read(&tail, 0));
        let (mut prev, mut cur) = (None::<A::R>, a.load(&self.buckets, b));
        while let Some(e) = cur {
            if a.same(&e, &tail) {
                let next = a.load(&e, E_CHAIN);
                match &prev {
                    Some(p) => a.store(p, E_CHAIN, next.as_ref()),
                    None => a.store(&self.buckets, b, next.as_ref()),
                }
                break;
            }
            cur = a.load(&e, E_CHAIN);
            prev = Some(e);
        }
        self.meta.len -= 1;
        self.meta.evictions += 1;
    }

    /// Whether both name the same object, or both are null.
    fn same(&self, x: Option<&A::R>, y: Option<&A::R>) -> bool {
        match (x, y) {
            (Some(x), Some(y)) => self.a.same(x, y),
            (x, y) => x.is_none() && y.is_none(),
        }
    }

    /// Whether the list and the chains agree: the list is consistent both ways, every
    /// entry on it is found through its chain with a sound value, and both hold `len`.
    pub fn consistent(&self) -> bool {
        let a = self.a;
        let (mut n, mut prev, mut cur) = (0u64, None::<A::R>, a.load(&self.root, R_HEAD));
        while let Some(e) = cur {
            let linked = self.same(a.load(&e, E_PREV).as_ref(), prev.as_ref());
            let key = a.read(&e, 0);
            let found = self.find(key).is_some_and(|f| a.same(&f, &e));
            let sound = a.load(&e, E_VALUE).is_some_and(|v| self.sound(&v, key));
            if !(linked && found && sound) || n > self.meta.len {
                return false;
            }
            n += 1;
            cur = a.load(&e, E_NEXT);
            prev = Some(e);
        }
        let tail_ok = self.same(a.load(&self.root, R_TAIL).as_ref(), prev.as_ref());
        let chained: u64 = (0..BUCKETS)
            .map(|b| {
                let (mut k, mut cur) = (0, a.load(&self.buckets, b));
                while let Some(e) = cur {
                    k += 1;
                    cur = a.load(&e, E_CHAIN);
                }
                k
            })
            .sum();
        tail_ok && n == self.meta.len && chained == n
    }
}
