//! The request body readers: small `Read` adapters that deliver exactly the bytes
//! `decide_framing` framed, `LengthReader` for `Content-Length` and `ChunkedReader` for
//! `Transfer-Encoding: chunked`. Both stop at the end of the body, so pipelined bytes after it
//! stay in the source for the next request; both turn a source that ends early into
//! `UnexpectedEof`, never a silently short body.

use std::io::{self, BufRead, Read};

use crate::config::Limits;
use crate::http::framing::BodyError;
use crate::http::syntax::is_token_byte;

/// Reads exactly `remaining` bytes; a source that ends early is `UnexpectedEof`, never a
/// silently short body.
#[derive(Debug)]
pub struct LengthReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> LengthReader<R> {
    pub fn new(inner: R, length: u64) -> Self {
        LengthReader {
            inner,
            remaining: length,
        }
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for LengthReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = out
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkedState {
    /// Hex digits of a chunk size.
    Size {
        size: u64,
        digits: u32,
    },
    /// Whitespace after the size (BWS before `;`, or before the CR as hyper allows).
    SizeWs {
        size: u64,
    },
    /// A chunk extension: ignored up to CR.
    Extension {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    TrailerName,
    /// A trailer field's value: read and dropped.
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
    /// A framing error was seen; every later read repeats it, so that nothing after the bad
    /// byte is ever taken for body or for the next request.
    Failed(BodyError),
}

/// Decodes `Transfer-Encoding: chunked` (RFC 9112 §7.1): extensions are ignored, trailers read
/// and dropped. Lines are capped by `max_chunk_line_bytes`, trailers by `max_head_bytes`, the
/// decoded total by `max_body_bytes`.
#[derive(Debug)]
pub struct ChunkedReader<R> {
    inner: R,
    state: ChunkedState,
    line_bytes: usize,
    trailer_bytes: usize,
    total: u64,
    max_line_bytes: usize,
    max_trailer_bytes: usize,
    max_body_bytes: u64,
}

impl<R: BufRead> ChunkedReader<R> {
    pub fn new(inner: R, limits: &Limits) -> Self {
        ChunkedReader {
            inner,
            state: ChunkedState::Size { size: 0, digits: 0 },
            line_bytes: 0,
            trailer_bytes: 0,
            total: 0,
            max_line_bytes: limits.max_chunk_line_bytes,
            max_trailer_bytes: limits.max_head_bytes,
            max_body_bytes: limits.max_body_bytes,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Whether the final chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    /// Advances the state machine over one metadata byte.
    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        let next = self.next_state(b);
        self.state = match next {
            Ok(state) => state,
            Err(e) => ChunkedState::Failed(e),
        };
        next.map(|_| ())
    }

    // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    // trailer-section = *( field-line CRLF )                           (RFC 9112 §7.1)
    fn next_state(&mut self, b: u8) -> Result<ChunkedState, BodyError> {
        use ChunkedState::*;
        self.line_bytes += 1;
        if self.line_bytes > self.max_line_bytes {
            return Err(BodyError::ChunkLineTooLong);
        }
        Ok(match (self.state, b) {
            (Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                if digits == 15 {
                    // 16 hex digits could overflow u64: a malformed size, not a large body
                    return Err(BodyError::BadChunk);
                }
                let d = (b as char).to_digit(16).expect("checked hex digit");
                Size {
                    size: size << 4 | u64::from(d),
                    digits: digits + 1,
                }
            }
            (Size { digits: 0, .. }, _) => return Err(BodyError::BadChunk),
            (Size { size, .. } | SizeWs { size }, b'\r') => SizeLf { size },
            (Size { size, .. } | SizeWs { size }, b' ' | b'\t') => SizeWs { size },
            (Size { size, .. } | SizeWs { size }, b';') => Extension { size },
            (Extension { size }, b'\r') => SizeLf { size },
            (Extension { size }, b) if is_text(b) => Extension { size },
            (SizeLf { size }, b'\n') => {
                self.line_bytes = 0;
                self.total = self.total.saturating_add(size);
                if self.total > self.max_body_bytes {
                    return Err(BodyError::TooLarge);
                }
                if size == 0 {
                    TrailerStart
                } else {
                    Data { remaining: size }
                }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.line_bytes = 0;
                Size { size: 0, digits: 0 }
            }
            (TrailerStart, b'\r') => EndLf,
            (EndLf, b'\n') => Done,
            (TrailerStart | TrailerName, b) if is_token_byte(b) => TrailerName,
            (TrailerName, b':') => TrailerLine,
            (TrailerLine, b'\r') => TrailerLf,
            (TrailerLine, b) if is_text(b) => TrailerLine,
            (TrailerLf, b'\n') => {
                self.trailer_bytes += self.line_bytes;
                if self.trailer_bytes > self.max_trailer_bytes {
                    return Err(BodyError::ChunkLineTooLong);
                }
                self.line_bytes = 0;
                TrailerStart
            }
            _ => return Err(BodyError::BadChunk),
        })
    }
}

/// HTAB, SP, VCHAR and obs-text: what may stand in an extension or a trailer line.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let ChunkedState::Failed(e) = self.state {
                return Err(e.into_io());
            }
            if self.state == ChunkedState::Done || out.is_empty() {
                return Ok(0);
            }
            if let ChunkedState::Data { remaining } = self.state {
                // Read, not fill_buf: a large read may bypass the source's buffer
                let want = out
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut out[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let remaining = remaining - n as u64;
                self.state = if remaining == 0 {
                    ChunkedState::DataCr
                } else {
                    ChunkedState::Data { remaining }
                };
                return Ok(n);
            }
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // metadata bytes go through `step` one at a time; copy a few out of the source first
            let mut meta = [0u8; 64];
            let n = available.len().min(meta.len());
            meta[..n].copy_from_slice(&available[..n]);
            let mut used = 0;
            for &b in &meta[..n] {
                used += 1;
                if let Err(e) = self.step(b) {
                    self.inner.consume(used);
                    return Err(e.into_io());
                }
                if matches!(self.state, ChunkedState::Data { .. } | ChunkedState::Done) {
                    break;
                }
            }
            self.inner.consume(used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8], limits: &Limits) -> (Result<Vec<u8>, BodyError>, usize) {
        let mut source = input;
        let mut reader = ChunkedReader::new(&mut source, limits);
        let mut out = Vec::new();
        let result = reader
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| BodyError::from_io(&e).unwrap_or(BodyError::BadChunk));
        (result, input.len() - source.len())
    }

    #[test]
    fn chunked_valid() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (
                b"a;name=value;x=\"q\"\r\n0123456789\r\n0\r\n\r\n",
                b"0123456789",
            ),
            (b"3 ;ext\r\nabc\r\n0\r\n\r\n", b"abc"),
            (b"3 \t\r\nabc\r\n0\r\n\r\n", b"abc"),
            (
                b"0003\r\nabc\r\n0\r\nExpires: never\r\nX: y\r\n\r\n",
                b"abc",
            ),
        ];
        for (input, want) in cases {
            let mut with_next = input.to_vec();
            with_next.extend_from_slice(b"GET / HTTP/1.1");
            let (got, used) = decode(&with_next, &Limits::default());
            assert_eq!(
                got.as_deref(),
                Ok(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            // the reader stops at the end of the body: the next request is left alone
            assert_eq!(used, input.len());
        }
    }

    #[test]
    fn chunked_invalid() {
        use BodyError::*;
        let cases: &[(&[u8], BodyError)] = &[
            (b"x\r\n", BadChunk),
            (b"\r\n", BadChunk),
            (b"-1\r\n", BadChunk),
            (b"5\nhello\r\n0\r\n\r\n", BadChunk),
            (b"5\r\nhelloX\r\n0\r\n\r\n", BadChunk),
            (b"5\r\nhello\n0\r\n\r\n", BadChunk),
            (b"3;a\0b\r\nabc\r\n0\r\n\r\n", BadChunk),
            (b"0\r\nX: y\n\r\n", BadChunk),
            (b"ffffffffffffffffff\r\n", BadChunk),
            (b"5 6\r\nhello\r\n0\r\n\r\n", BadChunk),
            (b"1z\r\nA\r\n0\r\n\r\n", BadChunk),
            (b"0\r\nno-colon\r\n\r\n", BadChunk),
            (b"0\r\nX: y\r\n folded\r\n\r\n", BadChunk),
            (b"0\r\n: empty-name\r\n\r\n", BadChunk),
            (b"40000001\r\n", TooLarge),
        ];
        for (input, want) in cases {
            assert_eq!(
                decode(input, &Limits::default()).0,
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let small = Limits {
            max_chunk_line_bytes: 8,
            max_body_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(decode(b"1;aaaaaaaaaa\r\n", &small).0, Err(ChunkLineTooLong));
        assert_eq!(
            decode(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", &small).0,
            Err(TooLarge)
        );
    }

    #[test]
    fn chunked_errors_are_sticky() {
        // found in review: after a bad byte the decoder must not resync on what follows
        let mut source = &b"1z\r\nA\r\n0\r\n\r\nGET / HTTP/1.1\r\n"[..];
        let mut reader = ChunkedReader::new(&mut source, &Limits::default());
        let mut out = [0u8; 16];
        for _ in 0..3 {
            let err = reader.read(&mut out).unwrap_err();
            assert_eq!(BodyError::from_io(&err), Some(BodyError::BadChunk));
        }
        assert!(!reader.is_done());
    }

    #[test]
    fn chunked_truncated_is_eof_at_every_cut() {
        let input = b"5\r\nhello\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..input.len() {
            let mut source = &input[..cut];
            let mut reader = ChunkedReader::new(&mut source, &Limits::default());
            let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    #[test]
    fn chunked_one_byte_at_a_time() {
        let input = b"5\r\nhello\r\n6;x\r\n world\r\n0\r\n\r\n";
        let source = io::BufReader::with_capacity(1, &input[..]);
        let mut reader = ChunkedReader::new(source, &Limits::default());
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello world");
        assert!(reader.is_done());
    }

    #[test]
    fn length_reader_refuses_short_bodies() {
        let mut r = LengthReader::new(&b"abc"[..], 5);
        let mut out = Vec::new();
        assert_eq!(
            r.read_to_end(&mut out).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut r = LengthReader::new(&b"abcdef"[..], 5);
        out.clear();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde");
        assert_eq!(r.remaining(), 0);
    }
}
