//! Whole directories, from descriptors: the entries of one (`getdents` on its descriptor, as
//! `fdopendir` would), a bounded depth-first walk that never follows a symlink and opens each
//! sub-directory relative to its parent with `O_NOFOLLOW` (so it cannot leave the root), and
//! the recursive remove and copy built on the same steps, each reporting every entry it could
//! not handle instead of stopping at the first.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Dir as RawDir, FileType, Mode, OFlags};

use super::{Dir, FsError, Kind, Meta, Result, Root, segment};

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    /// From the directory entry itself where the file system says (`d_type`), else `lstat`.
    pub kind: Kind,
}

/// The entries of a directory, `.` and `..` left out, in the order the file system gives.
/// It reads through a descriptor of its own, so its position is shared with no other reader.
pub struct Entries {
    raw: RawDir,
}

impl Iterator for Entries {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            let entry = match self.raw.next()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e.into())),
            };
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => match self
                    .raw
                    .fd()
                    .map_err(FsError::from)
                    .and_then(|fd| Meta::at(fd, name))
                {
                    Ok(meta) => meta.kind,
                    // gone since it was read
                    Err(FsError::NotFound) => continue,
                    Err(e) => return Some(Err(e)),
                },
                known => Kind::of(known),
            };
            return Some(Ok(Entry {
                name: name.to_owned(),
                kind,
            }));
        }
    }
}

impl Dir {
    /// The entries of this directory.
    pub fn entries(&self) -> Result<Entries> {
        Ok(Entries {
            raw: RawDir::read_from(self)?,
        })
    }
}

/// Bounds on a walk, a remove or a copy of a tree.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// Levels below the start; the start's own entries are depth 1. Each level holds one
    /// descriptor while the walk is in it.
    pub max_depth: usize,
    /// Entries visited (or removed, or copied) before the walk stops.
    pub max_entries: u64,
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    Continue,
    /// Do not enter this directory.
    Skip,
    Stop,
}

/// An entry met by `Root::walk`.
pub struct Visited<'a> {
    /// The name relative to the walk's start.
    pub rel: &'a Path,
    pub depth: usize,
    pub kind: Kind,
    /// The directory holding it, to `lstat` or open it by `name` without resolving again.
    pub dir: &'a Dir,
    pub name: &'a OsStr,
}

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    Complete,
    /// The visitor said `Stop`.
    Stopped,
    /// `max_entries` reached.
    TooMany,
    /// Some directories at `max_depth` were not entered.
    TooDeep,
}

/// An entry a remove or copy could not handle, relative to its start.
#[derive(Debug)]
pub struct Failure {
    pub rel: PathBuf,
    pub error: FsError,
}

/// What `remove_tree` did.
#[derive(Debug, Default)]
pub struct RemoveReport {
    pub removed: u64,
    /// The entries that could not be removed; not their ancestors, which then could not be
    /// either (RFC 4918 §9.6.1 wants only the members that failed named).
    pub failed: Vec<Failure>,
}

/// What `copy_tree` did.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub copied: u64,
    pub failed: Vec<Failure>,
}

/// A directory being walked: its handle, its entries and its name relative to the start.
struct Frame {
    dir: Dir,
    entries: Entries,
    rel: PathBuf,
}

impl Frame {
    fn new(dir: Dir, rel: PathBuf) -> Result<Frame> {
        let entries = dir.entries()?;
        Ok(Frame { dir, entries, rel })
    }
}

