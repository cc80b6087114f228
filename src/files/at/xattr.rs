//! Extended attributes on an open descriptor (`fgetxattr`, `fsetxattr`, `flistxattr`,
//! `fremovexattr`), limited to the `user.` namespace, the one an unprivileged server may write;
//! and free space from `fstatvfs`, for RFC 4331 quotas. A file system without user attributes
//! answers `FsError::Unsupported`, distinct from every other failure, so that the caller can
//! fall back to a sidecar store there. Attributes work on regular files and directories only
//! (Linux refuses `user.` attributes on symlinks and devices with `EPERM`).

use std::os::fd::AsFd;

use rustix::buffer::spare_capacity;
use rustix::fs::XattrFlags;
use rustix::io::Errno;

use std::ffi::OsStr;

use super::{Dir, FsError, Result, segment};

/// The namespace every name here must be in.
const USER: &str = "user.";

/// How `xattr_set` treats an attribute already there (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetXattr {
    /// Create or replace.
    Either,
    /// `XATTR_CREATE`: `AlreadyExists` if it is there.
    Create,
    /// `XATTR_REPLACE`: `NotFound` if it is not.
    Replace,
}

fn user(name: &str) -> Result<&str> {
    if name.len() > USER.len() && name.starts_with(USER) && !name.contains('\0') {
        Ok(name)
    } else {
        Err(FsError::InvalidName)
    }
}

/// `ENODATA` (no such attribute) is not an error for reads and removals.
fn absent(e: Errno) -> bool {
    e == Errno::NODATA
}

