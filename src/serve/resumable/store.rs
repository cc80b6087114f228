//! The disk under the upload state directory (the hidden `STATE_DIR` under the served
//! directory): for each upload, `{id}.state` (its `UploadState`, replaced atomically: temp
//! file, fsync, rename, directory fsync) and `{id}.data`, the bytes received so far, whose
//! length once synced is the upload's offset. Both survive SIGKILL; after a power cut, what
//! was fsynced survives.
//!
//! All disk access of resumable uploads is here, plain `std::fs` on paths, so that moving to
//! descriptor-relative calls changes nothing else. One writer per upload at a time is the
//! caller's to ensure (its per-upload lock); expiry and the caps are the caller's policy,
//! built on `list` and `sweep`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::serve::resumable::state::{MAX_STATE_BYTES, Phase, UploadId, UploadState};

const STATE_EXT: &str = "state";
const DATA_EXT: &str = "data";

/// Why a state could not be read or written.
#[derive(Debug)]
pub enum StateError {
    /// No such upload resource.
    NotFound,
    /// The state file is there but is not a state we wrote (torn, not JSON, another format, a
    /// field out of bounds): the caller logs it and treats the upload as gone.
    Corrupt(String),
    /// An open upload whose data file is gone: its bytes are lost, and the draft (§4.1.1)
    /// requires deactivating the resource.
    DataMissing,
    /// A state that could not be read back, refused before it is written.
    Invalid(&'static str),
    Io(io::Error),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::NotFound => f.write_str("no such upload"),
            StateError::Corrupt(why) => write!(f, "corrupt upload state: {why}"),
            StateError::DataMissing => f.write_str("upload state without its data"),
            StateError::Invalid(why) => write!(f, "invalid upload state: {why}"),
            StateError::Io(e) => write!(f, "upload state i/o: {e}"),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StateError {
    fn from(e: io::Error) -> StateError {
        match e.kind() {
            io::ErrorKind::NotFound => StateError::NotFound,
            _ => StateError::Io(e),
        }
    }
}

/// One entry of `Store::list`.
#[derive(Debug)]
pub enum Listed {
    Upload(Box<UploadState>),
    /// A state file that could not be read.
    Unreadable {
        id: UploadId,
        error: StateError,
    },
}

/// What `Store::sweep` did.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Uploads removed with their data: expired, lost their data, or unreadable for longer
    /// than the maximum age.
    pub removed: Vec<UploadId>,
    /// Orphaned data files and stale temporaries removed.
    pub strays: usize,
    /// States that could not be read and were left for now: younger than the maximum age (an
    /// operator may want to look), or unreadable for a reason other than their content.
    pub unreadable: Vec<(UploadId, StateError)>,
}

/// Names the temporaries of state writes; with the pid, unique across processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory of upload states and data.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens `dir`, creating it (owner-only) when absent. A symlink in its place is refused:
    /// states must not be written wherever a link points.
    #[cfg(test)]
    pub fn open(dir: &Path) -> io::Result<Store> {
        let store = Store::at(dir);
        store.ensure_dir()?;
        Ok(store)
    }

