//! The low-level task graph: `Key → Task`.
//!
//! [`TaskGraph`] keeps tasks in insertion order; a task's position is its
//! dense id (`u32`), which is what the optimizer passes and schedulers work
//! with — they never hash keys on their hot paths. [`Deps`] is the compressed
//! adjacency (dependencies or dependents) over those ids.

use indexmap::IndexMap;
use indexmap::map::Entry;

use crate::error::{Error, Result};
use crate::key::Key;
use crate::task::{Arg, Task};

/// Up to this many arguments, a task's dependencies are de-duplicated by a
/// linear scan (cheaper than any set for the usual handful); wider tasks use
/// a marker array so fan-in stays linear.
const SCAN_DEPS: usize = 16;

/// A graph of tasks, keyed by the key of the value each produces.
#[derive(Clone, Default, Debug)]
pub struct TaskGraph {
    // foldhash: keys are hashed once per task and per reference when a graph
    // is built, culled and lowered; SipHash's DoS resistance buys nothing here.
    tasks: IndexMap<Key, Task, foldhash::fast::RandomState>,
}

/// Compressed adjacency lists over dense task ids: `of(i)` lists the ids
/// adjacent to task `i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deps {
    offsets: Vec<u32>,
    ids: Vec<u32>,
}

impl Deps {
    /// Builds from one list per task.
    pub fn from_lists<I: IntoIterator<Item = Vec<u32>>>(lists: I) -> Deps {
        let mut offsets = vec![0u32];
        let mut ids = Vec::new();
        for l in lists {
            ids.extend_from_slice(&l);
            offsets.push(ids.len() as u32);
        }
        Deps { offsets, ids }
    }

