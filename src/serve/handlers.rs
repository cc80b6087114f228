//! One small function per route: a request head (and for uploads a body reader) in, a
//! `Response` out. Handlers never see a socket; the router picks them, `files.rs` touches disk.
//!
//! `/files/` is a file server in the way curl and browsers expect one: validators and
//! conditional requests (RFC 9110 §13), single byte ranges (§14), directory listings, DELETE,
//! and RFC 9530 `Content-Digest` on upload and on request.

use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::files::{FileError, FileName, FileRoot, percent_decode, resolve_name};
use crate::http::body::BodyError;
use crate::http::date;
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{Body, BodyStream, Response, StatusCode};
use crate::http::transfer::{Limit, copy_with};
use crate::serve::compress::{self, GzipStream};
use crate::serve::listing::{self, Listing};
use crate::serve::mime;

/// `GET /`: 200 with an empty body.
pub fn index() -> Response {
    Response::new(StatusCode::OK)
}

/// `GET /echo/{s}`: `s`, percent-decoded, as `text/plain`.
pub fn echo(encoded: &str) -> Response {
    match percent_decode(encoded) {
        Some(text) => compressible(Response::text(StatusCode::OK, text)),
        None => Response::error(StatusCode::BAD_REQUEST, "invalid percent-encoding"),
    }
}

/// `GET /user-agent`: the `User-Agent` value (empty when there is none).
pub fn user_agent(head: &RequestHead) -> Response {
    let agent = head.headers.get("user-agent").unwrap_or("");
    // it differs per client: no cache may hand one client's answer to another
    compressible(Response::text(StatusCode::OK, agent).header("Cache-Control", "no-store"))
}

fn compressible(mut response: Response) -> Response {
    response.compressible = true;
    response
}

/// `GET`/`HEAD /files/{name}`: the file, a byte range of it, a 304, or a directory listing.
/// `may_write` says whether a listing page offers uploads and deletes.
pub fn get_file(root: &FileRoot, encoded: &str, head: &RequestHead, may_write: bool) -> Response {
    let result = resolve_name(encoded).and_then(|name| {
        if name.is_dir {
            return list_dir(root, &name, head, may_write);
        }
        let (file, meta) = root.open(&name)?;
        Ok(serve_file(root, &name, file, &meta, head))
    });
    result.unwrap_or_else(file_error)
}

fn list_dir(
    root: &FileRoot,
    name: &FileName,
    head: &RequestHead,
    may_write: bool,
) -> Result<Response, FileError> {
    let query = head.target.split_once('?').map_or("", |(_, q)| q);
    let listing = Listing {
        path: name
            .relative
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
        entries: root.list(name)?,
        format: listing::negotiate(head.headers.get_all("accept")),
        query: listing::parse_query(query),
        may_write,
    };
    // RFC 9110 §13.1.2: a client that has this very listing gets 304
    let etag = listing.etag();
    if head.headers.get("if-none-match").is_some_and(|tags| {
        let opaque = etag.trim_start_matches("W/");
        etag_list_matches(tags, opaque, Compare::Weak)
    }) {
        return Ok(Response::new(StatusCode::NOT_MODIFIED)
            .header("ETag", etag)
            .header("Cache-Control", "no-cache")
            .header("Vary", "Accept"));
    }
    // RFC 9112 §7.1: only an HTTP/1.1 client reads the chunked coding
    Ok(listing.into_response(etag, head.version == Version::Http11))
}

/// The validators of a stored file.
struct Validators {
    etag: String,
    modified: SystemTime,
}

impl Validators {
    /// A strong ETag from size, mtime (ns) and inode: any write changes at least one of them.
    fn of(meta: &Metadata) -> Validators {
        Validators::tagged(meta, "")
    }

