//! `map_blocks_with`: the function sees where its block is (Dask's
//! `block_id` and `block_info[0]["array-location"]`), and may drop axes
//! (the input's blocks along them joined first, as Dask does) or add
//! them. Registered functions make data ops: every case runs both ways.

use ndarray::{ArrayD, Axis, IxDyn};
use oxidask::array::{self as da, BlockInfo, MapBlocks, ndarray};

use super::get;

/// Each element replaced by its flat position in the whole array, worked
/// out from the block's array location alone.
#[oxidask::remote]
fn positions(b: ArrayD<f64>, info: BlockInfo) -> ArrayD<f64> {
    let ncols = info.shape[1];
    let (r0, c0) = (info.array_location[0].0, info.array_location[1].0);
    ArrayD::from_shape_fn(b.raw_dim(), |p| ((r0 + p[0]) * ncols + c0 + p[1]) as f64)
}

/// Sums along axis 1, with the block's row of blocks added as thousands.
#[oxidask::remote]
fn row_sums(b: ArrayD<f64>, info: BlockInfo) -> ArrayD<f64> {
    b.sum_axis(Axis(1)) + 1000.0 * info.block_id[0] as f64
}

/// The block twice along a new last axis.
#[oxidask::remote]
fn twice_stacked(b: ArrayD<i64>, _info: BlockInfo) -> ArrayD<i64> {
    let v = b.view().insert_axis(Axis(b.ndim()));
    ndarray::concatenate(Axis(b.ndim()), &[v.view(), v.view()]).unwrap()
}

/// Returns a block of the wrong shape.
#[oxidask::remote]
fn wrong_shape(b: ArrayD<f64>, _info: BlockInfo) -> ArrayD<f64> {
    b.sum_axis(Axis(0))
}

fn grid(rows: usize, cols: usize) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(&[rows, cols]), |p| (p[0] * cols + p[1]) as f64)
}

#[test]
fn block_info_locates_every_block() {
    // Ragged: rows (3, 3, 1), cols (4, 4, 2).
    let x = da::from_array(ArrayD::<f64>::zeros(IxDyn(&[7, 10])), vec![3, 4]).unwrap();
    let y = x.map_blocks_with(&MapBlocks::new(), positions).unwrap();
    assert_eq!(y.chunks(), x.chunks());
    assert_eq!(get(&y), grid(7, 10));
}

#[test]
fn drop_axis_joins_the_blocks_along_it() {
    let data = grid(7, 10);
    let x = da::from_array(data.clone(), vec![3, 4]).unwrap();
    let y = x
        .map_blocks_with(&MapBlocks::new().drop_axis(&[-1]), row_sums)
        .unwrap();
    assert_eq!(y.shape(), &[7]);
    assert_eq!(y.chunks(), &[vec![3, 3, 1]]);
    let mut want = data.sum_axis(Axis(1));
    for (i, v) in want.iter_mut().enumerate() {
        *v += 1000.0 * (i / 3) as f64;
    }
    assert_eq!(get(&y), want);
}

#[test]
fn new_axis_with_its_chunks() {
    let data = ArrayD::from_shape_fn(IxDyn(&[5]), |p| p[0] as i64 - 2);
    let x = da::from_array(data.clone(), vec![2]).unwrap();
    let y = x
        .map_blocks_with(
            &MapBlocks::new()
                .new_axis(&[1])
                .chunks(vec![vec![2, 2, 1], vec![2]]),
            twice_stacked,
        )
        .unwrap();
    assert_eq!(y.shape(), &[5, 2]);
    let got = get(&y);
    for i in 0..5 {
        assert_eq!((got[[i, 0]], got[[i, 1]]), (data[[i]], data[[i]]));
    }
    // Default new axes have length 1; a closure runs locally.
    let z = x
        .map_blocks_with(
            &MapBlocks::new().new_axis(&[0]),
            |b: ArrayD<i64>, i: BlockInfo| {
                b.mapv(|v| v * 10 + i.block_id[1] as i64)
                    .insert_axis(Axis(0))
            },
        )
        .unwrap();
    assert_eq!(z.shape(), &[1, 5]);
    assert_eq!(
        z.compute().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![-20, -10, 1, 11, 22]
    );
}

#[test]
fn bad_shapes_and_options_are_errors_naming_them() {
    let x = da::from_array(grid(4, 4), vec![2, 2]).unwrap();
    let y = x.map_blocks_with(&MapBlocks::new(), wrong_shape).unwrap();
    let e = y.compute().unwrap_err().to_string();
    assert!(
        e.contains("should have shape [2, 2]") && e.contains("wrong_shape"),
        "{e}"
    );
    let e = x
        .map_blocks_with(&MapBlocks::new().chunks(vec![vec![4]]), positions)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chunks"), "{e}");
    let e = x
        .map_blocks_with(&MapBlocks::new().drop_axis(&[2]), row_sums)
        .unwrap_err()
        .to_string();
    assert!(e.contains("drop_axis"), "{e}");
}
