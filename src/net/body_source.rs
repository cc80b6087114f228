//! The input side of a connection: the read buffer a head is parsed from, the body's bytes as
//! they arrive behind it (`BodySource`: `100 Continue`, the minimum-rate guard), and the reader
//! the framing picks over them (`BodyReader`). Parsing and the length and chunked decoders are
//! `http/`'s; when to read and what to answer is `connection.rs`'s.

use std::io::{self, BufRead, Read, Write};
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::http::body::{BodyFraming, ChunkedReader, LengthReader};
use crate::http::response;
use crate::net::stream::Stream;
use crate::serve::router::RequestBody;

/// Room for a typical request head; grows for larger ones up to `max_head_bytes`.
const READ_BUF_BYTES: usize = 256;
/// Buffers that grew past this are given back once their request is done.
pub const KEEP_BUF_BYTES: usize = 64 * 1024;

/// Unconsumed bytes from the socket: `data[start..end]`. `data` is zero-initialised once and
/// only grows when a head does not fit.
#[derive(Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Forgets what is buffered (the rest of a connection that has ended).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads once from `stream`, making room first (moving the unconsumed bytes to the front,
    /// or doubling up to `max` bytes). Returns 0 at EOF or when the buffer is at `max`.
    pub fn fill_from(&mut self, stream: &mut impl Read, max: usize) -> io::Result<usize> {
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

    /// Gives back a buffer that a large head made grow, once it is empty.
    pub fn shrink(&mut self) {
        if self.data.len() > KEEP_BUF_BYTES && self.start == self.end {
            *self = ReadBuf::default();
        }
    }
}

/// What a body is read from: the connection's stream, plain or TLS, which also carries the
/// `100 Continue` out and takes a timeout before each read.
pub trait Transport: Read + Write {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
}

impl Transport for Stream<'_> {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        Stream::set_read_timeout(self, timeout)
    }
}

/// Whether the client waits for `100 Continue` before it sends the body (RFC 9110 §10.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Nothing,
    Continue,
}

/// The slow-transfer guard: a request body must have arrived, or a response have been taken
/// by the client, by `started + io_timeout + bytes / rate` (Apache's `mod_reqtimeout`
/// `body=...,MinRate=...`), whatever the gaps between bytes. A transfer in many small pieces
/// cannot restart the clock with each one.
#[derive(Debug)]
pub struct Pace {
    started: Instant,
    /// Bytes per second; 0 turns the guard off.
    min_rate: u64,
    /// Bytes moved so far.
    bytes: u64,
    /// Both the grace before the rate applies and the longest wait for any one read or write.
    io_timeout: Duration,
    /// The error once the transfer is late.
    late: &'static str,
}

const BODY_LATE: &str = "request body slower than the minimum body rate";
const RESPONSE_LATE: &str = "response taken slower than the minimum send rate";

impl Pace {
    /// A guard for a request body starting now, with the limits' body rate and timeout.
    pub fn new(limits: &Limits) -> Pace {
        Pace::with_rate(limits.min_body_rate, limits.io_timeout, BODY_LATE)
    }

    /// A guard for a response starting now, with the limits' send rate and timeout.
    pub fn for_response(limits: &Limits) -> Pace {
        Pace::with_rate(limits.min_send_rate, limits.io_timeout, RESPONSE_LATE)
    }

    fn with_rate(min_rate: u64, io_timeout: Duration, late: &'static str) -> Pace {
        Pace {
            started: Instant::now(),
            min_rate,
            bytes: 0,
            io_timeout,
            late,
        }
    }

    /// Counts `n` more bytes moved.
    pub fn count(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// The longest any one read or write may wait, whatever the rate.
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// Whether a minimum rate applies at all (0 turns it off).
    pub fn has_rate(&self) -> bool {
        self.min_rate > 0
    }

    /// Before a socket read or write: fails with `TimedOut` once the transfer is late, and
    /// otherwise says how long it may wait (no longer than the time left).
    pub fn wait(&self) -> io::Result<Duration> {
        self.wait_after(self.started.elapsed())
    }

    /// `wait`, `elapsed` after the body started.
    fn wait_after(&self, elapsed: Duration) -> io::Result<Duration> {
        if self.min_rate == 0 {
            return Ok(self.io_timeout);
        }
        let allowed = self.io_timeout
            + Duration::from_millis(self.bytes.saturating_mul(1000) / self.min_rate);
        let left = allowed.saturating_sub(elapsed);
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, self.late));
        }
        Ok(left.min(self.io_timeout).max(Duration::from_millis(1)))
    }
}

/// The request body's bytes as they arrive: first what is buffered, then the socket. Sends
/// `100 Continue` before the first socket read when the client is waiting for it, and holds
/// the client to the minimum body rate.
pub struct BodySource<'a, T> {
    buf: &'a mut ReadBuf,
    stream: T,
    expect: Expect,
    pace: Pace,
}