    /// The ids adjacent to task `i`.
    pub fn of(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.ids[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reverse adjacency: for dependencies, the dependents, and back.
    pub fn reverse(&self) -> Deps {
        let n = self.len();
        let mut counts = vec![0u32; n + 1];
        for &j in &self.ids {
            counts[j as usize + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let mut ids = vec![0u32; self.ids.len()];
        for i in 0..n as u32 {
            for &j in self.of(i) {
                ids[fill[j as usize] as usize] = i;
                fill[j as usize] += 1;
            }
        }
        Deps { offsets, ids }
    }

    /// Heap bytes used, for memory reports.
    pub fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.ids.capacity()) * 4
    }
}

/// Builds [`Deps`] one task at a time, each dependency listed once in
/// first-use order however many times the task reads it.
pub(crate) struct DepsBuilder {
    offsets: Vec<u32>,
    ids: Vec<u32>,
    /// For wide tasks: `seen[j] == i + 1` marks j as already a dependency of
    /// task i, so de-duplication stays O(1) per argument (a task reading
    /// 1,000,000 keys is linear, not quadratic). Allocated on the first wide
    /// task only.
    seen: Vec<u32>,
    n: usize,
}

impl DepsBuilder {
    /// A builder for a graph of `n` tasks (ids below `n`).
    pub(crate) fn new(n: usize) -> DepsBuilder {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        DepsBuilder {
            offsets,
            ids: Vec::with_capacity(n),
            seen: Vec::new(),
            n,
        }
    }

    /// Adds the next task's dependency ids (repeats allowed), of which there
    /// are at most `width`; stops at the first error.
    pub(crate) fn push_task<E>(
        &mut self,
        width: usize,
        ids: impl IntoIterator<Item = std::result::Result<u32, E>>,
    ) -> std::result::Result<(), E> {
        let task = self.offsets.len() as u32;
        let start = self.ids.len();
        if width > SCAN_DEPS {
            if self.seen.is_empty() {
                self.seen = vec![0; self.n];
            }
            for j in ids {
                let j = j?;
                let mark = &mut self.seen[j as usize];
                if *mark != task {
                    *mark = task;
                    self.ids.push(j);
                }
            }
        } else {
            for j in ids {
                let j = j?;
                if !self.ids[start..].contains(&j) {
                    self.ids.push(j);
                }
            }
        }
        self.offsets.push(self.ids.len() as u32);
        Ok(())
    }

    /// The lists built.
    pub(crate) fn finish(self) -> Deps {
        Deps {
            offsets: self.offsets,
            ids: self.ids,
        }
    }
}

impl TaskGraph {
    /// An empty graph.
    pub fn new() -> TaskGraph {
        TaskGraph::default()
    }

    /// An empty graph with room for `n` tasks.
    pub fn with_capacity(n: usize) -> TaskGraph {
        TaskGraph {
            tasks: IndexMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Adds a task, replacing (and returning) any task already under `key`.
    pub fn insert(&mut self, key: Key, task: Task) -> Option<Task> {
        self.tasks.insert(key, task)
    }

    /// Adds a task unless one is already under `key` (then keeps the old one:
    /// equal keys mean equal computations). Returns whether it was added.
    pub fn insert_new(&mut self, key: Key, task: Task) -> bool {
        match self.tasks.entry(key) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(task);
                true
            }
        }
    }

    /// Adds the task `make()` builds under `key` unless one is already there
    /// (`make` is then not called); one map lookup either way. Returns
    /// whether it was added.
    pub fn insert_new_with(&mut self, key: &Key, make: impl FnOnce() -> Task) -> bool {
        match self.tasks.entry(key.clone()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(make());
                true
            }
        }
    }

    /// Adds every task of `other` not already present.
    pub fn merge(&mut self, other: TaskGraph) {
        for (k, t) in other.tasks {
            self.insert_new(k, t);
        }
    }

    /// The task under `key`.
    pub fn get(&self, key: &Key) -> Option<&Task> {
        self.tasks.get(key)
    }

    /// Whether a task produces `key`.
    pub fn contains(&self, key: &Key) -> bool {
        self.tasks.contains_key(key)
    }

    /// The dense id of `key`.
    pub fn id_of(&self, key: &Key) -> Option<u32> {
        self.tasks.get_index_of(key).map(|i| i as u32)
    }

    /// The key and task with dense id `id`.
    pub fn by_id(&self, id: u32) -> (&Key, &Task) {
        self.tasks
            .get_index(id as usize)
            .expect("task id out of range")
    }

    /// The task with dense id `id`, to rewrite in place (optimizer passes).
    pub(crate) fn task_mut(&mut self, id: u32) -> &mut Task {
        self.tasks
            .get_index_mut(id as usize)
            .expect("task id out of range")
            .1
    }

    /// Keeps the tasks whose id `keep` accepts, in order; ids are
    /// renumbered densely. In place: no key is hashed again, so dropping a
    /// few tasks from a million costs a pass over the entries, not a
    /// rebuilt map.
    pub(crate) fn retain_ids(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut id = 0u32;
        self.tasks.retain(|_, _| {
            let k = keep(id);
            id += 1;
            k
        });
    }

    /// The key with dense id `id`.
    pub fn key(&self, id: u32) -> &Key {
        self.by_id(id).0
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Tasks in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Key, &Task)> + '_ {
        self.tasks.iter()
    }

