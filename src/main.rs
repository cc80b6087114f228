//! The command line: flags -> `Config`, logging, bind, run. Errors end here, with one line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http_server::config::{self, Config, Limits};
use http_server::logger::{self, BufferedLogger};
use http_server::server;
use log::{info, warn};

/// A small, strict HTTP/1.1 server: /, /echo/{s}, /user-agent and /files/{name}.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Directory served and written under /files/ (without it, /files/ answers 404)
    #[arg(long)]
    directory: Option<PathBuf>,
    /// TCP port; 0 picks a free one (the log says which)
    #[arg(long, default_value_t = config::DEFAULT_PORT)]
    port: u16,
    /// Address to listen on, IPv4 or IPv6 (e.g. ::1)
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Largest request body in bytes; larger gets 413
    #[arg(long, default_value_t = config::MAX_BODY_BYTES)]
    max_body: u64,
    /// Connections served at once; beyond it a new connection gets 503
    #[arg(long, default_value_t = config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a client may take to send a request head (then 408)
    #[arg(long, default_value_t = config::HEADER_TIMEOUT.as_secs())]
    header_timeout: u64,
    /// Seconds an idle keep-alive connection is kept open
    #[arg(long, default_value_t = config::IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Seconds a body read or a response write may stall
    #[arg(long, default_value_t = config::IO_TIMEOUT.as_secs())]
    io_timeout: u64,
    /// Seconds a graceful shutdown (SIGINT/SIGTERM) waits for in-flight requests
    #[arg(long, default_value_t = config::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace: u64,
}

fn main() {
    let logger = BufferedLogger::install();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(logger::FLUSH_INTERVAL);
            logger.flush_all();
        }
    });
    let result = run(logger);
    logger.flush_all();
    if let Err(e) = result {
        // one line, whatever RUST_LOG says
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(logger: &BufferedLogger) -> anyhow::Result<()> {
    let args = Args::parse();
    let positive = |flag: &str, secs: u64| -> anyhow::Result<Duration> {
        anyhow::ensure!(
            (1..=MAX_TIMEOUT_SECS).contains(&secs),
            "--{flag} must be from 1 to {MAX_TIMEOUT_SECS} seconds"
        );
        Ok(Duration::from_secs(secs))
    };
    let config = Config {
        addr: SocketAddr::new(args.bind, args.port),
        directory: args.directory,
        max_connections: args.max_connections.max(1),
        shutdown_grace: Duration::from_secs(args.shutdown_grace.min(MAX_TIMEOUT_SECS)),
        limits: Limits {
            max_body_bytes: args.max_body,
            header_timeout: positive("header-timeout", args.header_timeout)?,
            idle_timeout: positive("idle-timeout", args.idle_timeout)?,
            io_timeout: positive("io-timeout", args.io_timeout)?,
            ..Limits::default()
        },
    };
    raise_open_files_limit(config.max_connections);
    let server = server::bind(config)?;
    let handle = server.shutdown_handle()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            info!("signal {signal}: shutting down");
            handle.shutdown();
        }
    });
    info!("listening on {}", server.local_addr()?);
    // tests and scripts wait for this line: do not leave it in the buffer
    logger.flush_all();
    server.run().context("server failed")?;
    info!("stopped");
    Ok(())
}

/// The longest timeout the flags accept (a day): deadlines are computed as `now + timeout`.
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// Raises the soft open-files limit to the hard one, as nginx and Go do: every connection is a
/// descriptor, and the default soft limit (often 1024) is far below the connection cap.
fn raise_open_files_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        // a few descriptors go to the listener, logs and files being served
        Ok(limit) if limit < max_connections as u64 + 64 => warn!(
            "open files limited to {limit}: fewer than --max-connections {max_connections} can be served"
        ),
        Ok(_) => {}
        Err(e) => warn!("cannot raise the open files limit: {e}"),
    }
}
