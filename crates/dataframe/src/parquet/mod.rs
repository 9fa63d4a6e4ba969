//! `read_parquet`: Parquet files (a glob, a list, or a directory) as a
//! frame of one partition per row group, the schema from the files'
//! metadata.
//!
//! Building the frame reads only every file's footer (schema and row
//! groups); each task reads its own row group, and only the columns its
//! steps need (projection pushdown, as for CSV). A task also checks the
//! frame's leading filters against the row group's min/max statistics
//! first and skips a row group that cannot hold a matching row without
//! reading its data (predicate pushdown; see [`prune`]).

mod prune;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxidask_graph::OpError;
use polars::prelude::{self as pl, SchemaExt, SchemaRef};
use polars_io::SerReader;
use polars_io::parquet::read::{FileMetadata, ParallelStrategy, ParquetReader};
use serde::{Deserialize, Serialize};

use crate::csv::{IntoPaths, natural_key};
use crate::error::{Error, Result};
use crate::frame::DataFrame;
use crate::plan::{Source, Step};

/// One partition: a row group of a file (`rows` rows from row `offset`),
/// or, for files without any row group, file 0 read as empty.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Piece {
    file: u32,
    row_group: u32,
    offset: u64,
    rows: u64,
}

/// The files of a Parquet frame and their row groups.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ParquetSource {
    files: Vec<PathBuf>,
    pieces: Vec<Piece>,
    schema: SchemaRef,
    /// The source's identity, made when first asked for (see
    /// `crate::share`).
    #[serde(skip)]
    token: std::sync::OnceLock<Arc<str>>,
}

/// The files under `paths`: a directory stands for the `*.parquet` files
/// in it, in natural order (`part.2` before `part.10`, as written by
/// [`DataFrame::to_parquet`]).
fn parquet_files(paths: impl IntoPaths) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths.into_paths()? {
        if !p.is_dir() {
            out.push(p);
            continue;
        }
        let entries = std::fs::read_dir(&p).map_err(|e| Error::io(&p, e))?;
        let mut inside = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&p, e))?.path();
            if path.extension().is_some_and(|e| e == "parquet") {
                inside.push(path);
            }
        }
        if inside.is_empty() {
            return Err(Error::NoFiles {
                pattern: format!("{}/*.parquet", p.display()),
            });
        }
        inside.sort_by_key(|p| natural_key(p));
        out.extend(inside);
    }
    Ok(out)
}

fn open(path: &Path) -> std::result::Result<ParquetReader<File>, std::io::Error> {
    Ok(ParquetReader::new(File::open(path)?))
}

/// A file's footer, or an error naming the file (not Parquet, unreadable).
fn metadata_of(path: &Path) -> Result<(Arc<FileMetadata>, SchemaRef)> {
    let mut reader = open(path).map_err(|e| Error::io(path, e))?;
    let not_parquet = |e: pl::PolarsError| Error::Plan {
        op: "read_parquet",
        message: format!("{}: not a readable Parquet file: {e}", path.display()),
        columns: Vec::new(),
    };
    let meta = reader.get_metadata().map_err(not_parquet)?.clone();
    let arrow = reader.schema().map_err(not_parquet)?;
    Ok((meta, Arc::new(pl::Schema::from_arrow_schema(&arrow))))
}

