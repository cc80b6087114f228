//! The incremental request-head parser: bytes in, progress out. No I/O, clock or logging here;
//! the connection loop owns reading, limits in time, and what to answer.
//!
//! Strict by default (RFC 9112): CRLF line ends, one SP between the request-line parts, only
//! `HTTP/1.0` and `HTTP/1.1`, no space before a field's colon, no obs-fold, no control bytes in
//! values, field values in UTF-8. The one tolerance is named in `skip_empty_lines`.

use std::fmt;

use crate::config::Limits;
use crate::http::host::host_name;
use crate::http::request::{Headers, Method, RequestHead, Version};
use crate::http::response::StatusCode;
use crate::http::syntax::is_token;

/// Progress of an incremental parse: the whole value, or "read more bytes and call again".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    Complete(T),
    Partial,
}

/// One variant per defect a request head can have; `status` says how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A line ended in a bare LF instead of CRLF.
    BareLf,
    /// The request line is not `method SP target SP version`.
    RequestLine,
    /// The method is not a token.
    Method,
    /// The target is not origin-form or absolute-form, or holds bytes outside VCHAR.
    Target,
    /// The version is not `HTTP/x.y`.
    Version,
    /// A well-formed version other than 1.0 and 1.1.
    UnsupportedVersion,
    /// A field line without a colon.
    MissingColon,
    /// A field name that is empty or not a token.
    FieldName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1).
    SpaceBeforeColon,
    /// A field line starting with whitespace (obs-fold, RFC 9112 §5.2).
    ObsFold,
    /// A field value with a control byte (NUL, CR, DEL, ...).
    FieldValue,
    /// A field value that is not UTF-8.
    NonUtf8,
    /// An HTTP/1.1 request without `Host`, or with more than one (RFC 9112 §3.2).
    Host,
    /// A `Host` value that is not `host [":" port]` (RFC 9112 §3.2: 400).
    HostValue,
    /// The request line is longer than `max_request_line_bytes`.
    RequestLineTooLong,
    /// The head is longer than `max_head_bytes`.
    HeadTooLarge,
    /// More than `max_header_fields` field lines.
    TooManyFields,
}

impl ParseError {
    /// The status that answers this defect.
    pub fn status(self) -> StatusCode {
        match self {
            ParseError::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            ParseError::HeadTooLarge | ParseError::TooManyFields => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::BareLf => "line not ended by CRLF",
            ParseError::RequestLine => "malformed request line",
            ParseError::Method => "malformed method",
            ParseError::Target => "malformed request target",
            ParseError::Version => "malformed HTTP version",
            ParseError::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            ParseError::MissingColon => "header line without a colon",
            ParseError::FieldName => "malformed header name",
            ParseError::SpaceBeforeColon => "whitespace before a header colon",
            ParseError::ObsFold => "folded header line",
            ParseError::FieldValue => "control character in a header value",
            ParseError::NonUtf8 => "header value is not UTF-8",
            ParseError::Host => "HTTP/1.1 needs exactly one Host header",
            ParseError::HostValue => "malformed Host header",
            ParseError::RequestLineTooLong => "request line too long",
            ParseError::HeadTooLarge => "request head too large",
            ParseError::TooManyFields => "too many header fields",
        })
    }
}

impl std::error::Error for ParseError {}

