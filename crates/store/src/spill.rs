//! Spill files: one file per spilled value, in a directory that is removed
//! with everything in it when the computation ends (success, error or panic).
//!
//! A [`SpillFile`] deletes itself when its last handle is dropped, so a value
//! read back by its last reader leaves no file behind. Writes go to a
//! temporary name first and are renamed when complete, so a failed write
//! (disk full) never leaves a partial file that looks valid — and the
//! partial file is removed at once.
//!
//! Values are encoded straight into the file through a small buffer
//! ([`SpillDir::write_with`]) and read back by mapping the file
//! ([`SpillFile::map`]), so spilling or reading back a large value holds no
//! second full-size copy of it in memory.
//!
//! Each file's length and xxh3 checksum are kept in memory and checked when
//! it is read back: a file truncated, overwritten or deleted by another
//! process is an I/O error naming the file and the task, never a wrong
//! value. Directories are made and removed through [`crate::cleanup`], so a
//! signal or a later run removes them when the process is killed.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use oxidask_graph::{LoadBytes, SourceBytes};
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
    pub fn write(&self, bytes: &[u8], id: u32) -> io::Result<Arc<SpillFile>> {
        self.write_with(id, |w| w.write_all(bytes).map_err(|e| e.to_string()))
            .map_err(|e| match e {
                WriteError::Io(e) => e,
                WriteError::Encode(m) => io::Error::other(m),
            })
    }

    /// Writes the result of task `id` to a new file as `encode` produces it
    /// (through a small buffer, checksummed on the way), so a large value is
    /// never encoded whole in memory; on failure removes what was written.
    pub fn write_with(
        &self,
        id: u32,
        encode: impl FnOnce(&mut dyn Write) -> Result<(), String>,
    ) -> Result<Arc<SpillFile>, WriteError> {
        let dir = self.path().map_err(WriteError::Io)?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{n}.bin"));
        let tmp = dir.join(format!("{n}.tmp"));
        let written = (|| {
            let file = fs::File::create(&tmp).map_err(WriteError::Io)?;
            let mut w = Tracked {
                inner: BufWriter::with_capacity(WRITE_BUFFER, file),
                hasher: Xxh3::new(),
                len: 0,
                error: None,
                #[cfg(test)]
                fail_after: self.fail_after,
            };
            let encoded = encode(&mut w);
            // An I/O error inside the encoder is the file's fault, not the
            // value's: report it as such.
            if let Some(e) = w.error.take() {
                return Err(WriteError::Io(e));
            }
            encoded.map_err(WriteError::Encode)?;
            w.inner.flush().map_err(WriteError::Io)?;
            fs::rename(&tmp, &path).map_err(WriteError::Io)?;
            Ok((w.len, w.hasher.digest()))
        })();
        let (len, checksum) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        Ok(Arc::new(SpillFile {
            path,
            len,
            checksum,
            id,
            task: OnceLock::new(),
        }))
    }
}

/// Bytes buffered per spill file before they go to the OS.
const WRITE_BUFFER: usize = 256 * 1024;

/// Why a streamed spill write failed.
#[derive(Debug)]
pub enum WriteError {
    /// The file could not be created or written (disk full, …).
    Io(io::Error),
    /// The encoder failed (the value has no byte encoding, or a record
    /// cannot be written).
    Encode(String),
}

/// The writer a spill encoder writes to: buffers, counts and checksums the
/// bytes, and keeps the first I/O error so it is reported as one.
struct Tracked {
    inner: BufWriter<fs::File>,
    hasher: Xxh3,
    len: usize,
    error: Option<io::Error>,
    #[cfg(test)]
    fail_after: Option<usize>,
}

impl Write for Tracked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(test)]
        if let Some(k) = self.fail_after.filter(|&k| self.len + buf.len() > k) {
            let head = &buf[..k.saturating_sub(self.len)];
            let _ = self.inner.write_all(head).and_then(|()| self.inner.flush());
            let e = io::Error::new(io::ErrorKind::StorageFull, "no space left on device (test)");
            self.error
                .get_or_insert(io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        if let Err(e) = self.inner.write_all(buf) {
            let copy = io::Error::new(e.kind(), e.to_string());
            self.error.get_or_insert(e);
            return Err(copy);
        }
        self.hasher.update(buf);
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

impl SpillFile {
    /// The bytes, mapped from the file instead of read into memory, after
    /// checking their length and checksum: decoding from them holds only
    /// the decoded value.
    pub fn map(&self) -> Result<SourceBytes, String> {
        let at = || {
            format!(
                "spill file {} (result of task {})",
                self.path.display(),
                self.task()
            )
        };
        let io_err = |e: io::Error| {
            let hint = if e.kind() == io::ErrorKind::NotFound {
                " — deleted by another process?"
            } else {
                ""
            };
            format!("I/O error reading {}: {e}{hint}", at())
        };
        let file = fs::File::open(&self.path).map_err(io_err)?;
        let on_disk = file.metadata().map_err(io_err)?.len();
        if on_disk != self.len as u64 {
            return Err(format!(
                "I/O error reading {}: it has {on_disk} bytes, {} were written — truncated or overwritten by another process",
                at(),
                self.len
            ));
        }
        if self.len == 0 {
            // An empty map is an error on some systems; nothing to map.
            return Ok(SourceBytes::from(Vec::new()));
        }
        // SAFETY: the file is private to this store's spill directory and
        // never written again after its rename; another process changing it
        // under the map is caught by the checksum below (a change after the
        // check is the same hazard as for any file read, and yields wrong
        // bytes for the decoder to reject, never unsoundness in our code
        // beyond what memmap2 documents).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
        if xxh3_64(&map) != self.checksum {
            return Err(format!(
                "I/O error reading {}: its checksum does not match what was written — the file was corrupted",
                at()
            ));
        }
        Ok(SourceBytes::new(map))
    }
}

impl LoadBytes for SpillFile {
    fn load(&self) -> Result<Vec<u8>, String> {
        self.read()
    }

    fn bytes(&self) -> Result<SourceBytes, String> {
        self.map()
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Already gone when the whole directory was removed first.
        let _ = fs::remove_file(&self.path);
    }
}
