//! Accounts from an htpasswd file (read in `htpasswd.rs`), HTTP Basic credentials (RFC 7617),
//! the cache of verified credentials, and reloading. What a verified user may do is decided in
//! `access.rs`; this module only says who the client is.
//!
//! Costs: a bcrypt check takes tens of milliseconds and Basic auth resends the password with
//! every request, so a successful check is remembered under a keyed SHA-256 digest of the whole
//! `Authorization` value (the key is random per process, so the map holds nothing an attacker
//! could test passwords against). The cache belongs to one version of the file (`Table`), so a
//! check that began before a reload can only ever fill the old version's cache. Unknown users
//! are verified against the slowest hash in the file, and every failure is padded to that
//! hash's time (`failure_time.rs`), so a failure takes as long whether the user exists or not
//! and whatever their hash costs; the hash crates compare in constant time.
//!
//! Checks in flight are bounded twice (`throttle.rs`). Globally, at most
//! `verification_slots()` hashes are computed at once; a check that finds them all busy is
//! answered `Overloaded` at once, without hashing. Per client address, a check counts toward
//! the failure throttle from the moment it starts (a success gives it back), so parallel
//! guesses cannot outrun the limit while their hashes are being computed.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use base64::Engine as _;
use log::{debug, warn};
use sha2::{Digest, Sha256};

use crate::security::access::Credentials;
use crate::security::failure_time::FailureTime;
use crate::security::htpasswd::{self, AuthFileError, StoredHash};
use crate::security::throttle::{Slots, Throttle, verification_slots};

/// Verified `Authorization` values remembered; the cache starts afresh when full.
const MAX_CACHED: usize = 4096;

/// The accounts of one version of the file, and the credentials verified against it.
struct Table {
    users: HashMap<String, StoredHash>,
    /// Verified instead of a real hash for unknown users, so that they take at least as long:
    /// the slowest hash in the file (`htpasswd::slowest_hash`).
    dummy: Option<StoredHash>,
    /// What every failed check is padded to: the time of a check against `dummy`.
    failure_time: FailureTime,
    /// Keyed digests of verified `Authorization` values -> user. Read on every authenticated
    /// request, written once per new credential. It lives in the table, not in `Accounts`, so
    /// a check that began before a reload can only fill the cache of the version it checked.
    verified: RwLock<HashMap<[u8; 32], Arc<str>>>,
}

/// Accounts loaded from an htpasswd file, reloadable, with their cache and throttle.
pub struct Accounts {
    path: PathBuf,
    table: RwLock<Arc<Table>>,
    /// Per client address (IPv6 per /64): failures, their window, and checks in flight.
    throttle: Throttle,
    /// Password hashes being computed now.
    slots: Slots,
    key: [u8; 32],
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Loads the file; any unusable line is an error naming it.
    pub fn load(path: &Path) -> Result<Accounts, AuthFileError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| AuthFileError {
            path: path.to_owned(),
            line: None,
            reason: format!("no randomness for the credential cache: {e}"),
        })?;
        Ok(Accounts {
            path: path.to_owned(),
            table: RwLock::new(Arc::new(read_table(path)?)),
            throttle: Throttle::default(),
            slots: Slots::new(verification_slots()),
            key,
        })
    }

    /// Reads the file again. On success the new accounts replace the old ones, with an empty
    /// cache of verified credentials (passwords may have changed); on failure the old
    /// accounts stay. Checks still running against the old accounts finish against them.
    pub fn reload(&self) -> Result<usize, AuthFileError> {
        let table = read_table(&self.path)?;
        let count = table.users.len();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(count)
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Who the client is, from its `Authorization` field (`None`: the field is absent).
    /// Failures are counted per client address and logged with the escaped user name;
    /// `Overloaded` means every password check slot was busy and nothing was verified.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: IpAddr,
        now: Instant,
    ) -> Credentials {
        let Some(value) = authorization else {
            return Credentials::Missing;
        };
        if let Some(wait) = self.throttle.wait(peer, now) {
            return Credentials::Throttled(wait);
        }
        self.check(&self.table(), value, peer, now)
    }

    /// The rest of `authenticate`, against one version of the accounts: a reload may replace
    /// it meanwhile, and then only this version's cache learns the result.
    fn check(&self, table: &Table, value: &str, peer: IpAddr, now: Instant) -> Credentials {
        let digest = self.digest(value);
        let cached = table
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        if let Some(user) = cached {
            return Credentials::Valid(user);
        }
        let attempt = match self.throttle.begin(peer, now) {
            Ok(attempt) => attempt,
            Err(wait) => return Credentials::Throttled(wait),
        };
        let Some((user, password)) = parse_basic(value) else {
            warn!("{peer}: malformed Authorization field");
            attempt.fail();
            return Credentials::Invalid;
        };
        let Some(slot) = self.slots.take() else {
            debug!("{peer}: all {} password check slots busy", self.slots.max);
            return Credentials::Overloaded;
        };
        let valid = table.verify(&user, &password);
        drop(slot);
        if !valid {
            warn!("{peer}: authentication failed for user {user:?}");
            attempt.fail();
            return Credentials::Invalid;
        }
        let user: Arc<str> = user.into();
        let mut verified = table.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= MAX_CACHED {
            verified.clear();
        }
        verified.insert(digest, user.clone());
        Credentials::Valid(user)
    }

    fn digest(&self, value: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(value.as_bytes());
        hasher.finalize().into()
    }
}

