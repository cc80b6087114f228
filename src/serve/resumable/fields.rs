//! The header fields of resumable uploads, parsed from requests and serialised for responses
//! with `sfv` (RFC 9651 structured fields), and the few rules that differ between the interop
//! versions this server speaks. Which request kind a request is, and what to answer, is the
//! router's; this file only says what the fields hold.
//!
//! Draft sections (editor's copy, July 2026): §4.1.1 `Upload-Offset` (Item, non-negative
//! Integer), §4.1.2 `Upload-Complete` (Item, Boolean), §4.1.3 `Upload-Length` (Item,
//! non-negative Integer), §4.1.4 `Upload-Limit` (Dictionary), appendix "Draft Version
//! Identification" (`Upload-Draft-Interop-Version`, Integer). `Upload-Incomplete` (Boolean,
//! the inverse) is the field of interop versions up to 3, replaced in draft -02.

use std::fmt;

use sfv::{BareItem, DictSerializer, Dictionary, Integer, Item, KeyRef, ListEntry, Parser};

use crate::http::request::Headers;
use crate::http::response::StatusCode;

/// The largest Integer a structured field can carry (RFC 9651 §3.3.1: at most 15 digits).
/// Offsets and lengths are bounded by `max-size`, which must not exceed it.
pub const MAX_INTEGER: u64 = 999_999_999_999_999;

/// The interop versions this server speaks (`Upload-Draft-Interop-Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InteropVersion {
    /// Drafts -04 and -05 (2024); Apple's URLSession from iOS 18.1, tus-js-client 4.3's
    /// `ietf-draft-05`.
    V6,
    /// Drafts -06 to -08 (March to April 2025).
    V7,
    /// Drafts -09 to -11 and the editor's copy of 1 July 2026.
    V8,
    /// From draft -12 (July 2026; bumped in the editor's copy of 5 July 2026, PR #3476). What
    /// it changed for a server (the representation's length may come from the bytes of a `?1`
    /// request, `Upload-Limit` on any refusal over a limit, no redirects with `?0`) is what
    /// this server does for 8 too, so the two are served alike.
    V9,
}

impl InteropVersion {
    pub const LATEST: InteropVersion = InteropVersion::V9;

    pub fn number(self) -> u8 {
        match self {
            InteropVersion::V6 => 6,
            InteropVersion::V7 => 7,
            InteropVersion::V8 => 8,
            InteropVersion::V9 => 9,
        }
    }

    /// The version with this number, if this server speaks it.
    pub fn from_number(n: i64) -> Option<InteropVersion> {
        match n {
            6 => Some(InteropVersion::V6),
            7 => Some(InteropVersion::V7),
            8 => Some(InteropVersion::V8),
            9 => Some(InteropVersion::V9),
            _ => None,
        }
    }

    /// The `Upload-Limit` key of the resource's remaining lifetime: draft -05 (version 6) calls
    /// it `expires`; draft -06 renamed it `max-age`.
    pub fn age_key(self) -> &'static str {
        match self {
            InteropVersion::V6 => "expires",
            InteropVersion::V7 | InteropVersion::V8 | InteropVersion::V9 => "max-age",
        }
    }

    /// The status of an append that leaves the upload incomplete: draft -05 §6 requires
    /// `201 (Created)`; from draft -06 any 2xx will do, and the examples use 204.
    pub fn incomplete_append_status(self) -> StatusCode {
        match self {
            InteropVersion::V6 => StatusCode::CREATED,
            InteropVersion::V7 | InteropVersion::V8 | InteropVersion::V9 => StatusCode::NO_CONTENT,
        }
    }

    /// Draft -05 §5 and §7: offset retrieval and cancellation requests carrying
    /// `Upload-Offset`, `Upload-Complete` or `Upload-Length` are refused with 400. Later
    /// drafts say nothing of them, so they are ignored there.
    pub fn refuses_state_fields_on_retrieval(self) -> bool {
        self == InteropVersion::V6
    }

    /// Whether an append must carry `Upload-Complete` (draft -06 on: "The request MUST include
    /// the `Upload-Complete` header field"). Draft -05 only requires `?0` when more follows,
    /// so there a missing field means the append completes the upload.
    pub fn requires_complete_on_append(self) -> bool {
        self != InteropVersion::V6
    }
}

