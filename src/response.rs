//! `StatusCode`, `Response` and `Body`, and the writer that owns response framing: it adds
//! `Content-Length` (none on 1xx/204/304), `Connection: close` when the connection ends, and
//! sends no body for HEAD. Head and in-memory body leave in one `write`; files stream after it.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

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
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// `write_all`, then streams a file body. `head_only` is for HEAD: same head, no body.
    /// Returns the number of body bytes sent.
    pub fn write_to(
        self,
        out: &mut impl Sink,
        buf: &mut Vec<u8>,
        head_only: bool,
        persistence: Persistence,
    ) -> io::Result<u64> {
        buf.clear();
        self.write_head(buf, persistence);
        let head_len = buf.len() as u64;
        let send_body = !head_only && !self.status.forbids_body();
        match (send_body, &self.body) {
            (true, Body::Bytes(bytes)) => buf.extend_from_slice(bytes),
            (true, Body::File { file, start, len }) => {
                return out.send_file(buf, file, *start, *len);
            }
            _ => {}
        }
        out.write_all(buf)?;
        let sent = buf.len() as u64 - head_len;
        out.flush()?;
        Ok(sent)
    }

    fn write_head(&self, buf: &mut Vec<u8>, persistence: Persistence) {
        let status = self.status;
        buf.extend_from_slice(b"HTTP/1.1 ");
        push_u64(buf, u64::from(status.code()));
        buf.push(b' ');
        buf.extend_from_slice(status.reason().as_bytes());
        buf.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            push_field(buf, name, value);
        }
        let length = match (status.code(), self.length_of_200) {
            (304, length) => length,
            _ if status.forbids_length() => None,
            _ => Some(self.body.len()),
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

    fn written(r: Response, head_only: bool, p: Persistence) -> String {
        let mut out = Vec::new();
        r.write_to(&mut out, &mut Vec::new(), head_only, p).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framing() {
        let r = || Response::text(StatusCode::OK, "abc");
        assert_eq!(
            written(r(), false, Persistence::KeepAlive),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
        );
        assert_eq!(
            written(r(), true, Persistence::Close),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            written(
                Response::new(StatusCode::NOT_FOUND),
                false,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            written(
                Response::new(StatusCode::NO_CONTENT),
                false,
                Persistence::KeepAlive
            ),
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
        let mut not_modified = Response::text(StatusCode::NOT_MODIFIED, "x");
        not_modified.length_of_200 = Some(10);
        assert_eq!(
            written(not_modified, false, Persistence::KeepAlive),
            "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"
        );
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
