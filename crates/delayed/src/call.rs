//! Building calls: argument conversion, keys, and one constructor per arity.

use std::sync::Arc;

use oxidask_graph::remote::{CallRemote, GatherList};
use oxidask_graph::{FnOp, Key, Op, OpError, Value};

use crate::node::{Node, NodeArg};
use crate::{Data, Delayed};

/// Something that can be passed where a function takes a `T`: a plain `T`,
/// a `Delayed<T>`, or a `&Delayed<T>`.
pub trait IntoArg<T> {
    #[doc(hidden)]
    fn into_arg(self) -> NodeArgHandle;
}

/// An argument on its way into a call (opaque).
#[doc(hidden)]
pub struct NodeArgHandle(pub(crate) NodeArg);

impl<T: Data> IntoArg<T> for T {
    fn into_arg(self) -> NodeArgHandle {
        NodeArgHandle(NodeArg::Value(Value::new(self)))
    }
}

impl<T> IntoArg<T> for Delayed<T> {
    fn into_arg(self) -> NodeArgHandle {
        NodeArgHandle(NodeArg::Node(self.node.clone()))
    }
}

impl<T> IntoArg<T> for &Delayed<T> {
    fn into_arg(self) -> NodeArgHandle {
        NodeArgHandle(NodeArg::Node(self.node.clone()))
    }
}

/// A list of delayed values passed where a function takes a `Vec<T>`
/// becomes one extra task that gathers them (the optimizer fuses it into
/// the call when the call is its only reader).
impl<T: Data> IntoArg<Vec<T>> for Vec<Delayed<T>> {
    fn into_arg(self) -> NodeArgHandle {
        <&[Delayed<T>] as IntoArg<Vec<T>>>::into_arg(self.as_slice())
    }
}

impl<T: Data> IntoArg<Vec<T>> for &[Delayed<T>] {
    fn into_arg(self) -> NodeArgHandle {
        // Registered when a #[oxidask::remote] function takes a Vec<T>.
        let op = GatherList::of::<T>().unwrap_or_else(|| {
            FnOp::arc("list", |args: Vec<Value>| {
                let n = args.len();
                let mut out = Vec::with_capacity(n);
                for (i, v) in args.into_iter().enumerate() {
                    out.push(arg::<T>(v, i, "list")?);
                }
                Ok(Value::new(out))
            })
        });
        let node = Node {
            key: unique_key("list"),
            op,
            args: self.iter().map(|d| NodeArg::Node(d.node.clone())).collect(),
        };
        NodeArgHandle(NodeArg::Node(Arc::new(node)))
    }
}

/// The last meaningful segment of a function's type name: `load_file` for
/// `my_crate::io::load_file`, `lambda` for a closure (as Dask names them).
pub fn short_name<F>() -> &'static str {
    let full = std::any::type_name::<F>();
    // Generic functions print as `path::f<T>`: drop the parameters.
    let base = full.split('<').next().unwrap_or(full);
    match base.rsplit("::").next() {
        Some(s) if !s.is_empty() && !s.starts_with('{') => s,
        _ => "lambda",
    }
}

/// A key unique to this call: `{name}-{32 hex digits}`.
pub(crate) fn unique_key(name: &str) -> Key {
    Key::new(format!("{name}-{}", oxidask_graph::unique_token()))
}

/// Takes argument `i` of function `f` as a `T`, naming both on a mismatch
/// (the same as a registered function's wrapper does).
#[doc(hidden)]
pub fn arg<T: Data>(v: Value, i: usize, f: &str) -> Result<T, OpError> {
    oxidask_graph::remote::take_arg(Some(v), i, f)
}

#[doc(hidden)]
pub fn build<R>(name: &'static str, op: Arc<dyn Op>, args: Vec<NodeArgHandle>) -> Delayed<R> {
    Delayed::from_node(Node {
        key: unique_key(name),
        op,
        args: args.into_iter().map(|a| a.0).collect(),
    })
}

macro_rules! arities {
    ($($fname:ident: $($A:ident $a:ident $i:tt),*;)*) => {
        /// Constructors for calls of infallible functions, one per arity.
        #[doc(hidden)]
        pub mod call {
            use super::*;
            $(
                #[doc(hidden)]
                #[allow(unused_mut, unused_variables, clippy::too_many_arguments)]
                pub fn $fname<F, R, $($A),*>(f: F, $($a: impl IntoArg<$A>),*) -> Delayed<R>
                where
                    F: Fn($($A),*) -> R + Send + Sync + 'static,
                    R: Data,
                    $($A: Data,)*
                {
                    let name = short_name::<F>();
                    // A function marked #[oxidask::remote] gets the op that
                    // can be written to bytes; its wrapper does the same.
                    let op = CallRemote::for_fn::<F>().unwrap_or_else(|| {
                        FnOp::arc(name, move |args: Vec<Value>| {
                            let mut it = args.into_iter();
                            $(let $a = arg::<$A>(it.next().ok_or("missing argument")?, $i, name)?;)*
                            Ok(Value::new(f($($a),*)))
                        })
                    });
                    build(name, op, vec![$($a.into_arg()),*])
                }
            )*
        }

        /// Constructors for calls of functions returning `Result`, one per arity.
        #[doc(hidden)]
        pub mod try_call {
            use super::*;
            $(
                #[doc(hidden)]
                #[allow(unused_mut, unused_variables, clippy::too_many_arguments)]
                pub fn $fname<F, R, E, $($A),*>(f: F, $($a: impl IntoArg<$A>),*) -> Delayed<R>
                where
                    F: Fn($($A),*) -> Result<R, E> + Send + Sync + 'static,
                    E: Into<OpError>,
                    R: Data,
                    $($A: Data,)*
                {
                    let name = short_name::<F>();
                    let op = CallRemote::for_fn::<F>().unwrap_or_else(|| {
                        FnOp::arc(name, move |args: Vec<Value>| {
                            let mut it = args.into_iter();
                            $(let $a = arg::<$A>(it.next().ok_or("missing argument")?, $i, name)?;)*
                            f($($a),*).map(Value::new).map_err(Into::into)
                        })
                    });
                    build(name, op, vec![$($a.into_arg()),*])
                }
            )*
        }
    };
}

arities! {
    call0: ;
    call1: A a 0;
    call2: A a 0, B b 1;
    call3: A a 0, B b 1, C c 2;
    call4: A a 0, B b 1, C c 2, D d 3;
    call5: A a 0, B b 1, C c 2, D d 3, E2 e 4;
    call6: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5;
    call7: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6;
    call8: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6, I i 7;
    call9: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6, I i 7, J j 8;
    call10: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6, I i 7, J j 8, K k 9;
    call11: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6, I i 7, J j 8, K k 9, L l 10;
    call12: A a 0, B b 1, C c 2, D d 3, E2 e 4, G g 5, H h 6, I i 7, J j 8, K k 9, L l 10, M m 11;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_file() {}

    #[test]
    fn short_names() {
        assert_eq!(short_name::<fn()>(), "fn()");
        fn name_of<F>(_: &F) -> &'static str {
            short_name::<F>()
        }
        assert_eq!(name_of(&load_file), "load_file");
        assert_eq!(name_of(&|x: i32| x), "lambda");
    }
}
