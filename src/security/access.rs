//! Who may do what: a pure function of the policy, the request head and the outcome of
//! authentication, answering "allow" or a refusal with its status. No I/O, no clock, no
//! accounts: `accounts.rs` verifies credentials, the router asks here before any handler runs, and
//! handlers never learn that accounts exist.
//!
//! The checks, in order (the first that refuses answers):
//! 1. DNS rebinding (`origin.rs`), on every bind: the host (an absolute-form target's
//!    authority, else `Host`) must be the bind address or a `--allowed-host`, any port; a
//!    loopback or wildcard bind (`0.0.0.0`, `::`: 127.0.0.1 reaches both) also answers to
//!    `localhost`, `127.0.0.1` and `[::1]`, and a wildcard one to any IP address (an address
//!    cannot be rebound, only a name). A malformed host never gets here: the parser answers
//!    it with 400. Otherwise
//!    **421 Misdirected Request** (RFC 9110 §15.5.20: this server is not authoritative for
//!    that name). 421 rather than 403 because nothing about the client is wrong, only the name
//!    it used; and a page that rebinds `evil.example` to 127.0.0.1 can read neither answer.
//! 2. `--read-only`: every write is 405 with `Allow: GET, HEAD`.
//! 3. Cross-site writes (`origin.rs`) get 403, as Go's `net/http` `CrossOriginProtection` decides:
//!    `Sec-Fetch-Site` first (`same-origin` and `none` pass, anything else is refused); without
//!    it, an `Origin` whose host and port differ from `Host` is refused; a request with
//!    neither header is not from a browser (curl, scripts) and passes.
//! 4. Accounts: throttled credentials get 429; credentials nobody had time to check (every
//!    password check slot busy) get 503; wrong credentials get 401; with `--auth-file`
//!    writes (and, with `--private`, reads) need a user. Without accounts, writes are
//!    anonymous on a loopback bind, and refused with 403 elsewhere unless
//!    `--allow-anonymous-writes`.

use std::sync::Arc;
use std::time::Duration;

pub use crate::config::Policy;
use crate::http::request::{Method, RequestHead};
use crate::security::origin;
// the binary (`--allowed-host`) and the fuzz targets read `Host` and `Origin` through here
pub use crate::security::origin::{host_name, origin_authority};

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

