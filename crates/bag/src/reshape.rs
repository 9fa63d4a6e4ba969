//! Changing the partitioning (`repartition`) and reading the head (`take`).

use std::sync::Arc;

use oxidask_graph::{Arg, FnOp, Key, MaterializedLayer, Task, TaskGraph, Tokenizer, Value};
use oxidask_scheduler::ComputeOptions;

use crate::bag::{Bag, Record, layer_name, part};
use crate::error::{Error, Result};

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
            let concat = FnOp::arc("repartition-concat", |args: Vec<Value>| {
                let mut out = Vec::new();
                for a in args {
                    out.extend(a.take::<Vec<T>>()?);
                }
                Ok(part(out))
            });
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
            let slice = FnOp::arc("repartition-split", |args: Vec<Value>| {
                let (Some(input), Some(which)) = (args.first(), args.get(1)) else {
                    return Err("repartition-split op called without its arguments".into());
                };
                let [r, k] = which.downcast_ref::<Vec<u32>>()?[..] else {
                    return Err("repartition-split op needs (piece, pieces)".into());
                };
                let v = input.downcast_ref::<Vec<T>>()?;
                let (r, k) = (r as usize, k as usize);
                Ok(part(v[r * v.len() / k..(r + 1) * v.len() / k].to_vec()))
            });
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

    /// The first `n` records, computed now. Only the partitions needed are
    /// computed: the first partition, then (if it had fewer than `n`
    /// records) the next one, then the next two, four, … — each round culls
    /// the graph to those partitions, and each partition is cut to the
    /// records still wanted before it is returned.
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        self.take_with(n, &ComputeOptions::default())
    }

    /// [`take`](Bag::take) with per-call compute options.
    pub fn take_with(&self, n: usize, options: &ComputeOptions) -> Result<Vec<T>> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let head = self.head_per_partition(n);
        let (mut next, mut batch) = (0u32, 1u32);
        while out.len() < n && next < self.npartitions {
            let end = next.saturating_add(batch).min(self.npartitions);
            let indices: Vec<u32> = (next..end).collect();
            for p in head.compute_partitions(&indices, options)? {
                let want = n - out.len();
                out.extend(p.into_iter().take(want));
            }
            next = end;
            batch = batch.saturating_mul(2);
        }
        Ok(out)
    }
}
