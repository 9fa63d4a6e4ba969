//! Frames of one CSV source computed together share its reads (Dask's
//! "combine similar").
//!
//! `compute(&(trips.select([col("fare")]), trips.filter(..).group_by(..)))`
//! — or a join of a frame with another frame of the same files — has two
//! tasks per block, each reading the block for its own columns, with
//! different keys (different steps), so the graph cannot share them.
//! [`share_reads`] runs on the task graph before it is computed and
//! rewrites it: the tasks reading the same block of the same source (same
//! files, blocks, schema and options — its token) become
//!
//! 1. one read of the block, `(read-csv-shared-…, i)`, parsing the union of
//!    the columns they read;
//! 2. at each task's key, its steps over that read, after selecting the
//!    columns it would have read itself — so each gives exactly what it
//!    gave alone.
//!
//! A frame computed alone keeps its single task per block (its read fused
//! with its steps): nothing is rewritten and nothing costs more. A later
//! collect of a third frame of the source widens the existing shared
//! read. Parquet sources are not shared: each task prunes row groups by
//! its own filters.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use oxidask_graph::{Arg, HighLevelGraph, Key, Task, TaskGraph, Value};
use oxidask_scheduler::ComputeOptions;
use polars::prelude as pl;

use crate::csv::CsvSource;
use crate::error::{Error, Result};
use crate::plan::{PartitionOp, Source, Step, needed_columns};

/// The frame op of a task reading a CSV block, with its source.
fn csv_read(task: &Task) -> Option<(&PartitionOp, &Arc<CsvSource>)> {
    let op = task.op.as_any()?.downcast_ref::<PartitionOp>()?;
    match &op.source {
        Source::Csv(src) => Some((op, src)),
        _ => None,
    }
}

/// The block a CSV read task reads (its only argument).
fn block_of(key: &Key, task: &Task) -> std::result::Result<u32, String> {
    match task.args.last() {
        Some(Arg::Value(v)) => v.downcast_ref::<u32>().copied().map_err(|e| e.to_string()),
        _ => Err(format!("task {key}: a CSV read without its block number")),
    }
}

/// `Select` of these columns, in order.
fn select(names: &[String]) -> Step {
    Step::Select(names.iter().map(|n| pl::col(n.as_str())).collect())
}

/// Rewrites `graph` so tasks reading the same CSV block read it once (see
/// the module docs).
pub(crate) fn share_reads(graph: &mut TaskGraph) -> std::result::Result<(), String> {
    let mut found: HashMap<(Arc<str>, u32), Vec<Key>> = HashMap::new();
    for (key, task) in graph.iter() {
        if let Some((_, src)) = csv_read(task) {
            let block = block_of(key, task)?;
            found
                .entry((src.token(), block))
                .or_default()
                .push(key.clone());
        }
    }
    for ((token, block), keys) in found {
        if keys.len() < 2 {
            continue;
        }
        let shared = Key::with_index(Arc::from(format!("read-csv-shared-{token}")), &[block]);
        let mut union: Option<BTreeSet<String>> = Some(BTreeSet::new());
        let mut src = None;
        for k in &keys {
            let task = graph.get(k).ok_or("internal: a task vanished")?;
            let (op, s) = csv_read(task).ok_or("internal: not a CSV read")?;
            union = match (union, needed_columns(&op.steps)) {
                (Some(mut u), Some(c)) => {
                    u.extend(c);
                    Some(u)
                }
                _ => None,
            };
            src.get_or_insert_with(|| s.clone());
        }
        let src = src.ok_or("internal: no source")?;
        let index = || Arg::Value(Value::new(block));
        for k in keys.iter().filter(|k| **k != shared) {
            let task = graph.get(k).ok_or("internal: a task vanished")?;
            let (op, _) = csv_read(task).ok_or("internal: not a CSV read")?;
            let mut steps = Vec::with_capacity(op.steps.len() + 1);
            if let Some(names) = src.read_names(needed_columns(&op.steps).as_ref()) {
                steps.push(select(&names));
            }
            steps.extend(op.steps.iter().cloned());
            let op = PartitionOp::new(Source::Stored, steps);
            graph.insert(
                k.clone(),
                Task::new(Arc::new(op), vec![Arg::Key(shared.clone()), index()]),
            );
        }
        let read_steps = match src.read_names(union.as_ref()) {
            Some(names) => vec![select(&names)],
            None => Vec::new(),
        };
        let read = PartitionOp::new(Source::Csv(src), read_steps);
        graph.insert(shared, Task::new(Arc::new(read), vec![index()]));
    }
    Ok(())
}

