//! `StatusCode`, `Response` and `Body`, and the writer that owns response framing: it adds
//! `Content-Length` (none on 1xx/204/304), `Connection: close` when the connection ends, and
//! sends no body for HEAD. Head and in-memory body leave in one `write`; files stream after it.
//! Bodies produced while they are sent (`Body::Stream`) go out with their length when they know
//! it, and with the chunked transfer coding (RFC 9112 §7.1) when they do not.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use crate::http::date;

/// An HTTP status code with its RFC 9110 reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(u16);

macro_rules! status_codes {
    ($($name:ident = $code:literal $reason:literal;)*) => {
        impl StatusCode {
            $(pub const $name: StatusCode = StatusCode($code);)*

            /// The reason phrase from RFC 9110 §15.
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "Unknown",
                }
            }
        }
    };
}

status_codes! {
    CONTINUE = 100 "Continue";
    OK = 200 "OK";
    CREATED = 201 "Created";
    NO_CONTENT = 204 "No Content";
    PARTIAL_CONTENT = 206 "Partial Content";
    NOT_MODIFIED = 304 "Not Modified";
    BAD_REQUEST = 400 "Bad Request";
    UNAUTHORIZED = 401 "Unauthorized";
    FORBIDDEN = 403 "Forbidden";
    NOT_FOUND = 404 "Not Found";
    METHOD_NOT_ALLOWED = 405 "Method Not Allowed";
    REQUEST_TIMEOUT = 408 "Request Timeout";
    CONFLICT = 409 "Conflict";
    LENGTH_REQUIRED = 411 "Length Required";
    PRECONDITION_FAILED = 412 "Precondition Failed";
    CONTENT_TOO_LARGE = 413 "Content Too Large";
    URI_TOO_LONG = 414 "URI Too Long";
    RANGE_NOT_SATISFIABLE = 416 "Range Not Satisfiable";
    EXPECTATION_FAILED = 417 "Expectation Failed";
    MISDIRECTED_REQUEST = 421 "Misdirected Request";
    TOO_MANY_REQUESTS = 429 "Too Many Requests";
    REQUEST_HEADER_FIELDS_TOO_LARGE = 431 "Request Header Fields Too Large";
    INTERNAL_SERVER_ERROR = 500 "Internal Server Error";
    NOT_IMPLEMENTED = 501 "Not Implemented";
    SERVICE_UNAVAILABLE = 503 "Service Unavailable";
    HTTP_VERSION_NOT_SUPPORTED = 505 "HTTP Version Not Supported";
}

impl StatusCode {
    pub fn code(self) -> u16 {
        self.0
    }

    /// RFC 9110 §8.6: no `Content-Length` and no content on 1xx and 204.
    fn forbids_length(self) -> bool {
        self.0 < 200 || self.0 == 204
    }

    /// RFC 9110 §6.4.1: 1xx, 204 and 304 never carry content.
    fn forbids_body(self) -> bool {
        self.forbids_length() || self.0 == 304
    }
}

/// Whether the connection stays open after this exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    KeepAlive,
    Close,
}

/// Whether the content follows the head. A response to HEAD is the head GET would get, without
/// its content (RFC 9110 §9.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    HeadAndBody,
    HeadOnly,
}

pub use crate::config::DateField;

/// A body produced while it is sent: a directory listing rendered row by row, a file gzipped on
/// the fly. It writes everything it has to `out` and returns.
pub trait BodyStream {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

impl std::fmt::Debug for dyn BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

/// What follows the head.
#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from byte `start`, streamed with `io::copy` (sendfile on Linux).
    File {
        file: File,
        start: u64,
        len: u64,
    },
    /// Written by `source` after the head; `len` is its exact length when known beforehand
    /// (`Content-Length`), `None` sends it chunked, which only an HTTP/1.1 client can read.
    Stream {
        len: Option<u64>,
        source: Box<dyn BodyStream>,
    },
}

impl Body {
    /// The body's length, `None` when it is only known once sent.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
            Body::Stream { len, .. } => *len,
        }
    }
}

/// A response as handlers build it; `write_to` frames it.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    /// Fields other than `Content-Length` and `Connection`, which the writer owns.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Body,
    /// The body may be gzip-encoded when the client accepts it (`compress.rs`).
    pub compressible: bool,
    /// For 304: the `Content-Length` a 200 would have carried (RFC 9110 §8.6).
    pub length_of_200: Option<u64>,
}