    /// As `of`, with `suffix` inside the quotes: each representation of a file has its own tag.
    fn tagged(meta: &Metadata, suffix: &str) -> Validators {
        let nanos = meta.mtime() as u64 as u128 * 1_000_000_000 + meta.mtime_nsec() as u128;
        Validators {
            etag: format!("\"{:x}-{:x}-{:x}{suffix}\"", meta.len(), nanos, meta.ino()),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// The policy of served HTML, SVG and XML documents.
const UPLOADED_PAGE_POLICY: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Files smaller than this are sent as they are: gzip's header and trailer and a response's
/// chunk framing would eat most of what it saves (nginx's `gzip_min_length` is 20, Caddy 512).
const GZIP_MIN_BYTES: u64 = 1024;

/// Which representation of a file a response carries (RFC 9110 §3.2).
enum Representation {
    Identity,
    /// A sibling `NAME.gz` prepared beforehand, sent as it is (nginx's `gzip_static`).
    Precompressed(std::fs::File, Metadata),
    /// Gzipped while it is sent; its length is unknown until then.
    GzipOnTheFly,
}

/// Picks the representation. A range is always served from the identity: its offsets mean
/// bytes of the file. On-the-fly gzip needs chunked framing, so HTTP/1.0 gets the identity.
fn choose_representation(
    root: &FileRoot,
    name: &FileName,
    meta: &Metadata,
    content_type: &str,
    head: &RequestHead,
) -> Representation {
    if head.headers.get("range").is_some()
        || !compress::accepts_gzip(head.headers.get_all("accept-encoding"))
    {
        return Representation::Identity;
    }
    let mut sibling = name.relative.clone().into_os_string();
    sibling.push(".gz");
    let sibling = FileName {
        relative: sibling.into(),
        is_dir: false,
    };
    if let Ok((file, gz_meta)) = root.open(&sibling)
        // `gzip -k` gives NAME.gz the mtime of NAME: as new is new enough
        && gz_meta.modified().ok() >= meta.modified().ok()
    {
        return Representation::Precompressed(file, gz_meta);
    }
    if mime::is_compressible(content_type)
        && meta.len() >= GZIP_MIN_BYTES
        && head.version == Version::Http11
    {
        return Representation::GzipOnTheFly;
    }
    Representation::Identity
}

fn serve_file(
    root: &FileRoot,
    name: &FileName,
    file: std::fs::File,
    meta: &Metadata,
    head: &RequestHead,
) -> Response {
    let content_type = mime::content_type(&name.relative);
    let representation = choose_representation(root, name, meta, &content_type, head);
    let gzipped = !matches!(representation, Representation::Identity);
    let on_the_fly = matches!(representation, Representation::GzipOnTheFly);
    let (file, meta, validators) = match representation {
        Representation::Identity => (file, meta, Validators::of(meta)),
        Representation::Precompressed(gz_file, ref gz_meta) => {
            (gz_file, gz_meta, Validators::tagged(gz_meta, "-gz"))
        }
        Representation::GzipOnTheFly => (file, meta, Validators::tagged(meta, "-gzip")),
    };
    let len = meta.len();
    let with_validators = |status| {
        // RFC 9110 §15.4.5: a 304 carries what a 200 would among validators, Cache-Control and
        // Vary, and nothing that describes content
        let mut response = Response::new(status)
            .header("ETag", validators.etag.clone())
            .header("Last-Modified", date::format(validators.modified))
            // clients may keep a copy but ask each time whether it is still current
            .header("Cache-Control", "no-cache")
            .header("Vary", "Accept-Encoding");
        if status != StatusCode::NOT_MODIFIED {
            response = response
                .header("Content-Type", content_type.clone())
                .header("X-Content-Type-Options", "nosniff")
                .header("Accept-Ranges", "bytes");
            if gzipped {
                response = response.header("Content-Encoding", "gzip");
            }
            if mime::is_active(&content_type) {
                // Uploaded pages share this origin with the listing, which can upload and
                // delete: in a sandbox (an opaque origin) their scripts still run but cannot
                // act as this origin. Only for types that run script: Chrome refuses to show
                // a PDF in a sandbox.
                response = response.header("Content-Security-Policy", UPLOADED_PAGE_POLICY);
            }
        }
        response
    };
    match check_preconditions(head, Some(&validators)) {
        Precondition::Pass => {}
        Precondition::NotModified => {
            let mut response = with_validators(StatusCode::NOT_MODIFIED);
            if !on_the_fly {
                response.length_of_200 = Some(len);
            }
            return response;
        }
        Precondition::Failed => return precondition_failed(),
    }
    if on_the_fly {
        let mut response = with_validators(StatusCode::OK);
        response.body = Body::Stream {
            len: None,
            source: Box::new(GzipFile { file, len }),
        };
        return response;
    }
    // RFC 9110 §14.2: range handling is defined for GET only; HEAD ignores Range
    let range = match head.headers.get("range") {
        Some(value) if head.method == Method::Get && if_range_holds(head, &validators) => {
            parse_range(value, len)
        }
        _ => RangeRequest::Full,
    };
    let (mut response, start, body_len) = match range {
        RangeRequest::Full => (with_validators(StatusCode::OK), 0, len),
        RangeRequest::Partial { start, end } => {
            let response = with_validators(StatusCode::PARTIAL_CONTENT)
                .header("Content-Range", format!("bytes {start}-{end}/{len}"));
            (response, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            return Response::error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable")
                .header("Content-Range", format!("bytes */{len}"));
        }
    };
    // RFC 9110 §9.3.2: HEAD gets the fields GET would, so the digest too (of what GET sends)
    if wants_sha256(head) {
        match sha256_of(&file, start, body_len) {
            Ok(digest) => response = response.header("Content-Digest", content_digest(&digest)),
            Err(e) => return file_error(FileError::Io(e)),
        }
    }
    response.body = Body::File {
        file,
        start,
        len: body_len,
    };
    response
}

/// A file gzipped while it is sent.
struct GzipFile {
    file: std::fs::File,
    /// The length the file had when opened: a file that grows is cut there, one that
    /// shrinks ends the response early (the chunked body then lacks its last chunk).
    len: u64,
}

impl BodyStream for GzipFile {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let read = GzipStream::default().copy(&mut self.file, self.len, out)?;
        if read < self.len {
            return Err(crate::http::response::file_shrank());
        }
        Ok(())
    }
}

enum Precondition {
    Pass,
    NotModified,
    Failed,
}

/// RFC 9110 §13.2.2 steps 1–4 against the current validators (`None`: no such file).
fn check_preconditions(head: &RequestHead, current: Option<&Validators>) -> Precondition {
    let headers = &head.headers;
    let safe = matches!(head.method, Method::Get | Method::Head);
    let date_of = |name| {
        headers
            .get(name)
            .and_then(date::parse)
            .map(date::unix_seconds)
    };
    let modified = current.map(|v| date::unix_seconds(v.modified));
    let unmodified_since_fails =
        || matches!((modified, date_of("if-unmodified-since")), (Some(m), Some(d)) if m > d);
    match headers.get("if-match") {
        Some(tags)
            if !current.is_some_and(|v| etag_list_matches(tags, &v.etag, Compare::Strong)) =>
        {
            return Precondition::Failed;
        }
        None if unmodified_since_fails() => return Precondition::Failed,
        _ => {}
    }
    let not_modified = match headers.get("if-none-match") {
        Some(tags) => current.is_some_and(|v| etag_list_matches(tags, &v.etag, Compare::Weak)),
        None => {
            safe && matches!((modified, date_of("if-modified-since")), (Some(m), Some(d)) if m <= d)
        }
    };
    match (not_modified, safe) {
        (false, _) => Precondition::Pass,
        (true, true) => Precondition::NotModified,
        (true, false) => Precondition::Failed,
    }
}

/// Whether a write may go ahead against the file as it is now (`None`: absent): the check an
/// upload or delete makes again at the moment it lands.
fn preconditions_hold(head: &RequestHead, current: Option<&Metadata>) -> bool {
    let validators = current.map(Validators::of);
    !matches!(
        check_preconditions(head, validators.as_ref()),
        Precondition::Failed
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Compare {
    Strong,
    Weak,
}

/// Whether `*` or any entity-tag in a comma-separated list matches `etag` (RFC 9110 §8.8.3.2).
fn etag_list_matches(list: &str, etag: &str, compare: Compare) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        match candidate.strip_prefix("W/") {
            Some(weak) => compare == Compare::Weak && weak == etag,
            None => candidate == etag,
        }
    })
}

/// RFC 9110 §13.1.5: a range applies only while `If-Range` still names the current file.
fn if_range_holds(head: &RequestHead, v: &Validators) -> bool {
    match head.headers.get("if-range") {
        None => true,
        Some(tag) if tag.starts_with('"') => tag == v.etag,
        Some(tag) if tag.starts_with("W/") => false,
        Some(when) => date::parse(when)
            .is_some_and(|t| date::unix_seconds(t) == date::unix_seconds(v.modified)),
    }
}

#[derive(Debug, PartialEq)]
enum RangeRequest {
    Full,
    Partial { start: u64, end: u64 },
    Unsatisfiable,
}

/// One `bytes` range of a representation of `len` bytes. Malformed headers and multiple ranges
/// are answered with the whole file, which RFC 9110 §14.2 allows.
fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some((unit, spec)) = value.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return RangeRequest::Full;
            };
            let end = match last {
                "" => u64::MAX,
                last => match number(last) {
                    Some(end) if end >= start => end,
                    _ => return RangeRequest::Full,
                },
            };
            if start >= len {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
    }
}

