//! The copy of a whole directory, for WebDAV `COPY` with `Depth: infinity` and for a `MOVE`
//! across file systems: built under a temporary name next to its destination from descriptors
//! alone (each source directory opened from its parent with `O_NOFOLLOW`), then renamed into
//! place, so that no reader sees half a tree.

use std::ffi::OsStr;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::tree::record;
use super::write::{copy_contents, temp_name};
use super::{
    CopyOptions, CopyReport, Dir, Entry, FsError, Kind, Result, WalkLimits, segment, xattr,
};

impl Dir {
    /// Copies the directory `name` here (not followed) and everything in it to `to_name` in
    /// `to`. The copy is built under a temporary name in `to` and renamed into place at the
    /// end (`options.replace` decides about an entry already there, which for a directory
    /// works only if it is empty: remove the destination first for `Overwrite: T`), so no
    /// reader sees a half-made tree and a crash leaves only a temporary. Files are copied as
    /// by `copy_file` (each synced before the rename), symlinks recreated as they are,
    /// FIFOs, sockets and devices skipped as failures. A regular file `name` is copied with
    /// `copy_file`. `Err` when the copy cannot start or cannot be put in place; failures of
    /// members are in the report, relative to `name`.
    pub fn copy_tree(
        &self,
        name: &OsStr,
        to: &Dir,
        to_name: &OsStr,
        options: &CopyOptions,
        limits: WalkLimits,
    ) -> Result<CopyReport> {
        let (name, to_name) = (segment(name)?, segment(to_name)?);
        let mut report = CopyReport::default();
        if self.lstat(name)?.kind != Kind::Dir {
            self.copy_file(name, to, to_name, options)?;
            report.copied = 1;
            return Ok(report);
        }
        let source = self.open_subdir(name)?;
        let temp = temp_name(options.temp_prefix, "dir");
        to.mkdir(&temp, 0o755)?;
        let built = to.open_subdir(&temp).and_then(|dest| {
            let mut copy = Copy {
                options,
                limits,
                seen: 0,
                temp: (dest.meta()?.dev, dest.meta()?.ino),
                report: &mut report,
            };
            copy.attributes(&source, &dest)?;
            copy.inside(&source, &dest, Path::new(""), 1);
            dest.sync()?;
            to.rename(&temp, to, to_name, options.replace)
        });
        if let Err(e) = built {
            let _ = to.remove_tree(&temp, limits);
            return Err(e);
        }
        to.sync()?;
        Ok(report)
    }
}

struct Copy<'c> {
    options: &'c CopyOptions,
    limits: WalkLimits,
    seen: u64,
    /// The copy being built: skipped if met in the source (a copy into itself).
    temp: (u64, u64),
    report: &'c mut CopyReport,
}

