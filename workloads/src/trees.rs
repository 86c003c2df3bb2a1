//! Binary trees as gcbench and binary-trees (and binary-trees-rayon) build them: through
//! handles (the `*_with_handles` functions: a root per live node reference), and on the
//! scope API (`Mutator::scope`, `Gc` references) in scopes of bounded size: a subtree of at most
//! [`SCOPE_DEPTH`] levels (2,047 nodes) is built or walked inside one scope, and the levels
//! above it go from scope to scope through handles. A scope is not preemptible, so its
//! length bounds how long a pause waits for the mutator (its time-to-safepoint); a Go
//! program is preemptible at every call, and a scope of a whole depth-16 tree made pauses
//! wait for up to 131,071 allocations.
//!
//! Invariant: every node is reachable from a handle or from a `Gc` of the open scope
//! whenever the mutator can reach a safepoint (between scopes), so no node is collected
//! while the tree is being built; each scope holds at most `2^(SCOPE_DEPTH+1) - 1` node
//! operations.

use collector::{Barrier, Gc, Handle, Mutator, Scope, Shape};

/// The depth of the largest subtree built or walked inside one scope.
pub const SCOPE_DEPTH: u32 = 10;

/// A tree of `depth` built bottom-up, node by node inside a scope.
fn make_gc<'s, B: Barrier>(s: &Scope<'s, '_, B>, shape: &Shape, depth: u32) -> Gc<'s> {
    let node = s.alloc(shape);
    if depth > 0 {
        let left = make_gc(s, shape, depth - 1);
        let right = make_gc(s, shape, depth - 1);
        s.store(node, 0, Some(left));
        s.store(node, 1, Some(right));
    }
    node
}

/// Builds children of depth `depth - 1` below `node` top-down inside a scope.
fn populate_gc<'s, B: Barrier>(s: &Scope<'s, '_, B>, shape: &Shape, depth: u32, node: Gc<'s>) {
    if depth == 0 {
        return;
    }
    let left = s.alloc(shape);
    let right = s.alloc(shape);
    s.store(node, 0, Some(left));
    s.store(node, 1, Some(right));
    populate_gc(s, shape, depth - 1, left);
    populate_gc(s, shape, depth - 1, right);
}

/// Counts the nodes under `node` inside a scope, down to `levels` below it (0: the node
/// alone); the subtrees below that level are returned as handles for later scopes.
fn count_gc<'s, 'm, B: Barrier>(
    s: &Scope<'s, 'm, B>,
    node: Gc<'s>,
    levels: u32,
    below: &mut Vec<Handle<'m, B>>,
) -> u64 {
    let mut n = 1;
    for slot in 0..2 {
        if let Some(child) = s.load(node, slot) {
            if levels == 0 {
                below.push(s.root(child));
            } else {
                n += count_gc(s, child, levels - 1, below);
            }
        }
    }
    n
}

/// A tree of `depth` built bottom-up (Boehm's `MakeTree`, binary-trees' `bottomUpTree`)
/// of `shape` nodes (the first two reference slots are the children), rooted by the
/// handle returned.
pub fn make_tree<'m, B: Barrier>(m: &'m Mutator<B>, shape: &Shape, depth: u32) -> Handle<'m, B> {
    if depth <= SCOPE_DEPTH {
        return m.scope(|s| s.root(make_gc(s, shape, depth)));
    }
    let left = make_tree(m, shape, depth - 1);
    let right = make_tree(m, shape, depth - 1);
    m.scope(|s| {
        let node = s.alloc(shape);
        s.store(node, 0, Some(s.get(&left)));
        s.store(node, 1, Some(s.get(&right)));
        s.root(node)
    })
}

/// Builds a tree of `depth` top-down below `node` (Boehm's `Populate`).
pub fn populate<B: Barrier>(m: &Mutator<B>, shape: &Shape, depth: u32, node: &Handle<'_, B>) {
    if depth <= SCOPE_DEPTH {
        m.scope(|s| populate_gc(s, shape, depth, s.get(node)));
        return;
    }
    let (left, right) = m.scope(|s| {
        let (left, right) = (s.alloc(shape), s.alloc(shape));
        let parent = s.get(node);
        s.store(parent, 0, Some(left));
        s.store(parent, 1, Some(right));
        (s.root(left), s.root(right))
    });
    populate(m, shape, depth - 1, &left);
    populate(m, shape, depth - 1, &right);
}

