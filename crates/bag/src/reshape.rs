//! Changing the partitioning (`repartition`) and reading the head (`take`).

use std::sync::Arc;

use oxidask_graph::{
    Arg, Key, MaterializedLayer, Op, OpDecoder, OpError, Task, TaskGraph, Tokenizer, Value,
};
use oxidask_scheduler::ComputeOptions;
use serde::{Deserialize, Serialize};

use crate::bag::{Bag, Record, layer_name, part};
use crate::error::{Error, Result};
use crate::records;

/// What a repartition task makes of its inputs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Piece {
    /// Concatenates whole partitions.
    Concat,
    /// Cuts piece `r` of `k` out of one partition (`[r, k]` its second
    /// argument).
    Slice,
    /// Makes a computed `Vec<T>` (a delayed result) a stored partition,
    /// with the partition codec (`from_delayed`).
    Adopt,
}

/// A repartition task over stored partitions of one record type: data
/// (the type's name and the piece), rebuilt from the record registry.
pub(crate) struct Repartition {
    piece: Piece,
    /// The record type's name.
    record: &'static str,
    run: fn(Vec<Value>) -> std::result::Result<Value, OpError>,
}

impl Repartition {
    const NAME: &'static str = "oxidask.bag.repartition";

    pub(crate) fn arc<T: Record>(piece: Piece) -> Arc<dyn Op> {
        Arc::new(Repartition {
            piece,
            record: std::any::type_name::<T>(),
            run: match piece {
                Piece::Concat | Piece::Adopt => concat::<T>,
                Piece::Slice => slice::<T>,
            },
        })
    }
}

impl Op for Repartition {
    fn name(&self) -> &str {
        Repartition::NAME
    }

    fn label(&self) -> &str {
        match self.piece {
            Piece::Concat => "repartition-concat",
            Piece::Slice => "repartition-split",
            Piece::Adopt => "from-delayed",
        }
    }

    fn call(&self, args: Vec<Value>) -> std::result::Result<Value, OpError> {
        (self.run)(args)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(&(self.piece, self.record)).ok()
    }
}

fn decode_repartition(bytes: &[u8]) -> std::result::Result<Arc<dyn Op>, String> {
    let (piece, record): (Piece, String) =
        postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let entry = records::lookup(&record)?;
    let run = match piece {
        Piece::Concat | Piece::Adopt => entry.concat,
        Piece::Slice => entry.slice,
    };
    Ok(Arc::new(Repartition {
        piece,
        record: (entry.name)(),
        run,
    }))
}

oxidask_graph::inventory::submit! {
    OpDecoder { name: Repartition::NAME, decode: decode_repartition }
}

/// Concatenates stored partitions.
pub(crate) fn concat<T: Record>(args: Vec<Value>) -> std::result::Result<Value, OpError> {
    let mut out = Vec::new();
    for a in args {
        out.extend(a.take::<Vec<T>>()?);
    }
    Ok(part(out))
}

/// Piece `r` of `k` of a stored partition: records `[r*len/k, (r+1)*len/k)`
/// (only its slice is cloned: the input is shared by its pieces).
pub(crate) fn slice<T: Record>(args: Vec<Value>) -> std::result::Result<Value, OpError> {
    let (Some(input), Some(which)) = (args.first(), args.get(1)) else {
        return Err("repartition-split op called without its arguments".into());
    };
    let [r, k] = which.downcast_ref::<Vec<u32>>()?[..] else {
        return Err("repartition-split op needs (piece, pieces)".into());
    };
    let v = input.downcast_ref::<Vec<T>>()?;
    let (r, k) = (r as usize, k as usize);
    if r >= k {
        return Err(format!("repartition-split piece {r} of {k}").into());
    }
    Ok(part(v[r * v.len() / k..(r + 1) * v.len() / k].to_vec()))
}