impl Table {
    /// Whether `password` is `user`'s. Whoever the user, a failure returns no sooner than a
    /// check against the slowest hash would: an unknown user is checked against that hash,
    /// and a wrong password for a cheaper one waits out the difference
    /// (`failure_time.rs`), so neither the existence of a user nor the cost of their hash
    /// shows in the time.
    fn verify(&self, user: &str, password: &str) -> bool {
        let start = Instant::now();
        let (valid, slowest) = match (self.users.get(user), &self.dummy) {
            (Some(hash), dummy) => (
                hash.verify(password),
                dummy.as_ref().is_some_and(|d| d.costs_as_much(hash)),
            ),
            (None, Some(dummy)) => {
                dummy.verify(password);
                (false, true)
            }
            (None, None) => (false, false),
        };
        let took = start.elapsed();
        if slowest {
            self.failure_time.observe(took);
        }
        if !valid {
            std::thread::sleep(self.failure_time.remaining(took));
        }
        valid
    }
}

fn read_table(path: &Path) -> Result<Table, AuthFileError> {
    let users = htpasswd::read(path)?;
    let dummy = htpasswd::slowest_hash(users.iter().map(|(_, hash)| hash));
    // one check against the slowest hash at load, so that the first failures are padded too
    let start = Instant::now();
    if let Some(dummy) = &dummy {
        dummy.verify("");
    }
    Ok(Table {
        users: users.into_iter().collect(),
        dummy,
        failure_time: FailureTime::new(start.elapsed()),
        verified: RwLock::new(HashMap::new()),
    })
}

