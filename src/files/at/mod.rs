//! Descriptor-relative file operations under one root descriptor (issue #15): every name is
//! resolved once, from the root's descriptor, and every change is then made relative to the
//! descriptor of the directory it happens in (`renameat`, `unlinkat`, `mkdirat`, ...), so a
//! symlink swapped in between a check and an act cannot carry the act outside the root.
//!
//! The parts:
//! - this file: the root ([`Root`], and [`RootCell`], which follows a removed-and-recreated
//!   directory), directory handles ([`Dir`], [`Leaf`]), metadata ([`Meta`]) and [`FsError`];
//! - `resolve`: how a relative name becomes a descriptor without leaving the root;
//! - `write`: temp files committed by rename, rename/move, unlink, mkdir, copy of a file;
//! - `tree`: listing from a descriptor, the bounded walk, recursive remove;
//! - `copy`: the copy of a whole tree, built aside and renamed into place;
//! - `xattr`: extended attributes on a descriptor and free space (`fstatvfs`).
//!
//! Names given to [`Root`] are relative paths of normal segments (what `resolve_name` makes);
//! names given to [`Dir`] are single segments. HTTP knows nothing of this module and this
//! module knows no status codes: [`FsError`] says what happened and the caller maps it.

// TODO(#16): wired by the router; until then most of this is used by tests only.
#![allow(dead_code, unused_imports)]

mod copy;
mod resolve;
mod tree;
mod write;
mod xattr;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;

pub use tree::{
    CopyReport, Entries, Entry, Failure, RemoveReport, Visit, Visited, WalkEnd, WalkLimits,
};
pub use write::{CopyOptions, Replace, TempFile, temp_owner};
pub use xattr::{
    SetXattr, Space, copy_xattrs, may_have_xattrs, set_modified, space, xattr_get, xattr_list,
    xattr_remove, xattr_set,
};

/// What went wrong, in the terms a caller maps to an answer.
#[derive(Debug)]
pub enum FsError {
    /// A segment is empty, `.`, `..`, holds `/` or NUL: such names never reach the disk.
    InvalidName,
    /// Following the name (its symlinks included) would leave the root.
    Outside,
    /// More symlinks than the kernel's limit (40), or a loop.
    TooManyLinks,
    NotFound,
    NotADirectory,
    IsADirectory,
    AlreadyExists,
    /// `ENOTEMPTY`: a directory to remove or to rename over has entries.
    NotEmpty,
    /// `EXDEV`: a rename across file systems; the caller copies, then deletes.
    CrossDevice,
    /// `ENOSPC` or `EDQUOT`: the disk or the quota is full (RFC 4918 §11.5: 507).
    NoSpace,
    /// `ENOTSUP`: the file system does not do this (extended attributes, above all).
    Unsupported,
    /// `EACCES` or `EPERM`.
    PermissionDenied,
    /// `EROFS`.
    ReadOnly,
    /// `ENAMETOOLONG`.
    NameTooLong,
    /// `EMFILE` or `ENFILE`: out of descriptors, for now (issue #15: 503, not 500).
    NoDescriptors,
    /// `E2BIG` or `ERANGE`: an extended attribute value larger than the file system takes.
    TooLarge,
    /// A walk, remove or copy went deeper than its limit.
    TooDeep,
    Io(io::Error),
}

impl FsError {
    /// Maps an errno to the variant a caller can act on; the rest stay `Io`.
    pub fn from_errno(e: Errno) -> FsError {
        match e {
            Errno::NOENT => FsError::NotFound,
            Errno::NOTDIR => FsError::NotADirectory,
            Errno::ISDIR => FsError::IsADirectory,
            Errno::EXIST => FsError::AlreadyExists,
            Errno::NOTEMPTY => FsError::NotEmpty,
            Errno::XDEV => FsError::CrossDevice,
            Errno::NOSPC | Errno::DQUOT => FsError::NoSpace,
            // ENOTSUP and EOPNOTSUPP are one number on Linux
            Errno::NOTSUP => FsError::Unsupported,
            Errno::ACCESS | Errno::PERM => FsError::PermissionDenied,
            Errno::ROFS => FsError::ReadOnly,
            Errno::NAMETOOLONG => FsError::NameTooLong,
            Errno::MFILE | Errno::NFILE => FsError::NoDescriptors,
            Errno::TOOBIG | Errno::RANGE => FsError::TooLarge,
            Errno::LOOP => FsError::TooManyLinks,
            other => FsError::Io(other.into()),
        }
    }
}

