//! `read_csv`: files (a glob or a list) split into blocks at line ends,
//! one partition per block, the schema inferred from the first block.
//!
//! Building the frame reads only the first line of every file (to check
//! the headers agree) and a sample of the first file (for the schema); the
//! tasks read their own blocks. A task reads only the columns its steps
//! need (see [`crate::plan::needed_columns`]).

mod block;
mod compact;
mod diagnose;
mod options;
#[cfg(test)]
mod tests;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxidask_graph::OpError;
use polars::prelude::{self as pl, Schema, SchemaRef};
use polars_io::SerReader;
use polars_io::csv::read::_csv_read_internal::{
    cast_columns, prepare_csv_schema, read_chunk, validate_utf8,
};
use polars_io::csv::read::CsvReadOptions;
use serde::{Deserialize, Serialize};

use options::Blocksize;
pub use options::{
    BadLines, CsvOptions, DEFAULT_BLOCKSIZE, MIN_AUTO_BLOCKSIZE, SCHEMA_SAMPLE_BYTES,
    auto_blocksize,
};

use crate::error::{Error, Result};
use crate::frame::DataFrame;
use crate::plan::Source;

/// Paths to read: a glob pattern (`"taxi/*.csv"`; its matches in natural
/// order, `part-2` before `part-10`), one path, or a list.
pub trait IntoPaths {
    /// The files, in order; a pattern matching nothing is an error naming it.
    fn into_paths(self) -> Result<Vec<PathBuf>>;
}

fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    if !pattern.contains(['*', '?', '[']) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let bad = |e: String| Error::Pattern {
        pattern: pattern.to_string(),
        message: e,
    };
    let mut out = Vec::new();
    for p in glob::glob(pattern).map_err(|e| bad(e.to_string()))? {
        out.push(p.map_err(|e| bad(e.to_string()))?);
    }
    // Natural order, so `part-2` comes before `part-10` (what `to_csv`
    // writes) and partitions keep their order through a round trip.
    out.sort_by_key(|p| natural_key(p));
    if out.is_empty() {
        return Err(Error::NoFiles {
            pattern: pattern.to_string(),
        });
    }
    Ok(out)
}

/// A sort key that orders runs of digits by their value.
pub(crate) fn natural_key(p: &Path) -> Vec<(String, u64)> {
    let s = p.to_string_lossy();
    let mut key = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n = u64::from(c as u8 - b'0');
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n = n
                    .saturating_mul(10)
                    .saturating_add(u64::from(*d as u8 - b'0'));
                chars.next();
            }
            key.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
        }
    }
    key.push((text, 0));
    key
}

impl IntoPaths for &str {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        expand(self)
    }
}

impl IntoPaths for String {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        expand(&self)
    }
}

/// A path holding `*`, `?` or `[` is a glob pattern, as a string is.
impl IntoPaths for &Path {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        match self.to_str() {
            Some(s) => expand(s),
            None => Ok(vec![self.to_path_buf()]),
        }
    }
}

/// A path holding `*`, `?` or `[` is a glob pattern, as a string is.
impl IntoPaths for PathBuf {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        self.as_path().into_paths()
    }
}

impl IntoPaths for &PathBuf {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        self.as_path().into_paths()
    }
}

impl<P: AsRef<Path>> IntoPaths for Vec<P> {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        self.as_slice().into_paths()
    }
}

impl<P: AsRef<Path>> IntoPaths for &[P] {
    fn into_paths(self) -> Result<Vec<PathBuf>> {
        if self.is_empty() {
            return Err(Error::Argument {
                argument: "paths",
                message: "no files given".into(),
            });
        }
        Ok(self.iter().map(|p| p.as_ref().to_path_buf()).collect())
    }
}

/// One partition: bytes `[start, end)` of file `file` (then on to the end
/// of the line), or the whole decompressed file for `.gz`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Block {
    file: u32,
    start: u64,
    end: u64,
}

/// The files of a CSV frame and how they split into partitions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CsvSource {
    files: Vec<PathBuf>,
    /// Length of each file; `None` for compressed ones.
    lens: Vec<Option<u64>>,
    blocks: Vec<Block>,
    schema: SchemaRef,
    options: CsvOptions,
    /// The source's identity (a hash of all the above), made when first
    /// asked for: tasks of frames read from the same files the same way
    /// share their reads (`crate::share`).
    #[serde(skip)]
    token: std::sync::OnceLock<Arc<str>>,
}

fn is_gz(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "gz")
}

impl CsvSource {
    pub(crate) fn npartitions(&self) -> usize {
        self.blocks.len()
    }

    /// Equal for sources reading the same files, blocks, schema and
    /// options.
    pub(crate) fn token(&self) -> Arc<str> {
        self.token
            .get_or_init(|| Arc::from(crate::frame::token_of("read-csv", self)))
            .clone()
    }

