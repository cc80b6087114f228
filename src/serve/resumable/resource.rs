//! The upload resource, `/uploads/{id}`: offset retrieval (`HEAD`, `GET`; draft §4.3), append
//! (`PATCH`; §4.4), cancellation (`DELETE`; §4.5) and `OPTIONS`. Only its owner finds it;
//! everyone else, like any unknown or expired id, gets 404.

use std::path::Path;
use std::time::Duration;

use crate::files::FileRoot;
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{Response, StatusCode};
use crate::security::access::Grant;
use crate::serve::digest::parse_content_digest;
use crate::serve::listing::files_url;
use crate::serve::resumable::answers::{
    cancelled, completed_upload, inconsistent_length, mismatching_offset, not_stored,
};
use crate::serve::resumable::commit::{Received, finish, receive, refusal};
use crate::serve::resumable::fields::{UploadFields, VersionField, serialize_boolean};
use crate::serve::resumable::service::{Service, service};
use crate::serve::resumable::state::{Phase, UploadId, UploadState};
use crate::serve::resumable::{field_error, request_length, too_large};
use crate::serve::router::RequestBody;
use crate::serve::webdav::refuse_locked_write;

/// The media type of an append's content (§6), required from interop version 6 on.
pub const PARTIAL_UPLOAD: &str = "application/partial-upload";
const ALLOW: &str = "GET, HEAD, PATCH, DELETE, OPTIONS";

/// Answers a request to `/uploads/{id}` (`id` as in the path) by the client `grant` names.
pub fn upload_resource(
    root: &FileRoot,
    id: &str,
    head: &RequestHead,
    body: &mut dyn RequestBody,
    grant: &Grant,
) -> Response {
    let user = grant.user.as_deref();
    let not_found = || Response::error(StatusCode::NOT_FOUND, "no such upload");
    let Some(service) = service() else {
        return not_found();
    };
    let Some(state) = UploadId::parse(id).and_then(|id| service.find(&id, user)) else {
        return not_found();
    };
    let fields = match UploadFields::from_headers(&head.headers) {
        Ok(fields) => fields,
        Err(e) => return field_error(e),
    };
    let retrieval_like = matches!(head.method, Method::Get | Method::Head | Method::Delete);
    if retrieval_like
        && state.interop.refuses_state_fields_on_retrieval()
        && fields.has_state_fields()
    {
        return Response::error(StatusCode::BAD_REQUEST, "upload fields on this request");
    }
    match head.method {
        Method::Get | Method::Head => offset(service, &state),
        Method::Patch => append(root, service, &state, head, grant, &fields, body),
        Method::Delete => cancel(service, &state),
        Method::Options => Response::new(StatusCode::NO_CONTENT)
            .header("Allow", ALLOW)
            .header("Accept-Patch", PARTIAL_UPLOAD)
            .header(
                "Upload-Limit",
                service.limit(Some(state.touched)).serialize(state.interop),
            ),
        _ => Response::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .header("Allow", ALLOW),
    }
}

/// `Upload-Offset`, `Upload-Complete`, `Upload-Length`, `Upload-Limit`; never the bytes.
fn offset(service: &Service, state: &UploadState) -> Response {
    let (offset, done) = match state.phase {
        Phase::Completed { length } => (length, true),
        Phase::Open => match service.store.offset(&state.id) {
            Ok(offset) => (offset, false),
            Err(_) => return Response::error(StatusCode::NOT_FOUND, "no such upload"),
        },
    };
    let mut response = Response::new(StatusCode::NO_CONTENT)
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Complete", serialize_boolean(done))
        .header("Cache-Control", "no-store")
        .header(
            "Upload-Limit",
            service.limit(Some(state.touched)).serialize(state.interop),
        );
    if let Some(length) = state.length {
        response = response.header("Upload-Length", length.to_string());
    }
    response
}

/// 204: the upload and its bytes are gone. A request writing to it is stopped first; one that
/// sends nothing for this long (so never reads again to see it) keeps it: 409.
fn cancel(service: &Service, state: &UploadState) -> Response {
    const PATIENCE: Duration = Duration::from_secs(5);
    let Some(_busy) = service.claim_stopping(state.id, PATIENCE) else {
        return Response::error(StatusCode::CONFLICT, "the upload is being written to");
    };
    match service.store.remove(&state.id) {
        Ok(()) => Response::new(StatusCode::NO_CONTENT),
        Err(e) => {
            log::error!("resumable upload {:?}: {e}", state.id);
            Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot remove the upload",
            )
        }
    }
}

