//! WebDAV class 1 and 2 on `/files/` (RFC 4918; issue #16): the verb dispatch and what every
//! verb shares (the resource a URL names, `Depth`, `Destination`, `Overwrite`, bounded XML
//! bodies, the lock checks). Each verb lives in its own file:
//!
//! - `propfind`: properties of a resource and its members, the 207 written as produced;
//! - `proppatch`: dead properties, kept in `user.` extended attributes;
//! - `collection`: MKCOL, DELETE of a collection;
//! - `copy_move`: COPY and MOVE;
//! - `locking`: LOCK, UNLOCK, and the `If` / lock checks of every changing method;
//! - `xml`, `multistatus`, `if_header`, `lock`: bodies in, bodies out, `If`, the lock table.
//!
//! Every file operation is descriptor-relative under the root (`files::at`), from
//! `FileRoot::current()`; statuses come from `serve::errors`.

mod collection;
mod copy_move;
pub mod if_header;
pub mod lock;
mod locking;
pub mod multistatus;
mod propfind;
mod proppatch;
pub mod xml;

use std::io::Read;
use std::path::PathBuf;

use crate::config::Limits;
use crate::files::at::Root;
use crate::files::{FileError, FileRoot};
use crate::http::request::{Method, RequestHead};
use crate::http::response::{Response, StatusCode};
use crate::security::access::Grant;
use crate::serve::errors::{file_error, fs_error};
use crate::serve::listing::files_url;
use crate::serve::put;

pub use locking::LOCKS;

/// What a WebDAV resource offers (RFC 4918 §10.1, §18).
const DAV_CLASSES: &str = "1, 2";
const ALLOW_FILES: &str = "OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, COPY, \
                           MOVE, MKCOL, LOCK, UNLOCK";
const ALLOW_ROOT: &str = "OPTIONS, GET, HEAD";

/// The largest XML request body read (PROPFIND, PROPPATCH, LOCK); larger gets 413.
const MAX_XML_BODY_BYTES: u64 = 1 << 20;

/// The methods WebDAV adds, which the router hands here whole.
pub fn is_webdav_method(method: &Method) -> bool {
    match method {
        Method::Options => true,
        Method::Other(m) => matches!(
            m.as_str(),
            "PROPFIND" | "PROPPATCH" | "MKCOL" | "COPY" | "MOVE" | "LOCK" | "UNLOCK"
        ),
        _ => false,
    }
}

/// A resource under `/files/`, as a request (or its `Destination`) names it.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// Relative path of normal segments; empty for the root collection.
    pub rel: PathBuf,
    /// The lock table's name: segments joined by `/`, no leading or trailing `/`.
    pub key: String,
}

impl Resource {
    /// Decodes and checks a `/files/`-relative URL path by the name rules and the dot-file
    /// policy every route uses.
    fn parse(files: &FileRoot, encoded: &str) -> Result<Resource, FileError> {
        let name = files.resolve(encoded)?;
        let key = name
            .relative
            .iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Ok(Resource {
            rel: name.relative,
            key,
        })
    }

    /// The percent-encoded URL, `/` at the end for a collection.
    fn href(&self, collection: bool) -> String {
        let mut url = files_url(&self.rel);
        if collection {
            url.push('/');
        }
        url
    }

    fn is_root(&self) -> bool {
        self.key.is_empty()
    }

    fn parent_key(&self) -> &str {
        self.key.rfind('/').map_or("", |i| &self.key[..i])
    }
}

/// What a handler gets: the request, its resource, the root and who asks.
pub(crate) struct Ctx<'a> {
    pub head: &'a RequestHead,
    /// The served directory, for the name rules of a second path (`Destination`, `If`).
    pub files: &'a FileRoot,
    pub resource: Resource,
    pub root: Root,
    pub user: Option<&'a str>,
}

/// `OPTIONS /`: Windows probes the server root before it maps a drive.
pub fn options_root() -> Response {
    Response::new(StatusCode::OK)
        .header("DAV", DAV_CLASSES)
        .header("MS-Author-Via", "DAV")
        .header("Allow", ALLOW_ROOT)
}

