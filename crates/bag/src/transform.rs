//! Record-wise and partition-wise transforms: each extends the bag's
//! pipeline (see the `bag` module), so a chain of them runs record by record
//! inside one task per partition, with nothing stored in between.

use std::fmt::Display;

use oxidask_graph::{Tokenizer, unique_token};

use std::sync::Arc;

use crate::bag::{Bag, Feed, FeedFn, Origin, Record, Stop, describe, layer_name};
use crate::error::Error;
use crate::pipeline::{Step, remote_step};

/// Runs a user function on record `j` of partition `i`; a panic becomes an
/// error naming the record (its `file:line` when known), as a `try_map`
/// error would, instead of an anonymous task panic.
pub(crate) fn guarded<R>(
    origin: Option<&Origin>,
    i: u32,
    j: usize,
    f: impl FnOnce() -> R,
) -> Result<R, oxidask_graph::OpError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_string()
        };
        Error::Record {
            record: describe(origin, i, j),
            message: format!("panicked: {message}"),
        }
        .into()
    })
}

/// A tokenizer seeded with a fresh unique token: the layer of a closure is
/// a new computation every time it is built.
fn closure_token() -> Tokenizer {
    let mut t = Tokenizer::new();
    t.add(&unique_token());
    t
}

/// A registered function's step is named by the function (the same step on
/// the same records is the same computation); a closure's uniquely.
fn step_token(step: &Option<Step>) -> Tokenizer {
    match step {
        Some(s) => {
            let mut t = Tokenizer::new();
            t.add(&format!("{s:?}"));
            t
        }
        None => closure_token(),
    }
}

