//! The per-connection loop: the TLS handshake if any, then fill the buffer, parse a head, frame
//! the body, route, write, and keep the connection or close it. This is the only module that
//! owns a `TcpStream`; `stream.rs` lends it out as a plain or TLS byte stream.
//!
//! Every failure ends in one of two ways: a response (status plus a one-line reason, then close
//! when our place in the stream is unknown), or a silent close because the peer is gone or the
//! connection sat idle.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, info};
use rustls::ServerConnection;

use crate::config::Limits;
use crate::files::FileRoot;
use crate::http::body::{BodyFraming, ChunkedReader, LengthReader, decide_framing};
use crate::http::parse::{HeadScanner, Parsed};
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{self, Body, DateField, Persistence, Response, StatusCode};
use crate::http::transfer::{is_timeout, time_left};
use crate::net::stream::{Stream, set_socket_read_timeout};
use crate::net::tls::TlsFiles;
use crate::security::access::Policy;
use crate::security::auth::Accounts;
use crate::serve::compress::{Gzip, accepts_gzip};
use crate::serve::router::{self, AccessInputs};

/// What every connection shares: limits, the file root, and the shutdown switch.
#[derive(Debug)]
pub struct Context {
    /// Accepted sockets come with `TCP_NODELAY` and the idle and write timeouts already set
    /// (inherited from the listener).
    pub accepted_inherit_options: bool,
    pub limits: Limits,
    pub files: Option<FileRoot>,
    pub shutdown: ShutdownSignal,
    /// Who may read and write.
    pub policy: Policy,
    /// Accounts from `--auth-file`.
    pub accounts: Option<Arc<Accounts>>,
    /// Certificate and key from `--tls-cert`/`--tls-key`: connections speak TLS.
    pub tls: Option<Arc<TlsFiles>>,
    /// Whether responses carry `Date` (`--no-date` turns it off).
    pub date: DateField,
}

/// Lets a graceful shutdown close connections that sit idle between requests, while those in
/// the middle of a request finish it (with `Connection: close`).
#[derive(Debug, Default)]
pub struct ShutdownSignal {
    started: AtomicBool,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Registered>>>,
}

/// A connection as the shutdown sees it. The stream is shared rather than cloned: a
/// `try_clone` would spend a second descriptor on every connection.
#[derive(Debug)]
struct Registered {
    stream: TcpStream,
    idle: AtomicBool,
}

impl ShutdownSignal {
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Starts the shutdown: idle connections are woken and close; busy ones close after their
    /// current response.
    pub fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
        for conn in self.open.lock().expect("registry lock").values() {
            // pairs with the idle store then is_started check in read_head: one side sees the other
            if conn.idle.load(Ordering::SeqCst) {
                let _ = conn.stream.shutdown(Shutdown::Read);
            }
        }
    }

    fn register(&self, stream: TcpStream) -> (u64, Arc<Registered>) {
        let conn = Arc::new(Registered {
            stream,
            idle: AtomicBool::new(false),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .expect("registry lock")
            .insert(id, conn.clone());
        (id, conn)
    }

    fn unregister(&self, id: u64) {
        self.open.lock().expect("registry lock").remove(&id);
    }
}

/// Removes a connection from the shutdown registry when dropped.
struct Unregister<'a> {
    signal: &'a ShutdownSignal,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.signal.unregister(self.id);
    }
}

/// Buffers a connection thread keeps from one connection to the next.
#[derive(Default)]
pub struct Buffers {
    read: ReadBuf,
    write: Vec<u8>,
    gzip: Option<Gzip>,
    /// Files pass through this under TLS (no `sendfile` there).
    tls_file: Vec<u8>,
}

