//! Fuzzes `auth::parse_basic`, the reader of `Authorization: Basic ...` values.
//!
//! Invariants: it never panics; what it accepts has a user-id without `:` or control
//! characters (RFC 7617 §2) and a password without control characters; and encoding the
//! result again gives a value that parses to the same pair.

#![no_main]

use base64::Engine as _;
use http_server::parse_basic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Some((user, password)) = parse_basic(value) else {
        return;
    };
    assert!(!user.contains(':'), "{user:?}");
    assert!(!user.chars().any(char::is_control), "{user:?}");
    assert!(!password.chars().any(char::is_control), "{password:?}");
    let again = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    assert_eq!(parse_basic(&again), Some((user, password)));
});
