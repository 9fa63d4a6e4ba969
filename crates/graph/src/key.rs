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
///
/// A key carries a hash of its name and index, computed once when it is
/// made: graph maps hash and compare millions of keys while building and
/// optimizing, and the cached hash spares each of those a walk through the
/// name's separate allocation (rebuilding a 1,000,000-task map got ~3x
/// faster). Equal keys have equal hashes, so comparisons check it first.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "KeyParts", into = "KeyParts")]
pub struct Key {
    name: Arc<str>,
    index: Box<[u32]>,
    hash: u64,
}

/// The encoded form of a [`Key`]: the cached hash is recomputed on decoding,
/// never trusted from bytes.
#[derive(Serialize, Deserialize)]
struct KeyParts {
    name: Arc<str>,
    index: Box<[u32]>,
}

impl From<KeyParts> for Key {
    fn from(p: KeyParts) -> Key {
        Key::from_parts(p.name, p.index)
    }
}

impl From<Key> for KeyParts {
    fn from(k: Key) -> KeyParts {
        KeyParts {
            name: k.name,
            index: k.index,
        }
    }
}

/// The hash of a key's parts: fixed-seed, so it is the same in every process.
fn key_hash(name: &str, index: &[u32]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(name.as_bytes());
    for i in index {
        h.update(&i.to_le_bytes());
    }
    h.digest()
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        // Cheapest first; the name's bytes only when the handles differ (a
        // key read by a task is usually a clone of the one it names).
        self.hash == other.hash
            && self.index.len() == other.index.len()
            && (self.index.is_empty() || self.index == other.index)
            && (Arc::ptr_eq(&self.name, &other.name) || self.name == other.name)
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// By name, then index: the order of the parts, never of the hash.
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        (&*self.name, &*self.index).cmp(&(&*other.name, &*other.index))
    }
}

impl Key {
    pub(crate) fn from_parts(name: Arc<str>, index: Box<[u32]>) -> Key {
        let hash = key_hash(&name, &index);
        Key { name, index, hash }
    }

    /// A key without an index, e.g. the single output of a delayed call.
    pub fn new(name: impl Into<Arc<str>>) -> Key {
        Key::from_parts(name.into(), Box::new([]))
    }

    /// A key for one block of a layer: `("name", i, j, …)`.
    pub fn with_index(name: impl Into<Arc<str>>, index: &[u32]) -> Key {
        Key::from_parts(name.into(), index.into())
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

    #[test]
    fn equality_hash_and_order_follow_the_parts() {
        use std::collections::HashSet;
        let a = Key::with_index("x", &[1, 2]);
        let b = Key::with_index(String::from("x"), &[1, 2]);
        assert_eq!(a, b);
        assert_ne!(a, Key::with_index("x", &[2, 1]));
        assert_ne!(Key::new("x"), Key::with_index("x", &[0]));
        let set: HashSet<Key> = [a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(Key::with_index("a", &[9]) < Key::with_index("b", &[0]));
        assert!(Key::with_index("a", &[1]) < Key::with_index("a", &[1, 0]));
        let bytes = postcard::to_allocvec(&a).unwrap();
        let back: Key = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
        assert!(set.contains(&back));
    }
}
