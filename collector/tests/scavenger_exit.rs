//! A heap's background scavenger (`gc-scavenger`) is gone once the heap is dropped or
//! shut down: it used to sleep out its idle period (up to 100 ms) first, so a program
//! making heaps in a loop kept one thread per recent heap. Its own test binary, so that
//! no other test's heap has a scavenger running while it counts.

use collector::{Heap, HeapConfig, Shape};

static NODE: Shape = Shape::new("node", 1, 1);

/// The thread ids of this process's threads named `gc-scavenger` now.
fn scavengers() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux's /proc")
        .filter_map(|t| {
            let t = t.ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (name.trim() == "gc-scavenger").then(|| t.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// Twenty heaps made and dropped (half of them shut down first) in a row, each once its
/// scavenger runs: each scavenger is joined as its heap goes, so at most the last, still
/// leaving the kernel's thread list after its join, can be counted. Before, each slept
/// out its idle period first, and all twenty were there.
#[test]
fn the_scavenger_is_gone_when_its_heap_is_dropped_or_shut_down() {
    for i in 0..20 {
        let before = scavengers();
        let heap = Heap::new(HeapConfig::default()).unwrap();
        // Until the new heap's scavenger runs (a thread started, not a time).
        while scavengers().iter().all(|t| before.contains(t)) {
            std::thread::yield_now();
        }
        {
            let m = heap.mutator();
            let _ = m.alloc(&NODE);
        }
        if i % 2 == 1 {
            heap.shutdown();
        }
        drop(heap);
    }
    let left = scavengers().len();
    assert!(left <= 1, "{left} scavenger threads outlived their heaps");
}
