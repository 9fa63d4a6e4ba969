//! User functions registered by name, so graphs that call them can leave the
//! process.
//!
//! A closure cannot be written to bytes. A plain function marked
//! `#[oxidask::remote]` is entered, at link time, in a registry of
//! [`RemoteFn`]s under its path (`my_crate::io::load_file`), with a wrapper
//! that takes its arguments from task values and wraps its result. A
//! collection given such a function (a `delayed!` call, `map_blocks`, …)
//! finds it here by the function's type ([`lookup_by_type`]) and puts a
//! [`CallRemote`] op in its graph: the op encodes as the function's name
//! and decodes, in another process of the same program, to the same
//! function.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::error::OpError;
use crate::op::{Op, OpDecoder};
use crate::value::Value;

/// Calls a registered function with task argument values.
pub type CallFn = fn(Vec<Value>) -> Result<Value, OpError>;

/// A function registered with `#[oxidask::remote]` (entries are made by the
/// macro; there is no need to write one by hand).
pub struct RemoteFn {
    /// The function's path, `module_path!()::name`: its registry name.
    pub name: &'static str,
    /// The `TypeId` of the function item's type: how a collection given the
    /// function as a generic `F` finds its entry.
    pub type_id: fn() -> TypeId,
    /// Takes the arguments out of values (checking their types) and wraps
    /// the result.
    pub call: CallFn,
    /// For a function of one argument: the record-wise steps it can be
    /// (`Bag::map`, `filter`, …), instantiated for its own types.
    pub per_record: Option<PerRecord>,
}

/// Extends a pipeline with a step calling the function (see [`crate::push`]).
pub type StageFn = fn(crate::push::ErasedFeed) -> Result<crate::push::ErasedFeed, String>;

/// The record-wise forms of a registered function of one argument, built
/// by `#[oxidask::remote]` for the function's own argument and result types
/// so that a pipeline of steps naming it can be rebuilt from bytes. A form
/// the function's signature does not fit is `None`.
pub struct PerRecord {
    /// `fn(A) -> R`: a map step.
    pub map: Option<StageFn>,
    /// `fn(&A) -> bool`: a filter step.
    pub filter: Option<StageFn>,
    /// `fn(A) -> Vec<U>`: a flat-map step.
    pub flat_map: Option<StageFn>,
    /// `fn(Vec<A>) -> Vec<U>`: a whole-partition step.
    pub partition: Option<StageFn>,
    /// The function as a pointer of its own signature (`fn(A) -> R`, or
    /// `fn(&A) -> R`), for collections that look it up with the types
    /// they expect (e.g. a sort key of a known record type).
    pub pointer: fn() -> Box<dyn Any + Send + Sync>,
}

inventory::collect!(RemoteFn);

struct Registry {
    by_type: HashMap<TypeId, &'static RemoteFn>,
    by_name: HashMap<&'static str, &'static RemoteFn>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry {
            by_type: HashMap::new(),
            by_name: HashMap::new(),
        };
        for f in inventory::iter::<RemoteFn> {
            r.by_type.insert((f.type_id)(), f);
            r.by_name.insert(f.name, f);
        }
        r
    })
}

/// The registered function whose item type is `F`, if `F` is one.
pub fn lookup_by_type<F: 'static>() -> Option<&'static RemoteFn> {
    registry().by_type.get(&TypeId::of::<F>()).copied()
}

/// The registered function of this path.
pub fn lookup(name: &str) -> Option<&'static RemoteFn> {
    registry().by_name.get(name).copied()
}

/// The `TypeId` of a value's type; the macro applies it to a function item.
#[doc(hidden)]
pub fn type_id_of<F: 'static>(_: &F) -> TypeId {
    TypeId::of::<F>()
}

/// A registered function's result on its way into a [`Value`]: with its
/// real size when its type implements [`DataSize`](crate::DataSize) (and
/// its registered codec, if any), else an error. The macro picks the
/// first that applies by method resolution (`WrapSized` before `WrapAny`),
/// so a record type needs no `DataSize` to be returned from a map; called
/// as a task of its own, such a function fails naming the type instead of
/// storing a value of unknown size.
#[doc(hidden)]
pub struct Wrap<T>(pub std::cell::Cell<Option<T>>);

impl<T> Wrap<T> {
    /// Wraps a result.
    pub fn new(value: T) -> Wrap<T> {
        Wrap(std::cell::Cell::new(Some(value)))
    }
}