/// `POST` (and `PUT`) `/files/{name}`: store the body whole, then 201 (or 204 for a PUT that
/// replaced a file). Every refusal is decided before the first body byte is read, so a client
/// waiting on `Expect: 100-continue` gets it without sending the body.
pub fn put_file(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    body: &mut dyn Read,
) -> Response {
    let result = (|| {
        let name = resolve_name(encoded)?;
        let target = root.upload_target(&name)?;
        let existing = std::fs::metadata(&target).ok().filter(Metadata::is_file);
        let validators = existing.as_ref().map(Validators::of);
        if let Precondition::Failed = check_preconditions(head, validators.as_ref()) {
            return Ok(precondition_failed());
        }
        let expected = match head.headers.get("content-digest").map(parse_content_digest) {
            Some(Err(())) => {
                return Ok(Response::error(
                    StatusCode::BAD_REQUEST,
                    "malformed Content-Digest",
                ));
            }
            Some(Ok(digest)) => digest,
            None => None,
        };
        // the preconditions again, at the moment the upload lands
        let still_wanted = |current: Option<&Metadata>| preconditions_hold(head, current);
        let stored = root.store(&target, body, expected, &still_wanted)?;
        // from what the rename replaced, not from a look before the body was read
        let status = if head.method == Method::Put && stored.replaced {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::CREATED
        };
        log::debug!("stored {} bytes at {}", stored.len, target.display());
        let mut response =
            Response::new(status).header("Content-Digest", content_digest(&stored.sha256));
        if status == StatusCode::CREATED {
            // RFC 9110 §15.3.2: where the new resource is
            response = response.header("Location", listing::files_url(&name.relative));
        }
        Ok(response)
    })();
    result.unwrap_or_else(file_error)
}

