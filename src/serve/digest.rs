//! RFC 9530 digests, SHA-256 only: `Content-Digest` checked on uploads and sent on responses,
//! `Want-Content-Digest` read on downloads.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::http::transfer::{Limit, copy_with};

/// Whether `Want-Content-Digest` (all its lines) asks for sha-256 with a non-zero preference
/// (RFC 9530 §4).
pub fn wants_sha256<'a>(lines: impl Iterator<Item = &'a str>) -> bool {
    lines.flat_map(|v| v.split(',')).any(|member| {
        let (key, weight) = member.split_once('=').unwrap_or((member, "1"));
        key.trim() == "sha-256" && weight.trim() != "0"
    })
}

/// The sha-256 member of a `Content-Digest` field: `Ok(None)` when it only names algorithms we
/// do not check, `Err` when the sha-256 member is malformed.
pub fn parse_content_digest(value: &str) -> Result<Option<[u8; 32]>, ()> {
    for member in value.split(',') {
        let Some((key, encoded)) = member.split_once('=') else {
            return Err(());
        };
        if key.trim() != "sha-256" {
            continue;
        }
        let bytes = encoded
            .trim()
            .strip_prefix(':')
            .and_then(|s| s.strip_suffix(':'))
            .ok_or(())?;
        let digest = BASE64.decode(bytes).map_err(|_| ())?;
        return digest.try_into().map(Some).map_err(|_| ());
    }
    Ok(None)
}

/// The `Content-Digest` value for a SHA-256: `sha-256=:<base64>:`.
pub fn content_digest(sha256: &[u8; 32]) -> String {
    format!("sha-256=:{}:", BASE64.encode(sha256))
}

/// The SHA-256 of `len` bytes of `file` from `start`, read through the bounded copy.
pub fn sha256_of(mut file: &File, start: u64, len: u64) -> io::Result<[u8; 32]> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    copy_with(&mut file, Limit::Exact(len), &mut |piece| {
        hasher.update(piece);
        Ok(())
    })?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_digest_members() {
        let digest = Sha256::digest(b"hello");
        let field = format!("sha-512=:AAAA:, {}", content_digest(&digest.into()));
        assert_eq!(parse_content_digest(&field), Ok(Some(digest.into())));
        assert_eq!(parse_content_digest("sha-512=:AAAA:"), Ok(None));
        assert_eq!(parse_content_digest("sha-256=:AAAA:"), Err(()));
        assert_eq!(parse_content_digest("sha-256=AAAA"), Err(()));
        assert_eq!(parse_content_digest("garbage"), Err(()));
    }
}
