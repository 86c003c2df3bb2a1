//! Object shapes and the encoding of references stored in heap words.
//!
//! An object is a run of words: its pointer slots first, then its raw data words. A
//! reference stored in the heap names a span and a slot in it (and, for the tiny
//! allocator, a word within a 16-byte block), so checking a bad reference is a bounds
//! check, never a wild pointer.
//!
//! Invariant: no state, only encodings. `Ref::new` never yields 0 (the span index is
//! stored plus one), so 0 means null in every heap word and root, and a `Ref` round-trips
//! through its word; `Shape::MAX_WORDS` keeps the byte count within 32 bits (the high
//! half of a metadata word) and so the reference-slot count (no more than the words)
//! within the 30 bits below the metadata flags (`META_VALID`, `META_TINY`, the top two
//! bits of the low half, never both set); a fast-path shape's words fit
//! its size class's slot (`words() <= slot_words() == class_words(size_class())`: the
//! class is the smallest that holds its bytes), which the allocator's unchecked stores
//! rely on.

use std::fmt;

pub use crate::size_class::WORD_BYTES;

/// The value written into every word of a freed slot when verification is on. Reading it
/// back as a reference is reported as a use of a freed object.
pub const POISON: usize = 0xDEAD_F00D_DEAD_F00D_u64 as usize;

/// The layout of an object, registered like a type: `ptr_slots` managed references
/// followed by `data_words` raw words. Objects without pointer slots are "noscan" and are
/// never scanned by the marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    name: &'static str,
    ptr_slots: u32,
    data_words: u32,
    /// The size class (0: large, or zero-sized), computed once.
    class: u8,
    /// Whether the allocation fast path serves it: small, not tiny, not zero-sized.
    fast: bool,
    /// Words per slot of its size class (0 unless `fast`).
    slot_words: u32,
}

// A shape's bytes fit the metadata word's high half (`Shape::meta`), which a scope's
// bounds come from.
const _: () = assert!(Shape::MAX_WORDS * WORD_BYTES <= u32::MAX as usize);

impl Shape {
    /// The most words an object may have.
    pub const MAX_WORDS: usize = (u32::MAX >> 3) as usize;

    /// Describes a type named `name` with `ptr_slots` references and `data_words` raw words.
    pub const fn new(name: &'static str, ptr_slots: u32, data_words: u32) -> Shape {
        assert!(
            (ptr_slots as u64) + (data_words as u64) <= Shape::MAX_WORDS as u64,
            "a shape has at most Shape::MAX_WORDS words"
        );
        let words = ptr_slots as usize + data_words as usize;
        let class = if words == 0 {
            0
        } else {
            crate::size_class::class_for(words * WORD_BYTES)
        };
        let fast = class != 0 && !(ptr_slots == 0 && data_words == 1);
        Shape {
            name,
            ptr_slots,
            data_words,
            class,
            fast,
            slot_words: if fast {
                crate::size_class::CLASS_BYTES[class as usize] / WORD_BYTES as u32
            } else {
                0
            },
        }
    }

    /// Whether the allocation fast path serves this shape (small, not tiny, not zero-sized).
    #[inline(always)]
    pub(crate) const fn is_fast(&self) -> bool {
        self.fast
    }

    /// Words per slot of the shape's size class (for fast-path shapes).
    #[inline(always)]
    pub(crate) const fn slot_words(&self) -> usize {
        self.slot_words as usize
    }

    /// The size class objects of this shape are allocated in (0 for large objects).
    #[inline(always)]
    pub(crate) const fn size_class(&self) -> usize {
        self.class as usize
    }

    /// The type's name, used in diagnostics.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The number of reference slots (they come first).
    pub const fn ptr_slots(&self) -> u32 {
        self.ptr_slots
    }

    /// The number of raw data words (after the reference slots).
    pub const fn data_words(&self) -> u32 {
        self.data_words
    }

    /// The object's size in words.
    pub const fn words(&self) -> usize {
        self.ptr_slots as usize + self.data_words as usize
    }

    /// The object's size in bytes.
    pub const fn bytes(&self) -> usize {
        self.words() * WORD_BYTES
    }

    /// Whether the object has no reference slots (Go's "noscan").
    pub const fn is_noscan(&self) -> bool {
        self.ptr_slots == 0
    }

    /// Whether the object is zero-sized: all such objects share one sentinel.
    pub const fn is_zero_sized(&self) -> bool {
        self.words() == 0
    }

    /// Whether the tiny allocator may pack the object into a shared 16-byte block: one
    /// pointer-free word.
    pub const fn is_tiny(&self) -> bool {
        self.ptr_slots == 0 && self.data_words == 1
    }

    /// The per-slot metadata word recorded for an allocated object (flags clear): its
    /// bytes in the high half, its reference slots in the low 30 bits — the layout a
    /// scope's `Gc` keeps, so a scope load uses the word as read.
    pub(crate) const fn meta(&self) -> u64 {
        ((self.bytes() as u64) << 32) | self.ptr_slots as u64
    }
}

/// Metadata flag: a slot holds an object that is not a tiny block (set while allocated).
/// The sign bit of the low half, so that a scope load tests it with one instruction and
/// a branch.
pub(crate) const META_VALID: u64 = 1 << 31;
/// Metadata flag: a slot holds a tiny block shared by one-word pointer-free objects (set
/// while allocated, instead of `META_VALID`).
pub(crate) const META_TINY: u64 = 1 << 30;
/// Either flag: the slot holds something (the word is 0 while it is free).
pub(crate) const META_ALLOCATED: u64 = META_VALID | META_TINY;
/// The reference slots' bits of a metadata word (below the flags).
pub(crate) const META_PTR_SLOTS: u32 = (META_TINY - 1) as u32;