/// Computes `keys` of a frame graph with its reads shared; what every
/// frame computation goes through.
pub(crate) fn compute_layers(
    graph: &HighLevelGraph,
    keys: &[Key],
    options: &ComputeOptions,
) -> Result<Vec<Value>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = graph.cull(keys)?.to_task_graph()?;
    share_reads(&mut tasks).map_err(|e| Error::Compute(oxidask_scheduler::Error::Internal(e)))?;
    Ok(oxidask_scheduler::compute_with(tasks, keys, options)?)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use oxidask_graph::TaskGraph;
    use oxidask_scheduler::Computable;
    use oxidask_testing::TempDir;
    use polars::prelude::*;
    use polars_io::SerReader;
    use polars_io::csv::read::CsvReadOptions;

    use super::csv_read;
    use crate as dd;
    use crate::tests::canon;

    /// A CSV of `n` rows in `blocks`-ish blocks: id, value (some negative,
    /// some null), name.
    fn file(dir: &TempDir, n: i64) -> std::path::PathBuf {
        let mut s = String::from("id,value,name\n");
        for i in 0..n {
            let v = if i % 7 == 0 {
                String::new()
            } else {
                format!("{}", (i % 11) - 4)
            };
            s.push_str(&format!("{i},{v},n{}\n", i % 5));
        }
        let p = dir.path().join("t.csv");
        std::fs::write(&p, s).unwrap();
        p
    }

    fn opts() -> dd::CsvOptions {
        dd::CsvOptions::default()
            .blocksize(Some(400))
            .dtype("value", DataType::Float64)
    }

    /// The tasks of `frames` collected into one graph, and how many of
    /// them read a CSV block.
    fn collected(frames: &[&dd::DataFrame]) -> (TaskGraph, usize) {
        let mut graph = TaskGraph::new();
        let mut keys = Vec::new();
        for f in frames {
            f.collect(&mut graph, &mut keys).unwrap();
        }
        let reads = graph.iter().filter(|(_, t)| csv_read(t).is_some()).count();
        (graph, reads)
    }

    /// Frames of the same files (from separate `read_csv` calls) computed
    /// together read each block once, and each gives what it gives alone;
    /// a third collected later widens the shared read.
    #[test]
    fn frames_of_one_source_computed_together_read_each_block_once() {
        let dir = TempDir::new("df-share");
        let p = file(&dir, 400);
        let ids = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .select([col("id")])
            .unwrap();
        let positive = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .filter(col("value").gt(lit(0.0)))
            .unwrap()
            .select([col("name"), (col("value") * lit(2.0)).alias("v2")])
            .unwrap();
        let names = dd::read_csv(p.as_path(), opts())
            .unwrap()
            .group_by(["name"])
            .agg([len()])
            .unwrap();
        let n = ids.npartitions();
        assert!(n >= 8, "{n} blocks");
        assert_eq!(collected(&[&ids]).1, n);
        assert_eq!(collected(&[&ids, &positive]).1, n);
        assert_eq!(collected(&[&ids, &positive, &names]).1, n);

        let alone = (
            ids.compute().unwrap(),
            positive.compute().unwrap(),
            names.compute().unwrap(),
        );
        let together = oxidask_delayed::compute(&(&ids, &positive, &names)).unwrap();
        assert_eq!(canon(&together.0), canon(&alone.0));
        assert_eq!(canon(&together.1), canon(&alone.1));
        assert_eq!(canon(&together.2), canon(&alone.2));
        assert_eq!(together.0.height(), 400);
        assert_eq!(together.0.width(), 1);
        // The rewritten graph is data: it runs through bytes.
        let through = oxidask_testing::values_through_bytes(|| {
            oxidask_delayed::compute(&(&ids, &positive)).unwrap()
        });
        assert_eq!(canon(&through.1), canon(&alone.1));
    }

    /// A frame joined with a filtered view of itself reads each block once
    /// and equals polars' join of the whole file with itself.
    #[test]
    fn a_self_join_shares_its_reads() {
        let dir = TempDir::new("df-share-join");
        let p = file(&dir, 300);
        let df = dd::read_csv(p.as_path(), opts()).unwrap();
        let small = df
            .filter(col("value").gt(lit(2.0)))
            .unwrap()
            .select([col("id"), col("value").alias("big")])
            .unwrap();
        let joined = df.join(&small, ["id"], ["id"], JoinType::Inner).unwrap();
        let whole = CsvReadOptions::default()
            .with_schema_overwrite(Some(Arc::new(Schema::from_iter([Field::new(
                "value".into(),
                DataType::Float64,
            )]))))
            .into_reader_with_file_handle(Cursor::new(std::fs::read(&p).unwrap()))
            .finish()
            .unwrap();
        let theirs = whole
            .clone()
            .lazy()
            .join(
                whole
                    .lazy()
                    .filter(col("value").gt(lit(2.0)))
                    .select([col("id"), col("value").alias("big")]),
                [col("id")],
                [col("id")],
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
            .unwrap();
        let by_id = |df: DataFrame| df.sort(["id"], Default::default()).unwrap();
        let ours = by_id(joined.compute().unwrap());
        assert_eq!(canon(&ours), canon(&by_id(theirs)));
        assert!(ours.height() > 0);
    }
}
