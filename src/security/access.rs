//! Who may do what: a pure function of the policy, the request head and the outcome of
//! authentication, answering "allow" or a refusal with its status. No I/O, no clock, no
//! accounts: `auth.rs` verifies credentials, the router asks here before any handler runs, and
//! handlers never learn that accounts exist.
//!
//! The checks, in order (the first that refuses answers):
//! 1. DNS rebinding: on a loopback bind, the `Host` must name this machine (`localhost`,
//!    `127.0.0.1`, `[::1]`, the bind address) or a `--allowed-host`, any port; on a wildcard
//!    bind (`0.0.0.0`, `::`), which 127.0.0.1 reaches as well, any IP address also passes
//!    (an address cannot be rebound, only a name). Otherwise
//!    **421 Misdirected Request** (RFC 9110 §15.5.20: this server is not authoritative for
//!    that name). 421 rather than 403 because nothing about the client is wrong, only the name
//!    it used; and a page that rebinds `evil.example` to 127.0.0.1 can read neither answer.
//! 2. `--read-only`: every write is 405 with `Allow: GET, HEAD`.
//! 3. Cross-site writes get 403, as Go's `net/http` `CrossOriginProtection` decides:
//!    `Sec-Fetch-Site` first (`same-origin` and `none` pass, anything else is refused); without
//!    it, an `Origin` whose host and port differ from `Host` is refused; a request with
//!    neither header is not from a browser (curl, scripts) and passes.
//! 4. Accounts: throttled credentials get 429; credentials nobody had time to check (every
//!    password check slot busy) get 503; wrong credentials get 401; with `--auth-file`
//!    writes (and, with `--private`, reads) need a user. Without accounts, writes are
//!    anonymous on a loopback bind, and refused with 403 elsewhere unless
//!    `--allow-anonymous-writes`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

pub use crate::config::Policy;
use crate::http::request::RequestHead;

/// What authentication made of the request's `Authorization` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` field (or no accounts to check it against).
    Missing,
    /// A user whose password matched.
    Valid(Arc<str>),
    /// Malformed, unknown user or wrong password.
    Invalid,
    /// Too many recent failures from this client address; try again after this long.
    Throttled(Duration),
    /// Not checked: as many password checks as the server allows were already running.
    Overloaded,
}

/// A request that may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The authenticated user, if any.
    pub user: Option<Arc<str>>,
    /// Whether this client's writes would be allowed (for the listing page's upload form).
    pub may_write: bool,
}

/// Why a request is refused; each maps to one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 421: the `Host` names a site this loopback server does not serve (DNS rebinding).
    MisdirectedHost,
    /// 405 + `Allow: GET, HEAD`: the server is read-only.
    ReadOnly,
    /// 403: a browser request made on behalf of another site.
    CrossSite,
    /// 403: anonymous writes on a non-loopback bind without accounts.
    AnonymousWrite,
    /// 401 + challenge: credentials missing or wrong.
    Unauthenticated { realm: String },
    /// 429 + `Retry-After`: too many failed attempts from this address.
    Throttled(Duration),
    /// 503 + `Retry-After: 1`: every password check slot is busy. 503 rather than 429: the
    /// server is short of capacity, whoever the client is (RFC 9110 §15.6.4).
    Overloaded,
}

/// Decides whether the request may go ahead. `credentials` is what `auth` made of the
/// request's `Authorization` field (`Missing` when there are no accounts).
pub fn decide(
    policy: &Policy,
    head: &RequestHead,
    credentials: &Credentials,
) -> Result<Grant, Refusal> {
    let write = !head.method.is_safe();
    let host = head.headers.get("host");
    if checks_host(policy) && host.is_some_and(|host| !is_local_host(policy, host)) {
        return Err(Refusal::MisdirectedHost);
    }
    if write && policy.read_only {
        return Err(Refusal::ReadOnly);
    }
    if write && is_cross_site(head) {
        return Err(Refusal::CrossSite);
    }
    let user = match credentials {
        Credentials::Throttled(wait) => return Err(Refusal::Throttled(*wait)),
        Credentials::Overloaded => return Err(Refusal::Overloaded),
        Credentials::Invalid => return Err(unauthenticated(policy)),
        Credentials::Valid(user) => Some(user.clone()),
        Credentials::Missing => None,
    };
    let may_write = may_write(policy, user.is_some());
    if user.is_none() && policy.accounts && (write || policy.private) {
        return Err(unauthenticated(policy));
    }
    if write && !may_write {
        return Err(Refusal::AnonymousWrite);
    }
    Ok(Grant { user, may_write })
}

/// Whether a client (authenticated or not) may write under this policy, cross-site checks
/// aside: what the listing page needs to know to offer uploads.
pub fn may_write(policy: &Policy, authenticated: bool) -> bool {
    if policy.read_only {
        return false;
    }
    if policy.accounts {
        return authenticated;
    }
    policy.allow_anonymous_writes || policy.bind.is_some_and(|ip| ip.is_loopback())
}

