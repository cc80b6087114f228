//! Waiting for and reading a request head: quietly up to the idle timeout for its first byte
//! (while a shutdown may close the connection), then up to the header timeout for the rest.
//! A new connection's first request gets no idle allowance: a client that connects and says
//! nothing has the header timeout, or a few silent sockets would hold connection slots for the
//! whole idle timeout.
//! The parser is `http/`'s; answering a refused head is `connection.rs`'s.

use std::io;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use crate::config::Limits;
use crate::http::parse::{HeadScanner, Parsed};
use crate::http::request::RequestHead;
use crate::http::response::StatusCode;
use crate::http::transfer::{is_timeout, time_left};
use crate::net::body_source::ReadBuf;
use crate::net::shutdown::{Registration, ShutdownSignal};
use crate::net::stream::{Stream, set_socket_read_timeout};

/// Why waiting for a head ended without one.
#[derive(Debug, PartialEq, Eq)]
pub enum NoHead {
    /// Peer closed, reset, or went idle between requests: close without a word.
    Quiet,
    /// Answer this, then close.
    Answer(StatusCode, String),
}

/// What waiting between requests came to.
enum Awaited {
    /// Read with this timeout; the connection is marked idle meanwhile.
    Read(Duration),
    /// A TLS record has begun: the head's clock starts now.
    Record,
}

/// The parts of a connection that reading a head uses, borrowed for one head.
pub struct HeadReader<'c, 'a> {
    pub registration: &'c Registration<'a>,
    pub tls: Option<&'c mut ServerConnection>,
    /// The connection's record of the socket's read timeout.
    pub read_timeout: &'c mut Option<Duration>,
    pub buf: &'c mut ReadBuf,
    pub limits: &'c Limits,
    pub shutdown: &'c ShutdownSignal,
    /// Which request of the connection this head is.
    pub turn: Turn,
}

/// Whether a head is the connection's first: only later ones wait the idle timeout for their
/// first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    First,
    Later,
}

