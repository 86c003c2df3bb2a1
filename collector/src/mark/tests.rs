//! Unit tests of one marker: the prefetch ring's objects are published with the stack,
//! and references to no object are counted, never followed.

use super::*;
use crate::object::Shape;
use crate::size_class::SpanClass;

static NODE: Shape = Shape::new("node", 2, 2);

/// A space holding a complete binary tree of `n` nodes in one span of 32-byte slots:
/// slot `i`'s children are slots `2i + 1` and `2i + 2`. Returns the space and the span.
fn tree(n: usize) -> (Space, usize) {
    let space = Space::new(8192);
    let span = space.refill(SpanClass::new(4, false));
    assert!(n <= span.nslots());
    for s in 0..n {
        span.alloc_bits(s / 64).fetch_or(1 << (s % 64), Relaxed);
        span.set_meta(s, NODE.meta());
        for (k, child) in [2 * s + 1, 2 * s + 2].into_iter().enumerate() {
            if child < n {
                let r = Ref::new(span.index, child, 0);
                span.word(span.slot_base(s) + k).store(r.word(), Relaxed);
            }
        }
    }
    let index = span.index;
    (space, index)
}

/// The pools and the count of active markers that one marker of these tests shares.
struct Pools {
    grey: DefaultPool,
    shaded: DefaultPool,
    active: AtomicUsize,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            grey: DefaultPool::default(),
            shaded: DefaultPool::default(),
            active: AtomicUsize::new(1),
        }
    }

    /// A marker alone on `space` (one marker: it never hands work over to be balanced).
    fn marker<'h>(&'h self, space: &'h Space) -> Marker<'h, DefaultPool> {
        Marker::new(space, &self.grey, &self.shaded, &self.active, 1)
    }

    /// A marker that marked `root` and drained with ten objects' scan work as its budget
    /// (an assist's shape), stopped by the budget with grey objects left in its ring and
    /// stack, not yet published.
    fn stopped_by_budget<'h>(&'h self, space: &'h Space, root: usize) -> Marker<'h, DefaultPool> {
        let mut m = self.marker(space);
        m.budget = 10 * 2 * crate::object::WORD_BYTES as u64;
        m.mark(Ref::new(root, 0, 0));
        assert!(!m.drain(), "the budget stops the drain");
        m
    }
}

#[test]
fn a_marker_stopped_by_its_budget_publishes_every_grey_object() {
    let n = 255;
    let (space, i) = tree(n);
    let pools = Pools::new();
    let mut first = pools.stopped_by_budget(&space, i);
    assert!(first.ring.len > 0, "the ring holds grey objects");
    first.publish();
    assert_eq!((first.ring.len, first.stack.len()), (0, 0));
    // A second marker finishes from what was published: nothing was left unscanned.
    let mut second = pools.marker(&space);
    second.run();
    let span = space.span(i).unwrap();
    assert_eq!(first.marked_objects + second.marked_objects, n as u64);
    assert!((0..n).all(|s| span.is_marked(s)), "every node is marked");
    assert_eq!(first.bad_refs + second.bad_refs, 0);
}

#[test]
fn references_to_no_object_are_counted_not_followed() {
    let (space, i) = tree(3);
    let pools = Pools::new();
    let mut m = pools.marker(&space);
    let span = space.span(i).unwrap();
    // A free slot, a slot past the span's bitmaps, a span that does not exist, and
    // the zero span key.
    for r in [
        Ref::new(i, 3, 0),
        Ref::new(i, 64 * span.bitmap_words() + 5, 0),
        Ref::new(space.table.len() + 7, 0, 0),
    ] {
        m.mark(r);
    }
    m.mark(Ref::from_word(1).unwrap());
    assert_eq!(m.bad_refs, 4);
    assert_eq!(m.marked_objects, 0);
    assert!(m.drain());
    assert!(!span.is_marked(3));
}

#[test]
fn the_prefetch_ring_hands_entries_out_in_the_order_they_came_in() {
    let (space, i) = tree(1);
    let span = space.span(i).unwrap();
    let mut ring = Ring::default();
    let mut out = Vec::new();
    for slot in 0..PREFETCH_DISTANCE {
        assert!(
            ring.exchange((span, slot)).is_none(),
            "the ring fills first"
        );
    }
    // Full: each entry in takes the oldest out; a pop leaves a gap, which an exchange
    // meets a whole round later and fills without taking anything out.
    let mut next = 100;
    for round in 0..3 * PREFETCH_DISTANCE {
        if round % 5 == 0 {
            out.extend(ring.pop().map(|e| e.1));
        }
        out.extend(ring.exchange((span, next)).map(|e| e.1));
        next += 1;
    }
    while let Some((_, slot)) = ring.pop() {
        out.push(slot);
    }
    assert_eq!(ring.len, 0);
    let expected: Vec<usize> = (0..PREFETCH_DISTANCE).chain(100..next).collect();
    assert_eq!(out, expected);
}