/// Room for a typical request head; grows for larger ones up to `max_head_bytes`.
const READ_BUF_BYTES: usize = 256;
/// Buffers that grew past this are given back once their request is done.
const KEEP_BUF_BYTES: usize = 64 * 1024;
/// How much of an unread body we read and discard to keep a connection (or before closing,
/// so that our response is not destroyed by an RST); beyond it we close.
const DRAIN_BYTES: u64 = 64 * 1024;
/// How long that draining may take at most.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Unconsumed bytes from the socket: `data[start..end]`. `data` is zero-initialised once and
/// only grows when a head does not fit.
#[derive(Default)]
struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `stream`, making room first (moving the unconsumed bytes to the front,
    /// or doubling up to `max` bytes). Returns 0 at EOF or when the buffer is at `max`.
    fn fill_from(&mut self, stream: &mut impl Read, max: usize) -> io::Result<usize> {
        if self.data.is_empty() {
            self.data = vec![0; READ_BUF_BYTES];
        }
        if self.end == self.data.len() && self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() {
            let grown = (self.data.len() * 2).min(max.max(READ_BUF_BYTES));
            if grown <= self.data.len() {
                return Ok(0);
            }
            self.data.resize(grown, 0);
        }
        let n = stream.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn shrink(&mut self) {
        if self.data.len() > KEEP_BUF_BYTES && self.start == self.end {
            *self = ReadBuf::default();
        }
    }
}

/// The request body's bytes as they arrive: first what is buffered, then the socket. Sends
/// `100 Continue` before the first socket read when the client is waiting for it, and holds
/// the client to the minimum body rate.
struct BodySource<'a> {
    buf: &'a mut ReadBuf,
    stream: Stream<'a>,
    continue_pending: bool,
    pace: Pace,
}

/// The slow-body guard: the body must have arrived by `started + io_timeout + received / rate`
/// (Apache's `mod_reqtimeout` `body=...,MinRate=...`), whatever the gaps between bytes.
struct Pace {
    started: Instant,
    /// Bytes per second; 0 turns the guard off.
    min_rate: u64,
    received: u64,
    /// Both the grace before the rate applies and the longest wait for any one read.
    io_timeout: Duration,
}

impl Pace {
    /// Before a socket read: fails with `TimedOut` once the body is late, and otherwise says
    /// how long the read may wait (no longer than the time left).
    fn wait(&self) -> io::Result<Duration> {
        if self.min_rate == 0 {
            return Ok(self.io_timeout);
        }
        let allowed = self.io_timeout
            + Duration::from_millis(self.received.saturating_mul(1000) / self.min_rate);
        let left = allowed.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request body slower than --min-body-rate",
            ));
        }
        Ok(left.min(self.io_timeout).max(Duration::from_millis(1)))
    }
}

impl BodySource<'_> {
    fn send_continue(&mut self) -> io::Result<()> {
        if self.continue_pending {
            self.continue_pending = false;
            self.stream.write_all(response::CONTINUE)?;
            self.stream.flush()?;
        }
        Ok(())
    }

    fn before_socket_read(&mut self) -> io::Result<()> {
        self.send_continue()?;
        let wait = self.pace.wait()?;
        self.stream.set_read_timeout(wait)
    }
}

impl Read for BodySource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.start == self.buf.end {
            // a large read bypasses the small buffer, as BufReader does
            if out.len() >= self.buf.data.len() {
                self.before_socket_read()?;
                let n = self.stream.read(out)?;
                self.pace.received += n as u64;
                return Ok(n);
            }
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for BodySource<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buf.start == self.buf.end {
            self.before_socket_read()?;
            let n = self.buf.fill_from(&mut self.stream, usize::MAX)?;
            self.pace.received += n as u64;
        }
        Ok(self.buf.filled())
    }

    fn consume(&mut self, n: usize) {
        self.buf.consume(n);
    }
}

/// A body reader picked by the framing.
enum Framed<'a> {
    None,
    Length(LengthReader<BodySource<'a>>),
    Chunked(ChunkedReader<BodySource<'a>>),
}

/// The request body as handlers read it; remembers whether reading it ever failed, after which
/// nothing more is read from the connection.
struct BodyReader<'a> {
    framed: Framed<'a>,
    failed: bool,
}

impl BodyReader<'_> {
    fn is_done(&self) -> bool {
        match &self.framed {
            Framed::None => true,
            Framed::Length(r) => r.remaining() == 0,
            Framed::Chunked(r) => r.is_done(),
        }
    }

    fn continue_pending(&self) -> bool {
        match &self.framed {
            Framed::None => false,
            Framed::Length(r) => r.get_ref().continue_pending,
            Framed::Chunked(r) => r.get_ref().continue_pending,
        }
    }
}

