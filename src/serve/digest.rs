//! RFC 9530 digests, SHA-256 only: `Content-Digest` checked on uploads and sent on responses,
//! `Want-Content-Digest` read on downloads. Both fields are Structured Field Dictionaries
//! (RFC 9651), parsed and written by `sfv`, so that members with parameters, several field
//! lines and byte sequences are read as the grammar says rather than by splitting at `,`.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

use sfv::{DictSerializer, Dictionary, Integer, ListEntry, Parser, RefBareItem, key_ref};
use sha2::{Digest, Sha256};

use crate::http::transfer::{Limit, copy_with};

/// The one algorithm this server computes and checks.
const SHA_256: &str = "sha-256";

/// Whether `Want-Content-Digest` (all its lines) asks for sha-256 with a non-zero preference
/// (RFC 9530 §4). A member without a value (`sha-256`) asks for it too. A field that does not
/// parse is ignored, as RFC 9651 §4.2 says of a malformed structured field.
pub fn wants_sha256<'a>(lines: impl Iterator<Item = &'a str>) -> bool {
    let Some(wants) = dictionary(lines) else {
        return false;
    };
    let Some(ListEntry::Item(preference)) = wants.get(SHA_256) else {
        return false;
    };
    // 0 is "not acceptable"; a bare key is the boolean true
    let value = &preference.bare_item;
    value.as_integer() != Some(Integer::ZERO) && value.as_boolean() != Some(false)
}

/// The field lines of a Dictionary field as one (RFC 9651 §4.2: as if joined by commas);
/// `None` when the field is absent or any line is malformed.
fn dictionary<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<Dictionary> {
    let first: Dictionary = Parser::new(lines.next()?).parse().ok()?;
    lines.try_fold(first, |dict, line| {
        Parser::new(line).parse_dictionary_with_visitor(dict).ok()
    })
}

/// The sha-256 member of a `Content-Digest` field: `Ok(None)` when it only names algorithms we
/// do not check, `Err` when the field is malformed. RFC 9530 §2: every member's value is a
/// byte sequence; parameters on a member are allowed and ignored.
pub fn parse_content_digest(value: &str) -> Result<Option<[u8; 32]>, ()> {
    let members: Dictionary = Parser::new(value).parse().map_err(|_| ())?;
    let mut sha256 = None;
    for (key, member) in &members {
        let ListEntry::Item(item) = member else {
            return Err(());
        };
        let bytes = item.bare_item.as_byte_sequence().ok_or(())?;
        if key.as_str() == SHA_256 {
            sha256 = Some(<[u8; 32]>::try_from(bytes).map_err(|_| ())?);
        }
    }
    Ok(sha256)
}

/// The `Content-Digest` value for a SHA-256: `sha-256=:<base64>:`.
pub fn content_digest(sha256: &[u8; 32]) -> String {
    let mut field = DictSerializer::new();
    field.bare_item(key_ref(SHA_256), RefBareItem::ByteSequence(sha256));
    field.finish().expect("one member")
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

    #[test]
    fn content_digest_members_with_parameters() {
        let digest: [u8; 32] = Sha256::digest(b"hello").into();
        let plain = content_digest(&digest);
        assert_eq!(
            plain,
            "sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:"
        );
        for field in [
            format!("{plain};note=1"),
            format!("sha-512=:AAAA:;a;b=?0, {plain};x=\"y\""),
            format!("{plain} , unixsum=:AAAA:"),
        ] {
            assert_eq!(parse_content_digest(&field), Ok(Some(digest)), "{field}");
        }
        for bad in [
            format!("{plain};"),
            "sha-256=:!!!:".into(),
            "sha-256=(:AAAA:)".into(),
            format!("{plain}, sha-512=1"),
        ] {
            assert_eq!(parse_content_digest(&bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn want_content_digest() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["sha-256=10"], true),
            (&["sha-256"], true),
            (&["sha-256=1;foo=bar"], true),
            (&["sha-512=3, sha-256=1;q"], true),
            (&["sha-512=3", "sha-256=2"], true),
            (&["sha-256=0"], false),
            (&["sha-256=0;foo=1"], false),
            (&["sha-256=?0"], false),
            (&["sha-512=10"], false),
            (&["sha-256=1, !"], false),
            (&["sha-256=3", "sha-256=0"], false),
        ];
        for (lines, want) in cases {
            assert_eq!(wants_sha256(lines.iter().copied()), *want, "{lines:?}");
        }
    }
}