/// A WebDAV method (or OPTIONS) on `/files/{encoded}`.
pub fn handle(
    files: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    body: &mut dyn Read,
    grant: &Grant,
    limits: &Limits,
) -> Response {
    let ctx = match context(files, encoded, head, grant) {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let method = head.method.as_str();
    if method != "OPTIONS"
        && let Err(response) = locking::if_header_holds(&ctx)
    {
        return response;
    }
    match method {
        "OPTIONS" => Response::new(StatusCode::OK)
            .header("DAV", DAV_CLASSES)
            .header("MS-Author-Via", "DAV")
            .header("Allow", ALLOW_FILES),
        "PROPFIND" => with_body(body, |b| {
            propfind::propfind(&ctx, b, limits.propfind_infinity)
        }),
        "PROPPATCH" => with_body(body, |b| proppatch::proppatch(&ctx, b)),
        "MKCOL" => collection::mkcol(&ctx, body),
        "COPY" => copy_move::copy_or_move(&ctx, false),
        "MOVE" => copy_move::copy_or_move(&ctx, true),
        "LOCK" => with_body(body, |b| locking::lock(&ctx, b)),
        "UNLOCK" => locking::unlock(&ctx),
        _ => Response::error(StatusCode::NOT_IMPLEMENTED, "method not implemented"),
    }
}

/// `DELETE /files/{encoded}`: a collection is removed here, recursively; anything else by
/// the upload module's delete, as before WebDAV. Locks are checked first for both.
pub fn delete(files: &FileRoot, encoded: &str, head: &RequestHead, grant: &Grant) -> Response {
    let ctx = match context(files, encoded, head, grant) {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = locking::if_header_holds(&ctx) {
        return response;
    }
    match collection::delete(&ctx) {
        Some(response) => response,
        None => {
            let response = put::delete_file(files, encoded, head);
            if response.status == StatusCode::NO_CONTENT {
                LOCKS.remove_under(std::time::Instant::now(), &ctx.resource.key);
            }
            response
        }
    }
}

/// The lock hook of `PUT` and `POST`: `Some(423)` (or 412, 400 for a bad `If`) when the
/// target or, for a new file, its collection is locked and the request lacks the token.
pub fn refuse_locked_write(
    files: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    grant: &Grant,
) -> Option<Response> {
    let ctx = context(files, encoded, head, grant).ok()?;
    if let Err(response) = locking::if_header_holds(&ctx) {
        return Some(response);
    }
    let exists = ctx.root.stat(&ctx.resource.rel).is_ok();
    locking::may_change(&ctx, &ctx.resource, lock::Depth::Zero, !exists).err()
}

fn context<'a>(
    files: &'a FileRoot,
    encoded: &str,
    head: &'a RequestHead,
    grant: &'a Grant,
) -> Result<Ctx<'a>, Response> {
    let resource = Resource::parse(files, encoded).map_err(file_error)?;
    let root = files.current().map_err(fs_error)?;
    Ok(Ctx {
        head,
        files,
        resource,
        root,
        user: grant.user.as_deref(),
    })
}

/// Reads a whole XML body (at most `MAX_XML_BODY_BYTES`, else 413) and hands it on.
fn with_body(body: &mut dyn Read, then: impl FnOnce(&[u8]) -> Response) -> Response {
    let mut bytes = Vec::new();
    match body.take(MAX_XML_BODY_BYTES + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > MAX_XML_BODY_BYTES => {
            Response::error(StatusCode::CONTENT_TOO_LARGE, "request body too large")
        }
        Ok(_) => then(&bytes),
        Err(e) => file_error(FileError::Io(e)),
    }
}

/// `Depth` (RFC 4918 §10.2), `None` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepthHeader {
    Zero,
    One,
    Infinity,
}

fn depth(head: &RequestHead) -> Result<Option<DepthHeader>, Response> {
    match head.headers.get("depth").map(str::trim) {
        None => Ok(None),
        Some("0") => Ok(Some(DepthHeader::Zero)),
        Some("1") => Ok(Some(DepthHeader::One)),
        Some(v) if v.eq_ignore_ascii_case("infinity") => Ok(Some(DepthHeader::Infinity)),
        Some(_) => Err(Response::error(StatusCode::BAD_REQUEST, "malformed Depth")),
    }
}

