//! MKCOL (RFC 4918 §9.3) and DELETE of a collection (§9.6.1): recursive, going on past
//! failures, with a 207 naming each member that could not be removed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::lock::Depth;
use super::multistatus::Multistatus;
use super::{Ctx, DepthHeader, LOCKS, depth, locking, xml_response};
use crate::files::at::{FsError, Kind, WalkLimits};
use crate::http::response::{Response, StatusCode};
use crate::serve::errors::{fs_error, fs_status};
use crate::serve::listing::files_url;

/// How deep a recursive remove or copy goes, and how many entries it handles.
pub(super) const TREE_LIMITS: WalkLimits = WalkLimits {
    max_depth: 64,
    max_entries: 10_000_000,
};

/// `MKCOL`: 201; 405 when something is there; 409 without a parent; 415 with a body.
pub(super) fn mkcol(ctx: &Ctx, body: &mut dyn Read) -> Response {
    let mut probe = [0u8; 1];
    match body.read(&mut probe) {
        Ok(0) => {}
        Ok(_) => {
            return Response::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "MKCOL takes no request body",
            );
        }
        Err(e) => return crate::serve::errors::file_error(e.into()),
    }
    let resource = &ctx.resource;
    if resource.is_root() {
        return exists();
    }
    let leaf = match ctx.root.leaf(&resource.rel) {
        Ok(leaf) => leaf,
        Err(FsError::NotFound | FsError::NotADirectory) => {
            return Response::error(StatusCode::CONFLICT, "parent collection does not exist");
        }
        Err(e) => return fs_error(e),
    };
    if let Err(response) = locking::may_change(ctx, resource, Depth::Zero, true) {
        return response;
    }
    match leaf.dir.mkdir(&leaf.name, 0o755) {
        Ok(()) => {
            let _ = leaf.dir.sync();
            Response::new(StatusCode::CREATED).header("Location", resource.href(true))
        }
        Err(FsError::AlreadyExists) => exists(),
        Err(e) => fs_error(e),
    }
}

fn exists() -> Response {
    Response::error(StatusCode::METHOD_NOT_ALLOWED, "already exists")
        .header("Allow", super::ALLOW_FILES)
}

/// `DELETE` of a collection; `None` when the target is not one (the caller deletes the file).
pub(super) fn delete(ctx: &Ctx) -> Option<Response> {
    let resource = &ctx.resource;
    if resource.is_root() {
        return Some(Response::error(
            StatusCode::FORBIDDEN,
            "the root collection cannot be deleted",
        ));
    }
    let leaf = match ctx.root.leaf(&resource.rel) {
        Ok(leaf) => leaf,
        Err(e) => return Some(fs_error(e)),
    };
    let kind = match leaf.dir.lstat(&leaf.name) {
        Ok(meta) => meta.kind,
        Err(e) => return Some(fs_error(e)),
    };
    if kind != Kind::Dir {
        // a file (or a link) is the upload module's, whose delete keeps its preconditions;
        // its locks are checked here all the same
        return locking::may_change(ctx, resource, Depth::Zero, true).err();
    }
    // RFC 4918 §9.6.1: a collection is deleted as if Depth: infinity
    match depth(ctx.head) {
        Ok(None | Some(DepthHeader::Infinity)) => {}
        Ok(Some(_)) => {
            return Some(Response::error(
                StatusCode::BAD_REQUEST,
                "DELETE of a collection takes Depth: infinity",
            ));
        }
        Err(response) => return Some(response),
    }
    if let Err(response) = locking::may_change(ctx, resource, Depth::Infinity, true) {
        return Some(response);
    }
    let report = match leaf.dir.remove_tree(&leaf.name, TREE_LIMITS) {
        Ok(report) => report,
        Err(e) => return Some(fs_error(e)),
    };
    let _ = leaf.dir.sync();
    LOCKS.remove_under(Instant::now(), &resource.key);
    if report.failed.is_empty() {
        return Some(Response::new(StatusCode::NO_CONTENT));
    }
    let failures = report
        .failed
        .iter()
        .map(|f| (f.rel.clone(), fs_status(&f.error)));
    Some(failures_207(
        resource.rel.parent().unwrap_or(Path::new("")),
        failures,
    ))
}

/// A 207 with one `<response>` per member that failed, each named by `base` joined with the
/// name the tree operation reported.
pub(super) fn failures_207(
    base: &Path,
    failures: impl Iterator<Item = (PathBuf, StatusCode)>,
) -> Response {
    let mut ms = Multistatus::begin(Vec::new()).expect("writing to memory");
    for (rel, status) in failures {
        let href = files_url(&base.join(rel));
        ms.status(&href, status, None).expect("writing to memory");
    }
    let body = ms.finish().expect("writing to memory");
    xml_response(StatusCode::MULTI_STATUS, body)
}
