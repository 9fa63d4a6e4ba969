//! Static priorities: the order one worker should run tasks in so that outputs
//! finish depth-first and intermediate results are released early.
//!
//! The schedulers run the ready task with the lowest priority, so these
//! numbers only break ties — but with hundreds of ready leaves that tie-break
//! decides whether memory holds a few results or all of them. Dask's
//! `dask.order.order` is the reference for the goal; the algorithm here is a
//! smaller one with the same core (a depth-first walk from the outputs) and
//! two cheap refinements: a child order that is optimal on trees, and
//! early release, which never holds more results than the walk would.
//!
//! # Algorithm
//!
//! 1. **Need.** In topological order, each task gets its Sethi–Ullman number:
//!    the peak count of results held while computing it, if its dependencies
//!    formed a tree. A leaf needs 1; a task whose dependencies need
//!    `n₁ ≥ n₂ ≥ … ≥ n_k` needs `max_j (n_j + j − 1)`.
//! 2. **Child order.** Each task's dependencies are sorted by need, largest
//!    first, ties kept in argument order (two stable counting sorts, so no
//!    key names and no insertion order are consulted). Visiting the most
//!    demanding subtree first is Sethi–Ullman's rule: results of finished
//!    siblings are then held only while the cheaper subtrees run.
//! 3. **Walk.** An iterative depth-first post-order walk from each output, in
//!    the order given, numbers tasks as they finish. Tasks no output reaches
//!    (when the caller did not cull) are walked afterwards from their own
//!    sinks, in id order: nothing structural tells isomorphic components
//!    apart.
//! 4. **Free early.** Whenever a finished task leaves another task ready *and*
//!    that task is the last unfinished consumer of some non-output result, it
//!    is numbered at once instead of waiting for the walk (the shared-input
//!    diamond: `x` feeds `a` and `b`; `b` runs right after `a` so `x` is
//!    released). Compared with numbering it where the walk would, this never
//!    raises the count of held results in between: it holds its one result
//!    in place of at least one input that would stay held until it ran.
//!
//! Everything is `O(V + E)` time and memory; nothing recurses, so 10⁵-deep
//! chains are fine.
//!
//! # Invariants
//!
//! - On an acyclic graph every task's priority is greater than each of its
//!   dependencies' (a valid topological order), and priorities are exactly
//!   `0..n`.
//! - Priorities depend only on the dependency structure, the argument order
//!   and the order of `outputs`; key names never matter, and insertion order
//!   only breaks ties between structurally identical choices (unreached
//!   components, several tasks freed by one finish).
//! - On a cyclic graph (which [`cull`](super::cull) rejects) the walk still
//!   terminates and numbers every task once; the order is then not
//!   topological.

use std::mem;

use crate::graph::{Deps, TaskGraph, topological_order};

/// Static priorities for every task of `graph` (lower runs first): a
/// depth-first order finishing `outputs` one after the other, so results can
/// be released early. See the module docs for the algorithm.
///
/// `deps` must be `graph`'s dependency lists in argument order, as
/// [`TaskGraph::dependencies`] builds them. Output ids out of range are
/// ignored.
pub fn order(graph: &TaskGraph, deps: &Deps, outputs: &[u32]) -> Vec<u32> {
    debug_assert_eq!(graph.len(), deps.len(), "deps belong to another graph");
    let n = deps.len();
    let need = sethi_ullman(deps);
    let mut walk = Walk::new(deps, sorted_children(deps, &need), outputs);
    for &o in outputs {
        if (o as usize) < n {
            walk.visit(o);
        }
    }
    walk.anywhere = true;
    for i in 0..n as u32 {
        if walk.dependents.of(i).is_empty() {
            walk.visit(i);
        }
    }
    // Only a cycle can leave tasks unvisited: every acyclic task reaches a sink.
    for i in 0..n as u32 {
        walk.visit(i);
    }
    walk.priority
}

