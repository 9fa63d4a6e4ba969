//! Source arrays as data: what a source's blocks are ([`SourceSpec`]) and
//! the op that makes them ([`SourceOp`]).
//!
//! A spec is a formula (random draws from a seed, a range, a constant), a
//! file (`.npy`: path, data offset, shape), or the in-memory data itself;
//! with the grid it says what every block holds. The op is shared by all
//! tasks of the layer and each task passes only its block index, so the
//! spec is written once per graph however many blocks there are. The same
//! spec is the streaming source of a full reduction (see the `stream`
//! module): a process that decoded it can stream the blocks too.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, IxDyn};
use oxidask_graph::{Op, OpError, Value};
use rand::Rng;
use rand_distr::{Distribution, Uniform};
use serde::{Deserialize, Serialize};

use crate::element::{DType, Element, Number, Real, with_dtype};
use crate::expr::chunk_value;
use crate::grid::{Grid, ravel};
use crate::stream::{Fill, Filler, OpenFill, PIECE, Reader, Stream, Visit, fill_block};

/// What a source array's blocks hold, as data (see the module docs).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
pub(crate) enum SourceSpec<T> {
    /// Standard normals (`f64`), block `b` from `random::block_rng(seed, b)`.
    Normal { seed: u64 },
    /// Uniform `f64` in `[low, high)`.
    Uniform { low: f64, high: f64, seed: u64 },
    /// Uniform `i64` in `[low, high)`.
    Integers { low: i64, high: i64, seed: u64 },
    /// Every element `value`.
    Full { value: T },
    /// `start + i * step`.
    Arange { start: T, step: T },
    /// `num` values from `start` to `stop`.
    Linspace {
        start: T,
        stop: T,
        num: usize,
        endpoint: bool,
    },
    /// The elements of an in-memory array, row-major, with its shape.
    Array(InMemory<T>),
    /// A `.npy` file: its C-order data starts at byte `data`.
    Npy {
        path: PathBuf,
        data: u64,
        shape: Vec<usize>,
    },
    /// A directory of `.npy` files, one per block along `axis`.
    NpyStack {
        axis: usize,
        files: Vec<(PathBuf, u64)>,
    },
}

/// In-memory data: shared, and written as shape and row-major elements.
#[derive(Clone)]
pub(crate) struct InMemory<T>(pub Arc<ArrayD<T>>);

impl<T: Element> Serialize for InMemory<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = &self.0;
        let elems: Vec<T> = match a.as_slice() {
            Some(x) => x.to_vec(),
            None => a.iter().copied().collect(),
        };
        (a.shape(), elems).serialize(s)
    }
}

impl<'de, T: Element> Deserialize<'de> for InMemory<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (shape, elems) = <(Vec<usize>, Vec<T>)>::deserialize(d)?;
        ArrayD::from_shape_vec(IxDyn(&shape), elems)
            .map(|a| InMemory(Arc::new(a)))
            .map_err(serde::de::Error::custom)
    }
}

/// A whole block from a spec.
type BlockFn<T> = Arc<dyn Fn(&Grid, &[u32]) -> Result<ArrayD<T>, OpError> + Send + Sync>;

/// A spec made runnable: its block and piece fillers.
pub(crate) struct Runnable<T: Element> {
    pub block: BlockFn<T>,
    pub open: OpenFill<T>,
    /// In-memory data: pieces of a block without copying.
    pub visit: Option<Visit<T>>,
}

/// `o` (made for `U`s) boxed to be taken back as made for `T`s by
/// [`cast_back`], when `T` is `U` (checked by dtype): how a spec whose
/// element type is fixed (normals are `f64`) or bounded (`arange` needs
/// numbers) reaches the generic `T` of its array.
fn same<T: Element, U: Element, X: Any>(o: X) -> Result<Box<dyn Any>, String> {
    if T::DTYPE != U::DTYPE {
        return Err(format!("a source of {} read as {}", U::DTYPE, T::DTYPE));
    }
    Ok(Box::new(o))
}

fn cast_back<T: Element, X: Any>(b: Box<dyn Any>) -> Result<X, String> {
    b.downcast::<X>()
        .map(|x| *x)
        .map_err(|_| format!("internal: a source filler is not of {}", T::DTYPE))
}