impl Response {
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            compressible: false,
            length_of_200: None,
        }
    }

    /// A `text/plain` response; the exercise expects exactly `text/plain`, no charset.
    pub fn text(status: StatusCode, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain")
            .body(body.into())
    }

    /// An error answer: the status with a one-line `text/plain` reason.
    pub fn error(status: StatusCode, reason: impl std::fmt::Display) -> Response {
        Response::text(status, format!("{reason}\n"))
    }

    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = Body::Bytes(body);
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Serialises the head (and an in-memory body) into `buf` and writes it with one
    /// `write_all`, then streams a file body. `Sending::HeadOnly` is for HEAD: same head, no
    /// body. Returns the number of body bytes sent.
    pub fn write_to(
        self,
        out: &mut impl Sink,
        buf: &mut Vec<u8>,
        sending: Sending,
        persistence: Persistence,
        date: DateField,
    ) -> io::Result<u64> {
        buf.clear();
        self.write_head(buf, persistence, date);
        let head_len = buf.len() as u64;
        let send_body = sending == Sending::HeadAndBody && !self.status.forbids_body();
        match (send_body, self.body) {
            (true, Body::Bytes(bytes)) => buf.extend_from_slice(&bytes),
            (true, Body::File { file, start, len }) => {
                return out.send_file(buf, &file, start, len);
            }
            (true, Body::Stream { len, mut source }) => {
                out.write_all(buf)?;
                return write_stream(out, source.as_mut(), len);
            }
            _ => {}
        }
        out.write_all(buf)?;
        let sent = buf.len() as u64 - head_len;
        out.flush()?;
        Ok(sent)
    }

    fn write_head(&self, buf: &mut Vec<u8>, persistence: Persistence, date: DateField) {
        let status = self.status;
        buf.extend_from_slice(b"HTTP/1.1 ");
        push_u64(buf, u64::from(status.code()));
        buf.push(b' ');
        buf.extend_from_slice(status.reason().as_bytes());
        buf.extend_from_slice(b"\r\n");
        if date == DateField::Send {
            buf.extend_from_slice(b"Date: ");
            buf.extend_from_slice(&date::now());
            buf.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.headers {
            push_field(buf, name, value);
        }
        let length = match (status.code(), self.length_of_200) {
            (304, length) => length,
            _ if status.forbids_length() => None,
            _ => match self.body.known_len() {
                Some(length) => Some(length),
                None => {
                    // RFC 9112 §6.1: a HEAD response may say so too, as GET's would
                    buf.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    None
                }
            },
        };
        if let Some(length) = length {
            buf.extend_from_slice(b"Content-Length: ");
            push_u64(buf, length);
            buf.extend_from_slice(b"\r\n");
        }
        if persistence == Persistence::Close {
            buf.extend_from_slice(b"Connection: close\r\n");
        }
        buf.extend_from_slice(b"\r\n");
    }
}

/// Where a response is written: a byte sink that may also have a faster way to send a file
/// (`sendfile` for a socket, in `connection.rs`).
pub trait Sink: Write {
    /// Sends `head`, then exactly `len` bytes of `file` from byte `start`; a file that turns
    /// out shorter is `UnexpectedEof`. Returns the number of file bytes sent. The default
    /// copies through a heap buffer.
    fn send_file(&mut self, head: &[u8], file: &File, start: u64, len: u64) -> io::Result<u64> {
        self.write_all(head)?;
        let mut file = file;
        file.seek(SeekFrom::Start(start))?;
        // on the heap: a stack buffer would stay resident in the connection thread's stack
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match file.read(&mut chunk[..want])? {
                0 => return Err(file_shrank()),
                n => {
                    self.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
            }
        }
        self.flush()?;
        Ok(len)
    }
}

impl Sink for Vec<u8> {}

/// How much of a streamed body is gathered before it is written: one chunk, one `write`.
const STREAM_CHUNK_BYTES: usize = 32 * 1024;

/// Writes a streamed body after its head: counted against `len` when it is known (a body that
/// comes out shorter or longer breaks the framing, so it is an error and the connection
/// closes), chunked when it is not.
fn write_stream(
    out: &mut dyn Write,
    source: &mut dyn BodyStream,
    len: Option<u64>,
) -> io::Result<u64> {
    match len {
        Some(len) => {
            let mut counted = Counted {
                out: BufWriter::with_capacity(STREAM_CHUNK_BYTES, out),
                written: 0,
                limit: len,
            };
            source.write_to(&mut counted)?;
            counted.out.flush()?;
            if counted.written != len {
                return Err(file_shrank());
            }
            Ok(len)
        }
        None => {
            let mut chunked = ChunkedWriter::new(out);
            source.write_to(&mut chunked)?;
            chunked.finish()
        }
    }
}

struct Counted<W: Write> {
    out: W,
    written: u64,
    limit: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.written + data.len() as u64 > self.limit {
            return Err(io::Error::other("body longer than its Content-Length"));
        }
        let n = self.out.write(data)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The chunked transfer coding (RFC 9112 §7.1): gathers up to `STREAM_CHUNK_BYTES` and sends
/// each chunk (size line, data, CRLF) with one `write_all`; `finish` sends the last chunk.
pub struct ChunkedWriter<W: Write> {
    out: W,
    /// `SIZE_LINE` bytes kept free for the size line, then the chunk's data.
    buf: Vec<u8>,
    sent: u64,
}

/// Room for a chunk-size line: up to 8 hex digits and CRLF.
const SIZE_LINE: usize = 10;

impl<W: Write> ChunkedWriter<W> {
    pub fn new(out: W) -> Self {
        let mut buf = Vec::with_capacity(SIZE_LINE + STREAM_CHUNK_BYTES + 2);
        buf.resize(SIZE_LINE, 0);
        ChunkedWriter { out, buf, sent: 0 }
    }

