//! Conditional requests (RFC 9110 §13): the validators of a stored file, the four
//! preconditions `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since`
//! evaluated in the order of §13.2.2, and `If-Range` (§13.1.5). Downloads ask here before
//! sending; uploads and deletes ask before reading a body and again when they land.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use crate::http::date;
use crate::http::request::RequestHead;
use crate::http::response::{Response, StatusCode};
use crate::http::syntax::elements;
use crate::serve::is_retrieval;

/// The validators of a stored file.
pub struct Validators {
    pub etag: String,
    pub modified: SystemTime,
}

impl Validators {
    /// A strong ETag from size, mtime (ns) and inode: any write changes at least one of them.
    pub fn of(meta: &Metadata) -> Validators {
        Validators::tagged(meta, "")
    }

    /// As `of`, with `suffix` inside the quotes: each representation of a file has its own tag.
    pub fn tagged(meta: &Metadata, suffix: &str) -> Validators {
        let nanos = meta.mtime() as u64 as u128 * 1_000_000_000 + meta.mtime_nsec() as u128;
        Validators {
            etag: format!("\"{:x}-{:x}-{:x}{suffix}\"", meta.len(), nanos, meta.ino()),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// What the preconditions make of a request.
pub enum Precondition {
    Pass,
    /// 304: the client's copy is current.
    NotModified,
    /// 412.
    Failed,
}

/// RFC 9110 §13.2.2 steps 1–4 against the current validators (`None`: no such file).
///
/// A failed `If-None-Match` is a 304 only for GET and HEAD, a 412 for any other method, and
/// `If-Modified-Since` counts only for GET and HEAD (RFC 9110 §13.1.2, §13.1.3): the question
/// is "is this a retrieval", not "is this method safe" (OPTIONS is safe, and gets no 304).
pub fn check_preconditions(head: &RequestHead, current: Option<&Validators>) -> Precondition {
    let retrieval = is_retrieval(&head.method);
    let date_of = |name| {
        head.headers
            .get(name)
            .and_then(date::parse)
            .map(date::unix_seconds)
    };
    let modified = current.map(|v| date::unix_seconds(v.modified));
    let unmodified_since_fails =
        || matches!((modified, date_of("if-unmodified-since")), (Some(m), Some(d)) if m > d);
    let matched = |name, compare| {
        tag_list(head, name)
            .map(|tags| current.is_some_and(|v| etag_list_matches(tags, &v.etag, compare)))
    };
    let if_match_fails = match matched("if-match", Compare::Strong) {
        Some(matched) => !matched,
        None => unmodified_since_fails(),
    };
    if if_match_fails {
        return Precondition::Failed;
    }
    let not_modified = match matched("if-none-match", Compare::Weak) {
        Some(matched) => matched,
        None => {
            retrieval
                && matches!((modified, date_of("if-modified-since")), (Some(m), Some(d)) if m <= d)
        }
    };
    match (not_modified, retrieval) {
        (false, _) => Precondition::Pass,
        (true, true) => Precondition::NotModified,
        (true, false) => Precondition::Failed,
    }
}

/// Whether a write may go ahead against the file as it is now (`None`: absent): the check an
/// upload or delete makes again at the moment it lands.
pub fn preconditions_hold(head: &RequestHead, current: Option<&Metadata>) -> bool {
    let validators = current.map(Validators::of);
    !matches!(
        check_preconditions(head, validators.as_ref()),
        Precondition::Failed
    )
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2): for a listing,
/// whose only precondition is this one.
pub fn none_match_names(head: &RequestHead, etag: &str) -> bool {
    let opaque = etag.trim_start_matches("W/");
    tag_list(head, "if-none-match")
        .is_some_and(|tags| etag_list_matches(tags, opaque, Compare::Weak))
}

/// RFC 9110 §13.1.5: a range applies only while `If-Range` still names the current file.
pub fn if_range_holds(head: &RequestHead, v: &Validators) -> bool {
    match head.headers.get("if-range") {
        None => true,
        Some(tag) if tag.starts_with('"') => tag == v.etag,
        Some(tag) if tag.starts_with("W/") => false,
        Some(when) => date::parse(when)
            .is_some_and(|t| date::unix_seconds(t) == date::unix_seconds(v.modified)),
    }
}

/// The answer to a failed precondition.
pub fn precondition_failed() -> Response {
    Response::error(StatusCode::PRECONDITION_FAILED, "precondition failed")
}

#[derive(Clone, Copy, PartialEq)]
enum Compare {
    Strong,
    Weak,
}

/// The entity-tags of an `If-Match` or `If-None-Match` over all its lines; `None` when the
/// request has no such field (an empty one is present, and names nothing).
fn tag_list<'a>(head: &'a RequestHead, name: &str) -> Option<impl Iterator<Item = &'a str>> {
    head.headers
        .get(name)
        .map(|_| elements(head.headers.get_all(name)))
}

/// Whether `*` or any entity-tag in the list matches `etag` (RFC 9110 §8.8.3.2).
fn etag_list_matches<'a>(
    mut tags: impl Iterator<Item = &'a str>,
    etag: &str,
    compare: Compare,
) -> bool {
    tags.any(|candidate| {
        if candidate == "*" {
            return true;
        }
        match candidate.strip_prefix("W/") {
            Some(weak) => compare == Compare::Weak && weak == etag,
            None => candidate == etag,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::http::parse::{Parsed, parse_head};
    use std::time::Duration;

    fn head(method: &str, fields: &[&str]) -> RequestHead {
        let mut raw = format!("{method} /files/a HTTP/1.1\r\nHost: localhost\r\n");
        for field in fields {
            raw.push_str(field);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        match parse_head(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete((head, _))) => head,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn preconditions_in_the_order_of_rfc_9110() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let current = Validators {
            etag: "\"t\"".into(),
            modified,
        };
        let (before, at) = (
            "Sun, 06 Nov 1994 08:49:36 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT",
        );
        let ims = |d: &str| format!("If-Modified-Since: {d}");
        let ius = |d: &str| format!("If-Unmodified-Since: {d}");
        let cases: &[(&str, &[String], bool, &str)] = &[
            ("GET", &[], true, "pass"),
            ("GET", &["If-Match: \"t\"".into()], true, "pass"),
            ("GET", &["If-Match: \"x\", \"t\"".into()], true, "pass"),
            ("GET", &["If-Match: W/\"t\"".into()], true, "412"),
            ("PUT", &["If-Match: *".into()], false, "412"),
            ("PUT", &["If-Match: *".into()], true, "pass"),
            // If-Match present: If-Unmodified-Since is not looked at
            (
                "PUT",
                &["If-Match: \"t\"".into(), ius(before)],
                true,
                "pass",
            ),
            ("PUT", &[ius(before)], true, "412"),
            ("PUT", &[ius(at)], true, "pass"),
            ("GET", &["If-None-Match: W/\"t\"".into()], true, "304"),
            (
                "HEAD",
                &["If-None-Match: \"x\"".into(), "If-None-Match: \"t\"".into()],
                true,
                "304",
            ),
            ("PUT", &["If-None-Match: *".into()], true, "412"),
            ("PUT", &["If-None-Match: *".into()], false, "pass"),
            // §13.1.2: 304 for GET and HEAD only; OPTIONS is safe but no retrieval
            ("OPTIONS", &["If-None-Match: *".into()], true, "412"),
            ("GET", &[ims(at)], true, "304"),
            ("GET", &[ims(before)], true, "pass"),
            // §13.1.3: If-Modified-Since counts for GET and HEAD only, and not beside
            // If-None-Match
            ("DELETE", &[ims(at)], true, "pass"),
            (
                "GET",
                &["If-None-Match: \"x\"".into(), ims(at)],
                true,
                "pass",
            ),
        ];
        for (method, fields, exists, want) in cases {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let got = match check_preconditions(&head(method, &fields), exists.then_some(&current))
            {
                Precondition::Pass => "pass",
                Precondition::NotModified => "304",
                Precondition::Failed => "412",
            };
            assert_eq!(got, *want, "{method} {fields:?} exists={exists}");
        }
    }

    #[test]
    fn etags() {
        let matches = |list: &str, compare| {
            etag_list_matches(elements(std::iter::once(list)), "\"a-b-c\"", compare)
        };
        assert!(matches("*", Compare::Strong));
        assert!(matches("\"x\", \"a-b-c\"", Compare::Strong));
        assert!(!matches("W/\"a-b-c\"", Compare::Strong));
        assert!(matches("W/\"a-b-c\"", Compare::Weak));
        assert!(!matches("\"a-b\"", Compare::Weak));
    }
}