/// Draws from `dist`, block `b` from `random::block_rng(seed, b)`.
fn sampled<D: Distribution<U> + Copy + Send + Sync + 'static, U: Element>(
    seed: u64,
    dist: D,
) -> OpenFill<U> {
    Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<U> {
        let mut rng = crate::random::block_rng(seed, ravel(idx, &g.numblocks()));
        Box::new(move |out: &mut Vec<U>, len: usize| {
            out.extend((0..len).map(|_| rng.sample(dist)));
            Ok(())
        })
    })
}

/// Standard normals through `random::normals`' tight loop (not
/// [`sampled`]: the ziggurat sampler inlines into it).
fn normals(seed: u64) -> OpenFill<f64> {
    Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<f64> {
        let mut rng = crate::random::block_rng(seed, ravel(idx, &g.numblocks()));
        Box::new(move |out: &mut Vec<f64>, len: usize| {
            crate::random::normals(&mut rng, out, len);
            Ok(())
        })
    })
}

/// The fillers of the formula sources whose element types are bounded
/// (`arange` needs numbers, `linspace` floats), per concrete type.
trait Formulas: Element {
    fn arange(start: Self, step: Self) -> Result<OpenFill<Self>, String>;
    fn linspace(
        start: Self,
        stop: Self,
        num: usize,
        endpoint: bool,
    ) -> Result<OpenFill<Self>, String>;
}

fn arange_fill<T: Number>(start: T, step: T) -> OpenFill<T> {
    Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<T> {
        let mut k = g.block_start(idx)[0];
        Box::new(move |out: &mut Vec<T>, len: usize| {
            out.extend((k..k + len).map(|i| start.add((i as i64).cast::<T>().mul(step))));
            k += len;
            Ok(())
        })
    })
}

fn linspace_fill<T: Real>(start: T, stop: T, num: usize, endpoint: bool) -> OpenFill<T> {
    let div = if endpoint { num.saturating_sub(1) } else { num };
    let step = if div > 0 {
        (stop - start) / T::from_f64(div as f64)
    } else {
        <T as Number>::zero()
    };
    Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<T> {
        let mut lo = g.block_start(idx)[0];
        Box::new(move |out: &mut Vec<T>, len: usize| {
            out.extend((lo..lo + len).map(|k| {
                if endpoint && k + 1 == num && num > 1 {
                    stop
                } else {
                    start + T::from_f64(k as f64) * step
                }
            }));
            lo += len;
            Ok(())
        })
    })
}

macro_rules! formulas {
    (real: $($r:ty),*; int: $($i:ty),*) => {
        $(impl Formulas for $r {
            fn arange(start: $r, step: $r) -> Result<OpenFill<$r>, String> {
                Ok(arange_fill(start, step))
            }
            fn linspace(start: $r, stop: $r, num: usize, endpoint: bool) -> Result<OpenFill<$r>, String> {
                Ok(linspace_fill(start, stop, num, endpoint))
            }
        })*
        $(impl Formulas for $i {
            fn arange(start: $i, step: $i) -> Result<OpenFill<$i>, String> {
                Ok(arange_fill(start, step))
            }
            fn linspace(_: $i, _: $i, _: usize, _: bool) -> Result<OpenFill<$i>, String> {
                Err(format!("linspace of {}", <$i as Element>::DTYPE))
            }
        })*
    };
}

formulas!(real: f64, f32; int: i64, i32, i16, i8, u64, u32, u16, u8);

impl Formulas for bool {
    fn arange(_: bool, _: bool) -> Result<OpenFill<bool>, String> {
        Err("arange of bool".into())
    }
    fn linspace(_: bool, _: bool, _: usize, _: bool) -> Result<OpenFill<bool>, String> {
        Err("linspace of bool".into())
    }
}

