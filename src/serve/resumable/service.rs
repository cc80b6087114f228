//! The running side of resumable uploads: one `Service` per process (the store under the
//! served directory, the limits, which uploads a request is writing to), started with the
//! server, swept at start-up and periodically.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::config::Limits;
use crate::security::throttle::throttle_key;
use crate::serve::resumable::STATE_DIR;
use crate::serve::resumable::fields::{MAX_INTEGER, UploadLimit};
use crate::serve::resumable::state::{Owner, Phase, UploadId, UploadState};
use crate::serve::resumable::store::{Listed, StateError, Store};

/// A long append is fsynced this often, so that a cut keeps most of what arrived.
const SYNC_EVERY_BYTES: u64 = 16 << 20;
/// The longest pause between two sweeps (a shorter expiry sweeps more often).
const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);

/// What the server allows, fixed at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `max-size` and `max-append-size`: the largest request body.
    pub max_size: u64,
    pub max_age: Duration,
    pub per_client: usize,
    pub total: usize,
}

#[derive(Debug)]
pub struct Service {
    pub store: Store,
    pub settings: Settings,
    /// Uploads a request is writing to or removing right now (one at a time each).
    busy: Mutex<HashSet<UploadId>>,
    /// Told when a claim ends, for a cancellation waiting for an append to stop.
    released: Condvar,
    /// Uploads whose cancellation asks the request writing to them to stop.
    /// (How many cancellations wait for each.)
    stopping: Mutex<HashMap<UploadId, usize>>,
    /// Held from the cap check to the new state on disk, so that parallel creations cannot
    /// all pass the check before any of them counts.
    pub creating: Mutex<()>,
}

static SERVICE: OnceLock<Service> = OnceLock::new();

/// Finds the state directory under `root` (made with the first upload), removes what expired
/// while the server was down, and sweeps again periodically. Once per process; later calls change nothing.
pub fn start(root: &Path, limits: &Limits) -> io::Result<()> {
    let settings = Settings {
        max_size: limits.max_body_bytes.min(MAX_INTEGER),
        max_age: limits.upload_max_age,
        per_client: limits.max_uploads_per_client,
        total: limits.max_uploads,
    };
    let dir = root.join(STATE_DIR);
    let store = Store::at(&dir);
    if std::fs::symlink_metadata(&dir).is_ok() {
        // what is there must be our directory, not a link to somewhere else
        store.ensure_dir()?;
    }
    let service = Service {
        store,
        settings,
        busy: Mutex::new(HashSet::new()),
        released: Condvar::new(),
        stopping: Mutex::new(HashMap::new()),
        creating: Mutex::new(()),
    };
    service.sweep();
    if SERVICE.set(service).is_ok() {
        let pause = (settings.max_age / 2).clamp(Duration::from_secs(1), SWEEP_EVERY);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(pause);
                if let Some(service) = SERVICE.get() {
                    service.sweep();
                }
            }
        });
    }
    Ok(())
}

/// The service, once `start` ran (a server with a directory).
pub fn service() -> Option<&'static Service> {
    SERVICE.get()
}

/// Held while a request writes to (or removes) one upload; released on drop.
pub struct Busy<'a> {
    service: &'a Service,
    id: UploadId,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.service.busy_set().remove(&self.id);
        self.service.released.notify_all();
    }
}