impl<T: Record> Bag<T> {
    /// The same records in `n` partitions, in the same order, like Dask's
    /// `repartition(npartitions=n)`. Fewer partitions concatenate runs of
    /// neighbours (as evenly as the count allows); more partitions split
    /// each partition into near-equal pieces, the first partitions getting
    /// one piece more when `n` is not a multiple. Fails if `n` is 0.
    pub fn repartition(&self, n: usize) -> Result<Bag<T>> {
        if n == 0 {
            return Err(Error::InvalidArgument(
                "repartition needs at least one partition".into(),
            ));
        }
        let (m, n) = (self.npartitions as usize, n);
        if n == m {
            return Ok(self.clone());
        }
        let stored = self.persist_layer();
        let mut t = Tokenizer::new();
        t.add(&(n as u64));
        let name = layer_name("repartition", &stored.chain, t);
        let input = |i: usize| Arg::Key(Key::with_index(stored.chain.clone(), &[i as u32]));
        let mut g = TaskGraph::with_capacity(n);
        if n < m {
            let concat = Repartition::arc::<T>(Piece::Concat);
            for j in 0..n {
                let (a, b) = (j * m / n, (j + 1) * m / n);
                g.insert(
                    Key::with_index(name.clone(), &[j as u32]),
                    Task::new(concat.clone(), (a..b).map(input).collect()),
                );
            }
        } else {
            // Input i is cut into pieces[i] slices; piece r of k takes
            // records [r*len/k, (r+1)*len/k). Each piece task clones only its
            // slice (the input is shared by its pieces).
            let slice = Repartition::arc::<T>(Piece::Slice);
            let (base, extra) = (n / m, n % m);
            let mut j = 0u32;
            for i in 0..m {
                let k = base + usize::from(i < extra);
                for r in 0..k {
                    g.insert(
                        Key::with_index(name.clone(), &[j]),
                        Task::new(
                            slice.clone(),
                            vec![input(i), Arg::Value(Value::new(vec![r as u32, k as u32]))],
                        ),
                    );
                    j += 1;
                }
            }
        }
        let graph = stored
            .graph
            .clone()
            .with_layer(Arc::new(MaterializedLayer::new(name.clone(), g)));
        Ok(Bag::stored_in(graph, name, n as u32, None))
    }

    /// The first `n` records of the first partition, computed now — Dask's
    /// `take(n)` (`npartitions=1`): only that partition runs. When it holds
    /// fewer than `n` records, that many are returned and a warning is
    /// logged (`tracing`), as Dask warns; look further with
    /// [`take_in`](Bag::take_in).
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        self.take_in_with(n, TakeFrom::First(1), &ComputeOptions::default())
    }

    /// [`take`](Bag::take) with per-call compute options.
    pub fn take_with(&self, n: usize, options: &ComputeOptions) -> Result<Vec<T>> {
        self.take_in_with(n, TakeFrom::First(1), options)
    }

    /// The first `n` records found in the partitions `from` names (Dask's
    /// `take(n, npartitions=p)`; [`TakeFrom::All`] is its `npartitions=-1`).
    /// Only the partitions needed run: the first, then (if it had fewer
    /// than `n` records) the next one, then the next two, four, … within
    /// the allowed ones; each partition is cut to the records still wanted
    /// before it is returned.
    pub fn take_in(&self, n: usize, from: TakeFrom) -> Result<Vec<T>> {
        self.take_in_with(n, from, &ComputeOptions::default())
    }

    /// [`take_in`](Bag::take_in) with per-call compute options.
    pub fn take_in_with(
        &self,
        n: usize,
        from: TakeFrom,
        options: &ComputeOptions,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let allowed = match from {
            TakeFrom::All => self.npartitions,
            TakeFrom::First(p) => (p.min(u32::MAX as usize) as u32).min(self.npartitions),
        };
        let head = self.head_per_partition(n);
        let (mut next, mut batch) = (0u32, 1u32);
        while out.len() < n && next < allowed {
            let end = next.saturating_add(batch).min(allowed);
            let indices: Vec<u32> = (next..end).collect();
            for p in head.compute_partitions(&indices, options)? {
                let want = n - out.len();
                out.extend(p.into_iter().take(want));
            }
            next = end;
            batch = batch.saturating_mul(2);
        }
        if out.len() < n && allowed < self.npartitions {
            tracing::warn!(
                "take({n}): only {} records in the first {allowed} of {} partitions; \
                 use take_in({n}, TakeFrom::First(p)) or TakeFrom::All to look further",
                out.len(),
                self.npartitions
            );
        }
        Ok(out)
    }
}

/// Which partitions [`Bag::take_in`] looks in (Dask's `npartitions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeFrom {
    /// The first this many partitions (Dask's default is 1).
    First(usize),
    /// Every partition, in order, until enough records are found (Dask's
    /// `npartitions=-1`).
    All,
}
