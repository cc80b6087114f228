//! Directory listings from a directory's descriptor: its entries read once (`getdents`, then
//! `statx` relative to the same descriptor), sorted once, and shared. Issue #15: 300 stalled
//! listings of a 100,000-entry directory each held their own sorted copy (1.1 GB). Here a
//! small cache keyed by the directory's state (device, inode, mtime, ctime, size) and the order
//! hands every listing of the same directory state one `Arc<[DirEntry]>`.
//!
//! A cached listing is handed out again only while it is young (`FRESH_FOR`: a file changed in
//! place, which does not touch its directory, shows within that) and only if it was read well
//! after the directory last changed (`SETTLED_AFTER`): a change within the same timestamp tick
//! as the one before would leave the key as it was (git's "racily clean" index entries). The
//! cache holds at most `MAX_LISTINGS` listings and `MAX_BYTES` of entries; a larger listing is
//! not kept.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::at::{Dir, Kind, Meta, Root};
use super::error::FileError;
use super::name::breaks_lines;
use super::write::TEMP_PREFIX;
use crate::config::DotFiles;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name, never containing `/` or a control character.
    pub name: Box<str>,
    pub is_dir: bool,
    pub size: u64,
    pub modified: SystemTime,
}

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortBy {
    /// The name as a plain listing prints it, a directory's with its trailing `/`.
    Printed,
    Name,
    Size,
    Modified,
}

/// How a listing is sorted; ties always fall back to the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Order {
    pub by: SortBy,
    pub descending: bool,
    /// Directories before files, whatever the rest of the order.
    pub dirs_first: bool,
}

/// How long a cached listing is handed out again.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// How long after its directory's last change a listing must have been read to be handed out
/// again: more than the coarsest timestamp granularity of common file systems (FAT: 2 s).
const SETTLED_AFTER: Duration = Duration::from_secs(3);
const MAX_LISTINGS: usize = 32;
/// About 900,000 entries with short names.
const MAX_BYTES: usize = 64 << 20;

/// The state of a directory that any change of its entries moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    modified: SystemTime,
    changed: SystemTime,
    len: u64,
    order: Order,
}

struct Cached {
    key: Key,
    entries: Arc<[DirEntry]>,
    read_at: Instant,
    bytes: usize,
}

/// A listing being read, which later listings of the same state wait for instead of reading
/// it again each (300 listings arriving together were 300 reads and sorts at once).
struct Flight {
    landing: Mutex<Landing>,
    ready: Condvar,
}

enum Landing {
    Reading,
    Done(Arc<[DirEntry]>),
    /// The reader failed: each waiter reads for itself.
    Failed,
}

/// How long a listing waits for another's read of the same state before reading itself.
const FLIGHT_WAIT: Duration = Duration::from_secs(30);

/// Ends a flight when its reader is done, however it ends.
struct Leading<'a> {
    listings: &'a Listings,
    key: Key,
    flight: Arc<Flight>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut landing = self
            .flight
            .landing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if matches!(*landing, Landing::Reading) {
            *landing = Landing::Failed;
        }
        self.flight.ready.notify_all();
        drop(landing);
        let mut flights = self
            .listings
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        flights.retain(|(key, _)| *key != self.key);
    }
}

/// The shared, bounded cache of sorted listings.
pub struct Listings {
    slots: Mutex<VecDeque<Cached>>,
    flights: Mutex<Vec<(Key, Arc<Flight>)>>,
    fresh_for: Duration,
    settled_after: Duration,
    dot_files: DotFiles,
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listings")
    }
}

impl Default for Listings {
    fn default() -> Self {
        Listings::new(FRESH_FOR, SETTLED_AFTER)
    }
}

impl Listings {
    fn new(fresh_for: Duration, settled_after: Duration) -> Listings {
        Listings {
            slots: Mutex::new(VecDeque::new()),
            flights: Mutex::new(Vec::new()),
            fresh_for,
            settled_after,
            dot_files: DotFiles::default(),
        }
    }