impl Root {
    /// Visits everything under the directory `rel` (followed), depth first, a directory before
    /// its entries; symlinks are reported (kind `Symlink`) and never entered, and every
    /// sub-directory is opened from its parent with `O_NOFOLLOW`, so the walk cannot leave
    /// the root however the tree changes meanwhile. The start itself is not visited. An error
    /// reading or opening a directory ends the walk with that error.
    pub fn walk(
        &self,
        rel: &Path,
        limits: WalkLimits,
        visit: &mut dyn FnMut(&Visited<'_>) -> Visit,
    ) -> Result<WalkEnd> {
        let mut stack = vec![Frame::new(self.open_dir(rel)?, PathBuf::new())?];
        let mut end = WalkEnd::Complete;
        let mut seen = 0;
        while let Some(frame) = stack.last_mut() {
            let Some(entry) = frame.entries.next() else {
                stack.pop();
                continue;
            };
            let entry = entry?;
            seen += 1;
            if seen > limits.max_entries {
                return Ok(WalkEnd::TooMany);
            }
            let rel = frame.rel.join(&entry.name);
            let depth = stack.len();
            let frame = stack.last().expect("the frame just read from");
            let visited = Visited {
                rel: &rel,
                depth,
                kind: entry.kind,
                dir: &frame.dir,
                name: &entry.name,
            };
            match visit(&visited) {
                Visit::Stop => return Ok(WalkEnd::Stopped),
                Visit::Skip => continue,
                Visit::Continue if entry.kind != Kind::Dir => continue,
                Visit::Continue if depth >= limits.max_depth => {
                    end = WalkEnd::TooDeep;
                    continue;
                }
                Visit::Continue => {}
            }
            let sub = frame.dir.open_subdir(&entry.name)?;
            stack.push(Frame::new(sub, rel)?);
        }
        Ok(end)
    }
}

/// The most failures a report lists; the rest are left out (the tree is still processed).
const MAX_REPORTED: usize = 1000;

pub(super) fn record(failed: &mut Vec<Failure>, rel: PathBuf, error: FsError) {
    if failed.len() < MAX_REPORTED {
        failed.push(Failure { rel, error });
    }
}

impl Dir {
    /// Removes `name` here and, if it is a directory, everything in it, depth first, going on
    /// past failures. A symlink is removed, never followed. `Err` only when `name` itself
    /// cannot be looked at; the report names each entry that could not be removed, relative
    /// to this directory (so `name` itself when only it failed). `max_depth` bounds the
    /// recursion: keep it modest (a level costs a few hundred bytes of stack and a descriptor).
    pub fn remove_tree(&self, name: &OsStr, limits: WalkLimits) -> Result<RemoveReport> {
        let name = segment(name)?;
        let mut report = RemoveReport::default();
        let kind = self.lstat(name)?.kind;
        let mut removal = Removal {
            limits,
            seen: 0,
            report: &mut report,
        };
        removal.entry(self, name, kind, Path::new(""), 0);
        Ok(report)
    }
}

struct Removal<'r> {
    limits: WalkLimits,
    seen: u64,
    report: &'r mut RemoveReport,
}

