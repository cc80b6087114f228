//! The command line: flags -> `Config`, logging, bind, run. Errors end here, with one line.

use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http_server::config::{self, Config, Limits};
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
    let log_output = BufferedStderr::default();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Pipe(Box::new(log_output.clone())))
        // The default format passes every message through an indenting writer and a calendar
        // library. This one writes the parts as bytes and formats only the message: every
        // connection thread logs, and keeps the deepest stack page it has ever touched.
        .format(|out, record| {
            out.write_all(b"[")?;
            out.write_all(&http_server::date::rfc3339(std::time::SystemTime::now()))?;
            out.write_all(b" ")?;
            out.write_all(record.level().as_str().as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(record.target().as_bytes())?;
            out.write_all(b"] ")?;
            out.write_fmt(*record.args())?;
            out.write_all(b"\n")
        })
        .init();
    let flusher = log_output.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(LOG_FLUSH_INTERVAL);
            flusher.flush_now();
        }
    });
    let result = run(&log_output);
    log_output.flush_now();
    if let Err(e) = result {
        // one line, whatever RUST_LOG says
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(log_output: &BufferedStderr) -> anyhow::Result<()> {
    let args = Args::parse();
    let positive = |flag: &str, secs: u64| -> anyhow::Result<Duration> {
        anyhow::ensure!(secs > 0, "--{flag} must be at least 1 second");
        Ok(Duration::from_secs(secs))
    };
    let config = Config {
        addr: SocketAddr::new(args.bind, args.port),
        directory: args.directory,
        max_connections: args.max_connections.max(1),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
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
    log_output.flush_now();
    server.run().context("server failed")?;
    info!("stopped");
    Ok(())
}

/// How long a log line may wait in memory before it is written.
const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Log output buffered in memory and written every `LOG_FLUSH_INTERVAL`: env_logger flushes its
/// target after every record, and one write(2) per access-log line costs a visible share of a
/// small request. `flush` is therefore a no-op here; `flush_now` really writes.
#[derive(Clone, Default)]
struct BufferedStderr(Arc<Mutex<Option<BufWriter<io::Stderr>>>>);

impl BufferedStderr {
    fn flush_now(&self) {
        if let Some(out) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = out.flush();
        }
    }
}

impl Write for BufferedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .get_or_insert_with(|| BufWriter::with_capacity(64 * 1024, io::stderr()))
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
