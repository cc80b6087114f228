//! The command line: flags -> `Config`, logging, bind, run. Errors end here, with one line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http_server::config::{self, Config, DateField, Limits, Policy};
use http_server::{Accounts, Services, TlsFiles, access, server};
use log::{info, warn};
use logger::BufferedLogger;

mod logger;

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
    /// Slowest average request-body rate in bytes/s, after a grace of --io-timeout (then 408);
    /// 0 turns the guard off
    #[arg(long, default_value_t = config::MIN_BODY_RATE)]
    min_body_rate: u64,
    /// htpasswd file (bcrypt from `htpasswd -B`, or argon2id): writes need a user; reloaded on
    /// SIGHUP
    #[arg(long, value_name = "PATH")]
    auth_file: Option<PathBuf>,
    /// Reads need a user too (needs --auth-file)
    #[arg(long, requires = "auth_file")]
    private: bool,
    /// Refuse every write (405)
    #[arg(long)]
    read_only: bool,
    /// Let anonymous clients write on a non-loopback address (loopback binds always do)
    #[arg(long, conflicts_with = "auth_file")]
    allow_anonymous_writes: bool,
    /// A name (besides localhost and the bind address) clients of a loopback bind may use in
    /// Host; repeatable
    #[arg(long, value_name = "NAME")]
    allowed_host: Vec<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key); reloaded on SIGHUP
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Send no Date field. RFC 9110 §6.6.1 asks an origin server with a clock for one, so it is
    /// on by default; the exercise's runner fails on any Date, and your_server.sh passes this
    #[arg(long)]
    no_date: bool,
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
    let accounts = match &args.auth_file {
        Some(path) => Some(Arc::new(Accounts::load(path).context("--auth-file")?)),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(TlsFiles::load(cert, key)?)),
        _ => None,
    };
    let policy = Policy {
        bind: Some(args.bind),
        accounts: accounts.is_some(),
        private: args.private,
        read_only: args.read_only,
        allow_anonymous_writes: args.allow_anonymous_writes,
        allowed_hosts: args
            .allowed_host
            .iter()
            .map(|h| {
                access::host_name(h)
                    .with_context(|| format!("--allowed-host {h:?} is not a host name"))
            })
            .collect::<anyhow::Result<_>>()?,
        realm: config::REALM.into(),
        hints: config::Hints {
            unknown_host: "see --allowed-host".into(),
            anonymous_write: "see --auth-file".into(),
            no_directory: "see --directory".into(),
        },
    };
    let policy_line = describe_access(&policy, tls.is_some());
    let clear_text_passwords = access::exposes_passwords(&policy, tls.is_some());
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
            min_body_rate: args.min_body_rate,
            ..Limits::default()
        },
        policy,
    };
    let services = Services {
        accounts: accounts.clone(),
        tls: tls.clone(),
    };
    raise_open_files_limit(config.max_connections);
    let server = server::bind(config, services)?;
    info!("{policy_line}");
    if clear_text_passwords {
        warn!(
            "passwords will cross the network in clear text: --auth-file on {} without --tls-cert",
            args.bind
        );
    }
    let handle = server.shutdown_handle()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                reload(accounts.as_deref(), tls.as_deref());
                continue;
            }
            info!("signal {signal}: shutting down");
            handle.shutdown();
            break;
        }
    });
    info!("listening on {}", server.local_addr()?);
    // tests and scripts wait for this line: do not leave it in the buffer
    logger.flush_all();
    server.run().context("server failed")?;
    info!("stopped");
    Ok(())
}

/// SIGHUP: reads the auth file and the TLS pair again; connections stay open, and whatever
/// fails to load keeps its old version.
fn reload(accounts: Option<&Accounts>, tls: Option<&TlsFiles>) {
    if let Some(accounts) = accounts {
        match accounts.reload() {
            Ok(n) => info!("reloaded --auth-file: {n} accounts"),
            Err(e) => warn!("kept the old accounts: {e}"),
        }
    }
    if let Some(tls) = tls {
        match tls.reload() {
            Ok(()) => info!("reloaded the TLS certificate and key"),
            Err(e) => warn!("kept the old TLS certificate: {e}"),
        }
    }
    if accounts.is_none() && tls.is_none() {
        info!("SIGHUP: nothing to reload");
    }
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

/// The start-up line saying who may read and write (tests wait for it). Worded here because
/// it names the flags behind each case.
fn describe_access(policy: &Policy, tls: bool) -> String {
    let reads = if policy.private {
        "authenticated users"
    } else {
        "anyone"
    };
    let writes = match access::writers(policy) {
        access::Writers::Anyone => "anyone",
        access::Writers::AuthenticatedUsers => "authenticated users",
        access::Writers::NobodyReadOnly => "nobody (--read-only)",
        access::Writers::NobodyAnonymousOffLoopback => {
            "nobody (non-loopback bind without --auth-file)"
        }
    };
    let tls = if tls { "on" } else { "off" };
    format!("access: reads by {reads}, writes by {writes}, TLS {tls}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_policy_line() {
        let public = Policy {
            bind: Some("192.0.2.7".parse().unwrap()),
            realm: "files".into(),
            ..Policy::default()
        };
        assert_eq!(
            describe_access(&public, false),
            "access: reads by anyone, writes by nobody (non-loopback bind without --auth-file), TLS off"
        );
        let read_only = Policy {
            accounts: true,
            read_only: true,
            ..public
        };
        assert_eq!(
            describe_access(&read_only, true),
            "access: reads by anyone, writes by nobody (--read-only), TLS on"
        );
    }
}
