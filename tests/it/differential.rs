//! Differential tests of our request-head parser against `httparse`, run in-process (no server).
//!
//! 1. Valid requests, generated field by field: we must accept them and agree with `httparse` on
//!    method, path, version, every field name and value, and where the body starts.
//! 2. Arbitrary bytes, request-shaped bytes (each part of the grammar valid or broken) and
//!    mutated valid requests: we must never panic, and whatever we accept `httparse` must accept
//!    too, with the same reading. The converse does not hold: we are stricter by design (bare LF,
//!    missing or repeated `Host`, non-UTF-8 field values, targets outside origin- and
//!    absolute-form or with `#` or bytes beyond VCHAR), so `httparse` accepting what we refuse
//!    is not checked.

use http_server::config::Limits;
use http_server::{Parsed, parse_head};
use http_server::{RequestHead, Version};
use proptest::prelude::*;

/// What `httparse` makes of a buffer, owned so that it outlives the parser's borrows.
#[derive(Debug, PartialEq, Eq)]
enum Theirs {
    Complete {
        method: String,
        path: String,
        version: u8,
        headers: Vec<(String, Vec<u8>)>,
        body_at: usize,
    },
    Partial,
    Invalid(httparse::Error),
}

fn theirs(buf: &[u8]) -> Theirs {
    // more slots than our default `max_header_fields`, so their limit never bites first
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(body_at)) => Theirs::Complete {
            method: req.method.expect("complete").to_owned(),
            path: req.path.expect("complete").to_owned(),
            version: req.version.expect("complete"),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            body_at,
        },
        Ok(httparse::Status::Partial) => Theirs::Partial,
        Err(e) => Theirs::Invalid(e),
    }
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

/// Asserts that `httparse` reads `buf` exactly as we did: `head` ending at `body_at`.
fn assert_same_reading(
    buf: &[u8],
    head: &RequestHead,
    body_at: usize,
) -> Result<(), TestCaseError> {
    let Theirs::Complete {
        method,
        path,
        version,
        headers,
        body_at: their_body_at,
    } = theirs(buf)
    else {
        return Err(TestCaseError::fail(format!(
            "we accept {:?} as {head:?}, httparse says {:?}",
            String::from_utf8_lossy(buf),
            theirs(buf)
        )));
    };
    prop_assert_eq!(body_at, their_body_at);
    prop_assert_eq!(head.method.as_str(), method.as_str());
    // an absolute-form target is reduced to origin-form on our side only
    if path.starts_with('/') {
        prop_assert_eq!(&head.target, &path);
    }
    let want_version = match head.version {
        Version::Http10 => 0,
        Version::Http11 => 1,
    };
    prop_assert_eq!(want_version, version);
    let ours: Vec<(&str, &[u8])> = head
        .headers
        .iter()
        .map(|(n, v)| (n, v.as_bytes()))
        .collect();
    let theirs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), trim_ows(v)))
        .collect();
    prop_assert_eq!(ours, theirs);
    Ok(())
}

/// Parses `buf` with the default limits; if we accept it, `httparse` must read it the same way.
fn check_acceptance(buf: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(Parsed::Complete((head, body_at))) = parse_head(buf, &Limits::default()) {
        prop_assert!(body_at <= buf.len());
        assert_same_reading(buf, &head, body_at)?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Request {
    leading_empty_lines: usize,
    method: String,
    target: String,
    http11: bool,
    host: String,
    /// (name, value, whitespace before the value, whitespace after it)
    fields: Vec<(String, String, &'static str, &'static str)>,
    body: Vec<u8>,
}

impl Request {
    fn head_bytes(&self) -> Vec<u8> {
        let version = if self.http11 { "HTTP/1.1" } else { "HTTP/1.0" };
        let mut s = "\r\n".repeat(self.leading_empty_lines);
        s += &format!(
            "{} {} {version}\r\nHost: {}\r\n",
            self.method, self.target, self.host
        );
        for (name, value, before, after) in &self.fields {
            s += &format!("{name}:{before}{value}{after}\r\n");
        }
        s += "\r\n";
        s.into_bytes()
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = self.head_bytes();
        b.extend_from_slice(&self.body);
        b
    }
}

/// `token` (RFC 9110 §5.6.2), for methods and field names.
const TOKEN_1_16: &str = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}";

fn ows() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("\t"), Just(" \t "), Just("  ")]
}

fn field() -> impl Strategy<Value = (String, String, &'static str, &'static str)> {
    (
        // `Host` is added once by `request`; a second one would be refused (RFC 9112 §3.2)
        TOKEN_1_16.prop_filter("not Host", |n| !n.eq_ignore_ascii_case("host")),
        // visible ASCII with spaces inside, never at either end; may be empty
        "([!-~]([ !-~]{0,30}[!-~])?)?",
        ows(),
        ows(),
    )
}

fn request() -> impl Strategy<Value = Request> {
    (
        0..3usize,
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            Just("HEAD".to_owned()),
            TOKEN_1_16,
        ],
        "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,40}(\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,20})?",
        any::<bool>(),
        "[a-z0-9.-]{1,20}(:[0-9]{1,4})?",
        prop::collection::vec(field(), 0..10),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(leading_empty_lines, method, target, http11, host, fields, body)| Request {
                leading_empty_lines,
                method,
                target,
                http11,
                host,
                fields,
                body,
            },
        )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
}

