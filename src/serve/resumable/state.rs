//! What the server remembers about one upload resource besides its bytes, and the bytes of
//! its state file (strict JSON). No I/O here: `store` puts these on disk.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::files::TEMP_PREFIX;
use crate::serve::resumable::fields::InteropVersion;

/// A state file larger than this is not ours: request heads are at most 64 KiB, and a state
/// holds a few of their values.
pub(super) const MAX_STATE_BYTES: usize = 256 * 1024;
/// The layout of `StateFile`; a file of another format is not read.
const FORMAT: u32 = 1;

/// The unguessable name of an upload resource: 128 bits from the operating system's CSPRNG.
/// For an anonymous upload it is the only credential, so `Debug` shows just its start.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId([u8; 16]);

impl UploadId {
    pub fn random() -> io::Result<UploadId> {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("getrandom: {e}")))?;
        Ok(UploadId(bytes))
    }

    /// Exactly 32 lowercase hex digits, as `Display` writes them; anything else is no id.
    pub fn parse(text: &str) -> Option<UploadId> {
        let digits = text.as_bytes();
        if digits.len() != 32 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0; 16];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(UploadId(bytes))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Who may use an upload resource (issue 18: another account gets 404).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Owner {
    Account(String),
    /// Created without credentials: whoever holds the id.
    Anonymous,
}

impl Owner {
    /// Whether a request by `user` (`None`: no credentials) may touch the upload.
    pub fn admits(&self, user: Option<&str>) -> bool {
        match self {
            Owner::Account(name) => user == Some(name.as_str()),
            Owner::Anonymous => true,
        }
    }
}

/// The method of the creating request, which decides the final response (a `PUT` that
/// replaced a file answers 204, everything else 201).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CreatedWith {
    Put,
    Post,
}

/// The creating request's conditional fields, as sent, checked again at the final rename.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_unmodified_since: Option<String>,
}

/// Digests the creating request declared for the whole representation (`Content-Digest` only
/// when that request said `Upload-Complete: ?1`), as sent, verified at completion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Digests {
    pub content_digest: Option<String>,
    pub repr_digest: Option<String>,
}

/// Whether the upload still takes appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Phase {
    Open,
    /// Committed to its target; the state stays a while as a tombstone so that a client whose
    /// final response was lost learns `Upload-Complete: ?1` from an offset retrieval.
    Completed {
        length: u64,
    },
}

/// Everything the server must remember about one upload resource besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    pub id: UploadId,
    pub owner: Owner,
    /// The client that created it, for the per-client cap on open uploads.
    pub peer: IpAddr,
    /// The target's name under the served directory: a relative path of normal segments.
    pub target: String,
    pub method: CreatedWith,
    /// The declared length (`Upload-Length`, or offset + `Content-Length` with
    /// `Upload-Complete: ?1`), once known.
    pub length: Option<u64>,
    pub preconditions: Preconditions,
    pub digests: Digests,
    pub interop: InteropVersion,
    /// Kept to the second.
    pub created: SystemTime,
    /// The last creation, append or completion; expiry counts from here.
    pub touched: SystemTime,
    pub phase: Phase,
}

/// The file's layout: plain values, checked on the way in by `UploadState::try_from`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct StateFile {
    format: u32,
    id: String,
    owner: Owner,
    peer: IpAddr,
    target: String,
    method: CreatedWith,
    length: Option<u64>,
    preconditions: Preconditions,
    digests: Digests,
    interop: u8,
    created: u64,
    touched: u64,
    phase: Phase,
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl From<&UploadState> for StateFile {
    fn from(s: &UploadState) -> StateFile {
        StateFile {
            format: FORMAT,
            id: s.id.to_string(),
            owner: s.owner.clone(),
            peer: s.peer,
            target: s.target.clone(),
            method: s.method,
            length: s.length,
            preconditions: s.preconditions.clone(),
            digests: s.digests.clone(),
            interop: s.interop.number(),
            created: unix_seconds(s.created),
            touched: unix_seconds(s.touched),
            phase: s.phase,
        }
    }
}

impl TryFrom<StateFile> for UploadState {
    type Error = &'static str;