    /// These listings under `dot_files` (`listed`).
    pub(super) fn with_dot_files(self, dot_files: DotFiles) -> Listings {
        Listings { dot_files, ..self }
    }

    /// The entries of `dir` (at `rel` under `root`) in `order`: the cached copy when one of
    /// this directory state is fresh, else read, sorted and (if settled and small enough)
    /// kept. Concurrent readers of one state that all missed keep the first copy kept.
    pub fn list(
        &self,
        root: &Root,
        rel: &Path,
        dir: &Dir,
        order: Order,
    ) -> Result<Arc<[DirEntry]>, FileError> {
        let meta = dir.meta()?;
        let key = Key {
            dev: meta.dev,
            ino: meta.ino,
            modified: meta.modified,
            changed: meta.changed,
            len: meta.len,
            order,
        };
        if let Some(hit) = self.hit(&key) {
            return Ok(hit);
        }
        // a directory that changed just now may change again within the same timestamp tick,
        // unseen by the key: such a listing is read by each request and never shared
        let settled = SystemTime::now()
            .duration_since(meta.changed)
            .is_ok_and(|since| since >= self.settled_after);
        if !settled {
            return read_sorted(root, rel, dir, order, self.dot_files);
        }
        let leading = match self.join(key) {
            Ok(leading) => leading,
            Err(flight) => match wait(&flight) {
                Some(entries) => return Ok(entries),
                None => return read_sorted(root, rel, dir, order, self.dot_files),
            },
        };
        let read_at = Instant::now();
        let entries = read_sorted(root, rel, dir, order, self.dot_files)?;
        let bytes = entries
            .iter()
            .map(|e| size_of::<DirEntry>() + e.name.len())
            .sum::<usize>();
        let entries = if bytes > MAX_BYTES {
            entries
        } else {
            self.keep(Cached {
                key,
                entries,
                read_at,
                bytes,
            })
        };
        let mut landing = leading
            .flight
            .landing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *landing = Landing::Done(entries.clone());
        drop(landing);
        Ok(entries)
    }

    /// Leads the read of `key`'s listing, or the flight already reading it.
    fn join(&self, key: Key) -> Result<Leading<'_>, Arc<Flight>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, flight)) = flights.iter().find(|(k, _)| *k == key) {
            return Err(flight.clone());
        }
        let flight = Arc::new(Flight {
            landing: Mutex::new(Landing::Reading),
            ready: Condvar::new(),
        });
        flights.push((key, flight.clone()));
        Ok(Leading {
            listings: self,
            key,
            flight,
        })
    }

    fn hit(&self, key: &Key) -> Option<Arc<[DirEntry]>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .find(|c| c.key == *key && c.read_at.elapsed() < self.fresh_for)
            .map(|c| c.entries.clone())
    }

    /// Keeps `new` (evicting the oldest beyond the bounds) and returns it, or the copy of the
    /// same state another reader kept meanwhile.
    fn keep(&self, new: Cached) -> Arc<[DirEntry]> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|c| c.read_at.elapsed() < self.fresh_for);
        if let Some(kept) = slots.iter().find(|c| c.key == new.key) {
            return kept.entries.clone();
        }
        let entries = new.entries.clone();
        slots.push_back(new);
        while slots.len() > MAX_LISTINGS || slots.iter().map(|c| c.bytes).sum::<usize>() > MAX_BYTES
        {
            slots.pop_front();
        }
        entries
    }
}

