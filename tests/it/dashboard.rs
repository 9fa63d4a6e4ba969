//! The dashboard and performance reports through the facade. Other tests of
//! this binary compute at the same time and show on any dashboard too, so
//! these check what holds regardless (the dashboard crate's own tests check
//! exact numbers, one test at a time).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use oxidask::array as da;
use oxidask::diagnostics::{Dashboard, DashboardError, performance_report};
use oxidask::prelude::*;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw.split_once("\r\n\r\n").unwrap().1.to_string())
}

fn dashboard_it_double(x: u64) -> u64 {
    2 * x
}

#[test]
fn a_dashboard_from_the_facade_sees_computations() {
    let d = Dashboard::serve("127.0.0.1:0").unwrap();
    let xs: Vec<Delayed<u64>> = (0..50).map(|i| delayed!(dashboard_it_double(i))).collect();
    assert_eq!(compute(&xs).unwrap().iter().sum::<u64>(), 2450);
    let (status, metrics) = get(d.addr(), "/metrics");
    assert_eq!(status, 200);
    let runs: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("oxidask_computations_total "))
        .expect("the computations counter")
        .parse()
        .unwrap();
    assert!(runs >= 1.0, "{metrics}");
    assert_eq!(get(d.addr(), "/no/such/page").0, 404);
    let taken = d.addr().port();
    match Dashboard::serve(&format!("127.0.0.1:{taken}")) {
        Err(DashboardError::PortInUse { port, .. }) => assert_eq!(port, taken),
        other => panic!("expected PortInUse, got {other:?}"),
    }
}

#[test]
fn a_performance_report_of_an_array_computation() {
    let dir = oxidask_testing::TempDir::new("report");
    let path = dir.join("report.html");
    let ones = performance_report(&path, || {
        da::ones::<f64>(&[1000], 100).unwrap().compute().unwrap()
    })
    .unwrap();
    assert_eq!(ones.len(), 1000);
    let html = std::fs::read_to_string(&path).unwrap();
    let data = html
        .split("const R = ")
        .nth(1)
        .and_then(|rest| rest.split(";\nOX.summary").next())
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(data).unwrap();
    assert!(r["runs"].as_u64().unwrap() >= 1);
    assert!(r["finished"].as_u64().unwrap() >= 10, "ten chunks at least");
    assert!(!r["tasks"].as_array().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
