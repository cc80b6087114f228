//! Changing the disk: uploads stored whole or not at all (a temporary beside the target,
//! fsync, rename, fsync of the directory), files written elsewhere under the root committed
//! by the same rename (resumable uploads' data), deletes, the commit lock that serialises the
//! last step of all of them, and the list of temporaries in flight that a shutdown removes.
//! Every change is made relative to the descriptor of the directory it happens in, resolved
//! once from the current root (`files::at`), so a symlink swapped in meanwhile cannot carry
//! it outside.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};

use super::at::{Dir, FsError, Kind, Replace, TempFile};
use super::error::FileError;
use super::name::FileName;
use super::root::FileRoot;
use crate::http::transfer::{Limit, copy_with};

/// The prefix of in-flight upload files. Names starting with it are reserved (`name.rs`
/// refuses them) and, being dot files, listings hide them. A temporary's own name is
/// `{TEMP_PREFIX}{pid}-{n}.tmp`; any other name under the prefix is state that must survive a
/// restart (resumable uploads keep theirs in `.upload-resumable/`), which the start-up
/// clean-up (`stale`) never enters.
pub const TEMP_PREFIX: &str = ".upload-";

/// A stored upload: how many bytes, and their SHA-256.
#[derive(Debug)]
pub struct Stored {
    pub len: u64,
    pub sha256: [u8; 32],
    /// A file was there and has been replaced.
    pub replaced: bool,
}

/// The digests `FileRoot::commit_file` goes by.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256Of {
    /// What the file's bytes must hash to (the client's digest), if anything.
    pub expected: Option<[u8; 32]>,
    /// What they do hash to, when the caller hashed them while writing them: then they are not
    /// read again.
    pub known: Option<[u8; 32]>,
}

/// Where an upload will land: the directory (open) and the name in it, found once before the
/// body is read, through a final symlink that stays inside the root.
#[derive(Debug)]
pub struct UploadTarget {
    dir: Arc<Dir>,
    name: OsString,
    /// The name under the root as the client gave it, for logs.
    pub relative: PathBuf,
}

impl UploadTarget {
    /// The regular file at the target now, if any: for the preconditions checked before the
    /// body is read.
    pub fn existing(&self) -> Option<fs::Metadata> {
        file_meta(&self.dir, &self.name)
    }
}

/// The metadata of the regular file `name` in `dir` (not followed), from a descriptor of it.
fn file_meta(dir: &Dir, name: &OsString) -> Option<fs::Metadata> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd: OwnedFd = rustix::fs::openat(dir, name, flags, Mode::empty()).ok()?;
    File::from(fd).metadata().ok().filter(fs::Metadata::is_file)
}

