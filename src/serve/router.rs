//! First `access` decides whether the request may go ahead at all (a refusal is answered by
//! `errors`); then one `match` on (path, method): known paths with the wrong method get 405
//! and `Allow`, methods this server does not implement get 501, everything else 404.

use std::io::{self, Read};
use std::net::IpAddr;
use std::time::Instant;

use crate::config::Limits;
use crate::files::FileRoot;
use crate::http::request::{Method, RequestHead};
use crate::http::response::{Response, StatusCode};
use crate::security::access::{self, Credentials, Grant, Policy};
use crate::security::auth::Accounts;
use crate::serve::resumable::create::{Creator, create, is_creation};
use crate::serve::resumable::{UPLOADS_PREFIX, resource::upload_resource};
use crate::serve::search::SearchLimits;
use crate::serve::{errors, get, is_retrieval, put, resumable, routes, webdav};

const RETRIEVALS: &str = "GET, HEAD";
const FILES: &str = "GET, HEAD, POST, PUT, DELETE";

/// A request's body as the router reads it, and the one thing besides reading that a route
/// may do with the connection: send an interim (1xx) head before the body is read. The
/// connection writes any `100 Continue` the client waits for first.
pub trait RequestBody: Read {
    fn send_interim(&mut self, head: &[u8]) -> io::Result<()>;
}