impl HeadReader<'_, '_> {
    /// Waits for the next request head: quietly up to the idle timeout for its first byte,
    /// then up to the header timeout for the rest (408 after that). The head's bytes are
    /// consumed from the buffer; what follows them stays.
    pub fn read_head(&mut self) -> Result<RequestHead, NoHead> {
        let limits = self.limits;
        let mut scanner = HeadScanner::default();
        let mut deadline = None;
        loop {
            if !self.buf.is_empty() {
                deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
                match scanner.poll(self.buf.filled(), limits) {
                    Ok(Parsed::Complete((head, len))) => {
                        self.buf.consume(len);
                        return Ok(head);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => return Err(NoHead::Answer(e.status(), e.to_string())),
                }
            }
            let wait = match deadline {
                // round up so that the last read does not wake a hair early
                Some(at) => time_left(at)
                    .ok_or_else(head_timed_out)?
                    .max(Duration::from_millis(1)),
                None => match self.wait_between_requests()? {
                    Awaited::Read(wait) => wait,
                    Awaited::Record => {
                        deadline = Some(Instant::now() + limits.header_timeout);
                        continue;
                    }
                },
            };
            self.read_more(wait)?;
        }
    }

    /// Between requests: marks the connection idle, so that a shutdown may close it, and says
    /// how to wait for the next request's first byte.
    fn wait_between_requests(&mut self) -> Result<Awaited, NoHead> {
        let idle_timeout = match self.turn {
            Turn::First => self.limits.header_timeout.min(self.limits.idle_timeout),
            Turn::Later => self.limits.idle_timeout,
        };
        loop {
            self.registration.set_idle(true);
            if self.shutdown.is_started() {
                return Err(NoHead::Quiet);
            }
            if !self.tls.as_ref().is_some_and(|tls| tls.wants_read()) {
                return Ok(Awaited::Read(idle_timeout));
            }
            // A TLS record may trickle in a byte at a time: as for a plain head, the header
            // timeout starts with its first byte, not with its plaintext.
            let tcp = self.registration.stream();
            let peeked = set_socket_read_timeout(tcp, self.read_timeout, idle_timeout)
                .and_then(|()| tcp.peek(&mut [0; 1]));
            self.registration.set_idle(false);
            match peeked {
                Ok(0) => return Err(NoHead::Quiet),
                Ok(_) => return Ok(Awaited::Record),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(NoHead::Quiet),
            }
        }
    }

    /// Reads once more of the head, waiting at most `wait`. Timing out while idle is a quiet
    /// close; timing out mid-head is a 408.
    fn read_more(&mut self, wait: Duration) -> Result<(), NoHead> {
        let mut stream = Stream::new(
            self.registration.stream(),
            self.tls.as_deref_mut(),
            self.read_timeout,
        );
        stream.set_read_timeout(wait).map_err(|_| NoHead::Quiet)?;
        let read = self.buf.fill_from(&mut stream, self.limits.max_head_bytes);
        let was_idle = self.registration.set_idle(false);
        match read {
            Ok(0) => Err(NoHead::Quiet),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if is_timeout(&e) && !was_idle => Err(head_timed_out()),
            Err(_) => Err(NoHead::Quiet),
        }
    }
}

fn head_timed_out() -> NoHead {
    NoHead::Answer(StatusCode::REQUEST_TIMEOUT, "request head timed out".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// Reads one head from a fresh loopback connection after `client` has had its say, with
    /// short timeouts; returns it and what stayed buffered.
    fn read_one(
        client: impl FnOnce(&mut TcpStream),
        shutdown: &ShutdownSignal,
    ) -> (Result<RequestHead, NoHead>, Vec<u8>) {
        read_turn(client, shutdown, Turn::Later, Duration::from_millis(300))
    }

    /// `read_one` for head `turn`, with this idle timeout.
    fn read_turn(
        client: impl FnOnce(&mut TcpStream),
        shutdown: &ShutdownSignal,
        turn: Turn,
        idle_timeout: Duration,
    ) -> (Result<RequestHead, NoHead>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        client(&mut peer);
        let limits = Limits {
            header_timeout: Duration::from_millis(300),
            idle_timeout,
            ..Limits::default()
        };
        let registration = shutdown.register(accepted);
        let mut buf = ReadBuf::default();
        let mut read_timeout = None;
        let head = HeadReader {
            registration: &registration,
            tls: None,
            read_timeout: &mut read_timeout,
            buf: &mut buf,
            limits: &limits,
            shutdown,
            turn,
        }
        .read_head();
        (head, buf.filled().to_vec())
    }

    #[test]
    fn a_head_in_pieces_is_read_and_what_follows_it_stays() {
        let (head, rest) = read_one(
            |c| {
                c.write_all(b"GET /a HTTP/1.1\r\nHo").unwrap();
                c.write_all(b"st: x\r\n\r\nGET /b").unwrap();
            },
            &ShutdownSignal::default(),
        );
        assert_eq!(head.unwrap().target, "/a");
        // the second request may still be on its way: whatever arrived is the next head's
        assert!(b"GET /b".starts_with(&rest), "{rest:?}");
    }

    #[test]
    fn silence_is_a_quiet_close_and_a_stalled_head_a_408() {
        let (head, _) = read_one(|_| {}, &ShutdownSignal::default());
        assert_eq!(head.unwrap_err(), NoHead::Quiet);
        let (head, _) = read_one(
            |c| c.write_all(b"GET / HTTP/1.1\r\n").unwrap(),
            &ShutdownSignal::default(),
        );
        assert_eq!(head.unwrap_err(), head_timed_out());
        let (head, _) = read_one(|c| c.write_all(b"GET / HTTP/9.9\r\n\r\n").unwrap(), &{
            ShutdownSignal::default()
        });
        assert!(
            matches!(head, Err(NoHead::Answer(status, _)) if status.code() == 505),
            "{head:?}"
        );
    }

    #[test]
    fn a_connection_waiting_for_its_first_byte_closes_on_shutdown() {
        let shutdown = ShutdownSignal::default();
        shutdown.start();
        // even with a request already there: an idle connection does not start another
        let (head, _) = read_one(
            |c| c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap(),
            &shutdown,
        );
        assert_eq!(head.unwrap_err(), NoHead::Quiet);
    }

    #[test]
    fn a_new_connection_waits_the_header_timeout_for_its_first_byte_not_the_idle_one() {
        let started = Instant::now();
        let (head, _) = read_turn(
            |_| {},
            &ShutdownSignal::default(),
            Turn::First,
            Duration::from_secs(30),
        );
        assert_eq!(head.unwrap_err(), NoHead::Quiet);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
