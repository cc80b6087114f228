//! From a relative name to a descriptor, without leaving the root. The kernel does it where it
//! can: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` refuses any escape during the
//! open itself. It also refuses what may well stay inside (an absolute symlink to a file under
//! the root), and older kernels lack it; both take the walk (`resolve`): one component at a
//! time from the root's descriptor, each opened with `O_NOFOLLOW` relative to the one before,
//! symlinks read (`readlinkat` on the link's own descriptor) and spliced into the components
//! still to go, `..` popping our own stack of opened directories, so it can never climb above
//! the root. Either way nothing is resolved from a path string twice.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{Containment, Dir, FsError, Kind, Leaf, Meta, Node, Result, Root, segment};

/// Linux's own limit on symlinks followed in one resolution (`MAXSYMLINKS`).
const MAX_SYMLINKS: u32 = 40;

/// `openat2` answers EAGAIN when a rename raced a `..` step; it is retried this often before
/// the walk takes over.
const RACE_RETRIES: u32 = 3;

/// Where a walk stops.
enum Want {
    /// Open the final component (followed) with these flags.
    Open(OFlags),
    /// Stop before the final component: its directory and its name, not followed.
    Parent,
    /// As `Parent`, but a final symlink is followed to the name it points at.
    ParentThrough,
}

enum Reached {
    Fd(OwnedFd),
    Leaf(OwnedFd, OsString),
}

/// The segments of a relative name; anything but normal segments is refused.
fn segments(rel: &Path) -> Result<VecDeque<OsString>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(s) => segment(s).map(OsStr::to_owned),
            _ => Err(FsError::InvalidName),
        })
        .collect()
}

