//! What the protocol itself answers, as small functions: its problem types (RFC 9457
//! `application/problem+json`, draft §7) and the heads of its `104 (Upload Resumption
//! Supported)` interim responses (§5). Deciding when to send which is the router's; writing a
//! 104 to the socket is the connection loop's (see the doc's route sketch).

use serde_json::json;

use crate::files::FileError;
use crate::http::response::{Response, StatusCode};
use crate::serve::errors::file_error;
use crate::serve::resumable::fields::{InteropVersion, UploadLimit, serialize_boolean};
use crate::serve::resumable::state::UploadState;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// §7.1, 409: the `Upload-Offset` of an append is not the resource's offset.
pub const MISMATCHING_OFFSET: &str =
    "https://iana.org/assignments/http-problem-types#mismatching-upload-offset";
/// §7.2, 400: the request's length indicators disagree with each other or with the recorded
/// length (drafts -10 and -11 also use it for an append with content to a completed upload).
pub const INCONSISTENT_LENGTH: &str =
    "https://iana.org/assignments/http-problem-types#inconsistent-upload-length";
/// An append to an upload that is already complete: drafts -04 to -09 answer 400 with it,
/// -10 and -11 keep it for an empty append (with 410 Gone); the editor's copy of May 2026
/// dropped it, without a version bump, for "the server can choose to replay the final response".
pub const COMPLETED_UPLOAD: &str =
    "https://iana.org/assignments/http-problem-types#completed-upload";

/// Storing a request's content failed on the server's side: a full disk or quota is 507, as
/// for a plain upload, anything else 500. What was stored before stays, so the answer is the
/// protocol's (`Upload-Complete: ?0`): the client may resume once there is room.
pub fn not_stored(state: &UploadState, e: std::io::Error) -> Response {
    log::error!("resumable upload {:?}: {e}", state.id);
    file_error(FileError::from(e)).header("Upload-Complete", serialize_boolean(false))
}

/// A request to an upload that a cancellation is removing (it stopped this request, or was
/// waiting when this one came).
pub fn cancelled() -> Response {
    Response::error(StatusCode::NOT_FOUND, "the upload was cancelled")
}

/// A problem response that belongs to the resumable-upload protocol, not to the target
/// resource: hence `Upload-Complete: ?0` (§4.4.2 "MUST reject the request with a 409 (Conflict)
/// status code and the `Upload-Complete` header field set to false").
fn problem(status: StatusCode, body: serde_json::Value) -> Response {
    Response::new(status)
        .header("Content-Type", PROBLEM_JSON)
        .header("Upload-Complete", serialize_boolean(false))
        .body(body.to_string().into_bytes())
}

/// 409 for an append at `provided` when the resource is at `expected`, with the correct
/// offset in `Upload-Offset` (§4.4.2: "The response MUST include the correct offset").
pub fn mismatching_offset(expected: u64, provided: u64) -> Response {
    problem(
        StatusCode::CONFLICT,
        json!({
            "type": MISMATCHING_OFFSET,
            "title": "offset from request does not match offset of resource",
            "expected-offset": expected,
            "provided-offset": provided,
        }),
    )
    .header("Upload-Offset", expected.to_string())
}

/// 400 for length values that do not agree (§4.1.3).
pub fn inconsistent_length() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        json!({
            "type": INCONSISTENT_LENGTH,
            "title": "inconsistent length values for upload",
        }),
    )
}

/// 400 for an append to an upload that has been completed.
pub fn completed_upload() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        json!({
            "type": COMPLETED_UPLOAD,
            "title": "upload is already completed",
        }),
    )
}

/// The head of the 104 that announces a new upload resource (§4.2.2: it MUST
/// carry `Location` and `Upload-Limit`; the appendix: and `Upload-Draft-Interop-Version`).
/// `location` is built by the caller from a checked upload id, so it holds no CR or LF.
pub fn resumption_supported(
    location: &str,
    limit: &UploadLimit,
    version: InteropVersion,
) -> Vec<u8> {
    debug_assert!(!location.contains(['\r', '\n']));
    format!(
        "HTTP/1.1 104 Upload Resumption Supported\r\n\
         Upload-Draft-Interop-Version: {}\r\n\
         Location: {location}\r\n\
         Upload-Limit: {}\r\n\r\n",
        version.number(),
        limit.serialize(version),
    )
    .into_bytes()
}

/// The head of a progress 104 while content is being received: `Upload-Offset` only, never
/// `Location` (§4.4.2).
pub fn progress(offset: u64, version: InteropVersion) -> Vec<u8> {
    format!(
        "HTTP/1.1 104 Upload Resumption Supported\r\n\
         Upload-Draft-Interop-Version: {}\r\n\
         Upload-Offset: {offset}\r\n\r\n",
        version.number(),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response) -> serde_json::Value {
        let crate::http::response::Body::Bytes(bytes) = &response.body else {
            panic!("problem responses carry their JSON in memory");
        };
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn mismatching_offset_says_both_offsets() {
        let r = mismatching_offset(12_500_000, 25_000_000);
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.header_value("content-type"), Some(PROBLEM_JSON));
        assert_eq!(r.header_value("upload-offset"), Some("12500000"));
        assert_eq!(r.header_value("upload-complete"), Some("?0"));
        assert_eq!(
            body_json(&r),
            json!({
                "type": "https://iana.org/assignments/http-problem-types#mismatching-upload-offset",
                "title": "offset from request does not match offset of resource",
                "expected-offset": 12_500_000,
                "provided-offset": 25_000_000,
            })
        );
    }

    #[test]
    fn length_and_completion_problems() {
        for (r, kind) in [
            (inconsistent_length(), "inconsistent-upload-length"),
            (completed_upload(), "completed-upload"),
        ] {
            assert_eq!(r.status, StatusCode::BAD_REQUEST);
            assert_eq!(r.header_value("content-type"), Some(PROBLEM_JSON));
            assert_eq!(r.header_value("upload-complete"), Some("?0"));
            assert_eq!(r.header_value("upload-offset"), None);
            let body = body_json(&r);
            assert_eq!(
                body["type"],
                format!("https://iana.org/assignments/http-problem-types#{kind}")
            );
            assert!(body["title"].is_string());
        }
    }

    #[test]
    fn interim_heads() {
        let limit = UploadLimit {
            max_size: Some(1000),
            max_age: Some(60),
            ..UploadLimit::default()
        };
        let head = resumption_supported("/uploads/ab", &limit, InteropVersion::V6);
        assert_eq!(
            String::from_utf8(head).expect("ASCII"),
            "HTTP/1.1 104 Upload Resumption Supported\r\nUpload-Draft-Interop-Version: 6\r\n\
             Location: /uploads/ab\r\nUpload-Limit: max-size=1000, expires=60\r\n\r\n"
        );
        let head = progress(4096, InteropVersion::V8);
        assert_eq!(
            String::from_utf8(head).expect("ASCII"),
            "HTTP/1.1 104 Upload Resumption Supported\r\nUpload-Draft-Interop-Version: 8\r\n\
             Upload-Offset: 4096\r\n\r\n"
        );
        // both parse as complete heads that an HTTP/1.1 client reads as interim responses
        for head in [
            resumption_supported("/uploads/ab", &limit, InteropVersion::V8),
            progress(0, InteropVersion::V7),
        ] {
            let mut fields = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Response::new(&mut fields);
            assert!(
                matches!(parsed.parse(&head), Ok(httparse::Status::Complete(n)) if n == head.len())
            );
            assert_eq!(parsed.code, Some(104));
        }
    }
}
