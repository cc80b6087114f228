//! Creation (draft §4.2): a `POST` or `PUT /files/NAME` carrying `Upload-Complete` makes an
//! upload resource, announces it in a 104 before the content is read, keeps what arrives, and
//! either completes at once (`?1`, all content here) or answers 201 with its `Location` (`?0`).

use std::net::IpAddr;
use std::time::SystemTime;

use crate::files::FileRoot;
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{Response, StatusCode};
use crate::serve::conditional::{
    Precondition, Validators, check_preconditions, precondition_failed,
};
use crate::serve::digest::parse_content_digest;
use crate::serve::errors::file_error;
use crate::serve::resumable::answers::{inconsistent_length, not_stored, resumption_supported};
use crate::serve::resumable::commit::{Received, finish, receive, refusal};
use crate::serve::resumable::fields::{
    InteropVersion, UploadFields, VersionField, serialize_boolean,
};
use crate::serve::resumable::service::{Service, service};
use crate::serve::resumable::state::{
    CreatedWith, Digests, Owner, Phase, Preconditions, UploadId, UploadState,
};
use crate::serve::resumable::{UPLOADS_PREFIX, field_error, request_length, too_large};
use crate::serve::router::RequestBody;

/// Whether a request to `/files/` asks to be resumable: it carries `Upload-Complete` (or
/// the older `Upload-Incomplete`). Everything else is a plain upload, as before.
pub fn is_creation(head: &RequestHead) -> bool {
    matches!(head.method, Method::Post | Method::Put)
        && (head.headers.get("upload-complete").is_some()
            || head.headers.get("upload-incomplete").is_some())
}

/// Who creates, as the router knows it after the access decision.
pub struct Creator<'a> {
    pub user: Option<&'a str>,
    pub peer: IpAddr,
}

/// Answers a creation request; `plain` stores it as an ordinary upload (a client of a version
/// we do not speak that sent the whole representation).
pub fn create(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    body: &mut dyn RequestBody,
    creator: &Creator,
    plain: &dyn Fn(&mut dyn RequestBody) -> Response,
) -> Response {
    let fields = match UploadFields::from_headers(&head.headers) {
        Ok(fields) => fields,
        Err(e) => return field_error(e),
    };
    let complete = fields.complete.unwrap_or(true);
    let (version, interim) = match fields.version {
        VersionField::Known(v) => (v, head.version == Version::Http11),
        // a client of the final RFC: its protocol is the newest, but appendix B forbids a 104
        VersionField::Missing => (InteropVersion::LATEST, false),
        VersionField::Unsupported(_) if complete => return plain(body),
        VersionField::Unsupported(n) => {
            let reason = format!("resumable uploads speak interop versions 6 to 8, not {n}");
            return Response::error(StatusCode::BAD_REQUEST, reason);
        }
    };
    let Some(service) = service() else {
        return Response::error(StatusCode::SERVICE_UNAVAILABLE, "no upload state");
    };
    if fields.offset.is_some_and(|o| o != 0) {
        return Response::error(StatusCode::BAD_REQUEST, "a creation starts at offset 0");
    }
    // the length of the whole representation, where the request says it
    let content = request_length(head);
    let length = match (fields.length, content.filter(|_| complete)) {
        (Some(a), Some(b)) if a != b => return inconsistent_length(),
        (a, b) => a.or(b),
    };
    if content.is_some_and(|c| length.is_some_and(|l| c > l)) {
        return inconsistent_length();
    }
    let limit = service.limit(None);
    if length.is_some_and(|l| l > service.settings.max_size) {
        return too_large(&limit, version);
    }
    let state = match prepare(root, encoded, head, creator, version, length, complete) {
        Ok(state) => state,
        Err(response) => return response,
    };
    let creating = service.creating.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(response) = within_caps(service, &state, creator) {
        return response;
    }
    let busy = service.claim(state.id);
    if let Err(response) = record(service, &state) {
        return response;
    }
    drop(creating);
    let location = format!("{UPLOADS_PREFIX}{}", state.id);
    if interim {
        let interim_head = resumption_supported(&location, &limit, version);
        if body.send_interim(&interim_head).is_err() {
            return Response::error(StatusCode::BAD_REQUEST, "client gone");
        }
    }
    // with ?0 a Content-Digest covers this request's content only; with ?1 the whole upload
    let own_digest = match head.headers.get("content-digest") {
        Some(value) if !complete => parse_content_digest(value).ok().flatten(),
        _ => None,
    };
    let progress = interim.then_some(version);
    let (response, finished) =
        take_content(root, service, &state, body, complete, own_digest, progress);
    drop(busy);
    let response = response.header("Upload-Limit", limit.serialize(version));
    // §4.2.2: every Location of one request is the upload's, except in the final ?1 answer
    if finished {
        response
    } else {
        response.header("Location", location)
    }
}

