//! What `read_csv` is told about the files: block size, dialect, nulls,
//! and column types that override inference.

use polars::prelude::{DataType, PlSmallStr};
use polars_io::csv::read::{CsvParseOptions, NullValues};
use serde::{Deserialize, Serialize};

/// The largest CSV partition `read_csv` makes unless told a blocksize, as
/// Dask's `blocksize`: 64 MiB (see [`auto_blocksize`]).
pub const DEFAULT_BLOCKSIZE: u64 = 64 << 20;

/// The smallest partition [`auto_blocksize`] picks, however tight the
/// memory limit: below this, per-task overhead outweighs what is saved.
pub const MIN_AUTO_BLOCKSIZE: u64 = 1 << 20;

/// The blocksize `read_csv` uses unless told one — Dask's rule
/// (`auto_blocksize`): a tenth of each worker thread's share of memory,
/// between [`MIN_AUTO_BLOCKSIZE`] and [`DEFAULT_BLOCKSIZE`]. Memory is the
/// memory limit (the machine's memory when there is none).
///
/// Why a tenth: a task holds several copies of its partition at once — the
/// bytes read, the parsed frame, a group_by's hash table and partials, the
/// pieces a shuffle cuts — about six for a group_by of distinct keys
/// (measured with `examples/frame_out_of_core.rs`), and every thread runs
/// one. With the default limit (half the machine) this is 64 MiB on any
/// ordinary machine; with `OXIDASK_MEMORY_LIMIT=256MiB` on 2 cores, 12.8 MB.
pub fn auto_blocksize(memory_limit: Option<usize>, workers: usize) -> u64 {
    let memory = memory_limit
        .or_else(oxidask_store::physical_memory)
        .unwrap_or(usize::MAX) as u64;
    (memory / workers.max(1) as u64 / 10).clamp(MIN_AUTO_BLOCKSIZE, DEFAULT_BLOCKSIZE)
}

/// How [`read_csv`](crate::read_csv) cuts files into partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Blocksize {
    /// [`auto_blocksize`] of the configuration in force when `read_csv` is
    /// called.
    Auto,
    /// About this many bytes per partition.
    Bytes(u64),
    /// One partition per file.
    WholeFile,
}

/// How many bytes of the first file the schema is inferred from (cut at a
/// line end): Dask samples 256 KB; polars infers types from every row
/// given, so a sample this size costs milliseconds.
pub const SCHEMA_SAMPLE_BYTES: usize = 1 << 20;

/// Options of [`read_csv`](crate::read_csv); build with the methods, e.g.
/// `CsvOptions::default().separator(b';').null_values(["NA"])`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CsvOptions {
    pub(crate) blocksize: Blocksize,
    pub(crate) separator: u8,
    pub(crate) quote_char: Option<u8>,
    pub(crate) null_values: Vec<String>,
    pub(crate) has_header: bool,
    pub(crate) dtypes: Vec<(String, DataType)>,
    pub(crate) sample_bytes: usize,
    pub(crate) bad_lines: BadLines,
    pub(crate) bad_values_as_null: bool,
}

/// What [`read_csv`](crate::read_csv) does with a line whose number of
/// fields differs from the header's (pandas' and Dask's `on_bad_lines`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BadLines {
    /// The computation fails naming the file, line and column (default).
    #[default]
    Error,
    /// The line is left out; each partition that leaves lines out logs a
    /// warning (`tracing`) with the file, how many and the first line.
    Skip,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            blocksize: Blocksize::Auto,
            separator: b',',
            quote_char: Some(b'"'),
            null_values: Vec::new(),
            has_header: true,
            dtypes: Vec::new(),
            sample_bytes: SCHEMA_SAMPLE_BYTES,
            bad_lines: BadLines::Error,
            bad_values_as_null: false,
        }
    }
}

impl CsvOptions {
    /// Splits files into partitions of about `bytes` bytes at line ends;
    /// `None` makes one partition per file. By default the size follows the
    /// memory limit and worker threads configured when `read_csv` is called
    /// ([`auto_blocksize`]: 64 MiB unless the limit is tight). Compressed
    /// (`.gz`) files are always one partition each. Quoted fields holding
    /// line breaks must not cross a block boundary (as in Dask): use `None`
    /// for such files.
    pub fn blocksize(mut self, bytes: Option<u64>) -> Self {
        self.blocksize = bytes.map_or(Blocksize::WholeFile, Blocksize::Bytes);
        self
    }

    /// The field separator (default `,`).
    pub fn separator(mut self, separator: u8) -> Self {
        self.separator = separator;
        self
    }

    /// The quote character (default `"`); `None` turns quoting off.
    pub fn quote_char(mut self, quote: Option<u8>) -> Self {
        self.quote_char = quote;
        self
    }

    /// Field values read as null in every column (besides empty fields).
    pub fn null_values<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.null_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Whether each file starts with a header line (default `true`).
    /// Without one, columns are named `column_1`, `column_2`, …
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// Reads column `name` as `dtype` instead of the inferred type.
    pub fn dtype(mut self, name: impl Into<String>, dtype: DataType) -> Self {
        self.dtypes.push((name.into(), dtype));
        self
    }

    /// Infers the schema from this many bytes of the first file (default
    /// [`SCHEMA_SAMPLE_BYTES`]).
    pub fn sample_bytes(mut self, bytes: usize) -> Self {
        self.sample_bytes = bytes.max(1);
        self
    }

    /// What to do with lines of the wrong number of fields (default
    /// [`BadLines::Error`]). Checking costs a scan of every block with
    /// [`BadLines::Skip`]; with `Error`, only of blocks whose parse failed
    /// or whose last column read has nulls (where polars pads a short
    /// line).
    pub fn on_bad_lines(mut self, bad_lines: BadLines) -> Self {
        self.bad_lines = bad_lines;
        self
    }

    /// Reads a value that does not parse as its column's type as null
    /// instead of failing (polars' `ignore_errors`); each partition that
    /// nulls values logs a warning (`tracing`) with the file and how many.
    pub fn bad_values_as_null(mut self, yes: bool) -> Self {
        self.bad_values_as_null = yes;
        self
    }

    /// Polars' parse options for these settings.
    pub(crate) fn parse_options(&self) -> CsvParseOptions {
        let nulls = (!self.null_values.is_empty()).then(|| {
            NullValues::AllColumns(
                self.null_values
                    .iter()
                    .map(|s| PlSmallStr::from_str(s))
                    .collect(),
            )
        });
        CsvParseOptions::default()
            .with_separator(self.separator)
            .with_quote_char(self.quote_char)
            .with_null_values(nulls)
    }
}
