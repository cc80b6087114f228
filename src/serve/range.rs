//! Byte ranges (RFC 9110 §14): which bytes of a representation a `GET` asks for. One range
//! at most; anything this server does not serve as a range (several ranges, other units,
//! malformed values) is answered with the whole representation, which §14.2 allows.

use crate::http::request::{Method, RequestHead};
use crate::http::syntax::elements;
use crate::serve::conditional::{Validators, if_range_holds};

#[derive(Debug, PartialEq)]
pub enum RangeRequest {
    Full,
    Partial { start: u64, end: u64 },
    Unsatisfiable,
}

/// The range a request asks of a representation of `len` bytes whose validators are `v`.
/// RFC 9110 §14.2: range handling is defined for GET only (HEAD ignores `Range`), and
/// §13.1.5: a range whose `If-Range` no longer names the representation gets all of it.
pub fn requested(head: &RequestHead, v: &Validators, len: u64) -> RangeRequest {
    match head.headers.get("range") {
        Some(value) if head.method == Method::Get && if_range_holds(head, v) => {
            parse_range(value, len)
        }
        _ => RangeRequest::Full,
    }
}

/// One `bytes` range of a representation of `len` bytes (`ranges-specifier`, §14.1.1).
fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some((unit, set)) = value.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    // range-set = 1#range-spec: a list, of which exactly one element is served as a range
    let mut specs = elements(std::iter::once(set));
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeRequest::Full;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return RangeRequest::Full;
            };
            let end = match last {
                "" => u64::MAX,
                last => match number(last) {
                    Some(end) if end >= start => end,
                    _ => return RangeRequest::Full,
                },
            };
            if start >= len {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let cases: &[(&str, u64, RangeRequest)] = &[
            ("bytes=0-4", 10, Partial { start: 0, end: 4 }),
            ("bytes=5-", 10, Partial { start: 5, end: 9 }),
            ("bytes=-3", 10, Partial { start: 7, end: 9 }),
            ("bytes=-30", 10, Partial { start: 0, end: 9 }),
            ("bytes=2-100", 10, Partial { start: 2, end: 9 }),
            ("BYTES=0-0", 10, Partial { start: 0, end: 0 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=5-4", 10, Full),
            ("bytes=0-1,3-4", 10, Full),
            // RFC 9110 §5.6.1: empty list elements do not count
            ("bytes=0-4, ,", 10, Partial { start: 0, end: 4 }),
            ("bytes=a-b", 10, Full),
            ("bytes=-", 10, Full),
            ("items=0-1", 10, Full),
            ("bytes 0-1", 10, Full),
            ("bytes=+1-2", 10, Full),
        ];
        for (value, len, want) in cases {
            assert_eq!(&parse_range(value, *len), want, "{value} of {len}");
        }
    }
}