impl Read for BodyReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let result = match &mut self.framed {
            Framed::None => Ok(0),
            Framed::Length(r) => r.read(out),
            Framed::Chunked(r) => r.read(out),
        };
        self.failed |= result
            .as_ref()
            .is_err_and(|e| e.kind() != io::ErrorKind::Interrupted);
        result
    }
}

/// How a connection goes on after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    KeepAlive,
    /// Close; the request was read whole.
    Close,
    /// Close, but the client may still be sending: drain briefly before closing.
    Linger,
}

/// What `write` did, for the access log and the connection loop.
struct Written {
    persistence: Persistence,
    status: u16,
    sent: u64,
}

/// Why waiting for a head ended without one.
enum NoHead {
    /// Peer closed, reset, or went idle between requests: close without a word.
    Quiet,
    /// Answer this, then close.
    Answer(StatusCode, String),
}

struct Connection<'a> {
    conn: Arc<Registered>,
    /// The TLS session, when the server speaks TLS.
    tls: Option<Box<ServerConnection>>,
    peer_ip: IpAddr,
    /// The peer address, formatted once for the log.
    peer: String,
    ctx: &'a Context,
    bufs: &'a mut Buffers,
    read_timeout: Option<Duration>,
}

/// Serves one connection until it closes. Never panics on client input; I/O errors end the
/// connection.
pub fn serve(stream: TcpStream, peer: SocketAddr, ctx: &Context, bufs: &mut Buffers) {
    let read_timeout = if ctx.accepted_inherit_options {
        Some(ctx.limits.idle_timeout)
    } else {
        // one write per response: Nagle would hold a small response for the client's delayed ACK
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(ctx.limits.io_timeout));
        None
    };
    let (id, conn) = ctx.shutdown.register(stream);
    // unregistered even if serving panics: the registry's reference would keep the socket open
    let _registered = Unregister {
        signal: &ctx.shutdown,
        id,
    };
    debug!("{peer} connected");
    let mut conn = Connection {
        conn,
        tls: None,
        peer_ip: peer.ip(),
        peer: peer.to_string(),
        ctx,
        bufs,
        read_timeout,
    };
    if let Some(files) = &ctx.tls {
        match conn.handshake(files) {
            Ok(tls) => conn.tls = Some(tls),
            Err(e) => {
                debug!("{peer}: TLS handshake failed: {e}");
                return;
            }
        }
    }
    conn.run();
    // a panic or an early return may leave bytes of a dead connection behind
    let read = &mut conn.bufs.read;
    read.start = 0;
    read.end = 0;
    read.shrink();
    debug!("{peer} closed");
}

