//! The program the cluster tests start as workers: it calls
//! `oxidask::init()`, so started by a `LocalCluster` it becomes a worker
//! with the test library's registered functions.
//!
//! Run by hand with `cluster-parent`, it starts a 2-worker `LocalCluster`
//! of itself, prints the workers' process ids and waits to be killed (the
//! test of workers outliving a dead client).

fn main() {
    oxidask::init();
    // Links the test library's registered functions into this binary.
    let _ = oxidask_tests::cluster_fns::inc(0);
    if std::env::args().nth(1).as_deref() == Some("cluster-parent") {
        let exe = std::env::current_exe().expect("own path");
        let cluster = oxidask::distributed::LocalCluster::builder()
            .n_workers(2)
            .program(exe)
            .start()
            .expect("starting a cluster");
        let pids: Vec<String> = cluster.worker_pids().iter().map(u32::to_string).collect();
        println!("{}", pids.join(" "));
        std::thread::sleep(std::time::Duration::from_secs(600));
        return;
    }
    eprintln!("cluster_worker: this program is started by LocalCluster as a worker");
    std::process::exit(2);
}
