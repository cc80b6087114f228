//! Where the bytes go: a request's content appended to the upload's data (bounded, fsynced
//! periodically and at the end, kept when the request is cut), and the completion, which
//! commits the data exactly like a plain upload and answers as the creating request would have.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::files::{FileError, FileName, FileRoot, Sha256Of};
use crate::http::request::{Headers, Method, RequestHead, Version};
use crate::http::response::{Response, StatusCode};
use crate::serve::conditional::preconditions_hold;
use crate::serve::digest::{content_digest, parse_content_digest};
use crate::serve::errors::{file_error, write_error};
use crate::serve::listing::files_url;
use crate::serve::resumable::fields::{InteropVersion, serialize_boolean};
use crate::serve::resumable::service::Service;
use crate::serve::resumable::state::{CreatedWith, Phase, UploadState};
use crate::serve::resumable::{STATE_DIR, answers};
use crate::serve::router::RequestBody;

/// How a request's content went into the upload.
pub enum Received {
    /// All of it; the upload is now at `offset`, synced. When the request carried the upload
    /// from its first byte, `sha256` is that of all of it, so that a completion need not read
    /// the bytes again (nothing of it is kept beyond the request: a later append reads).
    Whole {
        offset: u64,
        sha256: Option<[u8; 32]>,
    },
    /// The content would pass `cap`: nothing of this request was kept.
    TooLong,
    /// The request's own `Content-Digest` did not match: nothing of it was kept.
    DigestMismatch,
    /// The request ended early (the client went, a stall): what arrived is kept and synced.
    Cut(io::Error),
    /// A cancellation asked this request to stop; the upload is about to go.
    Cancelled,
}

/// Appends `body` to the upload `state` (claimed by the caller), never past `cap` bytes in
/// all; checks the content against `digest` when given, and hashes it also when it starts
/// the upload. With `progress`, each periodic fsync is announced in a 104 with the offset it
/// made durable (§4.4.2: SHOULD in version 8).
pub fn receive(
    service: &Service,
    state: &UploadState,
    body: &mut dyn RequestBody,
    cap: u64,
    digest: Option<[u8; 32]>,
    progress: Option<InteropVersion>,
) -> io::Result<Received> {
    let mut appender = service
        .store
        .appender(&state.id, service.sync_every())
        .map_err(io::Error::other)?;
    let start = appender.offset();
    let mut hasher = (digest.is_some() || start == 0).then(Sha256::new);
    let mut chunk = vec![0; 256 * 1024];
    let mut announced = start;
    let received = loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        };
        if appender.offset() + n as u64 > cap {
            appender.roll_back(start)?;
            return Ok(Received::TooLong);
        }
        if service.asked_to_stop(&state.id) {
            return Ok(Received::Cancelled);
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk[..n]);
        }
        appender.write(&chunk[..n])?;
        if let Some(version) = progress
            && appender.offset() - announced >= service.sync_every()
        {
            announced = appender.sync()?;
            // a client that cannot take it will fail its next read anyway
            let _ = body.send_interim(&answers::progress(announced, version));
        }
    };
    let offset = appender.sync()?;
    if let Some(e) = received {
        touch(service, state);
        return Ok(Received::Cut(e));
    }
    let sha256 = hasher.map(|h| <[u8; 32]>::from(h.finalize()));
    if digest.is_some() && sha256 != digest {
        appender.roll_back(start)?;
        return Ok(Received::DigestMismatch);
    }
    touch(service, state);
    Ok(Received::Whole {
        offset,
        sha256: sha256.filter(|_| start == 0),
    })
}

/// Expiry counts from the last append.
fn touch(service: &Service, state: &UploadState) {
    let mut state = state.clone();
    state.touched = SystemTime::now();
    if let Err(e) = service.store.save(&state) {
        log::error!("resumable upload {:?}: {e}", state.id);
    }
}

/// What a request's content did, as a response, when it did not simply arrive whole.
pub fn refusal(received: &Received, offset: u64) -> Option<Response> {
    let response = match received {
        Received::Whole { .. } => return None,
        Received::TooLong => Response::error(
            StatusCode::CONTENT_TOO_LARGE,
            "content past the upload's length or size limit",
        ),
        Received::DigestMismatch => {
            Response::error(StatusCode::BAD_REQUEST, "Content-Digest does not match")
        }
        Received::Cut(e) => return Some(file_error(FileError::Io(io::Error::new(e.kind(), "")))),
        Received::Cancelled => return Some(answers::cancelled()),
    };
    Some(
        response
            .header("Upload-Complete", serialize_boolean(false))
            .header("Upload-Offset", offset.to_string()),
    )
}

