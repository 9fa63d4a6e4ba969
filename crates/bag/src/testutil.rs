//! Helpers for this crate's unit tests.

use std::path::{Path, PathBuf};

/// The workspace's scratch directory (removed on drop), with helpers to
/// write test files into it.
pub(crate) struct TempDir(oxidask_testing::TempDir);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        TempDir(oxidask_testing::TempDir::new(&format!("bag-{tag}")))
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `bytes` to `name` in the directory; returns the path.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Writes `bytes` gzip-compressed to `name`.
    pub(crate) fn write_gz(&self, name: &str, bytes: &[u8]) -> PathBuf {
        use std::io::Write;
        let p = self.0.join(name);
        let f = std::fs::File::create(&p).unwrap();
        let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        w.write_all(bytes).unwrap();
        w.finish().unwrap();
        p
    }
}