    /// The store at `dir`, which need not exist yet: a served directory gets its hidden state
    /// directory only with its first upload (`ensure_dir`). Until then it lists nothing.
    pub fn at(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
        }
    }

    /// Creates the directory (owner-only) when absent; refuses anything but a directory there.
    pub fn ensure_dir(&self) -> io::Result<()> {
        let dir = &self.dir;
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => sync_parent(dir)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if !fs::symlink_metadata(dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "upload state directory is not a directory",
            ));
        }
        Ok(())
    }

    fn path(&self, id: &UploadId, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    /// The data file.
    pub fn data_path(&self, id: &UploadId) -> PathBuf {
        self.dir.join(self.data_name(id))
    }

    /// The data file's name in the directory, for the final rename into the served directory.
    pub fn data_name(&self, id: &UploadId) -> String {
        format!("{id}.{DATA_EXT}")
    }

    /// Creates a new open upload: an empty data file first (claiming the id), then its state.
    pub fn create(&self, state: &UploadState) -> Result<(), StateError> {
        if state.phase != Phase::Open {
            return Err(StateError::Invalid("a new upload is open"));
        }
        state.check().map_err(StateError::Invalid)?;
        // 0644 like the temporaries of plain uploads: this file becomes the served one
        let data = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(self.data_path(&state.id))?;
        data.sync_all()?;
        self.save(state).inspect_err(|_| {
            // no state, so nothing could ever use the data; sweep would get it much later
            let _ = fs::remove_file(self.data_path(&state.id));
        })
    }

    /// Replaces the state of `state.id` atomically: a crash leaves the old state or the new,
    /// never a torn one.
    pub fn save(&self, state: &UploadState) -> Result<(), StateError> {
        let json = state.to_bytes().map_err(StateError::Invalid)?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(
            "{}.{STATE_EXT}.{}-{n}.tmp",
            state.id,
            std::process::id()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&temp, self.path(&state.id, STATE_EXT))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(StateError::Io(e));
        }
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Reads the state of `id` back, strictly; an open upload must still have its data file.
    pub fn load(&self, id: &UploadId) -> Result<UploadState, StateError> {
        let state = read_state(&self.path(id, STATE_EXT))?;
        if state.id != *id {
            return Err(StateError::Corrupt("id differs from the file name".into()));
        }
        if state.phase == Phase::Open {
            match fs::symlink_metadata(self.data_path(id)) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(StateError::Corrupt("data is not a file".into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StateError::DataMissing);
                }
                Err(e) => return Err(StateError::Io(e)),
            }
        }
        Ok(state)
    }

    /// The upload's offset: the data file's length after an fsync, so that no offset is
    /// announced that a power cut could take back (§4.1.1: the offset MUST NOT decrease).
    pub fn offset(&self, id: &UploadId) -> Result<u64, StateError> {
        let data = File::open(self.data_path(id)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StateError::DataMissing,
            _ => StateError::Io(e),
        })?;
        data.sync_data()?;
        Ok(data.metadata()?.len())
    }

    /// Opens the data file for appending at its current (synced) end.
    pub fn appender(&self, id: &UploadId, sync_every_bytes: u64) -> Result<Appender, StateError> {
        let file = OpenOptions::new()
            .append(true)
            .open(self.data_path(id))
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StateError::DataMissing,
                _ => StateError::Io(e),
            })?;
        file.sync_data()?;
        let offset = file.metadata()?.len();
        Ok(Appender {
            file,
            offset,
            synced: offset,
            sync_every_bytes: sync_every_bytes.max(1),
        })
    }

    /// Removes an upload: the state first (the resource is gone at once), then its data. A
    /// crash between leaves only data, which `sweep` removes.
    pub fn remove(&self, id: &UploadId) -> io::Result<()> {
        for ext in [STATE_EXT, DATA_EXT] {
            match fs::remove_file(self.path(id, ext)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        sync_dir(&self.dir)
    }

    /// Every state in the directory, read strictly; unreadable ones are listed as such.
    pub fn list(&self) -> io::Result<Vec<Listed>> {
        self.list_by(STATE_EXT)
    }

    /// The states that have data, i.e. the open uploads: what the caps count. A completed
    /// upload's tombstone has none, so however many there are, only these are read.
    pub fn list_open(&self) -> io::Result<Vec<Listed>> {
        self.list_by(DATA_EXT)
    }

    /// The states of the uploads that have a file ending in `.{ext}`.
    fn list_by(&self, ext: &str) -> io::Result<Vec<Listed>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            entries => entries?,
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let id = name
                .strip_suffix(ext)
                .and_then(|n| n.strip_suffix('.'))
                .and_then(UploadId::parse);
            let Some(id) = id else { continue };
            out.push(match self.load(&id) {
                Ok(state) => Listed::Upload(Box::new(state)),
                Err(error) => Listed::Unreadable { id, error },
            });
        }
        Ok(out)
    }

    /// Removes what has outlived `max_age`: expired uploads (open or completed), corrupt states
    /// and orphaned data older than it (a younger orphan may be a creation under way), open
    /// uploads whose data is gone, and the temporaries of other processes' unfinished writes.
    /// An upload goes only while `hold` holds it (`None`: a request is writing to it, so it is
    /// not abandoned), and only if it is still expired then.
    pub fn sweep<G>(
        &self,
        now: SystemTime,
        max_age: Duration,
        hold: impl Fn(UploadId) -> Option<G>,
    ) -> io::Result<Sweep> {
        let mut sweep = Sweep::default();
        let old = |path: &Path| {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= max_age))
        };
        for listed in self.list()? {
            let (id, remove) = match listed {
                Listed::Upload(state) => (state.id, state.is_expired(now, max_age)),
                Listed::Unreadable {
                    id,
                    error: StateError::DataMissing,
                } => (id, true),
                Listed::Unreadable {
                    id,
                    error: StateError::Corrupt(_),
                } if old(&self.path(&id, STATE_EXT)) => (id, true),
                Listed::Unreadable { id, error } => {
                    sweep.unreadable.push((id, error));
                    continue;
                }
            };
            if !remove {
                continue;
            }
            let Some(_held) = hold(id) else { continue };
            // an append may have ended (and touched it) since the listing
            if self.load(&id).is_ok_and(|s| !s.is_expired(now, max_age)) {
                continue;
            }
            self.remove(&id)?;
            sweep.removed.push(id);
        }
        let own_temps = format!(".{STATE_EXT}.{}-", std::process::id());
        let entries = match fs::read_dir(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(sweep),
            entries => entries?,
        };
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name else { continue };
            let orphan = name
                .strip_suffix(".data")
                .and_then(UploadId::parse)
                .is_some_and(|id| !self.path(&id, STATE_EXT).exists() && old(&path));
            let stale_temp = name.ends_with(".tmp") && !name.contains(&own_temps);
            if orphan || stale_temp {
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => sweep.strays += 1,
                }
            }
        }
        Ok(sweep)
    }
}

