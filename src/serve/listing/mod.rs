//! Directory listings as plain text (curl, scripts), JSON (programs) and HTML (people), chosen
//! by `Accept`; the query string's sort order; the listing's ETag and response. All escaping
//! lives in this folder: names are HTML-escaped by maud (`html.rs`, the page) and
//! percent-encoded in links by `encode_segment`, so a file called `<script>`, `a#b`, `100%` or
//! `café` displays and links right.
//!
//! A listing is rendered while it is sent, row by row through a small buffer: a directory of
//! 100,000 entries costs its sorted entries plus a few kilobytes, not a page-sized string. It
//! is rendered once beforehand into a byte counter, so that it still has a `Content-Length`
//! (HTTP/1.0 clients and HEAD see the truth, and nothing needs chunking).
//!
//! The HTML page (`html.rs`, with its CSS and script in `assets/`) works without JavaScript
//! (links, sorting by a query parameter). Its script only adds uploads (picker, drag and
//! drop, a progress bar per file) and deletes when the client may write.

mod html;

pub(crate) use html::shown_name;

use std::io::{self, Write};
use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::files::{DirEntry, Order, SortBy};
use crate::http::date;
use crate::http::response::{Body, BodyStream, Response, StatusCode};
use crate::http::syntax::{elements, weighted};

/// What a path segment keeps unencoded: RFC 3986 unreserved characters only. Encoding `:` too
/// keeps a relative link like `a:b` from reading as a URL scheme.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A name as one percent-encoded URL path segment.
pub fn encode_segment(name: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(name, SEGMENT)
}

/// `/files/` followed by the percent-encoded segments of `relative` (a checked name).
pub fn files_url(relative: &std::path::Path) -> String {
    let mut url = String::from("/files");
    for segment in relative.iter() {
        url.push('/');
        url.push_str(&encode_segment(&segment.to_string_lossy()).to_string());
    }
    url
}

/// The listing formats, picked by `negotiate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One name per line, directories with a trailing `/`: what the server always sent.
    Plain,
    Html,
    Json,
}

/// Picks the format from the `Accept` values (RFC 9110 §12.5.1). Only `text/html` and
/// `application/json` named explicitly (q > 0) choose them, the higher q winning and HTML
/// winning ties; anything else, `*/*` included (curl's default), keeps plain text.
pub fn negotiate<'a>(accept: impl Iterator<Item = &'a str>) -> Format {
    let mut html = 0u16;
    let mut json = 0u16;
    for range in elements(accept) {
        let (media, q) = weighted(range);
        let Some(q) = q else { continue };
        if media.eq_ignore_ascii_case("text/html") {
            html = html.max(q);
        } else if media.eq_ignore_ascii_case("application/json") {
            json = json.max(q);
        }
    }
    match (html, json) {
        (0, 0) => Format::Plain,
        (html, json) if html >= json => Format::Html,
        _ => Format::Json,
    }
}

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Name,
    Size,
    Modified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// The listing's query string: `sort=name|size|date` and `order=asc|desc`. Anything else,
/// unknown keys and values included, is ignored: a bookmark with a stale parameter still lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    pub sort: SortKey,
    pub order: SortOrder,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            sort: SortKey::Name,
            order: SortOrder::Ascending,
        }
    }
}

/// Parses the query string (without the `?`).
pub fn parse_query(query: &str) -> Query {
    let mut parsed = Query::default();
    for pair in query.split('&') {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("sort", "name") => parsed.sort = SortKey::Name,
            ("sort", "size") => parsed.sort = SortKey::Size,
            ("sort", "date") => parsed.sort = SortKey::Modified,
            ("order", "asc") => parsed.order = SortOrder::Ascending,
            ("order", "desc") => parsed.order = SortOrder::Descending,
            _ => {}
        }
    }
    parsed
}

impl Query {
    fn as_str(self) -> String {
        let sort = match self.sort {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Modified => "date",
        };
        let order = match self.order {
            SortOrder::Ascending => "asc",
            SortOrder::Descending => "desc",
        };
        format!("?sort={sort}&order={order}")
    }
}

/// The order a listing in `format` sorted by `query` shows its entries in: the plain listing
/// by the name as printed, as it always was; the others by the query's column, directories
/// first.
pub fn order(format: Format, query: Query) -> Order {
    if format == Format::Plain {
        return Order {
            by: SortBy::Printed,
            descending: false,
            dirs_first: false,
        };
    }
    Order {
        by: match query.sort {
            SortKey::Name => SortBy::Name,
            SortKey::Size => SortBy::Size,
            SortKey::Modified => SortBy::Modified,
        },
        descending: query.order == SortOrder::Descending,
        dirs_first: true,
    }
}

/// A directory listing ready to be sent.
pub struct Listing {
    /// The listed directory's segments below the root (decoded names).
    pub path: Vec<String>,
    /// Sorted by `order(format, query)`, and shared with every other listing of the same
    /// directory state in that order (`files::FileRoot::list`).
    pub entries: Arc<[DirEntry]>,
    pub format: Format,
    pub query: Query,
    /// Whether the page offers uploads and deletes; reading needs nothing.
    pub may_write: bool,
}

