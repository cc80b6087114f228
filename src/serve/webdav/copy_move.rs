//! COPY and MOVE (RFC 4918 §9.8, §9.9). The `Destination` gets exactly the checks of the
//! request's own path (`resource_of_url`: the same host, under `/files/`, the name rules).
//! A MOVE is one `renameat` (instant and atomic) within a file system, a copy then a remove
//! across them; a COPY of a tree is built aside and renamed into place (`files::at::copy`).
//! Dead properties live in extended attributes, which a rename keeps and a copy copies.

use std::time::Instant;

use super::collection::{TREE_LIMITS, failures_207};
use super::lock::Depth;
use super::{Ctx, DepthHeader, LOCKS, Resource, depth, locking, resource_of_url};
use crate::files::TEMP_PREFIX;
use crate::files::at::{CopyOptions, CopyReport, FsError, Kind, Leaf, Replace, copy_xattrs};
use crate::http::response::{Response, StatusCode};
use crate::serve::errors::{fs_error, fs_status};

/// `COPY` (`moving` false) or `MOVE` of the request's resource to its `Destination`: 201
/// when the destination was new, 204 when it replaced something, 207 naming the members that
/// failed, 412 for `Overwrite: F` onto something, 409 without a destination collection.
pub(super) fn copy_or_move(ctx: &Ctx, moving: bool) -> Response {
    match transfer(ctx, moving) {
        Ok(response) | Err(response) => response,
    }
}

/// What the request's fields ask: where to, whether to replace, a collection's members too.
struct Asked {
    dest: Resource,
    overwrite: bool,
    shallow: bool,
}

/// `Destination`, `Overwrite` and `Depth`, each checked, and the two names against each other.
fn asked(ctx: &Ctx, moving: bool) -> Result<Asked, Response> {
    let head = ctx.head;
    let dest = match head.headers.get("destination") {
        None => return Err(Response::error(StatusCode::BAD_REQUEST, "no Destination")),
        Some(url) => resource_of_url(url.trim(), ctx)?,
    };
    let overwrite = match head.headers.get("overwrite").map(str::trim) {
        None | Some("T" | "t") => true,
        Some("F" | "f") => false,
        Some(_) => {
            return Err(Response::error(
                StatusCode::BAD_REQUEST,
                "malformed Overwrite",
            ));
        }
    };
    // RFC 4918 §9.8.3: COPY takes Depth 0 or infinity; §9.9.2: MOVE only infinity
    let shallow = match (moving, depth(head)?) {
        (_, None | Some(DepthHeader::Infinity)) => false,
        (false, Some(DepthHeader::Zero)) => true,
        _ => {
            return Err(Response::error(
                StatusCode::BAD_REQUEST,
                "Depth not allowed here",
            ));
        }
    };
    let src = &ctx.resource;
    if src.is_root() || dest.is_root() {
        return Err(Response::error(
            StatusCode::FORBIDDEN,
            "the root collection stays",
        ));
    }
    if src.key == dest.key || dest.key.starts_with(&format!("{}/", src.key)) {
        return Err(Response::error(
            StatusCode::FORBIDDEN,
            "destination is the source or inside it",
        ));
    }
    Ok(Asked {
        dest,
        overwrite,
        shallow,
    })
}