/// Sethi–Ullman numbers (see the module docs). On a cyclic graph every task
/// gets 1, which leaves the walk in plain argument order.
fn sethi_ullman(deps: &Deps) -> Vec<u32> {
    let n = deps.len();
    let mut need = vec![1u32; n];
    let Ok(topo) = topological_order(deps) else {
        return need;
    };
    let mut bucket: Vec<u32> = Vec::new();
    for &i in &topo {
        let kids = deps.of(i);
        let k = kids.len() as u64;
        let Some(max) = kids.iter().map(|&c| need[c as usize] as u64).max() else {
            continue;
        };
        // Only children whose need is within k of the largest can set the
        // maximum (a smaller one contributes at most max − 1), so counting
        // those in k buckets replaces a sort.
        let lo = if max > k { max + 1 - k } else { 1 };
        bucket.clear();
        bucket.resize((max - lo + 1) as usize, 0);
        for &c in kids {
            let v = need[c as usize] as u64;
            if v >= lo {
                bucket[(v - lo) as usize] += 1;
            }
        }
        let mut at_least = 0u64;
        let mut best = max;
        for (offset, &count) in bucket.iter().enumerate().rev() {
            at_least += count as u64;
            if count > 0 {
                best = best.max(lo + offset as u64 + at_least - 1);
            }
        }
        need[i as usize] = best.min(u32::MAX as u64) as u32;
    }
    need
}

/// Adjacency lists of dependencies, each sorted by need (largest first) and
/// then argument order.
struct Children {
    offsets: Vec<u32>,
    ids: Vec<u32>,
}

fn sorted_children(deps: &Deps, need: &[u32]) -> Children {
    let n = deps.len();
    let max = need.iter().copied().max().unwrap_or(0) as usize;
    // First stable counting sort: all edges by descending need of the child.
    // Edges are fed in (parent, argument) order, so each bucket keeps it.
    let mut start = vec![0u32; max + 2];
    for i in 0..n as u32 {
        for &c in deps.of(i) {
            start[max - need[c as usize] as usize + 1] += 1;
        }
    }
    for b in 1..start.len() {
        start[b] += start[b - 1];
    }
    let edges = start[max + 1] as usize;
    let mut by_need = vec![(0u32, 0u32); edges];
    for i in 0..n as u32 {
        for &c in deps.of(i) {
            let slot = &mut start[max - need[c as usize] as usize];
            by_need[*slot as usize] = (i, c);
            *slot += 1;
        }
    }
    // Second stable counting sort: regroup by parent.
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0u32);
    for i in 0..n as u32 {
        offsets.push(offsets[i as usize] + deps.of(i).len() as u32);
    }
    let mut fill = offsets.clone();
    let mut ids = vec![0u32; edges];
    for (p, c) in by_need {
        ids[fill[p as usize] as usize] = c;
        fill[p as usize] += 1;
    }
    Children { offsets, ids }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    OnStack,
    Done,
}

/// The walk's state; see the module docs, steps 3 and 4.
struct Walk<'a> {
    deps: &'a Deps,
    dependents: Deps,
    children: Children,
    state: Vec<State>,
    priority: Vec<u32>,
    next: u32,
    /// Unfinished dependencies per task: 0 means ready.
    waiting: Vec<u32>,
    /// Unfinished dependents per task: its result is held until this is 0.
    remaining: Vec<u32>,
    is_output: Vec<bool>,
    /// Tasks some output needs; only these may be run early while the
    /// outputs are walked, so unneeded work never jumps ahead.
    reached: Vec<bool>,
    /// Set once the outputs are done: any task may then run early.
    anywhere: bool,
    /// Depth-first frames: a task and the cursor into its sorted children.
    stack: Vec<(u32, u32)>,
    /// Tasks to number now (step 4), reused between calls.
    work: Vec<u32>,
}

