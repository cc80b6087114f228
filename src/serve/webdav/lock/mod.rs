//! The WebDAV lock table (RFC 4918 §6, §7, §9.10, §9.11): write locks, exclusive or shared, of
//! depth 0 or infinity, held in memory (they end with the process) and bounded in count. It
//! decides conflicts between locks, refreshes and removes them, and answers the question every
//! changing method asks: may this request change this resource, given the lock tokens it
//! submitted? Resources are named by their normalised relative path under `/files/` (`""` for
//! the root collection, `a/b` below it: no leading or trailing `/`), so a lock follows the URL,
//! not the file. Time is passed in, so the tests need no clock.
//!
//! Statuses are the caller's; the intended ones are in each error's documentation.
//!
//! This file holds the types, `Timeout` parsing and token making; `table` holds the table.

mod table;

use std::fmt;
use std::time::{Duration, Instant};

use crate::http::syntax::elements;

pub use table::LockTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Exclusive,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The resource alone.
    Zero,
    /// The resource and, for a collection, everything under it.
    Infinity,
}

/// A `Timeout` as RFC 4918 §10.7 writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Seconds(u64),
    Infinite,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeout::Seconds(n) => write!(f, "Second-{n}"),
            Timeout::Infinite => f.write_str("Infinite"),
        }
    }
}

/// `TimeOut = "Timeout" ":" 1#TimeType`, `TimeType = ("Second-" DAVTimeOutVal | "Infinite")`
/// (RFC 4918 §10.7): the first element understood, in the client's order of preference;
/// `None` when there is none (the caller then grants its default).
pub fn parse_timeout<'a>(values: impl Iterator<Item = &'a str>) -> Option<Timeout> {
    elements(values).find_map(|e| {
        if e.eq_ignore_ascii_case("Infinite") {
            return Some(Timeout::Infinite);
        }
        let (unit, digits) = e.split_at_checked(7)?;
        if !unit.eq_ignore_ascii_case("Second-") {
            return None;
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // RFC 4918 §10.7: at most 2^32-1; anything longer saturates and is capped anyway
        Some(Timeout::Seconds(digits.parse().unwrap_or(u64::MAX)))
    })
}

/// The table's bounds.
#[derive(Debug, Clone, Copy)]
pub struct LockLimits {
    /// Locks held at once, all clients together.
    pub max_locks: usize,
    /// The longest timeout granted; `Infinite` and longer asks get this.
    pub max_timeout: Duration,
    /// Granted when the request asks for none.
    pub default_timeout: Duration,
    /// The `<owner>` XML kept with a lock, in bytes.
    pub max_owner_bytes: usize,
}

impl Default for LockLimits {
    fn default() -> Self {
        LockLimits {
            max_locks: 10_000,
            // a day: long enough for an editing session, short enough that a forgotten lock
            // (a client that crashed) does not outlive the next morning
            max_timeout: Duration::from_secs(24 * 3600),
            default_timeout: Duration::from_secs(3600),
            max_owner_bytes: 4096,
        }
    }
}

impl LockLimits {
    /// The time granted for a request's `Timeout` (RFC 4918 §10.7 lets the server choose).
    pub(super) fn grant(&self, asked: Option<Timeout>) -> Duration {
        match asked {
            None => self.default_timeout.min(self.max_timeout),
            Some(Timeout::Infinite) => self.max_timeout,
            Some(Timeout::Seconds(n)) => Duration::from_secs(n).min(self.max_timeout),
        }
    }
}

/// One lock, as lockdiscovery shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// `urn:uuid:` and a random (version 4) UUID.
    pub token: String,
    /// The resource locked (for depth infinity, the top of what is locked).
    pub root: String,
    pub scope: Scope,
    pub depth: Depth,
    /// The `<owner>` content as the client sent it (replayable XML), if any.
    pub owner: Option<String>,
    /// Who took it, if authenticated: only they may use or remove it.
    pub principal: Option<String>,
    pub expires: Instant,
}

impl Lock {
    /// Whether `path` is within this lock's scope.
    pub fn covers(&self, path: &str) -> bool {
        self.root == path || (self.depth == Depth::Infinity && is_below(path, &self.root))
    }

    /// What is left of the timeout, for lockdiscovery's `<timeout>`.
    pub fn remaining(&self, now: Instant) -> Timeout {
        Timeout::Seconds(self.expires.saturating_duration_since(now).as_secs())
    }

    pub(super) fn usable_by(&self, principal: Option<&str>) -> bool {
        self.principal.is_none() || self.principal.as_deref() == principal
    }
}

/// Strictly below: `a/b` is below `a` and below `""`; `ab` is not below `a`.
pub(super) fn is_below(path: &str, root: &str) -> bool {
    if root.is_empty() {
        return !path.is_empty();
    }
    path.len() > root.len() && path.starts_with(root) && path.as_bytes()[root.len()] == b'/'
}