impl<T: Element> SourceSpec<T> {
    /// The block and piece fillers of this spec; an error for a spec that
    /// names a type it cannot make (only from corrupt bytes).
    pub fn runnable(&self) -> Result<Runnable<T>, String> {
        let open: OpenFill<T> = match self.clone() {
            SourceSpec::Normal { seed } => cast_back::<T, _>(same::<T, f64, _>(normals(seed))?)?,
            SourceSpec::Uniform { low, high, seed } => {
                let d = Uniform::new(low, high).map_err(|e| e.to_string())?;
                cast_back::<T, _>(same::<T, f64, _>(sampled(seed, d))?)?
            }
            SourceSpec::Integers { low, high, seed } => {
                let d = Uniform::new(low, high).map_err(|e| e.to_string())?;
                cast_back::<T, _>(same::<T, i64, _>(sampled(seed, d))?)?
            }
            SourceSpec::Full { value } => Arc::new(move |_: &Grid, _: &[u32]| -> Fill<T> {
                Box::new(move |out: &mut Vec<T>, len: usize| {
                    out.extend(std::iter::repeat_n(value, len));
                    Ok(())
                })
            }),
            SourceSpec::Arange { start, step } => with_dtype!(T::DTYPE, U => {
                let o = <U as Formulas>::arange(start.cast::<U>(), step.cast::<U>())?;
                cast_back::<T, _>(same::<T, U, _>(o)?)?
            }),
            SourceSpec::Linspace {
                start,
                stop,
                num,
                endpoint,
            } => with_dtype!(T::DTYPE, U => {
                let o = <U as Formulas>::linspace(start.cast::<U>(), stop.cast::<U>(), num, endpoint)?;
                cast_back::<T, _>(same::<T, U, _>(o)?)?
            }),
            SourceSpec::Array(InMemory(data)) => {
                let block: BlockFn<T> = {
                    let d = data.clone();
                    Arc::new(move |g, idx| Ok(d.slice(block_slice(g, idx).as_slice()).to_owned()))
                };
                return Ok(Runnable {
                    block,
                    open: array_open(data.clone()),
                    visit: Some(array_visit(data)),
                });
            }
            SourceSpec::Npy { path, data, shape } => {
                let path = Arc::new(path);
                let (p, s) = (path.clone(), shape.clone());
                return Ok(Runnable {
                    block: Arc::new(move |g, idx| crate::npy::npy_block(&p, data, &s, g, idx)),
                    open: Arc::new(move |g, idx| crate::npy::npy_open(&path, data, &shape, g, idx)),
                    visit: None,
                });
            }
            SourceSpec::NpyStack { axis, files } => {
                let files = Arc::new(files);
                let f = files.clone();
                return Ok(Runnable {
                    block: Arc::new(move |g, idx| {
                        let (path, data) = &f[idx[axis] as usize];
                        crate::npy::npy_stack_block(path, *data, g, idx)
                    }),
                    open: Arc::new(move |_, idx| {
                        let (path, data) = files[idx[axis] as usize].clone();
                        crate::npy::npy_stack_open(path, data)
                    }),
                    visit: None,
                });
            }
        };
        let o = open.clone();
        Ok(Runnable {
            block: Arc::new(move |g, idx| fill_block(&*o, g, idx)),
            open,
            visit: None,
        })
    }
}

pub(crate) fn block_slice(grid: &Grid, idx: &[u32]) -> Vec<ndarray::SliceInfoElem> {
    let start = grid.block_start(idx);
    let shape = grid.block_shape(idx);
    start
        .iter()
        .zip(&shape)
        .map(|(&s, &n)| ndarray::SliceInfoElem::from(s..s + n))
        .collect()
}

fn array_open<T: Element>(d: Arc<ArrayD<T>>) -> OpenFill<T> {
    Arc::new(move |g: &Grid, idx: &[u32]| -> Fill<T> {
        let (data, info, mut pos) = (d.clone(), block_slice(g, idx), 0);
        Box::new(move |out: &mut Vec<T>, len: usize| {
            let v = data.slice(info.as_slice());
            match v.as_slice() {
                Some(s) => out.extend_from_slice(&s[pos..pos + len]),
                None => out.extend(v.iter().skip(pos).take(len).copied()),
            }
            pos += len;
            Ok(())
        })
    })
}

