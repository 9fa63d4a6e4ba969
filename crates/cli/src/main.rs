//! The `oxidask` command: `oxidask scheduler` runs a cluster's scheduler,
//! `oxidask worker ADDRESS` a worker of it (running the built-in ops only:
//! a program's own `#[oxidask::remote]` functions need the program itself
//! as the worker — see `docs/distributed.md`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oxidask_distributed::{Scheduler, SchedulerOptions, TlsFiles, WorkerOptions, run_worker};

/// Mutual TLS for every connection (all three, or none): the same CA file
/// on every process, and each process a certificate the CA signed that
/// names the host others reach it on (see docs/distributed.md).
#[derive(Args)]
struct TlsArgs {
    /// PEM certificate(s) of the authority every peer must be signed by.
    #[arg(long, env = "OXIDASK_TLS_CA_FILE")]
    tls_ca_file: Option<PathBuf>,
    /// PEM certificate of this process.
    #[arg(long, env = "OXIDASK_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "OXIDASK_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn files(self) -> Result<Option<TlsFiles>, String> {
        TlsFiles::from_parts(
            [self.tls_ca_file, self.tls_cert, self.tls_key],
            ["--tls-ca-file", "--tls-cert", "--tls-key"],
        )
        .map_err(|e| e.to_string())
    }
}

#[derive(Parser)]
#[command(name = "oxidask", version, about = "oxidask cluster processes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scheduler until interrupted.
    Scheduler {
        /// The host to listen on (127.0.0.1 unless told otherwise).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on.
        #[arg(long, default_value_t = 8786)]
        port: u16,
        /// The token every connection must present.
        #[arg(
            long,
            env = "OXIDASK_TOKEN",
            default_value = "",
            hide_env_values = true
        )]
        token: String,
        /// Workers a task may be running on when they die before it fails.
        #[arg(long, default_value_t = 3)]
        allowed_failures: u32,
        /// Root-task queuing (Dask's worker-saturation): a worker is sent a
        /// task without inputs only while fewer than threads × this are in
        /// flight on it (default: off).
        #[arg(long)]
        worker_saturation: Option<f64>,
        /// The port of the dashboard (status pages, JSON, Prometheus
        /// `/metrics`); 0 for any free one.
        #[arg(long, default_value_t = 8787)]
        dashboard_port: u16,
        /// The host the dashboard listens on (default: the scheduler's
        /// --host). It has no authentication: keep it on a trusted network.
        #[arg(long)]
        dashboard_host: Option<String>,
        /// Serve no dashboard.
        #[arg(long)]
        no_dashboard: bool,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Runs a worker of the scheduler at ADDRESS (host:port).
    Worker {
        /// The scheduler's address.
        address: String,
        /// Threads running tasks (default: all cores).
        #[arg(long)]
        nthreads: Option<usize>,
        /// The worker process's memory limit in bytes (e.g. 4000000000):
        /// results spill above 60 % of it, the process spills above 70 %,
        /// pauses above 80 % and ends above 95 % (Dask's thresholds).
        #[arg(long)]
        memory_limit: Option<usize>,
        /// Those four fractions of the memory limit:
        /// `target,spill,pause,terminate`, each a number or `off`.
        #[arg(long, env = "OXIDASK_MEMORY_FRACTIONS", default_value = "0.6,0.7,0.8,0.95", value_parser = oxidask::distributed::MemoryFractions::parse)]
        memory_fractions: oxidask::distributed::MemoryFractions,
        /// The worker's name.
        #[arg(long)]
        name: Option<String>,
        /// The token of the scheduler.
        #[arg(
            long,
            env = "OXIDASK_TOKEN",
            default_value = "",
            hide_env_values = true
        )]
        token: String,
        /// The host other workers reach this one on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[command(flatten)]
        tls: TlsArgs,
    },
}

fn main() {
    oxidask::init();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OXIDASK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Scheduler {
            host,
            port,
            token,
            allowed_failures,
            worker_saturation,
            dashboard_port,
            dashboard_host,
            no_dashboard,
            tls,
        } => {
            let addr = format!("{host}:{port}");
            let tls = tls.files().unwrap_or_else(|e| fail(&e));
            if worker_saturation.is_some_and(|s| s.is_nan() || s <= 0.0) {
                fail("--worker-saturation must be a positive number");
            }
            let options = SchedulerOptions {
                allowed_failures,
                worker_saturation,
                tls,
                ..SchedulerOptions::default()
            };
            let started = if no_dashboard {
                Scheduler::start(&addr, &token, options)
            } else {
                let dashboard = format!("{}:{dashboard_port}", dashboard_host.unwrap_or(host));
                Scheduler::start_with_dashboard(&addr, &token, options, &dashboard)
            };
            started.map(|s| {
                println!("oxidask scheduler at {}", s.addr());
                if let Some(link) = s.dashboard_link() {
                    println!("dashboard at {link}");
                }
                s.join();
            })
        }
        Command::Worker {
            address,
            nthreads,
            memory_limit,
            memory_fractions,
            name,
            token,
            host,
            tls,
        } => {
            let mut o = WorkerOptions {
                memory_limit,
                memory: memory_fractions,
                token,
                host,
                tls: tls.files().unwrap_or_else(|e| fail(&e)),
                ..WorkerOptions::default()
            };
            if let Some(n) = nthreads {
                o.nthreads = n.max(1);
            }
            if let Some(n) = name {
                o.name = n;
            }
            run_worker(&address, o)
        }
    };
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("oxidask: {message}");
    std::process::exit(1);
}