impl<'a> Walk<'a> {
    fn new(deps: &'a Deps, children: Children, outputs: &[u32]) -> Walk<'a> {
        let n = deps.len();
        let dependents = deps.reverse();
        let mut is_output = vec![false; n];
        let mut reached = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        for &o in outputs.iter().filter(|&&o| (o as usize) < n) {
            is_output[o as usize] = true;
            if !reached[o as usize] {
                reached[o as usize] = true;
                stack.push(o);
            }
        }
        while let Some(i) = stack.pop() {
            for &j in deps.of(i) {
                if !reached[j as usize] {
                    reached[j as usize] = true;
                    stack.push(j);
                }
            }
        }
        Walk {
            waiting: (0..n as u32).map(|i| deps.of(i).len() as u32).collect(),
            remaining: (0..n as u32)
                .map(|i| dependents.of(i).len() as u32)
                .collect(),
            deps,
            dependents,
            children,
            state: vec![State::Unvisited; n],
            priority: vec![u32::MAX; n],
            next: 0,
            is_output,
            reached,
            anywhere: false,
            stack: Vec::new(),
            work: Vec::new(),
        }
    }

    /// Depth-first post-order walk from `root`, numbering tasks as they finish.
    fn visit(&mut self, root: u32) {
        if self.state[root as usize] != State::Unvisited {
            return;
        }
        self.state[root as usize] = State::OnStack;
        self.stack
            .push((root, self.children.offsets[root as usize]));
        while let Some((task, cursor)) = self.stack.last_mut() {
            let end = self.children.offsets[*task as usize + 1];
            let mut descend = None;
            // Cursors only move forward: each edge is looked at once.
            while *cursor < end {
                let c = self.children.ids[*cursor as usize];
                *cursor += 1;
                if self.state[c as usize] == State::Unvisited {
                    descend = Some(c);
                    break;
                }
            }
            match descend {
                Some(c) => {
                    self.state[c as usize] = State::OnStack;
                    self.stack.push((c, self.children.offsets[c as usize]));
                }
                None => {
                    let task = *task;
                    self.stack.pop();
                    self.finish(task);
                }
            }
        }
    }

    /// Numbers `task`, then every task step 4 says to run at once.
    fn finish(&mut self, task: u32) {
        let mut work = mem::take(&mut self.work);
        work.push(task);
        while let Some(t) = work.pop() {
            // A task can be proposed twice before it runs (two inputs freed).
            if self.state[t as usize] == State::Done {
                continue;
            }
            self.state[t as usize] = State::Done;
            self.priority[t as usize] = self.next;
            self.next += 1;
            for &d in self.dependents.of(t) {
                self.waiting[d as usize] -= 1;
                if self.waiting[d as usize] == 0 && self.may_run_early(d) && self.frees_input(d) {
                    work.push(d);
                }
            }
            for &j in self.deps.of(t) {
                self.remaining[j as usize] -= 1;
                if self.remaining[j as usize] != 1 || self.is_output[j as usize] {
                    continue;
                }
                // j now waits for a single consumer; if that one is ready,
                // running it releases j. This happens once per j, so the
                // scan is O(E) overall.
                let last = self
                    .dependents
                    .of(j)
                    .iter()
                    .copied()
                    .find(|&r| self.state[r as usize] != State::Done);
                if let Some(r) = last {
                    if self.waiting[r as usize] == 0 && self.may_run_early(r) {
                        work.push(r);
                    }
                }
            }
        }
        self.work = work;
    }

    /// Whether `t` may be numbered outside the walk: not yet visited (tasks
    /// on the stack finish when the walk returns to them) and needed now.
    fn may_run_early(&self, t: u32) -> bool {
        self.state[t as usize] == State::Unvisited && (self.anywhere || self.reached[t as usize])
    }

    /// Whether running `t` releases at least one result. Checked once per
    /// task, when it becomes ready.
    fn frees_input(&self, t: u32) -> bool {
        self.deps
            .of(t)
            .iter()
            .any(|&j| self.remaining[j as usize] == 1 && !self.is_output[j as usize])
    }
}

#[cfg(test)]
mod tests;
