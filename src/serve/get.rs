//! `GET` and `HEAD` of `/files/{name}`: a download, in numbered steps, each one small function
//! or a call into the module that owns it (static-web-server's `static_files` documents its
//! steps the same way). `download` reads as the list:
//!
//! 1. resolve: the URL name becomes a checked relative name (`files`); a URL ending in `/`
//!    asks for a listing instead.
//! 2. open: a regular file inside the root (`files`).
//! 3. representation: the identity, a precompressed `NAME.gz` or gzip on the fly, each with
//!    its own validators (RFC 9110 §8.8).
//! 4. preconditions: 304 or 412 (`conditional`).
//! 5. range: 206 or 416 (`range`).
//! 6. digest: `Content-Digest` of what is sent, when asked (`digest`).
//! 7. body: the bytes, by `sendfile`, or gzipped while they are sent.
//!
//! A failure at any step is a `FileError`, answered by `errors`.

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::io::{self, Write};

use crate::files::{FileError, FileName, FileRoot};
use crate::http::date;
use crate::http::request::{RequestHead, Version};
use crate::http::response::{Body, BodyStream, Response, StatusCode};
use crate::serve::compress::{self, GzipStream};
use crate::serve::conditional::{
    Precondition, Validators, check_preconditions, none_match_names, precondition_failed,
};
use crate::serve::digest;
use crate::serve::errors::file_error;
use crate::serve::folder;
use crate::serve::listing::{self, Listing};
use crate::serve::mime;
use crate::serve::query::{self, FolderAction};
use crate::serve::range::{self, RangeRequest};
use crate::serve::search::{self, SearchLimits};
use crate::serve::slots::Slot;

/// The policy of served HTML, SVG and XML documents.
const UPLOADED_PAGE_POLICY: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Files smaller than this are sent as they are: gzip's header and trailer and a response's
/// chunk framing would eat most of what it saves (nginx's `gzip_min_length` is 20, Caddy 512).
const GZIP_MIN_BYTES: u64 = 1024;

/// `GET`/`HEAD /files/{name}`: the file, a byte range of it, a 304, or a directory listing.
/// `may_write` says whether a listing page offers uploads and deletes.
/// `client_gone` says whether the client has left (or the server is stopping), for work that
/// takes long before the first byte is sent (a whole file's digest).
pub fn get_file(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    may_write: bool,
    search: SearchLimits,
    client_gone: &dyn Fn() -> bool,
) -> Response {
    download(root, encoded, head, may_write, search, client_gone).unwrap_or_else(file_error)
}

