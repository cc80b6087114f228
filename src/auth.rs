//! Accounts from an htpasswd file, HTTP Basic credentials (RFC 7617), the cache of verified
//! credentials, the failure throttle, and reloading. What a verified user may do is decided in
//! `access.rs`; this module only says who the client is.
//!
//! Costs: a bcrypt check takes tens of milliseconds and Basic auth resends the password with
//! every request, so a successful check is remembered under a keyed SHA-256 digest of the whole
//! `Authorization` value (the key is random per process, so the map holds nothing an attacker
//! could test passwords against). Unknown users are verified against a dummy hash so that they
//! cost as long as known ones; the hash crates compare in constant time.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::PasswordVerifier;
use base64::Engine as _;
use log::warn;
use sha2::{Digest, Sha256};

use crate::access::Credentials;

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

/// The accounts of one version of the file.
struct Table {
    users: HashMap<String, StoredHash>,
    /// Verified instead of a real hash for unknown users, so that they take as long.
    dummy: Option<StoredHash>,
}

/// Accounts loaded from an htpasswd file, reloadable, with their cache and throttle.
pub struct Accounts {
    path: PathBuf,
    table: RwLock<Arc<Table>>,
    /// Keyed digests of verified `Authorization` values -> user. Read on every authenticated
    /// request, written once per new credential.
    verified: RwLock<HashMap<[u8; 32], Arc<str>>>,
    /// Per client address (IPv6 per /64): failures and when the window began.
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Whether `failures` has any entry: spares the common case (no failures) its lock.
    any_failures: AtomicBool,
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
            verified: RwLock::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            any_failures: AtomicBool::new(false),
            key,
        })
    }

    /// Reads the file again. On success the new accounts replace the old ones and the cache of
    /// verified credentials is emptied (passwords may have changed); on failure the old
    /// accounts stay.
    pub fn reload(&self) -> Result<usize, AuthFileError> {
        let table = read_table(&self.path)?;
        let count = table.users.len();
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        self.verified
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(count)
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Who the client is, from its `Authorization` field (`None`: the field is absent).
    /// Failures are counted per client address and logged with the escaped user name.
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
        let digest = self.digest(value);
        let cached = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        if let Some(user) = cached {
            return Credentials::Valid(user);
        }
        let (user, valid) = match parse_basic(value) {
            Some((user, password)) => {
                let table = self.table();
                let valid = match (table.users.get(&user), &table.dummy) {
                    (Some(hash), _) => hash.verify(&password),
                    (None, Some(dummy)) => {
                        dummy.verify(&password);
                        false
                    }
                    (None, None) => false,
                };
                (Some(user), valid)
            }
            None => (None, false),
        };
        match (user, valid) {
            (Some(user), true) => {
                let user: Arc<str> = user.into();
                let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
                if verified.len() >= MAX_CACHED {
                    verified.clear();
                }
                verified.insert(digest, user.clone());
                Credentials::Valid(user)
            }
            (user, _) => {
                match user {
                    Some(user) => warn!("{peer}: authentication failed for user {user:?}"),
                    None => warn!("{peer}: malformed Authorization field"),
                }
                self.record_failure(client, now);
                Credentials::Invalid
            }
        }
    }

    fn digest(&self, value: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(value.as_bytes());
        hasher.finalize().into()
    }

    /// How long `client` must wait, if it has used up its failures.
    fn throttled(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        if !self.any_failures.load(Ordering::Relaxed) {
            return None;
        }
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let &(since, count) = failures.get(&client)?;
        let ends = since + THROTTLE_WINDOW;
        (count >= MAX_FAILURES && now < ends).then(|| ends - now)
    }

    fn record_failure(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (since, _)| now.duration_since(*since) < THROTTLE_WINDOW);
            if failures.len() >= MAX_TRACKED {
                // a flood from more addresses than we track: forget them rather than grow
                failures.clear();
            }
        }
        self.any_failures.store(true, Ordering::Relaxed);
        let entry = failures.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= THROTTLE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
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
    let dummy = users.first().map(|(_, hash)| hash.clone());
    Ok(Table {
        users: users.into_iter().collect(),
        dummy,
    })
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
        assert_eq!(accounts.verified.read().unwrap().len(), 1);
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

    #[test]
    fn ipv6_clients_are_throttled_per_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(throttle_key(a), throttle_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(throttle_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