/// What a request's `Upload-Draft-Interop-Version` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionField {
    /// No such field: a client of the final RFC, or not a resumable upload at all. The
    /// appendix forbids a 104 then.
    Missing,
    Known(InteropVersion),
    /// A version this server does not speak: no 104 either.
    Unsupported(i64),
}

/// The resumable-upload fields of one request, each parsed strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadFields {
    pub version: VersionField,
    /// From `Upload-Complete`, or else from the older `Upload-Incomplete` (inverted).
    pub complete: Option<bool>,
    pub offset: Option<u64>,
    pub length: Option<u64>,
}

impl UploadFields {
    /// Parses every resumable-upload field of `headers`. A field sent on several lines is
    /// combined into one value first (RFC 9110 §5.3), which an Item field then fails as a
    /// list. Any malformed field is an error: the caller answers 400 (see the doc's note on
    /// why we do not ignore it as RFC 9651 §2.2 would).
    pub fn from_headers(headers: &Headers) -> Result<UploadFields, FieldError> {
        let field = |name| combined(headers.get_all(name));
        let version = match field("upload-draft-interop-version") {
            None => VersionField::Missing,
            Some(value) => {
                let n = parse_integer(&value, "Upload-Draft-Interop-Version")?;
                InteropVersion::from_number(n)
                    .map_or(VersionField::Unsupported(n), VersionField::Known)
            }
        };
        let complete = match (field("upload-complete"), field("upload-incomplete")) {
            (Some(value), _) => Some(parse_boolean(&value, "Upload-Complete")?),
            (None, Some(value)) => Some(!parse_boolean(&value, "Upload-Incomplete")?),
            (None, None) => None,
        };
        let count = |name, label| field(name).map(|v| parse_count(&v, label)).transpose();
        Ok(UploadFields {
            version,
            complete,
            offset: count("upload-offset", "Upload-Offset")?,
            length: count("upload-length", "Upload-Length")?,
        })
    }

    /// Whether any field of the upload's state is present (the fields draft -05 forbids on
    /// offset retrieval and cancellation).
    pub fn has_state_fields(&self) -> bool {
        self.complete.is_some() || self.offset.is_some() || self.length.is_some()
    }
}

/// Joins a field's lines with ", " as RFC 9651 §4.2 says to before parsing.
fn combined<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out = lines.next()?.to_owned();
    for line in lines {
        out.push_str(", ");
        out.push_str(line);
    }
    Some(out)
}

/// Why a field could not be read; every one is the client's fault (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the draft spells it.
    pub field: &'static str,
    pub defect: Defect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Not a structured field of the expected kind (RFC 9651 §4.2 parsing failed): empty,
    /// a list of several items, bad syntax.
    Syntax,
    /// A well-formed value of another type, such as `Upload-Complete: 1`.
    NotBoolean,
    NotInteger,
    /// A negative Integer where a count of bytes is expected.
    Negative,
}

impl FieldError {
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.defect {
            Defect::Syntax => "not a structured field item",
            Defect::NotBoolean => "not a boolean",
            Defect::NotInteger => "not an integer",
            Defect::Negative => "negative",
        };
        write!(f, "malformed {}: {why}", self.field)
    }
}

impl std::error::Error for FieldError {}

/// The bare item of an Item field; its parameters are ignored (the draft defines none, and
/// ignoring unknown ones keeps the field extensible, RFC 9651 §2.3).
fn parse_bare_item(value: &str, field: &'static str) -> Result<BareItem, FieldError> {
    Parser::new(value)
        .parse::<Item>()
        .map(|item| item.bare_item)
        .map_err(|_| FieldError {
            field,
            defect: Defect::Syntax,
        })
}

/// A Boolean Item (`?0`, `?1`), as `Upload-Complete` and `Upload-Incomplete` are.
pub fn parse_boolean(value: &str, field: &'static str) -> Result<bool, FieldError> {
    parse_bare_item(value, field)?
        .as_boolean()
        .ok_or(FieldError {
            field,
            defect: Defect::NotBoolean,
        })
}

/// An Integer Item, as `Upload-Draft-Interop-Version` is.
pub fn parse_integer(value: &str, field: &'static str) -> Result<i64, FieldError> {
    parse_bare_item(value, field)?
        .as_integer()
        .map(i64::from)
        .ok_or(FieldError {
            field,
            defect: Defect::NotInteger,
        })
}

/// A non-negative Integer Item, as `Upload-Offset` and `Upload-Length` are.
pub fn parse_count(value: &str, field: &'static str) -> Result<u64, FieldError> {
    let n = parse_integer(value, field)?;
    u64::try_from(n).map_err(|_| FieldError {
        field,
        defect: Defect::Negative,
    })
}

