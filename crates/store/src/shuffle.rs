//! A disk-backed hash shuffle: N input partitions become M output
//! partitions through files, as a graph building block.
//!
//! [`hash_shuffle`] returns the tasks of three stages:
//!
//! 1. **split** `(name-split, i)`: runs the collection's `split` on input
//!    partition `i`, giving one piece per output partition; encodes the
//!    pieces one after another into a single file and returns the file's
//!    index (offset, length and type of each piece). Only one input
//!    partition and its pieces are in memory per worker.
//! 2. **barrier** `name-barrier`: gathers the N indexes (small), so each
//!    output depends on one task instead of N.
//! 3. **combine** `(name, j)`: hands the collection's `combine` one lazy
//!    value per input file — piece `j` of it — which is read and decoded on
//!    first access; combining by value therefore reads one piece at a time.
//!
//! Every record reaches exactly one output: a piece is written once, read
//! by exactly one combine task. Files are deleted when the last task that
//! can read them has dropped them — after the last combine task, or when
//! the computation ends on an error — and the shuffle's directory with
//! them.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use xxhash_rust::xxh3::xxh3_64;

use oxidask_graph::{Arg, FnOp, Key, LoadBytes, Op, OpError, Task, TaskGraph, Value, ValueMeta};

/// Splits input partition number `i` (the first argument) into `m` pieces
/// (the third; piece `j` goes to output `j`); each piece must have a codec
/// (`Value::with_codec` or a recognised type).
pub type SplitFn = dyn Fn(usize, Value, u32) -> Result<Vec<Value>, OpError> + Send + Sync;

/// Builds one output partition from its pieces, one per input partition,
/// in input order. Iterate the pieces by value so each is read, used and
/// dropped in turn.
pub type CombineFn = dyn Fn(Vec<Value>) -> Result<Value, OpError> + Send + Sync;

/// What to shuffle and how.
pub struct ShuffleSpec {
    /// Token for the shuffle's keys (unique per shuffle; collections derive it
    /// with `tokenize`).
    pub name: String,
    /// The input partitions' keys, in order.
    pub inputs: Vec<Key>,
    /// Number of output partitions.
    pub npartitions: u32,
    /// Splits an input partition.
    pub split: Arc<SplitFn>,
    /// Combines the pieces of an output partition.
    pub combine: Arc<CombineFn>,
    /// Where to put shuffle files (a fresh directory is made under it; the
    /// system temp dir when `None`).
    pub dir: Option<PathBuf>,
}

/// The tasks of the shuffle (to be merged into the caller's graph) and the
/// keys of the M output partitions.
pub fn hash_shuffle(spec: ShuffleSpec) -> (TaskGraph, Vec<Key>) {
    let ShuffleSpec {
        name,
        inputs,
        npartitions: m,
        split,
        combine,
        dir,
    } = spec;
    let dir = Arc::new(ShuffleDir::new(
        dir.unwrap_or_else(std::env::temp_dir),
        &name,
    ));
    let mut g = TaskGraph::with_capacity(inputs.len() + 1 + m as usize);
    let split_name = format!("{name}-split");
    let split_keys: Vec<Key> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let key = Key::with_index(split_name.as_str(), &[i as u32]);
            let (split, dir) = (split.clone(), dir.clone());
            let op = FnOp::arc("shuffle-split", move |mut args: Vec<Value>| {
                let part = args.pop().ok_or("shuffle split takes one partition")?;
                let pieces = split(i, part, m)?;
                if pieces.len() != m as usize {
                    return Err(format!(
                        "split returned {} pieces for {m} output partitions",
                        pieces.len()
                    )
                    .into());
                }
                let index = dir.write_pieces(i, pieces)?;
                Ok(Value::sized(index, 64 + 32 * m as usize))
            });
            g.insert(key.clone(), Task::new(op, vec![Arg::Key(input.clone())]));
            key
        })
        .collect();
    let barrier = Key::new(format!("{name}-barrier"));
    let gather = FnOp::arc("shuffle-barrier", |args: Vec<Value>| {
        let mut files = Vec::with_capacity(args.len());
        for a in args {
            files.push(a.downcast_ref::<FileIndex>()?.clone());
        }
        let nbytes = 64 * files.len();
        Ok(Value::sized(Arc::new(files), nbytes))
    });
    g.insert(
        barrier.clone(),
        Task::new(gather, split_keys.into_iter().map(Arg::Key).collect()),
    );
    let outputs = (0..m)
        .map(|j| {
            let key = Key::with_index(name.as_str(), &[j]);
            let combine = combine.clone();
            let op: Arc<dyn Op> = FnOp::arc("shuffle-combine", move |args: Vec<Value>| {
                let files = args[0].downcast_ref::<Arc<Vec<FileIndex>>>()?.clone();
                drop(args);
                let pieces = files.iter().map(|f| f.piece(j as usize)).collect();
                drop(files);
                combine(pieces)
            });
            g.insert(key.clone(), Task::new(op, vec![Arg::Key(barrier.clone())]));
            key
        })
        .collect();
    (g, outputs)
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
    fn piece(&self, j: usize) -> Value {
        let p = &self.ranges[j];
        Value::lazy(
            Arc::new(PieceSource {
                file: self.file.clone(),
                offset: p.offset,
                len: p.len,
                checksum: p.checksum,
                output: j,
            }),
            &p.meta,
        )
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
