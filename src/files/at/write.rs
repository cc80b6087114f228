//! Changes relative to an open directory: a unique temporary file committed by `renameat` over
//! its target, rename and move (`RENAME_NOREPLACE` on request, `EXDEV` reported so the caller
//! can copy and delete), `unlinkat` of a file or an empty directory, `mkdirat`, and the copy of
//! one file (a temporary filled by `copy_file_range`, or read/write where the kernel cannot,
//! synced, then renamed into place). Locks, conditions and the name rules stay with the caller.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::{Dir, FsError, Kind, Meta, Result, segment, xattr};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a rename or commit does to an entry already at the target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace it atomically (a directory only if it is empty: else `NotEmpty`).
    Allow,
    /// Fail with `AlreadyExists` (`RENAME_NOREPLACE`; WebDAV's `Overwrite: F`).
    Refuse,
}

/// How `copy_file` and `copy_tree` copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// The name prefix of the temporaries (the server's in-progress prefix, hidden from
    /// listings and refused as a name).
    pub temp_prefix: &'static str,
    pub replace: Replace,
    /// Copy `user.*` extended attributes (where dead properties live).
    pub xattrs: bool,
    /// Give the copy the source's modification time.
    pub times: bool,
}

impl CopyOptions {
    pub fn new(temp_prefix: &'static str) -> CopyOptions {
        CopyOptions {
            temp_prefix,
            replace: Replace::Allow,
            xattrs: true,
            times: false,
        }
    }
}

/// A unique name for a temporary: the prefix, this process's id (so that a start-up clean-up
/// can tell whose it is) and a counter.
pub(super) fn temp_name(prefix: &str, suffix: &str) -> OsString {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{prefix}{}-{n}.{suffix}", std::process::id()))
}

/// The pid and suffix (`tmp`, `dir`) in a name `temp_name` made with `prefix`; `None` for any
/// other name, so that nothing else under the prefix is ever taken for a temporary.
pub fn temp_owner<'a>(prefix: &str, name: &'a str) -> Option<(u32, &'a str)> {
    let (pid, rest) = name.strip_prefix(prefix)?.split_once('-')?;
    let (n, suffix) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) || !matches!(suffix, "tmp" | "dir") {
        return None;
    }
    Some((pid.parse().ok()?, suffix))
}

/// A temporary file in a directory; removed on drop unless committed. While it exists its
/// descriptor holds an exclusive `flock`, released by the kernel when the process dies: what
/// tells a start-up clean-up that a live process still owns it, whatever its pid says.
#[derive(Debug)]
pub struct TempFile {
    dir: Arc<Dir>,
    name: OsString,
    file: File,
    synced: bool,
    committed: bool,
}

impl TempFile {
    /// The open file, for writing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Its name in its directory (for logs and start-up clean-up).
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The directory it was made in.
    pub fn dir(&self) -> &Arc<Dir> {
        &self.dir
    }

    /// Creates a new, empty temporary file in `dir` (mode 0644, never an existing name),
    /// sharing the caller's handle on the directory instead of taking one of its own.
    pub fn create_in(dir: Arc<Dir>, prefix: &str) -> Result<TempFile> {
        loop {
            let name = temp_name(prefix, "tmp");
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&*dir, &name, flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    let temp = TempFile {
                        dir,
                        name,
                        file: File::from(fd),
                        synced: false,
                        committed: false,
                    };
                    // no other descriptor of this new file exists: the lock cannot be busy. A
                    // file system without `flock` (some FUSE ones) still takes uploads: the
                    // clean-up then goes by the pid in the name alone
                    let _ = rustix::fs::flock(&temp.file, FlockOperation::NonBlockingLockExclusive);
                    return Ok(temp);
                }
                // left by an earlier process with our pid: take the next number
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `fsync` of the content; `commit` does it unless done already, so a caller can do it
    /// before taking a lock that the commit runs under.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_all()?;
        self.synced = true;
        Ok(())
    }

    /// Syncs the content, renames the file to `name` in `to`, and syncs the directories
    /// involved, so that the new content and its name survive a crash together.
    pub fn commit(self, to: &Dir, name: &OsStr, replace: Replace) -> Result<()> {
        let from = self.dir.clone();
        self.land(to, name, replace)?;
        to.sync()?;
        if !same_dir(&from, to) {
            from.sync()?;
        }
        Ok(())
    }

