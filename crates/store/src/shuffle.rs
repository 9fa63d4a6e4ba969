//! The transport of a hash shuffle: where the pieces of N input partitions
//! go between the shuffle's split and combine tasks, as bytes.
//!
//! The shuffle's tasks are built by [`shuffle_tasks`] (the `tasks`
//! submodule) from a collection's split and combine ops; its ops name their transport by a [`TransportSpec`] (data) and find the
//! transport itself here at run time ([`transport`]): the split and combine
//! ops of a graph decoded from bytes reach the same transport, and a
//! cluster can put a peer-to-peer one behind another spec. The store builds
//! no tasks: it moves bytes.
//!
//! With the local-files transport, each input's pieces are one file, read
//! back lazily by range: a piece is written once, read by exactly one
//! combine task. Files are deleted when the last task that can read them
//! has dropped them — after the last combine task, or when the computation
//! ends on an error — and the shuffle's directory with them.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use xxhash_rust::xxh3::xxh3_64;

use oxidask_graph::{LoadBytes, OpError, Value, ValueMeta};

mod tasks;

pub use tasks::{
    CombineFn, Pieces, PiecesCodec, ShuffleSpec, ShuffleTasks, SplitFn, hash_shuffle, shuffle_tasks,
};

/// Where a shuffle's pieces go between its split and combine tasks.
pub trait Transport: Send + Sync + 'static {
    /// Takes input partition `i`'s pieces (piece `j` for output `j`);
    /// returns a receipt (a small value) by which the combine tasks find
    /// them.
    fn put(&self, i: usize, pieces: Vec<Value>) -> Result<Value, OpError>;

    /// The pieces of output `j`, one per receipt, in input order; they may
    /// be lazy (read on first access).
    fn get(&self, receipts: &[Value], j: usize) -> Result<Vec<Value>, OpError>;
}

/// Which transport a shuffle uses, as data: ops carry this, and find the
/// transport at run time with [`transport`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransportSpec {
    /// Files in a fresh directory `shuffle-…-{name}` under `parent`,
    /// deleted with the last reader of each.
    LocalFiles {
        /// Where the shuffle's directory is made.
        parent: PathBuf,
        /// The shuffle's name (unique per shuffle).
        name: String,
    },
    /// No transport: each piece is the result of a task of its own, which
    /// the scheduler keeps and moves like any other value — spilled by the
    /// store under a memory limit, fetched worker to worker on a cluster
    /// (Dask's "tasks" shuffle method). N × M small tasks instead of a file
    /// per input; the method for schedulers that run tasks in other
    /// processes, where a file's local index means nothing.
    Tasks,
}

impl TransportSpec {
    /// Appends this spec's bytes to `out` (ops carrying it write them).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TransportSpec::LocalFiles { parent, name } => {
                out.push(0);
                put_bytes(out, parent.to_string_lossy().as_bytes());
                put_bytes(out, name.as_bytes());
            }
            TransportSpec::Tasks => out.push(1),
        }
    }

    /// Reads a spec written by [`encode`](TransportSpec::encode) from the
    /// front of `bytes`, advancing it.
    pub fn decode(bytes: &mut &[u8]) -> Result<TransportSpec, String> {
        match take_bytes(bytes, 1)?.first() {
            Some(0) => Ok(TransportSpec::LocalFiles {
                parent: PathBuf::from(take_str(bytes)?),
                name: take_str(bytes)?.to_string(),
            }),
            Some(1) => Ok(TransportSpec::Tasks),
            other => Err(format!("unknown shuffle transport {other:?}")),
        }
    }
}

