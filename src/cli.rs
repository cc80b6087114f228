//! The command line: the flags (clap), `Args` -> `Config` and the services they name, and the
//! wording of every message that names a flag. This is the only code that knows the flags'
//! names: the library reports typed errors (`BindError`, `TlsError`) and this module says
//! which flag they are about.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http_server::config::{self, Config, DateField, DotFiles, Limits, Policy};
use http_server::{Accounts, BindError, Services, TlsError, TlsFiles, access};

/// A small, strict HTTP/1.1 server: /, /echo/{s}, /user-agent and /files/{name}.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Args {
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
    /// Connections one client address (IPv6: one /64) may hold at once, at most
    /// --max-connections; beyond it a new one gets 503. 0 is no limit (e.g. behind a proxy)
    #[arg(long, default_value_t = config::DEFAULT_MAX_CONNECTIONS_PER_CLIENT)]
    max_connections_per_client: usize,
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
    /// Most results a search (`?q=`) answers with; it says when it stopped early
    #[arg(long, default_value_t = config::MAX_SEARCH_RESULTS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_search_results: u32,
    /// Slowest average rate in bytes/s at which a client must take a response, after a grace
    /// of --io-timeout (then the connection is closed); 0 turns the guard off
    #[arg(long, default_value_t = config::MIN_SEND_RATE)]
    min_send_rate: u64,
    /// Seconds a resumable upload may go without an append before it is removed
    #[arg(long, default_value_t = config::UPLOAD_MAX_AGE.as_secs())]
    upload_expiry: u64,
    /// Open resumable uploads one client may hold (beyond: 429)
    #[arg(long, default_value_t = config::MAX_UPLOADS_PER_CLIENT)]
    max_uploads_per_client: usize,
    /// Open resumable uploads in all (beyond: 507)
    #[arg(long, default_value_t = config::MAX_UPLOADS)]
    max_uploads: usize,
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
    /// A name (besides the bind address, and localhost on a loopback or wildcard bind) clients
    /// may use in Host; repeatable
    #[arg(long, value_name = "NAME")]
    allowed_host: Vec<String>,
    /// Let pages of other sites embed files and listings (<script>, <img>, <video>); by default
    /// browsers refuse them (Cross-Origin-Resource-Policy: same-origin)
    #[arg(long)]
    allow_embedding: bool,
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
    /// Answer 404 to every /files/ name with a segment starting with a dot (.git/config,
    /// .env), as for serving a project tree; by default they are served, only left out of
    /// listings
    #[arg(long)]
    hide_dot_files: bool,
    /// List dot files too (the page, search, folder archives, WebDAV PROPFIND), for sync tools
    /// such as rclone that upload again whatever they cannot see; in-progress uploads never
    #[arg(long, conflicts_with = "hide_dot_files")]
    show_dot_files: bool,
    /// Answer WebDAV PROPFIND with Depth: infinity (a whole tree, walked within bounds,
    /// symlinks never entered) instead of refusing it as Apache does by default
    #[arg(long)]
    allow_propfind_infinity: bool,
}

/// The longest timeout the flags accept (a day): deadlines are computed as `now + timeout`.
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// What the flags ask for: the server's configuration, the files it reloads on SIGHUP, and
/// what to say at start-up.
pub struct Setup {
    pub config: Config,
    pub services: Services,
    /// Who may read and write, for the log.
    pub policy_line: String,
    /// Said at start-up when passwords would cross the network in clear text.
    pub clear_text_warning: Option<String>,
}