impl From<Errno> for FsError {
    fn from(e: Errno) -> Self {
        FsError::from_errno(e)
    }
}

impl From<io::Error> for FsError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => FsError::from_errno(Errno::from_raw_os_error(n)),
            None => FsError::Io(e),
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::InvalidName => "invalid name",
            FsError::Outside => "path leads outside the served directory",
            FsError::TooManyLinks => "too many levels of symbolic links",
            FsError::NotFound => "not found",
            FsError::NotADirectory => "not a directory",
            FsError::IsADirectory => "is a directory",
            FsError::AlreadyExists => "already exists",
            FsError::NotEmpty => "directory not empty",
            FsError::CrossDevice => "crosses file systems",
            FsError::NoSpace => "no space left (disk or quota)",
            FsError::Unsupported => "not supported by the file system",
            FsError::PermissionDenied => "permission denied",
            FsError::ReadOnly => "read-only file system",
            FsError::NameTooLong => "name too long",
            FsError::NoDescriptors => "out of file descriptors",
            FsError::TooLarge => "value too large",
            FsError::TooDeep => "tree deeper than the limit",
            FsError::Io(e) => return write!(f, "i/o error: {e}"),
        })
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;

/// How `resolve` keeps a name inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Containment {
    /// `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (Linux 5.6), falling back to
    /// `Walk` for the names it refuses that may still stay inside (absolute symlinks).
    Kernel,
    /// Component by component from the root with `O_NOFOLLOW`, symlinks read and followed by
    /// us: for kernels (or seccomp filters) without `openat2`.
    Walk,
}

/// The served directory, opened once; cheap to clone. Every name under it is resolved from this
/// descriptor. The path is kept only to follow absolute symlinks that point inside.
#[derive(Debug, Clone)]
pub struct Root {
    inner: Arc<RootInner>,
}

#[derive(Debug)]
struct RootInner {
    /// Canonical, at the time of opening.
    path: PathBuf,
    fd: OwnedFd,
    /// (device, inode) of the directory opened, to notice when the path names another.
    id: (u64, u64),
    containment: Containment,
}

impl Root {
    /// Opens `dir` (canonicalised first), which must be a directory, and probes for `openat2`.
    pub fn open(dir: &Path) -> Result<Root> {
        let path = std::fs::canonicalize(dir)?;
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&fd)?;
        let containment = match rustix::fs::openat2(
            &fd,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        ) {
            Ok(_) => Containment::Kernel,
            // ENOSYS before Linux 5.6; some sandboxes' seccomp filters answer EPERM
            Err(_) => Containment::Walk,
        };
        Ok(Root {
            inner: Arc::new(RootInner {
                path,
                fd,
                id: (stat.st_dev, stat.st_ino),
                containment,
            }),
        })
    }

    /// The canonical path the root was opened at.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    /// The held directory is still the one at the path: not removed (its link count would be
    /// zero) and not replaced by another directory there.
    pub fn is_current(&self) -> bool {
        let held = rustix::fs::fstat(&self.inner.fd);
        let named = rustix::fs::stat(&self.inner.path);
        matches!((held, named), (Ok(held), Ok(named))
            if held.st_nlink > 0 && (named.st_dev, named.st_ino) == self.inner.id)
    }

    #[cfg(test)]
    fn with_walk(&self) -> Root {
        let inner = &self.inner;
        Root {
            inner: Arc::new(RootInner {
                path: inner.path.clone(),
                fd: inner.fd.try_clone().expect("dup of the root descriptor"),
                id: inner.id,
                containment: Containment::Walk,
            }),
        }
    }
}

/// The root as the server holds it across requests: `current` re-opens the configured path
/// when the held directory was removed or replaced (issue #15: a removed-and-recreated root
/// must be seen by every operation alike, since all of them start from `current`).
#[derive(Debug)]
pub struct RootCell {
    path: PathBuf,
    held: RwLock<Root>,
}

impl RootCell {
    pub fn open(dir: &Path) -> Result<RootCell> {
        let root = Root::open(dir)?;
        Ok(RootCell {
            path: root.path().to_owned(),
            held: RwLock::new(root),
        })
    }