impl Removal<'_> {
    /// Removes one entry of `dir` (a whole directory included); false if anything was left.
    fn entry(&mut self, dir: &Dir, name: &OsStr, kind: Kind, rel: &Path, depth: usize) -> bool {
        let rel = rel.join(name);
        self.seen += 1;
        let removed = if self.seen > self.limits.max_entries {
            Err(FsError::TooDeep)
        } else if kind != Kind::Dir {
            dir.remove_file(name)
        } else if depth >= self.limits.max_depth {
            Err(FsError::TooDeep)
        } else {
            match dir.open_subdir(name) {
                Ok(sub) if !self.inside(&sub, &rel, depth + 1) => return false,
                Ok(_) => dir.remove_dir(name),
                Err(e) => Err(e),
            }
        };
        match removed {
            Ok(()) => {
                self.report.removed += 1;
                true
            }
            Err(e) => {
                record(&mut self.report.failed, rel, e);
                false
            }
        }
    }

    /// Empties `dir`; false if anything was left.
    fn inside(&mut self, dir: &Dir, rel: &Path, depth: usize) -> bool {
        let entries = match dir.entries() {
            Ok(entries) => entries,
            Err(e) => {
                record(&mut self.report.failed, rel.to_owned(), e);
                return false;
            }
        };
        let mut clean = true;
        for entry in entries {
            match entry {
                Ok(entry) => clean &= self.entry(dir, &entry.name, entry.kind, rel, depth),
                Err(e) => {
                    record(&mut self.report.failed, rel.to_owned(), e);
                    return false;
                }
            }
        }
        clean
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::super::fixture::tree;
    use super::*;

    const LIMITS: WalkLimits = WalkLimits {
        max_depth: 16,
        max_entries: 10_000,
    };

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// Every name under `dir`, by `std`'s own walk, with `/` after directories.
    fn listing(dir: &Path) -> Vec<String> {
        fn go(dir: &Path, rel: &str, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = format!("{rel}{}", e.file_name().to_str().unwrap());
                if e.file_type().unwrap().is_dir() {
                    out.push(format!("{name}/"));
                    go(&e.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
        let mut out = Vec::new();
        go(dir, "", &mut out);
        sorted(out)
    }

    #[test]
    fn entries_come_from_the_descriptor() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();
        let got: Vec<String> = sub
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!("{}:{:?}", e.name.to_str().unwrap(), e.kind)
            })
            .collect();
        assert_eq!(
            sorted(got),
            [
                "b.txt:File",
                "deeper:Dir",
                "up-in:Symlink",
                "up-out:Symlink"
            ]
        );
        // the directory is listed through its descriptor: renaming it away changes nothing
        fs::rename(tree.root.join("sub"), tree.base.path().join("moved")).unwrap();
        assert_eq!(sub.entries().unwrap().count(), 4);
    }

    #[test]
    fn the_walk_is_bounded_and_never_enters_links() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let mut seen = Vec::new();
        let end = root
            .walk(Path::new(""), LIMITS, &mut |v| {
                seen.push(format!("{}@{}", v.rel.display(), v.depth));
                assert_eq!(v.dir.lstat(v.name).unwrap().kind, v.kind);
                Visit::Continue
            })
            .unwrap();
        assert_eq!(end, WalkEnd::Complete);
        // the symlinked directories (dir-in, dir-out, ...) are reported, never entered
        assert!(seen.contains(&"dir-out@1".to_owned()));
        assert!(seen.contains(&"sub/deeper/c.txt@3".to_owned()));
        assert!(
            !seen
                .iter()
                .any(|s| s.contains("secret") || s.starts_with("dir-in/"))
        );
        let parent_first = |a: &str, b: &str| {
            seen.iter().position(|s| s == a).unwrap() < seen.iter().position(|s| s == b).unwrap()
        };
        assert!(
            parent_first("sub@1", "sub/deeper@2")
                && parent_first("sub/deeper@2", "sub/deeper/c.txt@3")
        );
        let total = seen.len() as u64;

        let shallow = WalkLimits {
            max_depth: 1,
            ..LIMITS
        };
        let mut count = 0;
        assert_eq!(
            root.walk(Path::new(""), shallow, &mut |_| {
                count += 1;
                Visit::Continue
            })
            .unwrap(),
            WalkEnd::TooDeep
        );
        assert!(count < total);
        let few = WalkLimits {
            max_entries: 3,
            ..LIMITS
        };
        assert_eq!(
            root.walk(Path::new(""), few, &mut |_| Visit::Continue)
                .unwrap(),
            WalkEnd::TooMany
        );
        assert_eq!(
            root.walk(Path::new(""), LIMITS, &mut |_| Visit::Stop)
                .unwrap(),
            WalkEnd::Stopped
        );
        let mut skipped = Vec::new();
        root.walk(Path::new(""), LIMITS, &mut |v| {
            skipped.push(v.rel.to_owned());
            if v.name == "sub" {
                Visit::Skip
            } else {
                Visit::Continue
            }
        })
        .unwrap();
        assert!(skipped.iter().any(|p| p == Path::new("sub")));
        assert!(
            !skipped
                .iter()
                .any(|p| p.starts_with("sub") && p != Path::new("sub"))
        );
        // a start through a link inside is fine, one outside is refused
        assert!(
            root.walk(Path::new("dir-in"), LIMITS, &mut |_| Visit::Continue)
                .is_ok()
        );
        assert!(matches!(
            root.walk(Path::new("dir-out"), LIMITS, &mut |_| Visit::Continue),
            Err(FsError::Outside)
        ));
    }

    #[test]
    fn remove_tree_removes_links_not_their_targets() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        symlink(&tree.outside, tree.root.join("sub/deeper/out")).unwrap();
        let report = top.remove_tree(OsStr::new("sub"), LIMITS).unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        // sub, deeper, b.txt, c.txt, up-in, up-out, out
        assert_eq!(report.removed, 7);
        assert!(!tree.root.join("sub").exists());
        assert_eq!(listing(&tree.outside), ["secret"]);
        // a file or a link is removed alone
        assert_eq!(
            top.remove_tree(OsStr::new("dir-out"), LIMITS)
                .unwrap()
                .removed,
            1
        );
        assert_eq!(listing(&tree.outside), ["secret"]);
        assert!(matches!(
            top.remove_tree(OsStr::new("missing"), LIMITS),
            Err(FsError::NotFound)
        ));
    }

    #[test]
    fn remove_tree_names_what_it_left_and_not_its_ancestors() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        fs::create_dir_all(tree.root.join("t/a/b/c")).unwrap();
        fs::write(tree.root.join("t/a/b/c/deep.txt"), "d").unwrap();
        fs::write(tree.root.join("t/a/shallow.txt"), "s").unwrap();
        fs::create_dir(tree.root.join("t/other")).unwrap();
        let limits = WalkLimits {
            max_depth: 2,
            ..LIMITS
        };
        let report = top.remove_tree(OsStr::new("t"), limits).unwrap();
        let failed: Vec<String> = report
            .failed
            .iter()
            .map(|f| format!("{}:{:?}", f.rel.display(), f.error))
            .collect();
        // `t/a/b` is beyond the depth: it is named, `t/a` and `t` (left non-empty) are not
        assert_eq!(failed, ["t/a/b:TooDeep"]);
        assert_eq!(
            listing(&tree.root.join("t")),
            ["a/", "a/b/", "a/b/c/", "a/b/c/deep.txt"]
        );
        assert_eq!(report.removed, 2, "shallow.txt and other/");
    }
}
