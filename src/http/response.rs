//! `Response` and `Body` as handlers build them, and `write_to`, which sends them: the head
//! and an in-memory body leave in one `write`; a file streams after it; a body produced while
//! it is sent (`Body::Stream`) goes out with its length when it knows it, chunked when it does
//! not. How the head is written (the framing fields it owns) lives in `encode.rs`; the codes
//! in `status.rs`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::http::encode::write_stream;
// callers import these with `Response`, as before `status.rs` and `encode.rs` were cut out
pub use crate::http::encode::{CONTINUE, file_shrank};
pub use crate::http::status::StatusCode;

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

    /// The same, for a body that holds whole files (an archive): `out` may send them with
    /// `sendfile`, inside the chunked coding too.
    fn write_to_sink(&mut self, out: &mut dyn Sink) -> io::Result<()> {
        self.write_to(out)
    }
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

    /// The first value of the field `name`: for tests, which read responses back.
    #[cfg(test)]
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

impl<S: Sink + ?Sized> Sink for &mut S {
    fn send_file(&mut self, head: &[u8], file: &File, start: u64, len: u64) -> io::Result<u64> {
        (**self).send_file(head, file, start, len)
    }
}
