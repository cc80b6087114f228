//! Fuzzes the `Host` reader (`http/host.rs`, reached through `access`), the `Origin` reader of
//! `security/origin.rs`, the parser's use of both (the `Host` value, an absolute-form
//! target's authority), and `access::decide` on heads made from the input.
//!
//! Invariants:
//! - `host_name` never panics; a name it returns is lower case, has no `@`, whitespace or
//!   `/`, is an IPv6 literal when bracketed, and reading it again (with or without a port
//!   after it) gives the same name; a port over 65535 is refused.
//! - `origin_authority` never panics; what it returns is the end of the trimmed input and has
//!   no `/`, `?`, `#` or `@`.
//! - a head the parser accepts has a `Host` that is empty or readable by `host_name`, and an
//!   absolute-form target's authority readable too: the host the checks see is well formed.
//! - `decide` never panics; a safe method is never refused as cross-site; a bind answers to
//!   its own address and allowed names, a non-loopback bind never to `localhost`; and a
//!   read-only policy lets no write through.

#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use http_server::access;
use http_server::config::Limits;
use http_server::config::Policy;
use http_server::{Credentials, Refusal, RequestHead};
use http_server::{Parsed, parse_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_host_name(text);
    if let Some(authority) = access::origin_authority(text) {
        assert!(text.trim().ends_with(authority));
        assert!(!authority.contains(['/', '?', '#', '@']));
    }

    // the first line as Host and as an absolute-form authority; the rest as header fields
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = first.trim_end_matches('\r');
    let fields: String = rest
        .split('\n')
        .take(8)
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r')))
        .collect();
    for method in ["PUT", "GET"] {
        for raw in [
            format!("{method} /files/x HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n"),
            format!("{method} /files/x HTTP/1.1\r\nHost: {first}\r\n{fields}\r\n"),
            format!("{method} http://{first}/files/x HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ] {
            let Ok(Parsed::Complete((head, _))) = parse_head(raw.as_bytes(), &Limits::default())
            else {
                continue;
            };
            check_parsed_host(&head);
            check_decisions(method, &head);
        }
    }
});

fn check_host_name(text: &str) {
    let Some(name) = access::host_name(text) else {
        return;
    };
    assert_eq!(name, name.to_ascii_lowercase());
    assert!(!name.contains(['@', '/', ' ', '\t']), "{name:?}");
    if let Some(inside) = name.strip_prefix('[') {
        let inside = inside.strip_suffix(']').expect("closing bracket");
        assert!(inside.parse::<Ipv6Addr>().is_ok(), "{name:?}");
    }
    assert_eq!(access::host_name(&name).as_deref(), Some(name.as_str()));
    assert_eq!(
        access::host_name(&format!("{name}:8080")).as_deref(),
        Some(name.as_str())
    );
    assert_eq!(access::host_name(&format!("{name}:65536")), None);
}

fn check_parsed_host(head: &RequestHead) {
    if let Some(authority) = &head.authority {
        assert!(access::host_name(authority).is_some(), "{authority:?}");
        assert_eq!(head.host(), Some(authority.as_str()));
    }
    if let Some(host) = head.headers.get("host") {
        assert!(
            host.is_empty() || access::host_name(host).is_some(),
            "{host:?}"
        );
    }
}

fn check_decisions(method: &str, head: &RequestHead) {
    let name = head.host().and_then(access::host_name);
    for bind in ["127.0.0.1", "192.0.2.1"] {
        let bind: IpAddr = bind.parse().unwrap();
        for read_only in [false, true] {
            let policy = Policy {
                bind: Some(bind),
                read_only,
                allowed_hosts: vec!["files.lan".into()],
                ..Policy::default()
            };
            let decision = access::decide(&policy, head, &Credentials::Missing);
            if method == "GET" {
                assert_ne!(decision, Err(Refusal::CrossSite));
            }
            let misdirected = decision == Err(Refusal::MisdirectedHost);
            match name.as_deref() {
                Some("files.lan") => assert!(!misdirected),
                Some(n) if n == bind.to_string() => assert!(!misdirected),
                Some("localhost") => assert_eq!(misdirected, !bind.is_loopback()),
                _ => {}
            }
            if read_only && method == "PUT" {
                assert!(decision.is_err());
            }
        }
    }
}