fn read_state(path: &Path) -> Result<UploadState, StateError> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_STATE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    UploadState::from_bytes(&bytes).map_err(StateError::Corrupt)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_parent(dir: &Path) -> io::Result<()> {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Appends to an upload's data file, fsyncing every `sync_every_bytes` so that a long append
/// cut off keeps most of what arrived. After a failed write the offset is unknown: ask
/// `Store::offset` again.
#[derive(Debug)]
pub struct Appender {
    file: File,
    offset: u64,
    synced: u64,
    sync_every_bytes: u64,
}

impl Appender {
    /// The offset after what has been written (synced or not).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn write(&mut self, piece: &[u8]) -> io::Result<()> {
        self.file.write_all(piece)?;
        self.offset += piece.len() as u64;
        if self.offset - self.synced >= self.sync_every_bytes {
            self.sync()?;
        }
        Ok(())
    }

    /// Takes back everything after `offset` (an append whose own `Content-Digest` failed is
    /// refused without appending), durably. Only bytes of the current append may go: offsets
    /// already announced must not decrease (§4.1.1).
    pub fn roll_back(&mut self, offset: u64) -> io::Result<()> {
        debug_assert!(offset <= self.offset);
        self.file.set_len(offset)?;
        self.file.sync_data()?;
        self.offset = offset;
        self.synced = offset;
        Ok(())
    }

    /// Makes what has been written durable, and returns the offset that now is.
    pub fn sync(&mut self) -> io::Result<u64> {
        if self.synced != self.offset {
            self.file.sync_data()?;
            self.synced = self.offset;
        }
        Ok(self.synced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::resumable::fields::InteropVersion;
    use crate::serve::resumable::state::tests::{at, sample};
    use crate::serve::resumable::state::{Owner, UploadId};

    const DAY: Duration = Duration::from_secs(86_400);

    fn store() -> (tempfile::TempDir, Store) {
        let root = tempfile::tempdir().expect("temp dir");
        let store =
            Store::open(&root.path().join(crate::serve::resumable::STATE_DIR)).expect("open store");
        (root, store)
    }

    fn state_path(store: &Store, id: &UploadId) -> PathBuf {
        store.path(id, STATE_EXT)
    }

    fn age(path: &Path, by: Duration) {
        let file = OpenOptions::new().write(true).open(path).expect("open");
        file.set_modified(SystemTime::now() - by)
            .expect("set mtime");
    }

    #[test]
    fn round_trip() {
        let (root, store) = store();
        let mut state = sample("sub/report 2026.pdf");
        store.create(&state).expect("create");
        assert_eq!(store.load(&state.id).expect("load"), state);
        assert_eq!(store.offset(&state.id).expect("offset"), 0);
        let mut appender = store.appender(&state.id, 1 << 20).expect("appender");
        appender.write(b"0123456").expect("write");
        drop(appender);

        // what a restarted server finds: a new Store over the same directory
        drop(store);
        let store =
            Store::open(&root.path().join(crate::serve::resumable::STATE_DIR)).expect("reopen");
        assert_eq!(store.load(&state.id).expect("load"), state);
        assert_eq!(store.offset(&state.id).expect("offset"), 7);

        state.owner = Owner::Anonymous;
        state.interop = InteropVersion::V8;
        state.length = None;
        state.touched = at(1_700_000_500);
        store.save(&state).expect("save");
        assert_eq!(store.load(&state.id).expect("load"), state);

        state.phase = Phase::Completed { length: 7 };
        store.save(&state).expect("save");
        // a completed upload no longer needs its data
        fs::remove_file(store.data_path(&state.id)).expect("rename stands in");
        assert_eq!(store.load(&state.id).expect("load"), state);
    }

    #[test]
    fn creation_refusals() {
        let (_root, store) = store();
        let state = sample("a.txt");
        store.create(&state).expect("create");
        // the id is claimed by its data file
        assert!(
            matches!(store.create(&state), Err(StateError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists)
        );
        let mut done = sample("a.txt");
        done.phase = Phase::Completed { length: 1000 };
        assert!(matches!(store.create(&done), Err(StateError::Invalid(_))));
        let mut mismatch = sample("a.txt");
        store.create(&mismatch).expect("create");
        mismatch.phase = Phase::Completed { length: 999 };
        assert!(matches!(store.save(&mismatch), Err(StateError::Invalid(_))));
        // a state that cannot be written leaves no data file behind
        let mut huge = sample("a.txt");
        huge.digests.repr_digest = Some("x".repeat(MAX_STATE_BYTES));
        assert!(matches!(store.create(&huge), Err(StateError::Invalid(_))));
        assert!(!store.data_path(&huge.id).exists());
    }

    #[test]
    fn corrupt_states_are_errors_not_panics() {
        let (_root, store) = store();
        let good = sample("a");
        store.create(&good).expect("create");
        let json = fs::read_to_string(state_path(&store, &good.id)).expect("read");
        let other = sample("b");
        store.create(&other).expect("create");
        let other_json = fs::read_to_string(state_path(&store, &other.id)).expect("read");
        let huge = format!("{}{}", json, " ".repeat(MAX_STATE_BYTES));
        // the parsing rules are state.rs's; here, what reaches them from a real file
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("torn", json.as_bytes()[..json.len() / 2].to_vec()),
            ("not UTF-8", vec![0xff; 64]),
            (
                "tampered",
                json.replace("\"interop\": 6", "\"interop\": 5")
                    .into_bytes(),
            ),
            ("another upload's state", other_json.into_bytes()),
            ("too large", huge.into_bytes()),
        ];
        for (what, text) in cases {
            fs::write(state_path(&store, &good.id), text).expect("write");
            let loaded = store.load(&good.id);
            assert!(
                matches!(loaded, Err(StateError::Corrupt(_))),
                "{what}: {loaded:?}"
            );
        }
        // a crashed write leaves its temporary beside an intact state
        fs::write(state_path(&store, &good.id), &json).expect("restore");
        let temp = store.dir.join(format!("{}.state.1-0.tmp", good.id));
        fs::write(&temp, &json[..10]).expect("torn temporary");
        assert_eq!(store.load(&good.id).expect("load"), good);
    }

    #[test]
    fn missing_pieces() {
        let (_root, store) = store();
        let state = sample("a");
        assert!(matches!(store.load(&state.id), Err(StateError::NotFound)));
        store.create(&state).expect("create");
        fs::remove_file(store.data_path(&state.id)).expect("lose the data");
        assert!(matches!(
            store.load(&state.id),
            Err(StateError::DataMissing)
        ));
        assert!(matches!(
            store.offset(&state.id),
            Err(StateError::DataMissing)
        ));
        assert!(matches!(
            store.appender(&state.id, 1),
            Err(StateError::DataMissing)
        ));
        store.remove(&state.id).expect("remove");
        store.remove(&state.id).expect("removing twice is fine");
        assert!(matches!(store.load(&state.id), Err(StateError::NotFound)));
    }

    #[test]
    fn appends_keep_their_bytes() {
        let (_root, store) = store();
        let state = sample("a");
        store.create(&state).expect("create");
        let mut appender = store.appender(&state.id, 4).expect("appender");
        appender.write(b"abc").expect("write");
        appender.write(b"defgh").expect("write");
        assert_eq!(appender.offset(), 8);
        drop(appender); // the connection went away without a final sync
        assert_eq!(store.offset(&state.id).expect("offset"), 8);
        let mut appender = store.appender(&state.id, 1 << 20).expect("appender");
        assert_eq!(appender.offset(), 8);
        appender.write(b"ij").expect("write");
        assert_eq!(appender.sync().expect("sync"), 10);
        assert_eq!(
            fs::read(store.data_path(&state.id)).expect("read"),
            b"abcdefghij"
        );
        let mut appender = store.appender(&state.id, 1 << 20).expect("appender");
        appender.write(b"unverified").expect("write");
        appender.roll_back(10).expect("roll back");
        assert_eq!(appender.offset(), 10);
        assert_eq!(store.offset(&state.id).expect("offset"), 10);
        assert_eq!(
            fs::read(store.data_path(&state.id)).expect("read"),
            b"abcdefghij"
        );
    }

    #[test]
    fn listing() {
        let (_root, store) = store();
        let a = sample("a");
        let b = sample("b");
        let c = sample("c");
        for s in [&a, &b, &c] {
            store.create(s).expect("create");
        }
        fs::write(state_path(&store, &c.id), "{").expect("corrupt c");
        fs::write(store.dir.join("notes.txt"), "ignored").expect("stray");
        let mut uploads = Vec::new();
        let mut unreadable = Vec::new();
        for listed in store.list().expect("list") {
            match listed {
                Listed::Upload(s) => uploads.push(s.target.clone()),
                Listed::Unreadable { id, error } => unreadable.push((id, error)),
            }
        }
        uploads.sort();
        assert_eq!(uploads, ["a", "b"]);
        assert!(matches!(unreadable.as_slice(), [(id, StateError::Corrupt(_))] if *id == c.id));
    }

    #[test]
    fn sweep_leaves_an_upload_being_written_to_and_caps_read_only_open_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let now = SystemTime::now();
        let writing = UploadState {
            touched: now - DAY * 2,
            ..sample("writing")
        };
        let done = sample("done");
        for s in [&writing, &done] {
            store.create(s).expect("create");
        }
        let done = UploadState {
            phase: Phase::Completed { length: 1000 },
            touched: now,
            ..done
        };
        store.save(&done).expect("complete");
        fs::remove_file(store.data_path(&done.id)).expect("committed");
        let busy = |id: UploadId| (id != writing.id).then_some(());
        let sweep = store.sweep(now, DAY, busy).expect("sweep");
        assert!(sweep.removed.is_empty(), "{:?}", sweep.removed);
        let open = store.list_open().expect("list");
        assert!(
            matches!(&open[..], [Listed::Upload(s)] if s.id == writing.id),
            "{open:?}"
        );
        let sweep = store.sweep(now, DAY, Some).expect("sweep");
        assert_eq!(sweep.removed, vec![writing.id]);
    }

    #[test]
    fn sweep_expires_and_cleans() {
        let (_root, store) = store();
        let now = SystemTime::now();
        let fresh = UploadState {
            touched: now - DAY / 2,
            ..sample("fresh")
        };
        let stale = UploadState {
            touched: now - DAY * 2,
            ..sample("stale")
        };
        let done = UploadState {
            touched: now - DAY,
            phase: Phase::Completed { length: 1000 },
            ..sample("done")
        };
        let future = UploadState {
            touched: now + DAY,
            ..sample("clock went back")
        };
        let young_corrupt = sample("young");
        let old_corrupt = sample("old");
        let lost = sample("lost");
        for s in [&fresh, &stale, &future, &young_corrupt, &old_corrupt, &lost] {
            store.create(s).expect("create");
        }
        store
            .create(&UploadState {
                phase: Phase::Open,
                ..done.clone()
            })
            .expect("create");
        store.save(&done).expect("complete");
        fs::remove_file(store.data_path(&done.id)).expect("committed");
        for s in [&young_corrupt, &old_corrupt] {
            fs::write(state_path(&store, &s.id), "{\"torn\":").expect("corrupt");
        }
        age(&state_path(&store, &old_corrupt.id), DAY * 3);
        fs::remove_file(store.data_path(&lost.id)).expect("lose data");
        let old_orphan = UploadId::random().expect("getrandom");
        let young_orphan = UploadId::random().expect("getrandom");
        for id in [old_orphan, young_orphan] {
            fs::write(store.data_path(&id), "bytes").expect("orphan");
        }
        age(&store.data_path(&old_orphan), DAY * 3);
        let foreign_temp = store.dir.join(format!("{}.state.1-7.tmp", fresh.id));
        let own_temp = store
            .dir
            .join(format!("{}.state.{}-7.tmp", fresh.id, std::process::id()));
        fs::write(&foreign_temp, "{").expect("temp");
        fs::write(&own_temp, "{").expect("temp");

        let sweep = store.sweep(now, DAY, Some).expect("sweep");

        let mut removed = sweep.removed.clone();
        removed.sort_by_key(|id| id.to_string());
        let mut want = vec![stale.id, done.id, old_corrupt.id, lost.id];
        want.sort_by_key(|id| id.to_string());
        assert_eq!(removed, want);
        assert_eq!(
            sweep.strays, 2,
            "the old orphan and the other process's temporary"
        );
        assert!(
            matches!(sweep.unreadable.as_slice(), [(id, StateError::Corrupt(_))] if *id == young_corrupt.id)
        );
        for s in [&fresh, &future] {
            assert_eq!(store.load(&s.id).expect("kept").target, s.target);
        }
        for id in [stale.id, done.id, old_corrupt.id, lost.id] {
            assert!(!state_path(&store, &id).exists() && !store.data_path(&id).exists());
        }
        assert!(!store.data_path(&old_orphan).exists());
        assert!(
            store.data_path(&young_orphan).exists(),
            "may be a creation under way"
        );
        assert!(!foreign_temp.exists());
        assert!(own_temp.exists(), "may be a write under way");
    }

    #[test]
    fn the_directory() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join(".upload-resumable");
        Store::open(&dir).expect("created");
        Store::open(&dir).expect("opened again");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        assert!(Store::open(&link).is_err());
        let file = root.path().join("file");
        fs::write(&file, "").expect("file");
        assert!(Store::open(&file).is_err());
    }
}