impl<'a, T: Transport> BodySource<'a, T> {
    pub fn new(buf: &'a mut ReadBuf, stream: T, expect: Expect, pace: Pace) -> Self {
        BodySource {
            buf,
            stream,
            expect,
            pace,
        }
    }

    fn send_continue(&mut self) -> io::Result<()> {
        if self.expect == Expect::Continue {
            self.expect = Expect::Nothing;
            self.stream.write_all(response::CONTINUE)?;
            self.stream.flush()?;
        }
        Ok(())
    }

    /// A 1xx head before the body: after the 100 the client waits for (RFC 9110 §15.2 and
    /// the resumable-upload draft §5: a 104 does not replace it).
    fn send_interim(&mut self, head: &[u8]) -> io::Result<()> {
        self.send_continue()?;
        self.stream.write_all(head)?;
        self.stream.flush()
    }

    fn before_socket_read(&mut self) -> io::Result<()> {
        self.send_continue()?;
        let wait = self.pace.wait()?;
        self.stream.set_read_timeout(wait)
    }
}

impl<T: Transport> Read for BodySource<'_, T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.is_empty() {
            // a large read bypasses the small buffer, as BufReader does
            if out.len() >= self.buf.data.len() {
                self.before_socket_read()?;
                let n = self.stream.read(out)?;
                self.pace.count(n);
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

impl<T: Transport> BufRead for BodySource<'_, T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buf.is_empty() {
            self.before_socket_read()?;
            let n = self.buf.fill_from(&mut self.stream, usize::MAX)?;
            self.pace.count(n);
        }
        Ok(self.buf.filled())
    }

    fn consume(&mut self, n: usize) {
        self.buf.consume(n);
    }
}

/// A body reader picked by the framing.
enum Framed<'a, T> {
    None,
    Length(LengthReader<BodySource<'a, T>>),
    Chunked(ChunkedReader<BodySource<'a, T>>),
}

/// The request body as handlers read it; remembers whether reading it ever failed, after which
/// nothing more is read from the connection.
pub struct BodyReader<'a, T> {
    framed: Framed<'a, T>,
    failed: bool,
}

impl<'a, T: Transport> BodyReader<'a, T> {
    /// The body `framing` describes, read from `source`.
    pub fn new(framing: BodyFraming, source: BodySource<'a, T>, limits: &Limits) -> Self {
        let framed = match framing {
            BodyFraming::None => Framed::None,
            BodyFraming::Length(n) => Framed::Length(LengthReader::new(source, n)),
            BodyFraming::Chunked => Framed::Chunked(ChunkedReader::new(source, limits)),
        };
        BodyReader {
            framed,
            failed: false,
        }
    }

    /// Whether the whole body has been read (our place in the stream is the next request).
    pub fn is_done(&self) -> bool {
        match &self.framed {
            Framed::None => true,
            Framed::Length(r) => r.remaining() == 0,
            Framed::Chunked(r) => r.is_done(),
        }
    }

    /// Whether a read failed (bad framing, a stall, the client gone): our place in the stream
    /// is unknown.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Whether the client still waits for `100 Continue`, and so may never send the body.
    pub fn awaits_continue(&self) -> bool {
        let source = match &self.framed {
            Framed::None => return false,
            Framed::Length(r) => r.get_ref(),
            Framed::Chunked(r) => r.get_ref(),
        };
        source.expect == Expect::Continue
    }
}

impl<T: Transport> RequestBody for BodyReader<'_, T> {
    /// Only while a body is to come: without one the final response follows at once.
    fn send_interim(&mut self, head: &[u8]) -> io::Result<()> {
        match &mut self.framed {
            Framed::None => Ok(()),
            Framed::Length(r) => r.get_mut().send_interim(head),
            Framed::Chunked(r) => r.get_mut().send_interim(head),
        }
    }
}

impl<T: Transport> Read for BodyReader<'_, T> {
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

