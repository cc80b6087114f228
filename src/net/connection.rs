//! The per-connection loop: head -> body -> route -> write -> keep/close. The pieces it runs
//! live beside it: reading a head (`head.rs`), the read buffer and body reader
//! (`body_source.rs`), the TLS handshake (`tls.rs`), the byte stream (`stream.rs`), the shutdown
//! registry (`shutdown.rs`) and the access line (`access_log.rs`); what to answer is `serve`'s.
//!
//! Every failure ends in one of two ways: a response (status plus a one-line reason, then close
//! when our place in the stream is unknown), or a silent close because the peer is gone or the
//! connection sat idle.

use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use rustls::ServerConnection;
use socket2::SockRef;

use crate::config::Limits;
use crate::files::FileRoot;
use crate::http::body::{BodyFraming, decide_framing};
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{DateField, Persistence, Response, Sending, StatusCode};
use crate::http::transfer::is_timeout;
use crate::net::access_log::{Outcome, log_access};
use crate::net::body_source::{
    BodyReader, BodySource, Expect, KEEP_BUF_BYTES, Pace, ReadBuf, discard,
};
use crate::net::head::{HeadReader, NoHead, Turn};
use crate::net::shutdown::{Registration, ShutdownSignal};
use crate::net::stream::{Stream, peer_has_left, set_socket_read_timeout};
use crate::net::tls::{self, HandshakeError, TlsFiles};
use crate::security::access::Policy;
use crate::security::auth::Accounts;
use crate::serve::compress::{self, Gzip};
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
    /// The accounts behind `Authorization`, if any.
    pub accounts: Option<Arc<Accounts>>,
    /// The certificate and key: connections speak TLS.
    pub tls: Option<Arc<TlsFiles>>,
    /// Whether responses carry `Date`.
    pub date: DateField,
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

/// How much of an unread body we read and discard to keep a connection (or before closing,
/// so that our response is not destroyed by an RST); beyond it we close.
const DRAIN_BYTES: u64 = 64 * 1024;
/// How long that draining may take at most.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// What `write` did, for the access log and the connection loop.
struct Written {
    persistence: Persistence,
    outcome: Outcome,
}

/// Whether the request was read to its end, so that the next byte is the next request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    ReadWhole,
    /// A body that was not (or could not be) read: the client may still be sending it.
    LeftUnread,
}

struct Connection<'a> {
    registration: Registration<'a>,
    /// The TLS session, when the server speaks TLS.
    tls: Option<Box<ServerConnection>>,
    peer_ip: IpAddr,
    /// The peer address, formatted once for the log.
    peer: String,
    ctx: &'a Context,
    bufs: &'a mut Buffers,
    /// The socket's read timeout as last set (see `stream::set_socket_read_timeout`).
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
    debug!("{peer} connected");
    let mut conn = Connection {
        registration: ctx.shutdown.register(stream),
        tls: None,
        peer_ip: peer.ip(),
        peer: peer.to_string(),
        ctx,
        bufs,
        read_timeout,
    };
    if let Some(files) = &ctx.tls {
        let timeout = ctx.limits.header_timeout;
        let tcp = conn.registration.stream();
        match tls::handshake(tcp, files, timeout, &mut conn.read_timeout) {
            Ok(session) => conn.tls = Some(session),
            Err(e) => {
                if let HandshakeError::PlainHttp = e {
                    let reason = "this port speaks HTTPS; use an https:// URL";
                    let refusal = Response::error(StatusCode::BAD_REQUEST, reason);
                    conn.refuse(refusal, Sending::HeadAndBody);
                }
                debug!("{peer}: TLS handshake failed: {e}");
                return;
            }
        }
    }
    conn.run();
    // a panic or an early return may leave bytes of a dead connection behind
    conn.bufs.read.clear();
    conn.bufs.read.shrink();
    debug!("{peer} closed");
}

