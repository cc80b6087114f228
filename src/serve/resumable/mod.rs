//! Resumable uploads (draft-ietf-httpbis-resumable-upload, interop versions 6, 7 and 8; see
//! `docs/resumable-uploads.md` for what each version asks and how the routes will map). An
//! upload resource lives at `UPLOADS_PREFIX` + its id, outside the served names.
//!
//! - `fields`: the structured header fields (`Upload-Complete`, the older `Upload-Incomplete`,
//!   `Upload-Offset`, `Upload-Length`, `Upload-Limit`, `Upload-Draft-Interop-Version`), parsed
//!   and serialised with `sfv` (RFC 9651), and what differs between the interop versions.
//! - `state`: what the server remembers of each upload resource (an unguessable id, owner,
//!   target, declared length, the creating request's preconditions and digests, interop
//!   version, times) and its strict JSON form; no I/O.
//! - `store`: all of its disk access, in one place: the state file written atomically beside
//!   the data file whose synced length is the offset, so that both survive SIGKILL; appends,
//!   listing, expiry.
//! - `answers`: the bodies and heads the protocol defines: its problem+json responses
//!   (mismatching offset, completed upload, inconsistent length) and the `104` interim heads.
//!
//! - `service`: the one per process (store, limits, which uploads are being written), its
//!   periodic expiry sweep and the caps.
//! - `create`: creation from `POST`/`PUT /files/NAME` with `Upload-Complete`.
//! - `resource`: `/uploads/{id}`: offset, append, cancel, options.
//! - `commit`: content into the upload's data, and the completion, which commits like a plain
//!   upload, by renaming the data file itself (`files::FileRoot::commit_file`).
//!
//! The access rules stay in `security::access`, run by the router before any of this.

pub mod answers;
mod commit;
pub mod create;
pub mod fields;
pub mod resource;
pub mod service;
pub mod state;
pub mod store;

use crate::http::request::RequestHead;
use crate::http::response::{Response, StatusCode};
use fields::{FieldError, InteropVersion, UploadLimit};

pub use service::start;

/// Where upload resources are addressed: `/uploads/{id}`, a path no served name can take.
pub const UPLOADS_PREFIX: &str = "/uploads/";

/// The hidden in-progress namespace under the served directory where `state` keeps upload
/// resources. It starts with `files::TEMP_PREFIX`, so listings hide it and no `/files/` name
/// can reach it (`resolve_name` answers `Reserved`).
pub const STATE_DIR: &str = ".upload-resumable";

/// 400 for a malformed upload field, naming it.
fn field_error(e: FieldError) -> Response {
    Response::error(e.status(), e)
}

/// The request's `Content-Length` (none when chunked); the framing already checked it.
fn request_length(head: &RequestHead) -> Option<u64> {
    head.headers
        .get("content-length")
        .and_then(|v| v.trim().parse().ok())
}

/// 413 with the limits that caused it (§4.1.4: such a 413 SHOULD carry `Upload-Limit`).
fn too_large(limit: &UploadLimit, version: InteropVersion) -> Response {
    Response::error(
        StatusCode::CONTENT_TOO_LARGE,
        "the upload would pass max-size",
    )
    .header("Upload-Limit", limit.serialize(version))
    .header("Upload-Complete", fields::serialize_boolean(false))
}

/// Adds what the draft announces of uploads (`Upload-Limit`, `Accept-Patch`) to `response`.
pub fn announce(response: Response) -> Response {
    match service::service() {
        Some(service) => response
            .header(
                "Upload-Limit",
                service.limit(None).serialize(InteropVersion::LATEST),
            )
            .header("Accept-Patch", resource::PARTIAL_UPLOAD),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_state_directory_is_reserved() {
        assert!(super::STATE_DIR.starts_with(crate::files::TEMP_PREFIX));
        assert!(crate::files::resolve_name(super::STATE_DIR).is_err());
        assert!(crate::files::resolve_name(&format!("{}/x.state", super::STATE_DIR)).is_err());
    }
}