    /// The file's columns, as read.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The indices of the columns a read of `columns` parses (see
    /// [`crate::plan::read_indices`]).
    pub(crate) fn projection(
        &self,
        columns: Option<&std::collections::BTreeSet<String>>,
    ) -> Option<Vec<usize>> {
        crate::plan::read_indices(&self.schema, columns)
    }

    /// Partition `i`, parsing only `columns` (all when `None`).
    pub(crate) fn read_block(
        &self,
        i: u32,
        columns: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<pl::DataFrame, OpError> {
        let b = self
            .blocks
            .get(i as usize)
            .ok_or_else(|| format!("read_csv: no block {i}"))?;
        let path = &self.files[b.file as usize];
        let io_err = |e: std::io::Error| format!("{}: {e}", path.display());
        let (block, at) = match self.lens[b.file as usize] {
            Some(len) => block::map_lines(path, b.start, b.end, len, self.options.has_header)
                .map_err(io_err)?,
            None => {
                let bytes = block::read_gz(path).map_err(io_err)?;
                let skip = if self.options.has_header {
                    memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |p| p + 1)
                } else {
                    0
                };
                (block::BlockBytes::Owned { bytes, skip }, skip as u64)
            }
        };
        let bytes = block.lines();
        let projection = self.projection(columns);
        match self.options.bad_lines {
            BadLines::Error => self.parse_checked(path, b, at, bytes, bytes, projection),
            BadLines::Skip => {
                let mut kept = Vec::new();
                let ncols = self.schema.len();
                let dropped = diagnose::keep_whole_records(bytes, ncols, &self.options, &mut kept);
                match dropped.first() {
                    None => self.parse_checked(path, b, at, bytes, bytes, projection),
                    Some(&first) => {
                        tracing::warn!(
                            file = %path.display(),
                            skipped = dropped.len(),
                            first_line = self.first_line(path, b, at) + first as u64,
                            "read_csv skipped lines with the wrong number of fields"
                        );
                        self.parse_checked(path, b, at, bytes, &kept, projection)
                    }
                }
            }
        }
    }

    fn parse(
        &self,
        bytes: &[u8],
        projection: Option<Vec<usize>>,
    ) -> pl::PolarsResult<pl::DataFrame> {
        let projection = projection.unwrap_or_else(|| (0..self.schema.len()).collect());
        if bytes.iter().all(|&b| b == b'\n' || b == b'\r') {
            // A block with no line (a small last block, an empty file).
            return Ok(pl::DataFrame::empty_with_schema(
                &self.columns_at(&projection),
            ));
        }
        let reads_text = projection.iter().any(|&i| {
            self.schema
                .get_at_index(i)
                .is_some_and(|(_, t)| t == &pl::DataType::String)
        });
        if reads_text && !validate_utf8(bytes) {
            return Err(pl::PolarsError::ComputeError(
                "invalid utf-8 sequence".into(),
            ));
        }
        if projection.len() < self.schema.len() {
            let options = &self.options;
            let sep = options.separator;
            if let Some(lines) = compact::project_block(bytes, sep, options.quote_char, &projection)
            {
                let all: Vec<usize> = (0..projection.len()).collect();
                let schema = Arc::new(self.columns_at(&projection));
                // On an error the block is parsed again as it is, for
                // polars' own message about the file's bytes.
                if let Ok(df) = self.parse_chunk(&lines, schema, &all) {
                    return Ok(df);
                }
            }
        }
        self.parse_chunk(bytes, self.schema.clone(), &projection)
    }

    /// The file's columns at `indices`.
    fn columns_at(&self, indices: &[usize]) -> Schema {
        indices
            .iter()
            .filter_map(|&i| self.schema.get_at_index(i))
            .map(|(n, t)| pl::Field::new(n.clone(), t.clone()))
            .collect()
    }

    /// Parses the lines `bytes` of a file of columns `schema`, keeping the
    /// columns `projection`.
    ///
    /// On this task's thread, by polars' chunk parser (what its streaming
    /// engine calls), not through `CsvReader`: that copies the bytes,
    /// counts the block's lines in a quote-aware pass to cut it into chunks
    /// for polars' pool, and checks the whole block is UTF-8 when any
    /// column of the file is a string — three passes over the bytes before
    /// the one that parses, while the scheduler already runs a block per
    /// core.
    fn parse_chunk(
        &self,
        bytes: &[u8],
        mut schema: SchemaRef,
        projection: &[usize],
    ) -> pl::PolarsResult<pl::DataFrame> {
        let mut to_cast = Vec::new();
        prepare_csv_schema(&mut schema, &mut to_cast)?;
        let parse_options = self.options.parse_options();
        let nulls = parse_options
            .null_values
            .clone()
            .map(|nv| nv.compile(&schema))
            .transpose()?;
        let capacity = rows_estimate(bytes);
        let mut df = read_chunk(
            bytes,
            &parse_options,
            &schema,
            self.options.bad_values_as_null,
            projection,
            0,
            capacity,
            nulls.as_ref(),
            usize::MAX,
            bytes.len(),
            Some(0),
        )?;
        cast_columns(&mut df, &to_cast, false, self.options.bad_values_as_null)?;
        Ok(df)
    }