impl Args {
    /// Checks the flags and loads the files they name (accounts, certificate and key).
    pub fn into_setup(self) -> anyhow::Result<Setup> {
        let accounts = match &self.auth_file {
            Some(path) => Some(Arc::new(Accounts::load(path).context("--auth-file")?)),
            None => None,
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(
                TlsFiles::load(cert, key).map_err(|e| anyhow::anyhow!(tls_error(&e)))?,
            )),
            _ => None,
        };
        let policy = self.policy(accounts.is_some())?;
        let policy_line = describe_access(&policy, tls.is_some());
        let clear_text_warning = access::exposes_passwords(&policy, tls.is_some()).then(|| {
            format!(
                "passwords will cross the network in clear text: --auth-file on {} without --tls-cert",
                self.bind
            )
        });
        Ok(Setup {
            config: self.config(policy)?,
            services: Services { accounts, tls },
            policy_line,
            clear_text_warning,
        })
    }

    fn policy(&self, accounts: bool) -> anyhow::Result<Policy> {
        let allowed_hosts = self
            .allowed_host
            .iter()
            .map(|h| {
                access::host_name(h)
                    .with_context(|| format!("--allowed-host {h:?} is not a host name"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Policy {
            bind: Some(self.bind),
            accounts,
            private: self.private,
            read_only: self.read_only,
            allow_anonymous_writes: self.allow_anonymous_writes,
            allowed_hosts,
            allow_embedding: self.allow_embedding,
            realm: config::REALM.into(),
            hints: config::Hints {
                unknown_host: "see --allowed-host".into(),
                anonymous_write: "see --auth-file".into(),
                no_directory: "see --directory".into(),
            },
        })
    }

    fn config(&self, policy: Policy) -> anyhow::Result<Config> {
        let positive = |flag: &str, secs: u64| -> anyhow::Result<Duration> {
            anyhow::ensure!(
                (1..=MAX_TIMEOUT_SECS).contains(&secs),
                "--{flag} must be from 1 to {MAX_TIMEOUT_SECS} seconds"
            );
            Ok(Duration::from_secs(secs))
        };
        Ok(Config {
            addr: SocketAddr::new(self.bind, self.port),
            directory: self.directory.clone(),
            max_connections: self.max_connections.max(1),
            max_connections_per_client: match self.max_connections_per_client {
                0 => 0,
                n => n.min(self.max_connections.max(1)),
            },
            shutdown_grace: Duration::from_secs(self.shutdown_grace.min(MAX_TIMEOUT_SECS)),
            date: if self.no_date {
                DateField::Omit
            } else {
                DateField::Send
            },
            limits: Limits {
                max_body_bytes: self.max_body,
                header_timeout: positive("header-timeout", self.header_timeout)?,
                idle_timeout: positive("idle-timeout", self.idle_timeout)?,
                io_timeout: positive("io-timeout", self.io_timeout)?,
                min_body_rate: self.min_body_rate,
                max_search_results: self.max_search_results as usize,
                search_time_limit: config::SEARCH_TIME_LIMIT,
                min_send_rate: self.min_send_rate,
                upload_max_age: Duration::from_secs(self.upload_expiry.max(1)),
                max_uploads_per_client: self.max_uploads_per_client,
                max_uploads: self.max_uploads,
                propfind_infinity: self.allow_propfind_infinity,
                ..Limits::default()
            },
            policy,
            dot_files: match (self.hide_dot_files, self.show_dot_files) {
                (true, _) => DotFiles::Refuse,
                (_, true) => DotFiles::Show,
                _ => DotFiles::Serve,
            },
        })
    }
}

/// A failed bind, with the flag that named the directory.
pub fn bind_error(e: BindError) -> anyhow::Error {
    match e {
        BindError::Directory { path, source } => {
            anyhow::Error::new(source).context(format!("--directory {}", path.display()))
        }
        e => e.into(),
    }
}

/// An unusable certificate or key, with the flag that named each file.
pub fn tls_error(e: &TlsError) -> String {
    match e {
        TlsError::Cert { path, problem } => format!("--tls-cert {}: {problem}", path.display()),
        TlsError::Key { path, problem } => format!("--tls-key {}: {problem}", path.display()),
        TlsError::Mismatch { cert, key } => format!(
            "--tls-key {} does not belong to the certificate in --tls-cert {}",
            key.display(),
            cert.display()
        ),
        TlsError::Rejected { cert, key, reason } => format!(
            "--tls-cert {} / --tls-key {}: {reason}",
            cert.display(),
            key.display()
        ),
        TlsError::Setup(_) => e.to_string(),
    }
}

/// The log line after the accounts were read again on SIGHUP.
pub fn accounts_reloaded(accounts: usize) -> String {
    format!("reloaded --auth-file: {accounts} accounts")
}

/// The warning when the open-files limit is below what the connection cap needs.
pub fn too_few_open_files(limit: u64, max_connections: usize) -> String {
    format!(
        "open files limited to {limit}: fewer than --max-connections {max_connections} can be served"
    )
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
    use std::io;

    fn setup(args: &[&str]) -> anyhow::Result<Setup> {
        let args = std::iter::once("http-server").chain(args.iter().copied());
        Args::try_parse_from(args)?.into_setup()
    }

    #[test]
    fn flags_become_the_config() {
        let setup = setup(&[
            "--port",
            "0",
            "--bind",
            "::1",
            "--max-connections",
            "0",
            "--header-timeout",
            "3",
            "--min-body-rate",
            "0",
            "--no-date",
        ])
        .unwrap();
        let config = setup.config;
        assert_eq!(config.addr, "[::1]:0".parse().unwrap());
        assert_eq!(config.max_connections, 1, "at least one");
        assert_eq!(config.limits.header_timeout, Duration::from_secs(3));
        assert_eq!(config.limits.min_body_rate, 0);
        assert_eq!(config.date, DateField::Omit);
        assert!(setup.services.accounts.is_none() && setup.services.tls.is_none());
        assert!(setup.clear_text_warning.is_none());
    }

    #[test]
    fn timeouts_out_of_range_name_their_flag() {
        for (flag, secs) in [("--idle-timeout", "0"), ("--io-timeout", "86401")] {
            let e = setup(&[flag, secs]).err().unwrap();
            assert_eq!(
                e.to_string(),
                format!("{flag} must be from 1 to 86400 seconds")
            );
        }
    }

    #[test]
    fn errors_name_the_flag_behind_the_file() {
        let source = io::Error::from(io::ErrorKind::NotFound);
        let bind = bind_error(BindError::Directory {
            path: "/nowhere".into(),
            source,
        });
        assert_eq!(
            format!("{bind:#}"),
            format!(
                "--directory /nowhere: {}",
                io::Error::from(io::ErrorKind::NotFound)
            )
        );
        let mismatch = TlsError::Mismatch {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        };
        assert_eq!(
            tls_error(&mismatch),
            "--tls-key k.pem does not belong to the certificate in --tls-cert c.pem"
        );
    }

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
