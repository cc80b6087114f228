//! Where a request says it comes from, checked against the two ways another site can act
//! through a user's browser. Both are pure functions of the policy and the head; the access
//! decision (`access.rs`) asks them in its order.
//!
//! - DNS rebinding (`is_misdirected`): a page on `evil.example` whose name is re-pointed at
//!   127.0.0.1, or at any address the victim's browser reaches (a LAN server's 10.x too),
//!   arrives with `Host: evil.example`. So on every bind the host (an absolute-form target's
//!   authority, else `Host`) must be one the server answers to (`answers_to`) or an allowed
//!   host, any port.
//! - Cross-site requests (`is_cross_site`), as Go's `net/http` `CrossOriginProtection`
//!   decides: `Sec-Fetch-Site` first; without it, an `Origin` must match `Host`; a request
//!   with neither is not from a browser.
//!
//! `origin_authority` reads `Origin`; `Host` is read by the parser (`http/host.rs`), which
//! refuses a malformed one with 400 before any check here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Policy;
// the binary (`--allowed-host`) reads names with the parser's own reader
pub use crate::http::host::host_name;
use crate::http::host::ip_literal;
use crate::http::request::RequestHead;

/// Whether the request's `Host` names a site this server must not answer for (DNS
/// rebinding). A request without `Host` (HTTP/1.0) is not from a browser and passes.
pub fn is_misdirected(policy: &Policy, head: &RequestHead) -> bool {
    policy.bind.is_some_and(|bind| {
        head.host()
            .is_some_and(|host| !answers_to(policy, bind, host))
    })
}

/// Go's `CrossOriginProtection.Check` for an unsafe method: `Sec-Fetch-Site` decides when
/// present (`same-origin` or `none` pass); otherwise an `Origin` must match `Host`; a request
/// with neither is not from a (modern) browser and passes.
pub fn is_cross_site(head: &RequestHead) -> bool {
    if let Some(site) = head.headers.get("sec-fetch-site") {
        return !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"));
    }
    let Some(origin) = head.headers.get("origin") else {
        return false;
    };
    let host = head.host().unwrap_or("");
    // `Origin: null` (sandboxed frames, file: pages) and any unparsable origin never match
    origin_authority(origin).is_none_or(|authority| !authority.eq_ignore_ascii_case(host.trim()))
}

/// The `host[:port]` of a serialised origin (RFC 6454 §7: `scheme "://" host [ ":" port ]`),
/// or `None` when `origin` is not of that form.
pub fn origin_authority(origin: &str) -> Option<&str> {
    let (scheme, authority) = origin.trim().split_once("://")?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some(authority)
}

/// Whether this server answers to `host` on its bind. Names the operator allowed always
/// pass. A loopback or wildcard bind answers to `localhost`, `127.0.0.1` and `[::1]`, since
/// 127.0.0.1 reaches it; a wildcard bind answers on every address of the machine, so any IP
/// address passes there; any other bind answers to its own address only. An address cannot
/// be rebound, only a name can be pointed at us by someone else.
fn answers_to(policy: &Policy, bind: IpAddr, host: &str) -> bool {
    let Some(name) = host_name(host) else {
        return false;
    };
    if policy.allowed_hosts.contains(&name) {
        return true;
    }
    // `::ffff:127.0.0.1` is 127.0.0.1 for both the bind and the name
    let bind = bind.to_canonical();
    let reaches_loopback = bind.is_loopback() || bind.is_unspecified();
    match ip_literal(&name).map(|ip| ip.to_canonical()) {
        Some(ip) => {
            ip == bind
                || bind.is_unspecified()
                || (reaches_loopback
                    && (ip == IpAddr::V4(Ipv4Addr::LOCALHOST)
                        || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)))
        }
        None => reaches_loopback && name == "localhost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let cases: &[(&str, Option<&str>)] = &[
            ("http://localhost:4221", Some("localhost:4221")),
            (" https://a.example ", Some("a.example")),
            ("web+x://h", Some("h")),
            ("null", None),
            ("localhost:4221", None),
            ("http://", None),
            ("http://h/", None),
            ("http://u@h", None),
            ("1http://h", None),
            ("://h", None),
        ];
        for (origin, want) in cases {
            assert_eq!(origin_authority(origin), *want, "{origin:?}");
        }
    }
}
