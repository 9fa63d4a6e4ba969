//! How many bytes a value holds: the [`DataSize`] trait.
//!
//! The store keeps results under a memory limit, so every value it holds must
//! report its real size — a shallow `size_of` would let a `Vec<(u32, f32)>`
//! of a gigabyte count as 24 bytes. `DataSize` is implemented for numbers,
//! strings, the std containers, tuples and arrays generically, and is
//! derived for user types with `#[derive(DataSize)]` (from `oxidask`), which
//! sums the sizes of the fields.
//!
//! Sizes count the heap a value owns. Shared data behind an `Arc` is counted
//! by every handle (as Dask's `sizeof` does): overcounting spills early,
//! undercounting breaks the limit. Container capacity, not length, is
//! counted, since that is what the allocator holds, and each allocation
//! counts what a general-purpose allocator really takes for it
//! ([`allocation_bytes`]): a 5-byte string costs 32 bytes, and a million
//! records of short strings would otherwise be undercounted several-fold.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

/// A type whose values know the memory they hold, heap included.
///
/// Implement it (or derive it: `#[derive(oxidask::DataSize)]`) for every
/// type a task returns; the store uses it to keep memory under the limit.
/// A manual implementation sums the fields' [`heap_bytes`](DataSize::heap_bytes):
///
/// ```
/// use oxidask_graph::DataSize;
/// struct Star { name: String, flux: Vec<f64> }
/// impl DataSize for Star {
///     fn heap_bytes(&self) -> usize { self.name.heap_bytes() + self.flux.heap_bytes() }
/// }
/// let s = Star { name: "Vega".into(), flux: vec![0.0; 1000] };
/// assert!(s.total_bytes() >= 8000);
/// ```
pub trait DataSize {
    /// Whether values of this type never own heap memory (numbers, `bool`,
    /// tuples of them): containers of such values then skip the walk over
    /// their elements.
    const IS_FLAT: bool = false;

    /// Bytes this value owns on the heap, not counting its own inline
    /// `size_of::<Self>()`.
    fn heap_bytes(&self) -> usize;

    /// Everything the value holds: inline size plus heap.
    fn total_bytes(&self) -> usize
    where
        Self: Sized,
    {
        size_of::<Self>() + self.heap_bytes()
    }
}

/// The memory an allocator takes for a request of `bytes`: a header word,
/// rounded up to 16 bytes, at least 32 (glibc malloc's chunk rules; jemalloc
/// and mimalloc size classes are within the same bounds). Zero for no
/// allocation.
#[inline]
pub fn allocation_bytes(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes.saturating_add(8 + 15).max(32) & !15
    }
}

macro_rules! flat {
    ($($t:ty),* $(,)?) => {$(
        impl DataSize for $t {
            const IS_FLAT: bool = true;
            #[inline]
            fn heap_bytes(&self) -> usize { 0 }
        }
    )*};
}

flat!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    &'static str,
    std::time::Duration,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
);

impl DataSize for String {
    fn heap_bytes(&self) -> usize {
        allocation_bytes(self.capacity())
    }
}

impl DataSize for Box<str> {
    fn heap_bytes(&self) -> usize {
        allocation_bytes(self.len())
    }
}

impl DataSize for Arc<str> {
    fn heap_bytes(&self) -> usize {
        // The two reference counts live beside the bytes.
        allocation_bytes(2 * size_of::<usize>() + self.len())
    }
}

impl DataSize for std::path::PathBuf {
    fn heap_bytes(&self) -> usize {
        allocation_bytes(self.capacity())
    }
}

/// The heap of `len` elements in a buffer of `capacity` slots.
fn items_heap<'a, T: DataSize + 'a>(capacity: usize, items: impl Iterator<Item = &'a T>) -> usize {
    let inline = allocation_bytes(capacity * size_of::<T>());
    if T::IS_FLAT {
        inline
    } else {
        inline + items.map(DataSize::heap_bytes).sum::<usize>()
    }
}

impl<T: DataSize> DataSize for Vec<T> {
    fn heap_bytes(&self) -> usize {
        items_heap(self.capacity(), self.iter())
    }
}

impl<T: DataSize> DataSize for VecDeque<T> {
    fn heap_bytes(&self) -> usize {
        items_heap(self.capacity(), self.iter())
    }
}

impl<T: DataSize> DataSize for Box<[T]> {
    fn heap_bytes(&self) -> usize {
        items_heap(self.len(), self.iter())
    }
}

impl<T: DataSize> DataSize for Box<T> {
    fn heap_bytes(&self) -> usize {
        allocation_bytes(size_of::<T>()) + (**self).heap_bytes()
    }
}

impl<T: DataSize> DataSize for Arc<T> {
    fn heap_bytes(&self) -> usize {
        allocation_bytes(2 * size_of::<usize>() + size_of::<T>()) + (**self).heap_bytes()
    }
}

impl<T: DataSize> DataSize for Option<T> {
    const IS_FLAT: bool = T::IS_FLAT;
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, DataSize::heap_bytes)
    }
}

