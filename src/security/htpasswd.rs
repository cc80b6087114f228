//! The account file: htpasswd text (`user:hash` lines), the stored hashes it holds (bcrypt
//! as `htpasswd -B` writes it, argon2id PHC strings) and what each costs to check, so that
//! unknown users can be checked against the slowest. Who the client is, and the cache of
//! verified credentials, are `accounts.rs`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use argon2::PasswordVerifier;

/// The bcrypt costs the `bcrypt` crate verifies (log2 of the rounds).
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// A stored password hash, in one of the schemes `htpasswd -B` or an argon2 tool writes.
#[derive(Clone)]
pub(super) enum StoredHash {
    /// `$2y$`, `$2b$` (and the older `$2a$`): bcrypt.
    Bcrypt(String),
    /// `$argon2id$v=19$m=...,t=...,p=...$salt$hash` (PHC string format).
    Argon2id(String),
}

impl StoredHash {
    fn parse(hash: &str) -> Result<StoredHash, String> {
        if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
            let parts = hash
                .parse::<bcrypt::HashParts>()
                .map_err(|_| "malformed bcrypt hash")?;
            // outside 4-31 the bcrypt crate refuses to verify: the user could never log in,
            // and the slowest-hash dummy for unknown users would answer at once
            let cost = parts.get_cost();
            if !BCRYPT_COSTS.contains(&cost) {
                return Err(format!(
                    "bcrypt cost {cost} is outside {}-{}",
                    BCRYPT_COSTS.start(),
                    BCRYPT_COSTS.end()
                ));
            }
            Ok(StoredHash::Bcrypt(hash.to_owned()))
        } else if hash.starts_with("$argon2id$") {
            let parsed = argon2::PasswordHash::new(hash).map_err(|_| "malformed argon2id hash")?;
            // the same for argon2: parameters its verifier refuses make a hash nobody matches
            argon2::Params::try_from(&parsed)
                .map_err(|e| format!("argon2id parameters out of range: {e}"))?;
            Ok(StoredHash::Argon2id(hash.to_owned()))
        } else if hash.starts_with("$apr1$") || hash.starts_with("{SHA}") || hash.starts_with("$1$")
        {
            Err("MD5/SHA-1 hashes are not accepted; use htpasswd -B (bcrypt)".into())
        } else {
            Err("unknown hash scheme (plain text?); use htpasswd -B (bcrypt) or argon2id".into())
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

    /// Whether checking `other` costs what checking this does: the same scheme and parameters.
    pub(super) fn costs_as_much(&self, other: &StoredHash) -> bool {
        self.cost() == other.cost()
    }

    /// Whether `password` matches; a malformed hash or an over-long password is no match.
    pub(super) fn verify(&self, password: &str) -> bool {
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
    pub(super) path: PathBuf,
    pub(super) line: Option<usize>,
    pub(super) reason: String,
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

/// Reads the file at `path` into its users, in file order; the error names the file and, for
/// a bad line, the line.
pub(super) fn read(path: &Path) -> Result<Vec<(String, StoredHash)>, AuthFileError> {
    let error = |line, reason| AuthFileError {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(None, e.to_string()))?;
    parse_htpasswd(&text).map_err(|(line, reason)| error(Some(line), reason))
}

/// The hash that takes longest to check, for unknown users: within a scheme the one with the
/// highest parameters (`StoredHash::cost`); across schemes (bcrypt against argon2id) the
/// slower of one timed check of each, since their parameters do not compare.
pub(super) fn slowest_hash<'a>(hashes: impl Iterator<Item = &'a StoredHash>) -> Option<StoredHash> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            (
                &*format!("a:{bcrypt}\nb:{}", bcrypt.replacen("$04$", "$03$", 1)),
                2,
                "user \"b\": bcrypt cost 3 is outside 4-31",
            ),
            (
                &*bcrypt.replacen("$04$", "$32$", 1).replacen("$2", "c:$2", 1),
                1,
                "cost 32",
            ),
            (
                &*bcrypt.replacen("$04$", "$99$", 1).replacen("$2", "c:$2", 1),
                1,
                "cost 99",
            ),
            (
                "a:$argon2id$v=19$m=1,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
                1,
                "argon2id parameters out of range",
            ),
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
}