/// No body, no connection: nothing to send.
impl RequestBody for io::Empty {
    fn send_interim(&mut self, _head: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// The inputs of the access decision besides the request itself: the rules, the accounts,
/// the client's address.
pub struct AccessInputs<'a> {
    pub policy: &'a Policy,
    pub accounts: Option<&'a Accounts>,
    pub peer: IpAddr,
    /// Whether the client has left or the server is stopping: long work for this request
    /// (a whole file's digest) may stop.
    pub client_gone: &'a dyn Fn() -> bool,
}

/// Answers one request. `body` yields exactly the request's body (empty when it has none);
/// a handler that refuses the request leaves it unread and the connection decides what then.
pub fn route(
    head: &RequestHead,
    body: &mut dyn RequestBody,
    files: Option<&FileRoot>,
    inputs: &AccessInputs,
    limits: &Limits,
) -> Response {
    let credentials = match inputs.accounts {
        Some(accounts) => accounts.authenticate(
            head.headers.get("authorization"),
            inputs.peer,
            Instant::now(),
        ),
        None => Credentials::Missing,
    };
    let grant = match access::decide(inputs.policy, head, &credentials) {
        Ok(grant) => grant,
        Err(refusal) => return errors::refusal(&refusal, &inputs.policy.hints),
    };
    let path = head.path();
    // WebDAV's methods (and OPTIONS) on /files/ and OPTIONS on / (issue #16)
    if webdav::is_webdav_method(&head.method) {
        match (path, path.strip_prefix("/files/"), files) {
            ("/", _, _) if head.method == Method::Options => return webdav::options_root(),
            // the server as a whole: what / offers, and the upload limits when it takes files
            ("*", _, _) => {
                let response = webdav::options_root();
                return match files {
                    Some(_) => resumable::announce(response),
                    None => response,
                };
            }
            (_, Some(_), None) => return errors::no_directory(&inputs.policy.hints),
            (_, Some(name), Some(root)) => {
                let response = webdav::handle(root, name, head, body, &grant, limits);
                // the resumable-upload draft asks OPTIONS of an upload target for its limits
                return match head.method {
                    Method::Options => resumable::announce(response),
                    _ => response,
                };
            }
            _ => {}
        }
    }
    if let Method::Other(_) = head.method {
        return Response::error(StatusCode::NOT_IMPLEMENTED, "method not implemented");
    }
    // the small routes only answer retrievals; OPTIONS, safe as it is, gets 405 there
    let retrieval = is_retrieval(&head.method);
    match (path, &head.method) {
        ("/", _) if retrieval => routes::index(),
        ("/user-agent", _) if retrieval => routes::user_agent(head),
        ("/" | "/user-agent", _) => method_not_allowed(RETRIEVALS),
        _ => match (path.strip_prefix("/echo/"), path.strip_prefix("/files/")) {
            (Some(text), _) if retrieval => routes::echo(text),
            (Some(_), _) => method_not_allowed(RETRIEVALS),
            (_, Some(name)) => match files {
                None => errors::no_directory(&inputs.policy.hints),
                Some(root) => files_route(root, name, head, body, &grant, inputs, limits),
            },
            _ if path.starts_with(UPLOADS_PREFIX) => match files {
                Some(root) => {
                    let id = &path[UPLOADS_PREFIX.len()..];
                    upload_resource(root, id, head, body, &grant)
                }
                None => Response::error(StatusCode::NOT_FOUND, "not found"),
            },
            _ => Response::error(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// `/files/{name}` with a served directory: downloads and listings, uploads (plain or the
/// creation of a resumable one), deletes.
fn files_route(
    root: &FileRoot,
    name: &str,
    head: &RequestHead,
    body: &mut dyn RequestBody,
    grant: &Grant,
    inputs: &AccessInputs,
    limits: &Limits,
) -> Response {
    match &head.method {
        method if is_retrieval(method) => {
            // the listing page offers uploads and deletes only to a client that may make them
            let search = SearchLimits {
                max_results: limits.max_search_results,
                time_limit: limits.search_time_limit,
            };
            get::get_file(
                root,
                name,
                head,
                grant.may_write,
                search,
                inputs.client_gone,
            )
            .header(
                "Cross-Origin-Resource-Policy",
                access::resource_policy(inputs.policy),
            )
        }
        Method::Post | Method::Put => webdav::refuse_locked_write(root, name, head, grant)
            .unwrap_or_else(|| upload(root, name, head, body, grant, inputs)),
        Method::Delete => webdav::delete(root, name, head, grant),
        _ => method_not_allowed(FILES),
    }
}

/// `PUT`/`POST`: a plain upload, or one that creates a resumable upload (`Upload-Complete`).
fn upload(
    root: &FileRoot,
    name: &str,
    head: &RequestHead,
    body: &mut dyn RequestBody,
    grant: &Grant,
    inputs: &AccessInputs,
) -> Response {
    if !is_creation(head) {
        return put::put_file(root, name, head, body);
    }
    let creator = Creator {
        user: grant.user.as_deref(),
        peer: inputs.peer,
    };
    let plain = |body: &mut dyn RequestBody| -> Response { put::put_file(root, name, head, body) };
    create(root, name, head, body, &creator, &plain)
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed").header("Allow", allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Parsed, parse_head};

    fn answer(method: &str, target: &str) -> (u16, Option<String>) {
        let raw =
            format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ua/1\r\n\r\n");
        let Ok(Parsed::Complete((head, _))) = parse_head(raw.as_bytes(), &Limits::default()) else {
            panic!("{raw:?} did not parse");
        };
        let inputs = AccessInputs {
            policy: &Policy {
                bind: Some(IpAddr::from([127, 0, 0, 1])),
                ..Policy::default()
            },
            accounts: None,
            peer: IpAddr::from([127, 0, 0, 1]),
            client_gone: &|| false,
        };
        let response = route(
            &head,
            &mut std::io::empty(),
            None,
            &inputs,
            &Limits::default(),
        );
        (
            response.status.code(),
            response.header_value("allow").map(str::to_owned),
        )
    }

    #[test]
    fn routes() {
        let cases: &[(&str, &str, u16, Option<&str>)] = &[
            ("GET", "/", 200, None),
            ("HEAD", "/", 200, None),
            ("GET", "/?x=1", 200, None),
            ("GET", "/echo/abc", 200, None),
            ("GET", "/echo/", 200, None),
            ("GET", "/echo", 404, None),
            ("GET", "/user-agent", 200, None),
            ("GET", "/user-agent/x", 404, None),
            ("GET", "/nope", 404, None),
            ("GET", "/files/a", 404, None),
            ("POST", "/", 405, Some(RETRIEVALS)),
            ("DELETE", "/echo/abc", 405, Some(RETRIEVALS)),
            ("PUT", "/user-agent", 405, Some(RETRIEVALS)),
            ("BREW", "/", 501, None),
            ("BREW", "/nope", 501, None),
            ("POST", "/nope", 404, None),
            (
                "HEAD",
                "/uploads/00000000000000000000000000000000",
                404,
                None,
            ),
            ("PATCH", "/uploads/x", 404, None),
        ];
        for (method, target, status, allow) in cases {
            assert_eq!(
                answer(method, target),
                (*status, allow.map(str::to_owned)),
                "{method} {target}"
            );
        }
    }
}
