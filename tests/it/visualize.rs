//! One `visualize(path)` on every collection: delayed values, arrays, bags
//! and a bag's single values all draw the task graph their compute runs.

use oxidask::array as da;
use oxidask::bag as db;
use oxidask::prelude::*;

fn load(i: u32) -> Vec<f64> {
    vec![i as f64; 4]
}

fn total(parts: Vec<Vec<f64>>) -> f64 {
    parts.iter().flatten().sum()
}

/// The SVG written to a fresh temp file by `draw`.
fn drawn(name: &str, draw: impl FnOnce(&std::path::Path)) -> String {
    let dir = oxidask_testing::TempDir::new("visualize");
    let path = dir.join(format!("{name}.svg"));
    draw(&path);
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(svg.contains("<svg"), "{name}: not an SVG");
    svg
}

#[test]
fn every_collection_draws_its_task_graph() {
    let parts: Vec<_> = (0..3).map(|i| delayed!(load(i))).collect();
    let sum = delayed!(total(parts));
    let svg = drawn("delayed", |p| {
        sum.visualize(p).unwrap();
    });
    assert!(
        svg.contains("load") && svg.contains("total"),
        "delayed graph: {svg}"
    );

    let x = da::arange(0.0, 10.0, 1.0, 5).unwrap();
    let svg = drawn("array", |p| {
        x.visualize(p).unwrap();
    });
    assert!(svg.contains("arange"), "array graph: {svg}");

    let b = db::range(20, 4).unwrap().map(|x| x * 2);
    let svg = drawn("bag", |p| {
        b.visualize(p).unwrap();
    });
    // The partitions' fused pipeline, one task per partition.
    assert_eq!(svg.matches("range+map").count(), 4, "bag graph: {svg}");
    let n = b.count();
    let svg = drawn("item", |p| {
        n.visualize(p).unwrap();
    });
    assert!(
        svg.contains("range+map") && svg.contains("count"),
        "item graph: {svg}"
    );
}

#[test]
fn large_graphs_are_drawn_per_task_below_the_collapse_limit_and_by_group_above() {
    // 601 tasks: one box each, whatever the renderer.
    let parts: Vec<_> = (0..600).map(|i| delayed!(load(i))).collect();
    let sum = delayed!(total(parts));
    let dir = oxidask_testing::TempDir::new("visualize-big");
    let path = dir.join("big.svg");
    sum.visualize(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("<svg") && svg.matches(">load-").count() >= 600);
    // 2,001 tasks: one box per task group (load, total) with its count.
    let parts: Vec<_> = (0..2000).map(|i| delayed!(load(i))).collect();
    let sum = delayed!(total(parts));
    sum.visualize(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(svg.contains("2000 tasks"), "{svg}");
    assert!(!svg.contains(">load-"), "no per-task boxes");
}
