//! Content coding: `Accept-Encoding` negotiation (RFC 9110 §12.5.3, with q-values), gzip of
//! whole in-memory bodies through libdeflate (`encode_response`, which the connection calls on
//! each response), and streamed gzip of files through flate2.
//! `Gzip` keeps one compressor per connection thread, because allocating one per response
//! costs more than the compression itself.

use std::io::{self, Read, Write};

use flate2::Compression;

use crate::http::request::RequestHead;
use crate::http::response::{Body, Response};
use crate::http::syntax::{elements, weighted};
use crate::serve::slots::{Slot, heavy_work};

/// Files at least this large are gzipped on the fly only in a heavy-work slot (`slots.rs`):
/// a 1 GiB text file is a minute of CPU for one request.
pub const LARGE_FILE_BYTES: u64 = 1 << 20;

/// Every heavy-work slot is busy.
#[derive(Debug)]
pub struct AllBusy;

/// Whether a file of `len` bytes may be gzipped on the fly now: a small one always (no slot
/// needed); a large one with a slot, which the returned guard holds until it is dropped with
/// the body. `Err` when none is free: the caller sends the identity, which costs no CPU,
/// rather than refusing.
pub fn gzip_admission(len: u64) -> Result<Option<Slot<'static>>, AllBusy> {
    if len < LARGE_FILE_BYTES {
        return Ok(None);
    }
    heavy_work().try_take().map(Some).ok_or(AllBusy)
}

/// Chooses the representation of a response the router marked `compressible`: gzip when the
/// client accepts it (RFC 9110 §12.5.3) and the body is in memory, and in any case
/// `Vary: Accept-Encoding`. Other responses are left alone. `gzip` is the connection thread's
/// compressor, made on first use.
pub fn encode_response(head: &RequestHead, response: &mut Response, gzip: &mut Option<Gzip>) {
    if !response.compressible {
        return;
    }
    response.headers.push(("Vary", "Accept-Encoding".into()));
    if !accepts_gzip(head.headers.get_all("accept-encoding")) {
        return;
    }
    if let Body::Bytes(plain) = &response.body {
        let mut gzipped = Vec::new();
        gzip.get_or_insert_with(Gzip::default)
            .encode(plain, &mut gzipped);
        response.body = Body::Bytes(gzipped);
        response.headers.push(("Content-Encoding", "gzip".into()));
    }
}

/// Whether the `Accept-Encoding` values (all fields, in order) make gzip acceptable.
/// `gzip;q=0` refuses it; `*` covers it unless gzip is listed on its own.
pub fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut gzip = None;
    let mut star = None;
    for element in elements(values) {
        let (coding, q) = weighted(element);
        // a malformed q-value makes the element unusable, not the whole header
        let Some(q) = q else { continue };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            star = Some(q);
        }
    }
    gzip.or(star).is_some_and(|q| q > 0)
}

/// A reusable gzip encoder for whole buffers: libdeflate at level 1. On the benchmark's 1 KiB
/// text it takes 4.0 µs and 448 bytes, where flate2 (zlib-rs) took 8.6 µs and 447 bytes at
/// level 6 and 3.4 µs and 591 bytes at level 1 (nginx's level 6 with its smaller window: 653
/// bytes). It costs nothing on tiny bodies (flate2 spent 1 to 2 µs clearing its hash table for
/// 5 bytes) and is faster and smaller than flate2 level 1 from a few KiB on.
pub struct Gzip {
    compressor: libdeflater::Compressor,
}

/// libdeflate's level 6 gains 2 bytes on the benchmark's body for 1.8 µs more.
const GZIP_LEVEL: i32 = 1;

impl Default for Gzip {
    fn default() -> Self {
        let level = libdeflater::CompressionLvl::new(GZIP_LEVEL).expect("a level from 0 to 12");
        Gzip {
            compressor: libdeflater::Compressor::new(level),
        }
    }
}

impl Gzip {
    /// Compresses `input` into a complete gzip member (RFC 1952) appended to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.compressor.gzip_compress_bound(input.len()), 0);
        let len = self
            .compressor
            .gzip_compress(input, &mut out[start..])
            .expect("the output has room for the bound");
        out.truncate(start + len);
    }
}

/// Gzips a reader into a writer as it goes (RFC 1952), for files compressed on the fly: memory
/// stays at one input buffer and one deflate state however large the file, and the first bytes
/// leave before the last are read. `Gzip` is for bodies already in memory.
pub struct GzipStream {
    deflate: flate2::write::GzEncoder<Vec<u8>>,
}

/// Input read per step; the output of each step is handed to the writer before the next.
const GZIP_STREAM_INPUT_BYTES: usize = 32 * 1024;

impl Default for GzipStream {
    fn default() -> Self {
        GzipStream {
            deflate: flate2::write::GzEncoder::new(Vec::new(), Compression::default()),
        }
    }
}

