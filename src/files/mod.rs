//! The disk under `--directory`, without HTTP: what `/files/` reads, lists and writes.
//!
//! - `name`: a URL segment, percent-decoded then validated, becomes a safe relative name.
//! - `root`: the served directory (a root descriptor that follows a removed-and-recreated
//!   directory), the dot-file policy, opening regular files, listing directories.
//! - `listing`: a directory's entries read from its descriptor, sorted once and shared by
//!   every listing of the same directory state.
//! - `write`: uploads stored whole or not at all (temp file, fsync, rename), deletes, the
//!   commit lock that serialises them and the in-flight list a shutdown cleans up.
//! - `stale`: the start-up removal of temporaries that ended processes left behind.
//! - `at`: descriptor-relative operations under one root descriptor (openat2 containment,
//!   temp files, renames, trees, xattrs), which every operation above is made of: a name is
//!   resolved once and the act is relative to a descriptor, never to a path checked before.
//! - `error`: `FileError`, why an operation was refused.
//!
//! No status codes live here: `serve::errors` is the one place where a `FileError` becomes a
//! response. HTTP semantics (ranges, validators, digests) belong to `serve` too.

pub mod at;
mod error;
mod listing;
mod name;
mod root;
mod stale;
mod write;

pub use error::FileError;
#[cfg(test)]
pub use listing::sort;
pub use listing::{DirEntry, Order, SortBy, listed};
#[cfg(test)]
pub use name::resolve_name;
pub use name::{FileName, percent_decode};
pub use root::FileRoot;
pub use write::{Sha256Of, TEMP_PREFIX, remove_unfinished_uploads};