    /// The root to start this request from: the held one while it is current, else the
    /// directory now at the path (`NotFound` while there is none). Costs an `fstat` and a
    /// `stat` of the root path per call.
    pub fn current(&self) -> Result<Root> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner()).clone();
        if held.is_current() {
            return Ok(held);
        }
        let mut slot = self.held.write().unwrap_or_else(|e| e.into_inner());
        if slot.is_current() {
            return Ok(slot.clone());
        }
        let fresh = Root::open(&self.path)?;
        *slot = fresh.clone();
        Ok(fresh)
    }
}

/// An open directory (`O_RDONLY | O_DIRECTORY`): the parent that changes are made relative to.
/// It can be listed, synced and carry extended attributes.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A name inside an open directory: where a change lands. The name is not followed.
#[derive(Debug)]
pub struct Leaf {
    pub dir: Dir,
    pub name: OsString,
}

/// An opened entry that can carry extended attributes: a regular file or a directory.
#[derive(Debug)]
pub enum Node {
    File(File),
    Dir(Dir),
}

impl AsFd for Node {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Node::File(f) => f.as_fd(),
            Node::Dir(d) => d.as_fd(),
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: never served, listed or copied.
    Other,
}

impl Kind {
    fn of(file_type: FileType) -> Kind {
        match file_type {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// What a listing, PROPFIND or a validator needs to know of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub len: u64,
    pub modified: SystemTime,
    /// The status change time (`ctime`): any rename, link or unlink in a directory moves it.
    pub changed: SystemTime,
    /// The birth time where the file system keeps one (`statx`), for `creationdate`.
    pub created: Option<SystemTime>,
    pub dev: u64,
    pub ino: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub nlink: u64,
}

fn timestamp(secs: i64, nanos: u32) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(nanos.min(999_999_999)));
    match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs) + nanos,
        Err(_) => UNIX_EPOCH,
    }
}