/// `DELETE /files/{name}`: 204, or 404 when there is no such file.
pub fn delete_file(root: &FileRoot, encoded: &str, head: &RequestHead) -> Response {
    // RFC 9110 §13.1: If-Match and If-Unmodified-Since hold for DELETE too
    let still_wanted = |current: Option<&Metadata>| preconditions_hold(head, current);
    match resolve_name(encoded).and_then(|name| root.delete(&name, &still_wanted)) {
        Ok(()) => Response::new(StatusCode::NO_CONTENT),
        Err(e) => file_error(e),
    }
}

fn precondition_failed() -> Response {
    Response::error(StatusCode::PRECONDITION_FAILED, "precondition failed")
}

/// The answer to a failed file operation. A failure to read the request body is the client's:
/// its framing status, 408 on a stall; only server-side I/O is a 500.
fn file_error(e: FileError) -> Response {
    if let FileError::Io(io_error) = &e {
        if let Some(body_error) = BodyError::from_io(io_error) {
            return Response::error(body_error.status(), body_error);
        }
        match io_error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                return Response::error(StatusCode::REQUEST_TIMEOUT, "timed out reading the body");
            }
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => {
                return Response::error(StatusCode::BAD_REQUEST, "incomplete request body");
            }
            _ => log::error!("file operation failed: {io_error}"),
        }
    }
    Response::error(e.status(), e)
}