impl Connection<'_> {
    /// Exchanges requests and responses until one of them ends the connection.
    fn run(&mut self) {
        let mut turn = Turn::First;
        loop {
            let head = match self.read_head(std::mem::replace(&mut turn, Turn::Later)) {
                Ok(head) => head,
                Err(NoHead::Quiet) => return,
                Err(NoHead::Answer(status, reason)) => {
                    debug!("{}: refused head: {reason}", self.peer);
                    let written =
                        self.refuse(Response::error(status, reason), Sending::HeadAndBody);
                    log_access(&self.peer, None, written.outcome, Instant::now());
                    return;
                }
            };
            let started = Instant::now();
            let written = self.exchange(&head);
            // logged here rather than deeper down: every connection thread keeps the deepest
            // stack page it has touched, and formatting a log line is deep
            log_access(&self.peer, Some(&head), written.outcome, started);
            if written.persistence == Persistence::Close {
                return;
            }
            self.bufs.read.shrink();
            if self.bufs.write.capacity() > KEEP_BUF_BYTES {
                self.bufs.write = Vec::new();
            }
        }
    }

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        // one syscall saved per request: most reads use the timeout already set
        set_socket_read_timeout(self.registration.stream(), &mut self.read_timeout, timeout)
    }

    /// The head step, with the parts of the connection it borrows.
    fn read_head(&mut self, turn: Turn) -> Result<RequestHead, NoHead> {
        HeadReader {
            registration: &self.registration,
            tls: self.tls.as_deref_mut(),
            read_timeout: &mut self.read_timeout,
            buf: &mut self.bufs.read,
            limits: &self.ctx.limits,
            shutdown: &self.ctx.shutdown,
            turn,
        }
        .read_head()
    }

    /// Handles one parsed request: admission, routing with the body, encoding, writing.
    fn exchange(&mut self, head: &RequestHead) -> Written {
        let (framing, expect) = match self.admit(head) {
            Ok(admitted) => admitted,
            Err(refusal) => return self.refuse(refusal, Sending::HeadAndBody),
        };
        let (mut response, input) = self.route(head, framing, expect);
        compress::encode_response(head, &mut response, &mut self.bufs.gzip);
        let sending = match head.method {
            Method::Head => Sending::HeadOnly,
            _ => Sending::HeadAndBody,
        };
        if input == Input::LeftUnread {
            return self.refuse(response, sending);
        }
        let persistence = match requested_persistence(head) {
            Persistence::KeepAlive if self.ctx.shutdown.is_started() => Persistence::Close,
            persistence => persistence,
        };
        if persistence == Persistence::KeepAlive && head.version == Version::Http10 {
            response.headers.push(("Connection", "keep-alive".into()));
        }
        self.write(response, sending, persistence)
    }

    /// What must hold before the body is read: its framing, an expectation we can meet, a
    /// socket that takes the body's timeout. Otherwise the refusal to send.
    fn admit(&mut self, head: &RequestHead) -> Result<(BodyFraming, Expect), Response> {
        let limits = &self.ctx.limits;
        let framing = decide_framing(head, limits).map_err(|e| Response::error(e.status(), e))?;
        // RFC 9110 §10.1.1: 100-continue is the only expectation; HTTP/1.0 clients get none
        let expect = match head.headers.get("expect") {
            None => Expect::Nothing,
            Some(v) if v.eq_ignore_ascii_case("100-continue") => match head.version {
                Version::Http11 => Expect::Continue,
                Version::Http10 => Expect::Nothing,
            },
            Some(_) => {
                let reason = "unsupported expectation";
                return Err(Response::error(StatusCode::EXPECTATION_FAILED, reason));
            }
        };
        if framing != BodyFraming::None && self.set_read_timeout(limits.io_timeout).is_err() {
            return Err(Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "socket error",
            ));
        }
        Ok((framing, expect))
    }

    /// Routes the request with its body, then reads away a small unread rest of the body so
    /// that the connection can serve the next request.
    fn route(
        &mut self,
        head: &RequestHead,
        framing: BodyFraming,
        expect: Expect,
    ) -> (Response, Input) {
        let limits = &self.ctx.limits;
        let stream = Stream::new(
            self.registration.stream(),
            self.tls.as_deref_mut(),
            &mut self.read_timeout,
        );
        let source = BodySource::new(&mut self.bufs.read, stream, expect, Pace::new(limits));
        let mut body = BodyReader::new(framing, source, limits);
        let tcp = self.registration.stream();
        let shutdown = &self.ctx.shutdown;
        let client_gone = || shutdown.is_started() || peer_has_left(tcp);
        let guard = AccessInputs {
            policy: &self.ctx.policy,
            accounts: self.ctx.accounts.as_deref(),
            peer: self.peer_ip,
            client_gone: &client_gone,
        };
        let response = router::route(head, &mut body, self.ctx.files.as_ref(), &guard, limits);
        if body.is_done() {
            return (response, Input::ReadWhole);
        }
        // A body that failed (bad framing, a stall, the client gone) leaves our place in the
        // stream unknown. A client still waiting for 100 may send nothing at all (RFC 9110
        // §10.1.1). Otherwise a small rest is read and dropped, within a time limit.
        let drained = !body.has_failed()
            && !body.awaits_continue()
            && discard(&mut body, &mut self.bufs.write, DRAIN_BYTES, DRAIN_TIME).is_ok()
            && body.is_done();
        let input = if drained {
            Input::ReadWhole
        } else {
            Input::LeftUnread
        };
        (response, input)
    }

    /// Writes the response. When the connection ends, the client sees the close right after
    /// the response.
    fn write(&mut self, response: Response, sending: Sending, persistence: Persistence) -> Written {
        let status = response.status.code();
        let sent = match self.send(response, sending, persistence) {
            Ok(sent) => sent,
            Err(e) => return self.write_failed(status, e),
        };
        if persistence == Persistence::Close {
            // unread input at close makes the kernel answer with an RST that can destroy the
            // response before the client reads it: read it away first
            if self.bufs.read.is_empty() && self.tls.is_none() {
                let _ = self.registration.stream().shutdown(Shutdown::Write);
            } else {
                self.close_gracefully();
            }
        }
        Written {
            persistence,
            outcome: Outcome { status, sent },
        }
    }

    /// Writes a response after which the connection closes while the client may still be
    /// sending (the rest of a refused head, a body not read): that is read away, briefly, so
    /// that the close does not destroy the response.
    fn refuse(&mut self, response: Response, sending: Sending) -> Written {
        let status = response.status.code();
        let sent = match self.send(response, sending, Persistence::Close) {
            Ok(sent) => sent,
            Err(e) => return self.write_failed(status, e),
        };
        self.close_gracefully();
        Written {
            persistence: Persistence::Close,
            outcome: Outcome { status, sent },
        }
    }

    /// Frames and sends the response; on `Close`, ends a TLS session with `close_notify`.
    /// Returns the number of body bytes sent.
    fn send(
        &mut self,
        response: Response,
        sending: Sending,
        persistence: Persistence,
    ) -> io::Result<u64> {
        let mut stream = Stream::new(
            self.registration.stream(),
            self.tls.as_deref_mut(),
            &mut self.read_timeout,
        );
        stream.scratch = Some(&mut self.bufs.tls_file);
        stream.pace_sends(Pace::for_response(&self.ctx.limits));
        let result = response.write_to(
            &mut stream,
            &mut self.bufs.write,
            sending,
            persistence,
            self.ctx.date,
        );
        stream.end_pace();
        if persistence == Persistence::Close {
            stream.close_notify();
        }
        result
    }

    /// A response that could not be written: the peer is gone, or our place in the stream is.
    /// A client too slow to take it is reset rather than closed: a close would leave the
    /// kernel sending it what is still buffered (megabytes) at its own slow pace, and the
    /// client would see no end for minutes (nginx's `reset_timedout_connection`).
    fn write_failed(&self, status: u16, e: io::Error) -> Written {
        debug!("{}: write failed: {e}", self.peer);
        if is_timeout(&e) {
            let _ = SockRef::from(self.registration.stream()).set_linger(Some(Duration::ZERO));
        }
        Written {
            persistence: Persistence::Close,
            outcome: Outcome { status, sent: 0 },
        }
    }

    /// Half-closes, then reads away what the client already sent (briefly), so that the close
    /// is a FIN the client reads after our response rather than an RST that may destroy it.
    fn close_gracefully(&mut self) {
        let mut stream = self.registration.stream();
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = discard(&mut stream, &mut self.bufs.write, DRAIN_BYTES, DRAIN_TIME);
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