impl Copy<'_> {
    /// A directory's permission bits and, as asked, its extended attributes.
    fn attributes(&self, source: &Dir, dest: &Dir) -> Result<()> {
        rustix::fs::fchmod(dest, Mode::from_raw_mode(source.meta()?.mode & 0o777))?;
        if self.options.xattrs {
            xattr::copy_xattrs(source, dest)?;
        }
        Ok(())
    }

    fn inside(&mut self, source: &Dir, dest: &Dir, rel: &Path, depth: usize) {
        let entries = match source.entries() {
            Ok(entries) => entries,
            Err(e) => return record(&mut self.report.failed, rel.to_owned(), e),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return record(&mut self.report.failed, rel.to_owned(), e),
            };
            let child = rel.join(&entry.name);
            self.seen += 1;
            let copied = if self.seen > self.limits.max_entries {
                Err(FsError::TooDeep)
            } else {
                self.entry(source, dest, &entry, &child, depth)
            };
            match copied {
                Ok(true) => self.report.copied += 1,
                Ok(false) => {}
                Err(e) => record(&mut self.report.failed, child, e),
            }
        }
    }

    /// Copies one entry; `Ok(false)` when it was the copy itself, skipped.
    fn entry(
        &mut self,
        source: &Dir,
        dest: &Dir,
        entry: &Entry,
        rel: &Path,
        depth: usize,
    ) -> Result<bool> {
        let name = entry.name.as_os_str();
        match entry.kind {
            Kind::File => {
                let from = source.open_file(name)?;
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let to = std::fs::File::from(rustix::fs::openat(
                    dest,
                    name,
                    flags,
                    Mode::from_raw_mode(0o644),
                )?);
                copy_contents(&from, &to, self.options)?;
                to.sync_all()?;
            }
            Kind::Symlink => {
                let target = rustix::fs::readlinkat(source, name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dest, name)?;
            }
            Kind::Dir if depth >= self.limits.max_depth => return Err(FsError::TooDeep),
            Kind::Dir => {
                let from = source.open_subdir(name)?;
                let meta = from.meta()?;
                if (meta.dev, meta.ino) == self.temp {
                    return Ok(false);
                }
                dest.mkdir(name, 0o755)?;
                let to = dest.open_subdir(name)?;
                self.attributes(&from, &to)?;
                self.inside(&from, &to, rel, depth + 1);
                to.sync()?;
            }
            Kind::Other => return Err(FsError::Unsupported),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::super::fixture::tree;
    use super::super::{Replace, Root, SetXattr, xattr_get, xattr_set};
    use super::*;

    const LIMITS: WalkLimits = WalkLimits {
        max_depth: 16,
        max_entries: 10_000,
    };

    /// Every name under `dir`, sorted, with `/` after directories (symlinks not followed).
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
        out.sort();
        out
    }

    #[test]
    fn copy_tree_builds_aside_then_lands_in_one_rename() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();
        let xattrs = xattr_set(&sub, "user.dav.p", b"dir prop", SetXattr::Either).is_ok();
        let options = CopyOptions::new(".upload-");
        let report = top
            .copy_tree(
                OsStr::new("sub"),
                &top,
                OsStr::new("copy"),
                &options,
                LIMITS,
            )
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!(
            report.copied, 5,
            "b.txt, deeper/, deeper/c.txt, up-in, up-out"
        );
        assert_eq!(
            listing(&tree.root.join("copy")),
            listing(&tree.root.join("sub"))
        );
        assert_eq!(
            fs::read_to_string(tree.root.join("copy/deeper/c.txt")).unwrap(),
            "c"
        );
        assert_eq!(
            fs::read_link(tree.root.join("copy/up-out")).unwrap(),
            Path::new("../../outside/secret")
        );
        if xattrs {
            let copy = root.open_dir(Path::new("copy")).unwrap();
            assert_eq!(
                xattr_get(&copy, "user.dav.p").unwrap().as_deref(),
                Some(&b"dir prop"[..])
            );
        }
        // onto an existing non-empty directory: refused whole, and the temporary is gone
        let again = top.copy_tree(
            OsStr::new("sub"),
            &top,
            OsStr::new("copy"),
            &options,
            LIMITS,
        );
        assert!(matches!(again, Err(FsError::NotEmpty)), "{again:?}");
        let no_replace = CopyOptions {
            replace: Replace::Refuse,
            ..options
        };
        let again = top.copy_tree(
            OsStr::new("sub"),
            &top,
            OsStr::new("a.txt"),
            &no_replace,
            LIMITS,
        );
        assert!(matches!(again, Err(FsError::AlreadyExists)), "{again:?}");
        assert!(
            listing(&tree.root)
                .iter()
                .all(|n| !n.starts_with(".upload-"))
        );
        // a FIFO is not copied, and named
        fs::create_dir(tree.root.join("with-fifo")).unwrap();
        fs::rename(tree.root.join("fifo"), tree.root.join("with-fifo/fifo")).unwrap();
        let report = top
            .copy_tree(
                OsStr::new("with-fifo"),
                &top,
                OsStr::new("f2"),
                &options,
                LIMITS,
            )
            .unwrap();
        assert_eq!(
            format!("{:?}", report.failed),
            r#"[Failure { rel: "fifo", error: Unsupported }]"#
        );
    }

    #[test]
    fn copy_tree_into_itself_ends() {
        let tree = tree();
        let root = Root::open(&tree.root).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let sub = root.open_dir(Path::new("sub")).unwrap();
        let report = top
            .copy_tree(
                OsStr::new("sub"),
                &sub,
                OsStr::new("inner"),
                &CopyOptions::new(".upload-"),
                LIMITS,
            )
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert!(tree.root.join("sub/inner/deeper/c.txt").exists());
        assert!(!tree.root.join("sub/inner/inner").exists());
    }
}