impl Root {
    /// Opens `rel` (followed, symlinks inside the root allowed) with `flags`; `O_CLOEXEC` is
    /// always added. An empty name is the root itself.
    fn open_at(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd> {
        let flags = flags | OFlags::CLOEXEC;
        let queue = segments(rel)?;
        if self.inner.containment == Containment::Kernel {
            let target: &Path = if queue.is_empty() {
                Path::new(".")
            } else {
                rel
            };
            if let Some(fd) = self.beneath(target, flags)? {
                return Ok(fd);
            }
        }
        match self.resolve(queue, Want::Open(flags))? {
            Reached::Fd(fd) => Ok(fd),
            Reached::Leaf(..) => unreachable!("Want::Open reaches a descriptor"),
        }
    }

    /// `openat2` beneath the root; `None` where the walk must decide instead: an absolute
    /// symlink or an attempted escape (`EXDEV`), a magic link (`ELOOP`), or a rename racing
    /// the lookup (`EAGAIN`, after retries).
    fn beneath(&self, rel: &Path, flags: OFlags) -> Result<Option<OwnedFd>> {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..RACE_RETRIES {
            match rustix::fs::openat2(self.fd(), rel, flags, Mode::empty(), resolve) {
                Ok(fd) => return Ok(Some(fd)),
                Err(Errno::AGAIN) => continue,
                Err(Errno::XDEV | Errno::LOOP) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Opens the directory `rel` (followed).
    pub fn open_dir(&self, rel: &Path) -> Result<Dir> {
        Ok(Dir::from_fd(
            self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY)?,
        ))
    }

    /// Opens the file `rel` (followed) for reading, with its metadata. A directory is
    /// `IsADirectory`; a FIFO, socket or device is `NotFound` (opened non-blocking and without
    /// becoming our terminal, so looking at one has no effect).
    pub fn open_file(&self, rel: &Path) -> Result<(File, Meta)> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let file = File::from(self.open_at(rel, flags)?);
        let meta = Meta::of(&file)?;
        match meta.kind {
            Kind::File => Ok((file, meta)),
            Kind::Dir => Err(FsError::IsADirectory),
            _ => Err(FsError::NotFound),
        }
    }

    /// The metadata of `rel`, symlinks followed (inside the root only).
    pub fn stat(&self, rel: &Path) -> Result<Meta> {
        Meta::of(self.open_at(rel, OFlags::PATH)?)
    }

    /// The directory `rel` lives in, opened (followed), and its last segment (not followed):
    /// where a rename, unlink or mkdir of `rel` acts. The root itself has no leaf.
    pub fn leaf(&self, rel: &Path) -> Result<Leaf> {
        let mut queue = segments(rel)?;
        let name = queue.pop_back().ok_or(FsError::InvalidName)?;
        let dir = match (self.inner.containment, rel.parent()) {
            (Containment::Kernel, Some(parent)) => {
                let target = if queue.is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                self.beneath(target, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)?
            }
            _ => None,
        };
        let dir = match dir {
            Some(fd) => fd,
            None => {
                queue.push_back(name.clone());
                match self.resolve(queue, Want::Parent)? {
                    Reached::Leaf(fd, _) => fd,
                    Reached::Fd(_) => unreachable!("Want::Parent reaches a leaf"),
                }
            }
        };
        Ok(Leaf {
            dir: Dir::from_fd(dir),
            name,
        })
    }

    /// Like `leaf`, but a final symlink is followed to the name it points at (which need not
    /// exist, but must lie inside the root): where a write *through* a link lands.
    pub fn leaf_through(&self, rel: &Path) -> Result<Leaf> {
        let leaf = self.leaf(rel)?;
        match leaf.dir.lstat(&leaf.name) {
            Ok(meta) if meta.kind == Kind::Symlink => {}
            Ok(_) | Err(FsError::NotFound) => return Ok(leaf),
            Err(e) => return Err(e),
        }
        // a link's `..` is relative to where it lies: only the walk's stack knows that
        match self.resolve(segments(rel)?, Want::ParentThrough)? {
            Reached::Leaf(dir, name) => Ok(Leaf {
                dir: Dir::from_fd(dir),
                name,
            }),
            Reached::Fd(_) => unreachable!("Want::ParentThrough reaches a leaf"),
        }
    }

    /// The walk: components from the root, each relative to the descriptor before it.
    fn resolve(&self, mut queue: VecDeque<OsString>, want: Want) -> Result<Reached> {
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut links = 0;
        loop {
            let parent = stack.last().map_or(self.fd(), AsFd::as_fd);
            let Some(name) = queue.pop_front() else {
                return match want {
                    Want::Open(flags) => Ok(Reached::Fd(rustix::fs::openat(
                        parent,
                        ".",
                        flags,
                        Mode::empty(),
                    )?)),
                    // the name ended on a directory (`a/..` after a link): it has no leaf
                    Want::Parent | Want::ParentThrough => Err(FsError::InvalidName),
                };
            };
            match name.as_bytes() {
                b".." => {
                    stack.pop().ok_or(FsError::Outside)?;
                    continue;
                }
                b"." | b"" => continue,
                _ => {}
            }
            let last = queue.is_empty();
            let link = match (last, &want) {
                (true, Want::Parent) => return leaf_of(self, stack, name),
                (true, Want::ParentThrough) => match Meta::at(parent, &name) {
                    Ok(meta) if meta.kind == Kind::Symlink => read_link(parent, &name)?,
                    Ok(_) | Err(FsError::NotFound) => return leaf_of(self, stack, name),
                    Err(e) => return Err(e),
                },
                (true, Want::Open(flags)) => {
                    match rustix::fs::openat(
                        parent,
                        &name,
                        *flags | OFlags::NOFOLLOW,
                        Mode::empty(),
                    ) {
                        Ok(fd) if !flags.contains(OFlags::PATH) => return Ok(Reached::Fd(fd)),
                        Ok(fd) => match Meta::of(&fd)?.kind {
                            // O_PATH | O_NOFOLLOW opens a symlink itself
                            Kind::Symlink => read_link(fd.as_fd(), OsStr::new(""))?,
                            _ => return Ok(Reached::Fd(fd)),
                        },
                        // O_NOFOLLOW met a symlink (ELOOP; ENOTDIR with O_DIRECTORY)
                        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                            match Meta::at(parent, &name)?.kind {
                                Kind::Symlink => read_link(parent, &name)?,
                                // swapped for a directory since the open: look again
                                Kind::Dir if flags.contains(OFlags::DIRECTORY) => Vec::new(),
                                _ => return Err(e.into()),
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                (false, _) => {
                    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let fd = rustix::fs::openat(parent, &name, flags, Mode::empty())?;
                    match Meta::of(&fd)?.kind {
                        Kind::Dir => {
                            stack.push(fd);
                            continue;
                        }
                        Kind::Symlink => read_link(fd.as_fd(), OsStr::new(""))?,
                        _ => return Err(FsError::NotADirectory),
                    }
                }
            };
            // a retry counts as a link, so that a name swapped without end still ends
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(FsError::TooManyLinks);
            }
            if link.is_empty() {
                // it was no longer a symlink when read (renamed meanwhile): this name again
                queue.push_front(name);
                continue;
            }
            self.splice(&link, &mut queue, &mut stack)?;
        }
    }

    /// Puts a symlink's target in front of the components still to go. An absolute target
    /// counts only if it names a place under the root's path; the walk then restarts there.
    fn splice(
        &self,
        target: &[u8],
        queue: &mut VecDeque<OsString>,
        stack: &mut Vec<OwnedFd>,
    ) -> Result<()> {
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        let target = Path::new(OsStr::from_bytes(target));
        let rest = if target.is_absolute() {
            let rest = target
                .strip_prefix(&self.inner.path)
                .map_err(|_| FsError::Outside)?;
            stack.clear();
            rest
        } else {
            target
        };
        let mut parts = Vec::new();
        for c in rest.components() {
            parts.push(match c {
                Component::Normal(s) => s.to_owned(),
                Component::ParentDir => OsString::from(".."),
                Component::CurDir => continue,
                Component::RootDir | Component::Prefix(_) => return Err(FsError::Outside),
            });
        }
        for part in parts.into_iter().rev() {
            queue.push_front(part);
        }
        Ok(())
    }

    /// Opens `rel` (followed) as a file or directory, for extended attributes; the root itself
    /// for an empty name. Anything else is `NotFound`.
    pub fn open_entry(&self, rel: &Path) -> Result<Node> {
        if rel.as_os_str().is_empty() {
            return Ok(Node::Dir(self.open_dir(rel)?));
        }
        let leaf = self.leaf_through(rel)?;
        leaf.dir.open_entry(&leaf.name)
    }
}

/// The leaf `name` in the directory on top of the walk's stack (the root when it is empty).
/// The walk holds `O_PATH` descriptors; a `Dir` must be readable (listing, `fsync`).
fn leaf_of(root: &Root, stack: Vec<OwnedFd>, name: OsString) -> Result<Reached> {
    let top = stack.last().map_or(root.fd(), AsFd::as_fd);
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::openat(top, ".", flags, Mode::empty())?;
    Ok(Reached::Leaf(dir, name))
}

/// The target of the symlink `name` in `dir` (or of `dir` itself, an `O_PATH` descriptor of a
/// link, for an empty name).
/// Empty when it is no longer a symlink (`EINVAL`: swapped since it was looked at); Linux
/// makes no symlink with an empty target.
fn read_link(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Vec<u8>> {
    match rustix::fs::readlinkat(dir, name, Vec::new()) {
        Ok(target) => Ok(OsString::from_vec(target.into_bytes()).into_vec()),
        Err(Errno::INVAL) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::fixture::{roots, tree};
    use super::*;

    /// A short name for an outcome: the content read, or the error's variant.
    fn outcome<T>(r: Result<T>, ok: impl FnOnce(T) -> String) -> String {
        match r {
            Ok(v) => ok(v),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn open_file_keeps_to_the_root_in_both_modes() {
        let tree = tree();
        let table = [
            ("a.txt", "a"),
            ("sub/b.txt", "b"),
            ("sub/deeper/c.txt", "c"),
            ("relative-in", "a"),
            ("absolute-in", "a"),
            ("sub/up-in", "a"),
            ("dir-in/b.txt", "b"),
            ("absolute-dir-in/b.txt", "b"),
            ("winding-in/c.txt", "c"),
            ("relative-out", "Outside"),
            ("absolute-out", "Outside"),
            ("dir-out/secret", "Outside"),
            ("sub/up-out", "Outside"),
            ("magic-out", "Outside"),
            ("dangling-in", "NotFound"),
            ("loop-a", "TooManyLinks"),
            ("fifo", "NotFound"),
            ("sub", "IsADirectory"),
            ("missing", "NotFound"),
            ("a.txt/x", "NotADirectory"),
            ("../root/a.txt", "InvalidName"),
            ("/etc/passwd", "InvalidName"),
            ("./a.txt", "InvalidName"),
        ];
        for (mode, root) in roots(&tree) {
            for (name, want) in table {
                let got = outcome(root.open_file(Path::new(name)), |(mut f, _)| {
                    let mut s = String::new();
                    f.read_to_string(&mut s).unwrap();
                    s
                });
                assert_eq!(got, want, "{mode}: {name}");
            }
        }
    }

    #[test]
    fn directories_and_stat_follow_links_inside_only() {
        let tree = tree();
        for (mode, root) in roots(&tree) {
            for (name, want) in [
                ("", "Dir"),
                ("sub", "Dir"),
                ("dir-in", "Dir"),
                ("absolute-dir-in", "Dir"),
                ("winding-in", "Dir"),
                ("dir-out", "Outside"),
                ("a.txt", "NotADirectory"),
            ] {
                let got = outcome(root.open_dir(Path::new(name)), |d| {
                    format!("{:?}", d.meta().unwrap().kind)
                });
                assert_eq!(got, want, "{mode}: open_dir {name}");
            }
            for (name, want) in [
                ("relative-in", "File"),
                ("dir-in", "Dir"),
                ("absolute-out", "Outside"),
            ] {
                let got = outcome(root.stat(Path::new(name)), |m| format!("{:?}", m.kind));
                assert_eq!(got, want, "{mode}: stat {name}");
            }
        }
    }

    /// The directory a leaf lies in, by its name relative to the root.
    fn where_is(root: &Root, leaf: &Leaf) -> String {
        let meta = leaf.dir.meta().unwrap();
        for dir in ["", "sub", "sub/deeper"] {
            let m = root.stat(Path::new(dir)).unwrap();
            if (m.dev, m.ino) == (meta.dev, meta.ino) {
                return format!("{dir}:{}", leaf.name.to_str().unwrap());
            }
        }
        panic!("leaf outside the expected directories")
    }

    #[test]
    fn leaves_stop_before_the_last_name_or_follow_it() {
        let tree = tree();
        for (mode, root) in roots(&tree) {
            for (name, not_followed, followed) in [
                ("a.txt", ":a.txt", ":a.txt"),
                ("sub/b.txt", "sub:b.txt", "sub:b.txt"),
                ("new-file", ":new-file", ":new-file"),
                ("dir-in/new", "sub:new", "sub:new"),
                ("relative-in", ":relative-in", ":a.txt"),
                ("absolute-in", ":absolute-in", ":a.txt"),
                ("sub/up-in", "sub:up-in", ":a.txt"),
                ("dangling-in", ":dangling-in", ":missing-target"),
                ("winding-in/c.txt", "sub/deeper:c.txt", "sub/deeper:c.txt"),
                ("relative-out", ":relative-out", "Outside"),
                ("dangling-out", ":dangling-out", "Outside"),
                ("sub/up-out", "sub:up-out", "Outside"),
                ("magic-out", ":magic-out", "Outside"),
                ("loop-a", ":loop-a", "TooManyLinks"),
                ("dir-out/secret", "Outside", "Outside"),
                ("missing/x", "NotFound", "NotFound"),
                ("", "InvalidName", "InvalidName"),
            ] {
                let path = Path::new(name);
                let got = outcome(root.leaf(path), |l| where_is(&root, &l));
                assert_eq!(got, not_followed, "{mode}: leaf {name}");
                let got = outcome(root.leaf_through(path), |l| where_is(&root, &l));
                assert_eq!(got, followed, "{mode}: leaf_through {name}");
            }
        }
    }

    #[test]
    fn entries_open_as_files_or_directories_only() {
        let tree = tree();
        for (mode, root) in roots(&tree) {
            for (name, want) in [
                ("", "Dir"),
                ("a.txt", "File"),
                ("sub", "Dir"),
                ("relative-in", "File"),
                ("dir-in", "Dir"),
                ("fifo", "NotFound"),
                ("absolute-out", "Outside"),
            ] {
                let got = outcome(root.open_entry(Path::new(name)), |n| match n {
                    Node::File(_) => "File".to_owned(),
                    Node::Dir(_) => "Dir".to_owned(),
                });
                assert_eq!(got, want, "{mode}: open_entry {name}");
            }
        }
    }

    #[test]
    fn the_kernel_does_the_containment_where_it_can() {
        // openat2 arrived in Linux 5.6: there the walk is only a fallback
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = numbers.next().unwrap().parse().unwrap();
        let minor: u32 = numbers.next().unwrap().parse().unwrap();
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        if (major, minor) >= (5, 6) {
            assert_eq!(root.inner.containment, Containment::Kernel, "{release}");
        }
        // the kernel refuses the escape itself; the walk then confirms it
        if root.inner.containment == Containment::Kernel {
            let flags = OFlags::RDONLY | OFlags::CLOEXEC;
            assert!(
                root.beneath(Path::new("relative-out"), flags)
                    .unwrap()
                    .is_none()
            );
            assert!(root.beneath(Path::new("a.txt"), flags).unwrap().is_some());
        }
    }
}