fn download(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    may_write: bool,
    search: SearchLimits,
    client_gone: &dyn Fn() -> bool,
) -> Result<Response, FileError> {
    // 1. resolve
    let name = root.resolve(encoded)?;
    if name.ends_in_slash {
        let query = head.target.split_once('?').map_or("", |(_, q)| q);
        return match query::folder_action(query) {
            Ok(FolderAction::List) => list_dir(root, &name, head, may_write),
            Ok(FolderAction::Download(request)) => {
                folder::download(root, &name, request, head.version)
            }
            Ok(FolderAction::Search(text)) => {
                let format = listing::negotiate(head.headers.get_all("accept"));
                search::search(root, &name, &text, format, search, head.version)
            }
            Err(e) => Ok(Response::error(StatusCode::BAD_REQUEST, e)),
        };
    }
    // 2. open
    let (file, meta) = root.open(&name)?;
    // 3. representation
    let chosen = represent(root, &name, file, meta, head);
    // 4. preconditions
    match check_preconditions(head, Some(&chosen.validators)) {
        Precondition::Pass => {}
        Precondition::NotModified => return Ok(chosen.not_modified()),
        Precondition::Failed => return Ok(precondition_failed()),
    }
    if chosen.coding == Coding::GzipOnTheFly {
        // no range (step 3 chose the identity for those) and no digest: the length is
        // unknown until the last byte is sent
        return Ok(chosen.gzipped_while_sent());
    }
    // 5. range
    let (response, start, len) = match range::requested(head, &chosen.validators, chosen.len) {
        RangeRequest::Full => (chosen.response(StatusCode::OK), 0, chosen.len),
        RangeRequest::Partial { start, end } => {
            (chosen.partial(start, end), start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => return Ok(unsatisfiable(chosen.len)),
    };
    // 6. digest
    let etag = &chosen.validators.etag;
    let response = match digest::attach(
        response,
        head,
        etag,
        &chosen.file,
        (start, len),
        client_gone,
    ) {
        Ok(response) => response,
        Err(answer) => return Ok(answer),
    };
    // 7. body
    Ok(with_file(response, chosen.file, start, len))
}

/// Step 1 for a URL ending in `/`: the directory's listing, or 304 when the client has it.
fn list_dir(
    root: &FileRoot,
    name: &FileName,
    head: &RequestHead,
    may_write: bool,
) -> Result<Response, FileError> {
    let query = listing::parse_query(head.target.split_once('?').map_or("", |(_, q)| q));
    let format = listing::negotiate(head.headers.get_all("accept"));
    let listing = Listing {
        path: name
            .relative
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
        entries: root.list(name, listing::order(format, query))?,
        format,
        query,
        may_write,
    };
    // RFC 9110 §13.1.2: a client that has this very listing gets 304
    let etag = listing.etag();
    if none_match_names(head, &etag) {
        return Ok(Response::new(StatusCode::NOT_MODIFIED)
            .header("ETag", etag)
            .header("Cache-Control", "no-cache")
            .header("Vary", "Accept"));
    }
    // RFC 9112 §7.1: only an HTTP/1.1 client reads the chunked coding
    Ok(listing.into_response(etag, head.version == Version::Http11))
}

/// Which representation of a file a response carries (RFC 9110 §3.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    /// A sibling `NAME.gz` prepared beforehand, sent as it is (nginx's `gzip_static`).
    Precompressed,
    /// Gzipped while it is sent; its length is unknown until then.
    GzipOnTheFly,
}

impl Coding {
    /// Inside the ETag's quotes: each representation of a file has its own tag.
    fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Precompressed => "-gz",
            Coding::GzipOnTheFly => "-gzip",
        }
    }
}

/// Step 3's outcome: what a download sends and what describes it.
struct Representation {
    /// The file to send: the sibling `NAME.gz` when precompressed.
    file: File,
    /// The length `file` had when opened.
    len: u64,
    content_type: Cow<'static, str>,
    coding: Coding,
    validators: Validators,
    /// The heavy-work slot a large file gzipped on the fly holds while it is sent.
    gzip_slot: Option<Slot<'static>>,
}

/// Step 3: picks the representation. A range is always served from the identity: its offsets
/// mean bytes of the file. On-the-fly gzip needs chunked framing, so HTTP/1.0 gets the
/// identity.
fn represent(
    root: &FileRoot,
    name: &FileName,
    file: File,
    meta: Metadata,
    head: &RequestHead,
) -> Representation {
    let content_type = mime::content_type(&name.relative);
    let gzip_wanted = head.headers.get("range").is_none()
        && compress::accepts_gzip(head.headers.get_all("accept-encoding"));
    if gzip_wanted {
        if let Some((gz_file, gz_meta)) = precompressed_sibling(root, name, &meta) {
            return Representation::new(gz_file, &gz_meta, content_type, Coding::Precompressed);
        }
        if mime::is_compressible(&content_type)
            && meta.len() >= GZIP_MIN_BYTES
            && head.version == Version::Http11
            // all slots busy: the identity
            && let Ok(gzip_slot) = compress::gzip_admission(meta.len())
        {
            let mut chosen = Representation::new(file, &meta, content_type, Coding::GzipOnTheFly);
            chosen.gzip_slot = gzip_slot;
            return chosen;
        }
    }
    Representation::new(file, &meta, content_type, Coding::Identity)
}

