//! `FileError`: why a file operation was refused, as the disk sees it. Which status each one
//! becomes is `serve::errors`'s decision.

use std::fmt;
use std::io;

use rustix::io::Errno;

use super::at::FsError;

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
    /// `ENOSPC` or `EDQUOT`: the disk or the quota is full.
    NoSpace,
    /// `EMFILE` or `ENFILE`: no descriptor to be had, for now.
    NoDescriptors,
    /// Nothing is at the served directory's path (removed, not yet recreated).
    NoRoot,
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
            FileError::NoSpace => f.write_str("no space left on the server's disk"),
            FileError::NoDescriptors => f.write_str("the server is out of file descriptors"),
            FileError::NoRoot => f.write_str("the served directory is missing"),
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
        match e.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::NOSPC | Errno::DQUOT) => return FileError::NoSpace,
            Some(Errno::MFILE | Errno::NFILE) => return FileError::NoDescriptors,
            _ => {}
        }
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileError::NotFound,
            io::ErrorKind::PermissionDenied => FileError::PermissionDenied,
            io::ErrorKind::IsADirectory => FileError::IsDirectory,
            io::ErrorKind::InvalidFilename => FileError::BadName,
            _ => FileError::Io(e),
        }
    }
}

impl From<FsError> for FileError {
    /// What a descriptor-relative operation's failure means for a `/files/` request. A loop of
    /// symlinks leads nowhere (not found); a read-only file system refuses like a permission.
    fn from(e: FsError) -> Self {
        match e {
            FsError::InvalidName | FsError::NameTooLong => FileError::BadName,
            FsError::Outside => FileError::Outside,
            FsError::TooManyLinks | FsError::NotFound | FsError::NotADirectory => {
                FileError::NotFound
            }
            FsError::IsADirectory | FsError::NotEmpty => FileError::IsDirectory,
            FsError::NoSpace => FileError::NoSpace,
            FsError::NoDescriptors => FileError::NoDescriptors,
            FsError::PermissionDenied | FsError::ReadOnly => FileError::PermissionDenied,
            FsError::Io(e) => FileError::from(e),
            other => FileError::Io(io::Error::other(other)),
        }
    }
}
