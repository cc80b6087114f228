//! Start-up clean-up (issue #15): a process killed mid-upload (SIGKILL, a crash, power loss)
//! leaves its `.upload-{pid}-{n}.tmp` behind, and nothing else would ever remove it. At
//! start-up a background walk of the served tree (bounded, never following a symlink) removes
//! every temporary no live process owns, and logs once how many and how many bytes.
//!
//! Whose a temporary is: while its upload runs, its descriptor holds an exclusive `flock`
//! (`at::TempFile`), which the kernel drops when the process dies, so a lock we can take means
//! no one holds it. The pid in the name is a second guard, for a temporary whose owner has
//! just created it and not yet locked it: one whose pid is alive is kept. Our own pid on a
//! temporary from before our start is a previous process's (pids are reused, containers start
//! at 1 each time).
//!
//! Only names of the temporaries' own form are touched. Everything else under the reserved
//! prefix is state meant to survive restarts (resumable uploads keep theirs in
//! `.upload-resumable/`): the walk never enters it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use rustix::process::Pid;

use super::at::{Dir, FsError, Kind, Meta, Root, RootCell, Visit, Visited, WalkEnd, WalkLimits};
use super::write::TEMP_PREFIX;

/// How far the clean-up looks: the depth a tree may be walked to and the entries visited.
const LIMITS: WalkLimits = WalkLimits {
    max_depth: 64,
    max_entries: 2_000_000,
};

/// A temporary of our own pid changed less than this before our start may be one of ours
/// (file times come from a clock coarser than `SystemTime::now`).
const CLOCK_SLACK: Duration = Duration::from_secs(1);

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Swept {
    pub removed: u64,
    pub bytes: u64,
}

/// Sweeps the tree in a thread of its own, so that a large tree does not delay listening.
pub(super) fn sweep_in_background(cell: Arc<RootCell>, started: SystemTime) {
    let spawned = std::thread::Builder::new()
        .name("stale-uploads".into())
        .spawn(move || match cell.current() {
            Ok(root) => log_sweep(&root, started),
            Err(e) => log::warn!("start-up clean-up of upload temporaries: {e}"),
        });
    if let Err(e) = spawned {
        log::warn!("start-up clean-up of upload temporaries not started: {e}");
    }
}

fn log_sweep(root: &Root, started: SystemTime) {
    let (swept, end) = match sweep(root, started) {
        Ok(done) => done,
        Err(e) => return log::warn!("start-up clean-up of upload temporaries failed: {e}"),
    };
    if swept.removed > 0 {
        log::info!(
            "removed {} stale upload temporaries ({} bytes) left by processes that ended",
            swept.removed,
            swept.bytes
        );
    }
    if end != WalkEnd::Complete {
        log::warn!("start-up clean-up of upload temporaries stopped early: {end:?}");
    }
}

/// Removes, under `root`, every temporary that no live process owns; see the module's doc.
pub(super) fn sweep(root: &Root, started: SystemTime) -> Result<(Swept, WalkEnd), FsError> {
    let mut swept = Swept::default();
    let end = root.walk(Path::new(""), LIMITS, &mut |v: &Visited<'_>| {
        let Some(name) = v.name.to_str() else {
            return Visit::Continue;
        };
        if !name.starts_with(TEMP_PREFIX) {
            return Visit::Continue;
        }
        if let Some((pid, suffix)) = super::at::temp_owner(TEMP_PREFIX, name) {
            let removed = match (suffix, v.kind) {
                ("tmp", Kind::File) => remove_file(v.dir, name, pid, started),
                ("dir", Kind::Dir) => remove_dir(v.dir, name, pid, started),
                _ => None,
            };
            if let Some(bytes) = removed {
                swept.removed += 1;
                swept.bytes += bytes;
            }
        }
        // a temporary directory is removed whole, and other reserved names are state
        Visit::Skip
    })?;
    Ok((swept, end))
}

