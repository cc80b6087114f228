//! Request body framing (RFC 9112 §6), decided once per request: `decide_framing` maps a
//! head to `BodyFraming`, or to the `BodyError` that answers it. The readers that then
//! deliver exactly the framed bytes live in `decode.rs`.

use std::fmt;
use std::io;

use crate::config::Limits;
use crate::http::request::{Headers, RequestHead, Version};
use crate::http::status::StatusCode;
use crate::http::syntax::{elements, elements_keeping_empty};

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// Why a body could not be framed or read; `status` says how to answer it. Every one of these
/// leaves our place in the stream unknown, so the connection closes after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// `Transfer-Encoding` on an HTTP/1.0 request.
    TransferEncodingOnHttp10,
    /// Both `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.3: a smuggling vector).
    BothLengths,
    /// A coding list that does not end in a single `chunked`.
    ChunkedNotLast,
    /// A transfer coding we do not decode.
    UnsupportedCoding,
    /// A `Content-Length` that is not all digits, or repeated with different values.
    BadContentLength,
    /// More than `max_body_bytes`.
    TooLarge,
    /// A malformed chunk-size line, chunk end or trailer.
    BadChunk,
    /// A chunk-size or trailer line longer than `max_chunk_line_bytes`.
    ChunkLineTooLong,
}

impl BodyError {
    pub fn status(self) -> StatusCode {
        match self {
            BodyError::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            BodyError::TooLarge => StatusCode::CONTENT_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// This error as an `io::Error`, so that it can travel through `Read`.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The `BodyError` carried by an `io::Error` made by `into_io`, if any.
    pub fn from_io(e: &io::Error) -> Option<BodyError> {
        e.get_ref()?.downcast_ref::<BodyError>().copied()
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::TransferEncodingOnHttp10 => "Transfer-Encoding is not allowed in HTTP/1.0",
            BodyError::BothLengths => "both Transfer-Encoding and Content-Length",
            BodyError::ChunkedNotLast => "chunked must be the last transfer coding",
            BodyError::UnsupportedCoding => "unsupported transfer coding",
            BodyError::BadContentLength => "invalid Content-Length",
            BodyError::TooLarge => "request body too large",
            BodyError::BadChunk => "malformed chunked body",
            BodyError::ChunkLineTooLong => "chunk line too long",
        })
    }
}

impl std::error::Error for BodyError {}

/// RFC 9112 §6.1–6.3 for requests: chunked if `Transfer-Encoding` ends in `chunked`, else the
/// `Content-Length`, else no body.
pub fn decide_framing(head: &RequestHead, limits: &Limits) -> Result<BodyFraming, BodyError> {
    let headers = &head.headers;
    let has_te = headers.get("transfer-encoding").is_some();
    let has_cl = headers.get("content-length").is_some();
    if has_te {
        if head.version == Version::Http10 {
            return Err(BodyError::TransferEncodingOnHttp10);
        }
        // RFC 9112 §6.3: a request with both may be an attempt at smuggling
        if has_cl {
            return Err(BodyError::BothLengths);
        }
        let codings: Vec<&str> = elements(headers.get_all("transfer-encoding")).collect();
        return framing_of_codings(&codings);
    }
    if !has_cl {
        return Ok(BodyFraming::None);
    }
    match content_length(headers)? {
        n if n > limits.max_body_bytes => Err(BodyError::TooLarge),
        0 => Ok(BodyFraming::None),
        n => Ok(BodyFraming::Length(n)),
    }
}

/// The framing a `Transfer-Encoding` coding list gives: chunked only when `chunked` comes
/// once, last, and alone (we decode no other coding).
fn framing_of_codings(codings: &[&str]) -> Result<BodyFraming, BodyError> {
    match codings.split_last() {
        Some((last, before)) if last.eq_ignore_ascii_case("chunked") => {
            if before.iter().any(|c| c.eq_ignore_ascii_case("chunked")) {
                Err(BodyError::ChunkedNotLast)
            } else if before.is_empty() {
                Ok(BodyFraming::Chunked)
            } else {
                // gzip, deflate, compress or unknown before chunked: we decode none of them
                Err(BodyError::UnsupportedCoding)
            }
        }
        // RFC 9112 §6.3: chunked not final means the length cannot be determined: 400
        _ if codings.iter().all(|c| is_known_coding(c)) => Err(BodyError::ChunkedNotLast),
        _ => Err(BodyError::UnsupportedCoding),
    }
}