/// The nodes of the tree under `root` (binary-trees' `check`), [`SCOPE_DEPTH`] levels a
/// scope.
pub fn count<B: Barrier>(m: &Mutator<B>, root: &Handle<'_, B>) -> u64 {
    let mut pending = vec![root.clone()];
    let mut total = 0;
    while let Some(h) = pending.pop() {
        let mut below = Vec::new();
        total += m.scope(|s| count_gc(s, s.get(&h), SCOPE_DEPTH, &mut below));
        pending.extend(below);
    }
    total
}

/// [`make_tree`] through handles.
pub fn make_tree_with_handles<'m, B: Barrier>(
    m: &'m Mutator<B>,
    shape: &Shape,
    depth: u32,
) -> Handle<'m, B> {
    let node = m.alloc(shape);
    if depth > 0 {
        let left = make_tree_with_handles(m, shape, depth - 1);
        let right = make_tree_with_handles(m, shape, depth - 1);
        node.set(0, Some(&left));
        node.set(1, Some(&right));
    }
    node
}

/// [`populate`] through handles.
pub fn populate_with_handles<B: Barrier>(
    m: &Mutator<B>,
    shape: &Shape,
    depth: u32,
    node: &Handle<'_, B>,
) {
    if depth == 0 {
        return;
    }
    let left = m.alloc(shape);
    let right = m.alloc(shape);
    node.set(0, Some(&left));
    node.set(1, Some(&right));
    populate_with_handles(m, shape, depth - 1, &left);
    populate_with_handles(m, shape, depth - 1, &right);
}

/// [`count`] through handles.
pub fn count_with_handles<B: Barrier>(node: &Handle<'_, B>) -> u64 {
    1 + node.get(0).map_or(0, |l| count_with_handles(&l))
        + node.get(1).map_or(0, |r| count_with_handles(&r))
}

/// The Benchmarks Game's binary-trees plan (binary-trees and binary-trees-rayon): the
/// shallowest short-lived trees.
pub const MIN_DEPTH: u32 = 4;

/// Nodes in a complete tree of `depth`.
pub fn nodes(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// The short-lived depths of a binary-trees run with maximum depth `max`.
pub fn depths(max: u32) -> Vec<u32> {
    (MIN_DEPTH..=max).step_by(2).collect()
}

/// Short-lived trees per binary-trees round at `depth`.
pub fn trees_per_round(max: u32, depth: u32) -> u64 {
    1u64 << (max - depth + MIN_DEPTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::{Heap, HeapConfig};

    static NODE: Shape = Shape::new("node", 2, 0);

    #[test]
    fn trees_deeper_than_a_scope_have_every_node_and_survive_cycles() {
        let heap = Heap::new(HeapConfig {
            verify: true,
            ..HeapConfig::default()
        })
        .unwrap();
        let m = heap.mutator();
        for depth in [0, 3, SCOPE_DEPTH, SCOPE_DEPTH + 2] {
            let want = nodes(depth);
            let t = make_tree(&m, &NODE, depth);
            m.gc();
            assert_eq!(count(&m, &t), want, "bottom-up, depth {depth}");
            assert_eq!(count_with_handles(&t), want);
            let h = make_tree_with_handles(&m, &NODE, depth);
            assert_eq!(count(&m, &h), want, "bottom-up with handles, depth {depth}");
            let root = m.alloc(&NODE);
            populate(&m, &NODE, depth, &root);
            m.gc();
            assert_eq!(count(&m, &root), want, "top-down, depth {depth}");
            let root = m.alloc(&NODE);
            populate_with_handles(&m, &NODE, depth, &root);
            assert_eq!(count_with_handles(&root), want, "top-down with handles");
        }
        assert_eq!(heap.lost_objects(), 0);
    }
}