impl Service {
    fn busy_set(&self) -> std::sync::MutexGuard<'_, HashSet<UploadId>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `id` for one writer; `None` while another request holds it.
    pub fn claim(&self, id: UploadId) -> Option<Busy<'_>> {
        // the set's lock is released before a `Busy` exists: its drop takes the lock again
        let claimed = self.busy_set().insert(id);
        claimed.then(|| Busy { service: self, id })
    }

    /// Claims `id` for its removal: the request writing to it, if any, is asked to stop
    /// (`asked_to_stop`), and waited for at most `patience`.
    pub fn claim_stopping(&self, id: UploadId, patience: Duration) -> Option<Busy<'_>> {
        let deadline = Instant::now() + patience;
        *self.stopping_set().entry(id).or_default() += 1;
        let mut set = self.busy_set();
        let claimed = loop {
            if set.insert(id) {
                break true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            set = (self.released.wait_timeout(set, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(set);
        let mut stopping = self.stopping_set();
        if let Some(waiting) = stopping.get_mut(&id) {
            *waiting -= 1;
            if *waiting == 0 {
                stopping.remove(&id);
            }
        }
        drop(stopping);
        claimed.then(|| Busy { service: self, id })
    }

    /// Whether a cancellation waits for the request writing to `id` to stop.
    pub fn asked_to_stop(&self, id: &UploadId) -> bool {
        self.stopping_set().contains_key(id)
    }

    fn stopping_set(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, usize>> {
        self.stopping.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn sync_every(&self) -> u64 {
        SYNC_EVERY_BYTES
    }

    fn sweep(&self) {
        let hold = |id| self.claim(id);
        match self
            .store
            .sweep(SystemTime::now(), self.settings.max_age, hold)
        {
            Ok(sweep) => {
                if !sweep.removed.is_empty() || sweep.strays > 0 {
                    log::info!(
                        "resumable uploads: {} expired, {} strays removed",
                        sweep.removed.len(),
                        sweep.strays
                    );
                }
                for (id, error) in sweep.unreadable {
                    log::warn!("resumable upload {id:?}: {error}");
                }
            }
            Err(e) => log::error!("resumable uploads: sweep failed: {e}"),
        }
    }

    /// `Upload-Limit` for an upload last touched at `touched` (`None`: a new one).
    pub fn limit(&self, touched: Option<SystemTime>) -> UploadLimit {
        let age = touched
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        UploadLimit {
            max_size: Some(self.settings.max_size),
            max_append_size: Some(self.settings.max_size),
            max_age: Some(self.settings.max_age.saturating_sub(age).as_secs()),
            ..UploadLimit::default()
        }
    }

    /// The upload `id` if it exists, is not expired and `user` may use it; every other case
    /// looks the same from outside (404), so nobody learns that an id exists.
    pub fn find(&self, id: &UploadId, user: Option<&str>) -> Option<UploadState> {
        let state = match self.store.load(id) {
            Ok(state) => state,
            Err(StateError::NotFound) => return None,
            Err(e) => {
                log::warn!("resumable upload {id:?}: {e}");
                return None;
            }
        };
        // expired, unless a request is writing to it right now (so it is not abandoned)
        if state.is_expired(SystemTime::now(), self.settings.max_age)
            && let Some(_busy) = self.claim(*id)
        {
            let _ = self.store.remove(id);
            return None;
        }
        state.owner.admits(user).then_some(state)
    }

    /// Whether a new upload by `owner` from `peer` stays within the caps: `Err(true)` when the
    /// client has too many open, `Err(false)` when the server has.
    pub fn within_caps(&self, owner: &Owner, peer: IpAddr) -> Result<(), bool> {
        let listed = self.store.list_open().map_err(|_| false)?;
        let now = SystemTime::now();
        let open: Vec<UploadState> = listed
            .into_iter()
            .filter_map(|l| match l {
                Listed::Upload(s)
                    if s.phase == Phase::Open && !s.is_expired(now, self.settings.max_age) =>
                {
                    Some(*s)
                }
                _ => None,
            })
            .collect();
        if open.len() >= self.settings.total {
            return Err(false);
        }
        let mine = open
            .iter()
            .filter(|s| match owner {
                Owner::Account(_) => s.owner == *owner,
                // one IPv6 /64 is one client, as for connections and logins
                Owner::Anonymous => {
                    s.owner == Owner::Anonymous && throttle_key(s.peer) == throttle_key(peer)
                }
            })
            .count();
        if mine >= self.settings.per_client {
            return Err(true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::resumable::state::tests::sample;

    fn service(dir: &Path, per_client: usize, total: usize) -> Service {
        Service {
            store: Store::open(&dir.join(STATE_DIR)).expect("store"),
            settings: Settings {
                max_size: 10,
                max_age: Duration::from_secs(60),
                per_client,
                total,
            },
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
            stopping: Mutex::new(HashMap::new()),
            creating: Mutex::new(()),
        }
    }

    #[test]
    fn an_anonymous_ipv6_client_is_its_64() {
        let dir = tempfile::tempdir().expect("temp dir");
        let service = service(dir.path(), 1, 10);
        let mut state = sample("a");
        state.owner = Owner::Anonymous;
        state.peer = "2001:db8:1:2::1".parse().unwrap();
        state.touched = SystemTime::now();
        service.store.create(&state).expect("create");
        let caps = |peer: &str| service.within_caps(&Owner::Anonymous, peer.parse().unwrap());
        assert_eq!(caps("2001:db8:1:2::ffff"), Err(true), "the same /64");
        assert_eq!(caps("2001:db8:1:3::1"), Ok(()), "another /64");
        assert_eq!(caps("192.0.2.1"), Ok(()));
    }

    #[test]
    fn one_claim_at_a_time_and_a_refused_claim_releases_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let service = service(dir.path(), 1, 1);
        let id = UploadId::random().expect("id");
        let first = service.claim(id).expect("free");
        assert!(service.claim(id).is_none());
        assert!(
            service.claim(id).is_none(),
            "the refused claim did not release the first"
        );
        drop(first);
        assert!(service.claim(id).is_some());
    }
}
