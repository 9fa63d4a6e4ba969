//! Reading and writing the survey's CSV files, by hand: three numeric columns need no CSV
//! library, and hand parsing lets every error say exactly which line was wrong.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Kind, LightCurve, Truth};

const LC_HEADER: &str = "t,mag,err";
const TRUTH_HEADER: &str = "star_id,period,kind";

/// Why a light-curve or truth file could not be read. Always names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or read (or was not UTF-8).
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The content is wrong: a bad header, a malformed or out-of-range value, or no data.
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (1 is the header).
        line: usize,
        /// What was wrong, for a person to read.
        reason: String,
    },
    /// A light-curve file's name is not `star_NNNNN.csv`, so its star id is unknown.
    FileName {
        /// The file.
        path: PathBuf,
    },
}

impl ReadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::Parse { path, .. }
            | ReadError::FileName { path } => path,
        }
    }

    /// The 1-based line number, for content errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Parse { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ReadError::Parse { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            ReadError::FileName { path } => write!(
                f,
                "{}: light-curve file name is not star_NNNNN.csv",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The file name of star `star_id`: `star_00042.csv`.
pub fn star_file_name(star_id: u32) -> String {
    format!("star_{star_id:05}.csv")
}

/// The star id in a `star_NNNNN.csv` file name (any number of digits).
fn star_id_from_path(path: &Path) -> Option<u32> {
    let digits = path
        .file_name()?
        .to_str()?
        .strip_prefix("star_")?
        .strip_suffix(".csv")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads a `t,mag,err` light curve, taking the star id from the file name.
///
/// Blank lines are skipped; anything else that is not three finite numbers with a positive
/// error is an error naming the line, as are an empty file, a wrong header and a file with no
/// observations.
///
/// # Errors
/// [`ReadError::FileName`] if the name is not `star_NNNNN.csv`, [`ReadError::Io`] if the file
/// cannot be read, [`ReadError::Parse`] for bad content.
pub fn read_csv(path: &Path) -> Result<LightCurve, ReadError> {
    let star_id = star_id_from_path(path).ok_or_else(|| ReadError::FileName {
        path: path.to_path_buf(),
    })?;
    let text = read_text(path)?;
    let mut lc = LightCurve {
        star_id,
        t: Vec::new(),
        mag: Vec::new(),
        err: Vec::new(),
    };
    let last_line = parse_rows(path, &text, LC_HEADER, |fields, fail| {
        let [t, mag, err] = fields else {
            return Err(fail(format!(
                "expected 3 comma-separated fields (t,mag,err), found {}",
                fields.len()
            )));
        };
        let t = parse_finite(t, "t").map_err(fail)?;
        let mag = parse_finite(mag, "mag").map_err(fail)?;
        let err = parse_finite(err, "err").map_err(fail)?;
        if err <= 0.0 {
            // The periodogram weights are 1/err², so a zero or negative error is unusable.
            return Err(fail(format!("err must be positive, found {err}")));
        }
        lc.t.push(t);
        lc.mag.push(mag);
        lc.err.push(err);
        Ok(())
    })?;
    if lc.t.is_empty() {
        return Err(no_rows(path, last_line));
    }
    Ok(lc)
}

/// Reads a `star_id,period,kind` answer key, in file order.
///
/// Kinds may be this crate's names or the Python reference generator's (`sin`, `rrab`, `eb`).
///
/// # Errors
/// [`ReadError::Io`] if the file cannot be read, [`ReadError::Parse`] for a bad header, a row
/// that is not a star number, a positive period and a known kind, or no rows at all.
pub fn read_truth(path: &Path) -> Result<Vec<Truth>, ReadError> {
    let text = read_text(path)?;
    let mut truths = Vec::new();
    let last_line = parse_rows(path, &text, TRUTH_HEADER, |fields, fail| {
        let [star_id, period, kind] = fields else {
            return Err(fail(format!(
                "expected 3 comma-separated fields (star_id,period,kind), found {}",
                fields.len()
            )));
        };
        let star_id = star_id
            .parse()
            .map_err(|_| fail(format!("star_id: {star_id:?} is not a star number")))?;
        let period = parse_finite(period, "period").map_err(fail)?;
        if period <= 0.0 {
            return Err(fail(format!("period must be positive, found {period}")));
        }
        let kind: Kind = kind.parse().map_err(|e| fail(format!("kind: {e}")))?;
        truths.push(Truth {
            star_id,
            period,
            kind,
        });
        Ok(())
    })?;
    if truths.is_empty() {
        return Err(no_rows(path, last_line));
    }
    Ok(truths)
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn no_rows(path: &Path, last_line: usize) -> ReadError {
    ReadError::Parse {
        path: path.to_path_buf(),
        line: last_line + 1,
        reason: "no data rows after the header".to_string(),
    }
}

/// Checks the header, then hands each non-blank row's trimmed fields to `row` together with a
/// constructor for an error at that row. Returns the number of the last line.
fn parse_rows<F>(path: &Path, text: &str, header: &str, mut row: F) -> Result<usize, ReadError>
where
    F: FnMut(&[&str], &dyn Fn(String) -> ReadError) -> Result<(), ReadError>,
{
    let error_at = |line: usize, reason: String| ReadError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines();
    match lines.next() {
        None => {
            return Err(error_at(
                1,
                format!("empty file: expected the header `{header}`"),
            ));
        }
        // A byte-order mark from a spreadsheet program is not part of the header.
        Some(first) if first.trim_start_matches('\u{feff}').trim() != header => {
            return Err(error_at(
                1,
                format!("expected the header `{header}`, found {first:?}"),
            ));
        }
        Some(_) => {}
    }
    let mut last = 1;
    let mut fields = Vec::with_capacity(3);
    for (i, line) in lines.enumerate() {
        last = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        fields.clear();
        fields.extend(line.split(',').map(str::trim));
        row(&fields, &|reason| error_at(last, reason))?;
    }
    Ok(last)
}

fn parse_finite(field: &str, name: &str) -> Result<f64, String> {
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{name} must be finite, found {v}")),
        Err(_) => Err(format!("{name}: {field:?} is not a number")),
    }
}

/// Writes a light curve as `t,mag,err` with 5, 4 and 4 decimals, the reference format.
///
/// # Errors
/// Whatever creating or writing the file returns.
pub fn write_csv(path: &Path, lc: &LightCurve) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "{LC_HEADER}")?;
    for ((t, mag), err) in lc.t.iter().zip(&lc.mag).zip(&lc.err) {
        writeln!(out, "{t:.5},{mag:.4},{err:.4}")?;
    }
    out.flush()
}

/// Writes an answer key as `star_id,period,kind` with 8-decimal periods.
///
/// # Errors
/// Whatever creating or writing the file returns.
pub fn write_truth(path: &Path, truths: &[Truth]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "{TRUTH_HEADER}")?;
    for t in truths {
        writeln!(out, "{},{:.8},{}", t.star_id, t.period, t.kind)?;
    }
    out.flush()
}
