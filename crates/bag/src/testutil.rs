//! Helpers for this crate's unit tests.

use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "oxidask-bag-{tag}-{}-{}",
            std::process::id(),
            oxidask_graph::unique_token()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
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

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
