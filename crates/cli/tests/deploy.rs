//! The deployment recipes of `deploy/`, run as far as one machine allows:
//! the SSH script and the Slurm batch script start a real scheduler and
//! real workers (this package's `oxidask` binary) on 127.0.0.1 through fake
//! `ssh`, `srun`, `scontrol` and `hostname` commands that run their command
//! here; a computation runs on the cluster they started. The Kubernetes
//! manifests are parsed (Python's yaml) and checked to hold together with
//! each other and with the CLI's flags. The CLI's TLS flags, and the SSH
//! recipe with `OXIDASK_TLS_*` set, start an encrypted cluster.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxidask::array as da;
use oxidask::distributed::{Client, TlsFiles};
use oxidask::prelude::*;
use oxidask_testing::TempDir;

const OXIDASK: &str = env!("CARGO_BIN_EXE_oxidask");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over plain HTTP/1.1; `None` while nothing listens.
fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    Some(raw.split_once("\r\n\r\n")?.1.to_string())
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Waits (30 s at most) until the dashboard at `dashboard` counts `n`
/// workers; returns its metrics then.
fn wait_for_workers(dashboard: &str, n: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = get(dashboard, "/metrics").unwrap_or_default();
        if metric(&m, "oxidask_cluster_workers") == Some(n) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard at {dashboard} never showed {n} workers:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes an executable script `name` in `dir`.
fn fake(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// An array sum with built-in ops only (the stock workers know no others),
/// on the cluster at `addr`, against the same on one thread; a wrong token
/// is refused, and with `tls` a client without it too.
fn check_a_computation(addr: &str, token: &str, tls: Option<&TlsFiles>) {
    let client = Client::connect_with(addr, token, tls).expect("connects with the token");
    let x = da::random::uniform(-1.0, 1.0, &[2000], [250], 11).unwrap();
    let s = x.sum();
    let want: f64 = x.compute().unwrap().iter().sum();
    let on_cluster = SchedulerChoice::Custom(client.scheduler());
    let got = with_scheduler(on_cluster, || s.compute()).unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert!(
        Client::connect_with(addr, "not-the-token", tls).is_err(),
        "a wrong token is refused"
    );
    if tls.is_some() {
        assert!(
            Client::connect_with(addr, token, None).is_err(),
            "a client without TLS is refused"
        );
    }
}

/// Runs `cmd` to its end, failing the test if that takes over `secs`; its
/// output goes through files in `dir`, not pipes, so a process it leaves
/// behind holding them cannot hang the test either. Returns (success,
/// stdout, stderr).
fn output_within(cmd: &mut Command, dir: &Path, secs: u64) -> (bool, String, String) {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = child.wait().unwrap().success();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    (ok, read(out), read(err))
}

/// Whether any process's command line holds `needle`.
fn in_any_command_line(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
    })
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn the_ssh_recipe_starts_and_stops_a_cluster() {
    ssh_recipe(false);
}

/// The same with `OXIDASK_TLS_*` set: every process it starts speaks TLS.
#[test]
fn the_ssh_recipe_starts_a_cluster_with_tls() {
    ssh_recipe(true);
}

fn ssh_recipe(with_tls: bool) {
    let tmp = TempDir::new(if with_tls {
        "ssh-recipe-tls"
    } else {
        "ssh-recipe"
    });
    let pki = oxidask_testing::TestPki::generate(tmp.path());
    let tls = with_tls.then(|| TlsFiles {
        ca_file: pki.ca_file.clone(),
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    });
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // ssh [-o opt]... HOST COMMAND: runs COMMAND here, stdin passed on.
    fake(
        &bin,
        "ssh",
        "while [ \"${1:-}\" = -o ]; do shift 2; done\nshift\nexec bash -c \"$*\"",
    );
    let (port, dash) = (free_port(), free_port());
    let token = format!("ssh-token-{}", std::process::id());
    let run_dir = tmp.join("run");
    let script = repo().join("deploy/ssh/oxidask-ssh.sh");
    let run = |action: &str| {
        let mut out = Command::new(&script);
        out.args([action, "127.0.0.1", "127.0.0.1", "127.0.0.1"])
            .env("PATH", path_with(&bin))
            .env("OXIDASK_BIN", OXIDASK)
            .env("OXIDASK_PORT", port.to_string())
            .env("OXIDASK_DASHBOARD_PORT", dash.to_string())
            .env("OXIDASK_LISTEN", "127.0.0.1")
            .env("OXIDASK_NTHREADS", "1")
            .env("OXIDASK_RUN_DIR", &run_dir)
            .env("OXIDASK_TOKEN", &token)
            .stdin(Stdio::null());
        for (name, path) in tls.iter().flat_map(TlsFiles::env) {
            out.env(name, path);
        }
        let (ok, stdout, stderr) = output_within(&mut out, &tmp, 30);
        assert!(ok, "{action}: {stdout}{stderr}");
        stdout
    };
    let said = run("start");
    assert!(
        said.contains(&format!("dashboard http://127.0.0.1:{dash}/status")),
        "{said}"
    );
    let pids: Vec<u32> = ["scheduler", "worker-0", "worker-1"]
        .iter()
        .map(|n| {
            let p = std::fs::read_to_string(run_dir.join(format!("{n}.pid"))).unwrap();
            p.trim().parse().unwrap()
        })
        .collect();
    let dashboard = format!("127.0.0.1:{dash}");
    let m = wait_for_workers(&dashboard, 2.0);
    for w in ["127.0.0.1-worker-0", "127.0.0.1-worker-1"] {
        let row = format!("oxidask_cluster_worker_threads{{worker=\"{w}\"}}");
        assert_eq!(metric(&m, &row), Some(1.0), "{m}");
    }
    check_a_computation(&format!("127.0.0.1:{port}"), &token, tls.as_ref());
    assert!(
        !in_any_command_line(&token),
        "the token shows in a process's command line"
    );

    run("stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "{pids:?} still run after stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_slurm_recipe_runs_a_program_on_its_cluster() {
    let tmp = TempDir::new("slurm-recipe");
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake(&bin, "scontrol", "echo 127.0.0.1");
    fake(&bin, "hostname", "echo 127.0.0.1");
    // srun [--opt=value]... COMMAND: --ntasks copies of COMMAND here.
    fake(
        &bin,
        "srun",
        "n=1\nwhile [[ \"${1:-}\" == --* ]]; do\n  case $1 in --ntasks=*) n=${1#--ntasks=};; esac\n  shift\ndone\nfor _ in $(seq \"$n\"); do \"$@\" & done\nwait",
    );
    let (port, dash) = (free_port(), free_port());
    let token = format!("slurm-token-{}", std::process::id());
    let done = tmp.join("done");
    let mut job = Command::new(repo().join("deploy/slurm/oxidask.sbatch"))
        .args([
            "bash",
            "-c",
            &format!(
                "test -n \"$OXIDASK_SCHEDULER\" || exit 3; while [ ! -e {} ]; do sleep 0.05; done",
                done.display()
            ),
        ])
        .env("PATH", path_with(&bin))
        .env("SLURM_JOB_NUM_NODES", "2")
        .env("SLURM_JOB_NODELIST", "node[1-2]")
        .env("SLURM_CPUS_PER_TASK", "1")
        .env("OXIDASK_BIN", OXIDASK)
        .env("OXIDASK_PORT", port.to_string())
        .env("OXIDASK_DASHBOARD_PORT", dash.to_string())
        .env("OXIDASK_TOKEN", &token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dashboard = format!("127.0.0.1:{dash}");
    let m = wait_for_workers(&dashboard, 2.0);
    assert!(
        m.contains("oxidask_cluster_worker_threads{worker=\"worker-"),
        "{m}"
    );
    check_a_computation(&format!("127.0.0.1:{port}"), &token, None);

    // The program ends: the job stops the workers and the scheduler.
    std::fs::write(&done, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = job.kill();
            panic!("the batch script did not end after its program");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut said = String::new();
    std::io::Read::read_to_string(job.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert!(
        said.contains(&format!("scheduler at 127.0.0.1:{port}")),
        "{said}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "the scheduler outlived its job");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The manifests as JSON, through Python's yaml (which the CI image has:
/// `apt-get install python3-yaml`).
fn manifests() -> serde_json::Value {
    let path = repo().join("deploy/kubernetes/oxidask.yaml");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs (apt-get install python3 python3-yaml)");
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The long flags of `oxidask SUBCOMMAND --help`.
fn flags_of(subcommand: &str) -> String {
    let out = Command::new(OXIDASK)
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_kubernetes_manifests_hold_together() {
    let docs = manifests();
    let docs = docs.as_array().unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "Service", "Deployment"]);
    let (scheduler, service, workers) = (&docs[0], &docs[1], &docs[2]);
    for d in docs {
        assert!(
            d["apiVersion"].is_string() && d["metadata"]["name"].is_string(),
            "{d}"
        );
    }
    // The Service selects the scheduler's pods and only them.
    let pod_labels = &scheduler["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&service["spec"]["selector"], pod_labels);
    assert_ne!(
        &workers["spec"]["template"]["metadata"]["labels"],
        pod_labels
    );
    for d in [scheduler, workers] {
        assert_eq!(
            d["spec"]["selector"]["matchLabels"],
            d["spec"]["template"]["metadata"]["labels"]
        );
    }
    let ports: Vec<u64> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [8786, 8787]);
    let service_name = service["metadata"]["name"].as_str().unwrap();

    let container = |d: &serde_json::Value| d["spec"]["template"]["spec"]["containers"][0].clone();
    let (s, w) = (container(scheduler), container(workers));
    for c in [&s, &w] {
        let token = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "OXIDASK_TOKEN")
            .expect("the token in the environment");
        assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "oxidask-token");
    }
    // Every flag the manifests give is one the CLI takes.
    let scheduler_cmd: Vec<&str> = s["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(scheduler_cmd[..2], ["oxidask", "scheduler"]);
    let help = flags_of("scheduler");
    for flag in scheduler_cmd.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(flag), "oxidask scheduler has no {flag}");
    }
    let worker_cmd = w["command"].as_array().unwrap().last().unwrap();
    let worker_cmd = worker_cmd.as_str().unwrap();
    assert!(
        worker_cmd.contains(&format!("oxidask worker {service_name}:8786")),
        "{worker_cmd}"
    );
    let help = flags_of("worker");
    for flag in worker_cmd
        .split_whitespace()
        .filter(|a| a.starts_with("--"))
    {
        assert!(help.contains(flag), "oxidask worker has no {flag}");
    }
    // The image the manifests run is the Dockerfile's.
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains("-p oxidask-cli --bin oxidask"));
    assert_eq!(s["image"], w["image"]);
}

/// The CLI's TLS flags: a scheduler and two workers started with
/// `--tls-ca-file/--tls-cert/--tls-key` compute for a TLS client and
/// refuse a plain one; flags given in part are an error naming all three.
#[test]
fn the_cli_processes_speak_tls() {
    let dir = TempDir::new("cli-tls");
    let pki = oxidask_testing::TestPki::generate(dir.path());
    let tls_flags = |cmd: &mut Command| {
        cmd.arg("--tls-ca-file")
            .arg(&pki.ca_file)
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key);
    };
    let (port, dash) = (free_port(), free_port());
    let addr = format!("127.0.0.1:{port}");
    let mut scheduler = Command::new(OXIDASK);
    scheduler
        .args(["scheduler", "--port", &port.to_string()])
        .args(["--dashboard-port", &dash.to_string()])
        .env_remove("OXIDASK_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    tls_flags(&mut scheduler);
    let mut children = vec![scheduler.spawn().unwrap()];
    // A worker that finds no scheduler listening exits: wait for it (its
    // dashboard comes up with it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("127.0.0.1:{dash}"), "/metrics").is_none() {
        assert!(Instant::now() < deadline, "the scheduler never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..2 {
        let mut worker = Command::new(OXIDASK);
        worker
            .args([
                "worker",
                &addr,
                "--nthreads",
                "1",
                "--name",
                &format!("tls-{i}"),
            ])
            .env_remove("OXIDASK_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        tls_flags(&mut worker);
        children.push(worker.spawn().unwrap());
    }
    wait_for_workers(&format!("127.0.0.1:{dash}"), 2.0);
    let files = oxidask::distributed::TlsFiles {
        ca_file: pki.ca_file.clone(),
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    };
    let client = Client::connect_with(&addr, "", Some(&files)).expect("a TLS client");
    let x = da::random::uniform(-1.0, 1.0, &[2000], [250], 11).unwrap();
    let want: f64 = x.compute().unwrap().iter().sum();
    let s = x.sum();
    let got = with_scheduler(SchedulerChoice::Custom(client.scheduler()), || s.compute()).unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    let e = Client::connect_with(&addr, "", None)
        .err()
        .expect("a plain client is refused");
    assert!(e.to_string().contains(&addr), "{e}");
    drop(client);
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Only some of the three flags: an error naming them, at once.
    let (ok, _, err) = output_within(
        Command::new(OXIDASK)
            .args(["worker", &addr, "--tls-cert"])
            .arg(&pki.cert)
            .env_remove("OXIDASK_TLS_CA_FILE")
            .env_remove("OXIDASK_TLS_KEY"),
        dir.path(),
        30,
    );
    assert!(!ok);
    assert!(
        err.contains("--tls-ca-file, --tls-cert and --tls-key"),
        "{err}"
    );
}