/// Whether the owner named by `pid` may still be at work on an entry last changed `changed`.
fn owner_may_be_alive(pid: u32, changed: SystemTime, started: SystemTime) -> bool {
    if pid == std::process::id() {
        return changed + CLOCK_SLACK >= started;
    }
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // EPERM: it exists, someone else's
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

/// Removes the temporary file `name` unless its lock is held or its owner may be alive;
/// returns its length when removed.
fn remove_file(dir: &Dir, name: &str, pid: u32, started: SystemTime) -> Option<u64> {
    let file = dir.open_file(name.as_ref()).ok()?;
    // held while its upload runs; ours now until `file` closes, so no one can take it back.
    // Where the file system has no `flock`, the pid decides alone.
    if let Err(Errno::WOULDBLOCK) =
        rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
    {
        return None;
    }
    let meta = Meta::of(&file).ok()?;
    if owner_may_be_alive(pid, meta.changed, started) {
        return None;
    }
    dir.remove_file(name.as_ref()).ok()?;
    Some(meta.len)
}

/// Removes a temporary directory (a copy being built) whose owner has ended.
fn remove_dir(dir: &Dir, name: &str, pid: u32, started: SystemTime) -> Option<u64> {
    let meta = dir.lstat(name.as_ref()).ok()?;
    if owner_may_be_alive(pid, meta.changed, started) {
        return None;
    }
    let report = dir.remove_tree(name.as_ref(), LIMITS).ok()?;
    Some(0).filter(|_| report.failed.is_empty())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A pid that no process has: a child's, after it was waited for.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn only_temporaries_no_live_process_owns_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let at = |rel: &str| temp.path().join(rel);
        let dead = dead_pid();
        fs::create_dir_all(at("sub/deeper")).unwrap();
        fs::create_dir_all(at(".upload-resumable")).unwrap();
        fs::create_dir_all(at(&format!(".upload-{dead}-9.dir/inner"))).unwrap();
        let stale = [
            format!(".upload-{dead}-1.tmp"),
            format!("sub/deeper/.upload-{dead}-2.tmp"),
        ];
        for name in &stale {
            fs::write(at(name), "12345").unwrap();
        }
        let kept = [
            // a live process's (pid 1 is always alive)
            ".upload-1-3.tmp".to_owned(),
            // state that survives restarts, and names of another form
            format!(".upload-resumable/.upload-{dead}-4.tmp"),
            format!(".upload-{dead}-5.state"),
            ".upload-x-1.tmp".to_owned(),
            format!("sub/x.upload-{dead}-6.tmp"),
        ];
        for name in &kept {
            fs::write(at(name), "k").unwrap();
        }
        let root = Root::open(temp.path()).unwrap();
        // one of ours, in progress: locked, and made after the start
        let started = SystemTime::now() - Duration::from_secs(60);
        let ours = root
            .open_dir(Path::new("sub"))
            .unwrap()
            .create_temp(TEMP_PREFIX)
            .unwrap();

        let (swept, end) = sweep(&root, started).unwrap();
        assert_eq!(end, WalkEnd::Complete);
        assert_eq!(
            swept,
            Swept {
                removed: 3,
                bytes: 10
            }
        );
        for name in &stale {
            assert!(!at(name).exists(), "{name} kept");
        }
        assert!(!at(&format!(".upload-{dead}-9.dir")).exists());
        for name in &kept {
            assert!(at(name).exists(), "{name} removed");
        }
        assert!(
            at("sub").join(ours.name()).exists(),
            "a live upload removed"
        );

        // our own pid on a temporary from before our start: a previous process's
        drop(ours);
        let mine = at(&format!(".upload-{}-7.tmp", std::process::id()));
        fs::write(&mine, "old").unwrap();
        let (swept, _) = sweep(&root, SystemTime::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(swept.removed, 1);
        assert!(!mine.exists());
    }
}
