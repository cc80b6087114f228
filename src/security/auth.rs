//! Accounts from an htpasswd file, HTTP Basic credentials (RFC 7617), the cache of verified
//! credentials, the failure throttle, and reloading. What a verified user may do is decided in
//! `access.rs`; this module only says who the client is.
//!
//! Costs: a bcrypt check takes tens of milliseconds and Basic auth resends the password with
//! every request, so a successful check is remembered under a keyed SHA-256 digest of the whole
//! `Authorization` value (the key is random per process, so the map holds nothing an attacker
//! could test passwords against). The cache belongs to one version of the file (`Table`), so a
//! check that began before a reload can only ever fill the old version's cache. Unknown users
//! are verified against the slowest hash in the file so that they cost at least as long as
//! known ones; the hash crates compare in constant time.
//!
//! Checks in flight are bounded twice. Globally, at most `verification_slots()` hashes are
//! computed at once (an argon2id check allocates its `m` KiB, 19 MiB by default); a check that
//! finds them all busy is answered `Overloaded` at once, without hashing. Per client address,
//! a check counts toward the failure throttle from the moment it starts (a success gives it
//! back), so parallel guesses cannot outrun the limit while their hashes are being computed.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::PasswordVerifier;
use base64::Engine as _;
use log::{debug, warn};
use sha2::{Digest, Sha256};

use crate::security::access::Credentials;

/// Failed attempts one client address may make within `THROTTLE_WINDOW`; then 429.
pub const MAX_FAILURES: u32 = 10;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// Verified `Authorization` values remembered; the cache starts afresh when full.
const MAX_CACHED: usize = 4096;
/// Client addresses the throttle tracks; beyond it, stale entries are dropped first.
const MAX_TRACKED: usize = 16384;

/// A stored password hash, in one of the schemes `htpasswd -B` or an argon2 tool writes.
#[derive(Clone)]
enum StoredHash {
    /// `$2y$`, `$2b$` (and the older `$2a$`): bcrypt.
    Bcrypt(String),
    /// `$argon2id$v=19$m=...,t=...,p=...$salt$hash` (PHC string format).
    Argon2id(String),
}

impl StoredHash {
    fn parse(hash: &str) -> Result<StoredHash, &'static str> {
        if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|_| "malformed bcrypt hash")?;
            Ok(StoredHash::Bcrypt(hash.to_owned()))
        } else if hash.starts_with("$argon2id$") {
            argon2::PasswordHash::new(hash).map_err(|_| "malformed argon2id hash")?;
            Ok(StoredHash::Argon2id(hash.to_owned()))
        } else if hash.starts_with("$apr1$") || hash.starts_with("{SHA}") || hash.starts_with("$1$")
        {
            Err("MD5/SHA-1 hashes are not accepted; use htpasswd -B (bcrypt)")
        } else {
            Err("unknown hash scheme (plain text?); use htpasswd -B (bcrypt) or argon2id")
        }
    }

    /// What a check costs: the scheme first (0 bcrypt, 1 argon2id), then what compares within
    /// it: bcrypt's cost (log2 of its rounds); argon2's memory (KiB) times passes, then memory.
    /// Across schemes the numbers say nothing; `slowest_hash` times those.
    fn cost(&self) -> (u8, u64, u64) {
        match self {
            StoredHash::Bcrypt(hash) => {
                let cost = hash
                    .parse::<bcrypt::HashParts>()
                    .map_or(0, |p| p.get_cost());
                (0, u64::from(cost), 0)
            }
            StoredHash::Argon2id(hash) => {
                let params = argon2::PasswordHash::new(hash)
                    .ok()
                    .and_then(|h| argon2::Params::try_from(&h).ok());
                let (m, t) = params.map_or((0, 0), |p| (p.m_cost(), p.t_cost()));
                (1, u64::from(m) * u64::from(t), u64::from(m))
            }
        }
    }

    /// Whether `password` matches; a malformed hash or an over-long password is no match.
    fn verify(&self, password: &str) -> bool {
        match self {
            StoredHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            StoredHash::Argon2id(hash) => argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok(),
        }
    }
}

/// A line of the auth file that cannot be used; the message names the file and line.
#[derive(Debug)]
pub struct AuthFileError {
    path: PathBuf,
    line: Option<usize>,
    reason: String,
}

impl fmt::Display for AuthFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for AuthFileError {}

/// Parses htpasswd text: one `user:hash` per line; blank lines and `#` comments are skipped.
/// Returns the users, or `(line number, reason)` for the first bad line.
fn parse_htpasswd(text: &str) -> Result<Vec<(String, StoredHash)>, (usize, String)> {
    let mut users: Vec<(String, StoredHash)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err((n, "expected user:hash".into()));
        };
        if user.is_empty() {
            return Err((n, "empty user name".into()));
        }
        if users.iter().any(|(u, _)| u == user) {
            return Err((n, format!("user {user:?} appears twice")));
        }
        let hash = StoredHash::parse(hash.trim())
            .map_err(|reason| (n, format!("user {user:?}: {reason}")))?;
        users.push((user.to_owned(), hash));
    }
    Ok(users)
}

