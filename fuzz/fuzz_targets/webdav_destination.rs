//! Fuzzes how a WebDAV `Destination` (or an `If` tag) is mapped to this server's `/files/`
//! (`files_part`), followed by the name rules every `/files/` path gets (`resolve_name`, here
//! through `percent_decode`).
//!
//! Invariants checked:
//! - No panic, whatever the bytes (the first line is the URL, the rest the `Host`).
//! - What is accepted is a suffix of the URL, and holds no `?` or `#`.
//! - An absolute path is never `OtherServer`; a URL naming another host never maps.

#![no_main]

use http_server::{ForeignUrl, files_part, percent_decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (url, host) = text.split_once('\n').unwrap_or((text, "localhost"));
    match files_part(url, host) {
        Ok(encoded) => {
            assert!(!encoded.contains(['?', '#']), "{encoded:?}");
            assert!(url.contains(encoded));
            let _ = percent_decode(encoded);
        }
        Err(ForeignUrl::OtherServer) => assert!(!url.starts_with('/')),
        Err(_) => {}
    }
    if !url.starts_with('/') && !host.is_empty() {
        let other = format!("http://{host}x{}", url.trim_start_matches(|c| c != '/'));
        assert_ne!(
            files_part(&other, host).err(),
            None,
            "{other:?} maps though its host is not {host:?}"
        );
    }
});
