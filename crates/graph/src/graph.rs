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
        let mut offsets = Vec::with_capacity(self.len() + 1);
        offsets.push(0u32);
        let mut ids = Vec::with_capacity(self.len());
        for (key, task) in &self.tasks {
            let start = ids.len();
            for dep in task.dependencies() {
                let Some(j) = self.tasks.get_index_of(dep) else {
                    return Err(Error::MissingDependency {
                        key: key.clone(),
                        missing: dep.clone(),
                    });
                };
                let j = j as u32;
                // Tasks rarely read more than a handful of keys: a linear scan
                // beats a set.
                if !ids[start..].contains(&j) {
                    ids.push(j);
                }
            }
            offsets.push(ids.len() as u32);
        }
        Ok(Deps { offsets, ids })
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

    fn lit(x: i64) -> Task {
        Task::literal(Value::new(x))
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
