//! `FileError`: why a file operation was refused, as the disk sees it. Which status each one
//! becomes is `serve::errors`'s decision.

use std::fmt;
use std::io;

/// Why a file operation was refused.
#[derive(Debug)]
pub enum FileError {
    /// The name is not a relative path of normal segments (after percent-decoding).
    BadName,
    /// A segment starts with the upload temporaries' prefix: such names belong to uploads in
    /// progress.
    Reserved,
    NotFound,
    /// The real path (symlinks resolved) is outside the root.
    Outside,
    PermissionDenied,
    /// The parent directory of an upload does not exist.
    NoParent,
    /// An upload or delete aimed at a directory.
    IsDirectory,
    /// The uploaded body does not match its `Content-Digest`.
    DigestMismatch,
    /// The target changed while the body was read, so `If-Match` (or the like) no longer holds.
    PreconditionFailed,
    Io(io::Error),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::BadName => f.write_str("invalid file name"),
            FileError::Reserved => f.write_str("name reserved for uploads in progress"),
            FileError::NotFound => f.write_str("file not found"),
            FileError::Outside => f.write_str("path leads outside the served directory"),
            FileError::PermissionDenied => f.write_str("permission denied"),
            FileError::NoParent => f.write_str("parent directory does not exist"),
            FileError::IsDirectory => f.write_str("is a directory"),
            FileError::DigestMismatch => f.write_str("body does not match Content-Digest"),
            FileError::PreconditionFailed => f.write_str("precondition failed"),
            FileError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileError::NotFound,
            io::ErrorKind::PermissionDenied => FileError::PermissionDenied,
            io::ErrorKind::IsADirectory => FileError::IsDirectory,
            io::ErrorKind::InvalidFilename => FileError::BadName,
            _ => FileError::Io(e),
        }
    }
}
