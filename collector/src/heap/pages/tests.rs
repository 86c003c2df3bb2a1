//! Unit tests of `heap::pages` (normal builds only): boxes cut from a chunk, releases,
//! the scavenger's arithmetic, and the unmapping of runs of boxes given up together.

use super::*;
use crate::sync::{AtomicUsize, Ordering::Relaxed};

/// Boxes cut from one chunk are disjoint ranges, each released and unmapped alone: a
/// neighbour's release or drop leaves a box's values as they were.
#[test]
fn boxes_cut_from_a_chunk_are_released_and_unmapped_alone() {
    let words = 2 * os_page() / std::mem::size_of::<usize>();
    let boxes: Vec<PageBox<AtomicUsize>> = (0..8).map(|_| PageBox::zeroed(words)).collect();
    for (i, b) in boxes.iter().enumerate() {
        assert!(b.iter().all(|w| w.load(Relaxed) == 0), "zeroed");
        b[words - 1].store(i + 1, Relaxed);
        b[0].store(i + 1, Relaxed);
    }
    let mut ranges: Vec<(usize, usize)> = boxes
        .iter()
        .map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + 2 * os_page()))
        .collect();
    // Cut in order from a chunk: some box starts where the one made before it ends
    // (other threads' boxes or a chunk's end may come between two; mappings of their
    // own would come below one another).
    assert!(
        ranges.windows(2).any(|w| w[0].1 == w[1].0),
        "no two boxes made one after the other are adjacent: {ranges:x?}"
    );
    ranges.sort();
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "disjoint");
    let mut boxes = boxes.into_iter().enumerate();
    let (_, first) = boxes.next().unwrap();
    assert_eq!(first.release_from(0), 2 * os_page());
    drop(first);
    for (i, b) in boxes {
        assert_eq!(
            (b[0].load(Relaxed), b[words - 1].load(Relaxed)),
            (i + 1, i + 1)
        );
    }
}

#[test]
fn scavenging_goes_down_to_the_limit_and_on_growth_to_the_goal() {
    let r = Retained::new(Some(1000));
    r.grow(1200);
    assert_eq!(r.to_scavenge(0, true), 200, "over the limit");
    assert_eq!(
        r.to_scavenge(0, false),
        0,
        "the CPU limiter on: not to the limit"
    );
    let r = Retained::new(None);
    assert_eq!(r.to_scavenge(100, true), 0, "no goal yet");
    let page = os_page();
    r.grow(100 * page);
    r.pace_scavenger(1000, 1000, r.in_use());
    assert_eq!(
        r.to_scavenge(10 * page, true),
        0,
        "all 100 pages in use at the cycle's end: goal 110 pages, not set"
    );
    r.pace_scavenger(500, 1000, r.in_use());
    assert_eq!(r.to_scavenge(0, true), 0, "no growth");
    assert_eq!(r.to_scavenge(30, true), 30, "at most the growth");
    assert_eq!(
        r.to_scavenge(90 * page, true),
        45 * page,
        "the goal halved: down to 55 pages"
    );
    r.pool(true, 40 * page);
    r.pace_scavenger(500, 1000, r.in_use());
    assert_eq!(
        r.to_scavenge(90 * page, true),
        100 * page - 33 * page,
        "60 pages in use: goal 33 pages"
    );
    r.pace_scavenger(500, 1000, 100 * page);
    assert_eq!(
        r.to_scavenge(90 * page, true),
        45 * page,
        "the bytes in use as given (before a concurrent sweep): goal 55 pages"
    );
    r.pace_scavenger(usize::MAX, usize::MAX, r.in_use());
    assert_eq!(
        r.to_scavenge(90 * page, true),
        34 * page,
        "GOGC off, no limit: ratio 1, goal 66 pages"
    );
    r.pool(false, 40 * page);
    r.shrink(150);
    assert_eq!((r.retained(), r.released_total()), (100 * page - 150, 150));
}

#[test]
fn released_pages_read_as_zero_and_the_rest_keeps_its_values() {
    let n = 4 * os_page() / 8;
    let b = PageBox::<AtomicUsize>::zeroed(n);
    assert_eq!(b.as_ptr() as usize % os_page(), 0, "page-aligned");
    for (i, w) in b.iter().enumerate() {
        w.store(i + 1, Relaxed);
    }
    let half = n / 2;
    assert_eq!(b.release_from(half), 2 * os_page());
    assert!(b[half..].iter().all(|w| w.load(Relaxed) == 0));
    assert!(b[..half]
        .iter()
        .enumerate()
        .all(|(i, w)| w.load(Relaxed) == i + 1));
    // Part of a page is not released.
    assert_eq!(b.release_from(1), 3 * os_page());
    assert_eq!(b[0].load(Relaxed), 1);
    assert_eq!(b.release_from(n), 0);
    assert_eq!(PageBox::<AtomicUsize>::zeroed(0).len(), 0);
}

/// The bytes of `range` that are mapped in this process, from `/proc/self/maps` (a
/// probe of the pages themselves, by a system call or a read, would touch unmapped
/// memory, which memcheck reports).
fn mapped_bytes(range: &std::ops::Range<usize>) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|line| {
            let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
            Some(usize::from_str_radix(lo, 16).ok()?..usize::from_str_radix(hi, 16).ok()?)
        })
        .map(|m| {
            m.end
                .min(range.end)
                .saturating_sub(m.start.max(range.start))
        })
        .sum()
}

/// Boxes given up together are unmapped by runs: one call for each run of ranges that
/// touch, never across a gap (boxes kept between them stay mapped with their values),
/// and no page of a given-up box is left mapped. A box from the global allocator, or an
/// empty one, is dropped, not given up.
#[test]
fn given_up_boxes_are_unmapped_by_runs() {
    let words = os_page() / std::mem::size_of::<usize>();
    let boxes: Vec<PageBox<AtomicUsize>> = (0..6).map(|_| PageBox::zeroed(words)).collect();
    let all: Vec<_> = boxes.iter().map(|b| b.as_ptr() as usize).collect();
    assert!(
        all.windows(2).any(|w| w[0] + os_page() == w[1]),
        "no two boxes made one after the other are adjacent: {all:x?}"
    );
    let (mut kept, mut given, mut unmapper) = (Vec::new(), Vec::new(), UnmapOnDrop::default());
    for (i, b) in boxes.into_iter().enumerate() {
        if i == 1 || i == 4 {
            b[0].store(i + 1, Relaxed);
            kept.push(b);
        } else {
            let r = b
                .into_mapped_range()
                .expect("a box of whole pages is mapped");
            given.push(r.bounds());
            unmapper.push(Some(r));
        }
    }
    assert!(given.iter().all(|r| mapped_bytes(r) == r.len()));
    given.sort_by_key(|r| r.start);
    let touching = given.windows(2).filter(|w| w[0].end == w[1].start).count();
    assert_eq!(
        unmapper.unmap_now(),
        given.len() - touching,
        "one call a run"
    );
    for r in &given {
        assert_eq!(mapped_bytes(r), 0, "still mapped: {r:x?}");
    }
    for (b, i) in kept.iter().zip([2, 5]) {
        let r = b.as_ptr() as usize..b.as_ptr() as usize + os_page();
        assert_eq!(mapped_bytes(&r), r.len(), "a kept box was unmapped: {r:x?}");
        assert_eq!(b[0].load(Relaxed), i);
    }
    assert_eq!(PageBox::<AtomicUsize>::zeroed(3).into_mapped_range(), None);
    assert_eq!(PageBox::<AtomicUsize>::zeroed(0).into_mapped_range(), None);
}