/// What a flight's reader read; `None` when it failed or took too long.
fn wait(flight: &Flight) -> Option<Arc<[DirEntry]>> {
    let deadline = Instant::now() + FLIGHT_WAIT;
    let mut landing = flight.landing.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        match &*landing {
            Landing::Done(entries) => return Some(entries.clone()),
            Landing::Failed => return None,
            Landing::Reading => {}
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        landing = flight
            .ready
            .wait_timeout(landing, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The name a listing (the page, PROPFIND's members, archives, searches) shows for an entry
/// named `name`, or `None` for one it leaves out: a dot file unless `DotFiles::Show`, the
/// server's own in-progress names (`TEMP_PREFIX`) always, a name that is not UTF-8 or would
/// break a line (`breaks_lines`: it would forge entries in the one-name-a-line listing).
pub fn listed(name: &OsStr, dot_files: DotFiles) -> Option<&str> {
    let name = name.to_str()?;
    let shown =
        !name.starts_with('.') || (dot_files == DotFiles::Show && !name.starts_with(TEMP_PREFIX));
    (shown && !name.contains(breaks_lines)).then_some(name)
}

/// The entries of `dir` in `order`.
fn read_sorted(
    root: &Root,
    rel: &Path,
    dir: &Dir,
    order: Order,
    dot_files: DotFiles,
) -> Result<Arc<[DirEntry]>, FileError> {
    let mut entries = read_entries(root, rel, dir, dot_files)?;
    sort(&mut entries, order);
    Ok(entries.into())
}

/// The entries of `dir`, unsorted: names `listed` leaves out (dot files unless shown, the
/// server's own temporaries always), and names the server would refuse (made by other means), which could not be listed one per
/// line. A symlink is followed, inside the root only, so a link to a directory lists as one;
/// a link leading outside, a FIFO, socket or device, and an entry that vanishes or cannot be
/// inspected meanwhile are left out: none of them could be served.
fn read_entries(
    root: &Root,
    rel: &Path,
    dir: &Dir,
    dot_files: DotFiles,
) -> Result<Vec<DirEntry>, FileError> {
    let mut entries = Vec::new();
    for entry in dir.entries()? {
        let entry = entry?;
        let Some(name) = listed(&entry.name, dot_files) else {
            continue;
        };
        // relative to the open directory (statx), not a walk from the root per entry; only a
        // symlink needs the walk, to be followed and kept inside
        let meta = match entry.kind {
            Kind::Symlink => root.stat(&rel.join(name)),
            _ => dir.lstat(&entry.name),
        };
        let Ok(Meta {
            kind,
            len,
            modified,
            ..
        }) = meta
        else {
            continue;
        };
        if !matches!(kind, Kind::File | Kind::Dir) {
            continue;
        }
        entries.push(DirEntry {
            name: name.into(),
            is_dir: kind == Kind::Dir,
            size: len,
            modified,
        });
    }
    Ok(entries)
}

/// Sorts `entries` in `order`.
pub fn sort(entries: &mut [DirEntry], order: Order) {
    fn printed(e: &DirEntry) -> impl Iterator<Item = u8> + '_ {
        e.name.bytes().chain(e.is_dir.then_some(b'/'))
    }
    let by_key = |a: &DirEntry, b: &DirEntry| -> Ordering {
        let key = match order.by {
            SortBy::Printed => return printed(a).cmp(printed(b)),
            SortBy::Name => Ordering::Equal,
            SortBy::Size => a.size.cmp(&b.size),
            SortBy::Modified => a.modified.cmp(&b.modified),
        };
        key.then_with(|| a.name.cmp(&b.name))
    };
    entries.sort_unstable_by(|a, b| {
        let ordered = if order.descending {
            by_key(b, a)
        } else {
            by_key(a, b)
        };
        let dirs = if order.dirs_first {
            b.is_dir.cmp(&a.is_dir)
        } else {
            Ordering::Equal
        };
        dirs.then(ordered)
    });
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn listed_names() {
        for shown in ["a", "a b", "é", "a.b."] {
            assert_eq!(listed(OsStr::new(shown), DotFiles::Serve), Some(shown));
        }
        for hidden in [
            ".a",
            "..a",
            ".upload-x",
            "a\nb",
            "a\u{85}b",
            "a\u{2028}b",
            "\u{7f}",
        ] {
            assert_eq!(
                listed(OsStr::new(hidden), DotFiles::Serve),
                None,
                "{hidden:?}"
            );
        }
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(listed(OsStr::from_bytes(b"\xff"), DotFiles::Serve), None);
        // shown dot files: never the server's own
        for (name, shown) in [(".a", true), ("..a", true), (".upload-x", false)] {
            let got = listed(OsStr::new(name), DotFiles::Show);
            assert_eq!(got.is_some(), shown, "{name:?}");
        }
    }

    const BY_NAME: Order = Order {
        by: SortBy::Name,
        descending: false,
        dirs_first: true,
    };

    fn names(entries: &[DirEntry]) -> Vec<&str> {
        entries.iter().map(|e| &*e.name).collect()
    }

    #[test]
    fn listings_of_one_directory_state_share_one_copy() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join("b"), "b").unwrap();
        fs::create_dir(temp.path().join("a")).unwrap();
        fs::write(temp.path().join(".hidden"), "").unwrap();
        let root = Root::open(temp.path()).unwrap();
        // settled at once: this test changes the directory's times itself
        let listings = Listings::new(Duration::from_secs(60), Duration::ZERO);
        let list = |order| {
            let dir = root.open_dir(Path::new("")).unwrap();
            listings.list(&root, Path::new(""), &dir, order).unwrap()
        };
        let first = list(BY_NAME);
        let second = list(BY_NAME);
        assert!(Arc::ptr_eq(&first, &second), "one allocation");
        assert_eq!(names(&first), ["a", "b"]);

        let printed = Order {
            by: SortBy::Printed,
            descending: true,
            dirs_first: false,
        };
        let other = list(printed);
        assert!(!Arc::ptr_eq(&first, &other), "another order, another copy");
        assert_eq!(names(&other), ["b", "a"]);

        fs::write(temp.path().join("c"), "c").unwrap();
        // a later time than any the directory had, however coarse its clock
        let later = SystemTime::now() + Duration::from_secs(10);
        fs::File::open(temp.path())
            .unwrap()
            .set_modified(later)
            .unwrap();
        let changed = list(BY_NAME);
        assert!(!Arc::ptr_eq(&first, &changed), "a changed directory");
        assert_eq!(names(&changed), ["a", "b", "c"]);
        assert!(Arc::ptr_eq(&changed, &list(BY_NAME)));
    }

    #[test]
    fn a_listing_read_right_after_a_change_is_not_handed_out_again() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join("a"), "a").unwrap();
        let root = Root::open(temp.path()).unwrap();
        let listings = Listings::new(Duration::from_secs(60), Duration::from_secs(3600));
        let dir = root.open_dir(Path::new("")).unwrap();
        let first = listings.list(&root, Path::new(""), &dir, BY_NAME).unwrap();
        let second = listings.list(&root, Path::new(""), &dir, BY_NAME).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(first, second);
    }

    #[test]
    fn listings_arriving_together_wait_for_one_read() {
        let temp = tempfile::tempdir().unwrap();
        for i in 0..2000 {
            fs::write(temp.path().join(format!("f{i}")), "").unwrap();
        }
        let root = Root::open(temp.path()).unwrap();
        let listings = Listings::new(Duration::from_secs(60), Duration::ZERO);
        let all: Vec<Arc<[DirEntry]>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let dir = root.open_dir(Path::new("")).unwrap();
                        listings.list(&root, Path::new(""), &dir, BY_NAME).unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(all[0].len(), 2000);
        assert!(
            all.iter().all(|e| Arc::ptr_eq(e, &all[0])),
            "one allocation"
        );
    }

    #[test]
    fn orders() {
        let entry = |name: &str, is_dir, size| DirEntry {
            name: name.into(),
            is_dir,
            size,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(size),
        };
        let mut entries = vec![
            entry("b", false, 1),
            entry("a", false, 3),
            entry("a-dir", true, 2),
            entry("c", true, 0),
        ];
        let cases = [
            (SortBy::Printed, false, false, ["a", "a-dir", "b", "c"]),
            (SortBy::Name, false, true, ["a-dir", "c", "a", "b"]),
            (SortBy::Size, true, true, ["a-dir", "c", "a", "b"]),
            (SortBy::Modified, false, true, ["c", "a-dir", "b", "a"]),
        ];
        for (by, descending, dirs_first, want) in cases {
            let order = Order {
                by,
                descending,
                dirs_first,
            };
            sort(&mut entries, order);
            assert_eq!(names(&entries), want, "{order:?}");
        }
    }
}