/// Reads and drops up to `limit` bytes, until EOF, an error, the limit or `time` has passed
/// (a client dripping bytes must not hold the thread). `scratch` is heap space the caller has
/// anyway: a stack buffer would stay resident in every thread's stack. (Not `copy_with`: that
/// allocates its own 64 KiB per call and has no time limit.)
pub fn discard(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A transport that hands out scripted reads, one item per `read`, and records what was
    /// written and every timeout set.
    #[derive(Default)]
    struct Script {
        reads: VecDeque<io::Result<Vec<u8>>>,
        socket_reads: usize,
        written: Vec<u8>,
        timeouts: Vec<Duration>,
    }

    impl Script {
        fn new(reads: Vec<io::Result<&[u8]>>) -> Script {
            Script {
                reads: reads.into_iter().map(|r| r.map(<[u8]>::to_vec)).collect(),
                ..Script::default()
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.socket_reads += 1;
            match self.reads.pop_front() {
                None => Ok(0),
                Some(Err(e)) => Err(e),
                Some(Ok(mut bytes)) => {
                    let n = bytes.len().min(out.len());
                    out[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.reads.push_front(Ok(bytes.split_off(n)));
                    }
                    Ok(n)
                }
            }
        }
    }

    impl Write for Script {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for &mut Script {
        fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
            self.timeouts.push(timeout);
            Ok(())
        }
    }

    fn limits(min_body_rate: u64) -> Limits {
        Limits {
            io_timeout: Duration::from_secs(30),
            min_body_rate,
            ..Limits::default()
        }
    }

    /// A read buffer holding `bytes`, as the head's reads leave it.
    fn buffered(bytes: &[u8]) -> ReadBuf {
        let mut buf = ReadBuf::default();
        buf.fill_from(&mut Script::new(vec![Ok(bytes)]), usize::MAX)
            .unwrap();
        buf
    }

    fn read_body(
        framing: BodyFraming,
        buf: &mut ReadBuf,
        script: &mut Script,
        expect: Expect,
    ) -> (io::Result<Vec<u8>>, bool) {
        let limits = limits(0);
        let source = BodySource::new(buf, script, expect, Pace::new(&limits));
        let mut body = BodyReader::new(framing, source, &limits);
        let mut out = Vec::new();
        let result = body.read_to_end(&mut out).map(|_| out);
        assert_eq!(body.has_failed(), result.is_err());
        (result, body.is_done())
    }

    #[test]
    fn buffered_bytes_come_first_and_the_next_request_stays_buffered() {
        let mut buf = buffered(b"hello");
        let mut script = Script::new(vec![Ok(b" wor"), Ok(b"ldGET / HTTP/1.1\r\n")]);
        let (body, done) = read_body(
            BodyFraming::Length(11),
            &mut buf,
            &mut script,
            Expect::Nothing,
        );
        assert_eq!(body.unwrap(), b"hello world");
        assert!(done);
        assert_eq!(buf.filled(), b"GET / HTTP/1.1\r\n");
        // one timeout per socket read, the io timeout while the rate guard is off
        assert_eq!(script.timeouts, vec![Duration::from_secs(30); 2]);
        assert_eq!(script.socket_reads, 2);
    }

    #[test]
    fn a_body_already_buffered_reads_no_socket_and_sends_no_continue() {
        let mut buf = buffered(b"abc");
        let mut script = Script::new(vec![]);
        let (body, done) = read_body(
            BodyFraming::Length(3),
            &mut buf,
            &mut script,
            Expect::Continue,
        );
        assert_eq!(body.unwrap(), b"abc");
        assert!(done);
        assert_eq!(script.socket_reads, 0);
        assert!(script.written.is_empty());
    }

    #[test]
    fn continue_goes_out_once_before_the_first_socket_read() {
        let mut buf = ReadBuf::default();
        let mut script = Script::new(vec![Ok(b"3\r\nabc\r\n"), Ok(b"0\r\n\r\n")]);
        let (body, done) = read_body(
            BodyFraming::Chunked,
            &mut buf,
            &mut script,
            Expect::Continue,
        );
        assert_eq!(body.unwrap(), b"abc");
        assert!(done);
        assert_eq!(script.written, response::CONTINUE);
    }

    #[test]
    fn a_short_or_broken_body_fails_and_is_not_done() {
        let mut buf = buffered(b"ab");
        let mut script = Script::new(vec![]);
        let (body, done) = read_body(
            BodyFraming::Length(5),
            &mut buf,
            &mut script,
            Expect::Nothing,
        );
        assert_eq!(body.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(!done);
        let mut script = Script::new(vec![Err(io::ErrorKind::ConnectionReset.into())]);
        let (body, done) = read_body(
            BodyFraming::Length(5),
            &mut ReadBuf::default(),
            &mut script,
            Expect::Nothing,
        );
        assert_eq!(body.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        assert!(!done);
    }

    #[test]
    fn a_client_never_told_to_continue_still_awaits_it() {
        let limits = limits(0);
        let mut script = Script::new(vec![]);
        let mut buf = ReadBuf::default();
        let source = BodySource::new(&mut buf, &mut script, Expect::Continue, Pace::new(&limits));
        let body = BodyReader::new(BodyFraming::Length(10), source, &limits);
        assert!(body.awaits_continue());
        assert!(!body.is_done());
        let source = BodySource::new(&mut buf, &mut script, Expect::Continue, Pace::new(&limits));
        assert!(!BodyReader::new(BodyFraming::None, source, &limits).awaits_continue());
    }

    #[test]
    fn only_socket_bytes_count_towards_the_rate() {
        let limits = limits(100);
        let mut buf = buffered(b"12345");
        let mut script = Script::new(vec![Ok(b"678")]);
        let mut source =
            BodySource::new(&mut buf, &mut script, Expect::Nothing, Pace::new(&limits));
        let mut out = [0u8; 8];
        assert_eq!(source.read(&mut out).unwrap(), 5);
        assert_eq!(source.pace.bytes, 0);
        assert_eq!(source.read(&mut out).unwrap(), 3);
        assert_eq!(source.pace.bytes, 3);
    }

    #[test]
    fn pace_deadline_arithmetic() {
        let ms = Duration::from_millis;
        let pace = |min_rate, received| Pace {
            started: Instant::now(),
            min_rate,
            bytes: received,
            io_timeout: ms(1000),
            late: BODY_LATE,
        };
        // (min rate B/s, received, elapsed ms, the read's timeout or None for late)
        let cases: &[(u64, u64, u64, Option<u64>)] = &[
            // off: always the io timeout
            (0, 0, 0, Some(1000)),
            (0, 0, 1_000_000, Some(1000)),
            // the grace: io_timeout before any byte is due
            (100, 0, 0, Some(1000)),
            (100, 0, 400, Some(600)),
            (100, 0, 1000, None),
            (100, 0, 5000, None),
            // 50 bytes at 100 B/s buy 500 ms more
            (100, 50, 1200, Some(300)),
            (100, 50, 1500, None),
            // no single read waits longer than the io timeout
            (100, 1000, 0, Some(1000)),
            (100, 1000, 10_500, Some(500)),
            (1000, 1, 1000, Some(1)),
            // no overflow for a huge count
            (1, u64::MAX, 0, Some(1000)),
        ];
        for &(rate, received, elapsed, want) in cases {
            let got = pace(rate, received).wait_after(ms(elapsed));
            match want {
                Some(want) => assert_eq!(got.unwrap(), ms(want), "{rate} {received} {elapsed}"),
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(
                        e.kind(),
                        io::ErrorKind::TimedOut,
                        "{rate} {received} {elapsed}"
                    );
                }
            }
        }
        // a hair before the deadline still waits 1 ms, never 0 (std refuses a zero timeout)
        let almost = ms(1000) - Duration::from_micros(1);
        assert_eq!(pace(100, 0).wait_after(almost).unwrap(), ms(1));
        // wait() measures from the start
        let late = Pace {
            started: Instant::now() - ms(2000),
            ..pace(100, 0)
        };
        assert_eq!(late.wait().unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(pace(100, 0).wait().unwrap() > ms(900));
    }

    #[test]
    fn read_buf_grows_to_its_maximum_and_no_further() {
        let mut buf = ReadBuf::default();
        let long = vec![b'x'; 2000];
        let mut script = Script::new(vec![Ok(&long)]);
        let mut total = 0;
        loop {
            match buf.fill_from(&mut script, 1024).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        assert_eq!(total, 1024);
        assert_eq!(buf.filled().len(), 1024);
        // consuming makes room: the rest moves to the front, and the last 976 bytes fit
        buf.consume(1000);
        assert_eq!(buf.fill_from(&mut script, 1024).unwrap(), 976);
        assert_eq!(buf.filled(), &long[..1000]);
        assert_eq!(buf.data.len(), 1024, "no growth past the maximum");
        buf.consume(1000);
        assert!(buf.is_empty());
    }

    #[test]
    fn read_buf_gives_back_a_large_buffer_once_empty() {
        let mut buf = ReadBuf::default();
        let big = vec![b'y'; 100_000];
        let mut script = Script::new(vec![Ok(&big)]);
        while buf.fill_from(&mut script, 200_000).unwrap() > 0 {}
        assert!(buf.data.len() > KEEP_BUF_BYTES);
        buf.shrink();
        assert!(buf.data.len() > KEEP_BUF_BYTES, "kept while it holds bytes");
        buf.consume(buf.filled().len());
        buf.shrink();
        assert_eq!(buf.data.len(), 0);
    }

    #[test]
    fn discard_stops_at_its_limit_or_eof() {
        let data = vec![0u8; 100_000];
        let mut reader = &data[..];
        discard(&mut reader, &mut Vec::new(), 50_000, Duration::from_secs(5)).unwrap();
        assert_eq!(reader.len(), 50_000);
        discard(
            &mut reader,
            &mut Vec::new(),
            u64::MAX,
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(reader.is_empty());
        let mut script = Script::new(vec![Err(io::ErrorKind::ConnectionReset.into())]);
        assert!(discard(&mut script, &mut Vec::new(), 10, Duration::from_secs(5)).is_err());
    }
}