/// Parses one request head from the start of `buf`.
///
/// Returns `Complete((head, n))` where `buf[n..]` is the first byte after the head (the body,
/// or the next pipelined request), or `Partial` when the blank line that ends the head has not
/// arrived yet. `Partial` is returned only while the bytes so far are within `limits`; a caller
/// that loops on `Partial` must still bound the time it waits (see `HeadScanner`).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Parsed<(RequestHead, usize)>, ParseError> {
    let start = skip_empty_lines(buf);
    let Some(end) = find_head_end(buf, start) else {
        if buf.len() >= limits.max_head_bytes {
            return Err(ParseError::HeadTooLarge);
        }
        let line = &buf[start..];
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        // the CR belongs to the line end, not the line, even before its LF has arrived
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > limits.max_request_line_bytes {
            return Err(ParseError::RequestLineTooLong);
        }
        return Ok(Parsed::Partial);
    };
    if end > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    // every line, the final empty one included, ends at an LF; drop the last LF and split
    let mut lines = buf[start..end - 1].split(|&b| b == b'\n').map(strip_cr);
    let request_line = lines.next().expect("split yields at least one item")?;
    if request_line.len() > limits.max_request_line_bytes {
        return Err(ParseError::RequestLineTooLong);
    }
    let (method, (target, authority), version) = parse_request_line(request_line)?;
    let mut headers = Headers::default();
    for line in lines {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if headers.len() == limits.max_header_fields {
            return Err(ParseError::TooManyFields);
        }
        let (name, value) = parse_field_line(line)?;
        headers.push(name, value);
    }
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request lacking Host, and for any with several.
    let hosts = headers.get_all("host").count();
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(ParseError::Host);
    }
    // ... "or a Host header field with an invalid field value"; RFC 9110 §7.2 lets it be empty
    // when the target has no authority, and then it names nothing and passes no Host check
    if headers
        .get("host")
        .is_some_and(|h| !h.is_empty() && host_name(h).is_none())
    {
        return Err(ParseError::HostValue);
    }
    let head = RequestHead {
        method,
        target,
        authority,
        version,
        headers,
    };
    Ok(Parsed::Complete((head, end)))
}

/// RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore
/// at least one empty line (CRLF) received prior to the request-line". We ignore any number of
/// them (some clients send CRLF after a body); they still count toward `max_head_bytes`.
fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while buf[i..].starts_with(b"\r\n") {
        i += 2;
    }
    i
}

/// Index just past the first empty line at or after `from`: an LF followed by LF or CRLF.
/// Bare-LF heads are found too, so that they get their 400 instead of waiting for a CRLF.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + p;
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

fn strip_cr(line: &[u8]) -> Result<&[u8], ParseError> {
    match line {
        [rest @ .., b'\r'] => Ok(rest),
        _ => Err(ParseError::BareLf),
    }
}

// request-line = method SP request-target SP HTTP-version                 (RFC 9112 §3)
fn parse_request_line(line: &[u8]) -> Result<(Method, Target, Version), ParseError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::RequestLine);
    };
    if !is_token(method) {
        return Err(ParseError::Method);
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(ParseError::UnsupportedVersion);
        }
        _ => return Err(ParseError::Version),
    };
    let method = Method::from_token(std::str::from_utf8(method).expect("tokens are ASCII"));
    // asterisk-form names the server itself, and only for OPTIONS (RFC 9112 §3.2.4)
    let target = match target {
        b"*" if method == Method::Options => ("*".to_owned(), None),
        _ => parse_target(target)?,
    };
    Ok((method, target, version))
}

/// A target in origin-form, and the authority it came with in absolute-form.
type Target = (String, Option<String>);

/// Accepts origin-form and, per RFC 9112 §3.2.2, absolute-form (reduced to its path and query,
/// its authority kept for the Host check and refused when malformed, as `Host` would be).
/// Every byte must be VCHAR; a fragment is not part of a request target.
fn parse_target(raw: &[u8]) -> Result<Target, ParseError> {
    if raw.is_empty() || !raw.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b'#') {
        return Err(ParseError::Target);
    }
    let s = std::str::from_utf8(raw).expect("VCHAR is ASCII");
    if s.starts_with('/') {
        return Ok((s.to_owned(), None));
    }
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    let rest = if lower(7).as_deref() == Some("http://") {
        &s[7..]
    } else if lower(8).as_deref() == Some("https://") {
        &s[8..]
    } else {
        return Err(ParseError::Target);
    };
    let path_at = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..path_at];
    if host_name(authority).is_none() {
        return Err(ParseError::Target);
    }
    let path = match &rest[path_at..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok((path, Some(authority.to_owned())))
}