impl Meta {
    /// `statx` of `name` in `dir` (of `dir` itself for an empty name), not following a final
    /// symlink; `fstatat` where `statx` is missing.
    fn at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Meta> {
        let mut flags = AtFlags::SYMLINK_NOFOLLOW;
        if name.is_empty() {
            flags |= AtFlags::EMPTY_PATH;
        }
        let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
        match rustix::fs::statx(dir, name, flags, mask) {
            Ok(st) => Ok(Meta {
                kind: Kind::of(FileType::from_raw_mode(u32::from(st.stx_mode))),
                len: st.stx_size,
                modified: timestamp(st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec),
                changed: timestamp(st.stx_ctime.tv_sec, st.stx_ctime.tv_nsec),
                created: (st.stx_mask & StatxFlags::BTIME.bits() != 0)
                    .then(|| timestamp(st.stx_btime.tv_sec, st.stx_btime.tv_nsec)),
                dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
                ino: st.stx_ino,
                mode: u32::from(st.stx_mode) & 0o7777,
                nlink: u64::from(st.stx_nlink),
            }),
            Err(Errno::NOSYS) => {
                let st = rustix::fs::statat(dir, name, flags)?;
                Ok(Meta {
                    kind: Kind::of(FileType::from_raw_mode(st.st_mode)),
                    len: u64::try_from(st.st_size).unwrap_or(0),
                    modified: timestamp(st.st_mtime, st.st_mtime_nsec as u32),
                    changed: timestamp(st.st_ctime, st.st_ctime_nsec as u32),
                    created: None,
                    dev: st.st_dev,
                    ino: st.st_ino,
                    mode: st.st_mode & 0o7777,
                    nlink: st.st_nlink,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The metadata of an open descriptor.
    pub fn of(fd: impl AsFd) -> Result<Meta> {
        Meta::at(fd.as_fd(), OsStr::new(""))
    }
}

/// Refuses anything but one plain segment: the names `Dir` methods take.
fn segment(name: &OsStr) -> Result<&OsStr> {
    let bytes = name.as_bytes();
    if bytes.is_empty()
        || bytes == b"."
        || bytes == b".."
        || bytes.contains(&b'/')
        || bytes.contains(&0)
    {
        return Err(FsError::InvalidName);
    }
    Ok(name)
}

impl Dir {
    fn from_fd(fd: OwnedFd) -> Dir {
        Dir { fd }
    }

    /// Another handle on the same directory (`dup`).
    pub fn try_clone(&self) -> Result<Dir> {
        Ok(Dir::from_fd(self.fd.try_clone()?))
    }

    /// The directory's own metadata.
    pub fn meta(&self) -> Result<Meta> {
        Meta::of(self)
    }

    /// The metadata of `name` in this directory; a symlink is described, not followed.
    pub fn lstat(&self, name: &OsStr) -> Result<Meta> {
        Meta::at(self.as_fd(), segment(name)?)
    }

    /// Opens the sub-directory `name`, refusing a symlink (`NotADirectory`).
    pub fn open_subdir(&self, name: &OsStr) -> Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(self, segment(name)?, flags, Mode::empty()) {
            Ok(fd) => Ok(Dir::from_fd(fd)),
            Err(Errno::LOOP) => Err(FsError::NotADirectory),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the regular file `name` for reading, refusing a symlink or anything else that is
    /// not a regular file (`NotFound`, as a download of one would be).
    pub fn open_file(&self, name: &OsStr) -> Result<File> {
        match self.open_entry(name)? {
            Node::File(file) => Ok(file),
            Node::Dir(_) => Err(FsError::IsADirectory),
        }
    }

    /// Opens `name` (not followed) as a file or directory: what extended attributes are read
    /// from and written to. A FIFO, device, socket or symlink is `NotFound`; it is looked at
    /// through `O_PATH` first, so opening it can have no side effect.
    pub fn open_entry(&self, name: &OsStr) -> Result<Node> {
        let name = segment(name)?;
        let path = rustix::fs::openat(
            self,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let seen = Meta::of(&path)?;
        if !matches!(seen.kind, Kind::File | Kind::Dir) {
            return Err(FsError::NotFound);
        }
        // O_NONBLOCK and O_NOCTTY in case the name was swapped for a FIFO or a terminal since
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(self, name, flags, Mode::empty())?;
        let now = Meta::of(&fd)?;
        if (now.dev, now.ino) != (seen.dev, seen.ino) {
            // swapped between the two opens: report it as gone rather than act on another
            return Err(FsError::NotFound);
        }
        Ok(match now.kind {
            Kind::Dir => Node::Dir(Dir::from_fd(fd)),
            _ => Node::File(File::from(fd)),
        })
    }

    /// `fsync` of the directory: makes renames and creations in it durable.
    pub fn sync(&self) -> Result<()> {
        Ok(rustix::fs::fsync(self)?)
    }
}

/// The tree the tests of this module share: a root with files, links inside and out, a loop,
/// a FIFO and directories; and a secret outside it.
#[cfg(test)]
pub(super) mod fixture {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use rustix::fs::Mode;

    pub struct Tree {
        pub base: tempfile::TempDir,
        pub root: PathBuf,
        pub outside: PathBuf,
    }

    pub fn tree() -> Tree {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("sub/b.txt"), "b").unwrap();
        fs::write(root.join("sub/deeper/c.txt"), "c").unwrap();
        fs::write(outside.join("secret"), "secret").unwrap();
        symlink("a.txt", root.join("relative-in")).unwrap();
        symlink(root.join("a.txt"), root.join("absolute-in")).unwrap();
        symlink("../a.txt", root.join("sub/up-in")).unwrap();
        symlink("sub", root.join("dir-in")).unwrap();
        symlink(root.join("sub"), root.join("absolute-dir-in")).unwrap();
        symlink("sub/../sub/deeper", root.join("winding-in")).unwrap();
        symlink("missing-target", root.join("dangling-in")).unwrap();
        symlink("../outside/secret", root.join("relative-out")).unwrap();
        symlink(outside.join("secret"), root.join("absolute-out")).unwrap();
        symlink(&outside, root.join("dir-out")).unwrap();
        symlink("../outside/new", root.join("dangling-out")).unwrap();
        symlink("../../outside/secret", root.join("sub/up-out")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
        let magic = format!("/proc/self/root{}", outside.join("secret").display());
        symlink(magic, root.join("magic-out")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        Tree {
            base,
            root,
            outside,
        }
    }

    /// Both ways of keeping to the root, for tables that must hold for each.
    pub fn roots(tree: &Tree) -> [(&'static str, super::Root); 2] {
        let kernel = super::Root::open(&tree.root).unwrap();
        let walk = kernel.with_walk();
        [("openat2", kernel), ("walk", walk)]
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::RenameFlags;

    use super::*;

    #[test]
    fn errors_keep_what_a_caller_maps() {
        for (errno, want) in [
            (Errno::NOSPC, "NoSpace"),
            (Errno::DQUOT, "NoSpace"),
            (Errno::EXIST, "AlreadyExists"),
            (Errno::NOENT, "NotFound"),
            (Errno::NOTDIR, "NotADirectory"),
            (Errno::NOTEMPTY, "NotEmpty"),
            (Errno::XDEV, "CrossDevice"),
            (Errno::NOTSUP, "Unsupported"),
            (Errno::MFILE, "NoDescriptors"),
            (Errno::NFILE, "NoDescriptors"),
            (Errno::ROFS, "ReadOnly"),
            (Errno::ACCESS, "PermissionDenied"),
        ] {
            assert_eq!(format!("{:?}", FsError::from(errno)), want);
            let io = std::io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(
                format!("{:?}", FsError::from(io)),
                want,
                "through io::Error"
            );
        }
        assert!(matches!(FsError::from(Errno::IO), FsError::Io(_)));
    }

    #[test]
    fn a_removed_and_recreated_root_is_followed() {
        let base = tempfile::tempdir().unwrap();
        let path = base.path().join("served");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("old"), "old").unwrap();
        let cell = RootCell::open(&path).unwrap();
        let first = cell.current().unwrap();
        assert!(first.is_current());
        assert!(first.open_file(Path::new("old")).is_ok());

        fs::remove_dir_all(&path).unwrap();
        assert!(!first.is_current());
        assert!(matches!(cell.current(), Err(FsError::NotFound)));
        fs::create_dir(&path).unwrap();
        fs::write(path.join("new"), "new").unwrap();
        let second = cell.current().unwrap();
        assert!(second.open_file(Path::new("new")).is_ok());
        assert!(matches!(
            second.open_file(Path::new("old")),
            Err(FsError::NotFound)
        ));

        // replaced without being removed (renamed away, another put there): followed too
        fs::rename(&path, base.path().join("away")).unwrap();
        fs::create_dir(&path).unwrap();
        let third = cell.current().unwrap();
        assert!(matches!(
            third.open_file(Path::new("new")),
            Err(FsError::NotFound)
        ));
        assert!(third.is_current());
    }

    #[test]
    fn metadata_comes_from_the_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "12345").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let meta = top.lstat(OsStr::new("f")).unwrap();
        let std_meta = fs::metadata(dir.path().join("f")).unwrap();
        assert_eq!((meta.kind, meta.len), (Kind::File, 5));
        assert_eq!(meta.modified, std_meta.modified().unwrap());
        assert_eq!(meta.created.is_some(), std_meta.created().is_ok());
        assert_eq!(top.meta().unwrap().kind, Kind::Dir);
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(
                matches!(top.lstat(OsStr::new(bad)), Err(FsError::InvalidName)),
                "{bad:?}"
            );
        }
    }

    /// Issue #15's race, here at the level of this module: a thread swaps a directory inside
    /// the root with a symlink to one outside (`RENAME_EXCHANGE`) as fast as it can, while
    /// uploads, deletes and listings aim into it. Nothing outside may ever change or be
    /// listed: each act resolves the name once and then works on a descriptor.
    #[test]
    fn issue_15_an_exchanging_symlink_never_carries_an_act_outside() {
        let base = tempfile::tempdir().unwrap();
        let root_path = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir_all(root_path.join("sub")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), "outside").unwrap();
        std::os::unix::fs::symlink(&outside, root_path.join("swap")).unwrap();
        let root = Root::open(&root_path).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let top =
                    rustix::fs::open(&root_path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                        .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    rustix::fs::renameat_with(&top, "sub", &top, "swap", RenameFlags::EXCHANGE)
                        .unwrap();
                }
            });
            let outside_ino = fs::metadata(&outside)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap();
            for _ in 0..3000 {
                if let Ok(leaf) = root.leaf(Path::new("sub/victim")) {
                    assert_ne!(leaf.dir.meta().unwrap().ino, outside_ino, "a leaf outside");
                    if let Ok(temp) = leaf.dir.create_temp(".upload-") {
                        let _ = temp.commit(&leaf.dir, &leaf.name, Replace::Allow);
                    }
                    let _ = leaf.dir.remove_file(&leaf.name);
                }
                if let Ok(dir) = root.open_dir(Path::new("sub")) {
                    assert_ne!(dir.meta().unwrap().ino, outside_ino, "a listing outside");
                    assert!(dir.entries().is_ok());
                }
                // our uploads are empty: the outside file's content would show the escape
                if let Ok((file, _)) = root.open_file(Path::new("sub/victim")) {
                    assert_eq!(Meta::of(&file).unwrap().len, 0, "a read outside");
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(
            fs::read_to_string(outside.join("victim")).unwrap(),
            "outside"
        );
        let names: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"]);
    }
}
