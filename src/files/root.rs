//! The served directory: a root descriptor that follows whatever directory is at the
//! configured path (`at::RootCell`: a removed-and-recreated root is seen by every operation
//! alike), the dot-file policy, and what reads it: opening a file for a download, listing a
//! directory. Every operation takes the current root once and then works from descriptors
//! (`files::at`): a name is resolved once, beneath the root, and never checked as a path and
//! then used again. Changing the disk is `write.rs`'s.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use super::at::{FsError, Root, RootCell};
use super::error::FileError;
use super::listing::{DirEntry, Listings, Order};
use super::name::{FileName, resolve_name};
use super::stale;
use crate::config::DotFiles;

/// The served directory; cheap to clone.
#[derive(Debug, Clone)]
pub struct FileRoot {
    /// The root for descriptor-relative operations, re-opened when the held directory was
    /// removed or replaced.
    cell: Arc<RootCell>,
    dot_files: DotFiles,
    listings: Arc<Listings>,
}

impl FileRoot {
    /// Opens `dir`, which must be an existing directory, and starts (in the background) the
    /// removal of temporaries that crashed processes left in it (`stale`).
    pub fn new(dir: &Path, dot_files: DotFiles) -> io::Result<FileRoot> {
        let started = SystemTime::now();
        let root = fs::canonicalize(dir)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let cell = Arc::new(RootCell::open(&root).map_err(io::Error::other)?);
        stale::sweep_in_background(cell.clone(), started);
        Ok(FileRoot {
            cell,
            dot_files,
            listings: Arc::new(Listings::default().with_dot_files(dot_files)),
        })
    }

    /// The root to start a descriptor-relative operation from (`files::at`); call it once per
    /// request. `NotFound` while nothing is at the served path.
    pub fn current(&self) -> Result<Root, FsError> {
        self.cell.current()
    }

    /// `current`, for the operations here: a missing root is `NoRoot`.
    pub(super) fn root(&self) -> Result<Root, FileError> {
        match self.current() {
            Ok(root) => Ok(root),
            Err(FsError::NotFound | FsError::NotADirectory) => Err(FileError::NoRoot),
            Err(e) => Err(e.into()),
        }
    }

    /// A `/files/` name by the name rules (`resolve_name`) and the dot-file policy: with
    /// `DotFiles::Refuse`, a name with any segment starting with `.` is `NotFound`, as if it
    /// were not there (reserved names included: they are dot names too).
    pub fn resolve(&self, encoded: &str) -> Result<FileName, FileError> {
        let refuse = self.dot_files == DotFiles::Refuse;
        match resolve_name(encoded) {
            Err(FileError::Reserved) if refuse => Err(FileError::NotFound),
            Ok(name) if refuse && name.has_dot_segment() => Err(FileError::NotFound),
            resolved => resolved,
        }
    }

    /// The dot-file policy, for the walks (archives, search) that list as a listing does.
    pub fn dot_files(&self) -> DotFiles {
        self.dot_files
    }

    /// The name a listing of this root shows for an entry named `name` (`listing::listed`).
    pub fn lists<'n>(&self, name: &'n OsStr) -> Option<&'n str> {
        super::listing::listed(name, self.dot_files)
    }

    /// Opens a regular file for reading, beneath the current root (symlinks followed inside
    /// it only; the kernel's `RESOLVE_BENEATH` where it can). Directories, devices and FIFOs
    /// are `NotFound`; nothing is read before the file is known to be inside.
    pub fn open(&self, name: &FileName) -> Result<(File, fs::Metadata), FileError> {
        let (file, _) = self
            .root()?
            .open_file(&name.relative)
            .map_err(|e| match e {
                FsError::IsADirectory => FileError::NotFound,
                e => e.into(),
            })?;
        let meta = file.metadata()?;
        Ok((file, meta))
    }

    /// The entries of a directory in `order`, shared with every other listing of the same
    /// directory state (`listing`); dot files (unless shown) and the server's own temporaries
    /// left out.
    pub fn list(&self, name: &FileName, order: Order) -> Result<Arc<[DirEntry]>, FileError> {
        let root = self.root()?;
        let dir = root.open_dir(&name.relative)?;
        self.listings.list(&root, &name.relative, &dir, order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::path::PathBuf;

    use rustix::fs::Mode;

    /// A root with files, links inside and out, a FIFO and a directory; and a secret outside.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::symlink;
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("sub/b.txt"), "b").unwrap();
        fs::write(root.join(".git/config"), "git").unwrap();
        fs::write(outside.join("secret"), "secret").unwrap();
        symlink("a.txt", root.join("relative-in")).unwrap();
        symlink(root.join("a.txt"), root.join("absolute-in")).unwrap();
        symlink("../a.txt", root.join("sub/up-in")).unwrap();
        symlink("../outside/secret", root.join("relative-out")).unwrap();
        symlink(outside.join("secret"), root.join("absolute-out")).unwrap();
        symlink(&outside, root.join("dir-out")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
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
    fn outcome(files: &FileRoot, name: &str) -> Result<String, u16> {
        let status = |e: FileError| crate::serve::errors::file_status(&e).code();
        let name = files.resolve(name).map_err(status)?;
        files
            .open(&name)
            .map(|(mut file, _)| {
                let mut text = String::new();
                file.read_to_string(&mut text).unwrap();
                text
            })
            .map_err(status)
    }

    #[test]
    fn open_keeps_to_the_root() {
        let (_base, root) = tree();
        let ok = |s: &str| Ok(s.to_owned());
        let table = [
            ("a.txt", ok("a")),
            ("sub/b.txt", ok("b")),
            ("relative-in", ok("a")),
            ("absolute-in", ok("a")),
            ("sub/up-in", ok("a")),
            (".git/config", ok("git")),
            ("relative-out", Err(403)),
            ("absolute-out", Err(403)),
            ("dir-out/secret", Err(403)),
            ("magic-out", Err(403)),
            ("fifo", Err(404)),
            ("sub", Err(404)),
            ("missing", Err(404)),
            ("a.txt/x", Err(404)),
            ("loop", Err(404)),
        ];
        let files = FileRoot::new(&root, DotFiles::Serve).unwrap();
        for (name, want) in table {
            assert_eq!(outcome(&files, name), want, "{name}");
        }
    }

    #[test]
    fn refused_dot_files_are_not_there() {
        let (_base, root) = tree();
        let served = FileRoot::new(&root, DotFiles::Serve).unwrap();
        let refused = FileRoot::new(&root, DotFiles::Refuse).unwrap();
        for (name, with_served, with_refused) in [
            (".git/config", Ok("git".to_owned()), Err(404)),
            (".git/", Err(404), Err(404)),
            (".upload-1-1.tmp", Err(403), Err(404)),
            ("sub/.x", Err(404), Err(404)),
            ("a.txt", Ok("a".to_owned()), Ok("a".to_owned())),
        ] {
            assert_eq!(outcome(&served, name), with_served, "{name}");
            assert_eq!(outcome(&refused, name), with_refused, "{name}");
        }
    }

    #[test]
    fn a_missing_root_is_no_root_and_a_recreated_one_is_served() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("served");
        fs::create_dir(&dir).unwrap();
        let files = FileRoot::new(&dir, DotFiles::Serve).unwrap();
        fs::remove_dir(&dir).unwrap();
        let name = files.resolve("a.txt").unwrap();
        assert!(matches!(files.open(&name), Err(FileError::NoRoot)));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("a.txt"), "new").unwrap();
        assert_eq!(outcome(&files, "a.txt"), Ok("new".to_owned()));
    }
}