/// The value of `Upload-Offset` or `Upload-Length`: an Integer is serialised as its decimal
/// digits (RFC 9651 §4.1.4), so this is `None` only past `MAX_INTEGER`, which a caller that
/// keeps `max-size` within it never reaches.
pub fn serialize_count(n: u64) -> Option<String> {
    (n <= MAX_INTEGER).then(|| n.to_string())
}

/// `?1` or `?0` (RFC 9651 §4.1.9).
pub fn serialize_boolean(b: bool) -> &'static str {
    if b { "?1" } else { "?0" }
}

/// The limits an upload resource announces in `Upload-Limit` (§4.1.4), in bytes and seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadLimit {
    pub max_size: Option<u64>,
    pub min_size: Option<u64>,
    pub max_append_size: Option<u64>,
    pub min_append_size: Option<u64>,
    /// The remaining lifetime: `max-age`, or `expires` in version 6.
    pub max_age: Option<u64>,
}

impl UploadLimit {
    /// The field value for a client of `version`. Each value is capped at `MAX_INTEGER`
    /// (announcing less than we allow is safe for every key). With no limit at all the draft
    /// asks for `min-size=0` rather than an empty value.
    pub fn serialize(&self, version: InteropVersion) -> String {
        let members = [
            ("max-size", self.max_size),
            ("min-size", self.min_size),
            ("max-append-size", self.max_append_size),
            ("min-append-size", self.min_append_size),
            (version.age_key(), self.max_age),
        ];
        let mut ser = DictSerializer::new();
        for (key, value) in members {
            if let Some(value) = value {
                let value = Integer::try_from(value.min(MAX_INTEGER))
                    .expect("values up to MAX_INTEGER are Integers");
                ser.bare_item(KeyRef::constant(key), value);
            }
        }
        ser.finish().unwrap_or_else(|| "min-size=0".to_owned())
    }