    /// Syncs the content and renames the file to `name` in `to`, without syncing the
    /// directories: for a caller that renames under a lock and syncs after releasing it (the
    /// rename is durable only once it has).
    pub fn land(mut self, to: &Dir, name: &OsStr, replace: Replace) -> Result<()> {
        if !self.synced {
            self.sync()?;
        }
        rename(&self.dir, &self.name, to, name, replace)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
        }
    }
}

fn same_dir(a: &Dir, b: &Dir) -> bool {
    matches!((a.meta(), b.meta()), (Ok(a), Ok(b)) if (a.dev, a.ino) == (b.dev, b.ino))
}

/// `renameat2` with the flags `replace` asks for. Where the file system cannot refuse to
/// replace (`EINVAL` for the flag), the target is checked first: that is not atomic, so a
/// caller that needs it holds its own commit lock.
fn rename(from: &Dir, name: &OsStr, to: &Dir, to_name: &OsStr, replace: Replace) -> Result<()> {
    let flags = match replace {
        Replace::Allow => RenameFlags::empty(),
        Replace::Refuse => RenameFlags::NOREPLACE,
    };
    match rustix::fs::renameat_with(from, name, to, to_name, flags) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) if replace == Replace::Refuse => match to.lstat(to_name) {
            Ok(_) => Err(FsError::AlreadyExists),
            Err(FsError::NotFound) => Ok(rustix::fs::renameat(from, name, to, to_name)?),
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    }
}

impl Dir {
    /// Creates a new, empty temporary file here (mode 0644, never an existing name).
    pub fn create_temp(&self, prefix: &str) -> Result<TempFile> {
        TempFile::create_in(Arc::new(self.try_clone()?), prefix)
    }

    /// Renames (moves) `name` here to `to_name` in `to`, within one file system:
    /// `CrossDevice` otherwise, for the caller to copy and delete. Nothing is followed: a
    /// symlink moves as itself. A directory can replace only an empty directory.
    pub fn rename(&self, name: &OsStr, to: &Dir, to_name: &OsStr, replace: Replace) -> Result<()> {
        rename(self, segment(name)?, to, segment(to_name)?, replace)
    }

    /// Removes the file (or symlink, never what it points to) `name`.
    pub fn remove_file(&self, name: &OsStr) -> Result<()> {
        Ok(rustix::fs::unlinkat(
            self,
            segment(name)?,
            AtFlags::empty(),
        )?)
    }

    /// Removes the empty directory `name` (`NotEmpty` otherwise).
    pub fn remove_dir(&self, name: &OsStr) -> Result<()> {
        Ok(rustix::fs::unlinkat(
            self,
            segment(name)?,
            AtFlags::REMOVEDIR,
        )?)
    }

    /// Creates the directory `name` with `mode` (less the umask): `AlreadyExists` if anything
    /// is there, a dangling symlink included.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Result<()> {
        Ok(rustix::fs::mkdirat(
            self,
            segment(name)?,
            Mode::from_raw_mode(mode),
        )?)
    }

    /// Copies the regular file `name` (a symlink is refused, not followed) to `to_name` in `to`
    /// whole or not at all: a temporary there gets the bytes, the permission bits and, as
    /// `options` say, the extended attributes and modification time; it is synced and then
    /// renamed into place. Returns the bytes copied.
    pub fn copy_file(
        &self,
        name: &OsStr,
        to: &Dir,
        to_name: &OsStr,
        options: &CopyOptions,
    ) -> Result<u64> {
        let source = self.open_file(name)?;
        let to_name = segment(to_name)?;
        let temp = to.create_temp(options.temp_prefix)?;
        let len = copy_contents(&source, temp.file(), options)?;
        temp.commit(to, to_name, options.replace)?;
        Ok(len)
    }
}

/// The bytes, permission bits and (as asked) attributes and times of `source` into `dest`.
pub(super) fn copy_contents(source: &File, dest: &File, options: &CopyOptions) -> Result<u64> {
    let meta = Meta::of(source)?;
    if meta.kind != Kind::File {
        return Err(FsError::NotFound);
    }
    let len = copy_bytes(source, dest)?;
    rustix::fs::fchmod(dest, Mode::from_raw_mode(meta.mode & 0o777))?;
    if options.xattrs {
        xattr::copy_xattrs(source, dest)?;
    }
    if options.times {
        let since = meta
            .modified
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mtime = Timespec {
            tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: since.subsec_nanos().into(),
        };
        let times = Timestamps {
            last_access: mtime,
            last_modification: mtime,
        };
        rustix::fs::futimens(dest, &times)?;
    }
    Ok(len)
}

