//! A folder as a streamed archive: the tar and zip formats, written as the walk goes, in
//! bounded memory. This layer knows bytes and formats only; which entries go in (the
//! listing's hidden rules, containment, in-flight uploads) and the HTTP response around the
//! archive belong to the caller.
//!
//! - `mod.rs`: the shared surface: `Entry` (what the archive says about a file or folder),
//!   `ArchiveKind`, `ArchiveWriter` (one type for both formats), `ArchiveError`, and the
//!   check that every path in an archive extracts inside its folder.
//! - `stage`: the staging buffer every byte passes through, and the archive's running offset.
//! - `tar`: ustar headers with PAX extended headers; file data goes out with `sendfile(2)`.
//! - `zip`: the zip writer (local headers, data descriptors, the central directory, stored
//!   or deflated); `zip_records` lays out its records byte by byte.
//! - `disposition`: `attachment`, the `Content-Disposition: attachment` value for the archive's name.
//!
//! # Use
//!
//! Make an `ArchiveWriter` for the kind asked for, then for each entry of the walk, parents
//! before children, call `add_directory` or `add_file` (with the file opened and its size
//! taken from that open file), and at the end `finish`. Every byte goes to a
//! `http::response::Sink`, whose `send_file` is the fast path for file data. An `Err` other
//! than `BadPath` leaves the archive broken: the caller ends the response there, and the
//! writer refuses to write the trailer, so a client never gets an archive that looks whole.
//!
//! # Why the headers are written here, not by the `tar` or `zip` crates
//!
//! Measured on this machine (2 cores shared with other work, page cache, 1 GiB in 64 files to
//! a reader thread on a loopback socket; medians of 5 runs, two sessions, 2026-12). The crate
//! rows come from a scratch program (`tar` 0.4.46, `zip` 9.9.0), the last two from `bench.rs`:
//!
//! | path | MB/s | × sendfile |
//! |---|---|---|
//! | `sendfile(2)` of the 64 files, no headers (what a `GET` of each does) | 1739, 2153 | 1 |
//! | `tar` crate, `Builder::append_file` | 1114, 1371 | 0.64 |
//! | `zip` crate, `ZipWriter::new_stream`, stored, `io::copy` | 1155, 1414 | 0.66 |
//! | read + CRC-32 (libdeflate) + write, 256 KiB pieces | 1525, 1818 | 0.84 to 0.88 |
//! | read + CRC-32 (crc32fast) + write, 256 KiB pieces | 1419 | 0.82 |
//! | CRC pass first, then `sendfile` (so the local header has the CRC) | 1205, 1533 | 0.69 to 0.71 |
//! | `TarWriter` (sendfile per file) | 1482, 2320 | 0.92 to 1.05 |
//! | `ZipWriter`, stored (one read/CRC/write pass) | 1724, 2182 | 0.99 to 1.07 |
//!
//! On loopback the reader's copy costs as much as the sender's, which is why the one-pass
//! loops come close to `sendfile`; the ratios above are within this machine's noise (runs of
//! one row spread by ±25 %), but the crates' deficit is not.
//!
//! The `tar` crate copies each file through an 8 KiB `io::copy` into a `dyn Write`, so it
//! can never use `sendfile`, and it writes GNU long-name entries, not PAX. The `zip` crate's
//! streaming writer is a read/CRC/write loop too, and brings many features we do not use.
//! Both formats are a few fixed records, so they are written here and the data path stays
//! ours: tar hands each file to `Sink::send_file` with its header as the head; zip reads each
//! file once into the staging buffer, updates the CRC there and writes the same bytes.
//! A CRC pass before sending (so that the local header could carry the CRC) was slower than
//! the one pass and, for a file larger than the page cache, would read the disk twice; so a
//! file larger than the staging buffer gets a data descriptor after its data, and a smaller
//! one is read into the buffer first and gets a complete local header at no cost (readers
//! that stream, such as Java's `ZipInputStream`, refuse a stored entry with a descriptor).
//! CRC-32 comes from libdeflate (already a dependency): 15.7 GB/s against crc32fast's 20.0
//! and zlib-rs's 2.3 (flate2's `Crc`), far above what a socket takes.
#![allow(dead_code)] // TODO(#17): wired by the router

pub mod disposition;
mod stage;
mod tar;
mod zip;
mod zip_records;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod testkit;

use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;

use crate::http::response::Sink;

pub use tar::TarWriter;
pub use zip::{ZipMethod, ZipWriter};

/// What an archive records about one file or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Where it extracts: `/`-separated segments relative to the archive's top, without a
    /// trailing `/` (the writer adds it to folders). `check_path` says which are refused.
    pub path: &'a str,
    /// Modification time in seconds since the Unix epoch (negative before 1970).
    pub mtime: i64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl<'a> Entry<'a> {
    /// The entry for `path` with the time and permissions of `meta` (take it from the open
    /// file, so that what is recorded is what is sent).
    pub fn of(path: &'a str, meta: &Metadata) -> Self {
        Entry {
            path,
            mtime: meta.mtime(),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// Which archive, as `?download=` asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    Zip(ZipMethod),
}

impl ArchiveKind {
    /// The media type of the response.
    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveKind::Tar => "application/x-tar",
            ArchiveKind::Zip(_) => "application/zip",
        }
    }

    /// The file name extension, with its dot, for `Content-Disposition`.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Tar => ".tar",
            ArchiveKind::Zip(_) => ".zip",
        }
    }
}