    /// Parses `bytes` (the block `block` as read, or it without its
    /// skipped lines) and checks what polars lets pass: a line with too
    /// few fields is padded with nulls, so when the last column read has
    /// nulls the block's records are counted (with [`BadLines::Skip`] the
    /// short lines are gone already).
    fn parse_checked(
        &self,
        path: &Path,
        b: &Block,
        at: u64,
        block: &[u8],
        bytes: &[u8],
        projection: Option<Vec<usize>>,
    ) -> Result<pl::DataFrame, OpError> {
        // The projection is needed afterwards only to count nulled values.
        let counted = self
            .options
            .bad_values_as_null
            .then(|| projection.clone())
            .flatten();
        let df = match self.parse(bytes, projection) {
            Ok(df) => df,
            Err(e) => return Err(self.locate(path, b, at, block, e).into()),
        };
        let has_nulls = |c: &pl::Column| c.null_count() > 0;
        if self.options.bad_lines == BadLines::Error && df.columns().last().is_some_and(has_nulls) {
            if let Some(bad) = diagnose::first_ragged(bytes, self.schema.len(), &self.options) {
                return Err(self.place(path, b, at, &bad).into());
            }
        }
        if self.options.bad_values_as_null && df.columns().iter().any(has_nulls) {
            let n =
                diagnose::count_bad_values(bytes, &self.schema, counted.as_deref(), &self.options);
            if n > 0 {
                tracing::warn!(
                    file = %path.display(),
                    from_line = self.first_line(path, b, at),
                    values = n,
                    "read_csv read values that do not parse as their column's type as null"
                );
            }
        }
        Ok(df)
    }

    /// The 1-based line of the file the block read from offset `at` starts
    /// on.
    fn first_line(&self, path: &Path, b: &Block, at: u64) -> u64 {
        match self.lens[b.file as usize] {
            Some(_) => block::line_number_at(path, at).unwrap_or(0),
            None => 1 + u64::from(self.options.has_header),
        }
    }

    /// The parse error `e` of the block at file offset `at`, placed at its
    /// file, 1-based line and column.
    fn locate(&self, path: &Path, b: &Block, at: u64, bytes: &[u8], e: pl::PolarsError) -> String {
        match diagnose::find_bad_field(bytes, &self.schema, &self.options) {
            Some(bad) => self.place(path, b, at, &bad),
            None => format!("{}: bytes {}..{}: {e}", path.display(), b.start, b.end),
        }
    }

    /// `bad`, a record of the block read from offset `at`, as
    /// `file:line: column c: why`.
    fn place(&self, path: &Path, b: &Block, at: u64, bad: &diagnose::BadField) -> String {
        format!(
            "{}:{}: column {}: {}",
            path.display(),
            self.first_line(path, b, at) + bad.line as u64,
            bad.column,
            bad.message
        )
    }
}

/// About how many lines `bytes` hold, from the lines in their first 64 KiB
/// and a sixteenth more: the capacity a block's column builders start
/// with (they grow past it when later lines are shorter). Measured on the
/// block itself, so a file whose lines change length (or a schema sample
/// unlike the rest) neither regrows every column many times nor reserves
/// many times the rows there are.
fn rows_estimate(bytes: &[u8]) -> usize {
    let head = &bytes[..bytes.len().min(64 << 10)];
    let lines = memchr::memchr_iter(b'\n', head).count().max(1);
    let rows = (bytes.len() as u128 * lines as u128 / head.len().max(1) as u128) as usize;
    rows + rows / 16 + 16
}

