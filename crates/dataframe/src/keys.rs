//! Key columns as the shuffle sees them: which output partition a row goes
//! to, by a hash of its key columns (join, `group_by` with `split_out`) or
//! by where its sort key falls between boundaries (sort, `set_index`).
//!
//! The hash is foldhash's quality hasher with a fixed seed over each key's
//! physical value, so the partition of a key is the same in every process
//! of one build, and equal keys of two frames (a join's sides, which must
//! have the same key types) land in the same partition. Integers of every
//! width hash as `i64` (`u64` as itself), floats by their bits with `-0.0`
//! as `0.0` and one NaN, null as its own value.
//!
//! Sort keys compare in polars' order: floats totally with every NaN above
//! every number, and nulls after everything (they always go to the last
//! partition: nulls last).

use std::cmp::Ordering;
use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use polars::prelude::{self as pl, DataType, NamedFrom, PolarsResult, Series, polars_bail};
use serde::{Deserialize, Serialize};

/// Seed of the hash that picks a row's output partition.
const SEED: u64 = 0x6f78_6964_6173_6b64;

/// Whether a column of this type can be a hash key.
pub(crate) fn hashable(dtype: &DataType) -> bool {
    let phys = dtype.to_physical();
    phys.is_integer() || phys.is_float() || matches!(phys, DataType::String | DataType::Boolean)
}

/// Whether a column of this type can be a sort key.
pub(crate) fn sortable(dtype: &DataType) -> bool {
    hashable(dtype)
}

fn canon(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// The hash of each row's key columns.
pub(crate) fn hash_rows(df: &pl::DataFrame, keys: &[String]) -> PolarsResult<Vec<u64>> {
    let st = FixedState::with_seed(SEED);
    let mut h = vec![0u64; df.height()];
    for k in keys {
        let s = df.column(k)?.as_materialized_series().to_physical_repr();
        let s = s.as_ref();
        let dt = s.dtype().clone();
        if dt == DataType::UInt64 {
            for (hi, v) in h.iter_mut().zip(s.u64()?.iter()) {
                *hi = st.hash_one((*hi, v));
            }
        } else if dt.is_integer() {
            let s = s.cast(&DataType::Int64)?;
            for (hi, v) in h.iter_mut().zip(s.i64()?.iter()) {
                *hi = st.hash_one((*hi, v));
            }
        } else if dt.is_float() {
            let s = s.cast(&DataType::Float64)?;
            for (hi, v) in h.iter_mut().zip(s.f64()?.iter()) {
                *hi = st.hash_one((*hi, v.map(canon)));
            }
        } else if dt == DataType::String {
            for (hi, v) in h.iter_mut().zip(s.str()?.iter()) {
                *hi = st.hash_one((*hi, v));
            }
        } else if dt == DataType::Boolean {
            for (hi, v) in h.iter_mut().zip(s.bool()?.iter()) {
                *hi = st.hash_one((*hi, v));
            }
        } else {
            polars_bail!(InvalidOperation: "cannot hash key column {:?} of type {}", k, dt);
        }
    }
    Ok(h)
}

/// Output partition (of `m`) of each row, by the hash of its keys:
/// multiply-shift of the hash, no modulo bias.
pub(crate) fn hash_buckets(df: &pl::DataFrame, keys: &[String], m: u32) -> PolarsResult<Vec<u32>> {
    Ok(hash_rows(df, keys)?
        .into_iter()
        .map(|h| ((u128::from(h) * u128::from(m)) >> 64) as u32)
        .collect())
}

/// Values of a sort key, in its physical type: what boundaries are made
/// of, and what travels in a range split's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum SortValues {
    /// Every integer type but `u64`, dates and times.
    Int(Vec<i64>),
    /// `u64`.
    UInt(Vec<u64>),
    /// `f32`, `f64`.
    Float(Vec<f64>),
    /// Strings.
    Str(Vec<String>),
    /// Booleans.
    Bool(Vec<bool>),
}

fn fcmp(a: f64, b: f64) -> Ordering {
    f64::from_bits(canon(a)).total_cmp(&f64::from_bits(canon(b)))
}