/// The user and password of a Basic `Authorization` value (RFC 7617 §2:
/// `"Basic" 1*SP token68`, the token being base64 of `user-id ":" password`), or `None`
/// when the scheme is another, the base64 is bad, the text is not UTF-8 (§2.1: we announce
/// `charset="UTF-8"`), there is no colon, or the user-id has control characters.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let value = value.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return None;
    }
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::security::throttle::{MAX_FAILURES, THROTTLE_WINDOW};

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn basic_values() {
        let alice = Some(("alice".to_owned(), "s3cret:x".to_owned()));
        assert_eq!(parse_basic(&basic("alice:s3cret:x")), alice);
        assert_eq!(
            parse_basic(&basic("alice:s3cret:x").replace("Basic", "bAsIc")),
            alice
        );
        assert_eq!(
            parse_basic(&basic("alice:s3cret:x").replace(' ', "   ")),
            alice
        );
        assert_eq!(
            parse_basic(&basic("jürgen:pässword")),
            Some(("jürgen".into(), "pässword".into()))
        );
        assert_eq!(
            parse_basic(&basic(":")),
            Some((String::new(), String::new()))
        );
        for bad in [
            "Basic".to_owned(),
            "Basic ".to_owned(),
            "Bearer abc".to_owned(),
            "Basic !!!!".to_owned(),
            "Basic YWxpY2U".to_owned(), // unpadded
            basic("alice"),
            basic("al\nice:x"),
            basic("alice:x\0"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(b"a:\xff")
            ),
        ] {
            assert_eq!(parse_basic(&bad), None, "{bad:?}");
        }
    }

    fn accounts(text: &str) -> (tempfile::NamedTempFile, Accounts) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let accounts = Accounts::load(file.path()).unwrap();
        (file, accounts)
    }

    #[test]
    fn verifies_caches_and_throttles() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let (_file, accounts) = accounts(&format!("alice:{hash}\n"));
        let now = Instant::now();
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let good = basic("alice:pw");
        let valid = Credentials::Valid("alice".into());
        assert_eq!(accounts.authenticate(None, me, now), Credentials::Missing);
        assert_eq!(accounts.authenticate(Some(&good), me, now), valid);
        assert_eq!(accounts.table().verified.read().unwrap().len(), 1);
        assert_eq!(accounts.authenticate(Some(&good), me, now), valid);
        for _ in 0..MAX_FAILURES {
            let wrong = accounts.authenticate(Some(&basic("alice:nope")), me, now);
            assert_eq!(wrong, Credentials::Invalid);
        }
        assert_eq!(
            accounts.authenticate(Some(&good), me, now + Duration::from_secs(1)),
            Credentials::Throttled(Duration::from_secs(59))
        );
        assert_eq!(accounts.authenticate(Some(&good), other, now), valid);
        assert_eq!(
            accounts.authenticate(Some(&good), me, now + THROTTLE_WINDOW),
            valid
        );
    }

    fn argon2_hash(m_kib: u32, t: u32) -> String {
        use argon2::PasswordHasher as _;
        let params = argon2::Params::new(m_kib, t, 1, None).unwrap();
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"pw")
            .unwrap()
            .to_string()
    }

    #[test]
    fn issue_8_unknown_users_are_checked_against_the_slowest_hash() {
        let bcrypt_4 = bcrypt::hash("pw", 4).unwrap();
        let bcrypt_9 = bcrypt::hash("pw", 9).unwrap();
        let argon_small = argon2_hash(8, 1);
        let argon_large = argon2_hash(8192, 3);
        // (hashes in file order, the one unknown users must be checked against)
        let cases = [
            (vec![&bcrypt_4, &bcrypt_9], &bcrypt_9),
            (vec![&bcrypt_9, &bcrypt_4], &bcrypt_9),
            (vec![&argon_small, &argon_large], &argon_large),
            (vec![&argon_large, &argon_small], &argon_large),
            // across schemes, one timed check each: 2^9 bcrypt rounds against 8 KiB once
            (vec![&argon_small, &bcrypt_4, &bcrypt_9], &bcrypt_9),
            // 8 MiB three times against 2^4 rounds
            (vec![&bcrypt_4, &argon_small, &argon_large], &argon_large),
        ];
        for (hashes, slowest) in cases {
            let text: String = hashes
                .iter()
                .enumerate()
                .map(|(i, hash)| format!("user{i}:{hash}\n"))
                .collect();
            let (_file, accounts) = accounts(&text);
            let dummy = match &accounts.table().dummy {
                Some(StoredHash::Bcrypt(h) | StoredHash::Argon2id(h)) => h.clone(),
                None => panic!("no dummy"),
            };
            assert_eq!(&dummy, slowest, "{text}");
        }
    }

    #[test]
    fn issue_15_every_failure_takes_as_long_as_the_slowest_hash() {
        let cheap = bcrypt::hash("pw", 4).unwrap();
        let dear = bcrypt::hash("pw", 8).unwrap();
        let (_file, accounts) = accounts(&format!("cheap:{cheap}\ndear:{dear}\n"));
        let table = accounts.table();
        let slowest = || table.failure_time.remaining(Duration::ZERO);
        assert!(slowest() > Duration::ZERO, "measured at load");
        // a wrong password for the cheap hash waits until the slowest check's time
        let before = slowest();
        let start = Instant::now();
        assert!(!table.verify("cheap", "nope"));
        assert!(
            start.elapsed() >= before,
            "{:?} < {before:?}",
            start.elapsed()
        );
        assert_eq!(
            slowest(),
            before,
            "a cheap check says nothing of the slowest"
        );
        // an unknown user computes the dearest hash; a success is never padded
        assert!(!table.verify("nobody", "pw"));
        assert!(table.verify("cheap", "pw"));
        assert!(table.verify("dear", "pw"));
    }

    #[test]
    fn issue_8_a_check_begun_before_a_reload_cannot_cache_the_old_password() {
        let old = bcrypt::hash("old", 4).unwrap();
        let (file, accounts) = accounts(&format!("alice:{old}\n"));
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        // a request takes the accounts it checks against, then the file changes and is
        // reloaded while its hash is being computed, then it finishes
        let begun = accounts.table();
        let new = bcrypt::hash("new", 4).unwrap();
        std::fs::write(file.path(), format!("alice:{new}\n")).unwrap();
        assert_eq!(accounts.reload().unwrap(), 1);
        let valid = Credentials::Valid("alice".into());
        assert_eq!(accounts.check(&begun, &basic("alice:old"), me, now), valid);
        // what it learnt stays with the old accounts
        assert_eq!(
            accounts.authenticate(Some(&basic("alice:old")), me, now),
            Credentials::Invalid
        );
        assert_eq!(
            accounts.authenticate(Some(&basic("alice:new")), me, now),
            valid
        );
    }

    #[test]
    fn issue_8_parallel_guesses_count_toward_the_throttle_while_in_flight() {
        let hash = bcrypt::hash("pw", 6).unwrap();
        let (_file, mut accounts) = accounts(&format!("alice:{hash}\n"));
        accounts.slots = Slots::new(64); // only the throttle limits these
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        let guesses = 40;
        let barrier = std::sync::Barrier::new(guesses);
        let outcomes: Vec<Credentials> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..guesses)
                .map(|i| {
                    let (accounts, barrier) = (&accounts, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        accounts.authenticate(Some(&basic(&format!("alice:{i}"))), me, now)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let invalid = outcomes
            .iter()
            .filter(|c| **c == Credentials::Invalid)
            .count();
        let throttled = outcomes
            .iter()
            .filter(|c| matches!(c, Credentials::Throttled(_)))
            .count();
        assert_eq!((invalid, throttled), (10, 30), "{outcomes:?}");

        // a success gives its attempt back
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 1..MAX_FAILURES {
            let wrong = accounts.authenticate(Some(&basic("alice:nope")), other, now);
            assert_eq!(wrong, Credentials::Invalid);
        }
        let right = accounts.authenticate(Some(&basic("alice:pw")), other, now);
        assert_eq!(right, Credentials::Valid("alice".into()));
        let tenth = accounts.authenticate(Some(&basic("alice:nope")), other, now);
        assert_eq!(tenth, Credentials::Invalid);
        let eleventh = accounts.authenticate(Some(&basic("alice:nope")), other, now);
        assert!(
            matches!(eleventh, Credentials::Throttled(_)),
            "{eleventh:?}"
        );
    }

    #[test]
    fn issue_8_checks_beyond_the_slots_are_refused_without_hashing() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let (_file, mut accounts) = accounts(&format!("alice:{hash}\n"));
        accounts.slots = Slots::new(2);
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        let busy = [accounts.slots.take(), accounts.slots.take()];
        assert!(busy.iter().all(Option::is_some));
        for credentials in ["alice:pw", "nobody:pw"] {
            let outcome = accounts.authenticate(Some(&basic(credentials)), me, now);
            assert_eq!(outcome, Credentials::Overloaded);
        }
        // refused checks count as neither failures nor attempts in flight
        assert!(accounts.throttle.attempts.lock().unwrap().is_empty());
        drop(busy);
        let outcome = accounts.authenticate(Some(&basic("alice:pw")), me, now);
        assert_eq!(outcome, Credentials::Valid("alice".into()));
    }
}