/// The value of the attribute `name`, `None` when it is not set.
pub fn xattr_get(fd: impl AsFd, name: &str) -> Result<Option<Vec<u8>>> {
    let name = user(name)?;
    // sized by a query first; ERANGE means it grew in between: ask again
    for _ in 0..8 {
        let len = match rustix::fs::fgetxattr_query(&fd, name) {
            Ok(len) => len,
            Err(e) if absent(e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut value = Vec::with_capacity(len.max(1));
        match rustix::fs::fgetxattr(&fd, name, spare_capacity(&mut value)) {
            Ok(_) => return Ok(Some(value)),
            Err(Errno::RANGE) => continue,
            Err(e) if absent(e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Err(FsError::TooLarge)
}

/// Sets the attribute `name`. A value too large for the file system is `TooLarge`; a full
/// attribute block (ext4 keeps them in one) is `NoSpace`.
pub fn xattr_set(fd: impl AsFd, name: &str, value: &[u8], how: SetXattr) -> Result<()> {
    let flags = match how {
        SetXattr::Either => XattrFlags::empty(),
        SetXattr::Create => XattrFlags::CREATE,
        SetXattr::Replace => XattrFlags::REPLACE,
    };
    match rustix::fs::fsetxattr(&fd, user(name)?, value, flags) {
        Ok(()) => Ok(()),
        Err(e) if absent(e) => Err(FsError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Removes the attribute `name`; false when it was not set.
pub fn xattr_remove(fd: impl AsFd, name: &str) -> Result<bool> {
    match rustix::fs::fremovexattr(&fd, user(name)?) {
        Ok(()) => Ok(true),
        Err(e) if absent(e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The names of the `user.` attributes set (others, and names not UTF-8, left out).
pub fn xattr_list(fd: impl AsFd) -> Result<Vec<String>> {
    for _ in 0..8 {
        let len = rustix::fs::flistxattr_query(&fd)?;
        let mut list = Vec::with_capacity(len.max(1));
        match rustix::fs::flistxattr(&fd, spare_capacity(&mut list)) {
            Ok(_) => {
                return Ok(list
                    .split(|&b| b == 0)
                    .filter_map(|name| std::str::from_utf8(name).ok())
                    .filter(|name| name.len() > USER.len() && name.starts_with(USER))
                    .map(str::to_owned)
                    .collect());
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(FsError::TooLarge)
}

/// Whether the entry `name` of `dir` (not followed) may carry `user.` attributes whose names
/// start with `prefix`: one `llistxattr` through `/proc/self/fd`, where opening the entry to
/// ask would cost six system calls (a listing asks it of every entry). The directory is the one
/// already open, so nothing is resolved from the root again. `true` whenever it cannot tell
/// (no `/proc`, a long list): the caller then opens the entry and looks.
pub fn may_have_xattrs(dir: &Dir, name: &OsStr, prefix: &str) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(name) = segment(name) else {
        return true;
    };
    let mut path = std::path::PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    path.push(name);
    let mut list = [0u8; 1024];
    match rustix::fs::llistxattr(&path, &mut list[..]) {
        Ok(len) => list[..len]
            .split(|&b| b == 0)
            .any(|n| n.starts_with(prefix.as_bytes())),
        Err(_) => true,
    }
}

/// Sets the modification time (and the access time, to the same) of an open entry: what a
/// client that carries times in properties (Windows' `Win32LastModifiedTime`) asks for.
pub fn set_modified(fd: impl AsFd, when: std::time::SystemTime) -> Result<()> {
    let since = when
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = rustix::fs::Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: since.subsec_nanos().into(),
    };
    let times = rustix::fs::Timestamps {
        last_access: time,
        last_modification: time,
    };
    Ok(rustix::fs::futimens(fd, &times)?)
}

/// Copies every `user.` attribute of `from` onto `to`. A source on a file system without
/// attributes has none to copy; a destination without them, when there are some, is
/// `Unsupported` (the properties would be lost).
pub fn copy_xattrs(from: impl AsFd, to: impl AsFd) -> Result<()> {
    let names = match xattr_list(&from) {
        Ok(names) => names,
        Err(FsError::Unsupported) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = xattr_get(&from, &name)? {
            xattr_set(&to, &name, &value, SetXattr::Either)?;
        }
    }
    Ok(())
}

/// Space on the file system holding a descriptor, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Free for an unprivileged user (`f_bavail`): RFC 4331 `quota-available-bytes`.
    pub available: u64,
    /// In use (`f_blocks - f_bfree`): RFC 4331 `quota-used-bytes`, as Apache reports it.
    pub used: u64,
    pub total: u64,
}

/// `fstatvfs` of the file system `fd` is on.
pub fn space(fd: impl AsFd) -> Result<Space> {
    let st = rustix::fs::fstatvfs(fd)?;
    let block = st.f_frsize.max(1);
    Ok(Space {
        available: st.f_bavail.saturating_mul(block),
        used: st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(block),
        total: st.f_blocks.saturating_mul(block),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Root;
    use super::*;

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// Runs on the temp directory's file system (ext4 here: user attributes work); where it
    /// has none, the whole table is `Unsupported` and says so.
    #[test]
    fn attributes_round_trip_on_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "f").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let top = root.open_dir(Path::new("")).unwrap();
        let file = top.open_file(std::ffi::OsStr::new("f")).unwrap();
        if let Err(FsError::Unsupported) = xattr_set(&file, "user.probe", b"", SetXattr::Either) {
            return eprintln!("skipped: {} has no user attributes", dir.path().display());
        }
        for fd in [file.as_fd(), top.as_fd()] {
            assert_eq!(xattr_get(fd, "user.dav.a").unwrap(), None);
            xattr_set(
                fd,
                "user.dav.a",
                b"<x:v xmlns:x=\"u\">1</x:v>",
                SetXattr::Create,
            )
            .unwrap();
            xattr_set(fd, "user.dav.b", b"", SetXattr::Either).unwrap();
            assert!(matches!(
                xattr_set(fd, "user.dav.a", b"2", SetXattr::Create),
                Err(FsError::AlreadyExists)
            ));
            assert!(matches!(
                xattr_set(fd, "user.dav.c", b"2", SetXattr::Replace),
                Err(FsError::NotFound)
            ));
            xattr_set(fd, "user.dav.a", b"2", SetXattr::Replace).unwrap();
            assert_eq!(
                xattr_get(fd, "user.dav.a").unwrap().as_deref(),
                Some(&b"2"[..])
            );
            assert_eq!(
                xattr_get(fd, "user.dav.b").unwrap().as_deref(),
                Some(&b""[..])
            );
            let names = sorted(xattr_list(fd).unwrap());
            assert!(
                names.contains(&"user.dav.a".to_owned())
                    && names.contains(&"user.dav.b".to_owned())
            );
            assert!(xattr_remove(fd, "user.dav.a").unwrap());
            assert!(!xattr_remove(fd, "user.dav.a").unwrap());
            let big = vec![b'x'; 1 << 20];
            let too_big = xattr_set(fd, "user.dav.big", &big, SetXattr::Either);
            assert!(
                matches!(too_big, Err(FsError::TooLarge | FsError::NoSpace)),
                "{too_big:?}"
            );
        }
        for bad in ["trusted.x", "security.x", "user.", "x", "user.a\0b"] {
            assert!(
                matches!(xattr_get(&file, bad), Err(FsError::InvalidName)),
                "{bad:?}"
            );
            assert!(
                matches!(
                    xattr_set(&file, bad, b"", SetXattr::Either),
                    Err(FsError::InvalidName)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_file_system_without_attributes_says_unsupported() {
        // procfs keeps no user attributes: the answer a sidecar fallback must key on
        let proc = std::fs::File::open("/proc").unwrap();
        let set = xattr_set(&proc, "user.dav.a", b"1", SetXattr::Either);
        assert!(matches!(set, Err(FsError::Unsupported)), "{set:?}");
        // reading one that cannot exist is simply absent there
        assert!(matches!(
            xattr_get(&proc, "user.dav.a"),
            Ok(None) | Err(FsError::Unsupported)
        ));
        // and a copy from it has nothing to copy
        let dir = tempfile::tempdir().unwrap();
        let to = std::fs::File::open(dir.path()).unwrap();
        copy_xattrs(&proc, &to).unwrap();
    }

    #[test]
    fn space_is_reported_for_the_quota_properties() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let space = space(root.open_dir(Path::new("")).unwrap()).unwrap();
        assert!(
            space.total > 0 && space.available <= space.total && space.used <= space.total,
            "{space:?}"
        );
    }
}