impl<T: DataSize, E: DataSize> DataSize for Result<T, E> {
    const IS_FLAT: bool = T::IS_FLAT && E::IS_FLAT;
    fn heap_bytes(&self) -> usize {
        match self {
            Ok(t) => t.heap_bytes(),
            Err(e) => e.heap_bytes(),
        }
    }
}

impl<T: DataSize, const N: usize> DataSize for [T; N] {
    const IS_FLAT: bool = T::IS_FLAT;
    fn heap_bytes(&self) -> usize {
        if T::IS_FLAT {
            0
        } else {
            self.iter().map(DataSize::heap_bytes).sum()
        }
    }
}

/// Per-entry bookkeeping of a hash table (a control byte, rounded up) and of
/// a B-tree (node headers and spare slots, averaged).
const HASH_ENTRY_OVERHEAD: usize = 1;
const TREE_ENTRY_OVERHEAD: usize = 16;

/// A table's slots plus, unless its entries own no heap, each entry's heap.
fn table_heap(slots: usize, flat: bool, heaps: impl Iterator<Item = usize>) -> usize {
    if flat {
        slots
    } else {
        slots + heaps.sum::<usize>()
    }
}

impl<K: DataSize, V: DataSize, S> DataSize for HashMap<K, V, S> {
    fn heap_bytes(&self) -> usize {
        let slot = size_of::<(K, V)>() + HASH_ENTRY_OVERHEAD;
        table_heap(
            allocation_bytes(self.capacity() * slot),
            K::IS_FLAT && V::IS_FLAT,
            self.iter().map(|(k, v)| k.heap_bytes() + v.heap_bytes()),
        )
    }
}

impl<T: DataSize, S> DataSize for HashSet<T, S> {
    fn heap_bytes(&self) -> usize {
        let slot = size_of::<T>() + HASH_ENTRY_OVERHEAD;
        table_heap(
            allocation_bytes(self.capacity() * slot),
            T::IS_FLAT,
            self.iter().map(DataSize::heap_bytes),
        )
    }
}

impl<K: DataSize, V: DataSize> DataSize for BTreeMap<K, V> {
    fn heap_bytes(&self) -> usize {
        let slot = size_of::<(K, V)>() + TREE_ENTRY_OVERHEAD;
        table_heap(
            self.len() * slot,
            K::IS_FLAT && V::IS_FLAT,
            self.iter().map(|(k, v)| k.heap_bytes() + v.heap_bytes()),
        )
    }
}

impl<T: DataSize> DataSize for BTreeSet<T> {
    fn heap_bytes(&self) -> usize {
        let slot = size_of::<T>() + TREE_ENTRY_OVERHEAD;
        table_heap(
            self.len() * slot,
            T::IS_FLAT,
            self.iter().map(DataSize::heap_bytes),
        )
    }
}

macro_rules! tuples {
    ($($T:ident $i:tt),+) => {
        impl<$($T: DataSize),+> DataSize for ($($T,)+) {
            const IS_FLAT: bool = $($T::IS_FLAT)&&+;
            fn heap_bytes(&self) -> usize {
                0 $(+ self.$i.heap_bytes())+
            }
        }
    };
}
tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(feature = "ndarray")]
impl<A: DataSize, D: ndarray::Dimension> DataSize for ndarray::Array<A, D> {
    fn heap_bytes(&self) -> usize {
        // The element buffer; the shape and strides live inline (IxDyn
        // keeps up to four axes inline and the rest is negligible).
        items_heap(self.len(), self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_count_their_elements_heap() {
        let a = allocation_bytes;
        assert_eq!((a(0), a(1), a(24), a(25), a(8000)), (0, 32, 32, 48, 8016));
        let v: Vec<(u32, f32)> = Vec::with_capacity(1000);
        assert_eq!(v.heap_bytes(), a(8000));
        let s: Vec<String> = vec!["abc".to_string(); 10];
        assert_eq!(s.heap_bytes(), a(10 * size_of::<String>()) + 10 * 32);
        let nested = vec![vec![0i16; 100]; 3];
        assert_eq!(
            nested.heap_bytes(),
            a(3 * size_of::<Vec<i16>>()) + 3 * a(200)
        );
        let t = (String::from("xy"), vec![1u8; 5], 3.0f64);
        assert_eq!(t.heap_bytes(), 64);
        assert_eq!(t.total_bytes(), size_of::<(String, Vec<u8>, f64)>() + 64);
        let m: HashMap<u32, String> = (0..100).map(|i| (i, "z".repeat(10))).collect();
        assert!(m.heap_bytes() >= 100 * (size_of::<(u32, String)>() + 32));
        assert_eq!(Some(String::from("abcd")).heap_bytes(), 32);
        assert_eq!(Box::new([7u64; 4]).heap_bytes(), 48);
        const { assert!(<(u8, f64)>::IS_FLAT && !<(u8, String)>::IS_FLAT) };
    }
}
