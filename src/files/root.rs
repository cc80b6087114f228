//! The served directory: canonicalised once at start-up, and every way a name is kept inside
//! it (containment) whether it is opened, listed or about to be written. Opening and listing
//! live here; changing the disk is `write.rs`'s.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::at::{FsError, Root, RootCell};
use super::error::FileError;
use super::name::FileName;

/// The served directory, canonicalised once at start-up.
#[derive(Debug, Clone)]
pub struct FileRoot {
    root: PathBuf,
    /// The root, opened once: files are opened relative to it.
    dir: Arc<OwnedFd>,
    containment: Containment,
    /// The root for descriptor-relative operations (`files::at`), re-opened when the held
    /// directory was removed or replaced.
    #[allow(dead_code)] // TODO(#15): every operation moves onto it
    cell: Arc<RootCell>,
}

/// How `open` keeps a name inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Containment {
    /// `openat2(2)` with `RESOLVE_BENEATH` (Linux 5.6): the kernel refuses any path that
    /// leaves the directory, in the open itself.
    Kernel,
    /// Older kernels: open, then read the real path back from the descriptor.
    ReadBack,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name, never containing `/` or a control character.
    pub name: Box<str>,
    pub is_dir: bool,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

impl FileRoot {
    /// Canonicalises `dir`, which must be an existing directory.
    pub fn new(dir: &Path) -> io::Result<FileRoot> {
        let root = fs::canonicalize(dir)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let dir = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let containment = match rustix::fs::openat2(
            &dir,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        ) {
            Ok(_) => Containment::Kernel,
            // ENOSYS before Linux 5.6; some sandboxes' seccomp filters answer EPERM
            Err(_) => Containment::ReadBack,
        };
        let cell = RootCell::open(&root).map_err(io::Error::other)?;
        Ok(FileRoot {
            root,
            dir: Arc::new(dir),
            containment,
            cell: Arc::new(cell),
        })
    }

    /// The root to start a descriptor-relative operation from (`files::at`); call it once per
    /// request. `NotFound` while nothing is at the served path.
    #[allow(dead_code)] // TODO(#15): every operation moves onto it
    pub fn current(&self) -> Result<Root, FsError> {
        self.cell.current()
    }

    /// The real path of an existing entry, refused when symlinks lead it outside the root.
    fn real_path(&self, name: &FileName) -> Result<PathBuf, FileError> {
        let real = fs::canonicalize(self.root.join(&name.relative))?;
        if !real.starts_with(&self.root) {
            return Err(FileError::Outside);
        }
        Ok(real)
    }

    /// Opens a regular file for reading. Directories, devices and FIFOs are `NotFound`.
    ///
    /// Where the kernel can (`openat2` with `RESOLVE_BENEATH`), it refuses any path that would
    /// leave the root during the open itself: no extra system call and no gap between a check
    /// and the open. It also refuses absolute symlinks, even to a file inside the root; those
    /// (and kernels without `openat2`) take the read-back path: the file is opened and its real
    /// path read back from the open descriptor, one system call where resolving the path first
    /// costs one per component. Nothing is read before either check.
    pub fn open(&self, name: &FileName) -> Result<(File, fs::Metadata), FileError> {
        let file = match self.containment {
            Containment::Kernel => match self.open_beneath(name) {
                // EAGAIN: a path with `..` while any rename ran on the system (openat2(2));
                // the read-back check does not depend on that
                Err(Errno::XDEV | Errno::AGAIN) => self.open_read_back(name)?,
                opened => File::from(opened.map_err(io::Error::from)?),
            },
            Containment::ReadBack => self.open_read_back(name)?,
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(FileError::NotFound);
        }
        Ok((file, meta))
    }

    fn open_beneath(&self, name: &FileName) -> rustix::io::Result<OwnedFd> {
        rustix::fs::openat2(
            &*self.dir,
            &name.relative,
            // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a terminal must
            // not become ours. Both are refused by `open` anyway.
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
            // magic links (/proc/self/fd/...) lead anywhere
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    }

    fn open_read_back(&self, name: &FileName) -> Result<File, FileError> {
        let path = self.root.join(&name.relative);
        // the flags of `open_beneath`, for the same reasons
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)?;
        let real = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .or_else(|_| fs::canonicalize(&path))?;
        if !real.starts_with(&self.root) {
            return Err(FileError::Outside);
        }
        Ok(file)
    }