/// The transport of `spec`: one per spec while any op holds it, so every
/// task of a shuffle — also of a copy of its graph decoded from bytes in
/// this process — reaches the same one. Fails for
/// [`TransportSpec::Tasks`], whose pieces are tasks' results instead.
pub fn transport(spec: &TransportSpec) -> Result<Arc<dyn Transport>, String> {
    type Live = HashMap<TransportSpec, Weak<LocalFiles>>;
    static LIVE: OnceLock<Mutex<Live>> = OnceLock::new();
    let mut live = LIVE.get_or_init(Default::default).lock();
    live.retain(|_, t| t.strong_count() > 0);
    if let Some(t) = live.get(spec).and_then(Weak::upgrade) {
        return Ok(t);
    }
    let TransportSpec::LocalFiles { parent, name } = spec else {
        return Err(
            "a shuffle of the tasks method moves its pieces as task results: it has no transport"
                .into(),
        );
    };
    let t = Arc::new(LocalFiles(Arc::new(ShuffleDir::new(parent.clone(), name))));
    live.insert(spec.clone(), Arc::downgrade(&t));
    Ok(t)
}

/// The local-files transport: each input's pieces in one file, read back
/// lazily by range.
struct LocalFiles(Arc<ShuffleDir>);

impl Transport for LocalFiles {
    fn put(&self, i: usize, pieces: Vec<Value>) -> Result<Value, OpError> {
        let m = pieces.len();
        let index = self.0.write_pieces(i, pieces)?;
        Ok(Value::sized(index, 64 + 32 * m))
    }

    fn get(&self, receipts: &[Value], j: usize) -> Result<Vec<Value>, OpError> {
        receipts
            .iter()
            .map(|r| r.downcast_ref::<FileIndex>()?.piece(j))
            .collect()
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn take_bytes<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err("shuffle transport parameters are truncated".into());
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_str<'a>(bytes: &mut &'a [u8]) -> Result<&'a str, String> {
    let len = take_bytes(bytes, 4)?;
    let n = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    std::str::from_utf8(take_bytes(bytes, n)?).map_err(|e| e.to_string())
}

/// The shuffle's directory: created by the first write, removed with the
/// last file on disk. The graph (and with it this directory's name) may be
/// computed many times, also at once from several threads: every write gets
/// a file name of its own, and the directory exists only while some run
/// has files in it.
#[derive(Debug)]
struct ShuffleDir {
    path: PathBuf,
    /// Files of this shuffle on disk, over all runs; guards creating and
    /// removing the directory.
    live: Mutex<usize>,
    /// Numbers the files written, so runs never share one.
    written: AtomicU64,
}

static SHUFFLES: AtomicU64 = AtomicU64::new(0);

impl ShuffleDir {
    fn new(parent: PathBuf, name: &str) -> ShuffleDir {
        let n = SHUFFLES.fetch_add(1, Ordering::Relaxed);
        let short: String = name
            .chars()
            .take(24)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        ShuffleDir {
            path: parent.join(crate::cleanup::dir_name("shuffle", n, &short)),
            live: Mutex::new(0),
            written: AtomicU64::new(0),
        }
    }

    /// Creates a new file for input `i` (and the directory if needed); the
    /// returned guard deletes it, and the directory with the last file.
    fn create_file(self: &Arc<Self>, i: usize) -> Result<(Arc<ShuffleFile>, fs::File), OpError> {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("in-{i}-{n}.bin"));
        let mut live = self.live.lock();
        let exists = *live > 0 && self.path.exists();
        let created = (if exists {
            Ok(())
        } else {
            crate::cleanup::create_dir(&self.path)
        })
        .map_err(|e| format!("creating shuffle directory {}: {e}", self.path.display()))
        .and_then(|()| {
            fs::File::create(&path)
                .map_err(|e| format!("creating shuffle file {}: {e}", path.display()))
        });
        match created {
            Ok(f) => {
                *live += 1;
                let file = Arc::new(ShuffleFile {
                    path,
                    dir: self.clone(),
                });
                Ok((file, f))
            }
            Err(e) => {
                if *live == 0 {
                    crate::cleanup::remove_if_empty(&self.path);
                }
                Err(e.into())
            }
        }
    }

    /// Writes input `i`'s pieces to one file; returns where each piece is.
    fn write_pieces(self: &Arc<Self>, i: usize, pieces: Vec<Value>) -> Result<FileIndex, OpError> {
        // The file exists from here on: the guard deletes it on any early return.
        let (file, f) = self.create_file(i)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut ranges = Vec::with_capacity(pieces.len());
        let mut offset = 0u64;
        let mut buf = Vec::new();
        for (j, piece) in pieces.into_iter().enumerate() {
            buf.clear();
            piece
                .encode(&mut buf)
                .map_err(|e| format!("piece {j} of the shuffle: {e}"))?;
            out.write_all(&buf).map_err(|e| {
                format!(
                    "writing {} bytes to shuffle file {}: {e}",
                    buf.len(),
                    file.path.display()
                )
            })?;
            ranges.push(Piece {
                offset,
                len: buf.len() as u64,
                checksum: xxh3_64(&buf),
                meta: piece.meta(),
            });
            offset += buf.len() as u64;
        }
        out.flush()
            .map_err(|e| format!("writing shuffle file {}: {e}", file.path.display()))?;
        Ok(FileIndex {
            file,
            ranges: Arc::new(ranges),
        })
    }
}