/// See [`Wrap`].
#[doc(hidden)]
pub trait WrapSized {
    /// The result as a value of its real size.
    fn wrap_value(&self) -> Result<Value, OpError>;
}

impl<T: Any + Send + Sync + crate::DataSize> WrapSized for Wrap<T> {
    fn wrap_value(&self) -> Result<Value, OpError> {
        Ok(match self.0.take() {
            Some(v) => Value::new(v),
            None => Value::new(()),
        })
    }
}

/// See [`Wrap`].
#[doc(hidden)]
pub trait WrapAny {
    /// An error: a result without a real size cannot be a task's value
    /// (the memory limit would count it wrong).
    fn wrap_value(&self) -> Result<Value, OpError>;
}

impl<T: Any + Send + Sync> WrapAny for &Wrap<T> {
    fn wrap_value(&self) -> Result<Value, OpError> {
        Err(format!(
            "the function returns a {}, which does not implement DataSize, so it cannot be a \
             task's result (the memory limit needs its real size): derive DataSize for it \
             (#[derive(oxidask::DataSize)]); record-wise uses (Bag::map, filter) do not need it",
            std::any::type_name::<T>()
        )
        .into())
    }
}

/// Takes argument `i` of function `f` as a `T`, naming both on a mismatch.
#[doc(hidden)]
pub fn take_arg<T: Any + Send + Sync + Clone>(
    v: Option<Value>,
    i: usize,
    f: &str,
) -> Result<T, OpError> {
    let v = v.ok_or_else(|| format!("{f} takes more arguments than the task has"))?;
    let found = v.type_name();
    v.take::<T>().map_err(|e| match e {
        crate::Error::TypeMismatch { .. } => crate::Error::TypeMismatch {
            expected: std::any::type_name::<T>(),
            found,
            context: format!("argument {} of {f}", i + 1),
        }
        .into(),
        other => format!("argument {} of {f}: {other}", i + 1).into(),
    })
}

/// How to gather task values into a `Vec<T>`, for a `T` some registered
/// function takes a list of (`#[remote] fn total(xs: Vec<f64>)`): the macro
/// enters one per such argument, so a list of delayed values passed to it is
/// a [`GatherList`] op that can leave the process.
pub struct ListOf {
    /// `std::any::type_name::<T>()`: the entry's registry name.
    pub type_name: fn() -> &'static str,
    /// `TypeId::of::<T>()`.
    pub type_id: fn() -> TypeId,
    /// Takes every argument as a `T` and returns the `Vec<T>`.
    pub gather: CallFn,
}

inventory::collect!(ListOf);

/// List entries by element type and by element type name.
type Lists = (
    HashMap<TypeId, &'static ListOf>,
    HashMap<&'static str, &'static ListOf>,
);

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let mut by_type = HashMap::new();
        let mut by_name = HashMap::new();
        for l in inventory::iter::<ListOf> {
            by_type.insert((l.type_id)(), l);
            by_name.insert((l.type_name)(), l);
        }
        (by_type, by_name)
    })
}

/// Gathers values into a list: [`take_arg`] on each, collected.
#[doc(hidden)]
pub fn gather<T: Any + Send + Sync + Clone + crate::DataSize>(
    args: Vec<Value>,
) -> Result<Value, OpError> {
    let mut out = Vec::with_capacity(args.len());
    for (i, v) in args.into_iter().enumerate() {
        out.push(take_arg::<T>(Some(v), i, "list")?);
    }
    Ok(Value::new(out))
}

/// A task gathering its arguments into a `Vec<T>` for a registered `T`.
#[derive(Clone, Copy)]
pub struct GatherList {
    list: &'static ListOf,
}

impl GatherList {
    /// The registry name of this op.
    pub const NAME: &'static str = "oxidask.list";

    /// The op gathering `T`s, if `T` is registered.
    pub fn of<T: 'static>() -> Option<Arc<dyn Op>> {
        lists()
            .0
            .get(&TypeId::of::<T>())
            .map(|&list| Arc::new(GatherList { list }) as Arc<dyn Op>)
    }
}

impl Op for GatherList {
    fn name(&self) -> &str {
        GatherList::NAME
    }

    fn label(&self) -> &str {
        "list"
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        (self.list.gather)(args)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Some((self.list.type_name)().as_bytes().to_vec())
    }
}

