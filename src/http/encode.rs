//! The response encoder: the status line and header section of a `Response`, with the
//! framing fields it owns (`Content-Length`, none on 1xx/204 and on 304 only the length a 200
//! would have had; `Transfer-Encoding: chunked` for a stream of unknown length; `Connection:
//! close`), and the writers a streamed body goes through: counted against its length, or
//! chunked (RFC 9112 §7.1).

use std::io::{self, BufWriter, Write};

use crate::http::date;
use std::fs::File;

use crate::http::response::{BodyStream, DateField, Persistence, Response, Sink};

impl Response {
    /// Appends the status line and header section, ending in the empty line, to `buf`.
    pub(super) fn write_head(&self, buf: &mut Vec<u8>, persistence: Persistence, date: DateField) {
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

/// How much of a streamed body is gathered before it is written: one chunk, one `write`.
const STREAM_CHUNK_BYTES: usize = 32 * 1024;

/// Writes a streamed body after its head: counted against `len` when it is known (a body that
/// comes out shorter or longer breaks the framing, so it is an error and the connection
/// closes), chunked when it is not.
pub(super) fn write_stream(
    out: &mut dyn Sink,
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
            source.write_to_sink(&mut counted)?;
            counted.out.flush()?;
            if counted.written != len {
                return Err(file_shrank());
            }
            Ok(len)
        }
        None => {
            let mut chunked = ChunkedWriter::new(out);
            source.write_to_sink(&mut chunked)?;
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

impl<W: Write> Sink for Counted<W> {}

/// A file inside the chunked coding is one chunk of its own: what is gathered goes first, then
/// the size line and `head` before the file's bytes, which the inner sink may `sendfile`.
impl<W: Sink> Sink for ChunkedWriter<W> {
    fn send_file(&mut self, head: &[u8], file: &File, start: u64, len: u64) -> io::Result<u64> {
        self.send_chunk()?;
        let data = head.len() as u64 + len;
        if data == 0 {
            return Ok(0);
        }
        let mut lead = format!("{data:x}\r\n").into_bytes();
        lead.extend_from_slice(head);
        let sent = self.out.send_file(&lead, file, start, len)?;
        self.out.write_all(b"\r\n")?;
        self.sent += data;
        Ok(sent)
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
    use crate::http::response::{Body, Sending, StatusCode};

    fn written(r: Response, head_only: bool, p: Persistence) -> String {
        let mut out = Vec::new();
        let sending = if head_only {
            Sending::HeadOnly
        } else {
            Sending::HeadAndBody
        };
        r.write_to(&mut out, &mut Vec::new(), sending, p, DateField::Omit)
            .unwrap();
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
            written(stream(None, &["ab", "c"]), false, Persistence::KeepAlive),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        assert_eq!(
            written(stream(None, &[]), true, Persistence::KeepAlive),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            written(stream(Some(3), &["ab", "c"]), false, Persistence::KeepAlive),
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
            false,
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
    fn decimal_numbers() {
        let mut b = Vec::new();
        for n in [0, 7, 10, 4221, u64::MAX] {
            b.clear();
            push_u64(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
