//! LOCK and UNLOCK (RFC 4918 §9.10, §9.11), and what every changing method asks before it
//! changes anything: does the `If` header hold (412 if not), and does the request carry a
//! token for each lock on what it changes (423 if not). The lock table lives in memory, one
//! for the process: locks end with it.

use std::sync::LazyLock;
use std::time::Instant;

use super::if_header::{EntityTag, IfHeader, IfState, parse_coded_url, parse_if};
use super::lock::{Depth, LockError, LockLimits, LockTable, NewLock, parse_timeout};
use super::multistatus::{error_body, lock_body};
use super::xml::{XmlLimits, parse_lockinfo};
use super::{Ctx, DepthHeader, Resource, depth, resource_of_url, xml_response};
use crate::files::TEMP_PREFIX;
use crate::files::at::{FsError, Kind, Meta, Replace, Root};
use crate::http::response::{Response, StatusCode};
use crate::serve::errors::fs_error;

/// The process's locks.
pub static LOCKS: LazyLock<LockTable> = LazyLock::new(|| LockTable::new(LockLimits::default()));

/// The strong `ETag` a GET of this file sends (`conditional::Validators`): size, mtime in
/// nanoseconds and inode, in hex.
pub(super) fn etag_of(meta: &Meta) -> String {
    let nanos = meta
        .modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}-{:x}\"", meta.len, nanos, meta.ino)
}

/// The href of a lock root or any resource named by its key: `/` after a collection.
pub(super) fn href_of_key(root: &Root, key: &str) -> String {
    let resource = Resource {
        rel: key.into(),
        key: key.to_owned(),
    };
    let collection = root.stat(&resource.rel).is_ok_and(|m| m.kind == Kind::Dir);
    resource.href(collection)
}

fn parsed_if(ctx: &Ctx) -> Result<Option<IfHeader>, Response> {
    match ctx.head.headers.get("if") {
        None => Ok(None),
        Some(value) => parse_if(value.as_bytes())
            .map(Some)
            .map_err(|e| Response::error(e.status(), e)),
    }
}

struct State<'a> {
    ctx: &'a Ctx<'a>,
    now: Instant,
}

impl IfState for State<'_> {
    type Resource = Resource;

    fn resource(&self, tag: &str) -> Option<Resource> {
        resource_of_url(tag, self.ctx).ok()
    }

    fn etag(&self, resource: &Resource) -> Option<EntityTag> {
        let meta = self.ctx.root.stat(&resource.rel).ok()?;
        (meta.kind == Kind::File)
            .then(|| EntityTag::parse(&etag_of(&meta)))
            .flatten()
    }

    fn has_lock(&self, resource: &Resource, token: &str) -> bool {
        LOCKS.has_lock(self.now, &resource.key, token)
    }
}

/// RFC 4918 §10.4: a request whose `If` header does not hold is answered 412.
pub(super) fn if_header_holds(ctx: &Ctx) -> Result<(), Response> {
    let Some(header) = parsed_if(ctx)? else {
        return Ok(());
    };
    let state = State {
        ctx,
        now: Instant::now(),
    };
    if header.evaluate(&ctx.resource, &state) {
        Ok(())
    } else {
        Err(Response::error(
            StatusCode::PRECONDITION_FAILED,
            "the If header does not hold",
        ))
    }
}

/// May the request change `resource` (to `depth`) and, with `parent_too`, the list of members
/// of its collection (a member created or removed)? 423 naming the lock in the way if not.
pub(super) fn may_change(
    ctx: &Ctx,
    resource: &Resource,
    depth: Depth,
    parent_too: bool,
) -> Result<(), Response> {
    let header = parsed_if(ctx)?;
    let tokens: Vec<&str> = header.iter().flat_map(|h| h.state_tokens()).collect();
    let now = Instant::now();
    let mut checks = vec![(resource.key.as_str(), depth)];
    if parent_too && !resource.is_root() {
        checks.push((resource.parent_key(), Depth::Zero));
    }
    for (key, depth) in checks {
        if let Err(locked) = LOCKS.check(now, key, depth, &tokens, ctx.user) {
            let href = href_of_key(&ctx.root, &locked.root);
            return Err(xml_response(
                StatusCode::LOCKED,
                error_body("lock-token-submitted", &[&href]),
            ));
        }
    }
    Ok(())
}