    /// The entries of a directory, sorted by name; dot files (and so the server's own
    /// temporaries) left out. Symlinks are followed, so a link to a directory lists as one; an
    /// entry that vanishes or cannot be inspected while listing is left out.
    pub fn list(&self, name: &FileName) -> Result<Vec<DirEntry>, FileError> {
        let real = self.real_path(name)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(real)? {
            let entry = entry?;
            let Ok(entry_name) = entry.file_name().into_string() else {
                continue;
            };
            // names the server would refuse (made by other means) cannot be listed one per line
            if entry_name.starts_with('.') || entry_name.contains(|c: char| c.is_ascii_control()) {
                continue;
            }
            // relative to the open directory (fstatat), not a walk from the root per entry;
            // only a symlink needs the walk, to be followed
            let meta = match entry.metadata() {
                Ok(meta) if meta.file_type().is_symlink() => fs::metadata(entry.path()),
                other => other,
            };
            let Ok(meta) = meta else {
                continue;
            };
            entries.push(DirEntry {
                name: entry_name.into_boxed_str(),
                is_dir: meta.is_dir(),
                size: meta.len(),
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            });
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The target's parent directory, real and inside the root.
    pub(super) fn checked_parent(&self, name: &FileName) -> Result<PathBuf, FileError> {
        let parent = name.relative.parent().unwrap_or(Path::new(""));
        let real = fs::canonicalize(self.root.join(parent)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileError::NoParent,
            _ => FileError::from(e),
        })?;
        if !real.starts_with(&self.root) {
            return Err(FileError::Outside);
        }
        Ok(real)
    }

    /// Where an upload to `name` will land, checked before any body byte is read: the parent
    /// exists inside the root and the target is not a directory. A symlink is written through
    /// (the file it names changes, the link stays), but only to a file inside the root.
    pub fn upload_target(&self, name: &FileName) -> Result<PathBuf, FileError> {
        if name.ends_in_slash || name.relative.as_os_str().is_empty() {
            return Err(FileError::IsDirectory);
        }
        let target = self
            .checked_parent(name)?
            .join(name.relative.file_name().ok_or(FileError::BadName)?);
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_symlink() => {
                // GET refuses a link that leads outside, so an upload must too: renaming over
                // it would silently swap the link for a file. A dangling link may point
                // anywhere, so it is refused the same way.
                let real = fs::canonicalize(&target).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => FileError::Outside,
                    _ => FileError::from(e),
                })?;
                if !real.starts_with(&self.root) {
                    return Err(FileError::Outside);
                }
                if fs::metadata(&real)?.is_dir() {
                    return Err(FileError::IsDirectory);
                }
                Ok(real)
            }
            Ok(m) if m.is_dir() => Err(FileError::IsDirectory),
            _ => Ok(target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::resolve_name;
    use std::io::Read;

    /// A root with files, links inside and out, a FIFO and a directory; and a secret outside.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::symlink;
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("sub/b.txt"), "b").unwrap();
        fs::write(outside.join("secret"), "secret").unwrap();
        symlink("a.txt", root.join("relative-in")).unwrap();
        symlink(root.join("a.txt"), root.join("absolute-in")).unwrap();
        symlink("../a.txt", root.join("sub/up-in")).unwrap();
        symlink("../outside/secret", root.join("relative-out")).unwrap();
        symlink(outside.join("secret"), root.join("absolute-out")).unwrap();
        symlink(&outside, root.join("dir-out")).unwrap();
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
        (base, root)
    }

    /// What `open` makes of each name: the file's content, or the status a client would get
    /// (through `serve::errors`, the one place that maps file errors).
    fn outcomes(files: &FileRoot) -> Vec<(&'static str, Result<String, u16>)> {
        let names = [
            "a.txt",
            "sub/b.txt",
            "relative-in",
            "absolute-in",
            "sub/up-in",
            "relative-out",
            "absolute-out",
            "dir-out/secret",
            "magic-out",
            "fifo",
            "sub",
            "missing",
            "a.txt/x",
        ];
        names
            .into_iter()
            .map(|name| {
                let outcome = files
                    .open(&resolve_name(name).unwrap())
                    .map(|(mut file, _)| {
                        let mut text = String::new();
                        file.read_to_string(&mut text).unwrap();
                        text
                    })
                    .map_err(|e| crate::serve::errors::file_status(&e).code());
                (name, outcome)
            })
            .collect()
    }

    #[test]
    fn open_keeps_to_the_root_in_both_containment_modes() {
        let (_base, root) = tree();
        let ok = |s: &str| Ok(s.to_owned());
        let want = vec![
            ("a.txt", ok("a")),
            ("sub/b.txt", ok("b")),
            ("relative-in", ok("a")),
            ("absolute-in", ok("a")),
            ("sub/up-in", ok("a")),
            ("relative-out", Err(403)),
            ("absolute-out", Err(403)),
            ("dir-out/secret", Err(403)),
            ("magic-out", Err(403)),
            ("fifo", Err(404)),
            ("sub", Err(404)),
            ("missing", Err(404)),
            ("a.txt/x", Err(404)),
        ];
        let kernel = FileRoot::new(&root).unwrap();
        let mut read_back = kernel.clone();
        read_back.containment = Containment::ReadBack;
        assert_eq!(outcomes(&kernel), want, "openat2");
        assert_eq!(outcomes(&read_back), want, "read-back");
    }

    #[test]
    fn the_kernel_keeps_to_the_root_where_it_can() {
        // openat2 arrived in Linux 5.6: there, the read-back path is only a fallback
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = numbers.next().unwrap().parse().unwrap();
        let minor: u32 = numbers.next().unwrap().parse().unwrap();
        let (_base, root) = tree();
        let files = FileRoot::new(&root).unwrap();
        if (major, minor) >= (5, 6) {
            assert_eq!(files.containment, Containment::Kernel, "{release}");
        }
        // an escape is refused by the kernel itself, before any fallback
        assert_eq!(
            files
                .open_beneath(&resolve_name("relative-out").unwrap())
                .map(drop),
            Err(Errno::XDEV)
        );
    }
}