/// The creating request's conditional fields, as a head that `preconditions_hold` can read.
fn creating_head(state: &UploadState) -> RequestHead {
    let mut headers = Headers::default();
    let p = &state.preconditions;
    for (name, value) in [
        ("if-match", &p.if_match),
        ("if-none-match", &p.if_none_match),
        ("if-unmodified-since", &p.if_unmodified_since),
    ] {
        if let Some(value) = value {
            headers.push(name, value);
        }
    }
    RequestHead {
        method: match state.method {
            CreatedWith::Put => Method::Put,
            CreatedWith::Post => Method::Post,
        },
        target: String::new(),
        authority: None,
        version: Version::Http11,
        headers,
    }
}

/// The digest the whole representation must have: the creating request's `Content-Digest`
/// (sent with `Upload-Complete: ?1`) and `Repr-Digest`, which must agree.
fn expected_digest(state: &UploadState) -> Result<Option<[u8; 32]>, FileError> {
    let d = &state.digests;
    let mut want = None;
    for value in [&d.content_digest, &d.repr_digest].into_iter().flatten() {
        match parse_content_digest(value) {
            Ok(Some(sha)) if want.is_some_and(|w| w != sha) => {
                return Err(FileError::DigestMismatch);
            }
            Ok(Some(sha)) => want = Some(sha),
            Ok(None) => {}
            Err(()) => return Err(FileError::DigestMismatch),
        }
    }
    Ok(want)
}

/// Commits a whole upload (`length` bytes, synced) to its target like a plain upload: the
/// synced data file itself renamed over the target (`FileRoot::commit_file`; copied only when
/// the target is on another file system), the creating request's preconditions checked at
/// the rename, the directory synced; then the resource becomes a tombstone. Answers what the
/// creating request would have, with `Upload-Complete: ?1`. A refusal of the representation
/// (412, a digest) or its name is final too and removes the upload; any other failure (a full
/// disk, a missing folder, a folder in the way, permissions) keeps it open with its data and
/// answers `?0`.
/// `sha256`: the bytes' digest, when the last request hashed all of them (`Received::Whole`).
pub fn finish(
    root: &FileRoot,
    service: &Service,
    state: &UploadState,
    length: u64,
    sha256: Option<[u8; 32]>,
) -> Response {
    let name = FileName {
        relative: PathBuf::from(&state.target),
        ends_in_slash: false,
    };
    let head = creating_head(state);
    let stored = (|| {
        let target = root.upload_target(&name)?;
        let digests = Sha256Of {
            expected: expected_digest(state)?,
            known: sha256,
        };
        let data = Path::new(STATE_DIR).join(service.store.data_name(&state.id));
        let still_wanted = |current: Option<&Metadata>| preconditions_hold(&head, current);
        root.commit_file(target, &data, digests, &still_wanted)
    })();
    // the data is untouched and the upload stays open: the client may complete it again (an
    // empty `?1` append) once there is room, the folder is back, the permissions are mended;
    // unless the data itself is gone
    let kept =
        matches!(&stored, Err(e) if may_pass(e)) && service.store.data_path(&state.id).exists();
    match &stored {
        Ok(_) => tombstone(service, state, length),
        Err(_) if kept => {}
        // the representation itself was refused (412, a digest), or nothing is left to commit
        Err(_) => {
            if let Err(e) = service.store.remove(&state.id) {
                log::error!("resumable upload {:?}: {e}", state.id);
            }
        }
    }
    let response = match stored {
        Ok(stored) => {
            let status = if state.method == CreatedWith::Put && stored.replaced {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::CREATED
            };
            let mut response =
                Response::new(status).header("Content-Digest", content_digest(&stored.sha256));
            if status == StatusCode::CREATED {
                response = response.header("Location", files_url(&name.relative));
            }
            response
        }
        Err(e) => {
            // `?0`: an answer of the upload protocol, which the client may resume past
            return write_error(e)
                .header("Upload-Complete", serialize_boolean(!kept))
                .header("Upload-Offset", length.to_string());
        }
    };
    response
        .header("Upload-Complete", serialize_boolean(true))
        .header("Upload-Offset", length.to_string())
}

/// Failures of the commit that say nothing of the representation, and that someone can mend:
/// all but a refusal of the representation or of its name.
fn may_pass(e: &FileError) -> bool {
    !matches!(
        e,
        FileError::PreconditionFailed
            | FileError::DigestMismatch
            | FileError::BadName
            | FileError::Reserved
            | FileError::Outside
    )
}

/// A committed upload becomes a tombstone until expiry, so that a client whose last answer
/// was lost learns that it is complete. Commit first, tombstone second: the data file,
/// unless it became the target (or a crash came between), goes with the tombstone.
fn tombstone(service: &Service, state: &UploadState, length: u64) {
    let mut done = state.clone();
    done.phase = Phase::Completed { length };
    done.length = Some(length);
    done.touched = SystemTime::now();
    let saved = service.store.save(&done).and_then(|()| {
        match std::fs::remove_file(service.store.data_path(&state.id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    });
    if let Err(e) = saved {
        log::error!("resumable upload {:?}: {e}", state.id);
    }
}
