//! The exercise's small routes: `/`, `/echo/{s}` and `/user-agent`. Each is a head in and a
//! `Response` out; the router picks them, and the connection gzips what they mark
//! compressible.

use crate::files::percent_decode;
use crate::http::request::RequestHead;
use crate::http::response::{Response, StatusCode};

/// `GET /`: 200 with an empty body.
pub fn index() -> Response {
    Response::new(StatusCode::OK)
}

/// `GET /echo/{s}`: `s`, percent-decoded, as `text/plain`.
pub fn echo(encoded: &str) -> Response {
    match percent_decode(encoded) {
        // the body is whatever the URL said, markup included: no browser may sniff it as HTML
        Some(text) => compressible(
            Response::text(StatusCode::OK, text).header("X-Content-Type-Options", "nosniff"),
        ),
        None => Response::error(StatusCode::BAD_REQUEST, "invalid percent-encoding"),
    }
}

/// `GET /user-agent`: the `User-Agent` value (empty when there is none).
pub fn user_agent(head: &RequestHead) -> Response {
    let agent = head.headers.get("user-agent").unwrap_or("");
    // it differs per client: no cache may hand one client's answer to another
    compressible(Response::text(StatusCode::OK, agent).header("Cache-Control", "no-store"))
}

fn compressible(mut response: Response) -> Response {
    response.compressible = true;
    response
}