// field-line = field-name ":" OWS field-value OWS                          (RFC 9112 §5)
fn parse_field_line(line: &[u8]) -> Result<(&str, &str), ParseError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(ParseError::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::MissingColon)?;
    let name = &line[..colon];
    if matches!(name.last(), Some(b' ' | b'\t')) {
        return Err(ParseError::SpaceBeforeColon);
    }
    if !is_token(name) {
        return Err(ParseError::FieldName);
    }
    let value = trim_ows(&line[colon + 1..]);
    // field-vchar = VCHAR / obs-text, plus SP and HTAB inside the value
    if !value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
    {
        return Err(ParseError::FieldValue);
    }
    let value = std::str::from_utf8(value).map_err(|_| ParseError::NonUtf8)?;
    Ok((std::str::from_utf8(name).expect("tokens are ASCII"), value))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Drives `parse_head` over a growing buffer without rescanning it on every read: the full parse
/// runs only once the blank line has arrived, or when a limit may have been crossed. One
/// scanner per request; the caller bounds the time (header timeout).
#[derive(Debug, Default)]
pub struct HeadScanner {
    /// Bytes already searched for the blank line.
    scanned: usize,
    /// Where the request line starts (after empty lines), as far as known.
    line_start: usize,
    /// Bytes of the request line already searched for its LF.
    line_scanned: usize,
    /// The request line's LF has arrived: its length can no longer change.
    line_done: bool,
}