/// Bytes that sit on the parsers' decision points, as well as any byte at all.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"\r\n \t:/?#%\0\x7f\x80\xc3\xffHh1".to_vec()),
        1 => any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<prop::sample::Index>(), interesting_byte())
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Delete),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        match m {
            Mutation::Flip(i, x) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= x;
            }
            Mutation::Insert(i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i.index(bytes.len()));
            }
            _ => {}
        }
    }
    bytes
}

/// One of `valid` most of the time, one of `invalid` otherwise.
fn part(
    valid: &'static [&'static [u8]],
    invalid: &'static [&'static [u8]],
) -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        9 => prop::sample::select(valid),
        1 => prop::sample::select(invalid),
    ]
}

fn eol() -> impl Strategy<Value = &'static [u8]> {
    part(&[b"\r\n"], &[b"\n", b"\r", b"\r\r\n", b""])
}

fn sp() -> impl Strategy<Value = &'static [u8]> {
    part(&[b" "], &[b"  ", b"\t", b""])
}

/// Heads assembled from valid and invalid variants of each part of the grammar, so that many
/// are accepted by one parser or both, and the rest fail on exactly one or two points.
fn request_shaped() -> impl Strategy<Value = Vec<u8>> {
    let request_line = (
        part(&[b"", b"\r\n", b"\r\n\r\n"], &[b"\n", b"\r", b" "]),
        part(
            &[b"GET", b"POST", b"get", b"X-Y"],
            &[b"G(T", b"G\xc3\xa9T", b""],
        ),
        sp(),
        part(
            &[
                b"/",
                b"/a?b=c",
                b"//x",
                b"/%zz",
                b"http://h/p",
                b"HTTPS://h",
            ],
            &[
                b"/a#f",
                b"*",
                b"h:80",
                b"/caf\xc3\xa9",
                b"/\x7f",
                b"http://",
                b"",
            ],
        ),
        sp(),
        part(
            &[b"HTTP/1.1", b"HTTP/1.0"],
            &[
                b"HTTP/2.0",
                b"HTTP/1.10",
                b"http/1.1",
                b"HTTP/1.1 ",
                b"HTTP/1.",
            ],
        ),
        eol(),
    );
    let field = (
        part(
            &[b"Host", b"Host", b"host", b"X", b"Content-Length"],
            &[b"", b"Bad\"Name", b" X", b"\tX", b"X\x80"],
        ),
        part(&[b":", b": ", b":\t"], &[b" :", b"\t:", b""]),
        part(
            &[b"a", b"", b"a b", b"a \t", b"caf\xc3\xa9", b"\"q\"; x=1"],
            &[b"\x00", b"\xff", b"a\rb", b"\x7f", b"1\r\n 2", b"a\nb"],
        ),
        eol(),
    );
    (
        request_line,
        prop::collection::vec(field, 0..5),
        eol(),
        prop::sample::select(vec![&b""[..], b"body", b"\r\n"]),
    )
        .prop_map(|(line, fields, end, tail)| {
            let (lead, method, sp1, target, sp2, version, eol) = line;
            let mut b = [lead, method, sp1, target, sp2, version, eol].concat();
            for (name, colon, value, eol) in fields {
                b.extend_from_slice(&[name, colon, value, eol].concat());
            }
            b.extend_from_slice(end);
            b.extend_from_slice(tail);
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_requests_agree_with_httparse(req in request()) {
        let bytes = req.bytes();
        let head_len = req.head_bytes().len();
        let (head, body_at) = match parse_head(&bytes, &Limits::default()) {
            Ok(Parsed::Complete(parsed)) => parsed,
            other => return Err(TestCaseError::fail(format!(
                "{:?}: {other:?}", String::from_utf8_lossy(&bytes)
            ))),
        };
        prop_assert_eq!(body_at, head_len);
        prop_assert_eq!(&bytes[body_at..], &req.body[..]);
        prop_assert_eq!(head.method.as_str(), req.method.as_str());
        prop_assert_eq!(&head.target, &req.target);
        prop_assert_eq!(head.version, if req.http11 { Version::Http11 } else { Version::Http10 });
        let mut want = vec![("Host", req.host.as_str())];
        want.extend(req.fields.iter().map(|(n, v, _, _)| (n.as_str(), v.as_str())));
        let got: Vec<(&str, &str)> = head.headers.iter().collect();
        prop_assert_eq!(got, want);
        assert_same_reading(&bytes, &head, body_at)?;
    }

    #[test]
    fn arbitrary_bytes_accepted_only_if_httparse_agrees(
        bytes in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        check_acceptance(&bytes)?;
    }

    #[test]
    fn request_shaped_bytes_accepted_only_if_httparse_agrees(bytes in request_shaped()) {
        check_acceptance(&bytes)?;
    }

    #[test]
    fn mutated_requests_accepted_only_if_httparse_agrees(
        req in request(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = mutate(req.bytes(), &mutations);
        check_acceptance(&bytes)?;
        // the head alone, so that an accepted head is not hidden behind a broken body
        let head = mutate(req.head_bytes(), &mutations);
        check_acceptance(&head)?;
    }
}