fn append(
    root: &FileRoot,
    service: &Service,
    state: &UploadState,
    head: &RequestHead,
    grant: &Grant,
    fields: &UploadFields,
    body: &mut dyn RequestBody,
) -> Response {
    let (provided, complete) = match append_fields(state, head, fields) {
        Ok(asked) => asked,
        Err(response) => return response,
    };
    if let Phase::Completed { .. } = state.phase {
        return completed_upload();
    }
    // the append that completes writes the target, so a WebDAV lock on it (taken since the
    // creation) refuses it as it would a plain upload, before any of its content is read
    if complete && let Some(refused) = locked(root, state, head, grant) {
        return refused.header("Upload-Complete", serialize_boolean(false));
    }
    let Some(busy) = service.claim(state.id) else {
        let current = service.store.offset(&state.id).unwrap_or(0);
        return mismatching_offset(current, provided);
    };
    // a cancellation waiting for the claim comes first, even for an append with no content
    if service.asked_to_stop(&state.id) {
        return cancelled();
    }
    // read again under the claim: a cancellation or completion may have come between
    let reloaded = service.store.load(&state.id).ok();
    let Some(state) = reloaded.filter(|s| s.phase == Phase::Open) else {
        return Response::error(StatusCode::NOT_FOUND, "no such upload");
    };
    let Ok(current) = service.store.offset(&state.id) else {
        return Response::error(StatusCode::NOT_FOUND, "no such upload");
    };
    if current != provided {
        return mismatching_offset(current, provided);
    }
    let mut state = state;
    let content = request_length(head);
    let length = match settle_length(service, &mut state, fields, current, content, complete) {
        Ok(length) => length,
        Err(response) => return response,
    };
    let own_digest = head
        .headers
        .get("content-digest")
        .and_then(|v| parse_content_digest(v).ok().flatten());
    let cap = length.unwrap_or(service.settings.max_size);
    let progress = (head.version == Version::Http11
        && matches!(fields.version, VersionField::Known(_)))
    .then_some(state.interop);
    let received = match receive(service, &state, body, cap, own_digest, progress) {
        Ok(received) => received,
        Err(e) => return not_stored(&state, e),
    };
    let offset = service.store.offset(&state.id).unwrap_or(current);
    if let Some(response) = refusal(&received, offset) {
        return match received {
            // a refusal over a limit carries the limits (draft -12 on)
            Received::TooLong => response.header(
                "Upload-Limit",
                service.limit(Some(state.touched)).serialize(state.interop),
            ),
            _ => response,
        };
    }
    let Received::Whole { offset, sha256 } = received else {
        unreachable!("refusal answers every other case")
    };
    let response = if complete {
        if length.is_some_and(|l| l != offset) {
            return inconsistent_length();
        }
        finish(root, service, &state, offset, sha256)
    } else {
        Response::new(state.interop.incomplete_append_status())
            .header("Upload-Complete", serialize_boolean(false))
            .header("Upload-Offset", offset.to_string())
    };
    drop(busy);
    response
}

/// A lock on the upload's target that this request does not hold (`If` with its token).
fn locked(
    root: &FileRoot,
    state: &UploadState,
    head: &RequestHead,
    grant: &Grant,
) -> Option<Response> {
    let url = files_url(Path::new(&state.target));
    let encoded = url.strip_prefix("/files/")?;
    refuse_locked_write(root, encoded, head, grant)
}

/// What an append says of itself: its `Upload-Offset` and whether it completes the upload.
fn append_fields(
    state: &UploadState,
    head: &RequestHead,
    fields: &UploadFields,
) -> Result<(u64, bool), Response> {
    let media_type = head.headers.get("content-type").unwrap_or("");
    let essence = media_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(PARTIAL_UPLOAD) {
        return Err(Response::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "appends are application/partial-upload",
        )
        .header("Accept-Patch", PARTIAL_UPLOAD));
    }
    let Some(provided) = fields.offset else {
        return Err(Response::error(
            StatusCode::BAD_REQUEST,
            "an append needs Upload-Offset",
        ));
    };
    let complete = match fields.complete {
        Some(complete) => complete,
        None if state.interop.requires_complete_on_append() => {
            return Err(Response::error(
                StatusCode::BAD_REQUEST,
                "an append needs Upload-Complete",
            ));
        }
        // interop 6: only ?0 is required, when more follows
        None => true,
    };
    Ok((provided, complete))
}

/// The upload's length as this append makes it known, checked against what was declared
/// before and against `max-size`, and recorded when it changed.
fn settle_length(
    service: &Service,
    state: &mut UploadState,
    fields: &UploadFields,
    current: u64,
    content: Option<u64>,
    complete: bool,
) -> Result<Option<u64>, Response> {
    let total = content.filter(|_| complete).map(|c| current + c);
    let length = match (state.length, fields.length, total) {
        (Some(a), Some(b), _) | (Some(a), _, Some(b)) | (_, Some(a), Some(b)) if a != b => {
            return Err(inconsistent_length());
        }
        (a, b, c) => a.or(b).or(c),
    };
    if length.is_some_and(|l| content.is_some_and(|c| current + c > l)) {
        return Err(inconsistent_length());
    }
    if length.is_some_and(|l| l > service.settings.max_size)
        || content.is_some_and(|c| current + c > service.settings.max_size)
    {
        return Err(too_large(
            &service.limit(Some(state.touched)),
            state.interop,
        ));
    }
    if length != state.length {
        state.length = length;
        if let Err(e) = service.store.save(state) {
            log::error!("resumable upload {:?}: {e}", state.id);
            return Err(Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot record the length",
            ));
        }
    }
    Ok(length)
}
