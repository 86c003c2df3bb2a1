//! Go's size classes: the object sizes small allocations are rounded up to, and how many
//! pages a span of each class takes. Pure tables, at the bottom of the module graph.
//!
//! The sizes are Go's (`src/runtime/sizeclasses.go`, 68 classes including the large
//! class 0). Pages per span are chosen as Go's generator does in spirit: the fewest pages
//! whose tail waste is at most 1/8 of the span.
//!
//! Invariant: constants and pure functions, no state. For every small size,
//! `class_of_words` gives the smallest class that holds it (its tables are built at compile
//! time from `class_for`), and `class_pages` the fewest pages whose tail waste is at most
//! 1/8; the tests below check both for every size.

/// Bytes in a heap word: a reference slot or a data word.
pub const WORD_BYTES: usize = std::mem::size_of::<usize>();

/// Object sizes in bytes, indexed by size class; class 0 means "large".
pub(crate) const CLASS_BYTES: [u32; 68] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// The number of size classes, the large class 0 included.
pub(crate) const NUM_CLASSES: usize = CLASS_BYTES.len();

/// The largest small object in bytes; bigger objects get a span of their own.
pub(crate) const MAX_SMALL_BYTES: usize = 32768;

/// The size class of the 16-byte tiny block.
pub(crate) const TINY_CLASS: usize = 2;

const SMALL_STEP: usize = 8;
const SMALL_LIMIT: usize = 1024;
const LARGE_STEP: usize = 128;

/// The smallest size class holding `bytes`, or 0 (large). A `const fn` so that shapes
/// compute their class at compile time.
pub(crate) const fn class_for(bytes: usize) -> u8 {
    let mut c = 1;
    while c < NUM_CLASSES {
        if CLASS_BYTES[c] as usize >= bytes {
            return c as u8;
        }
        c += 1;
    }
    0
}

const fn build_small() -> [u8; SMALL_LIMIT / SMALL_STEP + 1] {
    let mut t = [0u8; SMALL_LIMIT / SMALL_STEP + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = class_for(i * SMALL_STEP);
        i += 1;
    }
    t
}

const fn build_large() -> [u8; (MAX_SMALL_BYTES - SMALL_LIMIT) / LARGE_STEP + 1] {
    let mut t = [0u8; (MAX_SMALL_BYTES - SMALL_LIMIT) / LARGE_STEP + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = class_for(SMALL_LIMIT + i * LARGE_STEP);
        i += 1;
    }
    t
}

static SIZE_TO_CLASS_8: [u8; SMALL_LIMIT / SMALL_STEP + 1] = build_small();
static SIZE_TO_CLASS_128: [u8; (MAX_SMALL_BYTES - SMALL_LIMIT) / LARGE_STEP + 1] = build_large();

/// The size class for an object of `words` words, or 0 when it is large.
#[inline(always)]
pub(crate) fn class_of_words(words: usize) -> usize {
    let bytes = words * WORD_BYTES;
    if bytes <= SMALL_LIMIT {
        SIZE_TO_CLASS_8[bytes.div_ceil(SMALL_STEP)] as usize
    } else if bytes <= MAX_SMALL_BYTES {
        SIZE_TO_CLASS_128[(bytes - SMALL_LIMIT).div_ceil(LARGE_STEP)] as usize
    } else {
        0
    }
}

/// The object size in words of small size class `class`.
#[inline(always)]
pub(crate) fn class_words(class: usize) -> usize {
    CLASS_BYTES[class] as usize / WORD_BYTES
}

/// Pages per span for small size class `class`, given the page size.
pub(crate) fn class_pages(class: usize, page_bytes: usize) -> usize {
    let size = CLASS_BYTES[class] as usize;
    let mut pages = size.div_ceil(page_bytes).max(1);
    loop {
        let span = pages * page_bytes;
        if (span % size) * 8 <= span {
            return pages;
        }
        pages += 1;
    }
}

/// A span class: a size class and whether its objects are pointer-free (Go's spanClass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SpanClass(pub(crate) u8);

impl SpanClass {
    /// The number of span classes.
    pub(crate) const COUNT: usize = NUM_CLASSES * 2;

    pub(crate) const fn new(size_class: usize, noscan: bool) -> SpanClass {
        SpanClass((size_class * 2 + noscan as usize) as u8)
    }

    pub(crate) const fn size_class(self) -> usize {
        (self.0 >> 1) as usize
    }

    pub(crate) const fn noscan(self) -> bool {
        self.0 & 1 == 1
    }

    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_small_size_fits_its_class() {
        for words in 1..=MAX_SMALL_BYTES / WORD_BYTES {
            let c = class_of_words(words);
            assert!(c > 0, "{words} words should be small");
            assert!(class_words(c) >= words, "{words} words in class {c}");
            assert!(
                class_words(c - 1) < words || c == 1,
                "class {c} is the smallest fit"
            );
        }
        assert_eq!(class_of_words(MAX_SMALL_BYTES / WORD_BYTES + 1), 0);
        assert_eq!(class_of_words(2), TINY_CLASS);
    }

    #[test]
    fn spans_waste_at_most_an_eighth() {
        for (c, &size) in CLASS_BYTES.iter().enumerate().skip(1) {
            let size = size as usize;
            for page in [64, 8192] {
                let pages = class_pages(c, page);
                let span = pages * page;
                assert!(
                    span >= size && (span % size) * 8 <= span,
                    "class {c} page {page}"
                );
            }
        }
        assert_eq!(class_pages(1, 8192), 1);
        assert_eq!(class_pages(NUM_CLASSES - 1, 8192), 4);
    }

    #[test]
    fn span_class_packs_noscan() {
        let s = SpanClass::new(5, true);
        assert_eq!((s.size_class(), s.noscan()), (5, true));
        assert_eq!(SpanClass::new(5, false).index() + 1, s.index());
    }
}
