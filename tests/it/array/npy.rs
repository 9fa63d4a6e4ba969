//! `.npy` interop checked against the real thing: files NumPy wrote
//! (`tests/fixtures/npy/dtype`, made by `make_fixtures.py` there) read by
//! oxidask, and files oxidask wrote read by [`parse`], a plain header parser
//! written here from the format's description — not the crate's reader.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use oxidask::array::{self as da, Reduce, ndarray};
use oxidask::prelude::*;

pub(super) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/npy")
        .join(rel)
}

/// A `.npy` file taken apart: what the header says, and the data bytes.
#[derive(Debug)]
pub(super) struct Npy {
    pub version: (u8, u8),
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    pub header_len: usize,
    pub data: Vec<u8>,
}

/// Parses a `.npy` file by the format's description (magic, version, a
/// little-endian header length, a Python dict literal padded with spaces
/// and ended by a newline, then the raw data).
pub(super) fn parse(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: magic", path.display());
    let version = (bytes[6], bytes[7]);
    let (hlen, start) = match version.0 {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).expect("ASCII header");
    assert!(
        header.ends_with('\n'),
        "header ends with a newline: {header:?}"
    );
    let dict = header.trim_end();
    assert!(dict.starts_with('{') && dict.ends_with('}'), "{dict:?}");
    let value_of = |key: &str| -> &str {
        let at = dict
            .find(&format!("'{key}':"))
            .unwrap_or_else(|| panic!("no {key} in {dict}"));
        dict[at + key.len() + 3..].trim_start()
    };
    let descr = value_of("descr");
    let descr = descr[1..descr[1..].find('\'').unwrap() + 1].to_string();
    let fortran_order = value_of("fortran_order").starts_with("True");
    let shape_s = value_of("shape");
    let shape_s = &shape_s[1..shape_s.find(')').unwrap()];
    let shape = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    Npy {
        version,
        descr,
        fortran_order,
        shape,
        header_len: start + hlen,
        data: bytes[start + hlen..].to_vec(),
    }
}

impl Npy {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The data as values, decoding each element by hand.
    pub fn values<T>(&self, width: usize, get: impl Fn(&[u8]) -> T) -> ArrayD<T> {
        assert!(!self.fortran_order);
        assert_eq!(self.data.len(), self.len() * width, "data length");
        let v: Vec<T> = self.data.chunks_exact(width).map(get).collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).unwrap()
    }

    pub fn f64s(&self) -> ArrayD<f64> {
        assert_eq!(self.descr, "<f8");
        self.values(8, |b| f64::from_le_bytes(b.try_into().unwrap()))
    }

    pub fn i64s(&self) -> ArrayD<i64> {
        assert_eq!(self.descr, "<i8");
        self.values(8, |b| i64::from_le_bytes(b.try_into().unwrap()))
    }

    pub fn bools(&self) -> ArrayD<bool> {
        assert_eq!(self.descr, "|b1");
        self.values(1, |b| match b[0] {
            0 => false,
            1 => true,
            v => panic!("bool byte {v}"),
        })
    }
}

/// Element k (row-major) of each dtype fixture, as `make_fixtures.py`
/// computes it.
fn formula<T>(shape: &[usize], f: impl Fn(i64) -> T) -> ArrayD<T> {
    let mut k = -1i64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k += 1;
        f(k)
    })
}

const SHAPE: [usize; 3] = [3, 4, 5];

fn chunkings() -> Vec<da::Chunks> {
    vec![
        da::Chunks::full(),
        da::Chunks::from(2),
        da::Chunks::from(vec![vec![1, 2], vec![3, 1], vec![5]]),
        da::Chunks::from(vec![vec![3], vec![1, 1, 2], vec![2, 0, 3]]),
    ]
}

/// Reads a NumPy-written fixture with every chunking; checks it against
/// the formula and the plain parser, and a full (streamed) reduction.
fn check_fixture<T: da::Element + std::fmt::Debug>(
    name: &str,
    expect: ArrayD<T>,
    plain: ArrayD<T>,
) {
    assert_eq!(
        plain, expect,
        "{name}: the plain parser disagrees with the formula"
    );
    for chunks in chunkings() {
        let x = da::from_npy::<T>(fixture(&format!("dtype/{name}.npy")), chunks.clone()).unwrap();
        assert_eq!(x.shape(), &SHAPE);
        assert_eq!(x.compute().unwrap(), expect, "{name} {chunks:?}");
        let any = x.any().compute().unwrap();
        assert_eq!(any, expect.iter().any(|v| v.is_true()), "{name} {chunks:?}");
    }
}

