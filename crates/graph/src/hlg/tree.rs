//! The tree-reduction layer: groups of blocks merged level by level until
//! one block remains along every reduced axis.
//!
//! A reduction is three ops supplied by the collection as registered data
//! ops: a *chunk* op turning one input block into a partial result (a
//! [`BlockLayer`](super::BlockLayer) the collection adds first, since what
//! a chunk task reads differs per collection), a *combine* op merging a
//! group of partials into one, and a *finish* op merging the last group
//! and producing the answer. A [`TreeLayer`] holds the combine and finish
//! levels over the chunk layer's grid as one small object:
//!
//! 1. Level 0 is the input grid `numblocks` (the chunk layer's blocks).
//! 2. Level `l + 1` has `ceil(n / factor)` blocks along each reduced axis
//!    (`factor > 1`) and the same blocks along the others; its block `p`
//!    reads, in row-major order, the level-`l` blocks `p·factor ..
//!    (p+1)·factor` along reduced axes and `p` along the others.
//! 3. The last level is the first with one block along every reduced axis
//!    (there is always at least one level, so an input of one block still
//!    gets its finish task). Its tasks run the finish op; all others the
//!    combine op.
//!
//! Keys are deterministic: level `l` below the last is `(name-partial, l,
//! i, j, …)` over the full grid; the last level is `(name, i, j, …)`, the
//! reduced axes dropped unless `keepdims` (so a 1-d tree over all
//! partitions of a bag ends in the single key `(name)`, or `(name, 0)`
//! with `keepdims`). With `with_index`, each task's first argument is its
//! key's index as a literal `Vec<u32>` (an N-d finish may need to know its
//! block's shape).
//!
//! Culling keeps, level by level from the top, the groups the needed
//! blocks read; the layer then materializes only those.

use std::sync::Arc;

use super::block::{ravel, unravel};
use super::{CulledLayer, Layer};
use crate::error::{Error, Result};
use crate::graph::TaskGraph;
use crate::key::Key;
use crate::op::Op;
use crate::task::{Arg, Task};
use crate::value::Value;

/// How many blocks one task merges along each axis of `numblocks` when
/// reducing `axes` with at most about `split_every` blocks per task: the
/// `d`-th root of `split_every` (at least 2) along each of the `d` reduced
/// axes that have more than one block, 1 along the others. The `factor`
/// argument of [`TreeLayer::new`].
pub fn split_factors(numblocks: &[u32], axes: &[usize], split_every: usize) -> Vec<u32> {
    let multi = axes
        .iter()
        .filter(|&&a| numblocks.get(a).is_some_and(|&n| n > 1))
        .count()
        .max(1);
    let per_axis = ((split_every as f64).powf(1.0 / multi as f64).floor() as u32).max(2);
    (0..numblocks.len())
        .map(|a| if axes.contains(&a) { per_axis } else { 1 })
        .collect()
}

/// The combine and finish levels of a tree reduction over the blocks of
/// one layer; see the module docs.
#[derive(Clone)]
pub struct TreeLayer {
    name: Arc<str>,
    partial: Arc<str>,
    input: Arc<str>,
    /// Level grids over the full axes: `levels[0]` is the input's,
    /// the last one the output's.
    levels: Arc<[Vec<u32>]>,
    factor: Arc<[u32]>,
    keepdims: bool,
    with_index: bool,
    combine: Arc<dyn Op>,
    finish: Arc<dyn Op>,
    /// Kept flat positions of levels `1..`, each sorted; `None` for all.
    kept: Option<Arc<[Vec<u64>]>>,
}