/// Decoded per-slot metadata: what was allocated in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) ptr_slots: u32,
    pub(crate) words: u32,
    pub(crate) tiny: bool,
}

impl Meta {
    /// Decodes a metadata word (flags included).
    pub(crate) const fn decode(m: u64) -> Meta {
        Meta {
            ptr_slots: m as u32 & META_PTR_SLOTS,
            words: (m >> 35) as u32,
            tiny: m & META_TINY != 0,
        }
    }
}

/// A reference as stored in a heap word or a root: `0` is null; otherwise the span index
/// plus one (the span table's key) from bit 33 up, the tiny-block word offset in bit 32,
/// and the slot in the low half (so a load's slot is a 32-bit move). A non-zero word below
/// 2^33 (never one `Ref::new` makes, but a corrupt word may be read as a reference) has
/// key 0, which the span table maps to no span.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(usize);

impl Ref {
    /// The largest span index a reference can name.
    pub const MAX_SPAN: usize = (u32::MAX >> 1) as usize - 1;
    /// The largest slot index a reference can name.
    pub const MAX_SLOT: usize = u32::MAX as usize;
    /// The tiny-block word offset's bit.
    const TINY_BIT: usize = 1 << 32;

    /// Null, as a placeholder (never stored as a reference: `from_word` reads 0 as null).
    pub(crate) const NULL: Ref = Ref(0);

    /// The reference to the object `n` slots after this one's, in the same span (the
    /// caller keeps the slot within the span; `self` names word 0 of its slot).
    #[inline(always)]
    pub(crate) fn plus_slots(self, n: usize) -> Ref {
        debug_assert!(self.0 & Self::TINY_BIT == 0 && self.slot() + n <= Self::MAX_SLOT);
        Ref(self.0 + n)
    }

    /// Encodes a reference to word `tiny` of slot `slot` in span `span`.
    #[inline(always)]
    pub(crate) fn new(span: usize, slot: usize, tiny: usize) -> Ref {
        debug_assert!(span <= Self::MAX_SPAN && slot <= Self::MAX_SLOT && tiny <= 1);
        Ref(((span + 1) << 33) | (tiny << 32) | slot)
    }

    /// Reinterprets a raw heap word; `None` for null.
    #[inline(always)]
    pub(crate) fn from_word(w: usize) -> Option<Ref> {
        if w == 0 {
            None
        } else {
            Some(Ref(w))
        }
    }

    /// The raw word stored in the heap.
    #[inline(always)]
    pub(crate) fn word(self) -> usize {
        self.0
    }

    /// The span table's key of the reference's span: its index plus one (0 for a word
    /// below 2^33, which no span has).
    #[inline(always)]
    pub(crate) fn key(self) -> usize {
        self.0 >> 33
    }

    /// The span index (`usize::MAX`, which no span has, for a word below 2^33: never a
    /// reference `Ref::new` made, but a corrupt word may be read as one).
    #[inline(always)]
    pub fn span(self) -> usize {
        self.key().wrapping_sub(1)
    }

    /// The slot index within the span.
    #[inline(always)]
    pub fn slot(self) -> usize {
        self.0 as u32 as usize
    }

    /// The word offset within a tiny block (0 for every other object).
    #[inline(always)]
    pub fn tiny_offset(self) -> usize {
        (self.0 >> 32) & 1
    }

    /// The same reference with the tiny offset cleared: the whole block.
    #[inline(always)]
    pub(crate) fn block(self) -> Ref {
        Ref(self.0 & !Self::TINY_BIT)
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "span {} slot {}", self.span(), self.slot())?;
        if self.tiny_offset() != 0 {
            write!(f, "+{}", self.tiny_offset())?;
        }
        Ok(())
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_round_trips() {
        for &(span, slot, tiny) in &[(0, 0, 0), (1, 2, 1), (Ref::MAX_SPAN, Ref::MAX_SLOT, 1)] {
            let r = Ref::new(span, slot, tiny);
            assert_ne!(r.word(), 0, "a real reference is never null");
            assert_eq!((r.span(), r.slot(), r.tiny_offset()), (span, slot, tiny));
            assert_eq!(Ref::from_word(r.word()), Some(r));
            assert_eq!(r.block().tiny_offset(), 0);
            assert_eq!(r.block().slot(), slot);
        }
        assert_eq!(Ref::from_word(0), None);
    }

    #[test]
    fn shape_meta_round_trips() {
        let s = Shape::new("node", 2, 3);
        let m = Meta::decode(s.meta() | META_VALID);
        assert_eq!((m.ptr_slots, m.words, m.tiny), (2, 5, false));
        assert!(Meta::decode(s.meta() | META_TINY).tiny);
        assert!(!s.is_noscan() && !s.is_tiny() && !s.is_zero_sized());
        assert!(Shape::new("int", 0, 1).is_tiny());
        assert!(Shape::new("empty", 0, 0).is_zero_sized());
        assert_eq!(s.bytes(), 5 * WORD_BYTES);
        // The largest shape's bytes fit the metadata word's high half.
        let max = Shape::new("max", 1, Shape::MAX_WORDS as u32 - 1);
        let m = Meta::decode(max.meta() | META_VALID);
        assert_eq!((m.ptr_slots, m.words as usize), (1, Shape::MAX_WORDS));
        assert_eq!((max.meta() >> 32) as usize, Shape::MAX_WORDS * WORD_BYTES);
    }

    /// A shape one word past `MAX_WORDS` is refused: its bytes would overflow the
    /// metadata word's high half, and a scope's bounds would come from a wrapped size.
    #[test]
    #[should_panic(expected = "a shape has at most Shape::MAX_WORDS words")]
    fn a_shape_past_max_words_is_refused() {
        let _ = Shape::new("too big", 1, Shape::MAX_WORDS as u32);
    }
}
