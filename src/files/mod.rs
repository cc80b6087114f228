//! Everything `/files/` does to the disk: turning a URL name into a path that cannot leave the
//! root, opening regular files for reading, listing, deleting, and storing uploads whole or not
//! at all. HTTP semantics (ranges, validators) live in `handlers.rs`.

pub mod at;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use crate::http::response::StatusCode;
use crate::http::transfer::{Limit, copy_with};

/// Why a file operation was refused; `status` maps it to an answer.
#[derive(Debug)]
pub enum FileError {
    /// The name is not a relative path of normal segments (after percent-decoding).
    BadName,
    /// A segment starts with `TEMP_PREFIX`: such names belong to uploads in progress.
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

impl FileError {
    pub fn status(&self) -> StatusCode {
        match self {
            FileError::BadName | FileError::DigestMismatch => StatusCode::BAD_REQUEST,
            FileError::NotFound => StatusCode::NOT_FOUND,
            FileError::Outside | FileError::PermissionDenied | FileError::Reserved => {
                StatusCode::FORBIDDEN
            }
            FileError::NoParent | FileError::IsDirectory => StatusCode::CONFLICT,
            FileError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            FileError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
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

/// Percent-decodes `s` (RFC 3986 §2.1); `None` for a `%` not followed by two hex digits.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A name under the root, checked to be made of normal segments only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// Relative path of normal segments; empty for the root itself.
    pub relative: PathBuf,
    /// The URL ended in `/`: the client asks for a directory listing.
    pub is_dir: bool,
}

/// Decodes then validates a `/files/` name: UTF-8, segments separated by `/`, none of them
/// empty, `.` or `..`, and no backslash or control character (NUL included) anywhere. Decoding
/// first means `%2e%2e%2f` is judged as the `../` it stands for (darkhttpd's `urldecode` then
/// `make_safe_url`). A segment starting with `TEMP_PREFIX` is `Reserved`. An encoded `/`
/// (`%2F`) is refused: `sub%2F` would list `sub` at a URL whose relative links resolve one
/// level up, so the listing's links, uploads and deletes would aim at the parent.
pub fn resolve_name(encoded: &str) -> Result<FileName, FileError> {
    if encoded
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%2f"))
    {
        return Err(FileError::BadName);
    }
    let decoded = percent_decode(encoded).ok_or(FileError::BadName)?;
    let name = String::from_utf8(decoded).map_err(|_| FileError::BadName)?;
    let (body, is_dir) = match name.strip_suffix('/') {
        Some(body) => (body, true),
        None => (name.as_str(), false),
    };
    let mut relative = PathBuf::new();
    if body.is_empty() {
        return if name.is_empty() {
            Ok(FileName {
                relative,
                is_dir: true,
            })
        } else {
            Err(FileError::BadName)
        };
    }
    for segment in body.split('/') {
        // a control character (a newline above all) would break the one-name-per-line listing
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(|c: char| c == '\\' || c.is_ascii_control())
        {
            return Err(FileError::BadName);
        }
        // another request could read a half-written upload, or rename or delete it under
        // the upload that owns it and so tear the file it lands on
        if segment.starts_with(TEMP_PREFIX) {
            return Err(FileError::Reserved);
        }
        relative.push(segment);
    }
    Ok(FileName { relative, is_dir })
}

/// The served directory, canonicalised once at start-up.
#[derive(Debug, Clone)]
pub struct FileRoot {
    root: PathBuf,
    /// The root, opened once: files are opened relative to it.
    dir: Arc<OwnedFd>,
    containment: Containment,
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

/// A stored upload: how many bytes, and their SHA-256.
#[derive(Debug)]
pub struct Stored {
    pub len: u64,
    pub sha256: [u8; 32],
    /// A file was there and has been replaced.
    pub replaced: bool,
}

static UPLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The prefix of in-flight upload files; listings hide them (and all dot files).
pub const TEMP_PREFIX: &str = ".upload-";

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
        Ok(FileRoot {
            root,
            dir: Arc::new(dir),
            containment,
        })
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
                Err(Errno::XDEV) => self.open_read_back(name)?,
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

    /// The target's parent directory, real and inside the root.
    fn checked_parent(&self, name: &FileName) -> Result<PathBuf, FileError> {
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
        if name.is_dir || name.relative.as_os_str().is_empty() {
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
        let mut file = &temp.file;
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
        temp.file.sync_all()?;
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
}

/// Serialises the last step of every upload (see `FileRoot::store`).
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

/// An upload in progress; removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    fn create(dir: &Path) -> io::Result<TempFile> {
        // created and recorded under one lock, so that a shutdown's clean-up misses none
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let Some(in_flight) = in_flight.as_mut() else {
            return Err(io::Error::other("the server is shutting down"));
        };
        loop {
            let n = UPLOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{TEMP_PREFIX}{}-{n}.tmp", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
            {
                Ok(file) => {
                    in_flight.push(path.clone());
                    return Ok(TempFile {
                        path,
                        file,
                        persisted: false,
                    });
                }
                // left by an earlier process with our pid; pick the next number
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn persist(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(in_flight) = in_flight.as_mut()
            && let Some(i) = in_flight.iter().position(|p| *p == self.path)
        {
            in_flight.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let ok = |s: &str, rel: &str, is_dir: bool| {
            assert_eq!(
                resolve_name(s).unwrap(),
                FileName {
                    relative: PathBuf::from(rel),
                    is_dir
                },
                "{s}"
            );
        };
        ok("a.txt", "a.txt", false);
        ok("sub/a.txt", "sub/a.txt", false);
        ok("hello%20world", "hello world", false);
        ok("caf%C3%A9", "café", false);
        ok("", "", true);
        ok("sub/", "sub", true);
        ok("..a", "..a", false);
        for bad in [
            "../x",
            "..%2fx",
            "..%2Fx",
            "sub%2F",
            "sub%2fa.txt",
            "%2e%2e/x",
            "%2e%2e%2fx",
            "/etc/passwd",
            "//etc/passwd",
            "sub/../../x",
            "..\\x",
            "..%5cx",
            "a%00b",
            "%00",
            ".",
            "..",
            "./a",
            "a//b",
            "a/./b",
            "a/..",
            "%",
            "%2",
            "%zz",
            "%ff",
            "/",
            "a%0Ab",
            "a%0d",
            "%7f",
            "a%09b",
        ] {
            assert!(
                matches!(resolve_name(bad), Err(FileError::BadName)),
                "{bad:?} accepted"
            );
        }
        for reserved in [".upload-1-0.tmp", "sub/.upload-x", ".upload-/a"] {
            assert!(
                matches!(resolve_name(reserved), Err(FileError::Reserved)),
                "{reserved:?} accepted"
            );
        }
        ok(".upload", ".upload", false);
        ok("x.upload-1", "x.upload-1", false);
    }

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

    /// What `open` makes of each name: the file's content, or the error's status.
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
                    .map_err(|e| e.status().code());
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
