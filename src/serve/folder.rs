//! A folder as one download: `GET /files/dir/?download=zip|tar` (issue #17), the whole folder
//! or a selection of its entries (`&name=a&name=b`), written by `archive` while the walk goes,
//! so nothing is staged on disk or in memory.
//!
//! The archive holds what the listing shows: dot files (and so in-flight uploads) and names a
//! listing leaves out are left out, and the walk (`files::at`) never follows a symlink out of
//! the served directory. A symlink to a file inside it goes in as that file; a symlink to a
//! folder is left out, so a loop cannot make the archive endless. Each file is opened once and
//! sent from that descriptor with the length it had then, so an upload that replaces it
//! meanwhile (a rename) leaves the old version whole in the archive. A failure once the head
//! is sent (a file that shrank or cannot be read, a folder that cannot be opened) ends the
//! response without its last chunk: the client sees a cut download, never an archive that
//! looks whole and is not.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::DotFiles;
use crate::files::at::{self, FsError, Kind, Visit, Visited, WalkEnd, WalkLimits};
use crate::files::{FileError, FileName, FileRoot, listed};
use crate::http::date;
use crate::http::request::Version;
use crate::http::response::{Body, BodyStream, Response, Sink, StatusCode};
use crate::serve::archive::{ArchiveError, ArchiveKind, ArchiveWriter, Entry, disposition};
use crate::serve::listing::encode_segment;
use crate::serve::query::Download;

/// How deep the walk goes: each level holds a descriptor while the walk is inside it.
const MAX_DEPTH: usize = 128;

/// The answer to `?download=`: checks the folder and the selection, then a head that promises
/// an archive whose body is written as it is sent. `HEAD` walks nothing.
pub fn download(
    root: &FileRoot,
    folder: &FileName,
    request: Download,
    version: Version,
) -> Result<Response, FileError> {
    if version != Version::Http11 {
        // the length is known only at the end, and only HTTP/1.1 reads the chunked coding
        return Ok(Response::error(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "folder downloads need HTTP/1.1",
        ));
    }
    let at_root = root.current().map_err(FileError::from)?;
    let dir = at_root
        .open_dir(&folder.relative)
        .map_err(FileError::from)?;
    let mut tops = Vec::with_capacity(request.names.len());
    for name in &request.names {
        let name = selected(root, name)?;
        let kind = dir.lstat(&name).map_err(FileError::from)?.kind;
        tops.push((name, kind));
    }
    let archive_name = folder
        .relative
        .file_name()
        .or_else(|| at_root.path().file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("files")
        .to_owned()
        + request.kind.extension();
    let mut response = Response::new(StatusCode::OK)
        .header("Content-Type", request.kind.content_type())
        .header(
            "Content-Disposition",
            disposition::attachment(&archive_name),
        )
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff");
    response.body = Body::Stream {
        len: None,
        source: Box::new(FolderArchive {
            root: at_root,
            dot_files: root.dot_files(),
            folder: folder.relative.clone(),
            tops,
            kind: request.kind,
        }),
    };
    Ok(response)
}

/// One entry of a selection, judged by the name rules of a URL segment: a single listed name.
fn selected(root: &FileRoot, name: &str) -> Result<OsString, FileError> {
    let checked = root.resolve(&encode_segment(name).to_string())?;
    let mut segments = checked.relative.iter();
    match (segments.next(), segments.next()) {
        (Some(one), None) if !checked.ends_in_slash && root.lists(one).is_some() => {
            Ok(one.to_owned())
        }
        (Some(_), None) => Err(FileError::NotFound),
        _ => Err(FileError::BadName),
    }
}

/// The archive's body: the walk, run while the response is sent.
struct FolderArchive {
    root: at::Root,
    dot_files: DotFiles,
    folder: PathBuf,
    /// The selection, with what each entry is; empty for the whole folder.
    tops: Vec<(OsString, Kind)>,
    kind: ArchiveKind,
}

impl BodyStream for FolderArchive {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.write_to_sink(&mut Copying(out))
    }

    fn write_to_sink(&mut self, out: &mut dyn Sink) -> io::Result<()> {
        let mut writer = Writer {
            archive: ArchiveWriter::new(self.kind),
            out,
            root: &self.root,
            dot_files: self.dot_files,
            folder: &self.folder,
        };
        if self.tops.is_empty() {
            writer.tree(Path::new(""))?;
        } else {
            let dir = self.root.open_dir(&self.folder).map_err(io::Error::other)?;
            for (name, kind) in &self.tops {
                writer.entry(&dir, name, Path::new(name), *kind)?;
            }
        }
        let Writer { archive, out, .. } = writer;
        archive.finish(out).map(drop).map_err(io_error)
    }
}

