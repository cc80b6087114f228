//! Fuzzes the `Host` and `Origin` readers of `security/origin.rs` (reached through `access`),
//! and `access::decide` on heads made from the input.
//!
//! Invariants:
//! - `host_name` never panics; a name it returns is lower case, and reading it again (with or
//!   without a port after it) gives the same name.
//! - `origin_authority` never panics; what it returns is the end of the trimmed input and has
//!   no `/`, `?`, `#` or `@`.
//! - `decide` never panics; a safe method is never refused as cross-site, a non-loopback
//!   policy never answers 421, and a read-only policy lets no write through.

#![no_main]

use std::net::IpAddr;

use http_server::access;
use http_server::config::Limits;
use http_server::config::Policy;
use http_server::{Credentials, Refusal};
use http_server::{Parsed, parse_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(name) = access::host_name(text) {
        assert_eq!(name, name.to_ascii_lowercase());
        assert_eq!(access::host_name(&name).as_deref(), Some(name.as_str()));
        assert_eq!(
            access::host_name(&format!("{name}:8080")).as_deref(),
            Some(name.as_str())
        );
    }
    if let Some(authority) = access::origin_authority(text) {
        assert!(text.trim().ends_with(authority));
        assert!(!authority.contains(['/', '?', '#', '@']));
    }

    // the input's lines become header fields of a write and of a read
    let fields: String = text
        .split('\n')
        .take(8)
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r')))
        .collect();
    for method in ["PUT", "GET"] {
        let raw = format!("{method} /files/x HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n");
        let Ok(Parsed::Complete((head, _))) = parse_head(raw.as_bytes(), &Limits::default()) else {
            continue;
        };
        for bind in ["127.0.0.1", "192.0.2.1"] {
            let bind: IpAddr = bind.parse().unwrap();
            for read_only in [false, true] {
                let policy = Policy {
                    bind: Some(bind),
                    read_only,
                    allowed_hosts: vec!["files.lan".into()],
                    ..Policy::default()
                };
                let decision = access::decide(&policy, &head, &Credentials::Missing);
                if method == "GET" {
                    assert_ne!(decision, Err(Refusal::CrossSite));
                }
                if !bind.is_loopback() {
                    assert_ne!(decision, Err(Refusal::MisdirectedHost));
                }
                if read_only && method == "PUT" {
                    assert!(decision.is_err());
                }
            }
        }
    }
});