/// The accounts of one version of the file, and the credentials verified against it.
struct Table {
    users: HashMap<String, StoredHash>,
    /// Verified instead of a real hash for unknown users, so that they take at least as long:
    /// the slowest hash in the file (`slowest_hash`).
    dummy: Option<StoredHash>,
    /// Keyed digests of verified `Authorization` values -> user. Read on every authenticated
    /// request, written once per new credential. It lives in the table, not in `Accounts`, so
    /// a check that began before a reload can only fill the cache of the version it checked.
    verified: RwLock<HashMap<[u8; 32], Arc<str>>>,
}

/// One client address's recent attempts.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    /// When the first failure of the current window happened (before any: when the first
    /// check in flight began).
    since: Instant,
    failures: u32,
    /// Checks begun and not yet finished: they count as failures until they succeed.
    in_flight: u32,
}

impl Attempts {
    /// Failures within the window that `now` falls in.
    fn failures(&self, now: Instant) -> u32 {
        if now.duration_since(self.since) < THROTTLE_WINDOW {
            self.failures
        } else {
            0
        }
    }

    /// How long the client must wait, if failures and checks in flight use up its limit.
    fn wait(&self, now: Instant) -> Option<Duration> {
        (self.failures(now) + self.in_flight >= MAX_FAILURES)
            .then(|| (self.since + THROTTLE_WINDOW).saturating_duration_since(now))
    }
}

/// Accounts loaded from an htpasswd file, reloadable, with their cache and throttle.
pub struct Accounts {
    path: PathBuf,
    table: RwLock<Arc<Table>>,
    /// Per client address (IPv6 per /64): failures, their window, and checks in flight.
    attempts: Mutex<HashMap<IpAddr, Attempts>>,
    /// Whether `attempts` may have an entry: spares the common case (none) its lock.
    any_attempts: AtomicBool,
    /// Password hashes being computed now; never more than `max_checks`.
    checks: AtomicUsize,
    max_checks: usize,
    key: [u8; 32],
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How many password checks may run at once: one per CPU, at least 2. Each costs a CPU for
/// tens to hundreds of milliseconds (and an argon2id one its `m` KiB of memory), so more at
/// once would only make every one of them slower and the memory unbounded.
pub fn verification_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
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
            attempts: Mutex::new(HashMap::new()),
            any_attempts: AtomicBool::new(false),
            checks: AtomicUsize::new(0),
            max_checks: verification_slots(),
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
        let client = throttle_key(peer);
        if let Some(wait) = self.throttled(client, now) {
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
        let attempt = match self.begin_attempt(throttle_key(peer), now) {
            Ok(attempt) => attempt,
            Err(wait) => return Credentials::Throttled(wait),
        };
        let Some((user, password)) = parse_basic(value) else {
            warn!("{peer}: malformed Authorization field");
            attempt.fail();
            return Credentials::Invalid;
        };
        let Some(slot) = self.verification_slot() else {
            debug!("{peer}: all {} password check slots busy", self.max_checks);
            return Credentials::Overloaded;
        };
        let valid = match (table.users.get(&user), &table.dummy) {
            (Some(hash), _) => hash.verify(&password),
            (None, Some(dummy)) => {
                dummy.verify(&password);
                false
            }
            (None, None) => false,
        };
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

    /// How long `client` must wait, if it has used up its failures.
    fn throttled(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        if !self.any_attempts.load(Ordering::Relaxed) {
            return None;
        }
        let attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        attempts.get(&client)?.wait(now)
    }

    /// Counts a check from `client` as in flight, under the same lock that decides whether
    /// the client is throttled: parallel guesses see each other before any hash is computed.
    /// `Err` is how long the client must wait.
    fn begin_attempt(&self, client: IpAddr, now: Instant) -> Result<Attempt<'_>, Duration> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() >= MAX_TRACKED && !attempts.contains_key(&client) {
            attempts.retain(|_, a| a.in_flight > 0 || a.failures(now) > 0);
            if attempts.len() >= MAX_TRACKED {
                // a flood from more addresses than we track: forget their failures rather
                // than grow (checks in flight are bounded by the connection threads)
                attempts.retain(|_, a| a.in_flight > 0);
            }
        }
        let entry = attempts.entry(client).or_insert(Attempts {
            since: now,
            failures: 0,
            in_flight: 0,
        });
        if let Some(wait) = entry.wait(now) {
            return Err(wait);
        }
        entry.in_flight += 1;
        self.any_attempts.store(true, Ordering::Relaxed);
        Ok(Attempt {
            accounts: self,
            client,
            now,
            failed: false,
        })
    }

    /// Ends a check begun by `begin_attempt`: a failure stays counted, a success (or a check
    /// that never ran) is given back.
    fn end_attempt(&self, client: IpAddr, now: Instant, failed: bool) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        // entries with checks in flight are never dropped, so it is there
        let Some(entry) = attempts.get_mut(&client) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if failed {
            if entry.failures(now) == 0 {
                entry.since = now;
                entry.failures = 0;
            }
            entry.failures += 1;
        }
        if entry.in_flight == 0 && entry.failures(now) == 0 {
            attempts.remove(&client);
        }
        if attempts.is_empty() {
            self.any_attempts.store(false, Ordering::Relaxed);
        }
    }

    /// One of the `max_checks` slots for computing a hash, or `None` when all are taken.
    fn verification_slot(&self) -> Option<Slot<'_>> {
        self.checks
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_checks).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(&self.checks))
    }
}