impl<T: Record> Bag<T> {
    /// Applies `f` to every record. With `f` a `#[oxidask::remote]`
    /// function the step is data (the bag's graph can leave the process);
    /// a closure runs here only.
    pub fn map<U: Record, F: Fn(T) -> U + Send + Sync + 'static>(&self, f: F) -> Bag<U> {
        let step = remote_step::<F>(|p| p.map, Step::Map);
        let name = layer_name("map", &self.chain, step_token(&step));
        let origin = self.origin.clone();
        self.then(name, "map", self.origin.clone(), move |i, j, x, sink| {
            sink(guarded(origin.as_ref(), i, j, || f(x))?)
        })
        .described(self, step)
    }

    /// Applies a fallible `f` to every record; the first error fails the
    /// computation with the record's `file:line` (when the bag was read from
    /// files and records are still in place) or its position, and `f`'s
    /// message. Data when `f` is a `#[oxidask::remote] fn(T) -> Result<U, E>`.
    pub fn try_map<U: Record, E: Display, F: Fn(T) -> Result<U, E> + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> Bag<U> {
        let step = remote_step::<F>(|p| p.map, Step::Map).map(|s| match s {
            Step::Map(f) => Step::TryMap {
                f,
                output: std::any::type_name::<U>().to_string(),
            },
            other => other,
        });
        let name = layer_name("try-map", &self.chain, step_token(&step));
        let origin = self.origin.clone();
        self.then(
            name,
            "try-map",
            self.origin.clone(),
            move |i, j, x, sink| match guarded(origin.as_ref(), i, j, || f(x))? {
                Ok(y) => sink(y),
                Err(e) => Err(Error::Record {
                    record: describe(origin.as_ref(), i, j),
                    message: e.to_string(),
                }
                .into()),
            },
        )
        .described(self, step)
    }

    /// Keeps the records for which `pred` is true (data when `pred` is a
    /// `#[oxidask::remote] fn(&T) -> bool`).
    pub fn filter<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, pred: F) -> Bag<T> {
        let step = remote_step::<F>(|p| p.filter, Step::Filter);
        let name = layer_name("filter", &self.chain, step_token(&step));
        let origin = self.origin.clone();
        self.then(name, "filter", None, move |i, j, x, sink| {
            if guarded(origin.as_ref(), i, j, || pred(&x))? {
                sink(x)
            } else {
                Ok(())
            }
        })
        .described(self, step)
    }

    /// Drops the records for which `pred` is true (the opposite of `filter`;
    /// data when `pred` is a `#[oxidask::remote] fn(&T) -> bool`).
    pub fn remove<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, pred: F) -> Bag<T> {
        let step = remote_step::<F>(|p| p.filter, Step::Remove);
        let name = layer_name("remove", &self.chain, step_token(&step));
        let origin = self.origin.clone();
        self.then(name, "remove", None, move |i, j, x, sink| {
            if guarded(origin.as_ref(), i, j, || pred(&x))? {
                Ok(())
            } else {
                sink(x)
            }
        })
        .described(self, step)
    }

    /// Replaces every record by the items `f` returns for it (any number;
    /// data when `f` is a `#[oxidask::remote] fn(T) -> Vec<U>`).
    pub fn flat_map<U: Record, I: IntoIterator<Item = U>, F: Fn(T) -> I + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> Bag<U> {
        let step = remote_step::<F>(|p| p.flat_map, Step::FlatMap);
        let name = layer_name("flat-map", &self.chain, step_token(&step));
        let origin = self.origin.clone();
        self.then(name, "flat-map", None, move |i, j, x, sink| {
            for y in guarded(origin.as_ref(), i, j, || f(x))? {
                sink(y)?;
            }
            Ok(())
        })
        .described(self, step)
    }

    /// Applies `f` to whole partitions: `f` gets the records of one
    /// partition and returns the records of the new one (data when `f` is
    /// a `#[oxidask::remote] fn(Vec<T>) -> Vec<U>`).
    pub fn map_partitions<U: Record, F: Fn(Vec<T>) -> Vec<U> + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> Bag<U> {
        let step = remote_step::<F>(|p| p.partition, Step::Partition);
        let name = layer_name("map-partitions", &self.chain, step_token(&step));
        self.then_partition(name, "map-partitions", None, move |_, v| Ok(f(v)))
            .described(self, step)
    }

    /// [`map_partitions`](Bag::map_partitions) with a fallible `f`; an error
    /// fails the computation naming the partition. Data when `f` is a
    /// `#[oxidask::remote] fn(Vec<T>) -> Result<Vec<U>, E>`.
    pub fn try_map_partitions<U: Record, E: Display, F>(&self, f: F) -> Bag<U>
    where
        F: Fn(Vec<T>) -> Result<Vec<U>, E> + Send + Sync + 'static,
    {
        let step = remote_step::<F>(|p| p.map, Step::Map).map(|s| match s {
            Step::Map(f) => Step::TryPartition {
                f,
                output: std::any::type_name::<U>().to_string(),
            },
            other => other,
        });
        let name = layer_name("map-partitions", &self.chain, step_token(&step));
        self.then_partition(name, "map-partitions", None, move |i, v| {
            f(v).map_err(|e| {
                Error::Record {
                    record: format!("partition {i}"),
                    message: e.to_string(),
                }
                .into()
            })
        })
        .described(self, step)
    }

    /// Keeps the first `n` records of each partition (a building block of
    /// [`take`](Bag::take); deterministic, so it is named by `n`). The
    /// pipeline stops after the `n`-th record: the rest of the partition is
    /// not parsed.
    pub(crate) fn head_per_partition(&self, n: usize) -> Bag<T> {
        let mut t = Tokenizer::new();
        t.add(&n);
        let name = layer_name("head", &self.chain, t);
        self.with_feed(
            name,
            "head",
            self.origin.clone(),
            head_feed(self.feed.clone(), n),
        )
        .described(self, Some(Step::Head(n as u64)))
    }
}

/// `prev` cut to its first `n` records per partition; the rest of the
/// partition is not produced.
pub(crate) fn head_feed<T: Record>(prev: Feed<T>, n: usize) -> Arc<FeedFn<T>> {
    Arc::new(move |i, base, sink| {
        let mut left = n;
        if left == 0 {
            return Ok(());
        }
        let run = prev.run(i, base, &mut |x| {
            sink(x)?;
            left -= 1;
            if left == 0 { Err(Stop.into()) } else { Ok(()) }
        });
        match run {
            Err(e) if e.is::<Stop>() => Ok(()),
            other => other,
        }
    })
}

impl<T, U> Bag<T>
where
    T: Record + IntoIterator<Item = U>,
    U: Record,
{
    /// Concatenates the items of every record: a bag of `Vec<U>` becomes a
    /// bag of `U`. Data when the records are `Vec<U>` (other iterables run
    /// here only).
    pub fn flatten(&self) -> Bag<U> {
        let mut t = Tokenizer::new();
        t.add("flatten");
        let name = layer_name("flatten", &self.chain, t);
        let step = (std::any::TypeId::of::<T>() == std::any::TypeId::of::<Vec<U>>()).then(|| {
            Step::Flatten {
                output: std::any::type_name::<U>().to_string(),
            }
        });
        self.then(name, "flatten", None, |_, _, x, sink| {
            for y in x {
                sink(y)?;
            }
            Ok(())
        })
        .described(self, step)
    }
}