/// `LOCK`: a new lock from a `lockinfo` body (201 when it created the resource, else 200), or
/// with an empty body the refresh of the lock whose token the `If` header names.
pub(super) fn lock(ctx: &Ctx, body: &[u8]) -> Response {
    let now = Instant::now();
    let depth = match depth(ctx.head) {
        Ok(None | Some(DepthHeader::Infinity)) => Depth::Infinity,
        Ok(Some(DepthHeader::Zero)) => Depth::Zero,
        Ok(Some(DepthHeader::One)) => {
            return Response::error(StatusCode::BAD_REQUEST, "LOCK takes Depth 0 or infinity");
        }
        Err(response) => return response,
    };
    let timeout = parse_timeout(ctx.head.headers.get_all("timeout"));
    let resource = &ctx.resource;
    if body.iter().all(u8::is_ascii_whitespace) {
        let header = match parsed_if(ctx) {
            Ok(header) => header,
            Err(response) => return response,
        };
        let tokens = header.iter().flat_map(|h| h.state_tokens());
        return match LOCKS.refresh(now, &resource.key, tokens, ctx.user, timeout) {
            Ok(lock) => {
                let href = href_of_key(&ctx.root, &lock.root);
                xml_response(StatusCode::OK, lock_body(&lock, now, &href))
            }
            Err(_) => Response::error(StatusCode::PRECONDITION_FAILED, "no such lock to refresh"),
        };
    }
    let info = match parse_lockinfo(body, XmlLimits::default()) {
        Ok(info) => info,
        Err(e) => return Response::error(e.status(), e),
    };
    let exists = match ctx.root.stat(&resource.rel) {
        Ok(_) => true,
        Err(FsError::NotFound) => false,
        Err(e) => return fs_error(e),
    };
    if !exists && let Err(response) = may_change(ctx, resource, Depth::Zero, true) {
        return response;
    }
    let new = NewLock {
        root: resource.key.clone(),
        scope: info.scope,
        depth,
        owner: info.owner.map(|o| o.xml),
        principal: ctx.user.map(str::to_owned),
        timeout,
    };
    let lock = match LOCKS.lock(now, new) {
        Ok(lock) => lock,
        Err(e) => return lock_error(ctx, e),
    };
    let status = if exists {
        StatusCode::OK
    } else if let Err(e) = create_empty(&ctx.root, resource) {
        let _ = LOCKS.unlock(now, &resource.key, &lock.token, ctx.user);
        return match e {
            FsError::NotFound | FsError::NotADirectory => {
                Response::error(StatusCode::CONFLICT, "parent collection does not exist")
            }
            e => fs_error(e),
        };
    } else {
        StatusCode::CREATED
    };
    let href = href_of_key(&ctx.root, &lock.root);
    xml_response(status, lock_body(&lock, now, &href))
        .header("Lock-Token", format!("<{}>", lock.token))
}

/// RFC 4918 §9.10.4: a LOCK of an unmapped URL creates an empty resource there.
fn create_empty(root: &Root, resource: &Resource) -> Result<(), FsError> {
    let leaf = root.leaf(&resource.rel)?;
    let temp = leaf.dir.create_temp(TEMP_PREFIX)?;
    match temp.commit(&leaf.dir, &leaf.name, Replace::Refuse) {
        // made meanwhile by someone else: it exists now, which is what was asked
        Ok(()) | Err(FsError::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}

fn lock_error(ctx: &Ctx, e: LockError) -> Response {
    match e {
        LockError::Conflict { root } => {
            let href = href_of_key(&ctx.root, &root);
            xml_response(
                StatusCode::LOCKED,
                error_body("no-conflicting-lock", &[&href]),
            )
        }
        LockError::NoSuchLock => Response::error(StatusCode::PRECONDITION_FAILED, e),
        LockError::NotOwner => Response::error(StatusCode::FORBIDDEN, e),
        LockError::TableFull => {
            Response::error(StatusCode::SERVICE_UNAVAILABLE, e).header("Retry-After", "1")
        }
        LockError::OwnerTooLarge => Response::error(StatusCode::BAD_REQUEST, e),
        LockError::NoRandomness => {
            log::error!("lock token: {e}");
            Response::error(StatusCode::INTERNAL_SERVER_ERROR, e)
        }
    }
}

/// `UNLOCK` with `Lock-Token: <token>`: 204; 409 when no such lock covers the resource.
pub(super) fn unlock(ctx: &Ctx) -> Response {
    let Some(token) = ctx
        .head
        .headers
        .get("lock-token")
        .and_then(|v| parse_coded_url(v.as_bytes()))
    else {
        return Response::error(StatusCode::BAD_REQUEST, "UNLOCK needs a Lock-Token");
    };
    match LOCKS.unlock(Instant::now(), &ctx.resource.key, token, ctx.user) {
        Ok(_) => Response::new(StatusCode::NO_CONTENT),
        Err(LockError::NoSuchLock) => xml_response(
            StatusCode::CONFLICT,
            error_body("lock-token-matches-request-uri", &[]),
        ),
        Err(e) => lock_error(ctx, e),
    }
}