impl Listing {
    /// A weak `ETag` for the page this listing renders to, from what the page is made of (the
    /// entries' names, kinds, sizes and times, the format, order and write controls, the page's
    /// assets) rather than from its bytes: a revalidation that ends in 304 renders nothing.
    pub fn etag(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hash = std::hash::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hash);
        (self.format, self.query, self.may_write, &self.path).hash(&mut hash);
        if self.format == Format::Html {
            html::page_policy().hash(&mut hash);
        }
        for entry in self.entries.iter() {
            (&entry.name, entry.is_dir, entry.size, entry.modified).hash(&mut hash);
        }
        // weak: a 64-bit hash is no promise of byte-for-byte identity
        format!("W/\"{:x}-{:x}\"", self.entries.len(), hash.finish())
    }

    /// Builds the response: `ETag`,
    /// `Vary: Accept`, `Cache-Control: no-cache`, and for HTML the CSP. A page of up to
    /// `BUFFERED_LISTING_BYTES` is rendered into memory and sent with its length; a larger one
    /// is rendered as it is sent, chunked when `chunked` (HTTP/1.1), else after a first pass
    /// that counts its bytes. Either way memory per connection stays bounded, however large
    /// the directory.
    pub fn into_response(self, etag: String, chunked: bool) -> Response {
        let content_type = match self.format {
            // exactly what the plain listing always carried
            Format::Plain => "text/plain",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        };
        let format = self.format;
        let mut small = Vec::new();
        let body = match self.write_body(&mut Capped(&mut small)) {
            Ok(()) => Body::Bytes(small),
            Err(_) if chunked => Body::Stream {
                len: None,
                source: Box::new(self),
            },
            Err(_) => {
                let mut counter = Counter(0);
                self.write_body(&mut counter)
                    .expect("counting bytes cannot fail");
                Body::Stream {
                    len: Some(counter.0),
                    source: Box::new(self),
                }
            }
        };
        let mut response = Response::new(StatusCode::OK)
            .header("Content-Type", content_type)
            .header("Vary", "Accept")
            .header("Cache-Control", "no-cache")
            .header("ETag", etag)
            .header("X-Content-Type-Options", "nosniff");
        if format == Format::Html {
            response = response
                .header("Content-Security-Policy", html::page_policy())
                .header("Referrer-Policy", "no-referrer");
        }
        response.body = body;
        response
    }

    /// Sorts the entries as a listing of the disk would have them (for tests that build one).
    #[cfg(test)]
    fn sort(&mut self) {
        let mut entries = self.entries.to_vec();
        crate::files::sort(&mut entries, order(self.format, self.query));
        self.entries = entries.into();
    }

    fn write_body(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Plain => {
                for entry in self.entries.iter() {
                    out.write_all(entry.name.as_bytes())?;
                    out.write_all(if entry.is_dir { b"/\n" } else { b"\n" })?;
                }
                Ok(())
            }
            Format::Json => self.write_json(out),
            Format::Html => self.write_html(out),
        }
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        #[derive(serde::Serialize)]
        struct JsonEntry<'a> {
            name: &'a str,
            kind: &'static str,
            size: u64,
            modified: &'a str,
        }
        out.write_all(b"[")?;
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(b"\n")?;
            let modified = date::rfc3339(entry.modified);
            let json = JsonEntry {
                name: &entry.name,
                kind: if entry.is_dir { "directory" } else { "file" },
                size: entry.size,
                modified: std::str::from_utf8(&modified).expect("RFC 3339 is ASCII"),
            };
            serde_json::to_writer(&mut *out, &json)?;
        }
        out.write_all(b"\n]\n")
    }
}

impl BodyStream for Listing {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.write_body(out)
    }
}

/// The largest listing page rendered into memory and sent in one piece: a directory of a few
/// hundred entries.
const BUFFERED_LISTING_BYTES: usize = 64 * 1024;

/// Keeps what a listing renders to, and fails once it would pass `BUFFERED_LISTING_BYTES`.
struct Capped<'a>(&'a mut Vec<u8>);

impl Write for Capped<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.0.len() + data.len() > BUFFERED_LISTING_BYTES {
            return Err(io::Error::other("listing larger than the buffer"));
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts what a listing renders to: the `Content-Length` of a large page for HTTP/1.0.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let cases: &[(&[&str], Format)] = &[
            (&[], Format::Plain),
            (&["*/*"], Format::Plain),
            (&["text/*"], Format::Plain),
            (&["text/plain"], Format::Plain),
            (&["text/html"], Format::Html),
            (&["TEXT/HTML"], Format::Html),
            (&["text/html,application/xhtml+xml,*/*;q=0.8"], Format::Html),
            (&["application/json"], Format::Json),
            (&["text/html;q=0.5", "application/json"], Format::Json),
            (&["application/json;q=0.5, text/html;q=0.5"], Format::Html),
            (&["text/html;q=0"], Format::Plain),
            (&["text/html;q=0.001"], Format::Html),
            (&["text/html;q=1.001"], Format::Plain),
            (&["text/html;q=x, application/json"], Format::Json),
            (
                &["text/html ; Q=0.9 , application/json;q=0.8"],
                Format::Html,
            ),
            (&["text/html;level=1;q=0"], Format::Plain),
            (&[";;;,,,=q=;"], Format::Plain),
        ];
        for (values, want) in cases {
            assert_eq!(negotiate(values.iter().copied()), *want, "{values:?}");
        }
    }

    #[test]
    fn query() {
        let q = |sort, order| Query { sort, order };
        let cases = [
            ("", Query::default()),
            ("sort=size", q(SortKey::Size, SortOrder::Ascending)),
            (
                "sort=date&order=desc",
                q(SortKey::Modified, SortOrder::Descending),
            ),
            (
                "order=desc&sort=name",
                q(SortKey::Name, SortOrder::Descending),
            ),
            ("sort=SIZE&order=up&x=1&&=", Query::default()),
            (
                "sort=size&sort=name",
                q(SortKey::Name, SortOrder::Ascending),
            ),
            ("sort%3Dsize", Query::default()),
        ];
        for (input, want) in cases {
            assert_eq!(parse_query(input), want, "{input}");
            assert_eq!(parse_query(&want.as_str()[1..]), want, "round trip");
        }
    }
}
