//! The command line: flags -> `Config`, logging, bind, run. Errors end here, with one line.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http_server::config::{self, Config, Limits};
use http_server::response::DateField;
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
    /// Send no Date field. RFC 9110 §6.6.1 asks an origin server with a clock for one, so it is
    /// on by default; the exercise's runner fails on any Date, and your_server.sh passes this
    #[arg(long)]
    no_date: bool,
}

fn main() {
    let logger = ThreadBufferedLogger::install();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(LOG_FLUSH_INTERVAL);
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

fn run(logger: &ThreadBufferedLogger) -> anyhow::Result<()> {
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
        date: if args.no_date {
            DateField::Omit
        } else {
            DateField::Send
        },
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

/// How long a log line may wait in memory before it is written.
const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// The process's logger. env_logger decides what is logged (`RUST_LOG`); each line is then
/// formatted into a buffer of the calling thread, and one flusher writes all buffers to stderr
/// every `LOG_FLUSH_INTERVAL`. Connection threads log one access line per request: through a
/// shared lock and a write(2) each, that cost a fifth of the throughput at 64 connections.
/// Warnings and errors are written at once.
struct ThreadBufferedLogger {
    filter: env_logger::Logger,
    buffers: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
}

thread_local! {
    static LINES: std::cell::OnceCell<Arc<Mutex<Vec<u8>>>> = const { std::cell::OnceCell::new() };
}

impl ThreadBufferedLogger {
    fn install() -> &'static ThreadBufferedLogger {
        let filter =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .build();
        let max_level = filter.filter();
        let logger: &'static ThreadBufferedLogger = Box::leak(Box::new(ThreadBufferedLogger {
            filter,
            buffers: Mutex::new(Vec::new()),
        }));
        log::set_logger(logger).expect("the only logger");
        log::set_max_level(max_level);
        logger
    }

    /// Writes out every thread's lines; forgets the buffers of threads that have exited.
    /// No buffer lock is held while writing, and stderr is never locked under a buffer lock:
    /// a thread logging a warning takes them in the other order.
    fn flush_all(&self) {
        let mut pending = Vec::new();
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|shared| {
                let mut lines = shared.lock().unwrap_or_else(|e| e.into_inner());
                pending.append(&mut lines);
                if lines.capacity() > 4096 {
                    // a burst is over: an idle thread keeps no large buffer
                    lines.shrink_to_fit();
                }
                drop(lines);
                // the thread-local holds the other reference while its thread lives
                Arc::strong_count(shared) > 1
            });
        let _ = io::stderr().write_all(&pending);
    }
}

impl log::Log for ThreadBufferedLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !self.filter.matches(record) {
            return;
        }
        LINES.with(|cell| {
            let lines = cell.get_or_init(|| {
                let lines = Arc::new(Mutex::new(Vec::new()));
                self.buffers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(lines.clone());
                lines
            });
            let mut out = lines.lock().unwrap_or_else(|e| e.into_inner());
            // written as bytes with one formatting level: every connection thread logs, and
            // keeps the deepest stack page it has ever touched
            out.push(b'[');
            out.extend_from_slice(&http_server::date::rfc3339(std::time::SystemTime::now()));
            out.push(b' ');
            out.extend_from_slice(record.level().as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(record.target().as_bytes());
            out.extend_from_slice(b"] ");
            let _ = out.write_fmt(*record.args());
            out.push(b'\n');
            if record.level() <= log::Level::Warn {
                let now = std::mem::take(&mut *out);
                drop(out);
                let _ = io::stderr().write_all(&now);
            }
        });
    }

    fn flush(&self) {
        self.flush_all();
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
