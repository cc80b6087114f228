//! Fuzzes `ChunkedReader`.
//!
//! Invariants checked, for the default limits and for small ones:
//! - decoding never panics, and never yields more bytes than it was given;
//! - reading from a plain slice and from a `BufReader` of 1..=7 bytes gives the same decoded
//!   bytes and the same outcome (so the result does not depend on how reads are split);
//! - a body that decodes stops right after its end: it is `is_done`, the bytes it consumed
//!   decode alone to the same output, and re-encoding the output decodes back to it;
//! - smaller limits never change the outcome other than by turning it into a limit error.

#![no_main]

use std::io::{self, BufRead, BufReader, Read};

use http_server::config::Limits;
use http_server::{BodyError, ChunkedReader};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Body(BodyError),
    Io(io::ErrorKind),
}

impl Outcome {
    fn is_limit(self) -> bool {
        matches!(
            self,
            Outcome::Body(BodyError::TooLarge | BodyError::ChunkLineTooLong)
        )
    }
}

fn small_limits() -> Limits {
    Limits {
        max_chunk_line_bytes: 8,
        max_body_bytes: 64,
        // caps the trailer section
        max_head_bytes: 32,
        ..Limits::default()
    }
}

/// Decodes to the end of the body (or the first error); returns what was decoded, how it ended,
/// and whether the reader reports the body done.
fn decode<R: BufRead>(source: R, limits: &Limits) -> (Vec<u8>, Outcome, bool) {
    let mut reader = ChunkedReader::new(source, limits);
    let mut out = Vec::new();
    let outcome = match reader.read_to_end(&mut out) {
        Ok(_) => Outcome::Done,
        Err(e) => match BodyError::from_io(&e) {
            Some(b) => Outcome::Body(b),
            None => Outcome::Io(e.kind()),
        },
    };
    (out, outcome, reader.is_done())
}

/// `decode` over a slice, also returning how many bytes of it were consumed.
fn decode_slice(data: &[u8], limits: &Limits) -> (Vec<u8>, Outcome, bool, usize) {
    let mut rest = data;
    let (out, outcome, done) = decode(&mut rest, limits);
    (out, outcome, done, data.len() - rest.len())
}

fn encode(body: &[u8], seed: u8) -> Vec<u8> {
    let piece = 1 + usize::from(seed % 13);
    let mut wire = Vec::new();
    for chunk in body.chunks(piece) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

fn check(data: &[u8], limits: &Limits) -> (Vec<u8>, Outcome) {
    let seed = data.first().copied().unwrap_or(0);
    let (out, outcome, done, used) = decode_slice(data, limits);
    assert!(out.len() <= data.len(), "decoded {} > input", out.len());
    assert!(used <= data.len());
    assert_eq!(done, outcome == Outcome::Done);

    let capacity = 1 + usize::from(seed % 7);
    let (buf_out, buf_outcome, _) = decode(BufReader::with_capacity(capacity, data), limits);
    assert_eq!(buf_outcome, outcome, "BufReader({capacity}) vs slice");
    assert_eq!(buf_out, out, "BufReader({capacity}) vs slice");

    if outcome == Outcome::Done {
        // "0\r\n\r\n" at least, on top of the data
        assert!(
            out.len() + 5 <= used,
            "decoded {} from {used} bytes",
            out.len()
        );
        let (again, again_outcome, _, again_used) = decode_slice(&data[..used], limits);
        assert_eq!(
            (again, again_outcome, again_used),
            (out.clone(), outcome, used)
        );
        let wire = encode(&out, seed);
        let (round, round_outcome, _, round_used) = decode_slice(&wire, limits);
        assert_eq!(
            (round, round_outcome, round_used),
            (out.clone(), Outcome::Done, wire.len())
        );
    }
    (out, outcome)
}

fuzz_target!(|data: &[u8]| {
    let default = check(data, &Limits::default());
    let small = check(data, &small_limits());
    if !small.1.is_limit() {
        assert_eq!(small, default, "small limits vs default limits");
    }
});