/// Decides whether the request may go ahead. `credentials` is what `Accounts::authenticate`
/// made of the request's `Authorization` field (`Missing` when there are no accounts).
pub fn decide(
    policy: &Policy,
    head: &RequestHead,
    credentials: &Credentials,
) -> Result<Grant, Refusal> {
    let write = !is_read(&head.method);
    if origin::is_misdirected(policy, head) {
        return Err(Refusal::MisdirectedHost);
    }
    if write && policy.read_only {
        return Err(Refusal::ReadOnly);
    }
    if write && origin::is_cross_site(head) {
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

/// The `Cross-Origin-Resource-Policy` of files and listings. `same-origin` by default: a page
/// of another site could otherwise run a served `.js` file as its own script, or tell from
/// an `<img>`'s load or error which files exist; only an operator who means the files to be
/// embedded elsewhere relaxes it.
pub fn resource_policy(policy: &Policy) -> &'static str {
    if policy.allow_embedding {
        "cross-origin"
    } else {
        "same-origin"
    }
}

/// Methods that change nothing: the safe ones, and WebDAV's PROPFIND (RFC 4918 §9.1: safe
/// and idempotent), which a read-only server answers and a cross-site page cannot send
/// without a CORS preflight that this server never grants.
fn is_read(method: &Method) -> bool {
    method.is_safe() || matches!(method, Method::Other(m) if m == "PROPFIND")
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

/// Who may write under a policy, and when nobody, why: for the start-up line, which the
/// binary words (it alone names the flags behind each case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    Anyone,
    AuthenticatedUsers,
    /// The server is read-only.
    NobodyReadOnly,
    /// No accounts, a bind other machines reach, and anonymous writes not allowed there.
    NobodyAnonymousOffLoopback,
}

/// Who may write, cross-site checks aside.
pub fn writers(policy: &Policy) -> Writers {
    if policy.read_only {
        Writers::NobodyReadOnly
    } else if policy.accounts {
        Writers::AuthenticatedUsers
    } else if may_write(policy, false) {
        Writers::Anyone
    } else {
        Writers::NobodyAnonymousOffLoopback
    }
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
            allowed_hosts: vec!["files.lan".into()],
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
        // a bind to one other address answers to that address (and allowed names) only:
        // a rebound name reaches a LAN address as well as a loopback one
        let specific = |bind: &str| Policy {
            bind: Some(bind.parse().unwrap()),
            allowed_hosts: vec!["files.lan".into()],
            ..loopback()
        };
        let cases: &[(&str, &str, u16)] = &[
            ("192.0.2.7", "Host: 192.0.2.7", 200),
            ("192.0.2.7", "Host: 192.0.2.7:4221", 200),
            ("192.0.2.7", "Host: files.lan:4221", 200),
            ("192.0.2.7", "Host: evil.example", 421),
            ("192.0.2.7", "Host: localhost", 421),
            ("192.0.2.7", "Host: 127.0.0.1", 421),
            ("192.0.2.7", "Host: [::1]", 421),
            ("192.0.2.7", "Host: 192.0.2.8", 421),
            ("192.0.2.7", "Host: [::ffff:192.0.2.7]", 200),
            ("::ffff:192.0.2.7", "Host: 192.0.2.7", 200),
            ("::ffff:192.0.2.7", "Host: localhost", 421),
            ("2001:db8::7", "Host: [2001:DB8:0::7]:80", 200),
            ("2001:db8::7", "Host: [2001:db8::8]", 421),
            ("2001:db8::7", "Host: evil.example", 421),
            ("127.0.0.2", "Host: 127.0.0.2:1", 200),
            ("127.0.0.2", "Host: localhost", 200),
            ("127.0.0.2", "Host: 127.0.0.1", 200),
            ("127.0.0.2", "Host: evil.example", 421),
            ("::ffff:127.0.0.1", "Host: localhost", 200),
        ];
        for (bind, host, expected) in cases {
            let got = status(&specific(bind), "GET", &[host], Credentials::Missing);
            assert_eq!(got, *expected, "{bind} {host}");
        }
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
    fn an_absolute_form_authority_is_the_host() {
        let decide_raw = |raw: &str| {
            let raw = format!("{raw}\r\n\r\n");
            let Ok(Parsed::Complete((head, _))) = parse_head(raw.as_bytes(), &Limits::default())
            else {
                panic!("{raw:?}");
            };
            match decide(&loopback(), &head, &Credentials::Missing) {
                Ok(_) => 200,
                Err(refusal) => crate::serve::errors::refusal_status(&refusal).code(),
            }
        };
        let cases = [
            (
                "GET http://evil.example/files/a HTTP/1.1\r\nHost: localhost",
                421,
            ),
            (
                "GET http://localhost:4221/files/a HTTP/1.1\r\nHost: evil.example",
                200,
            ),
            (
                "PUT http://localhost:4221/files/a HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://localhost:4221",
                200,
            ),
            (
                "PUT http://files.lan/files/a HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost",
                403,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(decide_raw(raw), expected, "{raw}");
        }
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
        let h = "Host: files.lan";
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
        // the line's wording, naming flags, is the binary's (`main.rs`)
        assert_eq!(writers(&public()), Writers::NobodyAnonymousOffLoopback);
        let read_only = Policy {
            read_only: true,
            ..accounts.clone()
        };
        assert_eq!(writers(&read_only), Writers::NobodyReadOnly);
        assert_eq!(writers(&accounts), Writers::AuthenticatedUsers);
        assert_eq!(writers(&loopback()), Writers::Anyone);
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
