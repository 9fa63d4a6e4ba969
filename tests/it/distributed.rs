//! The cluster with real processes on 127.0.0.1: a scheduler in the test
//! process and workers running the `cluster_worker` binary (which links the
//! test library's `#[oxidask::remote]` functions). Every test has a time
//! limit and checks that no worker process outlives its cluster.

use std::time::{Duration, Instant};

use oxidask::array::{self as da, ndarray};
use oxidask::bag as db;
use oxidask::distributed::{Client, Error, LocalCluster, Scheduler, SchedulerOptions};
use oxidask::prelude::*;
use oxidask::scheduler::ThreadedScheduler;
use oxidask_tests::cluster_fns::{
    abort_worker, add, checked_sqrt, hold_memory, inc, last_digit_of, pairwise_sum, pid_after,
    ramp, rem5, slow_square, total_of_two,
};

const WORKER: &str = env!("CARGO_BIN_EXE_cluster_worker");

fn cluster(n: usize) -> LocalCluster {
    LocalCluster::builder()
        .n_workers(n)
        .threads_per_worker(1)
        .program(WORKER)
        .start()
        .expect("starting a local cluster")
}

/// Runs `f` with a time limit: a hang fails the test instead of blocking
/// the run, and a panic inside `f` fails it with `f`'s own message.
pub(crate) fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the runner sends before it ends"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {secs} s")
        }
    }
}