/// Whether `Want-Content-Digest` asks for sha-256 with a non-zero preference (RFC 9530 §4).
fn wants_sha256(head: &RequestHead) -> bool {
    head.headers
        .get_all("want-content-digest")
        .flat_map(|v| v.split(','))
        .any(|member| {
            let (key, weight) = member.split_once('=').unwrap_or((member, "1"));
            key.trim() == "sha-256" && weight.trim() != "0"
        })
}

/// The sha-256 member of a `Content-Digest` field: `Ok(None)` when it only names algorithms we
/// do not check, `Err` when the sha-256 member is malformed.
fn parse_content_digest(value: &str) -> Result<Option<[u8; 32]>, ()> {
    for member in value.split(',') {
        let Some((key, encoded)) = member.split_once('=') else {
            return Err(());
        };
        if key.trim() != "sha-256" {
            continue;
        }
        let bytes = encoded
            .trim()
            .strip_prefix(':')
            .and_then(|s| s.strip_suffix(':'))
            .ok_or(())?;
        let digest = BASE64.decode(bytes).map_err(|_| ())?;
        return digest.try_into().map(Some).map_err(|_| ());
    }
    Ok(None)
}

fn content_digest(sha256: &[u8; 32]) -> String {
    format!("sha-256=:{}:", BASE64.encode(sha256))
}

fn sha256_of(mut file: &std::fs::File, start: u64, len: u64) -> io::Result<[u8; 32]> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    copy_with(&mut file, Limit::Exact(len), &mut |piece| {
        hasher.update(piece);
        Ok(())
    })?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let cases: &[(&str, u64, RangeRequest)] = &[
            ("bytes=0-4", 10, Partial { start: 0, end: 4 }),
            ("bytes=5-", 10, Partial { start: 5, end: 9 }),
            ("bytes=-3", 10, Partial { start: 7, end: 9 }),
            ("bytes=-30", 10, Partial { start: 0, end: 9 }),
            ("bytes=2-100", 10, Partial { start: 2, end: 9 }),
            ("BYTES=0-0", 10, Partial { start: 0, end: 0 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=5-4", 10, Full),
            ("bytes=0-1,3-4", 10, Full),
            ("bytes=a-b", 10, Full),
            ("bytes=-", 10, Full),
            ("items=0-1", 10, Full),
            ("bytes 0-1", 10, Full),
            ("bytes=+1-2", 10, Full),
        ];
        for (value, len, want) in cases {
            assert_eq!(&parse_range(value, *len), want, "{value} of {len}");
        }
    }

    #[test]
    fn etags() {
        let tag = "\"a-b-c\"";
        assert!(etag_list_matches("*", tag, Compare::Strong));
        assert!(etag_list_matches("\"x\", \"a-b-c\"", tag, Compare::Strong));
        assert!(!etag_list_matches("W/\"a-b-c\"", tag, Compare::Strong));
        assert!(etag_list_matches("W/\"a-b-c\"", tag, Compare::Weak));
        assert!(!etag_list_matches("\"a-b\"", tag, Compare::Weak));
    }

    #[test]
    fn content_digest_members() {
        let digest = Sha256::digest(b"hello");
        let field = format!("sha-512=:AAAA:, {}", content_digest(&digest.into()));
        assert_eq!(parse_content_digest(&field), Ok(Some(digest.into())));
        assert_eq!(parse_content_digest("sha-512=:AAAA:"), Ok(None));
        assert_eq!(parse_content_digest("sha-256=:AAAA:"), Err(()));
        assert_eq!(parse_content_digest("sha-256=AAAA"), Err(()));
        assert_eq!(parse_content_digest("garbage"), Err(()));
    }
}