impl TreeLayer {
    /// The tree named `name` over the blocks of layer `input` (a grid of
    /// `numblocks`), merging `factor[a]` blocks per task along each axis
    /// `a` with `factor[a] > 1` (the reduced axes; see [`split_factors`]).
    /// Fails when `factor` does not have one entry per axis (a bug in the
    /// calling collection).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<Arc<str>>,
        input: impl Into<Arc<str>>,
        numblocks: Vec<u32>,
        factor: Vec<u32>,
        keepdims: bool,
        with_index: bool,
        combine: Arc<dyn Op>,
        finish: Arc<dyn Op>,
    ) -> Result<TreeLayer> {
        let name: Arc<str> = name.into();
        if factor.len() != numblocks.len() {
            return Err(Error::Internal(format!(
                "tree reduction {name}: {} split factors for a grid of {} axes",
                factor.len(),
                numblocks.len()
            )));
        }
        let mut levels = vec![numblocks];
        loop {
            let prev = &levels[levels.len() - 1];
            let next: Vec<u32> = prev
                .iter()
                .zip(&factor)
                .map(|(&n, &f)| if f > 1 { n.div_ceil(f).max(1) } else { n })
                .collect();
            let done = next.iter().zip(&factor).all(|(&n, &f)| f <= 1 || n <= 1);
            levels.push(next);
            if done {
                break;
            }
        }
        Ok(TreeLayer {
            partial: format!("{name}-partial").into(),
            name,
            input: input.into(),
            levels: levels.into(),
            factor: factor.into(),
            keepdims,
            with_index,
            combine,
            finish,
            kept: None,
        })
    }

    /// Number of combine and finish levels (at least 1).
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// Blocks along each axis of the output, reduced axes dropped unless
    /// `keepdims`.
    pub fn out_numblocks(&self) -> Vec<u32> {
        self.out_index(&self.levels[self.depth()])
    }

    fn reduced(&self, axis: usize) -> bool {
        self.factor[axis] > 1
    }

    /// The key index of the last level for a full index.
    fn out_index(&self, full: &[u32]) -> Vec<u32> {
        if self.keepdims {
            return full.to_vec();
        }
        (0..full.len())
            .filter(|&a| !self.reduced(a))
            .map(|a| full[a])
            .collect()
    }

    /// The key of block `full` at level `l ≥ 0`.
    fn key(&self, l: usize, full: &[u32]) -> Key {
        if l == 0 {
            Key::with_index(self.input.clone(), full)
        } else if l == self.depth() {
            Key::with_index(self.name.clone(), &self.out_index(full))
        } else {
            let mut index = Vec::with_capacity(full.len() + 1);
            index.push(l as u32);
            index.extend_from_slice(full);
            Key::with_index(self.partial.clone(), &index)
        }
    }

    /// The level and flat position a key of this layer names (not checking
    /// culling).
    fn locate(&self, key: &Key) -> Option<(usize, u64)> {
        let ndim = self.factor.len();
        let (l, full): (usize, Vec<u32>) = if key.name() == &*self.name {
            let idx = key.index();
            let full = if self.keepdims {
                idx.to_vec()
            } else {
                let mut it = idx.iter();
                let full: Vec<u32> = (0..ndim)
                    .map(|a| {
                        if self.reduced(a) {
                            Some(0)
                        } else {
                            it.next().copied()
                        }
                    })
                    .collect::<Option<_>>()?;
                if it.next().is_some() {
                    return None;
                }
                full
            };
            (self.depth(), full)
        } else if key.name() == &*self.partial {
            let (&l, full) = key.index().split_first()?;
            let l = l as usize;
            if l == 0 || l >= self.depth() {
                return None;
            }
            (l, full.to_vec())
        } else {
            return None;
        };
        let grid = &self.levels[l];
        if full.len() != grid.len() || full.iter().zip(grid).any(|(i, n)| i >= n) {
            return None;
        }
        Some((l, ravel(&full, grid)))
    }

    /// The level-`(l-1)` blocks that block `full` of level `l` reads, in
    /// row-major order.
    fn group(&self, l: usize, full: &[u32]) -> Vec<Vec<u32>> {
        let prev = &self.levels[l - 1];
        let ranges: Vec<(u32, u32)> = (0..full.len())
            .map(|a| {
                if self.reduced(a) {
                    let lo = full[a] * self.factor[a];
                    (lo, (lo + self.factor[a]).min(prev[a]).max(lo))
                } else {
                    (full[a], full[a] + 1)
                }
            })
            .collect();
        let counts: Vec<u32> = ranges.iter().map(|(lo, hi)| hi - lo).collect();
        let n: u64 = counts.iter().map(|&c| c as u64).product();
        (0..n)
            .map(|f| {
                unravel(f, &counts)
                    .iter()
                    .zip(&ranges)
                    .map(|(&i, (lo, _))| lo + i)
                    .collect()
            })
            .collect()
    }

    fn task(&self, l: usize, full: &[u32]) -> Task {
        let group = self.group(l, full);
        let mut args = Vec::with_capacity(group.len() + self.with_index as usize);
        if self.with_index {
            let index = if l == self.depth() {
                self.out_index(full)
            } else {
                full.to_vec()
            };
            args.push(Arg::Value(Value::new(index)));
        }
        args.extend(group.iter().map(|g| Arg::Key(self.key(l - 1, g))));
        let op = if l == self.depth() {
            &self.finish
        } else {
            &self.combine
        };
        Task::new(op.clone(), args)
    }

    fn total(&self, l: usize) -> u64 {
        self.levels[l].iter().map(|&n| n as u64).product()
    }

    /// The kept flat positions of level `l ≥ 1`, ascending.
    fn positions(&self, l: usize) -> Box<dyn Iterator<Item = u64> + '_> {
        match &self.kept {
            None => Box::new(0..self.total(l)),
            Some(k) => Box::new(k[l - 1].iter().copied()),
        }
    }
}

