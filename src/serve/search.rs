//! `GET /files/dir/?q=text`: the names below `dir` that contain `text`, case-insensitively
//! (Unicode lower case on both sides), answered like a listing (HTML, JSON or plain text, by
//! `Accept`) and written while the walk goes. Bounded: at most `max_results` hits and
//! `time_limit` of walking, after which the answer says it stopped early. The walk
//! (`files::at`) never enters a symlink and the listing's hidden names are skipped (a hidden
//! folder is not entered), so a search finds exactly what browsing can reach; a symlink is a
//! hit only when it leads to something inside the served directory.
//!
//! How the end is told: JSON is an object, `{"results": [...], "complete": bool}`; plain text
//! is one path a line, and an early stop adds an empty line (no path is empty) and a note;
//! the page ends with a note.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use maud::{DOCTYPE, html};

use crate::config::DotFiles;
use crate::files::at::{self, Kind, Visit, Visited, WalkEnd, WalkLimits};
use crate::files::{FileError, FileName, FileRoot, listed};
use crate::http::date;
use crate::http::request::Version;
use crate::http::response::{Body, BodyStream, Response, StatusCode};

use crate::serve::listing::{Format, encode_segment, shown_name};

/// Levels below the folder a search goes.
const MAX_DEPTH: usize = 64;

/// The bounds of one search.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    pub max_results: usize,
    pub time_limit: Duration,
}

/// The answer to `?q=`: 404 unless the folder is one, then the hits as they are found.
pub fn search(
    root: &FileRoot,
    folder: &FileName,
    text: &str,
    format: Format,
    limits: SearchLimits,
    version: Version,
) -> Result<Response, FileError> {
    let at_root = root.current().map_err(|_| FileError::NotFound)?;
    at_root
        .open_dir(&folder.relative)
        .map_err(|_| FileError::NotFound)?;
    let mut search = Search {
        root: at_root,
        dot_files: root.dot_files(),
        folder: folder.relative.clone(),
        needle: text.to_lowercase(),
        text: text.to_owned(),
        format,
        limits,
    };
    let content_type = match format {
        Format::Plain => "text/plain; charset=utf-8",
        Format::Html => "text/html; charset=utf-8",
        Format::Json => "application/json",
    };
    let mut response = Response::new(StatusCode::OK)
        .header("Content-Type", content_type)
        .header("Vary", "Accept")
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff");
    if format == Format::Html {
        response = response
            .header(
                "Content-Security-Policy",
                "default-src 'none'; form-action 'self'",
            )
            .header("Referrer-Policy", "no-referrer");
    }
    response.body = if version == Version::Http11 {
        Body::Stream {
            len: None,
            source: Box::new(search),
        }
    } else {
        // HTTP/1.0 has no chunked coding: the bounded result goes out with its length
        let mut bytes = Vec::new();
        search.write_to(&mut bytes).map_err(FileError::Io)?;
        Body::Bytes(bytes)
    };
    Ok(response)
}

struct Search {
    root: at::Root,
    dot_files: DotFiles,
    folder: PathBuf,
    /// `text` in lower case.
    needle: String,
    text: String,
    format: Format,
    limits: SearchLimits,
}

/// One hit: where it is below the folder and what the listing would say of it.
struct Hit<'a> {
    rel: &'a str,
    name: &'a str,
    is_dir: bool,
    size: u64,
    modified: SystemTime,
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Complete,
    TooMany,
    OutOfTime,
    /// Too deep, or a folder that could not be read: some places were not searched.
    Partial,
}

impl BodyStream for Search {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.open(out)?;
        let deadline = Instant::now() + self.limits.time_limit;
        let limits = WalkLimits {
            max_depth: MAX_DEPTH,
            max_entries: u64::MAX,
        };
        let (mut found, mut failure, mut end) = (0, None, End::Complete);
        let walked = self
            .root
            .walk(&self.folder, limits, &mut |v: &Visited<'_>| {
                let Some(name) = listed(v.name, self.dot_files) else {
                    return Visit::Skip;
                };
                if Instant::now() > deadline {
                    end = End::OutOfTime;
                    return Visit::Stop;
                }
                if !name.to_lowercase().contains(&self.needle) {
                    return Visit::Continue;
                }
                let Some(hit) = self.hit(v, name) else {
                    return Visit::Continue;
                };
                if found == self.limits.max_results {
                    end = End::TooMany;
                    return Visit::Stop;
                }
                if let Err(e) = self.write_hit(out, found, &hit) {
                    failure = Some(e);
                    return Visit::Stop;
                }
                found += 1;
                Visit::Continue
            });
        if let Some(e) = failure {
            return Err(e);
        }
        if end == End::Complete && !matches!(walked, Ok(WalkEnd::Complete)) {
            end = End::Partial;
        }
        self.close(out, found, end)
    }
}

