//! Push pipelines of records, and the record-wise stages a registered
//! function builds on one.
//!
//! A collection of records (a bag) runs a partition as a *push pipeline*: a
//! source pushes each record into a sink, and each step is a sink that
//! pushes its outputs on — no intermediate vector between steps. Locally a
//! bag builds these pipelines from closures. To rebuild one in another
//! process from a description (a list of steps naming registered
//! functions), each step must be made with its record types known at
//! compile time: a registry cannot list generic instances. So
//! `#[oxidask::remote]` instantiates the stage functions below for the
//! function's own argument and result types, at the function's definition
//! ([`PerRecord`](crate::remote::PerRecord)); the decoding side hands each
//! one the pipeline so far as an [`ErasedFeed`] and gets the extended one
//! back. Type erasure happens once per partition op, not per record.

use std::any::{Any, type_name};
use std::sync::Arc;

use crate::error::OpError;
use crate::value::Value;

/// Where a record goes next: the rest of the pipeline.
pub type Push<'a, T> = &'a mut dyn FnMut(T) -> Result<(), OpError>;

/// A partition's pipeline: pushes the records of partition `i`, made from
/// the partition's base value, into a sink.
pub type PushFeed<T> = dyn Fn(u32, Value, Push<'_, T>) -> Result<(), OpError> + Send + Sync;

/// A [`PushFeed`] of a record type known only at run time.
pub struct ErasedFeed {
    feed: Box<dyn Any + Send + Sync>,
    record: &'static str,
}

impl ErasedFeed {
    /// Erases a feed of `T` records.
    pub fn new<T: 'static>(feed: Arc<PushFeed<T>>) -> ErasedFeed {
        ErasedFeed {
            feed: Box::new(feed),
            record: type_name::<T>(),
        }
    }

    /// The record type's name.
    pub fn record(&self) -> &'static str {
        self.record
    }

    /// The feed as a feed of `T`; an error naming both types if it is not.
    pub fn typed<T: 'static>(self) -> Result<Arc<PushFeed<T>>, String> {
        let record = self.record;
        self.feed
            .downcast::<Arc<PushFeed<T>>>()
            .map(|f| *f)
            .map_err(|_| {
                format!(
                    "a step takes records of type {} but the pipeline before it yields {record}",
                    type_name::<T>()
                )
            })
    }
}

/// Runs a user function on record `j` of partition `i`; a panic becomes an
/// error naming the function and the record instead of a task panic.
fn guarded<R>(name: &str, i: u32, j: usize, f: impl FnOnce() -> R) -> Result<R, OpError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        format!("record {j} of partition {i}: {name} panicked: {message}").into()
    })
}

/// Extends `prev` with a step pushing `f(x)` for every record `x`.
pub fn map_stage<A: 'static, R: 'static>(
    prev: ErasedFeed,
    name: &'static str,
    f: fn(A) -> R,
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<A>()?;
    let feed: Arc<PushFeed<R>> = Arc::new(move |i, base, sink| {
        let mut j = 0usize;
        prev(i, base, &mut |x| {
            let y = guarded(name, i, j, || f(x))?;
            j += 1;
            sink(y)
        })
    });
    Ok(ErasedFeed::new(feed))
}

/// Extends `prev` with a step keeping the records for which `f` is true.
pub fn filter_stage<A: 'static>(
    prev: ErasedFeed,
    name: &'static str,
    f: fn(&A) -> bool,
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<A>()?;
    let feed: Arc<PushFeed<A>> = Arc::new(move |i, base, sink| {
        let mut j = 0usize;
        prev(i, base, &mut |x| {
            let keep = guarded(name, i, j, || f(&x))?;
            j += 1;
            if keep { sink(x) } else { Ok(()) }
        })
    });
    Ok(ErasedFeed::new(feed))
}

/// Extends `prev` with a step pushing every item of `f(x)`.
pub fn flat_map_stage<A: 'static, U: 'static>(
    prev: ErasedFeed,
    name: &'static str,
    f: fn(A) -> Vec<U>,
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<A>()?;
    let feed: Arc<PushFeed<U>> = Arc::new(move |i, base, sink| {
        let mut j = 0usize;
        prev(i, base, &mut |x| {
            let ys = guarded(name, i, j, || f(x))?;
            j += 1;
            ys.into_iter().try_for_each(&mut *sink)
        })
    });
    Ok(ErasedFeed::new(feed))
}

/// Extends `prev` with a step replacing the whole partition by `f(records)`.
pub fn partition_stage<A: 'static, U: 'static>(
    prev: ErasedFeed,
    name: &'static str,
    f: fn(Vec<A>) -> Vec<U>,
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<A>()?;
    let feed: Arc<PushFeed<U>> = Arc::new(move |i, base, sink| {
        let mut all = Vec::new();
        prev(i, base, &mut |x| {
            all.push(x);
            Ok(())
        })?;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(all)))
            .map_err(|_| format!("partition {i}: {name} panicked"))?;
        out.into_iter().try_for_each(&mut *sink)
    });
    Ok(ErasedFeed::new(feed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ErasedFeed {
        let feed: Arc<PushFeed<i64>> =
            Arc::new(|i, _, sink| (0..4).try_for_each(|x| sink(x + i64::from(i))));
        ErasedFeed::new(feed)
    }

    fn collect<T: 'static>(feed: ErasedFeed, i: u32) -> Result<Vec<T>, OpError> {
        let f = feed.typed::<T>().unwrap();
        let mut out = Vec::new();
        f(i, Value::new(0u32), &mut |x| {
            out.push(x);
            Ok(())
        })?;
        Ok(out)
    }

    fn double(x: i64) -> i64 {
        x * 2
    }
    fn odd(x: &i64) -> bool {
        x % 2 == 1
    }
    fn twice(x: i64) -> Vec<i64> {
        vec![x, x]
    }
    fn boom(x: i64) -> i64 {
        if x == 2 { panic!("two") } else { x }
    }
    fn len(s: String) -> usize {
        s.len()
    }
    fn sum(xs: Vec<i64>) -> Vec<i64> {
        vec![xs.iter().sum()]
    }

    #[test]
    fn stages_compose_like_plain_loops() {
        let f = map_stage(source(), "double", double).unwrap();
        let f = filter_stage(flat_map_stage(f, "twice", twice).unwrap(), "odd", odd).unwrap();
        assert!(
            collect::<i64>(f, 0).unwrap().is_empty(),
            "all doubled are even"
        );
        let f = flat_map_stage(source(), "twice", twice).unwrap();
        assert_eq!(collect::<i64>(f, 1).unwrap(), vec![1, 1, 2, 2, 3, 3, 4, 4]);
        let f = partition_stage(source(), "sum", sum).unwrap();
        assert_eq!(collect::<i64>(f, 1).unwrap(), vec![10]);
    }

    #[test]
    fn a_wrong_record_type_and_a_panic_are_errors_naming_them() {
        let e = map_stage(source(), "len", len).err().unwrap();
        assert!(
            e.contains("alloc::string::String") && e.contains("i64"),
            "{e}"
        );
        let f = map_stage(source(), "boom", boom).unwrap();
        let e = collect::<i64>(f, 0).unwrap_err().to_string();
        assert!(
            e.contains("record 2 of partition 0") && e.contains("boom panicked: two"),
            "{e}"
        );
    }
}
