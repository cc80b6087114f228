//! `Config` and `Limits`: every tunable number of the server, named, with its default.
//! Parsing flags is `main.rs`'s job; this module only holds the values.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Root of `/files/`; `None` makes every `/files/` request a 404.
    pub directory: Option<PathBuf>,
    /// Connections served at once; the next one gets 503 and is closed.
    pub max_connections: usize,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once; the next one
    /// gets 503 and is closed. 0 is no limit.
    pub max_connections_per_client: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Whether responses carry `Date` (RFC 9110 §6.6.1); off with `--no-date`.
    pub date: DateField,
    pub limits: Limits,
    /// Who may read and write.
    pub policy: Policy,
    /// Whether dot files under `/files/` are served.
    pub dot_files: DotFiles,
}

/// What `/files/` does with a name that has a segment starting with `.` (`.git/config`,
/// `.env`). Listings show such names only under `Show`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DotFiles {
    /// Served like any other name: Finder and sync tools write and read `._*` and
    /// `.DS_Store`.
    #[default]
    Serve,
    /// `--hide-dot-files`: every request for one is 404, as if it were not there.
    Refuse,
    /// `--show-dot-files`: served, and listed too (the page, PROPFIND), so that a sync tool
    /// sees the dot files it wrote; the server's own in-progress names are never listed.
    Show,
}

/// Caps on what one client may send, and how slowly.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request line; longer gets 414.
    pub max_request_line_bytes: usize,
    /// Largest request head (request line + fields + blank line); larger gets 431.
    pub max_head_bytes: usize,
    /// Most header fields in one head; more gets 431.
    pub max_header_fields: usize,
    /// Largest request body; larger gets 413.
    pub max_body_bytes: u64,
    /// Longest chunk-size line (size + extensions) and trailer line of a chunked body.
    pub max_chunk_line_bytes: usize,
    /// Time allowed for a whole request head once its first byte arrived; then 408.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests; then it is closed quietly.
    pub idle_timeout: Duration,
    /// Longest wait for the next body byte, or for the client to take the next response byte.
    pub io_timeout: Duration,
    /// Slowest average body rate in bytes per second, after a grace of `io_timeout`: a body
    /// must be complete by `start + io_timeout + received / min_body_rate` (then 408). 0 is off.
    pub min_body_rate: u64,
    /// Most hits one `?q=` search answers with.
    pub max_search_results: usize,
    /// Longest a `?q=` search walks before it answers with what it found.
    pub search_time_limit: Duration,
    /// Slowest average rate at which a client must take a response, in bytes per second,
    /// after a grace of `io_timeout`: a response must be sent by
    /// `start + io_timeout + sent / min_send_rate` (then the connection is closed). 0 is off.
    pub min_send_rate: u64,
    /// How long a resumable upload may go without an append before it is removed.
    pub upload_max_age: Duration,
    /// Open resumable uploads one client (account, or address when anonymous) may hold; 429.
    pub max_uploads_per_client: usize,
    /// Open resumable uploads in all; beyond it 507.
    pub max_uploads: usize,
    /// Whether a WebDAV PROPFIND with `Depth: infinity` is answered (a bounded walk of the
    /// tree) rather than refused with `propfind-finite-depth`, Apache's default.
    pub propfind_infinity: bool,
}

pub const DEFAULT_PORT: u16 = 4221;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16384;
/// Enough for a browser's 6 per host many times over and for a benchmark's 256 keep-alive
/// connections; far below the global cap, so one address cannot take every slot.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
pub const MAX_HEADER_FIELDS: usize = 100;
pub const MAX_BODY_BYTES: u64 = 1 << 30;
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// 1 KiB/s: a 1 MiB body may take 30 s + 17 min; one byte every 29 s is cut off after 30 s.
pub const MIN_BODY_RATE: u64 = 1024;
pub const MAX_SEARCH_RESULTS: usize = 1000;
pub const SEARCH_TIME_LIMIT: Duration = Duration::from_secs(10);
/// 1 KiB/s, as for bodies: a reader that stalls is cut off after 30 s, one that takes a byte
/// at a time within minutes, however the kernel splits the writes.
pub const MIN_SEND_RATE: u64 = 1024;
pub const UPLOAD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const MAX_UPLOADS_PER_CLIENT: usize = 64;
pub const MAX_UPLOADS: usize = 1024;
/// The realm of the Basic challenge.
pub const REALM: &str = "files";

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line_bytes: MAX_REQUEST_LINE_BYTES,
            max_head_bytes: MAX_HEAD_BYTES,
            max_header_fields: MAX_HEADER_FIELDS,
            max_body_bytes: MAX_BODY_BYTES,
            max_chunk_line_bytes: MAX_CHUNK_LINE_BYTES,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            io_timeout: IO_TIMEOUT,
            min_body_rate: MIN_BODY_RATE,
            max_search_results: MAX_SEARCH_RESULTS,
            search_time_limit: SEARCH_TIME_LIMIT,
            min_send_rate: MIN_SEND_RATE,
            upload_max_age: UPLOAD_MAX_AGE,
            max_uploads_per_client: MAX_UPLOADS_PER_CLIENT,
            max_uploads: MAX_UPLOADS,
            propfind_infinity: false,
        }
    }
}

/// Whether the writer adds a `Date` field (RFC 9110 §6.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Send,
    /// `--no-date`: the exercise's runner fails on any `Date` field.
    Omit,
}

/// The access rules in force, fixed at start-up.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The address the server listens on: the names the rebinding check accepts depend on
    /// it, and a loopback one enables anonymous writes.
    pub bind: Option<IpAddr>,
    /// Accounts exist (`--auth-file`): writes need a user.
    pub accounts: bool,
    /// Reads need a user too (`--private`; needs accounts).
    pub private: bool,
    /// Writes are refused for everyone (`--read-only`).
    pub read_only: bool,
    /// Anonymous writes on a non-loopback bind (`--allow-anonymous-writes`).
    pub allow_anonymous_writes: bool,
    /// Extra names accepted in `Host` on any bind (`--allowed-host`), lower case.
    pub allowed_hosts: Vec<String>,
    /// Pages of other sites may embed files and listings (`--allow-embedding`): their
    /// `Cross-Origin-Resource-Policy` says `cross-origin` instead of `same-origin`.
    pub allow_embedding: bool,
    /// The realm named in the Basic challenge.
    pub realm: String,
    /// What a refused client (or its operator) can do about it, in the binary's words.
    pub hints: Hints,
}

/// Advice added to the one-line reason of a refusal or a 404, written by the binary because it
/// is the only code that names command-line flags. Empty: the reason stands alone.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// For the 421 to a `Host` that is not one of this machine's names (DNS rebinding): how
    /// to accept one more name.
    pub unknown_host: String,
    /// For the 403 to an anonymous write on a non-loopback bind: how to add accounts.
    pub anonymous_write: String,
    /// For the 404 to `/files/` when no directory is served: how to serve one.
    pub no_directory: String,
}