/// A plain writer as a sink: files are copied through it.
struct Copying<'a>(&'a mut dyn Write);

impl Write for Copying<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Sink for Copying<'_> {}

struct Writer<'a, 'o> {
    archive: ArchiveWriter,
    out: &'o mut dyn Sink,
    root: &'a at::Root,
    dot_files: DotFiles,
    folder: &'a Path,
}

impl Writer<'_, '_> {
    /// One listed entry of `dir`, at `rel` (relative to the folder); a folder with all below it.
    fn entry(&mut self, dir: &at::Dir, name: &OsStr, rel: &Path, kind: Kind) -> io::Result<()> {
        let Some(path) = rel.to_str() else {
            return Ok(());
        };
        match kind {
            Kind::Dir => {
                let meta = match dir.lstat(name) {
                    Ok(meta) => meta,
                    Err(FsError::NotFound) => return Ok(()),
                    Err(e) => return Err(io::Error::other(e)),
                };
                self.directory(path, &meta)?;
                self.tree(rel)
            }
            Kind::File => match dir.open_file(name) {
                Ok(file) => self.file(path, &file),
                // gone since the folder was read: the archive shows the folder as it is now
                Err(FsError::NotFound) => Ok(()),
                Err(e) => Err(io::Error::other(e)),
            },
            Kind::Symlink => match self.root.open_file(&self.folder.join(rel)) {
                Ok((file, _)) => self.file(path, &file),
                // outside the root, a folder, dangling: what a listing would not let you fetch
                Err(_) => Ok(()),
            },
            Kind::Other => Ok(()),
        }
    }

    /// Everything below the folder's `rel`, parents before children.
    fn tree(&mut self, rel: &Path) -> io::Result<()> {
        let limits = WalkLimits {
            max_depth: MAX_DEPTH,
            max_entries: u64::MAX,
        };
        let start = self.folder.join(rel);
        let root = self.root.clone();
        let mut failure = None;
        let end = root.walk(&start, limits, &mut |visited: &Visited<'_>| {
            if listed(visited.name, self.dot_files).is_none() {
                return Visit::Skip;
            }
            let rel = rel.join(visited.rel);
            let step = match visited.kind {
                // entered by the walk itself, right after this
                Kind::Dir => match visited.dir.lstat(visited.name) {
                    Ok(meta) => rel.to_str().map_or(Ok(()), |p| self.directory(p, &meta)),
                    Err(FsError::NotFound) => return Visit::Skip,
                    Err(e) => Err(io::Error::other(e)),
                },
                kind => self.entry(visited.dir, visited.name, &rel, kind),
            };
            match step {
                Ok(()) => Visit::Continue,
                Err(e) => {
                    failure = Some(e);
                    Visit::Stop
                }
            }
        });
        match (failure, end) {
            (Some(e), _) => Err(e),
            (None, Ok(WalkEnd::Complete)) => Ok(()),
            (None, Ok(end)) => Err(io::Error::other(format!("archive walk ended: {end:?}"))),
            (None, Err(e)) => Err(io::Error::other(e)),
        }
    }

    fn directory(&mut self, path: &str, meta: &at::Meta) -> io::Result<()> {
        let entry = Entry {
            path,
            mtime: date::unix_seconds(meta.modified) as i64,
            mode: meta.mode,
        };
        skip_bad_path(self.archive.add_directory(self.out, &entry))
    }

    fn file(&mut self, path: &str, file: &File) -> io::Result<()> {
        // the length and time of the open file: what is recorded is what is sent
        let meta = file.metadata()?;
        let entry = Entry::of(path, &meta);
        skip_bad_path(self.archive.add_file(self.out, &entry, file, meta.len()))
    }
}

/// A name the format cannot carry is left out (nothing was written); anything else ends it.
fn skip_bad_path(result: Result<(), ArchiveError>) -> io::Result<()> {
    match result {
        Ok(()) | Err(ArchiveError::BadPath) => Ok(()),
        Err(e) => Err(io_error(e)),
    }
}

fn io_error(e: ArchiveError) -> io::Error {
    match e {
        ArchiveError::Io(e) => e,
        other => io::Error::other(other),
    }
}
