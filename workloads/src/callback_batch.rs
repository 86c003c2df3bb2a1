//! The scope path that finbench and cleanupbench share: a batch of objects allocated,
//! stored into the table and registered inside one scope.

use collector::{Barrier, Handle, Mutator, Shape};

/// Allocates objects `range` of `shape` inside one scope (`Gc` references, as Go's plain
/// pointers), writes each one's index into its first data word, stores it into slot
/// `index` of `table` and registers it with `register` (which takes a handle: one is made
/// and dropped per object, as registration needs).
pub fn register_batch_in_scope<B: Barrier>(
    m: &Mutator<B>,
    table: &Handle<'_, B>,
    range: std::ops::Range<u64>,
    shape: &'static Shape,
    register: impl Fn(&Mutator<B>, &Handle<'_, B>, u64),
) {
    m.scope(|s| {
        let table = s.get(table);
        for j in range {
            let obj = s.alloc(shape);
            obj.write(0, j);
            s.store(table, j as usize, Some(obj));
            register(m, &s.root(obj), j);
        }
    });
}