/// `copy_file_range` until the end (reflinks or in-kernel copies where the file system can);
/// read/write where the kernel refuses it for these two files, or copies nothing from a file
/// that says it has bytes (some pseudo file systems).
fn copy_bytes(source: &File, dest: &File) -> Result<u64> {
    let mut copied: u64 = 0;
    loop {
        match rustix::fs::copy_file_range(source, None, dest, None, 1 << 30) {
            Ok(0) if copied == 0 && Meta::of(source)?.len > 0 => break,
            Ok(0) => return Ok(copied),
            Ok(n) => copied += n as u64,
            Err(Errno::INTR) => continue,
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::NOTSUP | Errno::PERM)
                if copied == 0 =>
            {
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut buf = vec![0; 64 * 1024];
    let (mut source, mut dest) = (source, dest);
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        dest.write_all(&buf[..n])?;
        copied += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::super::fixture::tree;
    use super::super::{Root, SetXattr, xattr_get, xattr_set};
    use super::*;

    const PREFIX: &str = ".upload-";

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn a_temp_file_lands_whole_or_leaves_nothing() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();
        let before = names(&tree.root.join("sub"));

        let temp = sub.create_temp(PREFIX).unwrap();
        assert!(temp.name().to_str().unwrap().starts_with(PREFIX));
        temp.file().write_all(b"new b").unwrap();
        let refused = temp.commit(&sub, os("b.txt"), Replace::Refuse);
        assert!(
            matches!(refused, Err(FsError::AlreadyExists)),
            "{refused:?}"
        );
        assert_eq!(
            fs::read_to_string(tree.root.join("sub/b.txt")).unwrap(),
            "b"
        );
        assert_eq!(
            names(&tree.root.join("sub")),
            before,
            "the refused temp is gone"
        );

        let mut temp = sub.create_temp(PREFIX).unwrap();
        temp.file().write_all(b"new b").unwrap();
        temp.sync().unwrap();
        temp.commit(&sub, os("b.txt"), Replace::Allow).unwrap();
        assert_eq!(
            fs::read_to_string(tree.root.join("sub/b.txt")).unwrap(),
            "new b"
        );

        // dropped without a commit: removed
        let temp = root
            .open_dir(Path::new(""))
            .unwrap()
            .create_temp(PREFIX)
            .unwrap();
        let name = temp.name().to_owned();
        drop(temp);
        assert!(!tree.root.join(name).exists());
        assert_eq!(names(&tree.root.join("sub")), before);
    }

    #[test]
    fn rename_unlink_and_mkdir_act_on_the_name_not_what_it_points_to() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();

        // a symlink moves as itself and is removed as itself
        top.rename(os("relative-out"), &sub, os("moved-link"), Replace::Refuse)
            .unwrap();
        assert!(
            fs::symlink_metadata(tree.root.join("sub/moved-link"))
                .unwrap()
                .is_symlink()
        );
        sub.remove_file(os("moved-link")).unwrap();
        assert_eq!(
            fs::read_to_string(tree.outside.join("secret")).unwrap(),
            "secret"
        );

        fs::create_dir(tree.root.join("full")).unwrap();
        fs::write(tree.root.join("full/f"), "f").unwrap();
        let cases: [(&str, Result<()>, &str); 9] = [
            (
                "onto a file, refused",
                top.rename(os("a.txt"), &sub, os("b.txt"), Replace::Refuse),
                "AlreadyExists",
            ),
            (
                "a missing name",
                top.rename(os("nothing"), &sub, os("x"), Replace::Allow),
                "NotFound",
            ),
            (
                "a directory over a non-empty one",
                top.rename(os("sub"), &top, os("full"), Replace::Allow),
                "NotEmpty",
            ),
            (
                "a directory over a symlink",
                top.rename(os("sub"), &top, os("dir-out"), Replace::Allow),
                "NotADirectory",
            ),
            (
                "unlink a directory",
                top.remove_file(os("sub")),
                "IsADirectory",
            ),
            (
                "rmdir a non-empty directory",
                top.remove_dir(os("full")),
                "NotEmpty",
            ),
            (
                "mkdir over a file",
                top.mkdir(os("a.txt"), 0o755),
                "AlreadyExists",
            ),
            (
                "mkdir over a dangling link",
                top.mkdir(os("dangling-in"), 0o755),
                "AlreadyExists",
            ),
            (
                "a name with a slash",
                top.mkdir(os("x/y"), 0o755),
                "InvalidName",
            ),
        ];
        for (what, got, want) in cases {
            assert_eq!(format!("{:?}", got.unwrap_err()), want, "{what}");
        }
        assert_eq!(names(&tree.outside), ["secret"]);
        top.mkdir(os("made"), 0o755).unwrap();
        top.remove_dir(os("made")).unwrap();
    }

    #[test]
    fn a_rename_across_file_systems_is_reported_for_the_caller_to_copy() {
        // /dev/shm is tmpfs where tempfile's directory is not, on the machines this runs on;
        // skip with a word where both are one file system
        let here = tempfile::tempdir().unwrap();
        let Ok(there) = tempfile::tempdir_in("/dev/shm") else {
            return eprintln!("skipped: no /dev/shm");
        };
        if fs::metadata(here.path()).unwrap().dev() == fs::metadata(there.path()).unwrap().dev() {
            return eprintln!("skipped: /dev/shm is on the temp directory's file system");
        }
        fs::write(here.path().join("f"), "f").unwrap();
        let from = Root::open(here.path())
            .unwrap()
            .open_dir(Path::new(""))
            .unwrap();
        let to = Root::open(there.path())
            .unwrap()
            .open_dir(Path::new(""))
            .unwrap();
        let moved = from.rename(os("f"), &to, os("f"), Replace::Allow);
        assert!(matches!(moved, Err(FsError::CrossDevice)), "{moved:?}");
        // and the copy the caller falls back to works across them
        let copied = from
            .copy_file(os("f"), &to, os("f"), &CopyOptions::new(PREFIX))
            .unwrap();
        assert_eq!(copied, 1);
        assert_eq!(fs::read_to_string(there.path().join("f")).unwrap(), "f");
    }

    #[test]
    fn a_copy_takes_bytes_mode_attributes_and_on_request_the_time() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();
        let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
        fs::write(tree.root.join("big"), &big).unwrap();
        fs::set_permissions(tree.root.join("big"), fs::Permissions::from_mode(0o640)).unwrap();
        let file = top.open_file(os("big")).unwrap();
        let xattrs = match xattr_set(&file, "user.dav.test", b"<v/>", SetXattr::Either) {
            Ok(()) => true,
            Err(FsError::Unsupported) => false,
            Err(e) => panic!("{e}"),
        };
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        file.set_modified(old).unwrap();

        let mut options = CopyOptions::new(PREFIX);
        assert_eq!(
            top.copy_file(os("big"), &sub, os("big-copy"), &options)
                .unwrap(),
            big.len() as u64
        );
        assert_eq!(fs::read(tree.root.join("sub/big-copy")).unwrap(), big);
        let meta = fs::metadata(tree.root.join("sub/big-copy")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_ne!(meta.modified().unwrap(), old);
        if xattrs {
            let copy = sub.open_file(os("big-copy")).unwrap();
            assert_eq!(
                xattr_get(&copy, "user.dav.test").unwrap().as_deref(),
                Some(&b"<v/>"[..])
            );
        }

        options.times = true;
        options.replace = Replace::Refuse;
        let refused = top.copy_file(os("big"), &sub, os("big-copy"), &options);
        assert!(
            matches!(refused, Err(FsError::AlreadyExists)),
            "{refused:?}"
        );
        options.replace = Replace::Allow;
        top.copy_file(os("a.txt"), &sub, os("big-copy"), &options)
            .unwrap();
        top.copy_file(os("big"), &sub, os("timed"), &options)
            .unwrap();
        assert_eq!(
            fs::metadata(tree.root.join("sub/timed"))
                .unwrap()
                .modified()
                .unwrap(),
            old
        );
        assert_eq!(
            fs::read_to_string(tree.root.join("sub/big-copy")).unwrap(),
            "a"
        );
        for (name, want) in [
            ("relative-in", "NotFound"),
            ("sub", "IsADirectory"),
            ("fifo", "NotFound"),
        ] {
            let got = top.copy_file(os(name), &sub, os("x"), &options);
            assert_eq!(format!("{:?}", got.unwrap_err()), want, "{name}");
        }
        assert!(
            names(&tree.root.join("sub"))
                .iter()
                .all(|n| !n.starts_with(PREFIX))
        );
    }

    use std::os::unix::fs::MetadataExt;
}