impl std::fmt::Debug for TreeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeLayer")
            .field("name", &self.name)
            .field("input", &self.input)
            .field("levels", &self.levels)
            .field("factor", &self.factor)
            .field("combine", &self.combine.name())
            .field("finish", &self.finish.name())
            .field("tasks", &self.len())
            .finish()
    }
}

impl Layer for TreeLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        "reduction"
    }

    fn len(&self) -> usize {
        (1..=self.depth())
            .map(|l| match &self.kept {
                None => self.total(l) as usize,
                Some(k) => k[l - 1].len(),
            })
            .sum()
    }

    fn output_keys(&self) -> Vec<Key> {
        (1..=self.depth())
            .flat_map(|l| {
                self.positions(l)
                    .map(move |f| self.key(l, &unravel(f, &self.levels[l])))
            })
            .collect()
    }

    fn contains(&self, key: &Key) -> bool {
        match (self.locate(key), &self.kept) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((l, f)), Some(k)) => k[l - 1].binary_search(&f).is_ok(),
        }
    }

    fn output_names(&self) -> Vec<Arc<str>> {
        vec![self.name.clone(), self.partial.clone()]
    }

    fn dependencies(&self) -> Vec<Arc<str>> {
        vec![self.input.clone()]
    }

    fn cull(&self, needed: &[Key]) -> Result<CulledLayer> {
        let depth = self.depth();
        let mut kept: Vec<Vec<u64>> = vec![Vec::new(); depth];
        for k in needed {
            match self.locate(k) {
                Some((l, f)) if self.contains(k) => kept[l - 1].push(f),
                _ => return Err(Error::MissingOutput { key: k.clone() }),
            }
        }
        let mut external = Vec::new();
        for l in (1..=depth).rev() {
            kept[l - 1].sort_unstable();
            kept[l - 1].dedup();
            let mut below = Vec::new();
            for &f in &kept[l - 1] {
                for g in self.group(l, &unravel(f, &self.levels[l])) {
                    if l == 1 {
                        external.push(self.key(0, &g));
                    } else {
                        below.push(ravel(&g, &self.levels[l - 1]));
                    }
                }
            }
            if l > 1 {
                kept[l - 2].extend(below);
            }
        }
        let all = (1..=depth).all(|l| kept[l - 1].len() as u64 == self.total(l));
        Ok(CulledLayer {
            layer: Arc::new(TreeLayer {
                kept: (!all).then(|| kept.into()),
                ..self.clone()
            }),
            external,
        })
    }

    fn materialize(&self, into: &mut TaskGraph) -> Result<()> {
        for l in 1..=self.depth() {
            for f in self.positions(l) {
                let full = unravel(f, &self.levels[l]);
                into.insert_new(self.key(l, &full), self.task(l, &full));
            }
        }
        Ok(())
    }
}