impl Connection<'_> {
    /// The TLS handshake, within the header timeout (however slowly the client trickles it).
    /// A plain HTTP request gets a plain 400 that says to use https.
    // Not inlined into `serve`: its frame (a rustls session is built on the stack before it is
    // boxed) would otherwise be reserved on every connection, plain ones too, and an idle
    // thread keeps every stack page it has touched.
    #[inline(never)]
    fn handshake(&mut self, files: &TlsFiles) -> io::Result<Box<ServerConnection>> {
        let deadline = Instant::now() + self.ctx.limits.header_timeout;
        let mut tls = ServerConnection::new(files.config())
            .map(Box::new)
            .map_err(io::Error::other)?;
        let conn = self.conn.clone();
        let mut tcp = &conn.stream;
        let mut first = [0u8; 1];
        self.set_read_timeout(self.ctx.limits.header_timeout)?;
        // RFC 8446 §5.1: a TLS record starts with its content type, 22 for a handshake
        if tcp.peek(&mut first)? == 1 && first[0] != 22 && first[0].is_ascii_uppercase() {
            let refusal = Response::error(
                StatusCode::BAD_REQUEST,
                "this port speaks HTTPS; use an https:// URL",
            );
            let mut plain = Stream::new(&conn.stream, None, &mut self.read_timeout);
            let _ = refusal.write_to(
                &mut plain,
                &mut self.bufs.write,
                false,
                Persistence::Close,
                self.ctx.date,
            );
            self.close_gracefully();
            return Err(io::Error::other("plain HTTP on the TLS port"));
        }
        while tls.is_handshaking() {
            if tls.wants_write() {
                tls.write_tls(&mut tcp)?;
                continue;
            }
            let Some(left) = time_left(deadline) else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "handshake timed out",
                ));
            };
            self.set_read_timeout(left.max(Duration::from_millis(1)))?;
            if tls.read_tls(&mut tcp)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Err(e) = tls.process_new_packets() {
                // the alert that says why
                while tls.wants_write() && tls.write_tls(&mut tcp).is_ok() {}
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        while tls.wants_write() {
            tls.write_tls(&mut tcp)?;
        }
        Ok(tls)
    }

    fn run(&mut self) {
        loop {
            let head = match self.read_head() {
                Ok(head) => head,
                Err(NoHead::Quiet) => return,
                Err(NoHead::Answer(status, reason)) => {
                    debug!("{}: refused head: {reason}", self.peer);
                    let written =
                        self.write(Response::error(status, reason), false, Ending::Linger);
                    self.log_access(None, &written, Instant::now());
                    return;
                }
            };
            let started = Instant::now();
            let written = self.exchange(&head);
            // logged here rather than deeper down: every connection thread keeps the deepest
            // stack page it has touched, and formatting a log line is deep
            self.log_access(Some(&head), &written, started);
            if written.persistence == Persistence::Close {
                return;
            }
            self.bufs.read.shrink();
            if self.bufs.write.capacity() > KEEP_BUF_BYTES {
                self.bufs.write = Vec::new();
            }
        }
    }

    /// One access-log line: `{peer} "{method} {target}" {status} {bytes}B {ms}ms`.
    fn log_access(&self, head: Option<&RequestHead>, written: &Written, started: Instant) {
        if !log::log_enabled!(target: "access", log::Level::Info) {
            return;
        }
        let (method, target) = match head {
            Some(head) => (head.method.as_str(), head.target.as_str()),
            // a head we could not parse: nothing of it is trustworthy enough to log
            None => ("-", "-"),
        };
        info!(
            target: "access",
            "{} \"{} {}\" {} {}B {}ms",
            self.peer,
            Escaped(method),
            Escaped(target),
            written.status,
            written.sent,
            started.elapsed().as_millis()
        );
    }

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        // one syscall saved per request: most reads use the timeout already set
        set_socket_read_timeout(&self.conn.stream, &mut self.read_timeout, timeout)
    }

    /// Waits for the next request head: quietly up to the idle timeout for its first byte, then
    /// up to the header timeout for the rest (408 after that).
    fn read_head(&mut self) -> Result<RequestHead, NoHead> {
        let limits = &self.ctx.limits;
        let mut scanner = HeadScanner::default();
        let mut deadline = None;
        loop {
            if self.bufs.read.start < self.bufs.read.end {
                deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
                match scanner.poll(self.bufs.read.filled(), limits) {
                    Ok(Parsed::Complete((head, len))) => {
                        self.bufs.read.consume(len);
                        return Ok(head);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => return Err(NoHead::Answer(e.status(), e.to_string())),
                }
            }
            let wait = match deadline {
                Some(at) => {
                    let Some(left) = time_left(at) else {
                        return Err(NoHead::Answer(
                            StatusCode::REQUEST_TIMEOUT,
                            "request head timed out".into(),
                        ));
                    };
                    // round up so that the last read does not wake a hair early
                    left.max(Duration::from_millis(1))
                }
                None => {
                    self.conn.idle.store(true, Ordering::SeqCst);
                    if self.ctx.shutdown.is_started() {
                        return Err(NoHead::Quiet);
                    }
                    if self.tls.as_ref().is_some_and(|tls| tls.wants_read()) {
                        // A TLS record may trickle in a byte at a time: as for a plain head,
                        // the header timeout starts with its first byte, not with its plaintext.
                        let peeked = self
                            .set_read_timeout(limits.idle_timeout)
                            .and_then(|()| self.conn.stream.peek(&mut [0; 1]));
                        self.conn.idle.store(false, Ordering::SeqCst);
                        match peeked {
                            Ok(0) => return Err(NoHead::Quiet),
                            Ok(_) => deadline = Some(Instant::now() + limits.header_timeout),
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => return Err(NoHead::Quiet),
                        }
                        continue;
                    }
                    limits.idle_timeout
                }
            };
            let mut stream = Stream::new(
                &self.conn.stream,
                self.tls.as_deref_mut(),
                &mut self.read_timeout,
            );
            stream.set_read_timeout(wait).map_err(|_| NoHead::Quiet)?;
            let read = self.bufs.read.fill_from(&mut stream, limits.max_head_bytes);
            let was_idle = self.conn.idle.swap(false, Ordering::SeqCst);
            match read {
                Ok(0) => return Err(NoHead::Quiet),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && !was_idle => {
                    return Err(NoHead::Answer(
                        StatusCode::REQUEST_TIMEOUT,
                        "request head timed out".into(),
                    ));
                }
                Err(_) => return Err(NoHead::Quiet),
            }
        }
    }

    /// Handles one parsed request: framing, expectations, routing, encoding, writing.
    fn exchange(&mut self, head: &RequestHead) -> Written {
        let limits = &self.ctx.limits;
        let framing = match decide_framing(head, limits) {
            Ok(framing) => framing,
            Err(e) => return self.write(Response::error(e.status(), e), false, Ending::Linger),
        };
        // RFC 9110 §10.1.1: 100-continue is the only expectation; HTTP/1.0 clients get none
        let expects_continue = match head.headers.get("expect") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("100-continue") => head.version == Version::Http11,
            Some(_) => {
                let refusal =
                    Response::error(StatusCode::EXPECTATION_FAILED, "unsupported expectation");
                return self.write(refusal, false, Ending::Linger);
            }
        };
        let mut ending = match requested_persistence(head) {
            Persistence::KeepAlive => Ending::KeepAlive,
            Persistence::Close => Ending::Close,
        };
        if framing != BodyFraming::None && self.set_read_timeout(limits.io_timeout).is_err() {
            let failed = Response::error(StatusCode::INTERNAL_SERVER_ERROR, "socket error");
            return self.write(failed, false, Ending::Linger);
        }
        let source = BodySource {
            buf: &mut self.bufs.read,
            stream: Stream::new(
                &self.conn.stream,
                self.tls.as_deref_mut(),
                &mut self.read_timeout,
            ),
            continue_pending: expects_continue,
            pace: Pace {
                started: Instant::now(),
                min_rate: limits.min_body_rate,
                received: 0,
                io_timeout: limits.io_timeout,
            },
        };
        let framed = match framing {
            BodyFraming::None => Framed::None,
            BodyFraming::Length(n) => Framed::Length(LengthReader::new(source, n)),
            BodyFraming::Chunked => Framed::Chunked(ChunkedReader::new(source, limits)),
        };
        let mut body = BodyReader {
            framed,
            failed: false,
        };
        let guard = AccessInputs {
            policy: &self.ctx.policy,
            accounts: self.ctx.accounts.as_deref(),
            peer: self.peer_ip,
        };
        let mut response = router::route(head, &mut body, self.ctx.files.as_ref(), &guard);
        if !body.is_done() {
            // A body that failed (bad framing, a stall, the client gone) leaves our place in
            // the stream unknown. A client still waiting for 100 may send nothing at all
            // (RFC 9110 §10.1.1). Otherwise a small rest is read and dropped, within a time
            // limit, so that the connection can serve the next request.
            let drained = !body.failed
                && !body.continue_pending()
                && discard(&mut body, &mut self.bufs.write, DRAIN_BYTES, DRAIN_TIME).is_ok()
                && body.is_done();
            if !drained {
                ending = Ending::Linger;
            }
        }
        if ending == Ending::KeepAlive && self.ctx.shutdown.is_started() {
            ending = Ending::Close;
        }
        if response.compressible {
            self.encode(head, &mut response);
        }
        if ending == Ending::KeepAlive && head.version == Version::Http10 {
            response.headers.push(("Connection", "keep-alive".into()));
        }
        self.write(response, head.method == Method::Head, ending)
    }

    /// Gzips the body when the client accepts it (RFC 9110 §12.5.3) and says that it varies.
    fn encode(&mut self, head: &RequestHead, response: &mut Response) {
        response.headers.push(("Vary", "Accept-Encoding".into()));
        if !accepts_gzip(head.headers.get_all("accept-encoding")) {
            return;
        }
        if let Body::Bytes(plain) = &response.body {
            let mut gzipped = Vec::new();
            self.bufs
                .gzip
                .get_or_insert_with(Gzip::default)
                .encode(plain, &mut gzipped);
            response.body = Body::Bytes(gzipped);
            response.headers.push(("Content-Encoding", "gzip".into()));
        }
    }

    /// Writes the response. When the connection ends, the client sees the close right after
    /// the response.
    fn write(&mut self, response: Response, head_only: bool, ending: Ending) -> Written {
        let status = response.status.code();
        let persistence = match ending {
            Ending::KeepAlive => Persistence::KeepAlive,
            Ending::Close | Ending::Linger => Persistence::Close,
        };
        let mut stream = Stream::new(
            &self.conn.stream,
            self.tls.as_deref_mut(),
            &mut self.read_timeout,
        );
        stream.scratch = Some(&mut self.bufs.tls_file);
        let result = response.write_to(
            &mut stream,
            &mut self.bufs.write,
            head_only,
            persistence,
            self.ctx.date,
        );
        if persistence == Persistence::Close {
            stream.close_notify();
        }
        let sent = match result {
            Ok(sent) => sent,
            Err(e) => {
                debug!("{}: write failed: {e}", self.peer);
                return Written {
                    persistence: Persistence::Close,
                    status,
                    sent: 0,
                };
            }
        };
        // unread input at close makes the kernel answer with an RST that can destroy the
        // response before the client reads it: read it away first
        match ending {
            Ending::KeepAlive => {}
            Ending::Close if self.bufs.read.start == self.bufs.read.end && self.tls.is_none() => {
                let _ = self.conn.stream.shutdown(Shutdown::Write);
            }
            Ending::Close | Ending::Linger => self.close_gracefully(),
        }
        Written {
            persistence,
            status,
            sent,
        }
    }

    /// Half-closes, then reads away what the client already sent (briefly), so that the close
    /// is a FIN the client reads after our response rather than an RST that may destroy it.
    fn close_gracefully(&mut self) {
        let mut stream = &self.conn.stream;
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = discard(&mut stream, &mut self.bufs.write, DRAIN_BYTES, DRAIN_TIME);
    }
}