/// One sentence for the start-up log: who may read, who may write, whether TLS is on.
pub fn describe(policy: &Policy, tls: bool) -> String {
    let reads = if policy.private {
        "authenticated users"
    } else {
        "anyone"
    };
    let writes = if policy.read_only {
        "nobody (--read-only)"
    } else if policy.accounts {
        "authenticated users"
    } else if may_write(policy, false) {
        "anyone"
    } else {
        "nobody (non-loopback bind without --auth-file)"
    };
    let tls = if tls { "on" } else { "off" };
    format!("access: reads by {reads}, writes by {writes}, TLS {tls}")
}

/// Whether passwords would cross the network unencrypted: accounts, no TLS, and a bind
/// address other machines can reach. Worth a warning at start-up.
pub fn exposes_passwords(policy: &Policy, tls: bool) -> bool {
    policy.accounts && !tls && !policy.bind.is_some_and(|ip| ip.is_loopback())
}

fn unauthenticated(policy: &Policy) -> Refusal {
    Refusal::Unauthenticated {
        realm: policy.realm.clone(),
    }
}

/// Go's `CrossOriginProtection.Check` for an unsafe method: `Sec-Fetch-Site` decides when
/// present (`same-origin` or `none` pass); otherwise an `Origin` must match `Host`; a request
/// with neither is not from a (modern) browser and passes.
fn is_cross_site(head: &RequestHead) -> bool {
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

/// Whether `host` names this machine as a loopback server may be named.
/// DNS rebinding reaches whatever answers on 127.0.0.1: a loopback bind, and a wildcard one
/// (`0.0.0.0`, `::`) too. A server bound to one other address is reached by that address.
fn checks_host(policy: &Policy) -> bool {
    policy
        .bind
        .is_some_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

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
    use crate::config::Limits;
    use crate::http::parse::{Parsed, parse_head};

    fn head(method: &str, fields: &[&str]) -> RequestHead {
        let mut raw = format!("{method} /files/a HTTP/1.1\r\n");
        for field in fields {
            raw.push_str(field);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        match parse_head(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete((head, _))) => head,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn loopback() -> Policy {
        Policy {
            bind: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            realm: "files".into(),
            ..Policy::default()
        }
    }

    fn public() -> Policy {
        Policy {
            bind: Some("192.0.2.7".parse().unwrap()),
            ..loopback()
        }
    }

    fn status(policy: &Policy, method: &str, fields: &[&str], credentials: Credentials) -> u16 {
        match decide(policy, &head(method, fields), &credentials) {
            Ok(_) => 200,
            Err(refusal) => crate::serve::errors::refusal_status(&refusal).code(),
        }
    }

    #[test]
    fn cross_site_writes() {
        let p = loopback();
        let h = "Host: localhost:4221";
        let cases: &[(&str, &[&str], u16)] = &[
            ("POST", &[h], 200),
            ("POST", &[h, "Sec-Fetch-Site: same-origin"], 200),
            ("POST", &[h, "Sec-Fetch-Site: none"], 200),
            ("POST", &[h, "Sec-Fetch-Site: same-site"], 403),
            ("POST", &[h, "Sec-Fetch-Site: cross-site"], 403),
            ("DELETE", &[h, "Sec-Fetch-Site: cross-site"], 403),
            ("GET", &[h, "Sec-Fetch-Site: cross-site"], 200),
            // Sec-Fetch-Site decides even when Origin disagrees (Go does the same)
            (
                "PUT",
                &[h, "Sec-Fetch-Site: same-origin", "Origin: http://x"],
                200,
            ),
            ("PUT", &[h, "Origin: http://localhost:4221"], 200),
            ("PUT", &[h, "Origin: https://LOCALHOST:4221"], 200),
            ("PUT", &[h, "Origin: http://localhost:4222"], 403),
            ("PUT", &[h, "Origin: http://localhost"], 403),
            ("PUT", &[h, "Origin: http://evil.example"], 403),
            ("PUT", &[h, "Origin: null"], 403),
            ("PUT", &[h, "Origin: localhost:4221"], 403),
            ("HEAD", &[h, "Origin: http://evil.example"], 200),
        ];
        for (method, fields, expected) in cases {
            assert_eq!(
                status(&p, method, fields, Credentials::Missing),
                *expected,
                "{method} {fields:?}"
            );
        }
    }

    #[test]
    fn rebinding() {
        let mut p = loopback();
        p.allowed_hosts = vec!["files.lan".into()];
        let cases: &[(&str, u16)] = &[
            ("Host: localhost", 200),
            ("Host: LocalHost:80", 200),
            ("Host: 127.0.0.1:4221", 200),
            ("Host: [::1]:4221", 200),
            ("Host: files.lan:9", 200),
            ("Host: evil.example", 421),
            ("Host: evil.example:4221", 421),
            ("Host: 127.0.0.2", 421),
            ("Host: localhost.evil.example", 421),
            ("Host: localhost:x", 421),
            ("Host: [::1", 421),
            ("Host: ", 421),
        ];
        for (host, expected) in cases {
            assert_eq!(
                status(&p, "GET", &[host], Credentials::Missing),
                *expected,
                "{host}"
            );
        }
        // a wildcard bind is reachable on 127.0.0.1 too: names need --allowed-host, while
        // any address (it cannot be rebound) and localhost pass
        for bind in ["0.0.0.0", "::"] {
            let wildcard = Policy {
                bind: Some(bind.parse().unwrap()),
                allowed_hosts: vec!["files.lan".into()],
                ..loopback()
            };
            for (host, expected) in [
                ("Host: evil.example", 421),
                ("Host: files.lan:4221", 200),
                ("Host: localhost:4221", 200),
                ("Host: 192.0.2.7:4221", 200),
                ("Host: [2001:db8::7]", 200),
                ("Host: 192.0.2.7.evil.example", 421),
            ] {
                assert_eq!(
                    status(&wildcard, "GET", &[host], Credentials::Missing),
                    expected,
                    "{bind} {host}"
                );
            }
        }
        // a bind to one other address is reached by that address: no such check
        assert_eq!(
            status(
                &public(),
                "GET",
                &["Host: evil.example"],
                Credentials::Missing
            ),
            200
        );
        let v6 = Policy {
            bind: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ..loopback()
        };
        assert_eq!(
            status(&v6, "GET", &["Host: [0::1]:1"], Credentials::Missing),
            200
        );
    }

    #[test]
    fn who_may_write() {
        let valid = || Credentials::Valid("alice".into());
        let accounts = Policy {
            accounts: true,
            ..public()
        };
        let private = Policy {
            private: true,
            ..accounts.clone()
        };
        let read_only = Policy {
            read_only: true,
            ..loopback()
        };
        let open = Policy {
            allow_anonymous_writes: true,
            ..public()
        };
        let h = "Host: localhost";
        let cases: &[(&str, &Policy, &str, Credentials, u16)] = &[
            (
                "loopback anonymous write",
                &loopback(),
                "POST",
                Credentials::Missing,
                200,
            ),
            (
                "public anonymous write",
                &public(),
                "POST",
                Credentials::Missing,
                403,
            ),
            (
                "public anonymous read",
                &public(),
                "GET",
                Credentials::Missing,
                200,
            ),
            (
                "opened anonymous write",
                &open,
                "DELETE",
                Credentials::Missing,
                200,
            ),
            (
                "accounts anonymous write",
                &accounts,
                "PUT",
                Credentials::Missing,
                401,
            ),
            (
                "accounts anonymous read",
                &accounts,
                "GET",
                Credentials::Missing,
                200,
            ),
            ("accounts user write", &accounts, "PUT", valid(), 200),
            (
                "accounts bad password",
                &accounts,
                "GET",
                Credentials::Invalid,
                401,
            ),
            (
                "accounts throttled",
                &accounts,
                "PUT",
                Credentials::Throttled(Duration::from_secs(5)),
                429,
            ),
            (
                "accounts overloaded",
                &accounts,
                "GET",
                Credentials::Overloaded,
                503,
            ),
            (
                "private anonymous read",
                &private,
                "GET",
                Credentials::Missing,
                401,
            ),
            ("private user read", &private, "GET", valid(), 200),
            (
                "read-only write",
                &read_only,
                "POST",
                Credentials::Missing,
                405,
            ),
            (
                "read-only read",
                &read_only,
                "GET",
                Credentials::Missing,
                200,
            ),
        ];
        for (what, policy, method, credentials, expected) in cases {
            assert_eq!(
                status(policy, method, &[h], credentials.clone()),
                *expected,
                "{what}"
            );
        }
    }

    #[test]
    fn start_up_description_and_warning() {
        let accounts = Policy {
            accounts: true,
            ..public()
        };
        assert!(exposes_passwords(&accounts, false));
        assert!(!exposes_passwords(&accounts, true));
        assert!(!exposes_passwords(&public(), false));
        let on_loopback = Policy {
            accounts: true,
            ..loopback()
        };
        assert!(!exposes_passwords(&on_loopback, false));
        assert_eq!(
            describe(&public(), false),
            "access: reads by anyone, writes by nobody (non-loopback bind without --auth-file), TLS off"
        );
        let read_only = Policy {
            read_only: true,
            ..accounts
        };
        assert_eq!(
            describe(&read_only, true),
            "access: reads by anyone, writes by nobody (--read-only), TLS on"
        );
    }

    #[test]
    fn may_write_for_the_listing() {
        assert!(may_write(&loopback(), false));
        assert!(!may_write(&public(), false));
        let accounts = Policy {
            accounts: true,
            ..loopback()
        };
        assert!(!may_write(&accounts, false));
        assert!(may_write(&accounts, true));
    }
}