/// Reads Parquet files as a frame of one partition per row group, like
/// `dask.dataframe.read_parquet` with `split_row_groups=True`.
///
/// `paths` is a glob pattern, a path, a directory (its `*.parquet`
/// files, in natural order) or a list of them. Every file must have the
/// first one's schema. Only the footers are read here; each partition
/// reads just the columns its steps use, and skips its row group when the
/// row group's statistics show that a leading `filter` keeps no row.
///
/// ```
/// # let dir = oxidask_testing::TempDir::new("doc-read-parquet");
/// use oxidask_dataframe as dd;
/// use polars::prelude::*;
/// let df = df!("x" => [1i64, 2, 3, 4], "y" => ["a", "b", "c", "d"])?;
/// dd::from_polars(df.clone(), 2)?.to_parquet(dir.path())?;
/// let back = dd::read_parquet(dir.path())?;
/// assert_eq!(back.npartitions(), 2);
/// assert!(back.compute()?.equals(&df));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_parquet(paths: impl IntoPaths) -> Result<DataFrame> {
    let files = parquet_files(paths)?;
    let mut schema: Option<(SchemaRef, PathBuf)> = None;
    let mut pieces = Vec::new();
    for (fi, path) in files.iter().enumerate() {
        let (meta, file_schema) = metadata_of(path)?;
        match &schema {
            None => schema = Some((file_schema, path.clone())),
            Some((first, first_path)) if **first != *file_schema => {
                return Err(Error::HeaderMismatch {
                    first: first_path.clone(),
                    second: path.clone(),
                    detail: format!(
                        "columns {:?} vs {:?}",
                        describe(first),
                        describe(&file_schema)
                    ),
                });
            }
            Some(_) => {}
        }
        let mut offset = 0u64;
        for (rg, md) in meta.row_groups.iter().enumerate() {
            let rows = md.num_rows() as u64;
            pieces.push(Piece {
                file: fi as u32,
                row_group: rg as u32,
                offset,
                rows,
            });
            offset += rows;
        }
    }
    let (schema, _) = schema.expect("parquet_files gives at least one file");
    if pieces.is_empty() {
        // No row group anywhere: one empty partition keeps the schema.
        pieces.push(Piece {
            file: 0,
            row_group: 0,
            offset: 0,
            rows: 0,
        });
    }
    let n = pieces.len() as u32;
    let source = ParquetSource {
        files,
        pieces,
        schema: schema.clone(),
        token: std::sync::OnceLock::new(),
    };
    Ok(DataFrame::from_source(
        Source::Parquet(Arc::new(source)),
        n,
        schema,
    ))
}

fn describe(schema: &pl::Schema) -> Vec<String> {
    schema.iter().map(|(n, t)| format!("{n}: {t}")).collect()
}

impl ParquetSource {
    /// Partition `i`: its row group's `columns` (all when `None`), or an
    /// empty frame of those columns when `steps`' leading filters rule the
    /// row group out by its statistics.
    /// Equal for sources reading the same files, row groups and schema.
    pub(crate) fn token(&self) -> Arc<str> {
        self.token
            .get_or_init(|| Arc::from(crate::frame::token_of("read-parquet", self)))
            .clone()
    }

    /// The files' columns.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Row group `i`, reading only `columns` (all when `None`); skipped
    /// (no rows) when the leading filters of every one of `prune` rule it
    /// out by its statistics — one list for a frame's own read, one per
    /// frame for a read they share.
    pub(crate) fn read_piece(
        &self,
        i: u32,
        columns: Option<&BTreeSet<String>>,
        prune: &[&[Step]],
    ) -> std::result::Result<pl::DataFrame, OpError> {
        let piece = self
            .pieces
            .get(i as usize)
            .ok_or_else(|| format!("read_parquet: no partition {i}"))?;
        let path = &self.files[piece.file as usize];
        let at = |e: &dyn std::fmt::Display| {
            format!("{}: row group {}: {e}", path.display(), piece.row_group)
        };
        let names = crate::plan::read_names(&self.schema, columns);
        let mut reader = open(path).map_err(|e| at(&e))?;
        let meta = reader.get_metadata().map_err(|e| at(&e))?.clone();
        let rg = piece.row_group as usize;
        let mut rows = piece.rows as usize;
        if rows > 0 {
            if meta.row_groups.len() <= rg || meta.row_groups[rg].num_rows() != rows {
                return Err(at(&"the file changed since the frame was built").into());
            }
            let mut ruled_out = !prune.is_empty();
            for steps in prune {
                if !prune::rules_out(steps, &meta, rg).map_err(|e| at(&e))? {
                    ruled_out = false;
                    break;
                }
            }
            if ruled_out {
                rows = 0;
            }
        }
        // The reader sees a file of just this row group (offsets in the
        // metadata are absolute), so it touches no other row group's bytes.
        let mut one = (*meta).clone();
        one.row_groups = if rows > 0 {
            vec![one.row_groups.swap_remove(rg)]
        } else {
            Vec::new()
        };
        one.num_rows = rows;
        one.max_row_group_height = rows;
        reader.set_metadata(Arc::new(one));
        // The scheduler already runs a task per core: polars reads this
        // row group on the calling thread.
        let df = reader
            .with_columns(names)
            .read_parallel(ParallelStrategy::None)
            .finish()
            .map_err(|e| at(&e))?;
        Ok(df)
    }
}
