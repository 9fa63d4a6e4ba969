//! `pluck`: a field or element of every record, by key, index or nested path.
//!
//! Untyped JSON records (`serde_json::Value`) take any path of keys and
//! indices; maps with string keys take one key and vectors one index. (A
//! typed struct needs no pluck: `map(|p| p.name)` says the same with the
//! compiler checking the field.)

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use oxidask_graph::push::ErasedFeed;
use oxidask_graph::{OpError, Tokenizer};
use serde_json::Value as Json;

use crate::bag::{Bag, Feed, Origin, Record, Sink, chain, describe, layer_name, val};
use crate::error::Error;
use crate::pipeline;

/// One step of a [`PluckPath`]: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Step {
    /// An object's field.
    Key(String),
    /// An array's element (0-based).
    Index(usize),
}

impl From<&str> for Step {
    fn from(k: &str) -> Step {
        Step::Key(k.to_string())
    }
}

impl From<String> for Step {
    fn from(k: String) -> Step {
        Step::Key(k)
    }
}

impl From<usize> for Step {
    fn from(i: usize) -> Step {
        Step::Index(i)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(k) => write!(f, "[{k:?}]"),
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Where [`Bag::pluck`] looks: one key (`"name"`), one index (`0`), or a
/// nested path (`["address", "city"]`, or `vec![Step::from("tags"), 0.into()]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PluckPath(pub Vec<Step>);

impl fmt::Display for PluckPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0 {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl From<&str> for PluckPath {
    fn from(k: &str) -> PluckPath {
        PluckPath(vec![k.into()])
    }
}

impl From<String> for PluckPath {
    fn from(k: String) -> PluckPath {
        PluckPath(vec![k.into()])
    }
}

impl From<usize> for PluckPath {
    fn from(i: usize) -> PluckPath {
        PluckPath(vec![i.into()])
    }
}

impl<const N: usize> From<[&str; N]> for PluckPath {
    fn from(keys: [&str; N]) -> PluckPath {
        PluckPath(keys.iter().map(|&k| k.into()).collect())
    }
}

impl From<Vec<Step>> for PluckPath {
    fn from(steps: Vec<Step>) -> PluckPath {
        PluckPath(steps)
    }
}

/// Records `pluck` can look into; see the module docs.
pub trait Pluck: Record {
    /// What a path finds.
    type Output: Record;

    /// Moves the value at `path` out of the record, or says which step
    /// failed and why.
    fn pluck(self, path: &PluckPath) -> Result<Self::Output, String>;

    /// A copy of the value at `path`, the record left whole (for plucking
    /// several paths of one record). By default the record is cloned and
    /// plucked; types that can look without cloning the rest override it.
    fn pluck_ref(&self, path: &PluckPath) -> Result<Self::Output, String> {
        self.clone().pluck(path)
    }
}

impl Pluck for Json {
    type Output = Json;

    fn pluck(self, path: &PluckPath) -> Result<Json, String> {
        let mut v = self;
        for step in &path.0 {
            v = match (step, v) {
                (Step::Key(k), Json::Object(mut m)) => m
                    .remove(k.as_str())
                    .ok_or_else(|| format!("key {k:?} not found"))?,
                (Step::Index(i), Json::Array(mut a)) => {
                    if *i >= a.len() {
                        return Err(format!("index {i} out of range (length {})", a.len()));
                    }
                    a.swap_remove(*i)
                }
                // As Python's `s[i]`: the character at position i.
                (Step::Index(i), Json::String(s)) => Json::String(char_at(&s, *i)?),
                (Step::Key(k), other) => {
                    return Err(format!(
                        "key {k:?} not found: {} is not an object",
                        kind(&other)
                    ));
                }
                (Step::Index(i), other) => {
                    return Err(format!(
                        "index {i} not found: {} is not an array",
                        kind(&other)
                    ));
                }
            };
        }
        Ok(v)
    }

    fn pluck_ref(&self, path: &PluckPath) -> Result<Json, String> {
        pluck_json_ref(self, path)
    }
}

/// The value at `path` of a borrowed JSON record: only it is cloned.
fn pluck_json_ref(record: &Json, path: &PluckPath) -> Result<Json, String> {
    let mut v = record;
    for (n, step) in path.0.iter().enumerate() {
        v = match (step, v) {
            (Step::Key(k), Json::Object(m)) => m
                .get(k.as_str())
                .ok_or_else(|| format!("key {k:?} not found"))?,
            (Step::Index(i), Json::Array(a)) => a
                .get(*i)
                .ok_or_else(|| format!("index {i} out of range (length {})", a.len()))?,
            // A string's character, or the error: the owned pluck of the rest.
            (_, other) => return other.clone().pluck(&PluckPath(path.0[n..].to_vec())),
        };
    }
    Ok(v.clone())
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn single(path: &PluckPath) -> Result<&Step, String> {
    match path.0.as_slice() {
        [s] => Ok(s),
        _ => Err(format!(
            "a path of {} steps needs nested records (serde_json::Value); this record type takes one step",
            path.0.len()
        )),
    }
}

/// Character `i` of `s` (a code point, as Python indexes strings).
fn char_at(s: &str, i: usize) -> Result<String, String> {
    s.chars().nth(i).map(String::from).ok_or_else(|| {
        format!(
            "index {i} out of range (a string of {} characters)",
            s.chars().count()
        )
    })
}

/// Plucking an index from a string gives its character, as `s[i]` does in
/// Python (`db.from_sequence(["ab"]).pluck(1)` is `["b"]` in Dask).
impl Pluck for String {
    type Output = String;

    fn pluck(self, path: &PluckPath) -> Result<String, String> {
        match single(path)? {
            Step::Index(i) => char_at(&self, *i),
            Step::Key(k) => Err(format!("key {k:?} not found: a string has only indices")),
        }
    }
}

impl<V: Record> Pluck for Vec<V> {
    type Output = V;

    fn pluck(mut self, path: &PluckPath) -> Result<V, String> {
        match single(path)? {
            Step::Index(i) if *i < self.len() => Ok(self.swap_remove(*i)),
            Step::Index(i) => Err(format!("index {i} out of range (length {})", self.len())),
            Step::Key(k) => Err(format!("key {k:?} not found: a vector has only indices")),
        }
    }
}

impl<V: Record, S: BuildHasher + Default + Clone + Send + Sync + 'static> Pluck
    for HashMap<String, V, S>
where
    HashMap<String, V, S>: Record,
{
    type Output = V;

    fn pluck(mut self, path: &PluckPath) -> Result<V, String> {
        match single(path)? {
            Step::Key(k) => self.remove(k).ok_or_else(|| format!("key {k:?} not found")),
            Step::Index(i) => Err(format!("index {i} not found: a map has only keys")),
        }
    }
}

impl<V: Record> Pluck for BTreeMap<String, V> {
    type Output = V;

    fn pluck(mut self, path: &PluckPath) -> Result<V, String> {
        match single(path)? {
            Step::Key(k) => self.remove(k).ok_or_else(|| format!("key {k:?} not found")),
            Step::Index(i) => Err(format!("index {i} not found: a map has only keys")),
        }
    }
}

impl<T: Pluck> Bag<T> {
    /// The value at `path` in every record, like `dask.bag.pluck`: a key
    /// (`"name"`), an index (`0`) or a nested path (`["address", "city"]`).
    ///
    /// A record without that value fails the computation with an error
    /// naming the path, the step that failed, and the record's `file:line`
    /// (for bags read from files, while records are still in place) or its
    /// position; use [`pluck_or`](Bag::pluck_or) for a default instead.
    pub fn pluck(&self, path: impl Into<PluckPath>) -> Bag<T::Output> {
        self.pluck_impl(path.into(), None)
    }

    /// Like [`pluck`](Bag::pluck), with `default` for records that lack the
    /// value.
    pub fn pluck_or(&self, path: impl Into<PluckPath>, default: T::Output) -> Bag<T::Output> {
        self.pluck_impl(path.into(), Some(default))
    }

    /// The values at several keys (or indices, or paths) of every record,
    /// as Dask's `pluck([k1, k2])` gives tuples: `pluck_many(["name",
    /// "age"])` turns `{"name": "Ann", "age": 3}` into `["Ann", 3]`. (A
    /// Rust array of keys is one nested path for [`pluck`](Bag::pluck), so
    /// the list form has its own name.) A record missing one of them fails
    /// the computation naming that key and the record.
    pub fn pluck_many<P: Into<PluckPath>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Bag<Vec<T::Output>> {
        let paths: Vec<PluckPath> = paths.into_iter().map(Into::into).collect();
        let mut t = Tokenizer::new();
        t.add(&(paths.len() as u64));
        for p in &paths {
            tokenize_path(&mut t, p);
        }
        let name = layer_name("pluck-many", &self.chain, t);
        // Untyped JSON records pluck as data.
        let described =
            (std::any::TypeId::of::<T>() == std::any::TypeId::of::<Json>()).then(|| {
                pipeline::Step::PluckMany {
                    paths: paths.iter().map(|p| p.0.clone()).collect(),
                }
            });
        let origin = self.origin.clone();
        self.then(
            name,
            "pluck-many",
            self.origin.clone(),
            pluck_many_step::<T>(paths, origin),
        )
        .described(self, described)
    }

    fn pluck_impl(&self, path: PluckPath, default: Option<T::Output>) -> Bag<T::Output> {
        let mut t = Tokenizer::new();
        tokenize_path(&mut t, &path);
        // The default is part of the computation: name it by its encoding.
        if let Some(d) = &default {
            let mut bytes = Vec::new();
            if val(d.clone()).encode(&mut bytes).is_ok() {
                t.write_bytes(&bytes);
            }
        }
        let name = layer_name("pluck", &self.chain, t);
        // Untyped JSON records pluck as data (the default as JSON text).
        let described = (std::any::TypeId::of::<T>() == std::any::TypeId::of::<Json>())
            .then(|| {
                let default = match &default {
                    Some(d) => Some(serde_json::to_string(d).ok()?),
                    None => None,
                };
                Some(pipeline::Step::Pluck {
                    path: path.0.clone(),
                    default,
                })
            })
            .flatten();
        let origin = self.origin.clone();
        self.then(
            name,
            "pluck",
            self.origin.clone(),
            pluck_step::<T>(path, default, origin),
        )
        .described(self, described)
    }
}

/// Writes a path's steps into a token.
fn tokenize_path(t: &mut Tokenizer, path: &PluckPath) {
    for s in &path.0 {
        match s {
            Step::Key(k) => t.add(&0u8).add(k),
            Step::Index(i) => t.add(&1u8).add(i),
        };
    }
}

/// What `pluck_many` makes of a record.
type Plucked<T> = Vec<<T as Pluck>::Output>;

/// The step of `pluck_many`: the values at `paths` of each record, else an
/// error naming the first path it lacks and the record.
fn pluck_many_step<T: Pluck>(
    paths: Vec<PluckPath>,
    origin: Option<Origin>,
) -> impl Fn(u32, usize, T, Sink<'_, Plucked<T>>) -> Result<(), OpError> + Send + Sync + 'static {
    move |i, j, r, sink| {
        let mut out = Vec::with_capacity(paths.len());
        for path in &paths {
            match r.pluck_ref(path) {
                Ok(x) => out.push(x),
                Err(reason) => {
                    return Err(Error::Pluck {
                        path: path.to_string(),
                        reason,
                        record: describe(origin.as_ref(), i, j),
                    }
                    .into());
                }
            }
        }
        sink(out)
    }
}

/// Extends a decoded pipeline of JSON records with a `pluck_many`.
pub(crate) fn pluck_many_json_stage(
    prev: ErasedFeed,
    paths: &[Vec<Step>],
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<Json>()?;
    let paths = paths.iter().map(|p| PluckPath(p.clone())).collect();
    let step = pluck_many_step::<Json>(paths, None);
    Ok(ErasedFeed::new(chain(Feed::Chain(prev), step)))
}

/// The pluck step: the value at `path` of each record, `default` when it
/// has none, else an error naming the record.
fn pluck_step<T: Pluck>(
    path: PluckPath,
    default: Option<T::Output>,
    origin: Option<Origin>,
) -> impl Fn(u32, usize, T, Sink<'_, T::Output>) -> Result<(), OpError> + Send + Sync + 'static {
    move |i, j, r, sink| match (r.pluck(&path), &default) {
        (Ok(x), _) => sink(x),
        (Err(_), Some(d)) => sink(d.clone()),
        (Err(reason), None) => Err(Error::Pluck {
            path: path.to_string(),
            reason,
            record: describe(origin.as_ref(), i, j),
        }
        .into()),
    }
}

/// Extends a decoded pipeline of JSON records with a pluck (the same step
/// the local bag runs).
pub(crate) fn pluck_json_stage(
    prev: ErasedFeed,
    path: &[Step],
    default: Option<&str>,
) -> Result<ErasedFeed, String> {
    let prev = prev.typed::<Json>()?;
    let default = match default {
        Some(text) => Some(serde_json::from_str::<Json>(text).map_err(|e| e.to_string())?),
        None => None,
    };
    let step = pluck_step::<Json>(PluckPath(path.to_vec()), default, None);
    Ok(ErasedFeed::new(chain(Feed::Chain(prev), step)))
}