#[test]
fn numpy_written_files_of_every_dtype_read_back() {
    let f8 = formula(&SHAPE, |k| k as f64 * 0.5 - 7.25);
    check_fixture("f8", f8.clone(), parse(&fixture("dtype/f8.npy")).f64s());
    let f4 = formula(&SHAPE, |k| k as f32 * 0.25 - 3.5);
    let plain = parse(&fixture("dtype/f4.npy"));
    assert_eq!(plain.descr, "<f4");
    check_fixture(
        "f4",
        f4.clone(),
        plain.values(4, |b| f32::from_le_bytes(b.try_into().unwrap())),
    );
    let i8 = formula(&SHAPE, |k| (k * 7919) % 1000 - 500 + (k % 2) * (1 << 40));
    check_fixture("i8", i8.clone(), parse(&fixture("dtype/i8.npy")).i64s());
    let i4 = formula(&SHAPE, |k| (11 - 3 * k) as i32);
    let plain = parse(&fixture("dtype/i4.npy"));
    assert_eq!(plain.descr, "<i4");
    check_fixture(
        "i4",
        i4.clone(),
        plain.values(4, |b| i32::from_le_bytes(b.try_into().unwrap())),
    );
    let u1 = formula(&SHAPE, |k| ((k * 37) % 256) as u8);
    let plain = parse(&fixture("dtype/u1.npy"));
    assert_eq!(plain.descr, "|u1");
    check_fixture("u1", u1.clone(), plain.values(1, |b| b[0]));
    let b1 = formula(&SHAPE, |k| k % 3 == 0);
    check_fixture("b1", b1, parse(&fixture("dtype/b1.npy")).bools());

    // Streamed full reductions over NumPy's bytes, against plain sums.
    let sync = ComputeOptions::new().scheduler(SchedulerChoice::Sync);
    let x = da::from_npy::<f64>(fixture("dtype/f8.npy"), 2).unwrap();
    assert_eq!(x.sum().compute_with(&sync).unwrap(), f8.iter().sum::<f64>());
    let x = da::from_npy::<i64>(fixture("dtype/i8.npy"), [1, 4, 5]).unwrap();
    assert_eq!(x.sum().compute().unwrap(), i8.iter().sum::<i64>());
    assert_eq!(x.argmax().compute().unwrap(), {
        let v: Vec<i64> = i8.iter().copied().collect();
        let mut best = 0;
        for (i, &a) in v.iter().enumerate() {
            if a > v[best] {
                best = i;
            }
        }
        best as i64
    });
    let x = da::from_npy::<u8>(fixture("dtype/u1.npy"), 3).unwrap();
    // NumPy sums uint8 in uint64.
    assert_eq!(
        x.sum().compute().unwrap(),
        u1.iter().map(|&v| v as u64).sum::<u64>()
    );
    let x = da::from_npy::<f32>(fixture("dtype/f4.npy"), [2, 2, 2]).unwrap();
    let m = x
        .max_with(&Reduce::axes(&[-1, 0]))
        .unwrap()
        .compute()
        .unwrap();
    for (j, got) in m.iter().enumerate() {
        let mut e = f32::MIN;
        for i in 0..3 {
            for k in 0..5 {
                e = e.max(f4[[i, j, k]]);
            }
        }
        assert_eq!(*got, e);
    }
    let x = da::from_npy::<i32>(fixture("dtype/i4.npy"), 4).unwrap();
    assert_eq!(x.min().compute().unwrap(), *i4.iter().min().unwrap());
}

