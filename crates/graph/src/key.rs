//! Task names.
//!
//! A [`Key`] is a token string plus an index tuple, like Dask's
//! `("sum-3f2a…", 0, 1)`: the token names a whole collection layer, the index
//! picks one chunk or partition of it. Keys are cheap to clone (the name is
//! shared) and hash quickly, but the schedulers never hash them on their hot
//! path: graphs are lowered to dense task ids first.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The name of one task and of the value it produces.
///
/// Build keys with [`Key::new`] (no index) or [`Key::with_index`]; collections
/// derive their names from [`tokenize`](crate::tokenize()) so that the same
/// computation built twice gets the same keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    name: Arc<str>,
    index: Box<[u32]>,
}

impl Key {
    /// A key without an index, e.g. the single output of a delayed call.
    pub fn new(name: impl Into<Arc<str>>) -> Key {
        Key {
            name: name.into(),
            index: Box::new([]),
        }
    }

    /// A key for one block of a layer: `("name", i, j, …)`.
    pub fn with_index(name: impl Into<Arc<str>>, index: &[u32]) -> Key {
        Key {
            name: name.into(),
            index: index.into(),
        }
    }

    /// The token string shared by all blocks of a layer.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared handle to the name, for building sibling keys without copying it.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The block index; empty for keys that name a single value.
    pub fn index(&self) -> &[u32] {
        &self.index
    }

    /// The part of the name before the token, e.g. `sum` for `sum-3f2a…`:
    /// what diagnostics group tasks by.
    pub fn prefix(&self) -> &str {
        match self.name.rfind('-') {
            Some(i) if i > 0 => &self.name[..i],
            _ => &self.name,
        }
    }

    /// Bytes this key occupies on the heap, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.name.len() + self.index.len() * 4
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index.is_empty() {
            return write!(f, "'{}'", self.name);
        }
        write!(f, "('{}'", self.name)?;
        for i in self.index.iter() {
            write!(f, ", {i}")?;
        }
        if self.index.len() == 1 {
            // A one-element tuple, written as Python does, so it reads like Dask's keys.
            write!(f, ",")?;
        }
        write!(f, ")")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<&str> for Key {
    fn from(name: &str) -> Key {
        Key::new(name)
    }
}

impl From<String> for Key {
    fn from(name: String) -> Key {
        Key::new(name)
    }
}

impl From<(&str, u32)> for Key {
    fn from((name, i): (&str, u32)) -> Key {
        Key::with_index(name, &[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_dask() {
        assert_eq!(Key::new("x").to_string(), "'x'");
        assert_eq!(
            Key::with_index("sum-ab", &[3]).to_string(),
            "('sum-ab', 3,)"
        );
        assert_eq!(
            Key::with_index("sum-ab", &[0, 1]).to_string(),
            "('sum-ab', 0, 1)"
        );
        assert_eq!(Key::new("sum-ab12").prefix(), "sum");
        assert_eq!(Key::new("-x").prefix(), "-x");
    }
}
