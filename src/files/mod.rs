//! The disk under `--directory`, without HTTP: what `/files/` reads, lists and writes.
//!
//! - `name`: a URL segment, percent-decoded then validated, becomes a safe relative name.
//! - `root`: the served directory, canonicalised once; containment (a name never leads out of
//!   it, symlinks included), opening regular files, listing directories.
//! - `write`: uploads stored whole or not at all (temp file, fsync, rename), deletes, the
//!   commit lock that serialises them and the in-flight list a shutdown cleans up.
//! - `at`: descriptor-relative operations under one root descriptor (openat2 containment,
//!   temp files, renames, trees, xattrs), which the rest of `files/` is moving onto.
//! - `error`: `FileError`, why an operation was refused.
//!
//! No status codes live here: `serve::errors` is the one place where a `FileError` becomes a
//! response. HTTP semantics (ranges, validators, digests) belong to `serve` too.

pub mod at;
mod error;
mod name;
mod root;
mod write;

pub use error::FileError;
pub use name::{FileName, breaks_lines, percent_decode, resolve_name};
pub use root::{DirEntry, FileRoot};
pub use write::{TEMP_PREFIX, remove_unfinished_uploads};
