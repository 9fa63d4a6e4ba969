//! Which files to read: glob patterns and lists of paths.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the readers accept as paths: one path or glob pattern (`&str`,
/// `String`, `&Path`, `PathBuf`), or a list of them (`Vec`, slice, array).
/// Patterns containing `*`, `?` or `[` are expanded (sorted by name); a
/// pattern matching no file is an error naming it, and so is a plain path
/// that does not exist.
pub trait IntoPaths {
    /// The paths and patterns, in order.
    fn into_patterns(self) -> Vec<PathBuf>;
}

macro_rules! one_path {
    ($($t:ty),*) => {$(
        impl IntoPaths for $t {
            fn into_patterns(self) -> Vec<PathBuf> {
                vec![PathBuf::from(self)]
            }
        }
    )*};
}
one_path!(&str, String, &String, &Path, PathBuf, &PathBuf);

impl<P: AsRef<Path>> IntoPaths for Vec<P> {
    fn into_patterns(self) -> Vec<PathBuf> {
        self.iter().map(|p| p.as_ref().to_path_buf()).collect()
    }
}

impl<P: AsRef<Path>> IntoPaths for &[P] {
    fn into_patterns(self) -> Vec<PathBuf> {
        self.iter().map(|p| p.as_ref().to_path_buf()).collect()
    }
}

impl<P: AsRef<Path>, const N: usize> IntoPaths for [P; N] {
    fn into_patterns(self) -> Vec<PathBuf> {
        self.iter().map(|p| p.as_ref().to_path_buf()).collect()
    }
}

/// Expands patterns to existing files, in order; see [`IntoPaths`].
pub(crate) fn expand(patterns: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    if patterns.is_empty() {
        return Err(Error::InvalidArgument("no paths given".into()));
    }
    let mut out = Vec::new();
    for p in patterns {
        let s = p.to_string_lossy();
        if !s.contains(['*', '?', '[']) {
            std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
            out.push(p);
            continue;
        }
        let matches = glob::glob(&s).map_err(|e| Error::BadPattern {
            pattern: s.to_string(),
            message: e.to_string(),
        })?;
        let before = out.len();
        for m in matches {
            let path = m.map_err(|e| {
                Error::io(e.path().to_path_buf(), std::io::Error::other(e.to_string()))
            })?;
            if path.is_file() {
                out.push(path);
            }
        }
        if out.len() == before {
            return Err(Error::NoMatch {
                pattern: s.to_string(),
            });
        }
        out[before..].sort();
    }
    Ok(out)
}
