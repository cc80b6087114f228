//! Fuzzes the resumable-upload fields (`UploadFields::from_headers`, `UploadLimit::parse`)
//! and the upload state file reader (`UploadState::from_bytes`, which a restart reads back).
//!
//! Invariants checked:
//! - Nothing panics, whatever the bytes.
//! - Offsets and lengths that parse are Integers (at most `MAX_INTEGER`) and serialise back.
//! - An `Upload-Limit` that parses serialises (interop 8) to a value that parses to the same
//!   limits, every value capped at `MAX_INTEGER`.
//! - A state that reads back writes the same bytes' meaning again.

#![no_main]

use http_server::{
    InteropVersion, MAX_INTEGER, Parsed, UploadFields, UploadLimit, UploadState, parse_head,
    serialize_count,
};
use libfuzzer_sys::fuzz_target;

const FIELDS: [&str; 6] = [
    "Upload-Complete",
    "Upload-Incomplete",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Draft-Interop-Version",
    "Upload-Limit",
];

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = UploadState::from_bytes(data) {
        let bytes = state.to_bytes().expect("a state read back can be written");
        assert_eq!(
            UploadState::from_bytes(&bytes).expect("and read again"),
            state
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(limit) = UploadLimit::parse(text) {
        let again = UploadLimit::parse(&limit.serialize(InteropVersion::V8)).expect("ours parse");
        let cap = |v: Option<u64>| v.map(|n| n.min(MAX_INTEGER));
        assert_eq!(again.max_size, cap(limit.max_size));
        assert_eq!(again.max_age, cap(limit.max_age));
    }
    // the same value in whichever field the first byte picks, inside a real request head
    let field = FIELDS[usize::from(data.first().copied().unwrap_or(0)) % FIELDS.len()];
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{field}: {text}\r\n\r\n");
    let limits = http_server::config::Limits::default();
    let Ok(Parsed::Complete((head, _))) = parse_head(raw.as_bytes(), &limits) else {
        return;
    };
    if let Ok(fields) = UploadFields::from_headers(&head.headers) {
        for n in [fields.offset, fields.length].into_iter().flatten() {
            assert!(n <= MAX_INTEGER);
            assert!(serialize_count(n).is_some());
        }
    }
});