    /// Keys in id order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Key> + '_ {
        self.tasks.keys()
    }

    /// Consumes the graph into its tasks, in id order.
    pub fn into_tasks(self) -> impl Iterator<Item = (Key, Task)> {
        self.tasks.into_iter()
    }

    /// The dependency ids of every task (each dependency once, in first-use
    /// order), or the first dangling reference.
    pub fn dependencies(&self) -> Result<Deps> {
        let mut deps = DepsBuilder::new(self.len());
        for (key, task) in &self.tasks {
            let ids = task.dependencies().map(|dep| {
                self.id_of(dep).ok_or_else(|| Error::MissingDependency {
                    key: key.clone(),
                    missing: dep.clone(),
                })
            });
            deps.push_task(task.args.len(), ids)?;
        }
        Ok(deps.finish())
    }

    /// Ids of `outputs`, or the first one missing.
    pub fn output_ids(&self, outputs: &[Key]) -> Result<Vec<u32>> {
        outputs
            .iter()
            .map(|k| {
                self.id_of(k)
                    .ok_or_else(|| Error::MissingOutput { key: k.clone() })
            })
            .collect()
    }

    /// A topological order (dependencies first), or the key of a task on a cycle.
    pub fn topological_order(&self, deps: &Deps) -> Result<Vec<u32>> {
        topological_order(deps).map_err(|id| Error::Cycle {
            key: self.key(id).clone(),
        })
    }

    /// Checks the graph can run and produce `outputs`: every referenced key
    /// exists, every output exists, and there is no cycle.
    pub fn validate(&self, outputs: &[Key]) -> Result<Deps> {
        let deps = self.dependencies()?;
        self.output_ids(outputs)?;
        self.topological_order(&deps)?;
        Ok(deps)
    }

    /// Rough heap bytes held by the graph's structure (not its literal
    /// values), for memory-per-task reports.
    pub fn structure_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<Key>() + std::mem::size_of::<Task>() + 16;
        self.tasks.capacity() * per_entry
            + self
                .tasks
                .iter()
                .map(|(k, t)| {
                    k.heap_bytes()
                        + t.args.capacity() * std::mem::size_of::<Arg>()
                        + t.dependencies().map(|d| d.index().len() * 4).sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// Kahn's algorithm; on a cycle returns the id of a task that lies on it.
pub fn topological_order(deps: &Deps) -> std::result::Result<Vec<u32>, u32> {
    let n = deps.len();
    let dependents = deps.reverse();
    let mut waiting: Vec<u32> = (0..n as u32).map(|i| deps.of(i).len() as u32).collect();
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|&i| waiting[i as usize] == 0)
        .collect();
    let mut head = 0;
    while head < order.len() {
        let i = order[head];
        head += 1;
        for &d in dependents.of(i) {
            waiting[d as usize] -= 1;
            if waiting[d as usize] == 0 {
                order.push(d);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every task left has an unfinished dependency; following those from any
    // of them must revisit a task, and the first revisited one is on a cycle.
    let mut seen = vec![false; n];
    let mut i = (0..n as u32)
        .find(|&i| waiting[i as usize] > 0)
        .expect("some task is left");
    loop {
        if seen[i as usize] {
            return Err(i);
        }
        seen[i as usize] = true;
        i = *deps
            .of(i)
            .iter()
            .find(|&&j| waiting[j as usize] > 0)
            .expect("a blocked task has a blocked dependency");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use std::sync::Arc;

    fn lit(x: i64) -> Task {
        Task::literal(Value::new(x))
    }

    /// Tasks `x0..x(n-1)` (not literals, so inlining keeps them apart) and
    /// a task `reader` reading `reads` of them in that order.
    fn reader_graph(n: u32, reads: &[u32]) -> TaskGraph {
        let make = crate::op::FnOp::arc("make", |a| Ok(a[0].clone()));
        let mut g = TaskGraph::new();
        for i in 0..n {
            let arg = Arg::Value(Value::new(i as i64));
            g.insert(
                Key::with_index("x", &[i]),
                Task::new(make.clone(), vec![arg]),
            );
        }
        let args = reads
            .iter()
            .map(|&i| Arg::Key(Key::with_index("x", &[i])))
            .collect();
        g.insert(
            Key::new("reader"),
            Task::new(Arc::new(crate::op::Identity), args),
        );
        g
    }

    /// The reader's dependency list as the oracle (each once, first use
    /// first) and the graph give it.
    fn wide_reader(n: u32, reads: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let mut once = std::collections::HashSet::new();
        let oracle: Vec<u32> = reads.iter().copied().filter(|&r| once.insert(r)).collect();
        let deps = reader_graph(n, reads).dependencies().unwrap();
        (oracle, deps.of(n).to_vec())
    }

    #[test]
    fn repeated_reads_are_listed_once_in_first_use_order() {
        // Below and above the width where de-duplication switches from a
        // scan to a marker array, and two wide tasks in one graph (the
        // marker of the first must not hide the second's dependencies).
        for width in [1usize, 5, SCAN_DEPS, SCAN_DEPS + 1, 300] {
            let reads: Vec<u32> = (0..width as u32).map(|i| (i * 7 + 3) % 41).collect();
            let (oracle, got) = wide_reader(41, &reads);
            assert_eq!(got, oracle, "width {width}");
        }
        let mut g = TaskGraph::new();
        for i in 0..40u32 {
            g.insert(Key::with_index("x", &[i]), lit(i as i64));
        }
        let wide = |from: u32| -> Task {
            let args = (0..2 * SCAN_DEPS as u32)
                .map(|i| Arg::Key(Key::with_index("x", &[from + i % 20])))
                .collect();
            Task::new(Arc::new(crate::op::Identity), args)
        };
        g.insert(Key::new("a"), wide(0));
        g.insert(Key::new("b"), wide(10));
        let deps = g.dependencies().unwrap();
        assert_eq!(deps.of(40), (0..20).collect::<Vec<u32>>().as_slice());
        assert_eq!(deps.of(41), (10..30).collect::<Vec<u32>>().as_slice());
    }

    #[test]
    fn fan_in_of_many_is_linear() {
        // One task reading 300,000 keys (each twice): listing its
        // dependencies and the optimizer's passes must be linear. Here,
        // unoptimized, that takes ~3 s; the quadratic de-duplication this
        // replaced needs ~10^10 comparisons at this size (minutes). The
        // bound leaves ~20x slack for a loaded machine: not a benchmark
        // (that is `cargo bench -- fan_in`), a guard against quadratic.
        let n = 300_000u32;
        let mut reads: Vec<u32> = (0..n).collect();
        reads.extend(0..n);
        let t0 = std::time::Instant::now();
        let (oracle, got) = wide_reader(n, &reads);
        assert_eq!(got.len(), n as usize);
        assert!(got == oracle);
        let g = reader_graph(n, &reads);
        let plan = crate::optimize::optimize(
            g,
            &[Key::new("reader")],
            crate::optimize::OptimizeOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.deps.of(plan.outputs[0]).len(), n as usize);
        let took = t0.elapsed();
        eprintln!("fan-in of {n}: {took:?}");
        assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    }

    #[test]
    fn missing_dependency_names_both_keys() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("a"), Task::alias(Key::new("ghost")));
        let e = g.validate(&[Key::new("a")]).unwrap_err().to_string();
        assert!(e.contains("'a'") && e.contains("'ghost'"), "{e}");
    }

    #[test]
    fn missing_output_is_named() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("a"), lit(1));
        let e = g.validate(&[Key::new("b")]).unwrap_err().to_string();
        assert!(e.contains("'b'"), "{e}");
    }

    #[test]
    fn cycle_names_a_key_on_it() {
        let mut g = TaskGraph::new();
        g.insert(Key::new("root"), lit(1));
        g.insert(Key::new("x"), Task::alias(Key::new("y")));
        g.insert(Key::new("y"), Task::alias(Key::new("z")));
        g.insert(Key::new("z"), Task::alias(Key::new("x")));
        g.insert(Key::new("tail"), Task::alias(Key::new("x")));
        let e = g.validate(&[]).unwrap_err();
        match e {
            Error::Cycle { key } => assert!(["x", "y", "z"].contains(&key.name()), "{key}"),
            other => panic!("expected a cycle, got {other}"),
        }
    }

    #[test]
    fn deps_reverse_round_trips() {
        let d = Deps::from_lists(vec![vec![], vec![0], vec![0, 1], vec![2]]);
        let r = d.reverse();
        assert_eq!(r.of(0), &[1, 2]);
        assert_eq!(r.of(2), &[3]);
        assert_eq!(r.reverse(), d);
        assert_eq!(topological_order(&d).unwrap(), vec![0, 1, 2, 3]);
    }
}
