//! Fuzzes the listing's readers of client bytes: the query string (`parse_query`) and `Accept`
//! negotiation (`negotiate`), and the link encoder they feed into pages (`encode_segment`).
//!
//! Invariants checked:
//! - None of them panics, whatever the bytes.
//! - `parse_query` ignores what it does not know: appending `&` plus junk without `sort` or
//!   `order` keys changes nothing.
//! - `negotiate` is the same whether the values come as separate fields or joined by commas
//!   (RFC 9110 §5.3), and picks plain text unless `html` or `json` occurs in the input.
//! - `encode_segment` leaves only unreserved characters and `%XX`, never a `/`, and
//!   percent-decoding gives back the name.

#![no_main]

use http_server::percent_decode;
use http_server::{Format, encode_segment, negotiate, parse_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let query = parse_query(text);
    if !text.contains("sort") && !text.contains("order") {
        assert_eq!(query, parse_query(""));
    }
    assert_eq!(parse_query(&format!("{text}&x=y&&=")), query);

    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (a, b) = text.split_at(middle);
    if !a.is_empty() && !b.is_empty() {
        let joined = format!("{a},{b}");
        assert_eq!(
            negotiate([a, b].into_iter()),
            negotiate(std::iter::once(joined.as_str())),
            "{a:?} {b:?}"
        );
    }
    let lower = text.to_ascii_lowercase();
    if !lower.contains("html") && !lower.contains("json") {
        assert_eq!(negotiate(std::iter::once(text)), Format::Plain);
    }

    let encoded = encode_segment(text).to_string();
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "{encoded}"
    );
    assert_eq!(percent_decode(&encoded).as_deref(), Some(text.as_bytes()));
});