/// A check counted in flight by `begin_attempt`. Dropping it gives the attempt back unless
/// `fail` was called; being a guard, a panic inside a hash crate cannot leak the count (which
/// would lock the address out for good).
struct Attempt<'a> {
    accounts: &'a Accounts,
    client: IpAddr,
    now: Instant,
    failed: bool,
}

impl Attempt<'_> {
    /// The check failed: it stays counted toward the throttle.
    fn fail(mut self) {
        self.failed = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.accounts
            .end_attempt(self.client, self.now, self.failed);
    }
}

/// A slot taken from `Accounts::checks`, given back on drop.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn read_table(path: &Path) -> Result<Table, AuthFileError> {
    let error = |line, reason| AuthFileError {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(None, e.to_string()))?;
    let users = parse_htpasswd(&text).map_err(|(line, reason)| error(Some(line), reason))?;
    let dummy = slowest_hash(users.iter().map(|(_, hash)| hash));
    Ok(Table {
        users: users.into_iter().collect(),
        dummy,
        verified: RwLock::new(HashMap::new()),
    })
}

/// The hash that takes longest to check, for unknown users: within a scheme the one with the
/// highest parameters (`StoredHash::cost`); across schemes (bcrypt against argon2id) the
/// slower of one timed check of each, since their parameters do not compare.
fn slowest_hash<'a>(hashes: impl Iterator<Item = &'a StoredHash>) -> Option<StoredHash> {
    let mut costliest: Vec<&StoredHash> = Vec::new();
    for hash in hashes {
        let cost = hash.cost();
        match costliest.iter_mut().find(|h| h.cost().0 == cost.0) {
            Some(best) if best.cost() < cost => *best = hash,
            Some(_) => {}
            None => costliest.push(hash),
        }
    }
    if costliest.len() <= 1 {
        return costliest.first().map(|&h| h.clone());
    }
    costliest
        .into_iter()
        .max_by_key(|hash| {
            let start = Instant::now();
            hash.verify("");
            start.elapsed()
        })
        .cloned()
}

/// IPv4 addresses count one by one; IPv6 clients usually own a whole /64.
fn throttle_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
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
    use super::*;

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

    #[test]
    fn htpasswd_lines() {
        let bcrypt = bcrypt::hash("pw", 4).unwrap();
        let ok = format!("# comment\n\nalice:{bcrypt}\r\nbob:{bcrypt}\n");
        assert_eq!(parse_htpasswd(&ok).unwrap().len(), 2);
        let cases = [
            ("alice:plain", 1, "unknown hash scheme"),
            ("alice:$apr1$abc$def", 1, "MD5"),
            ("alice:{SHA}abc=", 1, "MD5"),
            (&*format!("a:{bcrypt}\nnocolon"), 2, "user:hash"),
            (&*format!("a:{bcrypt}\na:{bcrypt}"), 2, "twice"),
            (&*format!(":{bcrypt}"), 1, "empty user"),
            ("a:$2y$05$short", 1, "malformed bcrypt"),
            ("a:$argon2id$nonsense", 1, "malformed argon2id"),
        ];
        for (text, line, reason) in cases {
            match parse_htpasswd(text) {
                Err((n, why)) => {
                    assert_eq!(n, line, "{text:?}");
                    assert!(why.contains(reason), "{text:?}: {why}");
                }
                Ok(_) => panic!("{text:?} accepted"),
            }
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
        accounts.max_checks = 64; // only the throttle limits these
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
        accounts.max_checks = 2;
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        let busy = [accounts.verification_slot(), accounts.verification_slot()];
        assert!(busy.iter().all(Option::is_some));
        for credentials in ["alice:pw", "nobody:pw"] {
            let outcome = accounts.authenticate(Some(&basic(credentials)), me, now);
            assert_eq!(outcome, Credentials::Overloaded);
        }
        // refused checks count as neither failures nor attempts in flight
        assert!(accounts.attempts.lock().unwrap().is_empty());
        drop(busy);
        let outcome = accounts.authenticate(Some(&basic("alice:pw")), me, now);
        assert_eq!(outcome, Credentials::Valid("alice".into()));
    }

    #[test]
    fn ipv6_clients_are_throttled_per_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(throttle_key(a), throttle_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(throttle_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
