//! RFC 9530 digests, SHA-256 only: `Content-Digest` checked on uploads and sent on responses,
//! `Want-Content-Digest` read on downloads. Both fields are Structured Field Dictionaries
//! (RFC 9651), parsed and written by `sfv`, so that members with parameters, several field
//! lines and byte sequences are read as the grammar says rather than by splitting at `,`.
//!
//! Hashing a whole file for a few bytes of request is an amplifier (40 `HEAD`s of a 1 GiB file
//! cost 30 CPU-seconds), so a digest of a response is bounded: computed digests are kept by
//! the representation's strong `ETag` and range; a large file is hashed only in one of the
//! heavy-work slots (`slots.rs`; none free: 503), and only for `GET`; the hashing stops once
//! the client has left or the server is stopping.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::sync::{Mutex, OnceLock};

use sfv::{DictSerializer, Dictionary, Integer, ListEntry, Parser, RefBareItem, key_ref};
use sha2::{Digest, Sha256};

use crate::files::FileError;
use crate::http::request::{Method, RequestHead};
use crate::http::response::{Response, StatusCode};
use crate::http::transfer::{COPY_CHUNK_BYTES, Limit, copy_with};
use crate::serve::errors::file_error;
use crate::serve::slots::{RETRY_AFTER_SECS, heavy_work};

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

/// Files up to this size are hashed whatever the method and without a slot: it costs less
/// than the request around it. Beyond it `HEAD` gets a digest only from the cache.
const SMALL_FILE_BYTES: u64 = 64 * 1024;
/// Digests kept; the cache starts afresh when full (a digest costs one read of its file).
const CACHE_ENTRIES: usize = 1024;
/// Whether the client is still there is asked once per this many bytes hashed.
const CHECK_EVERY_BYTES: u64 = 16 * COPY_CHUNK_BYTES as u64;

/// What a cached digest is of: a representation (its strong ETag names its bytes) and the
/// range of it sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    algorithm: &'static str,
    etag: String,
    start: u64,
    len: u64,
}

fn cache() -> &'static Mutex<HashMap<Key, [u8; 32]>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, [u8; 32]>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn cached(key: &Key) -> Option<[u8; 32]> {
    cache().lock().expect("digest cache lock").get(key).copied()
}

fn remember(key: Key, digest: [u8; 32]) {
    let mut cache = cache().lock().expect("digest cache lock");
    if cache.len() >= CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, digest);
}

/// Step 6 of a download: `response` with the `Content-Digest` of the `len` bytes from `start`
/// of the representation tagged `etag`, when `Want-Content-Digest` asks for it and the bounds
/// above allow. `Err` is the answer to send instead: 503 when every slot is busy or the
/// hashing was abandoned (`client_gone`), or a read error. RFC 9110 §9.3.2 asks HEAD for the
/// fields GET would send; RFC 9530 lets a server send a digest or not, and for a large
/// uncached file HEAD does not.
pub fn attach(
    response: Response,
    head: &RequestHead,
    etag: &str,
    file: &File,
    (start, len): (u64, u64),
    client_gone: &dyn Fn() -> bool,
) -> Result<Response, Response> {
    if !wants_sha256(head.headers.get_all("want-content-digest")) {
        return Ok(response);
    }
    let key = Key {
        algorithm: SHA_256,
        etag: etag.to_owned(),
        start,
        len,
    };
    let with_field =
        |response: Response, digest| Ok(response.header("Content-Digest", content_digest(&digest)));
    if let Some(digest) = cached(&key) {
        return with_field(response, digest);
    }
    let small = len <= SMALL_FILE_BYTES;
    if head.method == Method::Head && !small {
        return Ok(response);
    }
    let _slot = match small {
        true => None,
        false => Some(heavy_work().try_take().ok_or_else(|| {
            Response::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many digests being computed, try again later",
            )
            .header("Retry-After", RETRY_AFTER_SECS)
        })?),
    };
    match sha256_until(file, start, len, client_gone) {
        Ok(Some(digest)) => {
            remember(key, digest);
            with_field(response, digest)
        }
        Ok(None) => Err(Response::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "digest abandoned: the client left or the server is stopping",
        )),
        Err(e) => Err(file_error(FileError::Io(e))),
    }
}

