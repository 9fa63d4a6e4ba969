//! The element types int8, int16, uint16, uint32 and uint64: NumPy's
//! promotion of sums and products (signed → int64, unsigned → uint64 on a
//! 64-bit platform), `sum_as`/`prod_as` (NumPy's `dtype=`), casts,
//! wrapping arithmetic, and `.npy` files. Expected values computed once
//! with NumPy 2.4, each cited beside its check; everything runs both ways.

use ndarray::{ArrayD, IxDyn, arr1};
use oxidask::array::{self as da, Array, DType, Element, Reduce, ndarray};
use oxidask_testing::TempDir;

use super::get;
use super::npy::parse;

fn arr<T: Element>(v: &[T], chunk: usize) -> Array<T> {
    da::from_array(arr1(v).into_dyn(), vec![chunk]).unwrap()
}

fn one<T: Element>(a: &Array<T>) -> T {
    *get(a).iter().next().unwrap()
}

#[test]
fn sums_and_products_promote_as_numpy() {
    // np.array([250, 10, 255], np.uint8).sum() -> 515 (uint64)
    let s: u64 = one(&arr(&[250u8, 10, 255], 2).sum());
    assert_eq!(s, 515);
    // np.array([-128, 127, -1], np.int8).sum() -> -2 (int64)
    let s: i64 = one(&arr(&[-128i8, 127, -1], 2).sum());
    assert_eq!(s, -2);
    // np.array([2**64 - 1, 1], np.uint64).sum() -> 0 (wraps)
    assert_eq!(one(&arr(&[u64::MAX, 1], 1).sum()), 0u64);
    // np.array([65536, 65536], np.uint32).prod() -> 4294967296 (uint64)
    assert_eq!(one(&arr(&[65536u32, 65536], 1).prod()), 4_294_967_296u64);
    // np.array([-300, 300, 7], np.int16).prod() -> -630000 (int64)
    assert_eq!(one(&arr(&[-300i16, 300, 7], 2).prod()), -630_000i64);
    // np.array([60000, 60000], np.uint16).sum() -> 120000
    assert_eq!(one(&arr(&[60000u16, 60000], 1).sum()), 120_000u64);
    // Empty: the identities, in the promoted types.
    let e = da::from_array(ArrayD::<u16>::zeros(IxDyn(&[0])), vec![1]).unwrap();
    assert_eq!((one(&e.sum()), one(&e.prod())), (0u64, 1u64));
}

#[test]
fn reductions_take_a_dtype() {
    let x = arr(&[250u8, 10], 1);
    // np.array([250, 10], np.uint8).sum(dtype=np.uint8) -> 4
    assert_eq!(one(&x.sum_as::<u8>(&Reduce::all()).unwrap()), 4u8);
    assert_eq!(one(&x.sum_as::<f64>(&Reduce::all()).unwrap()), 260.0);
    // np.array([1, 2, 3], np.uint16).astype(np.int8).sum(dtype=np.int8) -> 6
    assert_eq!(
        one(&arr(&[1u16, 2, 3], 2).sum_as::<i8>(&Reduce::all()).unwrap()),
        6i8
    );
    // prod in int8 wraps: 16 * 16 = 256 -> 0
    assert_eq!(
        one(&arr(&[16i64, 16], 1).prod_as::<i8>(&Reduce::all()).unwrap()),
        0i8
    );
    // np.array([2**64 - 1] * 2, np.uint64).mean() -> 1.8446744073709552e+19
    assert_eq!(
        one(&arr(&[u64::MAX, u64::MAX], 1).mean()),
        1.8446744073709552e19
    );
    let m: f32 = one(&arr(&[1.0f64, 2.0, 4.0], 2)
        .mean_as::<f32>(&Reduce::all())
        .unwrap());
    assert_eq!(m, 7.0f32 / 3.0);
    // Along an axis, booleans counted.
    let b = da::from_array(
        ndarray::arr2(&[[true, false, true], [true, true, true]]).into_dyn(),
        vec![1, 2],
    )
    .unwrap();
    let c = get(&b.sum_as::<u32>(&Reduce::axis(1)).unwrap());
    assert_eq!(c.iter().copied().collect::<Vec<_>>(), vec![2u32, 3]);
}

#[test]
fn casts_arithmetic_and_extremes_follow_numpy() {
    // np.int8(-1).astype(np.uint16) -> 65535
    assert_eq!(get(&arr(&[-1i8], 1).astype::<u16>())[[0]], 65535u16);
    // np.array([2**64 - 1], np.uint64).astype(np.float64) -> 1.8446744073709552e+19
    assert_eq!(
        get(&arr(&[u64::MAX], 1).astype::<f64>())[[0]],
        1.8446744073709552e19
    );
    // np.array([2**63 + 5], np.uint64).astype(np.int64) -> -9223372036854775803
    assert_eq!(
        get(&arr(&[(1u64 << 63) + 5], 1).astype::<i64>())[[0]],
        -9223372036854775803i64
    );
    // np.array([65535], np.uint16) + np.uint16(1) -> [0]
    assert_eq!(get(&(&arr(&[65535u16], 1) + 1u16))[[0]], 0u16);
    // np.array([-128], np.int8) // np.int8(-1) -> [-128];
    // np.array([7], np.uint32) // 2 -> [3]; np.array([-7], np.int16) // 2 -> [-4]
    assert_eq!(
        get(&arr(&[-128i8], 1).floor_divide(-1i8).unwrap())[[0]],
        -128i8
    );
    assert_eq!(get(&arr(&[7u32], 1).floor_divide(2u32).unwrap())[[0]], 3u32);
    assert_eq!(
        get(&arr(&[-7i16], 1).floor_divide(2i16).unwrap())[[0]],
        -4i16
    );
    // np.array([2**64 - 1, 3], np.uint64).max() / .argmin() -> 18446744073709551615, 1
    let x = arr(&[u64::MAX, 3], 1);
    assert_eq!((one(&x.max()), one(&x.argmin())), (u64::MAX, 1i64));
    assert_eq!(x.dtype(), DType::UInt64);
    assert_eq!(
        [
            DType::Int8,
            DType::Int16,
            DType::UInt16,
            DType::UInt32,
            DType::UInt64
        ]
        .map(|d| d.to_string()),
        ["int8", "int16", "uint16", "uint32", "uint64"]
    );
}

fn npy_round_trip<T: Element>(dir: &TempDir, v: &[T], descr: &str) {
    let path = dir
        .path()
        .join(format!("{descr}.npy").replace(['<', '|'], ""));
    let x = arr(v, 2);
    x.to_npy(&path).unwrap();
    assert_eq!(parse(&path).descr, descr);
    let back: Array<T> = da::from_npy(&path, 3).unwrap();
    assert_eq!(get(&back), arr1(v).into_dyn());
}

#[test]
fn new_dtypes_write_and_read_npy_files() {
    // NumPy's descr strings: np.dtype(np.int8).str == '|i1', int16 '<i2',
    // uint16 '<u2', uint32 '<u4', uint64 '<u8'.
    let dir = TempDir::new("npy-dtypes");
    npy_round_trip(&dir, &[-128i8, 0, 127, 5, -3], "|i1");
    npy_round_trip(&dir, &[i16::MIN, 0, i16::MAX], "<i2");
    npy_round_trip(&dir, &[0u16, 65535, 7], "<u2");
    npy_round_trip(&dir, &[0u32, u32::MAX, 7], "<u4");
    npy_round_trip(&dir, &[0u64, u64::MAX, 7], "<u8");
}