    /// Reads an `Upload-Limit` value (for tests and clients): unknown keys are ignored, a
    /// known key whose value is not a non-negative Integer makes the whole field an error
    /// (§4.1.4: "the complete HTTP message MUST be treated as malformed" is one of the two
    /// choices). `expires` is read as `max-age` for version 6 servers.
    pub fn parse(value: &str) -> Result<UploadLimit, FieldError> {
        const FIELD: &str = "Upload-Limit";
        let dict: Dictionary = Parser::new(value).parse().map_err(|_| FieldError {
            field: FIELD,
            defect: Defect::Syntax,
        })?;
        let get = |key: &str| -> Result<Option<u64>, FieldError> {
            let Some(entry) = dict.get(key) else {
                return Ok(None);
            };
            let ListEntry::Item(item) = entry else {
                return Err(FieldError {
                    field: FIELD,
                    defect: Defect::NotInteger,
                });
            };
            let n = item.bare_item.as_integer().ok_or(FieldError {
                field: FIELD,
                defect: Defect::NotInteger,
            })?;
            u64::try_from(i64::from(n))
                .map(Some)
                .map_err(|_| FieldError {
                    field: FIELD,
                    defect: Defect::Negative,
                })
        };
        let max_age = get("max-age")?;
        let expires = get("expires")?;
        Ok(UploadLimit {
            max_size: get("max-size")?,
            min_size: get("min-size")?,
            max_append_size: get("max-append-size")?,
            min_append_size: get("min-append-size")?,
            max_age: max_age.or(expires),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::default();
        for (name, value) in fields {
            h.push(name, value);
        }
        h
    }

    fn error(field: &'static str, defect: Defect) -> FieldError {
        FieldError { field, defect }
    }

    #[test]
    fn booleans() {
        let cases: &[(&str, Result<bool, Defect>)] = &[
            ("?1", Ok(true)),
            ("?0", Ok(false)),
            ("?1;foo=bar", Ok(true)),
            ("  ?0", Ok(false)),
            ("?1 ", Ok(true)),
            ("1", Err(Defect::NotBoolean)),
            ("\"?1\"", Err(Defect::NotBoolean)),
            ("true", Err(Defect::NotBoolean)),
            ("?2", Err(Defect::Syntax)),
            ("?", Err(Defect::Syntax)),
            ("", Err(Defect::Syntax)),
            ("?1, ?0", Err(Defect::Syntax)),
            ("?1;", Err(Defect::Syntax)),
            ("(?1)", Err(Defect::Syntax)),
        ];
        for (value, want) in cases {
            let want = want.map_err(|d| error("Upload-Complete", d));
            assert_eq!(parse_boolean(value, "Upload-Complete"), want, "{value:?}");
        }
    }

    #[test]
    fn counts() {
        let cases: &[(&str, Result<u64, Defect>)] = &[
            ("0", Ok(0)),
            ("25000000", Ok(25_000_000)),
            ("999999999999999", Ok(MAX_INTEGER)),
            ("7;unit=bytes", Ok(7)),
            ("1000000000000000", Err(Defect::Syntax)),
            ("-1", Err(Defect::Negative)),
            ("1.5", Err(Defect::NotInteger)),
            ("?1", Err(Defect::NotInteger)),
            ("abc", Err(Defect::NotInteger)),
            ("0x10", Err(Defect::Syntax)),
            ("+5", Err(Defect::Syntax)),
            ("", Err(Defect::Syntax)),
            ("1, 2", Err(Defect::Syntax)),
            ("1 2", Err(Defect::Syntax)),
        ];
        for (value, want) in cases {
            let want = want.map_err(|d| error("Upload-Offset", d));
            assert_eq!(parse_count(value, "Upload-Offset"), want, "{value:?}");
        }
    }

    type Case = (
        &'static [(&'static str, &'static str)],
        Result<UploadFields, FieldError>,
    );

    #[test]
    fn request_fields() {
        use VersionField::*;
        let cases: &[Case] = &[
            (
                &[],
                Ok(UploadFields {
                    version: Missing,
                    complete: None,
                    offset: None,
                    length: None,
                }),
            ),
            (
                &[
                    ("Upload-Draft-Interop-Version", "8"),
                    ("upload-complete", "?0"),
                    ("Upload-Offset", "100"),
                    ("Upload-Length", "500"),
                ],
                Ok(UploadFields {
                    version: Known(InteropVersion::V8),
                    complete: Some(false),
                    offset: Some(100),
                    length: Some(500),
                }),
            ),
            (
                // version 3 (iOS 17): the older inverted field
                &[
                    ("Upload-Draft-Interop-Version", "3"),
                    ("Upload-Incomplete", "?1"),
                ],
                Ok(UploadFields {
                    version: Unsupported(3),
                    complete: Some(false),
                    offset: None,
                    length: None,
                }),
            ),
            (
                // the newer field wins when both are sent
                &[("Upload-Complete", "?1"), ("Upload-Incomplete", "?1")],
                Ok(UploadFields {
                    version: Missing,
                    complete: Some(true),
                    offset: None,
                    length: None,
                }),
            ),
            (
                &[("Upload-Draft-Interop-Version", "6")],
                Ok(UploadFields {
                    version: Known(InteropVersion::V6),
                    complete: None,
                    offset: None,
                    length: None,
                }),
            ),
            (
                &[("Upload-Draft-Interop-Version", "-7")],
                Ok(UploadFields {
                    version: Unsupported(-7),
                    complete: None,
                    offset: None,
                    length: None,
                }),
            ),
            (
                &[("Upload-Draft-Interop-Version", "8.0")],
                Err(error("Upload-Draft-Interop-Version", Defect::NotInteger)),
            ),
            (
                &[("Upload-Offset", "1"), ("Upload-Offset", "1")],
                Err(error("Upload-Offset", Defect::Syntax)),
            ),
            (
                &[("Upload-Length", "-5")],
                Err(error("Upload-Length", Defect::Negative)),
            ),
            (
                &[("Upload-Complete", "1")],
                Err(error("Upload-Complete", Defect::NotBoolean)),
            ),
            (
                &[("Upload-Incomplete", "yes")],
                Err(error("Upload-Incomplete", Defect::NotBoolean)),
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(
                UploadFields::from_headers(&headers(fields)),
                *want,
                "{fields:?}"
            );
        }
    }

    #[test]
    fn field_errors_are_bad_requests() {
        let e = error("Upload-Offset", Defect::Negative);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.to_string(), "malformed Upload-Offset: negative");
    }

    #[test]
    fn limits_serialise_per_version() {
        let limit = UploadLimit {
            max_size: Some(1 << 30),
            max_append_size: Some(1 << 30),
            max_age: Some(86_400),
            ..UploadLimit::default()
        };
        assert_eq!(
            limit.serialize(InteropVersion::V8),
            "max-size=1073741824, max-append-size=1073741824, max-age=86400"
        );
        assert_eq!(
            limit.serialize(InteropVersion::V6),
            "max-size=1073741824, max-append-size=1073741824, expires=86400"
        );
        assert_eq!(
            UploadLimit::default().serialize(InteropVersion::V7),
            "min-size=0"
        );
        let huge = UploadLimit {
            max_size: Some(u64::MAX),
            ..UploadLimit::default()
        };
        assert_eq!(
            huge.serialize(InteropVersion::V8),
            "max-size=999999999999999"
        );
    }

    #[test]
    fn limits_parse() {
        let all = UploadLimit {
            max_size: Some(1),
            min_size: Some(2),
            max_append_size: Some(3),
            min_append_size: Some(4),
            max_age: Some(5),
        };
        let cases: &[(&str, Result<UploadLimit, Defect>)] = &[
            (
                "max-size=1, min-size=2, max-append-size=3, min-append-size=4, max-age=5",
                Ok(all),
            ),
            (
                "max-size=1, min-size=2, max-append-size=3, min-append-size=4, expires=5",
                Ok(all),
            ),
            (
                "min-size=0",
                Ok(UploadLimit {
                    min_size: Some(0),
                    ..UploadLimit::default()
                }),
            ),
            (
                "future-key=?1, max-age=9;p=1",
                Ok(UploadLimit {
                    max_age: Some(9),
                    ..UploadLimit::default()
                }),
            ),
            ("", Ok(UploadLimit::default())),
            ("max-size", Err(Defect::NotInteger)),
            ("max-size=\"1\"", Err(Defect::NotInteger)),
            ("max-size=(1 2)", Err(Defect::NotInteger)),
            ("max-age=-1", Err(Defect::Negative)),
            ("max-size=1.0", Err(Defect::NotInteger)),
            ("max-size=1,", Err(Defect::Syntax)),
            ("Max-Size=1", Err(Defect::Syntax)),
            ("max-size=1 min-size=2", Err(Defect::Syntax)),
        ];
        for (value, want) in cases {
            let want = want.map_err(|d| error("Upload-Limit", d));
            assert_eq!(UploadLimit::parse(value), want, "{value:?}");
        }
    }

    #[test]
    fn limits_round_trip() {
        let limit = UploadLimit {
            max_size: Some(MAX_INTEGER),
            min_size: Some(0),
            max_append_size: Some(8 << 20),
            min_append_size: None,
            max_age: Some(3600),
        };
        for version in [
            InteropVersion::V6,
            InteropVersion::V7,
            InteropVersion::V8,
            InteropVersion::V9,
        ] {
            assert_eq!(UploadLimit::parse(&limit.serialize(version)), Ok(limit));
        }
    }

    #[test]
    fn counts_and_booleans_serialise() {
        assert_eq!(serialize_count(0).as_deref(), Some("0"));
        assert_eq!(
            serialize_count(MAX_INTEGER).as_deref(),
            Some("999999999999999")
        );
        assert_eq!(serialize_count(MAX_INTEGER + 1), None);
        for n in [0, 1, 12_500_000, MAX_INTEGER] {
            let text = serialize_count(n).expect("in range");
            assert_eq!(parse_count(&text, "Upload-Offset"), Ok(n));
        }
        for b in [true, false] {
            assert_eq!(
                parse_boolean(serialize_boolean(b), "Upload-Complete"),
                Ok(b)
            );
        }
    }

    #[test]
    fn versions() {
        for n in [6, 7, 8, 9] {
            let v = InteropVersion::from_number(n).expect("spoken");
            assert_eq!(i64::from(v.number()), n);
        }
        for n in [0, 3, 5, 10, -8] {
            assert_eq!(InteropVersion::from_number(n), None);
        }
        assert_eq!(InteropVersion::LATEST, InteropVersion::V9);
        assert_eq!(
            InteropVersion::V6.incomplete_append_status(),
            StatusCode::CREATED
        );
        assert_eq!(
            InteropVersion::V8.incomplete_append_status(),
            StatusCode::NO_CONTENT
        );
        assert!(InteropVersion::V6.refuses_state_fields_on_retrieval());
        assert!(!InteropVersion::V7.refuses_state_fields_on_retrieval());
        assert!(!InteropVersion::V6.requires_complete_on_append());
        assert!(InteropVersion::V8.requires_complete_on_append());
    }
}