fn array_visit<T: Element>(d: Arc<ArrayD<T>>) -> Visit<T> {
    Arc::new(move |g, idx, f| {
        let v = d.slice(block_slice(g, idx).as_slice());
        let mut buf = Vec::new();
        let xs = match v.as_slice() {
            Some(s) => s,
            None => {
                buf.extend(v.iter().copied());
                &buf[..]
            }
        };
        for (k, piece) in xs.chunks(PIECE).enumerate() {
            f(ArrayView1::from(piece), k * PIECE);
        }
        if xs.is_empty() {
            f(ArrayView1::from(xs), 0);
        }
    })
}

/// A source ready to run: its spec, grid and fillers. The op of a source
/// layer (argument: the block index) and the stream of its blocks.
pub(crate) struct SourceOp<T: Element> {
    wire: SourceWire<T>,
    grid: Arc<Grid>,
    run: Runnable<T>,
}

/// What a [`SourceOp`] writes to bytes.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "T: Element")]
struct SourceWire<T> {
    label: String,
    #[serde(with = "crate::wire::runs")]
    chunks: Vec<Vec<usize>>,
    spec: SourceSpec<T>,
}

/// The registry name of [`SourceOp`].
pub(crate) const SOURCE_OP: &str = "oxidask.array.source";

impl<T: Element> SourceOp<T> {
    /// The op making the blocks of `spec` on `grid`, shown as `label`.
    pub fn new(label: &str, spec: SourceSpec<T>, grid: Arc<Grid>) -> Result<SourceOp<T>, String> {
        let run = spec.runnable()?;
        Ok(SourceOp {
            wire: SourceWire {
                label: label.to_string(),
                chunks: grid.chunks.clone(),
                spec,
            },
            grid,
            run,
        })
    }

    /// In-memory data's pieces, uncopied.
    pub fn visit(&self) -> Option<Visit<T>> {
        self.run.visit.clone()
    }
}

impl<T: Element> Op for SourceOp<T> {
    fn name(&self) -> &str {
        SOURCE_OP
    }

    fn label(&self) -> &str {
        &self.wire.label
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        let idx = args
            .first()
            .ok_or("a source task needs its block index")?
            .downcast_ref::<Vec<u32>>()?;
        Ok(chunk_value((self.run.block)(&self.grid, idx)?))
    }

    fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_stdvec(&(T::DTYPE, &self.wire)).ok()
    }
}

impl<T: Element> Stream for SourceOp<T> {
    fn open(&self, idx: &[u32]) -> Box<dyn Reader> {
        Filler {
            grid: self.grid.clone(),
            open: self.run.open.clone(),
        }
        .open(idx)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Op::encode(self)
    }

    fn visit(&self) -> Option<Box<dyn Any + Send + Sync>> {
        self.run
            .visit
            .clone()
            .map(|v| Box::new(v) as Box<dyn Any + Send + Sync>)
    }
}

/// A source op from the bytes [`SourceOp::encode`] wrote.
pub(crate) fn decode_source<T: Element>(bytes: &[u8]) -> Result<SourceOp<T>, String> {
    let (_, wire): (DType, SourceWire<T>) =
        postcard::from_bytes(bytes).map_err(|e| format!("parameters of {SOURCE_OP}: {e}"))?;
    let grid = Arc::new(Grid::new(wire.chunks.clone()));
    let run = wire.spec.runnable()?;
    Ok(SourceOp { wire, grid, run })
}

fn dtype_of(bytes: &[u8]) -> Result<DType, String> {
    postcard::take_from_bytes::<DType>(bytes)
        .map(|(d, _)| d)
        .map_err(|e| format!("parameters of {SOURCE_OP}: {e}"))
}

fn decode_source_op(bytes: &[u8]) -> Result<Arc<dyn Op>, String> {
    with_dtype!(dtype_of(bytes)?, T => Ok(Arc::new(decode_source::<T>(bytes)?) as Arc<dyn Op>))
}

/// A streaming source from the bytes its [`Stream::encode`] wrote.
pub(crate) fn decode_stream(bytes: &[u8]) -> Result<Arc<dyn Stream>, String> {
    with_dtype!(dtype_of(bytes)?, T => Ok(Arc::new(decode_source::<T>(bytes)?) as Arc<dyn Stream>))
}

oxidask_graph::register_op!(SOURCE_OP, decode_source_op);