/// `path` and each of its ancestors, up to `""`.
pub(super) fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let here = next?;
        next = match here.rfind('/') {
            Some(i) => Some(&here[..i]),
            None if here.is_empty() => None,
            None => Some(""),
        };
        Some(here)
    })
}

/// A lock to take.
#[derive(Debug, Clone)]
pub struct NewLock {
    pub root: String,
    pub scope: Scope,
    pub depth: Depth,
    pub owner: Option<String>,
    pub principal: Option<String>,
    /// As the request's `Timeout` asked (`parse_timeout`).
    pub timeout: Option<Timeout>,
}

/// Why a lock operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// A lock in the way, rooted here: 423, with `no-conflicting-lock` naming it.
    Conflict { root: String },
    /// No lock with the token (or none that covers the resource): 412 for a refresh, 409 with
    /// `lock-token-matches-request-uri` for UNLOCK.
    NoSuchLock,
    /// The lock was taken by another principal: 403.
    NotOwner,
    /// `max_locks` are held: 503.
    TableFull,
    /// The `<owner>` is over `max_owner_bytes`: 400.
    OwnerTooLarge,
    /// The system's random source failed: 500.
    NoRandomness,
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Conflict { root } => write!(f, "locked by a lock on {root:?}"),
            LockError::NoSuchLock => f.write_str("no such lock on this resource"),
            LockError::NotOwner => f.write_str("the lock belongs to someone else"),
            LockError::TableFull => f.write_str("too many locks"),
            LockError::OwnerTooLarge => f.write_str("lock owner too large"),
            LockError::NoRandomness => f.write_str("no randomness for a lock token"),
        }
    }
}

impl std::error::Error for LockError {}

/// A change refused for want of a lock token: 423, with `lock-token-submitted` naming `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub root: String,
}

/// A fresh lock token: `urn:uuid:` and a version 4 UUID (RFC 9562 §5.4) from the system's
/// CSPRNG, so that no client can guess another's.
pub(super) fn new_token() -> Result<String, LockError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| LockError::NoRandomness)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Two locks on overlapping scopes can coexist only if both are shared (RFC 4918 §6.2).
pub(super) fn compatible(a: Scope, b: Scope) -> bool {
    a == Scope::Shared && b == Scope::Shared
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn paths_and_their_ancestors() {
        assert_eq!(
            self_and_ancestors("a/b/c").collect::<Vec<_>>(),
            ["a/b/c", "a/b", "a", ""]
        );
        assert_eq!(self_and_ancestors("").collect::<Vec<_>>(), [""]);
        for (path, root, want) in [
            ("a/b", "a", true),
            ("a", "", true),
            ("", "", false),
            ("a", "a", false),
            ("ab", "a", false),
            ("a/b", "a/b/c", false),
        ] {
            assert_eq!(is_below(path, root), want, "{path} below {root}");
        }
    }

    #[test]
    fn timeouts_are_parsed_and_capped() {
        let parse = |v: &str| parse_timeout(std::iter::once(v));
        assert_eq!(parse("Second-3600"), Some(Timeout::Seconds(3600)));
        assert_eq!(parse("second-5"), Some(Timeout::Seconds(5)));
        assert_eq!(
            parse("Infinite, Second-4100000000"),
            Some(Timeout::Infinite)
        );
        assert_eq!(
            parse("Extend, Second-x, Second-7"),
            Some(Timeout::Seconds(7))
        );
        assert_eq!(
            parse("Second-99999999999999999999999"),
            Some(Timeout::Seconds(u64::MAX))
        );
        for bad in ["", "Second-", "Second--1", "Seconds-1", "Minute-1", "é"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let limits = LockLimits::default();
        assert_eq!(limits.grant(None), Duration::from_secs(3600));
        assert_eq!(limits.grant(Some(Timeout::Infinite)), limits.max_timeout);
        assert_eq!(
            limits.grant(Some(Timeout::Seconds(u64::MAX))),
            limits.max_timeout
        );
        assert_eq!(
            limits.grant(Some(Timeout::Seconds(10))),
            Duration::from_secs(10)
        );
        assert_eq!(Timeout::Seconds(10).to_string(), "Second-10");
    }

    #[test]
    fn tokens_are_random_v4_uuids() {
        let mut seen = BTreeSet::new();
        for _ in 0..1000 {
            let t = new_token().unwrap();
            let uuid = t.strip_prefix("urn:uuid:").unwrap();
            let groups: Vec<&str> = uuid.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{t}"
            );
            assert!(
                uuid.bytes()
                    .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(groups[2].starts_with('4'), "version 4: {t}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "variant: {t}"
            );
            assert!(seen.insert(t));
        }
    }
}