/// Reads CSV files as a frame of one partition per block of about
/// `blocksize` bytes (a `.gz` file is one partition).
///
/// `paths` is a glob pattern, a path or a list of paths. The schema comes
/// from a sample of the first file, with [`CsvOptions::dtype`] overrides;
/// every file must have the same header. Nothing else is read until the
/// frame is computed.
///
/// ```
/// # let dir = oxidask_testing::TempDir::new("doc-read-csv");
/// # std::fs::write(dir.path().join("a.csv"), "x,y\n1,a\n2,b\n").unwrap();
/// # let pattern = format!("{}/*.csv", dir.path().display());
/// use oxidask_dataframe as dd;
/// let df = dd::read_csv(pattern.as_str(), dd::CsvOptions::default())?;
/// assert_eq!(df.columns(), ["x", "y"]);
/// assert_eq!(df.len()?, 2);
/// # Ok::<(), dd::Error>(())
/// ```
pub fn read_csv(paths: impl IntoPaths, options: CsvOptions) -> Result<DataFrame> {
    let files = paths.into_paths()?;
    let blocksize = match options.blocksize {
        Blocksize::Bytes(0) => {
            return Err(Error::Argument {
                argument: "blocksize",
                message: "must be at least 1 byte".into(),
            });
        }
        Blocksize::Bytes(b) => Some(b),
        Blocksize::WholeFile => None,
        Blocksize::Auto => {
            let config = oxidask_scheduler::config::current()?;
            Some(auto_blocksize(config.memory_limit, config.num_workers))
        }
    };
    let mut lens = Vec::with_capacity(files.len());
    let mut blocks = Vec::new();
    for (fi, path) in files.iter().enumerate() {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if is_gz(path) {
            lens.push(None);
            blocks.push(Block {
                file: fi as u32,
                start: 0,
                end: 0,
            });
            continue;
        }
        let len = meta.len();
        lens.push(Some(len));
        let bs = blocksize.unwrap_or(len.max(1));
        let mut off = 0;
        loop {
            let end = (off + bs).min(len);
            blocks.push(Block {
                file: fi as u32,
                start: off,
                end,
            });
            off = end;
            if off >= len {
                break;
            }
        }
    }
    let schema = infer_schema(&files, &options)?;
    let source = CsvSource {
        files,
        lens,
        blocks,
        schema: schema.clone(),
        options,
        token: std::sync::OnceLock::new(),
    };
    let n = source.npartitions() as u32;
    Ok(DataFrame::from_source(
        Source::Csv(Arc::new(source)),
        n,
        schema,
    ))
}

/// The schema from a sample of the first file, overridden by the options'
/// dtypes; checks every file has the first one's header.
fn infer_schema(files: &[PathBuf], options: &CsvOptions) -> Result<SchemaRef> {
    let first = &files[0];
    if options.has_header {
        let header = block::first_line(first, is_gz(first)).map_err(|e| Error::io(first, e))?;
        for other in &files[1..] {
            let h = block::first_line(other, is_gz(other)).map_err(|e| Error::io(other, e))?;
            if h != header {
                return Err(Error::HeaderMismatch {
                    first: first.clone(),
                    second: other.clone(),
                    detail: format!(
                        "{:?} vs {:?}",
                        String::from_utf8_lossy(&header),
                        String::from_utf8_lossy(&h)
                    ),
                });
            }
        }
    }
    let mut sample = block::sample(first, is_gz(first), options.sample_bytes)
        .map_err(|e| Error::io(first, e))?;
    if options.bad_lines == BadLines::Skip {
        // Types are inferred from the lines that will be read.
        let ncols = diagnose::Records::new(&sample, options)
            .next()
            .map_or(0, |r| r.fields);
        let mut kept = Vec::new();
        diagnose::keep_whole_records(&sample, ncols, options, &mut kept);
        sample = kept;
    }
    let df = CsvReadOptions::default()
        .with_has_header(options.has_header)
        .with_infer_schema_length(None)
        .with_parse_options(options.parse_options())
        .into_reader_with_file_handle(Cursor::new(&sample[..]))
        .finish()
        .map_err(|e| Error::Plan {
            op: "read_csv",
            message: match ragged_line(&sample, options) {
                Some(at) => format!("{}:{at}", first.display()),
                None => format!("{}: inferring the schema: {e}", first.display()),
            },
            columns: Vec::new(),
        })?;
    let mut schema: Schema = df.schema().as_ref().clone();
    for (name, dtype) in &options.dtypes {
        match schema.get_mut(name.as_str()) {
            Some(t) => *t = dtype.clone(),
            None => {
                return Err(Error::UnknownColumn {
                    op: "read_csv dtype override",
                    column: name.clone(),
                    columns: schema.iter_names().map(|s| s.to_string()).collect(),
                });
            }
        }
    }
    Ok(Arc::new(schema))
}

/// The first record of a sample whose number of fields differs from the
/// first one's, as `line: column c: expected n fields, found m`.
fn ragged_line(sample: &[u8], options: &CsvOptions) -> Option<String> {
    let n = diagnose::Records::new(sample, options).next()?.fields;
    let bad = diagnose::first_ragged(sample, n, options)?;
    Some(format!(
        "{}: column {}: {}",
        bad.line + 1,
        bad.column,
        bad.message
    ))
}
