//! Fuzzes `parse_head` and `HeadScanner`.
//!
//! Invariants checked, for the default limits and for small ones:
//! - `parse_head` never panics; a `Complete` offset lies within the input, and re-parsing just
//!   the head gives the same answer, while the head minus its last byte is still `Partial`.
//! - `HeadScanner` fed the input in pieces (split points derived from the first byte) ends with
//!   the same verdict as one `parse_head` over the whole input, whenever that verdict is
//!   `Partial`, `Complete` or a non-limit error. The scanner may stop earlier than `parse_head`
//!   only with `RequestLineTooLong`, and only when the request line really is too long (a head
//!   whose overlong request line also ends in a bare LF is `BareLf` in one piece). When the
//!   whole input breaks a limit, the scanner must not claim `Complete` or a non-limit error; it
//!   may still say `Partial`: it checks the request-line length once only, and leading CRLFs or
//!   a CR right at the limit can hide an overlong line from that check (431 comes later instead
//!   of 414).
//! - Smaller limits never change a verdict other than by turning it into a limit error.

#![no_main]

use http_server::RequestHead;
use http_server::config::Limits;
use http_server::{HeadScanner, ParseError, Parsed, parse_head};
use libfuzzer_sys::fuzz_target;

type Verdict = Result<Parsed<(RequestHead, usize)>, ParseError>;

fn small_limits() -> Limits {
    Limits {
        max_request_line_bytes: 64,
        max_head_bytes: 256,
        max_header_fields: 4,
        ..Limits::default()
    }
}

fn is_limit(e: &ParseError) -> bool {
    matches!(
        e,
        ParseError::RequestLineTooLong | ParseError::HeadTooLarge | ParseError::TooManyFields
    )
}

/// The request line as `parse_head` measures it: after leading CRLFs, up to the first LF, without
/// a CR just before that LF.
fn request_line(data: &[u8]) -> &[u8] {
    let mut start = 0;
    while data[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let line = &data[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Feeds `data` to a scanner in growing prefixes, as a connection's reads would, and returns its
/// first non-`Partial` verdict (or `Partial` once all of `data` has been offered).
fn scan(data: &[u8], limits: &Limits, seed: u8) -> Verdict {
    let mut scanner = HeadScanner::default();
    if data.is_empty() {
        return scanner.poll(data, limits);
    }
    // piece sizes from 1 up to 2^(seed % 8), pseudo-random after that
    let max_piece = 1u32 << (seed % 8);
    let mut state = u32::from(seed) | 0x9e37_7900;
    let mut end = 0;
    loop {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        end = (end + 1 + (state % max_piece) as usize).min(data.len());
        let verdict = scanner.poll(&data[..end], limits);
        if verdict != Ok(Parsed::Partial) || end == data.len() {
            return verdict;
        }
    }
}

fn check(data: &[u8], limits: &Limits) -> Verdict {
    let full = parse_head(data, limits);
    let seed = data.first().copied().unwrap_or(0);
    let scanned = scan(data, limits, seed);
    let line_too_long = request_line(data).len() > limits.max_request_line_bytes;

    match &full {
        Ok(Parsed::Complete((head, n))) => {
            let n = *n;
            assert!(n <= data.len(), "offset {n} past the input");
            assert!(n >= 2, "a head ends in at least one LF and a line end");
            assert_eq!(parse_head(&data[..n], limits), full, "head alone");
            assert_eq!(
                parse_head(&data[..n - 1], limits),
                Ok(Parsed::Partial),
                "head minus its last byte"
            );
            assert!(head.target.starts_with('/'), "target {:?}", head.target);
        }
        Ok(Parsed::Partial) => assert!(data.len() < limits.max_head_bytes),
        Err(_) => {}
    }

    match &full {
        Err(e) if is_limit(e) => assert!(
            matches!(&scanned, Ok(Parsed::Partial)) || matches!(&scanned, Err(s) if is_limit(s)),
            "whole input: {full:?}, scanner: {scanned:?}"
        ),
        Err(ParseError::BareLf) if line_too_long => assert!(
            scanned == full || scanned == Err(ParseError::RequestLineTooLong),
            "whole input: {full:?}, scanner: {scanned:?}"
        ),
        _ => assert_eq!(scanned, full, "scanner vs one parse"),
    }
    full
}

fuzz_target!(|data: &[u8]| {
    let default = check(data, &Limits::default());
    let small = check(data, &small_limits());
    match &small {
        Err(e) if is_limit(e) => {}
        _ => assert_eq!(small, default, "small limits vs default limits"),
    }
});
