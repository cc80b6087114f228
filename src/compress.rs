//! Content coding: `Accept-Encoding` negotiation (RFC 9110 §12.5.3, with q-values) and gzip
//! through flate2. `Gzip` keeps one deflate state per connection, because a fresh compressor
//! per response costs more than the compression itself.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Whether the `Accept-Encoding` values (all fields, in order) make gzip acceptable.
/// `gzip;q=0` refuses it; `*` covers it unless gzip is listed on its own.
pub fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut gzip = None;
    let mut star = None;
    for element in values.flat_map(|v| v.split(',')) {
        let mut params = element.split(';');
        let coding = params.next().unwrap_or("").trim();
        let q = params
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .map(parse_qvalue)
            .next()
            .unwrap_or(Some(1000));
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

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )          (RFC 9110 §12.4.2)
/// A q-value in thousandths, or `None` when malformed.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
        * 10u16.pow(3 - frac.len() as u32);
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// A reusable gzip encoder (RFC 1952 member around raw deflate at flate2's default level,
/// the same level 6 nginx uses).
pub struct Gzip {
    deflate: Compress,
}

impl Default for Gzip {
    fn default() -> Self {
        Gzip {
            deflate: Compress::new(Compression::default(), false),
        }
    }
}

impl Gzip {
    /// Compresses `input` into a complete gzip member appended to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unknown
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        self.deflate.reset();
        // deflate's worst case is a little over the input (stored blocks): reserve that once.
        // Growing by doubling instead made compress_vec zero ever larger spare capacity.
        out.reserve(input.len() + input.len() / 8 + 64);
        loop {
            let consumed = self.deflate.total_in() as usize;
            let status = self
                .deflate
                .compress_vec(&input[consumed..], out, FlushCompress::Finish)
                .expect("deflate of an in-memory buffer cannot fail");
            match status {
                Status::StreamEnd => break,
                Status::Ok | Status::BufError => out.reserve(4096),
            }
        }
        let mut crc = Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
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
        for input in [&b""[..], b"abc", &b"hello world ".repeat(1000)] {
            let mut out = Vec::new();
            gzip.encode(input, &mut out);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, input);
        }
    }
}