impl GzipStream {
    /// Reads `input` to its end, at most `len` bytes, and writes one gzip member to `out`.
    /// Returns the number of input bytes read; fewer than `len` means the input ended early.
    pub fn copy(mut self, input: &mut dyn Read, len: u64, out: &mut dyn Write) -> io::Result<u64> {
        let mut chunk = vec![0u8; GZIP_STREAM_INPUT_BYTES];
        let mut read = 0u64;
        while read < len {
            let want = chunk
                .len()
                .min(usize::try_from(len - read).unwrap_or(usize::MAX));
            let n = match input.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            read += n as u64;
            self.deflate.write_all(&chunk[..n])?;
            let compressed = self.deflate.get_mut();
            if !compressed.is_empty() {
                out.write_all(compressed)?;
                compressed.clear();
            }
        }
        out.write_all(&self.deflate.finish()?)?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["gzip"], true),
            (&["GZIP"], true),
            (&["x-gzip"], true),
            (&["deflate, gzip"], true),
            (&["encoding-1, gzip, encoding-2"], true),
            (&["invalid-encoding"], false),
            (&["encoding-1, encoding-2"], false),
            (&["gzip;q=0"], false),
            (&["gzip; q=0.000"], false),
            (&["gzip;q=0.001"], true),
            (&["gzip;q=1.0"], true),
            (&["gzip;q=1.5"], false),
            (&["gzip;q=abc"], false),
            (&["*"], true),
            (&["*;q=0"], false),
            (&["*, gzip;q=0"], false),
            (&["gzip;q=0, *"], false),
            (&["identity", "gzip"], true),
            (&[" gzip ;q=0.5 "], true),
        ];
        for (values, want) in cases {
            assert_eq!(accepts_gzip(values.iter().copied()), *want, "{values:?}");
        }
    }

    fn head(fields: &str) -> RequestHead {
        let raw = format!("GET /echo/x HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n");
        match crate::http::parse::parse_head(raw.as_bytes(), &Default::default()) {
            Ok(crate::http::parse::Parsed::Complete((head, _))) => head,
            other => panic!("{other:?}"),
        }
    }

    fn echo(body: &str) -> Response {
        let mut response = Response::text(crate::http::response::StatusCode::OK, body);
        response.compressible = true;
        response
    }

    #[test]
    fn a_compressible_response_is_gzipped_when_accepted_and_always_varies() {
        let mut gzip = None;
        let mut response = echo("hello");
        encode_response(
            &head("Accept-Encoding: br, gzip\r\n"),
            &mut response,
            &mut gzip,
        );
        assert_eq!(response.header_value("Content-Encoding"), Some("gzip"));
        assert_eq!(response.header_value("Vary"), Some("Accept-Encoding"));
        let Body::Bytes(bytes) = &response.body else {
            panic!("{:?}", response.body)
        };
        assert_eq!(gunzip(bytes), b"hello");
        assert!(
            gzip.is_some(),
            "the compressor is kept for the next response"
        );

        let mut response = echo("hello");
        encode_response(
            &head("Accept-Encoding: gzip;q=0\r\n"),
            &mut response,
            &mut gzip,
        );
        assert_eq!(response.header_value("Content-Encoding"), None);
        assert_eq!(response.header_value("Vary"), Some("Accept-Encoding"));
        assert!(matches!(&response.body, Body::Bytes(b) if b == b"hello"));

        // not marked compressible: untouched
        let mut response = Response::text(crate::http::response::StatusCode::OK, "hello");
        encode_response(&head("Accept-Encoding: gzip\r\n"), &mut response, &mut None);
        assert!(response.headers.iter().all(|(n, _)| *n != "Vary"));
        assert_eq!(response.header_value("Content-Encoding"), None);
    }

    fn gunzip(gzipped: &[u8]) -> Vec<u8> {
        let mut decoder = flate2::read::GzDecoder::new(gzipped);
        let mut decoded = Vec::new();
        decoder.read_to_end(&mut decoded).unwrap();
        // one member, nothing after it
        assert!(decoder.into_inner().is_empty());
        decoded
    }

    /// Incompressible bytes, from a xorshift generator.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn gzip_stream_round_trips() {
        let input = b"hello world ".repeat(20_000);
        for len in [0, 5, input.len() as u64, input.len() as u64 + 10] {
            let mut out = Vec::new();
            let read = GzipStream::default()
                .copy(&mut &input[..], len, &mut out)
                .unwrap();
            assert_eq!(read, len.min(input.len() as u64));
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, &input[..read as usize]);
        }
    }

    #[test]
    fn gzip_round_trips_and_reuses_state() {
        let mut gzip = Gzip::default();
        let inputs = [
            b"".to_vec(),
            b"abc".to_vec(),
            b"hello".to_vec(),
            b"hello world ".repeat(1000),
            noise(100_000),
        ];
        for input in inputs {
            let mut out = Vec::new();
            gzip.encode(&input, &mut out);
            assert_eq!(out[..3], [0x1f, 0x8b, 8], "gzip magic and deflate");
            assert_eq!(gunzip(&out), input);
        }
    }

    #[test]
    fn gzip_appends_to_what_is_there() {
        let mut out = b"kept".to_vec();
        Gzip::default().encode(b"abc", &mut out);
        assert_eq!(&out[..4], b"kept");
        assert_eq!(gunzip(&out[4..]), b"abc");
    }

    #[test]
    fn gzip_of_the_benchmark_body_is_smaller_than_nginx_s() {
        // text of the shape the reference benchmark echoes (1 KiB of words and numbers), for
        // which nginx (gzip level 6) sends 653 B
        let words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike \
                     november oscar papa quebec romeo sierra tango uniform victor whiskey xray \
                     yankee zulu";
        let words: Vec<&str> = words.split_whitespace().collect();
        let mut body = String::new();
        let mut x = 4221u32;
        while body.len() < 1024 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let word = words[(x >> 16) as usize % words.len()];
            body.push_str(&format!("{word}{}-", (x >> 8) % 100));
        }
        body.truncate(1024);
        let mut out = Vec::new();
        Gzip::default().encode(body.as_bytes(), &mut out);
        assert!(out.len() <= 653, "{} bytes", out.len());
        assert_eq!(gunzip(&out), body.as_bytes());
    }
}