/// Reads and drops up to `limit` bytes, until EOF, an error, the limit or `time` has passed
/// (a client dripping bytes must not hold the thread). `scratch` is heap space the caller has
/// anyway: a stack buffer would stay resident in every thread's stack.
fn discard(
    reader: &mut impl Read,
    scratch: &mut Vec<u8>,
    limit: u64,
    time: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + time;
    scratch.resize(scratch.len().max(8 * 1024), 0);
    let mut left = limit;
    while left > 0 && Instant::now() < deadline {
        let want = scratch
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        match reader.read(&mut scratch[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Client text for the log: as is when it is plain visible ASCII (the parser admits little
/// else into a target), escaped like `{:?}` otherwise, so that no client byte can forge a line.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self
            .0
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            f.write_str(self.0)
        } else {
            write!(f, "{}", self.0.escape_debug())
        }
    }
}

/// RFC 9112 §9.3: HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 only with keep-alive.
fn requested_persistence(head: &RequestHead) -> Persistence {
    let headers = &head.headers;
    match head.version {
        _ if headers.has_token("connection", "close") => Persistence::Close,
        Version::Http11 => Persistence::KeepAlive,
        Version::Http10 if headers.has_token("connection", "keep-alive") => Persistence::KeepAlive,
        Version::Http10 => Persistence::Close,
    }
}