/// `NAME.gz` beside `NAME`, when there is one at least as new.
fn precompressed_sibling(
    root: &FileRoot,
    name: &FileName,
    meta: &Metadata,
) -> Option<(File, Metadata)> {
    let mut sibling = name.relative.clone().into_os_string();
    sibling.push(".gz");
    let sibling = FileName {
        relative: sibling.into(),
        ends_in_slash: false,
    };
    let (file, gz_meta) = root.open(&sibling).ok()?;
    // `gzip -k` gives NAME.gz the mtime of NAME: as new is new enough
    (gz_meta.modified().ok() >= meta.modified().ok()).then_some((file, gz_meta))
}

impl Representation {
    fn new(
        file: File,
        meta: &Metadata,
        content_type: Cow<'static, str>,
        coding: Coding,
    ) -> Representation {
        Representation {
            file,
            len: meta.len(),
            content_type,
            coding,
            validators: Validators::tagged(meta, coding.etag_suffix()),
            gzip_slot: None,
        }
    }

    /// A response of `status` with the fields of this representation. RFC 9110 §15.4.5: a
    /// 304 carries what a 200 would among validators, Cache-Control and Vary, and nothing
    /// that describes content.
    fn response(&self, status: StatusCode) -> Response {
        let mut response = Response::new(status)
            .header("ETag", self.validators.etag.clone())
            .header("Last-Modified", date::format(self.validators.modified))
            // clients may keep a copy but ask each time whether it is still current
            .header("Cache-Control", "no-cache")
            .header("Vary", "Accept-Encoding");
        if status == StatusCode::NOT_MODIFIED {
            return response;
        }
        response = response
            .header("Content-Type", self.content_type.clone())
            .header("X-Content-Type-Options", "nosniff")
            .header("Accept-Ranges", "bytes");
        if self.coding != Coding::Identity {
            response = response.header("Content-Encoding", "gzip");
        }
        if mime::is_active(&self.content_type) {
            // Uploaded pages share this origin with the listing, which can upload and
            // delete: in a sandbox (an opaque origin) their scripts still run but cannot
            // act as this origin. Only for types that run script: Chrome refuses to show
            // a PDF in a sandbox.
            response = response.header("Content-Security-Policy", UPLOADED_PAGE_POLICY);
        }
        response
    }

    /// Step 4's 304, with the length a 200 would have had where it is known (RFC 9110 §8.6).
    fn not_modified(&self) -> Response {
        let mut response = self.response(StatusCode::NOT_MODIFIED);
        if self.coding != Coding::GzipOnTheFly {
            response.length_of_200 = Some(self.len);
        }
        response
    }

    /// Step 5's 206 for bytes `start..=end`.
    fn partial(&self, start: u64, end: u64) -> Response {
        self.response(StatusCode::PARTIAL_CONTENT)
            .header("Content-Range", format!("bytes {start}-{end}/{}", self.len))
    }

    /// Step 7 for gzip on the fly: the whole file, compressed as it is sent.
    fn gzipped_while_sent(self) -> Response {
        let mut response = self.response(StatusCode::OK);
        response.body = Body::Stream {
            len: None,
            source: Box::new(GzipFile {
                file: self.file,
                len: self.len,
                _slot: self.gzip_slot,
            }),
        };
        response
    }
}

/// Step 5's 416.
fn unsatisfiable(len: u64) -> Response {
    Response::error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable")
        .header("Content-Range", format!("bytes */{len}"))
}

/// Step 7: `len` bytes of the file from `start`, sent by `sendfile` where the stream allows.
fn with_file(mut response: Response, file: File, start: u64, len: u64) -> Response {
    response.body = Body::File { file, start, len };
    response
}

/// A file gzipped while it is sent.
struct GzipFile {
    file: File,
    /// The length the file had when opened: a file that grows is cut there, one that
    /// shrinks ends the response early (the chunked body then lacks its last chunk).
    len: u64,
    /// Held until the body is sent (or dropped unsent).
    _slot: Option<Slot<'static>>,
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