fn transfer(ctx: &Ctx, moving: bool) -> Result<Response, Response> {
    let Asked {
        dest,
        overwrite,
        shallow,
    } = asked(ctx, moving)?;
    let src = &ctx.resource;
    // a MOVE moves a link as itself; a COPY copies what it points to (inside the root)
    let from = if moving {
        ctx.root.leaf(&src.rel)
    } else {
        ctx.root.leaf_through(&src.rel)
    }
    .map_err(fs_error)?;
    let kind = from.dir.lstat(&from.name).map_err(fs_error)?.kind;
    if kind == Kind::Other {
        return Err(Response::error(StatusCode::NOT_FOUND, "not found"));
    }
    let to = match ctx.root.leaf(&dest.rel) {
        Ok(to) => to,
        Err(FsError::NotFound | FsError::NotADirectory) => {
            return Err(Response::error(
                StatusCode::CONFLICT,
                "destination collection does not exist",
            ));
        }
        Err(e) => return Err(fs_error(e)),
    };
    let existing = match to.dir.lstat(&to.name) {
        Ok(meta) => Some(meta.kind),
        Err(FsError::NotFound) => None,
        Err(e) => return Err(fs_error(e)),
    };
    if existing.is_some() && !overwrite {
        return Err(Response::error(
            StatusCode::PRECONDITION_FAILED,
            "destination exists and Overwrite is F",
        ));
    }
    if moving {
        locking::may_change(ctx, src, Depth::Infinity, true)?;
    }
    locking::may_change(ctx, &dest, Depth::Infinity, true)?;
    // a directory replaces only an empty one, and nothing replaces a directory by rename:
    // RFC 4918 §9.8.4 / §9.9.3 delete the destination first
    if existing.is_some_and(|k| k == Kind::Dir || kind == Kind::Dir) {
        let report = to
            .dir
            .remove_tree(&to.name, TREE_LIMITS)
            .map_err(fs_error)?;
        if !report.failed.is_empty() {
            let failures = report
                .failed
                .iter()
                .map(|f| (f.rel.clone(), fs_status(&f.error)));
            return Err(failures_207(
                dest.rel.parent().unwrap_or("".as_ref()),
                failures,
            ));
        }
        LOCKS.remove_under(Instant::now(), &dest.key);
    }
    let replace = if overwrite {
        Replace::Allow
    } else {
        Replace::Refuse
    };
    let failed = if moving {
        move_entry(&from, &to, replace)?
    } else {
        copy_entry(&from, &to, kind, shallow, replace)?
    };
    if moving {
        LOCKS.remove_under(Instant::now(), &src.key);
    }
    if !failed.is_empty() {
        return Ok(failures_207(&dest.rel, failed.into_iter()));
    }
    let status = if existing.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    let mut response = Response::new(status);
    if status == StatusCode::CREATED {
        response = response.header("Location", dest.href(kind == Kind::Dir));
    }
    Ok(response)
}

type Failed = Vec<(std::path::PathBuf, StatusCode)>;

fn options(replace: Replace) -> CopyOptions {
    CopyOptions {
        replace,
        ..CopyOptions::new(TEMP_PREFIX)
    }
}

fn refused(e: FsError) -> Response {
    match e {
        FsError::AlreadyExists => Response::error(
            StatusCode::PRECONDITION_FAILED,
            "destination exists and Overwrite is F",
        ),
        e => fs_error(e),
    }
}

/// A rename; across file systems, a copy of the tree and then the removal of the source.
fn move_entry(from: &Leaf, to: &Leaf, replace: Replace) -> Result<Failed, Response> {
    match from.dir.rename(&from.name, &to.dir, &to.name, replace) {
        Ok(()) => {
            let _ = to.dir.sync();
            let _ = from.dir.sync();
            Ok(Vec::new())
        }
        Err(FsError::CrossDevice) => {
            let report = copy_tree(from, to, replace)?;
            if !report.failed.is_empty() {
                // the source stays whole where its copy is not
                return Ok(failures(report.failed));
            }
            let removed = from
                .dir
                .remove_tree(&from.name, TREE_LIMITS)
                .map_err(fs_error)?;
            Ok(failures(removed.failed))
        }
        Err(e) => Err(refused(e)),
    }
}

fn copy_entry(
    from: &Leaf,
    to: &Leaf,
    kind: Kind,
    shallow: bool,
    replace: Replace,
) -> Result<Failed, Response> {
    if kind == Kind::Dir && shallow {
        // RFC 4918 §9.8.3: the collection and its properties, not its members
        to.dir.mkdir(&to.name, 0o755).map_err(refused)?;
        let source = from.dir.open_subdir(&from.name).map_err(fs_error)?;
        let dest = to.dir.open_subdir(&to.name).map_err(fs_error)?;
        copy_xattrs(&source, &dest).map_err(fs_error)?;
        let _ = to.dir.sync();
        return Ok(Vec::new());
    }
    Ok(failures(copy_tree(from, to, replace)?.failed))
}

/// `from` and all below it copied to `to`, built aside and renamed into place.
fn copy_tree(from: &Leaf, to: &Leaf, replace: Replace) -> Result<CopyReport, Response> {
    from.dir
        .copy_tree(
            &from.name,
            &to.dir,
            &to.name,
            &options(replace),
            TREE_LIMITS,
        )
        .map_err(refused)
}

fn failures(failed: Vec<crate::files::at::Failure>) -> Failed {
    failed
        .into_iter()
        .map(|f| (f.rel, fs_status(&f.error)))
        .collect()
}