impl Drop for ShuffleDir {
    fn drop(&mut self) {
        let _ = crate::cleanup::remove_dir(&self.path);
    }
}

/// One input partition's file; deleted with its last handle.
#[derive(Debug)]
struct ShuffleFile {
    path: PathBuf,
    /// Keeps the directory alive until its last file is gone.
    dir: Arc<ShuffleDir>,
}

impl Drop for ShuffleFile {
    fn drop(&mut self) {
        let mut live = self.dir.live.lock();
        let _ = fs::remove_file(&self.path);
        *live -= 1;
        if *live == 0 {
            crate::cleanup::remove_if_empty(&self.dir.path);
        }
    }
}

/// Where the pieces of one input partition are.
#[derive(Clone, Debug)]
struct FileIndex {
    file: Arc<ShuffleFile>,
    ranges: Arc<Vec<Piece>>,
}

/// Where one piece is in its file, and what it holds.
#[derive(Clone, Debug)]
struct Piece {
    offset: u64,
    len: u64,
    /// xxh3 of the piece's bytes, checked when read back.
    checksum: u64,
    meta: ValueMeta,
}

impl FileIndex {
    fn piece(&self, j: usize) -> Result<Value, OpError> {
        let p = self.ranges.get(j).ok_or_else(|| {
            format!(
                "no piece for output partition {j} in a shuffle file of {} pieces",
                self.ranges.len()
            )
        })?;
        Ok(Value::lazy(
            Arc::new(PieceSource {
                file: self.file.clone(),
                offset: p.offset,
                len: p.len,
                checksum: p.checksum,
                output: j,
            }),
            &p.meta,
        ))
    }
}

/// A byte range of a shuffle file.
struct PieceSource {
    file: Arc<ShuffleFile>,
    offset: u64,
    len: u64,
    checksum: u64,
    /// The output partition the piece goes to.
    output: usize,
}

impl LoadBytes for PieceSource {
    fn load(&self) -> Result<Vec<u8>, String> {
        let read = |path: &Path| -> std::io::Result<Vec<u8>> {
            let mut f = fs::File::open(path)?;
            f.seek(SeekFrom::Start(self.offset))?;
            let mut bytes = vec![0; self.len as usize];
            f.read_exact(&mut bytes)?;
            Ok(bytes)
        };
        let at = || {
            format!(
                "{} bytes at offset {} of shuffle file {} (piece for output partition {})",
                self.len,
                self.offset,
                self.file.path.display(),
                self.output
            )
        };
        let bytes = read(&self.file.path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                " — truncated by another process?"
            } else {
                ""
            };
            format!("I/O error reading {}: {e}{hint}", at())
        })?;
        if xxh3_64(&bytes) != self.checksum {
            return Err(format!(
                "I/O error reading {}: its checksum does not match what was written — the file was corrupted",
                at()
            ));
        }
        Ok(bytes)
    }
}