/// 429 past the creator's own cap, 507 past the total.
fn within_caps(service: &Service, state: &UploadState, creator: &Creator) -> Result<(), Response> {
    match service.within_caps(&state.owner, creator.peer) {
        Ok(()) => Ok(()),
        Err(true) => Err(Response::error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many open uploads",
        )),
        Err(false) => Err(Response::error(
            StatusCode::INSUFFICIENT_STORAGE,
            "too many open uploads",
        )),
    }
}

/// The new upload's state on disk, before anything is announced.
fn record(service: &Service, state: &UploadState) -> Result<(), Response> {
    service
        .store
        .ensure_dir()
        .map_err(Into::into)
        .and_then(|()| service.store.create(state))
        .map_err(|e| {
            log::error!("resumable upload: cannot create: {e}");
            Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot create the upload",
            )
        })
}

/// The content of the creating request into the new upload, then its answer.
fn take_content(
    root: &FileRoot,
    service: &Service,
    state: &UploadState,
    body: &mut dyn RequestBody,
    complete: bool,
    own_digest: Option<[u8; 32]>,
    progress: Option<InteropVersion>,
) -> (Response, bool) {
    let cap = state.length.unwrap_or(service.settings.max_size);
    let received = match receive(service, state, body, cap, own_digest, progress) {
        Ok(r) => r,
        Err(e) => return (not_stored(state, e), false),
    };
    let offset = service.store.offset(&state.id).unwrap_or(0);
    if let Some(response) = refusal(&received, offset) {
        return (response, false);
    }
    let Received::Whole { sha256, .. } = received else {
        unreachable!("refusal answers every other case")
    };
    if complete {
        if state.length.is_some_and(|l| l != offset) {
            return (inconsistent_length(), false);
        }
        return (finish(root, service, state, offset, sha256), true);
    }
    let response = Response::new(StatusCode::CREATED)
        .header("Upload-Complete", serialize_boolean(false))
        .header("Upload-Offset", offset.to_string());
    (response, false)
}

/// The checks a plain upload makes before its body (name, target, preconditions), then the
/// state of the new upload.
fn prepare(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    creator: &Creator,
    version: InteropVersion,
    length: Option<u64>,
    complete: bool,
) -> Result<UploadState, Response> {
    let name = root.resolve(encoded).map_err(file_error)?;
    let target = root.upload_target(&name).map_err(file_error)?;
    let existing = target.existing();
    let validators = existing.as_ref().map(Validators::of);
    if let Precondition::Failed = check_preconditions(head, validators.as_ref()) {
        return Err(precondition_failed());
    }
    let field = |name| head.headers.get(name).map(str::to_owned);
    for digest in ["content-digest", "repr-digest"] {
        if let Some(Err(())) = head.headers.get(digest).map(parse_content_digest) {
            return Err(Response::error(StatusCode::BAD_REQUEST, "malformed digest"));
        }
    }
    let id = UploadId::random()
        .map_err(|_| Response::error(StatusCode::INTERNAL_SERVER_ERROR, "no randomness"))?;
    let now = SystemTime::now();
    Ok(UploadState {
        id,
        owner: creator
            .user
            .map_or(Owner::Anonymous, |u| Owner::Account(u.to_owned())),
        peer: creator.peer,
        target: name.relative.to_string_lossy().into_owned(),
        method: match head.method {
            Method::Put => CreatedWith::Put,
            _ => CreatedWith::Post,
        },
        length,
        preconditions: Preconditions {
            if_match: field("if-match"),
            if_none_match: field("if-none-match"),
            if_unmodified_since: field("if-unmodified-since"),
        },
        digests: Digests {
            content_digest: if complete {
                field("content-digest")
            } else {
                None
            },
            repr_digest: field("repr-digest"),
        },
        interop: version,
        created: now,
        touched: now,
        phase: Phase::Open,
    })
}