/// An XML answer with `status` (a 207, LOCK's body, an `<error>`).
fn xml_response(status: StatusCode, body: impl Into<Vec<u8>>) -> Response {
    Response::new(status)
        .header("Content-Type", multistatus::CONTENT_TYPE)
        .body(body.into())
}

/// Why a URL names none of our resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignUrl {
    /// Neither an absolute path nor `scheme://authority/path`: 400.
    Malformed,
    /// Another host, or a scheme other than HTTP(S): 502 (RFC 4918 §9.8.5, §9.9.4: the
    /// server will not act on another server's resource).
    OtherServer,
    /// This server, but not under `/files/`: 403.
    OutsideFiles,
}

/// The still-encoded `/files/`-relative part of an absolute URL or absolute path (a
/// `Destination`, an `If` tag), when it names this server (`host`, the request's `Host`);
/// query and fragment dropped. The name rules are the caller's (`resolve_name`).
pub fn files_part<'u>(url: &'u str, host: &str) -> Result<&'u str, ForeignUrl> {
    let path = if url.starts_with('/') {
        url
    } else {
        let (scheme, rest) = url.split_once("://").ok_or(ForeignUrl::Malformed)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(ForeignUrl::OtherServer);
        }
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        if !authority.eq_ignore_ascii_case(host.trim()) {
            return Err(ForeignUrl::OtherServer);
        }
        path
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.strip_prefix("/files/") {
        Some(encoded) => Ok(encoded),
        None if path == "/files" => Ok(""),
        None => Err(ForeignUrl::OutsideFiles),
    }
}

/// The resource a URL names, by exactly the checks of a request's own path.
fn resource_of_url(url: &str, ctx: &Ctx) -> Result<Resource, Response> {
    let host = ctx.head.host().unwrap_or("");
    match files_part(url, host) {
        Ok(encoded) => Resource::parse(ctx.files, encoded).map_err(file_error),
        Err(ForeignUrl::Malformed) => {
            Err(Response::error(StatusCode::BAD_REQUEST, "malformed URL"))
        }
        Err(ForeignUrl::OtherServer) => Err(Response::error(
            StatusCode::BAD_GATEWAY,
            "destination on another server",
        )),
        Err(ForeignUrl::OutsideFiles) => Err(Response::error(
            StatusCode::FORBIDDEN,
            "destination outside /files/",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_our_files_or_are_refused() {
        let host = "127.0.0.1:4221";
        let cases: &[(&str, Result<&str, ForeignUrl>)] = &[
            ("/files/a%20b", Ok("a%20b")),
            ("/files/", Ok("")),
            ("/files", Ok("")),
            ("/files/a?x=1#f", Ok("a")),
            ("http://127.0.0.1:4221/files/x/y", Ok("x/y")),
            ("HTTPS://127.0.0.1:4221/files/x", Ok("x")),
            (
                "http://127.0.0.1:4222/files/x",
                Err(ForeignUrl::OtherServer),
            ),
            ("http://evil.example/files/x", Err(ForeignUrl::OtherServer)),
            ("ftp://127.0.0.1:4221/files/x", Err(ForeignUrl::OtherServer)),
            ("http://127.0.0.1:4221", Err(ForeignUrl::OutsideFiles)),
            ("/filesx/a", Err(ForeignUrl::OutsideFiles)),
            ("/echo/a", Err(ForeignUrl::OutsideFiles)),
            ("files/a", Err(ForeignUrl::Malformed)),
            ("", Err(ForeignUrl::Malformed)),
        ];
        for (url, want) in cases {
            assert_eq!(files_part(url, host), *want, "{url}");
        }
    }

    /// PROPFIND's `getetag` must be GET's `ETag`, or `If` and `If-Match` would never match.
    #[test]
    fn propfind_etags_are_gets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "12345").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let meta = root.stat(std::path::Path::new("f")).unwrap();
        let std_meta = std::fs::metadata(dir.path().join("f")).unwrap();
        assert_eq!(
            locking::etag_of(&meta),
            crate::serve::conditional::Validators::of(&std_meta).etag
        );
    }
}