#[test]
fn numpy_written_0d_and_empty_arrays_read_back() {
    let p = parse(&fixture("dtype/zero_d.npy"));
    assert!(p.shape.is_empty());
    assert_eq!(p.f64s().into_raw_vec_and_offset().0, vec![3.5]);
    let x = da::from_npy::<f64>(fixture("dtype/zero_d.npy"), 4).unwrap();
    assert_eq!(x.shape(), &[] as &[usize]);
    assert_eq!(x.compute().unwrap(), ArrayD::from_elem(IxDyn(&[]), 3.5));
    assert_eq!(x.sum().compute().unwrap(), 3.5);

    let p = parse(&fixture("dtype/empty.npy"));
    assert_eq!(p.shape, vec![0, 3]);
    assert!(p.data.is_empty());
    let x = da::from_npy::<f64>(fixture("dtype/empty.npy"), 2).unwrap();
    assert_eq!(x.shape(), &[0, 3]);
    assert_eq!(x.compute().unwrap().shape(), &[0, 3]);
    assert_eq!(x.sum().compute().unwrap(), 0.0);
    assert!(
        x.max_with(&Reduce::all()).is_err(),
        "max of nothing has no identity"
    );
}

#[test]
fn numpy_files_oxidask_cannot_read_are_errors_naming_the_file() {
    for (name, why) in [("big_endian", ">f8"), ("fortran", "Fortran")] {
        let p = parse(&fixture(&format!("dtype/{name}.npy")));
        assert_eq!(p.shape, SHAPE.to_vec(), "{name}");
        let e = da::from_npy::<f64>(fixture(&format!("dtype/{name}.npy")), 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{name}.npy")) && e.contains(why),
            "{name}: {e}"
        );
    }
    let e = da::from_npy::<i64>(fixture("dtype/f8.npy"), 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("f8.npy") && e.contains("<f8") && e.contains("int64"),
        "{e}"
    );
}

/// Writes `a` with oxidask in the given chunks and parses the file by hand.
fn written<T: da::Element>(a: &ArrayD<T>, chunks: impl Into<da::Chunks>, name: &str) -> Npy {
    let dir = oxidask_testing::TempDir::new("npyw");
    let path = dir.join(format!("{name}.npy"));
    da::from_array(a.clone(), chunks)
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let p = parse(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(p.version, (1, 0), "{name}");
    assert_eq!(p.header_len % 64, 0, "{name}: data aligned to 64 bytes");
    assert!(!p.fortran_order, "{name}");
    assert_eq!(p.shape, a.shape().to_vec(), "{name}");
    p
}

#[test]
fn files_oxidask_writes_parse_with_a_plain_header_parser() {
    let f8 = formula(&SHAPE, |k| k as f64 * 0.5 - 7.25);
    let p = written(&f8, [2, 3, 2], "f8");
    assert_eq!(p.f64s(), f8);
    let i8 = formula(&SHAPE, |k| k * -3 + (1 << 40));
    assert_eq!(written(&i8, [1, 4, 5], "i8").i64s(), i8);
    let b1 = formula(&SHAPE, |k| k % 4 == 1);
    assert_eq!(written(&b1, 3, "b1").bools(), b1);
    let f4 = formula(&[7, 3], |k| k as f32 / 3.0);
    let p = written(&f4, [2, 2], "f4");
    assert_eq!(p.descr, "<f4");
    assert_eq!(
        p.values(4, |b| f32::from_le_bytes(b.try_into().unwrap())),
        f4
    );
    let i4 = formula(&[9], |k| (k * k - 40) as i32);
    let p = written(&i4, 4, "i4");
    assert_eq!(p.descr, "<i4");
    assert_eq!(
        p.values(4, |b| i32::from_le_bytes(b.try_into().unwrap())),
        i4
    );
    let u1 = formula(&[2, 2, 2, 2], |k| (k * 17) as u8);
    let p = written(&u1, 1, "u1");
    assert_eq!(p.descr, "|u1");
    assert_eq!(p.values(1, |b| b[0]), u1);
    // 0-d, empty, and one block larger than a streaming piece (split
    // unevenly across blocks).
    let z = ArrayD::from_elem(IxDyn(&[]), -2.5f64);
    assert_eq!(written(&z, da::Chunks::full(), "zero_d").f64s(), z);
    let e = ArrayD::<f64>::zeros(IxDyn(&[4, 0, 2]));
    let p = written(&e, 2, "empty");
    assert!(p.data.is_empty());
    assert_eq!(p.f64s(), e);
    let big = formula(&[30_001], |k| (k % 977) as f64 - 0.5);
    assert_eq!(written(&big, 12_289, "big").f64s(), big);
}