    fn try_from(f: StateFile) -> Result<UploadState, &'static str> {
        if f.format != FORMAT {
            return Err("unknown format");
        }
        let state = UploadState {
            id: UploadId::parse(&f.id).ok_or("bad id")?,
            owner: f.owner,
            peer: f.peer,
            target: f.target,
            method: f.method,
            length: f.length,
            preconditions: f.preconditions,
            digests: f.digests,
            interop: InteropVersion::from_number(f.interop.into()).ok_or("unknown interop")?,
            created: since_epoch(f.created)?,
            touched: since_epoch(f.touched)?,
            phase: f.phase,
        };
        state.check()?;
        Ok(state)
    }
}

impl UploadState {
    /// The bytes of its state file: pretty JSON, refused when the state could not be read
    /// back (a bad target, a control character, a size over the cap).
    pub fn to_bytes(&self) -> Result<Vec<u8>, &'static str> {
        self.check()?;
        let json = serde_json::to_vec_pretty(&StateFile::from(self))
            .expect("a StateFile is plain data, always serialisable");
        if json.len() > MAX_STATE_BYTES {
            return Err("state too large");
        }
        Ok(json)
    }

    /// Reads a state file's bytes strictly: every field present and known, the format ours,
    /// and `check` satisfied. Anything else (torn, garbage, tampered) is an error saying why.
    pub fn from_bytes(bytes: &[u8]) -> Result<UploadState, String> {
        if bytes.len() > MAX_STATE_BYTES {
            return Err("too large".into());
        }
        let file: StateFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        UploadState::try_from(file).map_err(str::to_owned)
    }

    /// What a state must satisfy to be written or read back.
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if !is_plain_relative(&self.target) {
            return Err("bad target");
        }
        let p = &self.preconditions;
        let d = &self.digests;
        let texts = [&p.if_match, &p.if_none_match, &p.if_unmodified_since];
        let texts = texts.into_iter().chain([&d.content_digest, &d.repr_digest]);
        if texts
            .flatten()
            .any(|t| t.contains(|c: char| c.is_control()))
        {
            return Err("control character in a field value");
        }
        if let (Phase::Completed { length }, Some(declared)) = (self.phase, self.length)
            && length != declared
        {
            return Err("completed length differs from the declared one");
        }
        Ok(())
    }

    /// Whether the upload has gone `max_age` without a creation, append or completion. A time
    /// in the future (the clock went back) is not expired.
    pub fn is_expired(&self, now: SystemTime, max_age: Duration) -> bool {
        now.duration_since(self.touched)
            .is_ok_and(|age| age >= max_age)
    }
}

/// The rules of `files::resolve_name` for an already decoded name: segments that are not
/// empty, `.`, `..` or reserved, without backslash or control characters.
fn is_plain_relative(target: &str) -> bool {
    !target.is_empty()
        && target.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.starts_with(TEMP_PREFIX)
                && !segment.contains(|c: char| c == '\\' || c.is_control())
        })
}