/// The SHA-256 of `len` bytes of `file` from `start`, read through the bounded copy; `None`
/// when `client_gone` said so between pieces.
fn sha256_until(
    mut file: &File,
    start: u64,
    len: u64,
    client_gone: &dyn Fn() -> bool,
) -> io::Result<Option<[u8; 32]>> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    let mut unchecked = 0u64;
    let mut abandoned = false;
    let copied = copy_with(&mut file, Limit::Exact(len), &mut |piece| {
        hasher.update(piece);
        unchecked += piece.len() as u64;
        if unchecked >= CHECK_EVERY_BYTES {
            unchecked = 0;
            abandoned = client_gone();
            if abandoned {
                return Err(io::Error::other("digest abandoned"));
            }
        }
        Ok(())
    });
    match copied {
        Ok(_) => Ok(Some(hasher.finalize().into())),
        Err(_) if abandoned => Ok(None),
        Err(e) => Err(e),
    }
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

    #[test]
    fn hashing_stops_when_the_client_is_gone() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &vec![7u8; 3 << 20]).unwrap();
        let whole = sha256_until(&file, 0, 3 << 20, &|| false).unwrap();
        assert_eq!(whole, Some(Sha256::digest(vec![7u8; 3 << 20]).into()));
        let asked = std::cell::Cell::new(0);
        let gone = || {
            asked.set(asked.get() + 1);
            true
        };
        assert_eq!(sha256_until(&file, 0, 3 << 20, &gone).unwrap(), None);
        assert_eq!(asked.get(), 1, "stopped at the first check");
    }

    fn request(method: &str) -> RequestHead {
        use crate::http::parse::{Parsed, parse_head};
        let raw = format!(
            "{method} /files/f HTTP/1.1\r\nHost: x\r\nWant-Content-Digest: sha-256\r\n\r\n"
        );
        let Ok(Parsed::Complete((head, _))) =
            parse_head(raw.as_bytes(), &crate::config::Limits::default())
        else {
            panic!("parses");
        };
        head
    }

    #[test]
    fn with_every_slot_busy_a_large_digest_is_503_and_a_small_one_still_computed() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &vec![1u8; 1 << 20]).unwrap();
        let never = || false;
        let busy: Vec<_> = std::iter::from_fn(|| heavy_work().try_take()).collect();
        let ok = || Response::new(StatusCode::OK);
        let get = request("GET");
        let refused = attach(ok(), &get, "\"busy-1\"", &file, (0, 1 << 20), &never).unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.header_value("retry-after"), Some(RETRY_AFTER_SECS));
        // a small range needs no slot
        let small = attach(ok(), &get, "\"busy-1\"", &file, (0, 100), &never).unwrap();
        assert!(small.header_value("content-digest").is_some());
        // HEAD of a large one: answered at once, without the field
        let head = attach(
            ok(),
            &request("HEAD"),
            "\"busy-1\"",
            &file,
            (0, 1 << 20),
            &never,
        );
        assert_eq!(head.unwrap().header_value("content-digest"), None);
        drop(busy);
        let computed = attach(ok(), &get, "\"busy-1\"", &file, (0, 1 << 20), &never).unwrap();
        let field = computed.header_value("content-digest").unwrap().to_owned();
        // and now HEAD has it from the cache
        let head = attach(
            ok(),
            &request("HEAD"),
            "\"busy-1\"",
            &file,
            (0, 1 << 20),
            &never,
        );
        assert_eq!(
            head.unwrap().header_value("content-digest"),
            Some(field.as_str())
        );
    }
}