impl HeadScanner {
    /// Call after each read with the whole buffer so far (starting at the request's first byte).
    pub fn poll(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Parsed<(RequestHead, usize)>, ParseError> {
        if !self.line_done {
            // the same test as parse_head's, kept incremental so slow clients cost O(n)
            while buf[self.line_start..].starts_with(b"\r\n") {
                self.line_start += 2;
            }
            let from = self.line_scanned.max(self.line_start);
            self.line_done = buf[from..].contains(&b'\n');
            self.line_scanned = buf.len();
            let line = &buf[self.line_start..];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !self.line_done && line.len() > limits.max_request_line_bytes {
                return Err(ParseError::RequestLineTooLong);
            }
        }
        // an empty line may straddle the previous read: look back 2 bytes; empty lines before
        // the request line are no head end, or each of them would cost a full parse
        let from = self.scanned.saturating_sub(2).max(self.line_start);
        let found = find_head_end(buf, from).is_some();
        self.scanned = buf.len();
        if found || buf.len() >= limits.max_head_bytes {
            parse_head(buf, limits)
        } else {
            Ok(Parsed::Partial)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Parsed<(RequestHead, usize)>, ParseError> {
        parse_head(s, &Limits::default())
    }

    fn complete(s: &[u8]) -> (RequestHead, usize) {
        match parse(s) {
            Ok(Parsed::Complete(v)) => v,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn valid_heads() {
        type Case<'a> = (
            &'a [u8],
            &'a str,
            &'a str,
            Version,
            &'a [(&'a str, &'a str)],
        );
        let cases: &[Case] = &[
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "a")],
            ),
            (
                b"GET /echo/abc HTTP/1.0\r\n\r\n",
                "GET",
                "/echo/abc",
                Version::Http10,
                &[],
            ),
            (
                b"POST /files/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
                "POST",
                "/files/x?y=1",
                Version::Http11,
                &[("Host", "a"), ("Content-Length", "3")],
            ),
            // OWS around values is not part of the value
            (
                b"GET / HTTP/1.1\r\nHost:a\r\nX: \t v w \t\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "a"), ("X", "v w")],
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nEmpty:\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "a"), ("Empty", "")],
            ),
            // UTF-8 (obs-text) in values is kept
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: caf\xc3\xa9\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "a"), ("User-Agent", "café")],
            ),
            // absolute-form is reduced to origin-form
            (
                b"GET http://example.com/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "GET",
                "/a/b?c",
                Version::Http11,
                &[("Host", "example.com")],
            ),
            (
                b"GET HTTP://example.com:8080 HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "x")],
            ),
            (
                b"GET https://h?q HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET",
                "/?q",
                Version::Http11,
                &[("Host", "x")],
            ),
            // leading empty lines are ignored (RFC 9112 §2.2)
            (
                b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET",
                "/",
                Version::Http11,
                &[("Host", "a")],
            ),
            // unknown methods parse; the router answers 501
            (
                b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
                "BREW",
                "/pot",
                Version::Http11,
                &[("Host", "a")],
            ),
        ];
        for (input, method, target, version, headers) in cases {
            let (head, n) = complete(input);
            assert_eq!(n, input.len());
            assert_eq!(head.method.as_str(), *method);
            assert_eq!(head.target, *target);
            assert_eq!(head.version, *version);
            let got: Vec<_> = head.headers.iter().collect();
            assert_eq!(&got, headers);
        }
    }

    #[test]
    fn an_absolute_form_authority_stands_for_host() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (
                b"GET http://files.lan:8/x HTTP/1.1\r\nHost: a\r\n\r\n",
                Some("files.lan:8"),
            ),
            (
                b"GET https://[::1]?q HTTP/1.1\r\nHost: a\r\n\r\n",
                Some("[::1]"),
            ),
            (b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", Some("a")),
            // RFC 9110 §7.2: an empty Host is allowed; it names no host
            (b"GET /x HTTP/1.1\r\nHost:\r\n\r\n", Some("")),
            (b"GET /x HTTP/1.0\r\n\r\n", None),
        ];
        for (input, host) in cases {
            assert_eq!(complete(input).0.host(), *host, "{input:?}");
        }
    }

    #[test]
    fn body_offset_points_past_the_head() {
        let input = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET";
        let (_, n) = complete(input);
        assert_eq!(&input[n..], b"helloGET");
    }

    #[test]
    fn invalid_heads() {
        use ParseError::*;
        let cases: &[(&[u8], ParseError, u16)] = &[
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", BareLf, 400),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\n", BareLf, 400),
            (b"GET / HTTP/1.1\n\n", BareLf, 400),
            (b"\n\n", BareLf, 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", RequestLine, 400),
            (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", RequestLine, 400),
            (b"GET /\r\n\r\n", RequestLine, 400),
            (b"\r\n\r\nGET\r\n\r\n", RequestLine, 400),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Method, 400),
            (b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", Target, 400),
            // an absolute-form authority is read as strictly as Host
            (b"GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", Target, 400),
            (
                b"GET http://[::1]x/ HTTP/1.1\r\nHost: h\r\n\r\n",
                Target,
                400,
            ),
            (
                b"GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n",
                Target,
                400,
            ),
            (b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", HostValue, 400),
            (b"GET / HTTP/1.1\r\nHost: []\r\n\r\n", HostValue, 400),
            (b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", HostValue, 400),
            (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", HostValue, 400),
            (b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", HostValue, 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", Host, 400),
            (
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                UnsupportedVersion,
                505,
            ),
            (b"GET / HTTP/0.9\r\n\r\n", UnsupportedVersion, 505),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", Version, 400),
            (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", Version, 400),
            (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", MissingColon, 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", FieldName, 400),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nBad\"Name: v\r\n\r\n",
                FieldName,
                400,
            ),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", SpaceBeforeColon, 400),
            (
                b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
                SpaceBeforeColon,
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
                ObsFold,
                400,
            ),
            (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", ObsFold, 400),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
                FieldValue,
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                FieldValue,
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
                FieldValue,
                400,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n",
                NonUtf8,
                400,
            ),
            (b"GET / HTTP/1.1\r\n\r\n", Host, 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Host, 400),
            (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", Host, 400),
        ];
        for (input, err, status) in cases {
            assert_eq!(
                parse(input),
                Err(*err),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(err.status().code(), *status);
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_request_line_bytes: 20,
            max_head_bytes: 64,
            max_header_fields: 2,
            ..Limits::default()
        };
        let p = |s: &[u8]| parse_head(s, &limits);
        // a long line is refused before it is complete
        assert_eq!(p(&[b'G'; 21]), Err(ParseError::RequestLineTooLong));
        assert_eq!(p(&[b'G'; 20]), Ok(Parsed::Partial));
        // a line of exactly the limit whose LF has not arrived yet (found by fuzzing)
        assert_eq!(p(b"GET /0123456789 HTTP\r"), Ok(Parsed::Partial));
        assert_eq!(p(b"GET /0123456789 HTTP\r\n"), Ok(Parsed::Partial));
        assert_eq!(
            p(b"GET /0123456789abcdef HTTP/1.1\r\n"),
            Err(ParseError::RequestLineTooLong)
        );
        assert_eq!(
            p(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: c\r\n\r\n"),
            Err(ParseError::TooManyFields)
        );
        assert!(matches!(
            p(b"GET / HTTP/1.1\r\nA: 1\r\nHost: c\r\n\r\n"),
            Ok(Parsed::Complete(_))
        ));
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.resize(64, b'x');
        assert_eq!(p(&big), Err(ParseError::HeadTooLarge));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(p(&big), Err(ParseError::HeadTooLarge));
        assert_eq!(ParseError::TooManyFields.status().code(), 431);
        assert_eq!(ParseError::RequestLineTooLong.status().code(), 414);
    }

    #[test]
    fn every_split_point_is_partial_until_the_last_byte() {
        let input: &[u8] =
            b"POST /files/a HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t/1\r\nContent-Length: 3\r\n\r\n";
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]), Ok(Parsed::Partial), "cut at {cut}");
            let mut scanner = HeadScanner::default();
            // feeding byte by byte through the scanner gives the same answer
            for end in 0..=cut {
                assert_eq!(
                    scanner.poll(&input[..end], &Limits::default()),
                    Ok(Parsed::Partial)
                );
            }
        }
        let mut scanner = HeadScanner::default();
        for end in 0..input.len() {
            assert_eq!(
                scanner.poll(&input[..end], &Limits::default()),
                Ok(Parsed::Partial)
            );
        }
        assert_eq!(scanner.poll(input, &Limits::default()), parse(input));
        assert!(matches!(parse(input), Ok(Parsed::Complete((_, n))) if n == input.len()));
    }

    #[test]
    fn scanner_rechecks_the_line_until_its_lf_arrives() {
        // found by fuzzing: a check that passed once (after empty lines, or on a trailing CR)
        // must not let the line grow past the limit later
        let limits = Limits {
            max_request_line_bytes: 64,
            max_head_bytes: 256,
            ..Limits::default()
        };
        let mut with_cr = vec![b'G'; 64];
        with_cr.push(b'\r');
        with_cr.extend([b'G'; 35]);
        let mut after_empty = b"\r\n".to_vec();
        after_empty.extend([b'G'; 100]);
        for input in [with_cr, after_empty] {
            let mut scanner = HeadScanner::default();
            let verdict = (1..=input.len())
                .map(|end| scanner.poll(&input[..end], &limits))
                .find(|v| v.is_err());
            assert_eq!(verdict, Some(Err(ParseError::RequestLineTooLong)));
            assert_eq!(
                parse_head(&input, &limits),
                Err(ParseError::RequestLineTooLong)
            );
        }
    }

    #[test]
    fn scanner_reports_long_lines_without_the_blank_line() {
        let limits = Limits {
            max_request_line_bytes: 16,
            ..Limits::default()
        };
        let mut scanner = HeadScanner::default();
        let line = b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut verdict = Ok(Parsed::Partial);
        for end in 1..=line.len() {
            verdict = scanner.poll(&line[..end], &limits);
            if verdict.is_err() {
                break;
            }
        }
        assert_eq!(verdict, Err(ParseError::RequestLineTooLong));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"GET /HTP1.0\r\n:; \t\x00\xff\xc3Hhost";
        for _ in 0..20_000 {
            let len = (seed % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse(&bytes);
        }
    }
}