    fn send_chunk(&mut self) -> io::Result<()> {
        let len = self.buf.len() - SIZE_LINE;
        if len == 0 {
            return Ok(());
        }
        let size = format!("{len:x}\r\n");
        let start = SIZE_LINE - size.len();
        self.buf[start..SIZE_LINE].copy_from_slice(size.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.out.write_all(&self.buf[start..])?;
        self.sent += len as u64;
        self.buf.truncate(SIZE_LINE);
        Ok(())
    }

    /// Sends what is left, the last chunk and an empty trailer; returns the data bytes sent.
    pub fn finish(mut self) -> io::Result<u64> {
        self.send_chunk()?;
        self.out.write_all(b"0\r\n\r\n")?;
        self.out.flush()?;
        Ok(self.sent)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = SIZE_LINE + STREAM_CHUNK_BYTES - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == SIZE_LINE + STREAM_CHUNK_BYTES {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // a chunk goes out when full or at `finish`: flushing early would only make small chunks
        Ok(())
    }
}

/// The promised `Content-Length` can no longer be kept.
pub fn file_shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while sending")
}

fn push_field(buf: &mut Vec<u8>, name: &str, value: &str) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// `100 Continue`, sent before reading a body the client is holding back (RFC 9110 §10.1.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn written(r: Response, sending: Sending, p: Persistence) -> String {
        let mut out = Vec::new();
        r.write_to(&mut out, &mut Vec::new(), sending, p, DateField::Omit)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framing() {
        let r = || Response::text(StatusCode::OK, "abc");
        assert_eq!(
            written(r(), Sending::HeadAndBody, Persistence::KeepAlive),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
        );
        assert_eq!(
            written(r(), Sending::HeadOnly, Persistence::Close),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            written(
                Response::new(StatusCode::NOT_FOUND),
                Sending::HeadAndBody,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            written(
                Response::new(StatusCode::NO_CONTENT),
                Sending::HeadAndBody,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
        let mut not_modified = Response::text(StatusCode::NOT_MODIFIED, "x");
        not_modified.length_of_200 = Some(10);
        assert_eq!(
            written(not_modified, Sending::HeadAndBody, Persistence::KeepAlive),
            "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"
        );
    }

    struct Words(&'static [&'static str]);

    impl BodyStream for Words {
        fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
            self.0.iter().try_for_each(|w| out.write_all(w.as_bytes()))
        }
    }

    fn stream(len: Option<u64>, words: &'static [&'static str]) -> Response {
        let mut r = Response::new(StatusCode::OK);
        r.body = Body::Stream {
            len,
            source: Box::new(Words(words)),
        };
        r
    }

    #[test]
    fn streams() {
        assert_eq!(
            written(
                stream(None, &["ab", "c"]),
                Sending::HeadAndBody,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        assert_eq!(
            written(stream(None, &[]), Sending::HeadOnly, Persistence::KeepAlive),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            written(
                stream(Some(3), &["ab", "c"]),
                Sending::HeadAndBody,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        );
        for wrong in [2, 4] {
            let mut out = Vec::new();
            let r = stream(Some(wrong), &["ab", "c"]);
            assert!(
                r.write_to(
                    &mut out,
                    &mut Vec::new(),
                    Sending::HeadAndBody,
                    Persistence::KeepAlive,
                    DateField::Omit
                )
                .is_err()
            );
        }
        // chunks split at STREAM_CHUNK_BYTES and reassemble
        let big: &'static str = Box::leak("x".repeat(STREAM_CHUNK_BYTES + 5).into_boxed_str());
        let text = written(
            stream(None, Box::leak(Box::new([big]))),
            Sending::HeadAndBody,
            Persistence::KeepAlive,
        );
        assert!(text.contains("\r\n8000\r\n"), "{}", &text[..60]);
        assert!(text.ends_with(&format!("{}\r\n5\r\nxxxxx\r\n0\r\n\r\n", "x".repeat(10))));
    }

    #[test]
    fn date_field() {
        let mut out = Vec::new();
        Response::new(StatusCode::OK)
            .write_to(
                &mut out,
                &mut Vec::new(),
                Sending::HeadAndBody,
                Persistence::KeepAlive,
                DateField::Send,
            )
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let date = text
            .split("\r\n")
            .nth(1)
            .unwrap()
            .strip_prefix("Date: ")
            .unwrap();
        assert!(crate::http::date::parse(date).is_some(), "{text}");
    }

    #[test]
    fn reasons() {
        assert_eq!(StatusCode::CONTENT_TOO_LARGE.reason(), "Content Too Large");
        assert_eq!(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED.reason(),
            "HTTP Version Not Supported"
        );
        let mut b = Vec::new();
        for n in [0, 7, 10, 4221, u64::MAX] {
            b.clear();
            push_u64(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
