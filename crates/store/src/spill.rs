//! Spill files: one file per spilled value, in a directory that is removed
//! with everything in it when the computation ends (success, error or panic).
//!
//! A [`SpillFile`] deletes itself when its last handle is dropped, so a value
//! read back by its last reader leaves no file behind. Writes go to a
//! temporary name first and are renamed when complete, so a failed write
//! (disk full) never leaves a partial file that looks valid — and the
//! partial file is removed at once.
//!
//! Each file's length and xxh3 checksum are kept in memory and checked when
//! it is read back: a file truncated, overwritten or deleted by another
//! process is an I/O error naming the file and the task, never a wrong
//! value. Directories are made and removed through [`crate::cleanup`], so a
//! signal or a later run removes them when the process is killed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use xxhash_rust::xxh3::xxh3_64;

use oxidask_graph::LoadBytes;
use parking_lot::Mutex;

use crate::cleanup;

/// A directory for spill files, created on first use, removed on drop
/// (with the parent directories created for it).
#[derive(Debug)]
pub struct SpillDir {
    parent: PathBuf,
    dir: Mutex<Option<PathBuf>>,
    next: AtomicU64,
    /// Test hook: fail every write after this many bytes.
    #[cfg(test)]
    pub(crate) fail_after: Option<usize>,
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
            #[cfg(test)]
            fail_after: None,
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
        let name = cleanup::dir_name("spill", DIRS.fetch_add(1, Ordering::Relaxed), "");
        let d = self.parent.join(name);
        cleanup::create_dir(&d)?;
        *dir = Some(d.clone());
        Ok(d)
    }

    /// The directory if it was created.
    pub fn created(&self) -> Option<PathBuf> {
        self.dir.lock().clone()
    }

    /// Writes `bytes`, the result of task `id`, to a new file; on failure
    /// removes what was written.
    pub fn write(&self, bytes: &[u8], id: u32) -> std::io::Result<Arc<SpillFile>> {
        let dir = self.path()?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{n}.bin"));
        let tmp = dir.join(format!("{n}.tmp"));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            #[cfg(test)]
            if let Some(k) = self.fail_after.filter(|&k| k < bytes.len()) {
                f.write_all(&bytes[..k])?;
                f.flush()?;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device (test)",
                ));
            }
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
            checksum: xxh3_64(bytes),
            id,
            task: OnceLock::new(),
        }))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.get_mut().take() {
            if let Err(e) = cleanup::remove_dir(&d) {
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
    checksum: u64,
    id: u32,
    /// The task's name for messages, given by its first reader.
    task: OnceLock<String>,
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

    /// Names the task whose result this is, for messages (first name wins).
    pub fn name_task(&self, name: impl FnOnce() -> String) {
        if self.task.get().is_none() {
            let _ = self.task.set(name());
        }
    }

    /// The task whose result this is: its name, else its id.
    pub fn task(&self) -> String {
        match self.task.get() {
            Some(t) => t.clone(),
            None => format!("#{}", self.id),
        }
    }

    /// Reads the bytes back, checking their length and checksum.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        let at = || {
            format!(
                "spill file {} (result of task {})",
                self.path.display(),
                self.task()
            )
        };
        let bytes = fs::read(&self.path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " — deleted by another process?"
            } else {
                ""
            };
            format!("I/O error reading {}: {e}{hint}", at())
        })?;
        if bytes.len() != self.len {
            return Err(format!(
                "I/O error reading {}: it has {} bytes, {} were written — truncated or overwritten by another process",
                at(),
                bytes.len(),
                self.len
            ));
        }
        if xxh3_64(&bytes) != self.checksum {
            return Err(format!(
                "I/O error reading {}: its checksum does not match what was written — the file was corrupted",
                at()
            ));
        }
        Ok(bytes)
    }
}

impl LoadBytes for SpillFile {
    fn load(&self) -> Result<Vec<u8>, String> {
        self.read()
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Already gone when the whole directory was removed first.
        let _ = fs::remove_file(&self.path);
    }
}