/// The one length every `Content-Length` element states. RFC 9110 §8.6: a list of identical
/// values may be taken as that one value; an empty element, a different value or anything
/// but digits is refused.
fn content_length(headers: &Headers) -> Result<u64, BodyError> {
    let mut length = None;
    for element in elements_keeping_empty(headers.get_all("content-length")) {
        let value = parse_length(element).ok_or(BodyError::BadContentLength)?;
        if length.is_some_and(|l| l != value) {
            return Err(BodyError::BadContentLength);
        }
        length = Some(value);
    }
    length.ok_or(BodyError::BadContentLength)
}

fn is_known_coding(c: &str) -> bool {
    [
        "chunked",
        "gzip",
        "x-gzip",
        "deflate",
        "compress",
        "x-compress",
    ]
    .iter()
    .any(|k| c.eq_ignore_ascii_case(k))
}

/// `Content-Length = 1*DIGIT`: no sign, no spaces, no overflow.
fn parse_length(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Parsed, parse_head};

    fn head(fields: &str, version: &str) -> RequestHead {
        let raw = format!("POST / {version}\r\nHost: a\r\n{fields}\r\n");
        match parse_head(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete((h, _))) => h,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn framing_table() {
        use BodyError::*;
        let ok = |f: &str| decide_framing(&head(f, "HTTP/1.1"), &Limits::default());
        let cases: &[(&str, Result<BodyFraming, BodyError>)] = &[
            ("", Ok(BodyFraming::None)),
            ("Content-Length: 0\r\n", Ok(BodyFraming::None)),
            ("Content-Length: 42\r\n", Ok(BodyFraming::Length(42))),
            (
                "Content-Length: 42\r\nContent-Length: 42\r\n",
                Ok(BodyFraming::Length(42)),
            ),
            ("Content-Length: 42, 42\r\n", Ok(BodyFraming::Length(42))),
            (
                "Content-Length: 42\r\nContent-Length: 43\r\n",
                Err(BadContentLength),
            ),
            ("Content-Length: +42\r\n", Err(BadContentLength)),
            ("Content-Length: -1\r\n", Err(BadContentLength)),
            ("Content-Length: 4 2\r\n", Err(BadContentLength)),
            ("Content-Length: 0x10\r\n", Err(BadContentLength)),
            ("Content-Length: \r\n", Err(BadContentLength)),
            (
                "Content-Length: 99999999999999999999999\r\n",
                Err(BadContentLength),
            ),
            ("Content-Length: 1073741825\r\n", Err(TooLarge)),
            (
                "Content-Length: 1073741824\r\n",
                Ok(BodyFraming::Length(1 << 30)),
            ),
            ("Transfer-Encoding: chunked\r\n", Ok(BodyFraming::Chunked)),
            ("Transfer-Encoding: CHUNKED\r\n", Ok(BodyFraming::Chunked)),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                Err(BothLengths),
            ),
            (
                "Transfer-Encoding: gzip, chunked\r\n",
                Err(UnsupportedCoding),
            ),
            (
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                Err(UnsupportedCoding),
            ),
            (
                "Transfer-Encoding: chunked, chunked\r\n",
                Err(ChunkedNotLast),
            ),
            ("Transfer-Encoding: chunked, gzip\r\n", Err(ChunkedNotLast)),
            ("Transfer-Encoding: gzip\r\n", Err(ChunkedNotLast)),
            ("Transfer-Encoding: \r\n", Err(ChunkedNotLast)),
            ("Transfer-Encoding: foo\r\n", Err(UnsupportedCoding)),
        ];
        for (fields, want) in cases {
            assert_eq!(&ok(fields), want, "{fields:?}");
        }
        let http10 = head("Transfer-Encoding: chunked\r\n", "HTTP/1.0");
        assert_eq!(
            decide_framing(&http10, &Limits::default()),
            Err(TransferEncodingOnHttp10)
        );
        assert_eq!(UnsupportedCoding.status().code(), 501);
        assert_eq!(TooLarge.status().code(), 413);
        assert_eq!(BothLengths.status().code(), 400);
    }
}
