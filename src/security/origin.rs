//! Where a request says it comes from, checked against the two ways another site can act
//! through a user's browser. Both are pure functions of the policy and the head; the access
//! decision (`access.rs`) asks them in its order.
//!
//! - DNS rebinding (`is_misdirected`): a page on `evil.example` whose name is re-pointed at
//!   127.0.0.1 reaches a loopback server with `Host: evil.example`. So on a loopback or
//!   wildcard bind the `Host` must name this machine (`localhost`, `127.0.0.1`, `[::1]`, the
//!   bind address) or an allowed host, any port; on a wildcard bind any IP address also
//!   passes, since an address cannot be rebound, only a name.
//! - Cross-site requests (`is_cross_site`), as Go's `net/http` `CrossOriginProtection`
//!   decides: `Sec-Fetch-Site` first; without it, an `Origin` must match `Host`; a request
//!   with neither is not from a browser.
//!
//! `host_name` and `origin_authority` read the two fields; the binary checks allowed host
//! names with the first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Policy;
use crate::http::request::RequestHead;

/// Whether the request's `Host` names a site this server must not answer for (DNS
/// rebinding). A request without `Host` (HTTP/1.0) is not from a browser and passes.
pub fn is_misdirected(policy: &Policy, head: &RequestHead) -> bool {
    let host = head.headers.get("host");
    checks_host(policy) && host.is_some_and(|host| !is_local_host(policy, host))
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
    let host = head.headers.get("host").unwrap_or("");
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

/// Splits a `Host` value (RFC 9110 §7.2: `uri-host [ ":" port ]`) into the host, lower-cased
/// and with IPv6 brackets kept, and checks the port is digits. `None` when malformed.
pub fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<Ipv6Addr>().ok()?;
        (&host[..inside.len() + 2], after.strip_prefix(':'))
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() || port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if !name.starts_with('[')
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// Whether the `Host` check applies. DNS rebinding reaches whatever answers on 127.0.0.1: a
/// loopback bind, and a wildcard one (`0.0.0.0`, `::`) too. A server bound to one other
/// address is reached by that address.
fn checks_host(policy: &Policy) -> bool {
    policy
        .bind
        .is_some_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// Whether `host` names this machine as a loopback server may be named.
fn is_local_host(policy: &Policy, host: &str) -> bool {
    let Some(name) = host_name(host) else {
        return false;
    };
    // a wildcard bind answers on every address of the machine, and an address cannot be
    // rebound: only a DNS name can be pointed at us by someone else
    if policy.bind.is_some_and(|ip| ip.is_unspecified()) && is_ip_literal(&name) {
        return true;
    }
    let is_bind = match (
        policy.bind,
        name.strip_prefix('[').and_then(|n| n.strip_suffix(']')),
    ) {
        (Some(IpAddr::V6(bind)), Some(inside)) => inside.parse::<Ipv6Addr>() == Ok(bind),
        (Some(IpAddr::V4(bind)), None) => name.parse::<Ipv4Addr>() == Ok(bind),
        _ => false,
    };
    is_bind
        || matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || policy.allowed_hosts.contains(&name)
}

/// `192.0.2.7` or `[2001:db8::7]`, as `host_name` leaves them.
fn is_ip_literal(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inside) => inside.parse::<Ipv6Addr>().is_ok(),
        None => name.parse::<Ipv4Addr>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("localhost", Some("localhost")),
            (" LocalHost:4221 ", Some("localhost")),
            ("files.lan:", Some("files.lan")),
            ("[::1]:80", Some("[::1]")),
            ("[2001:DB8::7]", Some("[2001:db8::7]")),
            ("192.0.2.7:1", Some("192.0.2.7")),
            ("", None),
            (":80", None),
            ("localhost:x", None),
            ("[::1", None),
            ("[nonsense]", None),
            ("a b", None),
            ("a/b", None),
            ("user@host", None),
        ];
        for (host, want) in cases {
            assert_eq!(host_name(host).as_deref(), *want, "{host:?}");
        }
    }

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