impl Search {
    /// What the listing would show for a visited entry; `None` for a symlink that leads
    /// outside, nowhere, or to something that is neither file nor folder.
    fn hit<'a>(&self, v: &'a Visited<'_>, name: &'a str) -> Option<Hit<'a>> {
        let meta = match v.kind {
            Kind::Symlink => self.root.stat(&self.folder.join(v.rel)).ok()?,
            Kind::Other => return None,
            // gone since the folder was read, or not ours to look at: not a hit
            _ => v.dir.lstat(v.name).ok()?,
        };
        if !matches!(meta.kind, Kind::File | Kind::Dir) {
            return None;
        }
        Some(Hit {
            rel: v.rel.to_str()?,
            name,
            is_dir: meta.kind == Kind::Dir,
            size: meta.len,
            modified: meta.modified,
        })
    }

    fn open(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Plain => Ok(()),
            Format::Json => out.write_all(b"{\"results\": ["),
            Format::Html => {
                let folder = self.folder_url();
                let page = html! {
                    (DOCTYPE)
                    html lang="en" {
                        head {
                            meta charset="utf-8";
                            meta name="viewport" content="width=device-width, initial-scale=1";
                            title { "Search for “" (self.text) "” in " (folder) }
                        }
                    }
                };
                let mut page = page.into_string();
                // the body stays open: hits are written into it as they are found
                page.truncate(page.len() - "</html>".len());
                out.write_all(page.as_bytes())?;
                let intro = html! {
                    h1 { "Names containing “" (self.text) "” below " a href=(folder) { (folder) } }
                    form method="get" action=(folder) role="search" {
                        label { "Search " input type="search" name="q" value=(self.text); }
                        " " button { "Search" }
                    }
                };
                write!(out, "<body>{}<ul>", intro.into_string())
            }
        }
    }

    fn write_hit(&self, out: &mut dyn Write, index: usize, hit: &Hit<'_>) -> io::Result<()> {
        let slash = if hit.is_dir { "/" } else { "" };
        match self.format {
            Format::Plain => writeln!(out, "{}{slash}", hit.rel),
            Format::Json => {
                #[derive(serde::Serialize)]
                struct JsonHit<'a> {
                    path: &'a str,
                    name: &'a str,
                    kind: &'static str,
                    size: u64,
                    modified: &'a str,
                }
                let modified = date::rfc3339(hit.modified);
                let json = JsonHit {
                    path: hit.rel,
                    name: hit.name,
                    kind: if hit.is_dir { "directory" } else { "file" },
                    size: hit.size,
                    modified: std::str::from_utf8(&modified).expect("RFC 3339 is ASCII"),
                };
                out.write_all(if index == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, &json).map_err(io::Error::from)
            }
            Format::Html => {
                let mut url = self.folder_url();
                for segment in hit.rel.split('/') {
                    url.push_str(&encode_segment(segment).to_string());
                    url.push('/');
                }
                if !hit.is_dir {
                    url.pop();
                }
                // each segment isolated as the listing shows names, so none can spoof another
                let segments: Vec<&str> = hit.rel.split('/').collect();
                let last = segments.len() - 1;
                let row = html! {
                    li { a href=(url) {
                        @for (i, segment) in segments.iter().enumerate() {
                            @if i > 0 { "/" }
                            (shown_name(segment, !hit.is_dir && i == last))
                        }
                        (slash)
                    } }
                };
                out.write_all(row.into_string().as_bytes())
            }
        }
    }

    fn close(&self, out: &mut dyn Write, found: usize, end: End) -> io::Result<()> {
        let note = match end {
            End::Complete => None,
            End::TooMany => Some(format!(
                "stopped after {} results: search a narrower folder or text",
                self.limits.max_results
            )),
            End::OutOfTime => Some(format!(
                "stopped after {} s: search a narrower folder",
                self.limits.time_limit.as_secs()
            )),
            End::Partial => Some("some folders could not be searched".to_owned()),
        };
        match self.format {
            Format::Plain => match note {
                Some(note) => writeln!(out, "\n{note}"),
                None => Ok(()),
            },
            Format::Json => {
                let tail = serde_json::json!({ "complete": note.is_none(), "note": note });
                let tail = tail.to_string();
                // `{"complete":…,"note":…}` joins the object opened by `open`
                write!(out, "\n], {}\n", &tail[1..])
            }
            Format::Html => {
                let tail = html! {
                    @if found == 0 { p { "No names match." } }
                    @if let Some(note) = note { p role="status" { (note) } }
                };
                writeln!(out, "</ul>{}</body></html>", tail.into_string())
            }
        }
    }

    /// `/files/` and the folder's segments, each percent-encoded, ending in `/`.
    fn folder_url(&self) -> String {
        let mut url = String::from("/files/");
        for segment in self.folder.iter() {
            url.push_str(&encode_segment(&segment.to_string_lossy()).to_string());
            url.push('/');
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn folder_urls_are_encoded() {
        let search = |folder: &str| Search {
            root: at::Root::open(Path::new("/")).expect("/ opens"),
            dot_files: DotFiles::default(),
            folder: PathBuf::from(folder),
            needle: String::new(),
            text: String::new(),
            format: Format::Plain,
            limits: SearchLimits {
                max_results: 1,
                time_limit: Duration::from_secs(1),
            },
        };
        assert_eq!(search("").folder_url(), "/files/");
        assert_eq!(search("a b/#c").folder_url(), "/files/a%20b/%23c/");
    }
}
