//! Spill files: one file per spilled value, in a directory that is removed
//! with everything in it when the computation ends (success, error or panic).
//!
//! A [`SpillFile`] deletes itself when its last handle is dropped, so a value
//! read back by its last reader leaves no file behind. Writes go to a
//! temporary name first and are renamed when complete, so a failed write
//! (disk full) never leaves a partial file that looks valid — and the
//! partial file is removed at once.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oxidask_graph::LoadBytes;
use parking_lot::Mutex;

/// A directory for spill files, created on first use, removed on drop.
#[derive(Debug)]
pub struct SpillDir {
    parent: PathBuf,
    dir: Mutex<Option<PathBuf>>,
    next: AtomicU64,
}

static DIRS: AtomicU64 = AtomicU64::new(0);

impl SpillDir {
    /// Spill files will live in a fresh directory under `parent` (the
    /// system's temp dir when `None`).
    pub fn new(parent: Option<PathBuf>) -> SpillDir {
        SpillDir {
            parent: parent.unwrap_or_else(std::env::temp_dir),
            dir: Mutex::new(None),
            next: AtomicU64::new(0),
        }
    }

    /// The directory under which spill directories are created.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// The directory, creating it on first call.
    pub fn path(&self) -> std::io::Result<PathBuf> {
        let mut dir = self.dir.lock();
        if let Some(d) = &*dir {
            return Ok(d.clone());
        }
        let name = format!(
            "oxidask-spill-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        );
        let d = self.parent.join(name);
        fs::create_dir_all(&d)?;
        *dir = Some(d.clone());
        Ok(d)
    }

    /// Writes `bytes` to a new file; on failure removes what was written.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<Arc<SpillFile>> {
        let dir = self.path()?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{n}.bin"));
        let tmp = dir.join(format!("{n}.tmp"));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.flush()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(Arc::new(SpillFile {
            path,
            len: bytes.len(),
        }))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.get_mut().take() {
            if let Err(e) = fs::remove_dir_all(&d) {
                tracing::warn!("could not remove spill directory {}: {e}", d.display());
            }
        }
    }
}

/// One spilled value's bytes on disk; the file is deleted when the last
/// handle is dropped.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    len: usize,
}

impl SpillFile {
    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl LoadBytes for SpillFile {
    fn load(&self) -> Result<Vec<u8>, String> {
        fs::read(&self.path).map_err(|e| format!("reading spill file {}: {e}", self.path.display()))
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Already gone when the whole directory was removed first.
        let _ = fs::remove_file(&self.path);
    }
}
