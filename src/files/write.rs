//! Changing the disk: uploads stored whole or not at all (a temporary beside the target,
//! fsync, rename, fsync of the directory), deletes, the commit lock that serialises the last
//! step of both, and the list of temporaries in flight that a shutdown removes.
//!
//! Where a write may land (the containment checks) is `root.rs`'s; this file only writes
//! there.

use std::fs::{self, File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::error::FileError;
use super::name::FileName;
use super::root::FileRoot;
use crate::http::transfer::{Limit, copy_with};

/// The prefix of in-flight upload files. Names starting with it are reserved (`name.rs`
/// refuses them) and, being dot files, listings hide them.
pub const TEMP_PREFIX: &str = ".upload-";

/// A stored upload: how many bytes, and their SHA-256.
#[derive(Debug)]
pub struct Stored {
    pub len: u64,
    pub sha256: [u8; 32],
    /// A file was there and has been replaced.
    pub replaced: bool,
}

impl FileRoot {
    /// Stores `body` at `target` (from `upload_target`) whole or not at all: a unique hidden
    /// temporary in the same directory is written, synced, checked against `expected_sha256`,
    /// then renamed over the target and the directory synced. On any error the temporary is
    /// removed and the old file, if any, is untouched.
    ///
    /// `still_wanted` sees the target as it is right before the rename (its metadata, or `None`
    /// when absent) and may refuse with `PreconditionFailed`: conditional uploads are checked
    /// again at the moment they land, not only before their body was read.
    pub fn store(
        &self,
        target: &Path,
        body: &mut dyn Read,
        expected_sha256: Option<[u8; 32]>,
        still_wanted: &dyn Fn(Option<&fs::Metadata>) -> bool,
    ) -> Result<Stored, FileError> {
        let dir = target.parent().expect("upload targets have a parent");
        let temp = TempFile::create(dir)?;
        let mut hasher = Sha256::new();
        let mut file = temp.file.as_file();
        let mut to_file = |piece: &[u8]| {
            hasher.update(piece);
            file.write_all(piece)
        };
        // a body that cannot be read is the client's failure: keep its own error kind
        let len = copy_with(body, Limit::AtMost(u64::MAX), &mut to_file)?;
        let sha256: [u8; 32] = hasher.finalize().into();
        if expected_sha256.is_some_and(|want| want != sha256) {
            return Err(FileError::DigestMismatch);
        }
        temp.file.as_file().sync_all()?;
        let replaced;
        {
            // one check-and-rename at a time, so that two uploads with the same If-Match
            // cannot both pass before either lands
            let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
            let current = fs::metadata(target).ok().filter(fs::Metadata::is_file);
            if !still_wanted(current.as_ref()) {
                return Err(FileError::PreconditionFailed);
            }
            temp.persist(target)?;
            replaced = current.is_some();
        }
        // the rename itself is durable only once the directory is synced
        File::open(dir)?.sync_all()?;
        Ok(Stored {
            len,
            sha256,
            replaced,
        })
    }

    /// Removes a file (or a symlink, never what it points to).
    pub fn delete(
        &self,
        name: &FileName,
        still_wanted: &dyn Fn(Option<&fs::Metadata>) -> bool,
    ) -> Result<(), FileError> {
        let path = self
            .checked_parent(name)?
            .join(name.relative.file_name().ok_or(FileError::BadName)?);
        // under the upload lock: a conditional delete and a conditional upload must not both
        // pass their checks against the same version
        let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            return Err(FileError::IsDirectory);
        }
        let current = fs::metadata(&path).ok().filter(fs::Metadata::is_file);
        if !still_wanted(current.as_ref()) {
            return Err(FileError::PreconditionFailed);
        }
        fs::remove_file(&path)?;
        Ok(())
    }
}

/// Serialises the last step of every upload and delete (see `FileRoot::store`).
static COMMIT: Mutex<()> = Mutex::new(());

/// Temporaries of uploads in progress, so that a shutdown that cannot wait for them can still
/// remove them; `None` once it has (no upload may start after that).
static IN_FLIGHT: Mutex<Option<Vec<PathBuf>>> = Mutex::new(Some(Vec::new()));

/// Removes the temporaries of uploads still in progress and refuses new ones; for the end of a
/// shutdown, when their connections will not finish.
pub fn remove_unfinished_uploads() {
    let in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).take();
    for path in in_flight.unwrap_or_default() {
        let _ = fs::remove_file(path);
    }
}

/// An upload in progress: `tempfile` makes it (a fresh random name, created exclusively) and
/// removes it on drop unless persisted; `IN_FLIGHT` lists it for as long as it exists.
struct TempFile {
    // fields drop in order: the file is removed before its path leaves the list
    file: NamedTempFile,
    _listed: Listed,
}

/// A path in `IN_FLIGHT`, taken off the list on drop.
struct Listed(PathBuf);

impl TempFile {
    fn create(dir: &Path) -> io::Result<TempFile> {
        // created and listed under one lock, so that a shutdown's clean-up misses none
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let Some(in_flight) = in_flight.as_mut() else {
            return Err(io::Error::other("the server is shutting down"));
        };
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(".tmp")
            // what the stored file will be: readable by all, as the umask allows
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(dir)?;
        in_flight.push(file.path().to_owned());
        Ok(TempFile {
            _listed: Listed(file.path().to_owned()),
            file,
        })
    }

    /// Renames the temporary over `target`; on failure `tempfile` removes it.
    fn persist(self, target: &Path) -> io::Result<()> {
        let TempFile { file, _listed } = self;
        file.persist(target).map(drop).map_err(|e| e.error)
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(in_flight) = in_flight.as_mut()
            && let Some(i) = in_flight.iter().position(|p| *p == self.0)
        {
            in_flight.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_upload_lands_whole_or_leaves_nothing() {
        let temp = tempfile::tempdir().unwrap();
        let dir = &fs::canonicalize(temp.path()).unwrap();
        let root = FileRoot::new(dir).unwrap();
        let target = root
            .upload_target(&crate::files::resolve_name("a.txt").unwrap())
            .unwrap();
        let always = |_: Option<&fs::Metadata>| true;
        let stored = root
            .store(&target, &mut &b"first"[..], None, &always)
            .unwrap();
        assert_eq!((stored.len, stored.replaced), (5, false));
        assert_eq!(stored.sha256, <[u8; 32]>::from(Sha256::digest(b"first")));

        let wrong = Some([0u8; 32]);
        let refused = root.store(&target, &mut &b"second"[..], wrong, &always);
        assert!(matches!(refused, Err(FileError::DigestMismatch)));
        let never = |_: Option<&fs::Metadata>| false;
        let refused = root.store(&target, &mut &b"third"[..], None, &never);
        assert!(matches!(refused, Err(FileError::PreconditionFailed)));
        // neither refusal left its temporary behind, nor on the in-flight list
        assert_eq!(names_in(dir), ["a.txt"]);
        assert_eq!(fs::read(&target).unwrap(), b"first");
        let listed = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            !listed
                .unwrap_or_default()
                .iter()
                .any(|p| p.starts_with(dir)),
            "still listed"
        );

        let replaced = root
            .store(&target, &mut &b"fourth"[..], None, &always)
            .unwrap();
        assert!(replaced.replaced);
        assert_eq!(fs::read(&target).unwrap(), b"fourth");
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
    }
}