/// Either writer, so that the caller's walk is the same for both.
pub enum ArchiveWriter {
    Tar(TarWriter),
    Zip(ZipWriter),
}

impl ArchiveWriter {
    pub fn new(kind: ArchiveKind) -> Self {
        match kind {
            ArchiveKind::Tar => ArchiveWriter::Tar(TarWriter::new()),
            ArchiveKind::Zip(method) => ArchiveWriter::Zip(ZipWriter::new(method)),
        }
    }

    /// Adds a folder (so that empty ones survive). Nothing is written on `BadPath`.
    pub fn add_directory(&mut self, out: &mut dyn Sink, entry: &Entry) -> Result<(), ArchiveError> {
        match self {
            ArchiveWriter::Tar(w) => w.add_directory(out, entry),
            ArchiveWriter::Zip(w) => w.add_directory(out, entry),
        }
    }

    /// Adds exactly `size` bytes of `file` from its start; `size` is the open file's length.
    /// A file that turns out shorter is `Io(UnexpectedEof)`; bytes beyond `size` (it grew)
    /// are not read. Nothing is written on `BadPath`.
    pub fn add_file(
        &mut self,
        out: &mut dyn Sink,
        entry: &Entry,
        file: &File,
        size: u64,
    ) -> Result<(), ArchiveError> {
        match self {
            ArchiveWriter::Tar(w) => w.add_file(out, entry, file, size),
            ArchiveWriter::Zip(w) => w.add_file(out, entry, file, size),
        }
    }

    /// Writes the trailer (tar's end blocks; zip's central directory and end records) and
    /// flushes; returns the archive's length in bytes.
    pub fn finish(self, out: &mut dyn Sink) -> Result<u64, ArchiveError> {
        match self {
            ArchiveWriter::Tar(w) => w.finish(out),
            ArchiveWriter::Zip(w) => w.finish(out),
        }
    }
}

/// Why an entry or the archive could not be written.
#[derive(Debug)]
pub enum ArchiveError {
    /// Reading a file or writing to the sink failed, or a file shrank while it was read
    /// (`UnexpectedEof`). The archive is incomplete: end the response, do not go on.
    Io(io::Error),
    /// A path that would extract outside the folder, or that the format cannot carry (see
    /// `check_path`). Nothing was written: the caller may skip the entry and go on.
    BadPath,
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveError::Io(e) => write!(f, "archive cut short: {e}"),
            ArchiveError::BadPath => f.write_str("a path that an archive must not hold"),
        }
    }
}

impl std::error::Error for ArchiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArchiveError::Io(e) => Some(e),
            ArchiveError::BadPath => None,
        }
    }
}

impl From<io::Error> for ArchiveError {
    fn from(e: io::Error) -> Self {
        ArchiveError::Io(e)
    }
}

/// The longest path we write: zip's name field holds 65,535 bytes, and a PATH_MAX of 4096
/// leaves no real name near it.
const MAX_PATH_BYTES: usize = 16 * 1024;

/// Whether `path` may go in an archive: non-empty, relative, made of segments that are not
/// empty, `.` or `..`, with no NUL and no backslash (Windows tools split names at `\`, so
/// `..\x` would climb out: "zip slip"), and at most `MAX_PATH_BYTES` long.
pub fn check_path(path: &str) -> Result<(), ArchiveError> {
    let fine = !path.is_empty()
        && path.len() <= MAX_PATH_BYTES
        && !path.contains(['\0', '\\'])
        && path
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."));
    if fine {
        Ok(())
    } else {
        Err(ArchiveError::BadPath)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_would_leave_the_folder_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "./a",
            "a/./b",
            "..",
            "a/../../b",
            "a\\..\\b",
            "nul\0byte",
        ] {
            assert!(
                matches!(check_path(bad), Err(ArchiveError::BadPath)),
                "{bad:?} is refused"
            );
        }
        assert!(check_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
        for good in [
            "a",
            "dir/sub/file.txt",
            "..a/b..",
            "sp ace/#%\"<é>",
            "a...b",
        ] {
            assert!(check_path(good).is_ok(), "{good:?} is fine");
        }
    }

    #[test]
    fn kinds_name_their_type_and_extension() {
        assert_eq!(ArchiveKind::Tar.content_type(), "application/x-tar");
        assert_eq!(ArchiveKind::Tar.extension(), ".tar");
        let zip = ArchiveKind::Zip(ZipMethod::Stored);
        assert_eq!(zip.content_type(), "application/zip");
        assert_eq!(zip.extension(), ".zip");
    }
}