fn decode_list(params: &[u8]) -> Result<Arc<dyn Op>, String> {
    let name = std::str::from_utf8(params).map_err(|e| e.to_string())?;
    let list = lists().1.get(name).copied().ok_or_else(|| {
        format!("no list of {name} is registered in this program (a #[oxidask::remote] function taking Vec<{name}> registers it)")
    })?;
    Ok(Arc::new(GatherList { list }))
}

inventory::submit! {
    OpDecoder { name: GatherList::NAME, decode: decode_list }
}

/// The last segment of a path: what errors and pictures call the function.
fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// A task calling a registered function with its arguments.
#[derive(Clone, Copy)]
pub struct CallRemote {
    f: &'static RemoteFn,
}

impl CallRemote {
    /// The registry name of this op.
    pub const NAME: &'static str = "oxidask.call";

    /// An op calling `f`.
    pub fn new(f: &'static RemoteFn) -> CallRemote {
        CallRemote { f }
    }

    /// The op for the registered function whose item type is `F`, if any.
    pub fn for_fn<F: 'static>() -> Option<Arc<dyn Op>> {
        lookup_by_type::<F>().map(|f| Arc::new(CallRemote::new(f)) as Arc<dyn Op>)
    }

    /// The function called.
    pub fn function(&self) -> &'static RemoteFn {
        self.f
    }
}

impl Op for CallRemote {
    fn name(&self) -> &str {
        CallRemote::NAME
    }

    fn label(&self) -> &str {
        short(self.f.name)
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        (self.f.call)(args)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        Some(self.f.name.as_bytes().to_vec())
    }
}

fn decode_call(params: &[u8]) -> Result<Arc<dyn Op>, String> {
    let name = std::str::from_utf8(params).map_err(|e| e.to_string())?;
    let f = lookup(name).ok_or_else(|| {
        format!(
            "no function {name} is registered in this program (mark it #[oxidask::remote]; \
             a worker must run the same binary as the client)"
        )
    })?;
    Ok(Arc::new(CallRemote::new(f)))
}

inventory::submit! {
    OpDecoder { name: CallRemote::NAME, decode: decode_call }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Key, Task, TaskGraph};

    fn add(a: i64, b: i64) -> i64 {
        a + b
    }

    inventory::submit! {
        RemoteFn {
            name: "oxidask_graph::remote::tests::add",
            type_id: || type_id_of(&add),
            call: |args| {
                let mut it = args.into_iter();
                let a = take_arg::<i64>(it.next(), 0, "add")?;
                let b = take_arg::<i64>(it.next(), 1, "add")?;
                Ok(Value::new(add(a, b)))
            },
            per_record: None,
        }
    }

    fn op_of<F: 'static>(_: &F) -> Option<Arc<dyn Op>> {
        CallRemote::for_fn::<F>()
    }

    #[test]
    fn a_registered_function_is_found_by_its_type_and_round_trips() {
        let op = op_of(&add).expect("add is registered");
        assert_eq!(op.label(), "add");
        assert!(op_of(&|a: i64| a).is_none(), "a closure is not registered");
        let mut g = TaskGraph::new();
        g.insert(
            Key::new("s"),
            Task::new(
                op,
                vec![
                    crate::Arg::Value(Value::new(2i64)),
                    crate::Arg::Value(Value::new(40i64)),
                ],
            ),
        );
        let back = TaskGraph::from_bytes(&g.to_bytes().unwrap()).unwrap();
        let (_, t) = back.by_id(0);
        let args = t
            .args
            .iter()
            .map(|a| match a {
                crate::Arg::Value(v) => v.clone(),
                crate::Arg::Key(_) => unreachable!(),
            })
            .collect();
        assert_eq!(*t.op.call(args).unwrap().downcast_ref::<i64>().unwrap(), 42);
    }

    #[test]
    fn a_wrong_argument_type_names_the_function_and_argument() {
        let f = lookup("oxidask_graph::remote::tests::add").unwrap();
        let e = (f.call)(vec![Value::new(1i64), Value::new(2.0f64)]).unwrap_err();
        assert!(e.to_string().contains("argument 2 of add"), "{e}");
    }

    #[test]
    fn an_unknown_function_is_a_decode_error_naming_it() {
        let e = decode_call(b"nowhere::f").err().unwrap();
        assert!(
            e.contains("nowhere::f") && e.contains("#[oxidask::remote]"),
            "{e}"
        );
    }
}