impl FileRoot {
    /// Where an upload to `name` will land, checked before any body byte is read: the parent
    /// exists inside the root and the target is not a directory. A symlink is written through
    /// (the file it names changes, the link stays), but only to a name inside the root.
    pub fn upload_target(&self, name: &FileName) -> Result<UploadTarget, FileError> {
        if name.ends_in_slash || name.relative.as_os_str().is_empty() {
            return Err(FileError::IsDirectory);
        }
        let leaf = self
            .root()?
            .leaf_through(&name.relative)
            .map_err(|e| match e {
                FsError::NotFound | FsError::NotADirectory => FileError::NoParent,
                e => e.into(),
            })?;
        match leaf.dir.lstat(&leaf.name) {
            Ok(meta) if meta.kind == Kind::Dir => return Err(FileError::IsDirectory),
            Ok(_) | Err(FsError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(UploadTarget {
            dir: Arc::new(leaf.dir),
            name: leaf.name,
            relative: name.relative.clone(),
        })
    }

    /// Stores `body` at `target` whole or not at all: a unique hidden temporary in the same
    /// directory is written, synced, checked against `expected_sha256`, then renamed over the
    /// target and the directory synced. On any error the temporary is removed and the old
    /// file, if any, is untouched.
    ///
    /// `still_wanted` sees the target as it is right before the rename (its metadata, or `None`
    /// when absent) and may refuse with `PreconditionFailed`: conditional uploads are checked
    /// again at the moment they land, not only before their body was read.
    pub fn store(
        &self,
        target: UploadTarget,
        body: &mut dyn Read,
        expected_sha256: Option<[u8; 32]>,
        still_wanted: &dyn Fn(Option<&fs::Metadata>) -> bool,
    ) -> Result<Stored, FileError> {
        let upload = Upload::create(&target.dir)?;
        let mut hasher = Sha256::new();
        let mut file = upload.temp.file();
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
        let Upload { mut temp, listed } = upload;
        temp.sync()?;
        let replaced;
        {
            // one check-and-rename at a time, so that two uploads with the same If-Match
            // cannot both pass before either lands
            let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
            let current = file_meta(&target.dir, &target.name);
            if !still_wanted(current.as_ref()) {
                return Err(FileError::PreconditionFailed);
            }
            temp.land(&target.dir, &target.name, Replace::Allow)?;
            replaced = current.is_some();
        }
        drop(listed);
        // the rename itself is durable only once the directory is synced
        target.dir.sync()?;
        Ok(Stored {
            len,
            sha256,
            replaced,
        })
    }

    /// Commits `data`, a file under the root (by its name there: the caller's hidden state,
    /// written and synced), to `target` by renaming it, rather than copying it as `store`
    /// would: its SHA-256 (`digests.known`, when the caller hashed the bytes as it wrote them,
    /// else read from the file once) is checked against `digests.expected`, then the file is
    /// synced and, under the commit lock once `still_wanted` agrees as in `store`, renamed over
    /// the target; both directories are synced. Its permission bits stay: made like `store`'s
    /// temporaries (0644 less the umask), they are what a plain upload gets. Across file
    /// systems (`EXDEV`) the bytes are copied by `store` instead. Whenever this fails, or
    /// copied, `data` is still there, for the caller to remove.
    pub fn commit_file(
        &self,
        target: UploadTarget,
        data: &Path,
        digests: Sha256Of,
        still_wanted: &dyn Fn(Option<&fs::Metadata>) -> bool,
    ) -> Result<Stored, FileError> {
        let source = self.root()?.leaf(data)?;
        let mut file = source.dir.open_file(&source.name)?;
        let (len, sha256) = match digests.known {
            Some(known) => (file.metadata()?.len(), known),
            None => {
                let mut hasher = Sha256::new();
                let len = copy_with(&mut file, Limit::AtMost(u64::MAX), &mut |piece| {
                    hasher.update(piece);
                    Ok(())
                })?;
                (len, hasher.finalize().into())
            }
        };
        if digests.expected.is_some_and(|want| want != sha256) {
            return Err(FileError::DigestMismatch);
        }
        file.sync_all()?;
        let renamed = {
            let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
            let current = file_meta(&target.dir, &target.name);
            if !still_wanted(current.as_ref()) {
                return Err(FileError::PreconditionFailed);
            }
            let to = (&*target.dir, target.name.as_os_str());
            match source.dir.rename(&source.name, to.0, to.1, Replace::Allow) {
                Ok(()) => Some(current.is_some()),
                Err(FsError::CrossDevice) => None,
                Err(e) => return Err(e.into()),
            }
        };
        let Some(replaced) = renamed else {
            // the hidden directory is on another file system than the target's
            file.seek(SeekFrom::Start(0))?;
            return self.store(target, &mut file, Some(sha256), still_wanted);
        };
        // the rename is durable once the directory it landed in is synced; the one it left,
        // so that a crash cannot bring the name back beside the committed file. The rename
        // stands whatever a sync says: failing now would tell the client to resume an upload
        // whose data is the target already
        for dir in [&target.dir, &source.dir] {
            if let Err(e) = dir.sync() {
                log::error!("committed upload: cannot sync its directory: {e}");
            }
        }
        Ok(Stored {
            len,
            sha256,
            replaced,
        })
    }

    /// Removes a file (or a symlink, never what it points to), relative to its directory's
    /// descriptor. The preconditions see what a download would: a symlink's target.
    pub fn delete(
        &self,
        name: &FileName,
        still_wanted: &dyn Fn(Option<&fs::Metadata>) -> bool,
    ) -> Result<(), FileError> {
        let root = self.root()?;
        let leaf = root.leaf(&name.relative)?;
        // under the upload lock: a conditional delete and a conditional upload must not both
        // pass their checks against the same version
        let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
        let current = match leaf.dir.lstat(&leaf.name)?.kind {
            Kind::Dir => return Err(FileError::IsDirectory),
            Kind::Symlink => root
                .open_file(&name.relative)
                .ok()
                .and_then(|(file, _)| file.metadata().ok()),
            _ => file_meta(&leaf.dir, &leaf.name),
        };
        if !still_wanted(current.as_ref()) {
            return Err(FileError::PreconditionFailed);
        }
        leaf.dir.remove_file(&leaf.name)?;
        Ok(())
    }
}

/// Serialises the last step of every upload and delete (see `FileRoot::store`).
static COMMIT: Mutex<()> = Mutex::new(());

/// A temporary of an upload in progress, by a number of its own.
type InFlight = Vec<(u64, Arc<Dir>, OsString)>;

/// Temporaries of uploads in progress, so that a shutdown that cannot wait for them can still
/// remove them; `None` once it has (no upload may start after that).
static IN_FLIGHT: Mutex<Option<InFlight>> = Mutex::new(Some(Vec::new()));

static NEXT_UPLOAD: AtomicU64 = AtomicU64::new(0);

/// Removes the temporaries of uploads still in progress and refuses new ones; for the end of a
/// shutdown, when their connections will not finish.
pub fn remove_unfinished_uploads() {
    let in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).take();
    for (_, dir, name) in in_flight.unwrap_or_default() {
        let _ = rustix::fs::unlinkat(&*dir, &name, AtFlags::empty());
    }
}

/// An upload in progress: the temporary (removed on drop unless it landed), listed in
/// `IN_FLIGHT` for as long as it exists.
struct Upload {
    // fields drop in order: the file is removed before it leaves the list
    temp: TempFile,
    listed: Listed,
}

/// An entry of `IN_FLIGHT`, taken off the list on drop.
struct Listed(u64);

impl Upload {
    fn create(dir: &Arc<Dir>) -> Result<Upload, FileError> {
        // created and listed under one lock, so that a shutdown's clean-up misses none
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let Some(in_flight) = in_flight.as_mut() else {
            return Err(FileError::Io(std::io::Error::other(
                "the server is shutting down",
            )));
        };
        let temp = TempFile::create_in(dir.clone(), TEMP_PREFIX)?;
        let id = NEXT_UPLOAD.fetch_add(1, Ordering::Relaxed);
        in_flight.push((id, dir.clone(), temp.name().to_owned()));
        Ok(Upload {
            temp,
            listed: Listed(id),
        })
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(in_flight) = in_flight.as_mut()
            && let Some(i) = in_flight.iter().position(|(id, ..)| *id == self.0)
        {
            in_flight.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DotFiles;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

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
        let root = FileRoot::new(dir, DotFiles::Serve).unwrap();
        let name = crate::files::resolve_name("a.txt").unwrap();
        let target = || root.upload_target(&name).unwrap();
        let always = |_: Option<&fs::Metadata>| true;
        let stored = root
            .store(target(), &mut &b"first"[..], None, &always)
            .unwrap();
        assert_eq!((stored.len, stored.replaced), (5, false));
        assert_eq!(stored.sha256, <[u8; 32]>::from(Sha256::digest(b"first")));

        let wrong = Some([0u8; 32]);
        let refused = root.store(target(), &mut &b"second"[..], wrong, &always);
        assert!(matches!(refused, Err(FileError::DigestMismatch)));
        let never = |_: Option<&fs::Metadata>| false;
        let refused = root.store(target(), &mut &b"third"[..], None, &never);
        assert!(matches!(refused, Err(FileError::PreconditionFailed)));
        // neither refusal left its temporary behind, nor on the in-flight list
        assert_eq!(names_in(dir), ["a.txt"]);
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"first");
        assert!(target().existing().is_some());

        let replaced = root
            .store(target(), &mut &b"fourth"[..], None, &always)
            .unwrap();
        assert!(replaced.replaced);
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"fourth");
        let mode = fs::metadata(dir.join("a.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
    }

    #[test]
    fn a_committed_file_is_renamed_and_a_refused_one_stays() {
        use std::os::unix::fs::MetadataExt;
        let temp = tempfile::tempdir().unwrap();
        let dir = &fs::canonicalize(temp.path()).unwrap();
        let root = FileRoot::new(dir, DotFiles::Serve).unwrap();
        fs::create_dir(dir.join(".hidden")).unwrap();
        let data = Path::new(".hidden/data");
        fs::write(dir.join(data), b"bytes").unwrap();
        let name = crate::files::resolve_name("a.txt").unwrap();
        let target = || root.upload_target(&name).unwrap();
        let (always, never) = (|_: Option<&fs::Metadata>| true, |_: Option<&_>| false);

        let sha = <[u8; 32]>::from(Sha256::digest(b"bytes"));
        let expecting = |expected, known| Sha256Of { expected, known };
        // a wrong digest is refused whether the bytes are read or were hashed by the caller
        for known in [None, Some(sha)] {
            let refused =
                root.commit_file(target(), data, expecting(Some([0; 32]), known), &always);
            assert!(matches!(refused, Err(FileError::DigestMismatch)));
        }
        let refused = root.commit_file(target(), data, Sha256Of::default(), &never);
        assert!(matches!(refused, Err(FileError::PreconditionFailed)));
        assert_eq!(names_in(dir), [".hidden"]);

        let inode = fs::metadata(dir.join(data)).unwrap().ino();
        let stored = root
            .commit_file(target(), data, expecting(Some(sha), None), &always)
            .unwrap();
        assert_eq!(
            (stored.len, stored.sha256, stored.replaced),
            (5, sha, false)
        );
        assert_eq!(fs::metadata(dir.join("a.txt")).unwrap().ino(), inode);
        assert!(names_in(&dir.join(".hidden")).is_empty());
    }
}