impl SortValues {
    /// The non-null values of a (physical or logical) series.
    pub(crate) fn of(s: &Series) -> PolarsResult<SortValues> {
        let s = s.to_physical_repr();
        let dt = s.dtype().clone();
        Ok(if dt == DataType::UInt64 {
            SortValues::UInt(s.u64()?.iter().flatten().collect())
        } else if dt.is_integer() {
            let s = s.cast(&DataType::Int64)?;
            SortValues::Int(s.i64()?.iter().flatten().collect())
        } else if dt.is_float() {
            let s = s.cast(&DataType::Float64)?;
            SortValues::Float(s.f64()?.iter().flatten().collect())
        } else if dt == DataType::String {
            SortValues::Str(s.str()?.iter().flatten().map(String::from).collect())
        } else if dt == DataType::Boolean {
            SortValues::Bool(s.bool()?.iter().flatten().collect())
        } else {
            polars_bail!(InvalidOperation: "cannot sort by a column of type {}", dt)
        })
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            SortValues::Int(v) => v.len(),
            SortValues::UInt(v) => v.len(),
            SortValues::Float(v) => v.len(),
            SortValues::Str(v) => v.len(),
            SortValues::Bool(v) => v.len(),
        }
    }

    fn cmp_at(&self, a: usize, b: usize) -> Ordering {
        match self {
            SortValues::Int(v) => v[a].cmp(&v[b]),
            SortValues::UInt(v) => v[a].cmp(&v[b]),
            SortValues::Float(v) => fcmp(v[a], v[b]),
            SortValues::Str(v) => v[a].cmp(&v[b]),
            SortValues::Bool(v) => v[a].cmp(&v[b]),
        }
    }

    fn pick(&self, idx: &[usize]) -> SortValues {
        match self {
            SortValues::Int(v) => SortValues::Int(idx.iter().map(|&i| v[i]).collect()),
            SortValues::UInt(v) => SortValues::UInt(idx.iter().map(|&i| v[i]).collect()),
            SortValues::Float(v) => SortValues::Float(idx.iter().map(|&i| v[i]).collect()),
            SortValues::Str(v) => SortValues::Str(idx.iter().map(|&i| v[i].clone()).collect()),
            SortValues::Bool(v) => SortValues::Bool(idx.iter().map(|&i| v[i]).collect()),
        }
    }

    /// A series of these values, cast to the key's logical type.
    pub(crate) fn to_series(&self, name: &str, dtype: &DataType) -> PolarsResult<Series> {
        let name = pl::PlSmallStr::from(name);
        let s = match self {
            SortValues::Int(v) => Series::new(name, v.as_slice()),
            SortValues::UInt(v) => Series::new(name, v.as_slice()),
            SortValues::Float(v) => Series::new(name, v.as_slice()),
            SortValues::Str(v) => Series::new(name, v.as_slice()),
            SortValues::Bool(v) => Series::new(name, v.as_slice()),
        };
        s.cast(dtype)
    }

    /// `m − 1` boundaries splitting weighted samples into `m` parts of
    /// about equal weight, ascending (descending when `descending`),
    /// without repeats; and the smallest and largest sample. `None`
    /// without samples.
    pub(crate) fn boundaries(
        &self,
        weights: &[f64],
        m: usize,
        descending: bool,
    ) -> Option<(SortValues, SortValues)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.cmp_at(a, b));
        let total: f64 = weights.iter().sum();
        let mut picks = Vec::with_capacity(m.saturating_sub(1));
        let (mut acc, mut at) = (0.0, 0usize);
        for k in 1..m {
            let target = total * k as f64 / m as f64;
            while at < n - 1 && acc + weights[order[at]] <= target {
                acc += weights[order[at]];
                at += 1;
            }
            picks.push(order[at]);
        }
        // No repeats, and none equal to the smallest: each would only make
        // an empty partition.
        let (lo, hi) = (order[0], order[n - 1]);
        let mut kept: Vec<usize> = Vec::with_capacity(picks.len());
        for p in picks {
            let last = kept.last().copied().unwrap_or(lo);
            if self.cmp_at(p, last) == Ordering::Greater {
                kept.push(p);
            }
        }
        if descending {
            kept.reverse();
        }
        Some((self.pick(&kept), self.pick(&[lo, hi])))
    }

    /// Output partition (of `len() + 1`) of each row of `s` under these
    /// boundaries: ascending, partition `j` holds keys in `[b_j, b_{j+1})`;
    /// descending (boundaries descending), in `[b_{j+1}, b_j)`. Nulls go
    /// to the last partition.
    pub(crate) fn buckets(&self, s: &Series, descending: bool) -> PolarsResult<Vec<u32>> {
        let last = self.len() as u32;
        let s = s.to_physical_repr();
        fn place<T>(
            values: impl Iterator<Item = Option<T>>,
            bounds: &[T],
            last: u32,
            desc: bool,
            cmp: impl Fn(&T, &T) -> Ordering,
        ) -> Vec<u32> {
            values
                .map(|v| match v {
                    None => last,
                    Some(v) if desc => {
                        bounds.partition_point(|b| cmp(b, &v) == Ordering::Greater) as u32
                    }
                    Some(v) => bounds.partition_point(|b| cmp(b, &v) != Ordering::Greater) as u32,
                })
                .collect()
        }
        Ok(match self {
            SortValues::UInt(b) => place(s.u64()?.iter(), b, last, descending, u64::cmp),
            SortValues::Int(b) => {
                let s = s.cast(&DataType::Int64)?;
                place(s.i64()?.iter(), b, last, descending, i64::cmp)
            }
            SortValues::Float(b) => {
                let s = s.cast(&DataType::Float64)?;
                place(s.f64()?.iter(), b, last, descending, |a, b| fcmp(*a, *b))
            }
            SortValues::Str(b) => {
                let b: Vec<&str> = b.iter().map(String::as_str).collect();
                place(s.str()?.iter(), &b, last, descending, |a, b| a.cmp(b))
            }
            SortValues::Bool(b) => place(s.bool()?.iter(), b, last, descending, bool::cmp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_of_either_width_hash_alike_and_buckets_spread() {
        let a = pl::df!("k" => [1i64, 2, 3, 4]).unwrap();
        let b = pl::df!("j" => [1i64, 2, 3, 4]).unwrap();
        assert_eq!(
            hash_rows(&a, &["k".into()]).unwrap(),
            hash_rows(&b, &["j".into()]).unwrap()
        );
        let many = pl::df!("k" => (0..7000i64).collect::<Vec<_>>()).unwrap();
        let mut counts = [0usize; 7];
        for b in hash_buckets(&many, &["k".into()], 7).unwrap() {
            counts[b as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        let f = pl::df!("x" => [0.0f64, -0.0, f64::NAN, -f64::NAN]).unwrap();
        let h = hash_rows(&f, &["x".into()]).unwrap();
        assert_eq!((h[0], h[2]), (h[1], h[3]));
    }

    #[test]
    fn boundaries_split_by_weight_and_place_rows() {
        let v = SortValues::Int((0..100).rev().collect());
        let (b, ends) = v.boundaries(&[1.0; 100], 4, false).unwrap();
        assert_eq!(b, SortValues::Int(vec![25, 50, 75]));
        assert_eq!(ends, SortValues::Int(vec![0, 99]));
        let s = Series::new(
            "k".into(),
            [Some(24i32), Some(25), None, Some(99), Some(-5)],
        );
        assert_eq!(b.buckets(&s, false).unwrap(), vec![0, 1, 3, 3, 0]);
        let (d, _) = v.boundaries(&[1.0; 100], 4, true).unwrap();
        assert_eq!(d, SortValues::Int(vec![75, 50, 25]));
        assert_eq!(d.buckets(&s, true).unwrap(), vec![3, 2, 3, 0, 3]);
        // Few distinct values: repeats are dropped.
        let few = SortValues::Str(vec!["a".into(); 10]);
        let (b, _) = few.boundaries(&[1.0; 10], 5, false).unwrap();
        assert_eq!(b.len(), 0);
        assert!(SortValues::Bool(vec![]).boundaries(&[], 3, false).is_none());
    }
}