/// Whether process `pid` is gone (or a zombie nobody waits for).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn assert_no_orphans(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&p| gone(p)) {
        assert!(
            Instant::now() < deadline,
            "worker processes {pids:?} outlived their cluster"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn threaded() -> SchedulerChoice {
    SchedulerChoice::Custom(std::sync::Arc::new(ThreadedScheduler::new(2)))
}

#[test]
fn futures_api() {
    within(120, || {
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();

        // map: one batch, a future per item, results in order.
        let fs = client.map(inc, 0..1000i64).unwrap();
        let got = client.gather(&fs).unwrap();
        assert_eq!(got, (1..=1000).collect::<Vec<i64>>());

        // submit a delayed graph; the future is typed.
        let d = delayed!(add(delayed!(inc(1)), delayed!(inc(2))));
        let f: oxidask::distributed::Future<i64> = client.submit(&d).unwrap();
        assert_eq!(f.result().unwrap(), 5);

        // as_completed yields every future once; wait returns when all are done.
        let fs = client.map(inc, 0..10i64).unwrap();
        client.wait(&fs, Some(Duration::from_secs(30))).unwrap();
        assert!(fs.iter().all(|f| f.done()));
        let mut seen: Vec<i64> = client
            .as_completed(fs)
            .map(|f| f.result().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, (1..=10).collect::<Vec<i64>>());

        // A task's error names its key and the function's message.
        let bad = client.submit(&delayed!(checked_sqrt(-4.0)?)).unwrap();
        let e = bad.result().unwrap_err().to_string();
        assert!(e.contains("negative number -4"), "{e}");
        assert!(e.contains("checked_sqrt"), "{e}");

        // cancel: the future refuses to wait, the cluster drops the work.
        let slow = client.map(|x| slow_square(x, 200), 0..1i64);
        assert!(slow.is_err(), "a closure is not a registered function");
        let slow = client.submit(&delayed!(slow_square(3, 2000))).unwrap();
        client.cancel(std::slice::from_ref(&slow));
        assert!(matches!(slow.result(), Err(Error::Cancelled { .. })));
        // The cluster still serves.
        assert_eq!(
            client.submit(&delayed!(inc(41))).unwrap().result().unwrap(),
            42
        );
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn collections_equal_threaded() {
    within(180, || {
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        let on_cluster = SchedulerChoice::Custom(client.scheduler());

        // delayed: a small tree of registered calls.
        let tree = pairwise_sum((0..20i64).map(|i| delayed!(inc(i))).collect());
        let total = &tree;
        let want = with_scheduler(threaded(), || total.compute()).unwrap();
        assert_eq!(want, (1..=20).sum::<i64>());
        assert_eq!(
            with_scheduler(on_cluster.clone(), || total.compute()).unwrap(),
            want
        );

        // array: compute (its assembly runs here), a reduction, a ragged last chunk.
        let x = da::random::uniform(-1.0, 1.0, &[1000, 300], [128, 64], 7).unwrap();
        let want = with_scheduler(threaded(), || x.compute()).unwrap();
        let got = with_scheduler(on_cluster.clone(), || x.compute()).unwrap();
        assert_eq!(got, want);
        // Tree reductions: their partial results cross between workers when
        // the tree's tasks land on different ones, decoded there by codec id.
        let skew = da::stats::skew(&x, true).unwrap();
        let want = with_scheduler(threaded(), || skew.compute()).unwrap();
        let got = with_scheduler(on_cluster.clone(), || skew.compute()).unwrap();
        assert_eq!(got.to_bits(), want.to_bits());
        let mean0 = x.mean_with(&da::Reduce::axis(0)).unwrap();
        let want = with_scheduler(threaded(), || mean0.compute()).unwrap();
        let got = with_scheduler(on_cluster.clone(), || mean0.compute()).unwrap();
        assert_eq!(got, want);
        // compute of many through the Collection path (blocks gathered).
        let y = da::random::uniform(0.0, 5.0, &[77], [10], 3).unwrap();
        let got =
            with_scheduler(on_cluster.clone(), || oxidask::delayed::compute(&(&x, &y))).unwrap();
        assert_eq!(got.0, x.compute().unwrap());
        assert_eq!(got.1, y.compute().unwrap());

        // bag: registered map, a reduction; an empty partition and a one-record one.
        let parts = vec![
            (0..100i64).collect::<Vec<_>>(),
            vec![],
            vec![7],
            (100..250).collect(),
        ];
        let b = db::from_partitions(parts.clone()).map(inc);
        let want: Vec<i64> = parts.iter().flatten().map(|x| x + 1).collect();
        assert_eq!(
            with_scheduler(on_cluster.clone(), || b.compute()).unwrap(),
            want
        );
        // Reductions: their partial results cross between workers.
        let s = b.sum();
        assert_eq!(
            with_scheduler(on_cluster.clone(), || s.compute()).unwrap(),
            want.iter().sum::<i64>()
        );
        let m = b.mean();
        let want_mean = with_scheduler(threaded(), || m.compute()).unwrap();
        assert_eq!(
            with_scheduler(on_cluster.clone(), || m.compute())
                .unwrap()
                .to_bits(),
            want_mean.to_bits()
        );
        let f = b.map(rem5).frequencies();
        let mut want_f = with_scheduler(threaded(), || f.compute()).unwrap();
        let mut got_f = with_scheduler(on_cluster.clone(), || f.compute()).unwrap();
        want_f.sort();
        got_f.sort();
        assert_eq!(got_f, want_f);
        assert_eq!(want_f.iter().map(|p| p.1).sum::<usize>(), want.len());
        // groupby: built under the cluster, its pieces move between
        // workers as task results.
        let grouped = |b: &db::Bag<i64>| {
            let g = b
                .groupby_with(last_digit_of, &db::GroupbyOptions::new().npartitions(3))
                .unwrap();
            let mut g = g.compute().unwrap();
            g.sort();
            g
        };
        let want_g = with_scheduler(threaded(), || Ok::<_, oxidask::Error>(grouped(&b))).unwrap();
        let got_g =
            with_scheduler(on_cluster.clone(), || Ok::<_, oxidask::Error>(grouped(&b))).unwrap();
        assert_eq!(want_g.len(), 10);
        assert_eq!(got_g, want_g);

        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

/// Setting a default client changes how every computation in the process
/// runs, so the test that does it runs alone: this test starts the test
/// binary again for just the one below.
#[test]
fn a_default_client_runs_computations_that_name_no_scheduler() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "distributed::default_client_in_a_process_of_its_own",
            "--include-ignored",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("1 passed"),
        "{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run alone by a_default_client_runs_computations_that_name_no_scheduler"]
fn default_client_in_a_process_of_its_own() {
    within(60, || {
        let c = cluster(1);
        let client = c.client().unwrap();
        let tree = pairwise_sum((0..20i64).map(|i| delayed!(inc(i))).collect());
        client.set_as_default().unwrap();
        // No scheduler named: the default client's cluster runs it (a
        // closure is refused there, so a local run would be seen).
        assert_eq!(tree.compute().unwrap(), (1..=20).sum::<i64>());
        let double = |x: i64| x * 2;
        let e = delayed!(double(21)).compute().unwrap_err().to_string();
        assert!(e.contains("#[oxidask::remote]"), "{e}");
        oxidask::config::set_global(oxidask::config::Config::default());
        assert_eq!(delayed!(double(21)).compute().unwrap(), 42);
        let pids = c.worker_pids();
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn unregistered_closure_is_refused() {
    within(60, || {
        let c = cluster(1);
        let client = c.client().unwrap();
        let double = |x: i64| x * 2;
        let d = delayed!(double(21));
        // Locally it runs.
        assert_eq!(with_scheduler(threaded(), || d.compute()).unwrap(), 42);
        let e = with_scheduler(SchedulerChoice::Custom(client.scheduler()), || d.compute())
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("#[oxidask::remote]"), "{msg}");
        let e = client.submit(&d).unwrap_err().to_string();
        assert!(e.contains("#[oxidask::remote]"), "{e}");
    });
}

#[test]
fn worker_to_worker_transfer() {
    within(120, || {
        let c = cluster(2);
        let client = c.client().unwrap();
        // Heartbeats report each worker's memory.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !c.workers().iter().all(|(_, m)| m.process_bytes > 0) {
            assert!(
                Instant::now() < deadline,
                "no memory reports: {:?}",
                c.workers()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Two 8 MiB vectors made on different workers (both roots start at
        // once on the least-loaded workers); the sum reads both, so one
        // crosses from worker to worker.
        let n = 1 << 20;
        let d = delayed!(total_of_two(delayed!(ramp(n, 0)), delayed!(ramp(n, 1))));
        let got = client.submit(&d).unwrap().result().unwrap();
        // Σ_{i<n} i + Σ_{i<n} (i+1) = n(n-1)/2 + n(n+1)/2 = n².
        assert_eq!(got, (n * n) as f64);
    });
}

#[test]
fn killed_worker_results_are_recomputed() {
    within(900, || {
        let c = cluster(2);
        let client = c.client().unwrap();
        // A bounded chaos loop: each round, 1,000 tasks (a map and a
        // reduction tree of adds over it) while one worker is killed with
        // SIGKILL mid-run; the result must be exact.
        // 20 rounds by default; OXIDASK_CHAOS_ROUNDS=100 for the count.
        let rounds: u64 = std::env::var("OXIDASK_CHAOS_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let mut mid_run = 0;
        for round in 0..rounds {
            let tree = pairwise_sum((0..500i64).map(|i| delayed!(slow_square(i, 1))).collect());
            let f = client.submit(&tree).unwrap();
            std::thread::sleep(Duration::from_millis(20 + (37 * round) % 200));
            let victim = c.worker_pids()[round as usize % 2];
            mid_run += usize::from(!f.done());
            let _ = std::process::Command::new("kill")
                .args(["-9", &victim.to_string()])
                .status();
            let want: i64 = (0..500i64).map(|i| i * i).sum();
            assert_eq!(f.result().unwrap(), want, "round {round}");
        }
        eprintln!("chaos: {rounds} rounds, {mid_run} kills landed mid-run, all results exact");
        assert!(
            mid_run >= rounds as usize / 2,
            "only {mid_run} kills landed mid-run"
        );
        assert!(c.restarts() >= rounds as usize, "{} restarts", c.restarts());
    });
}

#[test]
fn task_killing_its_workers_fails_with_killed_worker() {
    within(120, || {
        let c = cluster(2);
        let pids_before = c.worker_pids();
        let client = c.client().unwrap();
        let f = client.submit(&delayed!(abort_worker(1))).unwrap();
        let e = f.result().unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::KilledWorker { failures: 4, .. }),
            "{msg}"
        );
        assert!(msg.contains("abort_worker"), "{msg}");
        assert!(msg.contains("local-"), "{msg}");
        // The cluster still serves once the nanny replaced the workers.
        assert_eq!(
            client.submit(&delayed!(inc(1))).unwrap().result().unwrap(),
            2
        );
        drop(client);
        let pids = c.worker_pids();
        drop(c);
        assert_no_orphans(&pids);
        assert_no_orphans(&pids_before);
    });
}

/// Drops the client and the cluster, and checks that no worker outlives it.
fn shut_down(c: LocalCluster, client: Client) {
    drop(client);
    let pids = c.worker_pids();
    drop(c);
    assert_no_orphans(&pids);
}

/// Submits a task holding `mib` MiB for `ms` ms and waits until it holds
/// them (its marker file exists in `dir`).
fn hold_in_background(
    client: &Client,
    dir: &oxidask_testing::TempDir,
    mib: u64,
    ms: u64,
) -> oxidask::distributed::Future<u64> {
    let marker = dir.path().join("held").to_string_lossy().into_owned();
    let f = client
        .submit(&delayed!(hold_memory(mib, ms, marker.clone())))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&marker).exists() {
        assert!(
            Instant::now() < deadline,
            "the task holding memory never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    f
}

fn limited_cluster(workers: usize, threads: usize, limit: usize) -> LocalCluster {
    limited_builder(workers, threads, limit)
        .start()
        .expect("starting a local cluster")
}

fn limited_builder(
    workers: usize,
    threads: usize,
    limit: usize,
) -> oxidask::distributed::LocalClusterBuilder {
    LocalCluster::builder()
        .n_workers(workers)
        .threads_per_worker(threads)
        .memory_limit(Some(limit))
        .program(WORKER)
}

#[test]
fn a_task_past_the_terminate_threshold_ends_its_workers_with_killed_worker() {
    within(120, || {
        // 400 MiB held by a worker limited to 256 MiB: past 95 % of it, the
        // worker ends itself; its replacements too, until the task has
        // used up its allowed failures.
        let c = limited_cluster(1, 1, 256 << 20);
        let client = c.client().unwrap();
        let f = client
            .submit(&delayed!(hold_memory(400, 3_000, String::new())))
            .unwrap();
        let e = f.result().unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::KilledWorker { failures: 4, .. }),
            "{msg}"
        );
        assert!(msg.contains("hold_memory"), "{msg}");
        // The nanny notices the last death within its 20 ms poll.
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.restarts() < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.restarts(), 4);
        // Well within the limit, the replacement worker serves.
        assert_eq!(
            client.submit(&delayed!(inc(1))).unwrap().result().unwrap(),
            2
        );
        shut_down(c, client);
    });
}

#[test]
fn memory_fractions_switched_off_let_a_task_hold_more_than_the_limit() {
    within(120, || {
        // The same 400 MiB on a 256 MiB worker, with pause and terminate
        // off (passed to the worker processes through the environment).
        let c = limited_builder(1, 1, 256 << 20)
            .memory_fractions(
                oxidask::distributed::MemoryFractions::parse("0.6,0.7,off,off").unwrap(),
            )
            .start()
            .expect("starting a local cluster");
        let client = c.client().unwrap();
        let f = client
            .submit(&delayed!(hold_memory(400, 500, String::new())))
            .unwrap();
        assert_eq!(f.result().unwrap(), 400 * 256);
        assert_eq!(c.restarts(), 0);
        shut_down(c, client);
    });
}

#[test]
fn a_worker_past_the_pause_threshold_starts_no_task_until_memory_falls() {
    within(120, || {
        // A 1 GiB worker with two threads: one task holds 850 MiB (past the
        // 80 % pause threshold, short of the 95 % terminate one) for 2 s.
        // A task sent meanwhile finds a free thread but waits until the
        // memory is released; then both finish, and no worker died.
        let dir = oxidask_testing::TempDir::new("pause-marker");
        let c = limited_cluster(1, 2, 1 << 30);
        let client = c.client().unwrap();
        let big = hold_in_background(&client, &dir, 850, 2_000);
        // Two memory checks: the worker is paused.
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        let small = client.submit(&delayed!(inc(41))).unwrap();
        assert_eq!(small.result().unwrap(), 42);
        let waited = sent.elapsed();
        assert_eq!(big.result().unwrap(), 850 * 256);
        assert!(
            waited >= Duration::from_millis(1_000),
            "the small task ran after {waited:?}, while the worker was over its pause threshold"
        );
        assert_eq!(c.restarts(), 0);
        shut_down(c, client);
    });
}

#[test]
fn the_scheduler_sends_no_task_to_a_paused_worker() {
    within(120, || {
        // Two 1 GiB workers of two threads; one holds 850 MiB for 3 s and
        // pauses. Tasks sent meanwhile all run on the other one, at once.
        let dir = oxidask_testing::TempDir::new("pause-route-marker");
        let c = limited_cluster(2, 2, 1 << 30);
        let client = c.client().unwrap();
        let big = hold_in_background(&client, &dir, 850, 3_000);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !c.workers().iter().any(|(_, m)| m.paused) {
            assert!(Instant::now() < deadline, "no worker ever reported a pause");
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = Instant::now();
        let squares: Vec<_> = (0..8i64)
            .map(|i| client.submit(&delayed!(slow_square(i, 20))).unwrap())
            .collect();
        for (i, f) in squares.into_iter().enumerate() {
            assert_eq!(f.result().unwrap(), (i * i) as i64);
        }
        let waited = sent.elapsed();
        assert!(
            waited < Duration::from_millis(1_500),
            "the tasks took {waited:?}: some waited on the paused worker"
        );
        assert_eq!(big.result().unwrap(), 850 * 256);
        assert_eq!(c.restarts(), 0);
        shut_down(c, client);
    });
}

#[test]
fn a_worker_that_runs_dry_steals_the_tasks_queued_behind_a_long_one() {
    within(120, || {
        // Two workers of one thread: one runs a 2 s task; ten 100 ms tasks
        // sent then are shared between both, so about half queue behind
        // the long one — until the other, done with its own, takes them.
        let c = cluster(2);
        let client = c.client().unwrap();
        let long = client.submit(&delayed!(pid_after(2_000))).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        let shorts = client.map(pid_after, 100..110u64).unwrap();
        let pids: Vec<u32> = shorts.iter().map(|f| f.result().unwrap()).collect();
        let took = sent.elapsed();
        let long_pid = long.result().unwrap();
        let behind = pids.iter().filter(|&&p| p == long_pid).count();
        assert!(
            behind == 0,
            "{behind} of the short tasks ran after the long one on its worker (took {took:?})"
        );
        assert!(took < Duration::from_millis(1_600), "{took:?}");
        shut_down(c, client);
    });
}

#[test]
fn wrong_token_is_refused_and_others_are_served() {
    within(60, || {
        let s = Scheduler::start("127.0.0.1:0", "s3cret", SchedulerOptions::default()).unwrap();
        let addr = s.addr().to_string();
        let e = Client::connect_with_token(&addr, "guess")
            .err()
            .expect("refused");
        let msg = e.to_string();
        assert!(msg.contains("wrong token") && msg.contains(&addr), "{msg}");
        let e = Client::connect_with_token(&addr, "")
            .err()
            .expect("refused");
        assert!(e.to_string().contains("wrong token"), "{e}");
        // Garbage and an oversized frame on raw sockets are dropped.
        use std::io::{Read, Write};
        let mut raw = std::net::TcpStream::connect(&addr).unwrap();
        raw.write_all(&[0, 0, 0, 5, 1, 2, 3, 4, 5]).unwrap();
        let mut buf = Vec::new();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = raw.read_to_end(&mut buf); // the scheduler closes it
        let mut big = std::net::TcpStream::connect(&addr).unwrap();
        big.write_all(&u32::MAX.to_be_bytes()).unwrap();
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let _ = big.read_to_end(&mut buf);
        // The right token still gets in.
        Client::connect_with_token(&addr, "s3cret").unwrap();
    });
}

/// A cluster with mutual TLS: workers exchange results over encrypted
/// connections (the scheduler, each worker's peer listener and the client
/// all present certificates the cluster's CA signed); a client without
/// TLS, or with a certificate of another CA, is refused and the cluster
/// serves on.
#[test]
fn a_cluster_with_tls_computes_and_refuses_strangers() {
    use oxidask::distributed::TlsFiles;
    within(120, || {
        let dir = oxidask_testing::TempDir::new("cluster-tls");
        let pki = oxidask_testing::TestPki::generate(dir.path());
        let ours = TlsFiles {
            ca_file: pki.ca_file.clone(),
            cert: pki.cert.clone(),
            key: pki.key.clone(),
        };
        let c = LocalCluster::builder()
            .n_workers(2)
            .threads_per_worker(1)
            .program(WORKER)
            .tls(ours.clone())
            .start()
            .expect("starting a cluster with TLS");
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        // Two 4 MiB inputs, made wherever the scheduler puts them, summed
        // by one task; and a shuffle below, whose pieces cross between the
        // workers.
        let a = client.submit(&delayed!(ramp(1 << 19, 1))).unwrap();
        let b = client.submit(&delayed!(ramp(1 << 19, 2))).unwrap();
        let total = client.submit(&delayed!(total_of_two(&a, &b))).unwrap();
        let n = (1u64 << 19) as f64;
        let want = 2.0 * (n * (n - 1.0) / 2.0) + n * 3.0;
        assert_eq!(total.result().unwrap(), want);
        // The collections too.
        let on_cluster = SchedulerChoice::Custom(client.scheduler());
        let b = db::from_partitions(vec![(0..400i64).collect::<Vec<_>>(), (400..900).collect()]);
        let grouped = with_scheduler(on_cluster, || {
            b.groupby_with(last_digit_of, &db::GroupbyOptions::new().npartitions(2))?
                .compute()
        })
        .unwrap();
        assert_eq!(grouped.iter().map(|g| g.1.len()).sum::<usize>(), 900);
        // Strangers are refused, naming the address; the cluster serves on.
        let e = Client::connect_with(&c.address(), "", None)
            .err()
            .expect("a client without TLS is refused");
        assert!(e.to_string().contains(&c.address()), "{e}");
        let stranger = TlsFiles {
            ca_file: pki.stranger_ca_file.clone(),
            cert: pki.stranger_cert.clone(),
            key: pki.stranger_key.clone(),
        };
        let e = Client::connect_with(&c.address(), "", Some(&stranger))
            .err()
            .expect("a client of another CA is refused");
        assert!(e.to_string().contains("TLS"), "{e}");
        let again = client.submit(&delayed!(inc(41))).unwrap();
        assert_eq!(again.result().unwrap(), 42);
        // Bad files are named before anything starts.
        let e = LocalCluster::builder()
            .program(WORKER)
            .tls(TlsFiles {
                key: pki.stranger_key.clone(),
                ..ours
            })
            .start()
            .err()
            .expect("a key of another certificate");
        assert!(e.to_string().contains("stranger-key.pem"), "{e}");
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn unreachable_and_busy_addresses_are_named() {
    let s = Scheduler::start("127.0.0.1:0", "", SchedulerOptions::default()).unwrap();
    let addr = s.addr().to_string();
    let e = Scheduler::start(&addr, "", SchedulerOptions::default())
        .err()
        .expect("in use")
        .to_string();
    assert!(e.contains(&addr), "{e}");
    drop(s);
    let e = Client::connect(&addr)
        .err()
        .expect("nobody listens")
        .to_string();
    assert!(e.contains(&addr) && e.contains("cannot reach"), "{e}");
}

#[test]
fn workers_die_with_their_client_process() {
    within(60, || {
        let mut parent = std::process::Command::new(WORKER)
            .arg("cluster-parent")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(parent.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pids: Vec<u32> = line
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(pids.len(), 2, "{line:?}");
        assert!(pids.iter().all(|&p| !gone(p)));
        parent.kill().unwrap(); // SIGKILL: no destructor runs
        parent.wait().unwrap();
        assert_no_orphans(&pids);
    });
}

#[test]
fn a_64_mib_value_crosses_worker_to_worker_intact() {
    within(300, || {
        let c = cluster(2);
        use oxidask_tests::cluster_fns::fingerprint_of_two;
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        // Two 64 MiB vectors made at once on the two workers (both roots
        // go to the least-loaded worker); the fingerprint reads both, so
        // one of them crosses from worker to worker as one 64 MiB frame.
        let n: u64 = 64 << 20 >> 3;
        let d = delayed!(fingerprint_of_two(
            delayed!(ramp(n, 0)),
            delayed!(ramp(n, 7))
        ));
        let got = client.submit(&d).unwrap().result().unwrap();
        // The oracle: the same fingerprint of vectors made here with a
        // plain loop.
        let fp = |seed: u64| {
            (0..n).fold(0u64, |acc, i| {
                acc.wrapping_add((i + 1).wrapping_mul(((seed + i) as f64).to_bits()))
            })
        };
        assert_eq!(got, vec![n, fp(0), n, fp(7)]);
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

/// The sum of the workers' held results, as their heartbeats report it.
fn held_on_workers(c: &LocalCluster) -> u64 {
    c.workers().iter().map(|(_, m)| m.held).sum()
}

/// Waits up to 10 s for the workers to report `pred` of their held count.
fn wait_held(c: &LocalCluster, pred: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = held_on_workers(c);
        if pred(h) || Instant::now() > deadline {
            return h;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn scattered_data_and_futures_are_arguments_of_later_tasks() {
    use oxidask_tests::cluster_fns::sum_plus;
    within(120, || {
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();

        // A scattered vector (8 MB, over the copy thresholds) read by tasks
        // on the cluster; the oracle is the sum done here.
        let big: Vec<f64> = (0..1_000_000).map(|i| (i % 1000) as f64 * 0.5).collect();
        let want: f64 = big.iter().sum();
        let f = client.scatter(big.clone()).unwrap();
        assert_eq!(f.result().unwrap(), big);
        let sums: Vec<_> = (0..4)
            .map(|i| client.submit(&delayed!(sum_plus(&f, i as f64))).unwrap())
            .collect();
        for (i, s) in sums.iter().enumerate() {
            assert_eq!(s.result().unwrap(), want + i as f64);
        }
        let d = delayed!(total_of_two(&f, &f));
        assert_eq!(client.submit(&d).unwrap().result().unwrap(), 2.0 * want);

        // map over scattered values and over another map's futures.
        let xs: Vec<i64> = (0..50).map(|i| i * 3 - 20).collect();
        let scattered = client.scatter_many(xs.clone()).unwrap();
        let once = client.map(inc, scattered.iter()).unwrap();
        let twice = client.map(inc, once.iter()).unwrap();
        let want: Vec<i64> = xs.iter().map(|x| x + 2).collect();
        assert_eq!(client.gather(&twice).unwrap(), want);
        // A future of a submit in a later submit; the same future twice.
        let x = client.submit(&delayed!(inc(1))).unwrap();
        let y = client.submit(&delayed!(add(&x, &x))).unwrap();
        assert_eq!(y.result().unwrap(), 4);
        // A future still computing when its reader is submitted.
        let slow = client.submit(&delayed!(slow_square(7, 300))).unwrap();
        let after = client.submit(&delayed!(inc(&slow))).unwrap();
        assert_eq!(after.result().unwrap(), 50);

        // Broadcast: on every worker; 20 readers each add their index.
        let b = client.broadcast(1000i64).unwrap();
        let fs: Vec<_> = (0..20)
            .map(|i| client.submit(&delayed!(add(&b, i))).unwrap())
            .collect();
        let got: Vec<i64> = client.gather(&fs).unwrap();
        assert_eq!(got, (1000..1020).collect::<Vec<i64>>());

        // Futures of another client, or released ones: a clear error
        // naming the future, not a hang.
        let other = c.client().unwrap();
        let e = other
            .submit(&delayed!(inc(&x)))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("another client") && e.contains(x.key()), "{e}");
        let gone = client.submit(&delayed!(inc(5))).unwrap();
        gone.cancel();
        let e = client
            .submit(&delayed!(inc(&gone)))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("released") && e.contains(gone.key()), "{e}");
        // A failed future as an argument: its reader fails naming it.
        let bad = client.submit(&delayed!(checked_sqrt(-1.0)?)).unwrap();
        assert!(bad.result().is_err());
        let e = client
            .submit(&delayed!(checked_sqrt(&bad)?))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(bad.key()) && e.contains("negative"), "{e}");
        // A value without a codec cannot be scattered.
        #[derive(Clone)]
        struct NoCodec;
        impl oxidask::graph::DataSize for NoCodec {
            fn heap_bytes(&self) -> usize {
                0
            }
        }
        let e = client.scatter(NoCodec).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("NoCodec") && e.contains("register_value"), "{e}");

        // Held while anything refers to it: `d` (a Delayed reading `f`)
        // keeps `f` on the cluster.
        assert!(held_on_workers(&c) > 0);
        drop((
            f, sums, scattered, once, twice, x, y, slow, after, b, fs, bad,
        ));
        assert!(wait_held(&c, |h| h == 1) == 1, "d still holds f");
        drop(d);
        // Everything released: the workers hold nothing.
        assert_eq!(wait_held(&c, |h| h == 0), 0);
        drop((client, other));
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn persisted_results_stay_on_the_workers_and_are_not_recomputed() {
    use oxidask_tests::cluster_fns::{calls, counted};
    within(120, || {
        let dir = oxidask_testing::TempDir::new("persist");
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        let counter = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

        // The control: without persist, each computation reading `base`
        // calls it again (the counter counts).
        let plain = counter("plain");
        let base = delayed!(counted(plain.clone(), 4));
        for _ in 0..3 {
            let f = client.submit(&delayed!(inc(&base))).unwrap();
            assert_eq!(f.result().unwrap(), 41);
        }
        assert_eq!(calls(&plain), 3);

        // Persisted: computed once on the workers, never sent to the
        // client, read there by every later computation.
        let once = counter("once");
        let parts: Vec<_> = (0..6).map(|i| delayed!(counted(once.clone(), i))).collect();
        let kept = client.persist_many(&parts).unwrap();
        for round in 0..3 {
            let total = pairwise_sum(kept.iter().map(|k| delayed!(inc(k))).collect());
            let f = client.submit(&total).unwrap();
            // Σ (10 i + 1) for i in 0..6 = 150 + 6.
            assert_eq!(f.result().unwrap(), 156, "round {round}");
        }
        let one = client
            .persist(&delayed!(counted(once.clone(), 100)))
            .unwrap();
        // Through the local scheduler API too: the graph reads the value
        // on the workers (not computed again: the count below).
        let on_cluster = SchedulerChoice::Custom(client.scheduler());
        let got = with_scheduler(on_cluster, || delayed!(inc(&one)).compute()).unwrap();
        assert_eq!(got, 1001);
        // On a local scheduler the placeholder would run: a clear error
        // naming it, not a hang.
        let e = with_scheduler(threaded(), || delayed!(inc(&one)).compute())
            .unwrap_err()
            .to_string();
        assert!(e.contains("client's submit"), "{e}");
        // A persisted value (or a future's Delayed) submitted itself.
        assert_eq!(client.submit(&one).unwrap().result().unwrap(), 1000);
        let again = client.submit(&kept[2]).unwrap();
        assert_eq!(
            client.submit(&again.delayed()).unwrap().result().unwrap(),
            20
        );
        drop(again);
        let f = client.submit(&delayed!(add(&one, &kept[5]))).unwrap();
        assert_eq!(f.result().unwrap(), 1050);
        assert_eq!(calls(&once), 7, "each persisted value computed once");
        drop(f);

        // Held while the persisted values live, released when dropped.
        assert_eq!(wait_held(&c, |h| h == 7), 7);
        drop(kept);
        assert_eq!(wait_held(&c, |h| h == 1), 1);
        drop(one);
        assert_eq!(wait_held(&c, |h| h == 0), 0);
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

/// `persist` of an array, a bag and a data frame while the cluster is the
/// scheduler in force: their chunks stay on the workers (counted there),
/// later computations read them there — also computing a persisted
/// collection itself — equal to the threaded results, and they are
/// released when the persisted collections are dropped.
#[test]
fn persisted_collections_stay_on_the_workers() {
    use oxidask::dataframe as dd;
    use oxidask::dataframe::polars::prelude::*;
    within(120, || {
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        let on_cluster = SchedulerChoice::Custom(client.scheduler());

        let x = da::random::uniform(-1.0, 1.0, &[600, 200], [100, 100], 5).unwrap();
        let kept_x = with_scheduler(on_cluster.clone(), || x.persist()).unwrap();
        assert_eq!(wait_held(&c, |h| h == 12), 12, "the 12 blocks are held");
        let got = with_scheduler(on_cluster.clone(), || kept_x.sum().compute()).unwrap();
        // The same sum of stored blocks on threads (summing blocks as they
        // are generated, one fused task each, adds in another order).
        let want = with_scheduler(threaded(), || x.persist()?.sum().compute()).unwrap();
        assert_eq!(got.to_bits(), want.to_bits());
        // A persisted block read back whole, and a slice of the blocks.
        let whole = with_scheduler(on_cluster.clone(), || kept_x.compute()).unwrap();
        assert_eq!(whole, x.compute().unwrap());
        let part = kept_x.slice(ndarray::s![150..420, 10..150]).unwrap();
        let got = with_scheduler(on_cluster.clone(), || part.compute()).unwrap();
        let want = x
            .slice(ndarray::s![150..420, 10..150])
            .unwrap()
            .compute()
            .unwrap();
        assert_eq!(got, want);

        let parts = vec![
            (0..100i64).collect::<Vec<_>>(),
            vec![],
            (100..250).collect(),
        ];
        let b = db::from_partitions(parts.clone()).map(inc);
        let kept_b = with_scheduler(on_cluster.clone(), || b.persist()).unwrap();
        assert_eq!(wait_held(&c, |h| h == 15), 15);
        let want: Vec<i64> = (2..252).collect();
        let got = with_scheduler(on_cluster.clone(), || kept_b.map(inc).compute()).unwrap();
        assert_eq!(got, want);
        let got = with_scheduler(on_cluster.clone(), || kept_b.compute()).unwrap();
        assert_eq!(got, (1..251).collect::<Vec<_>>());

        let df = df!("k" => (0..1000i64).map(|i| i % 7).collect::<Vec<_>>(),
                     "x" => (0..1000).map(f64::from).collect::<Vec<_>>())
        .unwrap();
        let frame = dd::from_polars(df.clone(), 4).unwrap();
        let kept_f = with_scheduler(on_cluster.clone(), || frame.persist()).unwrap();
        assert_eq!(wait_held(&c, |h| h == 19), 19);
        let got = with_scheduler(on_cluster.clone(), || kept_f.compute()).unwrap();
        assert!(got.equals(&df));
        let sums = kept_f.group_by(["k"]).agg([col("x").sum()]).unwrap();
        let got = with_scheduler(on_cluster.clone(), || sums.compute()).unwrap();
        let want = with_scheduler(threaded(), || {
            frame.group_by(["k"]).agg([col("x").sum()])?.compute()
        })
        .unwrap();
        assert!(got.equals(&want), "{got}\n{want}");

        // Released with the last collection built on them.
        drop((kept_x, part));
        assert_eq!(wait_held(&c, |h| h == 7), 7);
        drop((kept_b, kept_f, sums));
        assert_eq!(wait_held(&c, |h| h == 0), 0);
        drop(client);
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn retries_rerun_failing_tasks_up_to_their_limit() {
    use oxidask_tests::cluster_fns::{fail_first, panic_first, pass_after_three};
    within(120, || {
        let dir = oxidask_testing::TempDir::new("retries");
        let c = cluster(2);
        let pids = c.worker_pids();
        let client = c.client().unwrap();
        let counter = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

        // Fails twice, then succeeds: 2 retries are enough, and the task
        // ran exactly 3 times.
        let p = counter("errs");
        let f = client
            .with_retries(2)
            .submit(&delayed!(fail_first(p.clone(), 2, 7)?))
            .unwrap();
        assert_eq!(f.result().unwrap(), 7);
        assert_eq!(oxidask_tests::cluster_fns::calls(&p), 3);

        // Panics count as failures too.
        let p = counter("panics");
        let f = client
            .with_retries(1)
            .submit(&delayed!(panic_first(p.clone(), 1, 8)))
            .unwrap();
        assert_eq!(f.result().unwrap(), 8);

        // One retry short: the last error comes back, naming the task.
        let p = counter("short");
        let f = client
            .with_retries(1)
            .submit(&delayed!(fail_first(p.clone(), 2, 9)?))
            .unwrap();
        let e = f.result().unwrap_err().to_string();
        assert!(
            e.contains("failing on purpose, call 1") && e.contains("fail_first"),
            "{e}"
        );
        assert_eq!(oxidask_tests::cluster_fns::calls(&p), 2);

        // No retries by default; map takes them per item.
        let p = counter("default");
        let f = client
            .submit(&delayed!(fail_first(p.clone(), 1, 1)?))
            .unwrap();
        assert!(f.result().is_err());
        assert_eq!(oxidask_tests::cluster_fns::calls(&p), 1);
        let dirs: Vec<String> = (0..5).map(|i| counter(&format!("map{i}"))).collect();
        let fs = client
            .with_retries(3)
            .map(pass_after_three, dirs.clone())
            .unwrap();
        assert_eq!(client.gather(&fs).unwrap(), vec![3; 5]);
        for d in &dirs {
            assert_eq!(oxidask_tests::cluster_fns::calls(d), 4);
        }
        drop((f, fs, client));
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn held_futures_survive_their_worker_and_scattered_data_is_lost_by_name() {
    within(180, || {
        let c = cluster(2);
        let client = c.client().unwrap();
        // A computed future and a scattered value, then every worker
        // killed (SIGKILL; the cluster starts new ones).
        let f = client.submit(&delayed!(slow_square(9, 1))).unwrap();
        assert_eq!(f.result().unwrap(), 81);
        let s = client.scatter(5i64).unwrap();
        let kept = client.persist(&delayed!(inc(99))).unwrap();
        assert_eq!(client.submit(&kept).unwrap().result().unwrap(), 100);
        for pid in c.worker_pids() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        // The scattered value has no lineage: its future fails naming it.
        let deadline = Instant::now() + Duration::from_secs(30);
        let lost = loop {
            if let Err(e) = s.result() {
                break e.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the scattered value was not lost"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(lost.contains(s.key()) && lost.contains("died"), "{lost}");
        let e = client
            .submit(&delayed!(inc(&s)))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(s.key()), "{e}");
        // The computed ones are computed again from their lineage on the
        // new workers, and their readers wait for that.
        c.wait_for_workers(2, Duration::from_secs(60)).unwrap();
        let g = client.submit(&delayed!(add(&f, &kept))).unwrap();
        assert_eq!(g.result().unwrap(), 181);
        // Both killed workers are replaced. The scheduler may count a
        // killed worker until its closed connection is read, so two
        // workers may be seen before the second replacement starts: poll.
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.restarts() < 2 {
            assert!(Instant::now() < deadline, "{} restarts", c.restarts());
            std::thread::sleep(Duration::from_millis(20));
        }
        let pids = c.worker_pids();
        drop((f, s, kept, g, client));
        drop(c);
        assert_no_orphans(&pids);
    });
}

#[test]
fn data_frames_compute_on_the_cluster_as_on_threads() {
    use oxidask::dataframe as dd;
    use oxidask::dataframe::polars::prelude::*;
    within(180, || {
        let dir = oxidask_testing::TempDir::new("cluster-frames");
        let paths = oxidask_workloads::taxi::generate(dir.path(), 3, 20_000, 11).unwrap();
        let c = cluster(2);
        let client = c.client().unwrap();
        let on_cluster = SchedulerChoice::Custom(client.scheduler());
        let both = |f: &dyn Fn() -> dd::Result<DataFrame>| {
            let want = with_scheduler(threaded(), f).unwrap();
            let got = with_scheduler(on_cluster.clone(), f).unwrap();
            (got, want)
        };
        let trips = dd::read_csv(
            paths.clone(),
            dd::CsvOptions::default().blocksize(Some(256 << 10)),
        )
        .unwrap();
        assert!(trips.npartitions() >= 6);
        // Per-partition steps, a registered map_partitions, and the
        // group_by's tree of partial aggregates crossing between workers.
        let grouped = trips
            .filter(col("trip_distance").gt(lit(0.5)))
            .unwrap()
            .with_columns([(col("tip_amount") / col("fare_amount")).alias("tip_share")])
            .unwrap()
            .group_by(["passenger_count"])
            .agg([
                col("tip_share").mean(),
                col("fare_amount").std(1),
                col("VendorID").n_unique(),
                len(),
            ])
            .unwrap();
        let (got, want) = both(&|| grouped.compute());
        assert!(got.equals_missing(&want), "{got}\n{want}");
        let per_mile = trips
            .map_partitions(oxidask_tests::frame_fns::fare_per_mile)
            .unwrap();
        let (got, want) = both(&|| per_mile.compute());
        assert!(got.equals_missing(&want));
        assert_eq!(got.height(), 60_000);
        let (got, want) = both(&|| trips.describe());
        assert!(got.equals_missing(&want), "{got}\n{want}");
        // Numeric columns as an array, chunked by partition: its blocks
        // are made on the workers.
        let x = trips.to_array(&["fare_amount", "tip_amount"]).unwrap();
        let want = with_scheduler(threaded(), || x.compute()).unwrap();
        let got = with_scheduler(on_cluster.clone(), || x.compute()).unwrap();
        assert_eq!(got.shape(), [60_000, 2]);
        assert!(
            got.iter()
                .zip(want.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // Rows as records of a registered type and back, on the workers.
        use oxidask_tests::frame_fns::Fare;
        let fares = trips.to_bag::<Fare>().unwrap();
        let want = with_scheduler(threaded(), || fares.compute()).unwrap();
        let got = with_scheduler(on_cluster.clone(), || fares.compute()).unwrap();
        assert_eq!(got.len(), 60_000);
        assert_eq!(got, want);
        let again = dd::from_bag(&fares).unwrap();
        let (got, want) = both(&|| again.compute());
        assert!(got.equals_missing(&want));
        assert_eq!(got.height(), 60_000);
        // Partitions made by registered delayed calls, on the workers.
        let days: Vec<_> = (1..=4i64)
            .map(|d| delayed!(oxidask_tests::frame_fns::day_trips(d)))
            .collect();
        let by_day = dd::from_delayed(&days, None)
            .unwrap()
            .group_by(["day"])
            .agg([col("trips").sum(), len()])
            .unwrap();
        let (got, want) = both(&|| by_day.compute());
        assert!(got.equals_missing(&want), "{got}\n{want}");
        assert_eq!(
            got.column("trips").unwrap().i64().unwrap().get(3),
            Some(40 + 41 + 42 + 43)
        );
        // Shuffles built while the cluster is the scheduler in force move
        // their pieces between workers as task results (the tasks method):
        // a sort, a shuffled join, a split_out group_by — each equal to the
        // same query built and computed on threads (the disk method).
        let keys = ["VendorID", "tpep_pickup_datetime"];
        let queries: [&dyn Fn() -> dd::Result<dd::DataFrame>; 3] = [
            &|| trips.sort(["fare_amount"], false),
            &|| {
                trips.join_with(
                    &trips.filter(col("passenger_count").gt(lit(1)))?,
                    keys,
                    keys,
                    dd::JoinOptions::new(JoinType::Left)
                        .broadcast(false)
                        .npartitions(5),
                )
            },
            &|| {
                trips
                    .group_by(["tpep_pickup_datetime"])
                    .split_out(4)
                    .agg([col("tip_amount").sum(), len()])
            },
        ];
        let in_order = |df: DataFrame| {
            let all: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|c| c.to_string())
                .collect();
            df.sort(all, SortMultipleOptions::default()).unwrap()
        };
        for (q, query) in queries.iter().enumerate() {
            let want = with_scheduler(threaded(), || query()?.compute()).unwrap();
            let built = with_scheduler(on_cluster.clone(), query).unwrap();
            let got = with_scheduler(on_cluster.clone(), || built.compute()).unwrap();
            assert!(want.height() > 1000, "query {q}: {}", want.height());
            if q == 0 {
                // The sort's order is the answer, ties in input order.
                assert!(got.equals_missing(&want), "query {q}");
            } else {
                assert!(in_order(got).equals_missing(&in_order(want)), "query {q}");
            }
        }
        // A shuffle built on threads (the disk method) cannot cross: the
        // cluster refuses it before anything runs, naming the task and
        // saying what to do.
        let joined = trips
            .join_with(
                &trips,
                keys,
                keys,
                dd::JoinOptions::new(JoinType::Inner).broadcast(false),
            )
            .unwrap();
        let msg = with_scheduler(on_cluster.clone(), || joined.compute())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("-split") && msg.contains("cannot leave this process"),
            "{msg}"
        );
        assert!(msg.contains("OXIDASK_SHUFFLE=tasks"), "{msg}");
        // The frames did go to the cluster: a closure is refused there.
        let closure = trips.map_partitions(|df: DataFrame| Ok(df)).unwrap();
        let e = with_scheduler(on_cluster.clone(), || closure.compute()).unwrap_err();
        assert!(e.to_string().contains("register"), "{e}");
        drop(client);
        let pids = c.worker_pids();
        drop(c);
        assert_no_orphans(&pids);
    });
}