/// A stored time; one past what `SystemTime` holds is a damaged file, not a panic.
fn since_epoch(seconds: u64) -> Result<SystemTime, &'static str> {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .ok_or("time out of range")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A state with every field filled in.
    pub fn sample(target: &str) -> UploadState {
        UploadState {
            id: UploadId::random().expect("getrandom"),
            owner: Owner::Account("ann".into()),
            peer: IpAddr::from([127, 0, 0, 1]),
            target: target.into(),
            method: CreatedWith::Put,
            length: Some(1000),
            preconditions: Preconditions {
                if_match: Some("\"abc\"".into()),
                if_none_match: None,
                if_unmodified_since: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
            },
            digests: Digests {
                content_digest: Some(
                    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:".into(),
                ),
                repr_digest: None,
            },
            interop: InteropVersion::V6,
            created: at(1_700_000_000),
            touched: at(1_700_000_100),
            phase: Phase::Open,
        }
    }

    #[test]
    fn ids() {
        let a = UploadId::random().expect("getrandom");
        let b = UploadId::random().expect("getrandom");
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(UploadId::parse(&text), Some(a));
        assert!(
            !format!("{a:?}").contains(&text[4..]),
            "Debug must not show the whole id"
        );
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdeg0123456789abcdef",
            "0123456789abcdef0123456789abcd\u{e9}",
            "../456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(UploadId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn owners() {
        let ann = Owner::Account("ann".into());
        assert!(ann.admits(Some("ann")));
        assert!(!ann.admits(Some("bob")));
        assert!(!ann.admits(Some("Ann")));
        assert!(!ann.admits(None));
        assert!(Owner::Anonymous.admits(None));
        assert!(Owner::Anonymous.admits(Some("bob")));
    }

    #[test]
    fn bytes_round_trip() {
        let mut state = sample("sub/report 2026.pdf");
        let bytes = state.to_bytes().expect("valid");
        assert_eq!(UploadState::from_bytes(&bytes), Ok(state.clone()));
        state.owner = Owner::Anonymous;
        state.method = CreatedWith::Post;
        state.interop = InteropVersion::V8;
        state.length = None;
        state.peer = "::1".parse().expect("address");
        state.phase = Phase::Completed { length: 7 };
        let bytes = state.to_bytes().expect("valid");
        assert_eq!(UploadState::from_bytes(&bytes), Ok(state));
    }

    #[test]
    fn times_keep_whole_seconds() {
        let mut state = sample("a");
        state.created = at(5) + Duration::from_millis(900);
        let back = UploadState::from_bytes(&state.to_bytes().expect("valid")).expect("valid");
        assert_eq!(back.created, at(5));
    }

    #[test]
    fn expiry() {
        let state = UploadState {
            touched: at(1000),
            ..sample("a")
        };
        let day = Duration::from_secs(86_400);
        assert!(!state.is_expired(at(1000), day));
        assert!(!state.is_expired(at(1000 + 86_399), day));
        assert!(state.is_expired(at(1000 + 86_400), day));
        // the clock went back: not expired
        assert!(!state.is_expired(at(10), day));
    }

    #[test]
    fn targets() {
        let cases: &[(&str, bool)] = &[
            ("file.txt", true),
            ("sub/dir/file", true),
            ("x.upload-1", true),
            ("caf\u{e9} menu.pdf", true),
            ("", false),
            ("/etc/passwd", false),
            ("a//b", false),
            ("a/", false),
            (".", false),
            ("../x", false),
            ("a/../b", false),
            (".upload-1-0.tmp", false),
            ("sub/.upload-resumable", false),
            ("a\\b", false),
            ("a\nb", false),
            ("a\0b", false),
        ];
        for (target, ok) in cases {
            assert_eq!(is_plain_relative(target), *ok, "{target:?}");
            assert_eq!(sample(target).to_bytes().is_ok(), *ok, "{target:?}");
        }
    }

    #[test]
    fn refusals_before_writing() {
        let mut state = sample("a");
        state.preconditions.if_none_match = Some("\"x\"\r\nSet-Cookie: y".into());
        assert!(state.to_bytes().is_err());
        let mut state = sample("a");
        state.phase = Phase::Completed { length: 999 };
        assert!(
            state.to_bytes().is_err(),
            "completed length must be the declared one"
        );
        let mut state = sample("a");
        state.digests.repr_digest = Some("x".repeat(MAX_STATE_BYTES));
        assert_eq!(state.to_bytes(), Err("state too large"));
    }

    #[test]
    fn strict_reading() {
        let json = String::from_utf8(sample("a").to_bytes().expect("valid")).expect("UTF-8");
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("torn", json[..json.len() / 2].to_owned()),
            ("garbage", "\u{0}\u{1}not json".into()),
            ("not an object", "[1, 2]".into()),
            ("trailing junk", format!("{json}}}")),
            ("unknown field", json.replacen('{', "{\"extra\": 1,", 1)),
            ("missing field", json.replace("\"method\": \"PUT\",", "")),
            (
                "other format",
                json.replace("\"format\": 1", "\"format\": 2"),
            ),
            (
                "unspoken interop",
                json.replace("\"interop\": 6", "\"interop\": 5"),
            ),
            (
                "negative length",
                json.replace("\"length\": 1000", "\"length\": -1"),
            ),
            (
                "bad owner",
                json.replace("\"account\": \"ann\"", "\"root\": true"),
            ),
            ("bad method", json.replace("\"PUT\"", "\"PATCH\"")),
            ("bad peer", json.replace("127.0.0.1", "localhost")),
            ("bad id", json.replacen("\"id\": \"", "\"id\": \"X", 1)),
            (
                "bad target",
                json.replace("\"target\": \"a\"", "\"target\": \"../x\""),
            ),
            ("bad phase", json.replace("\"open\"", "\"closed\"")),
            (
                "time past what SystemTime holds",
                json.replace(
                    "\"touched\": 1700000100",
                    "\"touched\": 18446744073709551615",
                ),
            ),
            ("huge", format!("{json}{}", " ".repeat(MAX_STATE_BYTES))),
        ];
        for (what, text) in cases {
            let read = UploadState::from_bytes(text.as_bytes());
            assert!(read.is_err(), "{what}: {read:?}");
        }
    }
}
