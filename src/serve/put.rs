//! Writes to `/files/`: `PUT` and `POST` store a body whole or not at all, `DELETE` removes a
//! file. Every refusal is decided before the first body byte is read, so a client waiting on
//! `Expect: 100-continue` gets it without sending the body; preconditions are checked again
//! at the moment the write lands (`files::write` calls back under its commit lock).

use std::fs::Metadata;
use std::io::Read;

use crate::files::{FileError, FileRoot};
use crate::http::request::{Method, RequestHead};
use crate::http::response::{Response, StatusCode};
use crate::serve::conditional::{
    Precondition, Validators, check_preconditions, precondition_failed, preconditions_hold,
};
use crate::serve::digest::{content_digest, parse_content_digest};
use crate::serve::errors::{file_error, write_error};
use crate::serve::listing::files_url;

/// `POST` (and `PUT`) `/files/{name}`: store the body whole, then 201 (or 204 for a PUT that
/// replaced a file).
pub fn put_file(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    body: &mut dyn Read,
) -> Response {
    store(root, encoded, head, body).unwrap_or_else(write_error)
}

fn store(
    root: &FileRoot,
    encoded: &str,
    head: &RequestHead,
    body: &mut dyn Read,
) -> Result<Response, FileError> {
    let name = root.resolve(encoded)?;
    let target = root.upload_target(&name)?;
    let validators = target.existing().as_ref().map(Validators::of);
    if let Precondition::Failed = check_preconditions(head, validators.as_ref()) {
        return Ok(precondition_failed());
    }
    let expected = match head.headers.get("content-digest").map(parse_content_digest) {
        Some(Err(())) => {
            return Ok(Response::error(
                StatusCode::BAD_REQUEST,
                "malformed Content-Digest",
            ));
        }
        Some(Ok(digest)) => digest,
        None => None,
    };
    // the preconditions again, at the moment the upload lands
    let still_wanted = |current: Option<&Metadata>| preconditions_hold(head, current);
    let relative = target.relative.clone();
    let stored = root.store(target, body, expected, &still_wanted)?;
    // from what the rename replaced, not from a look before the body was read
    let status = if head.method == Method::Put && stored.replaced {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    log::debug!("stored {} bytes at {}", stored.len, relative.display());
    let mut response =
        Response::new(status).header("Content-Digest", content_digest(&stored.sha256));
    if status == StatusCode::CREATED {
        // RFC 9110 §15.3.2: where the new resource is
        response = response.header("Location", files_url(&name.relative));
    }
    Ok(response)
}

/// `DELETE /files/{name}`: 204, or 404 when there is no such file.
pub fn delete_file(root: &FileRoot, encoded: &str, head: &RequestHead) -> Response {
    // RFC 9110 §13.1: If-Match and If-Unmodified-Since hold for DELETE too
    let still_wanted = |current: Option<&Metadata>| preconditions_hold(head, current);
    match root
        .resolve(encoded)
        .and_then(|name| root.delete(&name, &still_wanted))
    {
        Ok(()) => Response::new(StatusCode::NO_CONTENT),
        Err(e) => file_error(e),
    }
}