/// A worker's slice flushes its scan work (background credit, and the mark's progress)
/// every `CREDIT_SLACK` units, as Go's `gcDrain` does every `gcCreditSlack`, not once at
/// the slice's end: 255 nodes are 4,080 units, three flushes.
#[test]
fn a_workers_slice_flushes_its_credit_every_credit_slack() {
    use crate::mark::assist::drain_slice;
    use crate::mark::state::CREDIT_SLACK;
    let (space, i) = tree(255);
    let pools = Pools::new();
    let mut m = pools.marker(&space);
    m.mark(Ref::new(i, 0, 0));
    let mut flushes = Vec::new();
    drain_slice(&mut m, 1 << 20, |w| {
        flushes.push(w);
        true
    });
    let object = 2 * crate::object::WORD_BYTES as u64;
    assert_eq!(
        flushes.iter().sum::<u64>(),
        255 * object,
        "all of it flushed"
    );
    assert_eq!(flushes.len(), 3, "{flushes:?}");
    assert!(
        flushes.iter().all(|&w| w < CREDIT_SLACK + object),
        "{flushes:?}"
    );
}

/// A drain stops at the first flush whose callback says stop (an assist once Go's GC
/// CPU limiter is on, `gcDrainN`), its grey objects left for others: one flush of at
/// most [`CREDIT_SLACK`] and an object, of a tree whose whole scan is 4,080 units.
#[test]
fn a_drain_stops_at_the_flush_that_says_stop() {
    use crate::mark::assist::drain_slice;
    use crate::mark::state::CREDIT_SLACK;
    let (space, i) = tree(255);
    let pools = Pools::new();
    let mut m = pools.marker(&space);
    m.mark(Ref::new(i, 0, 0));
    let mut flushes = Vec::new();
    drain_slice(&mut m, 1 << 20, |w| {
        flushes.push(w);
        false
    });
    let object = 2 * crate::object::WORD_BYTES as u64;
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    assert!(flushes[0] < CREDIT_SLACK + object, "{flushes:?}");
    assert!(m.scan_work < 255 * object, "stopped before the tree's end");
}

#[test]
fn after_warm_up_markers_reuse_their_stacks_and_batches() {
    let n = 255;
    let (space, i) = tree(n);
    let pools = Pools::new();
    // An assist's shape: a budget, then what is left published.
    let mut first = pools.stopped_by_budget(&space, i);
    first.publish();
    let (stack, first_marked) = (first.stack.as_ptr(), first.marked_objects);
    drop(first);
    assert_eq!(
        pools.grey.buffers().stacks.len(),
        1,
        "its stack is kept as a spare"
    );
    let handed: Vec<Batch> = std::iter::from_fn(|| pools.grey.take()).collect();
    assert!(!handed.is_empty(), "the marker handed batches over");
    let mut batches: Vec<*const Ref> = handed.iter().map(|b| b.as_ptr()).collect();
    handed.into_iter().for_each(|b| pools.grey.put(b));
    // The next marker (the next assist) gets the first one's stack back, and every batch
    // it empties becomes a spare for the next hand-over.
    let mut second = pools.marker(&space);
    assert_eq!(second.stack.as_ptr(), stack, "the private stack is reused");
    assert_eq!(pools.grey.buffers().stacks.len(), 0);
    second.run();
    assert_eq!(first_marked + second.marked_objects, n as u64);
    let spares = &pools.grey.buffers().batches;
    assert_eq!(
        spares.len(),
        batches.len(),
        "every emptied batch is a spare"
    );
    let taken: Vec<Batch> = (0..batches.len()).map(|_| spares.take()).collect();
    let mut reused: Vec<*const Ref> = taken.iter().map(|b| b.as_ptr()).collect();
    batches.sort();
    reused.sort();
    assert_eq!(reused, batches, "the emptied batches are the next spares");
}

/// A batch of shaded references, emptied by the marker that marks them, becomes a spare
/// of the shaded pool, the one that replaces a mutator's barrier buffer a pause,
/// handshake or assist takes (`hand_over_wbuf_stopped`); a grey batch's goes to the grey
/// pool's.
#[test]
fn an_emptied_shaded_batch_is_a_spare_of_the_shaded_pool() {
    let (space, i) = tree(3);
    let pools = Pools::new();
    let mut batch = pools.shaded.buffers().batches.take();
    let at = batch.as_ptr();
    batch.push(Ref::new(i, 0, 0));
    pools.shaded.put(batch);
    let mut m = pools.marker(&space);
    m.run();
    assert_eq!(m.marked_objects, 3);
    assert_eq!(pools.grey.buffers().batches.len(), 0);
    assert_eq!(pools.shaded.buffers().batches.len(), 1);
    let spare = pools.shaded.buffers().batches.take();
    assert_eq!(spare.as_ptr(), at);
}
