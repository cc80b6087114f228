//! Requests to responses. The router's one `match` picks a route; each file here does one job:
//!
//! - `router`: the access decision first, then (path, method) to a route; 404, 405, 501.
//! - `routes`: the exercise's `/`, `/echo/{s}` and `/user-agent`.
//! - `get`: a download from `/files/` as numbered steps (resolve, open, representation,
//!   preconditions, range, digest, body), or a directory's listing.
//! - `put`: uploads (`PUT`, `POST`) and `DELETE`.
//! - `conditional`, `range`, `digest`: RFC 9110 §13 validators and preconditions, §14 byte
//!   ranges, RFC 9530 digests.
//! - `listing/`: directory listings as text, JSON or an HTML page.
//! - `compress`, `mime`: content coding, media types.
//! - `slots`: the bound on CPU-heavy work per request (whole-file digests, gzip of large files).
//! - `resumable/`: resumable uploads (IETF draft): creation on `/files/`, `/uploads/{id}`.
//! - `webdav/`: WebDAV class 1 and 2: verb dispatch, PROPFIND/PROPPATCH, collections, COPY/MOVE, locks.
//! - `archive/`: streamed tar and zip writers; `folder`: a folder (or a selection) as one
//!   archive download; `search`: names below a folder; `query`: the folder parameters.
//! - `errors`: the one place where a `FileError` or an access refusal becomes a response.

pub mod archive;
pub mod compress;
mod conditional;
mod digest;
pub mod errors;
mod folder;
mod get;
pub mod listing;
pub mod mime;
mod put;
pub mod query;
mod range;
pub mod resumable;
pub mod router;
mod routes;
mod search;
mod slots;
pub mod webdav;

use crate::http::request::Method;

/// Whether a request retrieves its target: GET or HEAD (RFC 9110 §9.3.1, §9.3.2). Not the
/// same question as `Method::is_safe`, which OPTIONS passes too: only retrievals get the
/// small routes and downloads, and only they turn a matching `If-None-Match` into 304
/// (RFC 9110 §13.1.2: "for GET and HEAD methods ... 304 (Not Modified); for all other request
/// methods ... 412").
fn is_retrieval(method: &Method) -> bool {
    matches!(method, Method::Get | Method::Head)
}
