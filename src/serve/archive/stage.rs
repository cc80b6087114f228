//! The staging buffer both writers put their bytes through: headers, small files and padding
//! gather here and leave in one `write`, or as the head of a `Sink::send_file` (so a tar
//! header and the file after it share packets). It also counts the archive's offset, which
//! zip's central directory needs, and remembers a failure so that no trailer can follow it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::http::response::Sink;

/// The staging buffer's size: the largest `write` an archive makes, and the largest file
/// that zip stores with its CRC in the local header (read once into here, then sent).
/// A read/CRC/write loop to a loopback reader (the table in `mod.rs`) ran about 12 % slower
/// with 64 KiB pieces and up to 20 % faster with 1 MiB ones, but the buffer is resident for
/// each archive being sent, and 64 of them at 1 MiB would be the whole RSS budget.
pub const STAGE_BYTES: usize = 256 * 1024;

/// Bytes on their way to the sink, with the count of all bytes produced so far.
pub struct Stage {
    buf: Vec<u8>,
    filled: usize,
    offset: u64,
    broken: bool,
}

impl Stage {
    pub fn new() -> Self {
        Stage {
            buf: vec![0; STAGE_BYTES],
            filled: 0,
            offset: 0,
            broken: false,
        }
    }

    /// How many archive bytes have been produced, staged ones included: the offset of the
    /// next byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Free space left before the next flush.
    pub fn room(&self) -> usize {
        STAGE_BYTES - self.filled
    }

    /// Fails once any earlier write or read has: an archive that lost bytes must never get
    /// the trailer that would make it look whole.
    pub fn check(&self) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("the archive failed earlier"));
        }
        Ok(())
    }

    /// Marks the archive broken when `result` is an error, and passes it on.
    pub fn guard<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Appends `bytes`, flushing first when they do not fit.
    pub fn push(&mut self, out: &mut dyn Sink, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > self.room() {
            self.flush(out)?;
        }
        if bytes.len() > STAGE_BYTES {
            // only a PAX header of a very long name gets here
            out.write_all(bytes)?;
        } else {
            self.buf[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
            self.filled += bytes.len();
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Appends `n` zero bytes (tar's padding; at most a block).
    pub fn zeros(&mut self, out: &mut dyn Sink, n: usize) -> io::Result<()> {
        const ZEROS: [u8; 512] = [0; 512];
        self.push(out, &ZEROS[..n])
    }

    /// Writes what is staged.
    pub fn flush(&mut self, out: &mut dyn Sink) -> io::Result<()> {
        out.write_all(&self.buf[..self.filled])?;
        self.filled = 0;
        Ok(())
    }

    /// Makes room for `n` contiguous bytes, flushing if they do not fit.
    pub fn make_room(&mut self, out: &mut dyn Sink, n: usize) -> io::Result<()> {
        debug_assert!(n <= STAGE_BYTES, "a reservation fits the stage");
        if n > self.room() {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Sends what is staged, then `len` bytes of `file` from its start, through the sink's
    /// fastest path (`sendfile(2)` for a plain socket).
    pub fn send_file(&mut self, out: &mut dyn Sink, file: &File, len: u64) -> io::Result<()> {
        out.send_file(&self.buf[..self.filled], file, 0, len)?;
        self.filled = 0;
        self.offset += len;
        Ok(())
    }

    /// The free space, to be filled in place and then kept with `commit`.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Keeps `n` bytes written into `spare`.
    pub fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.room(), "committed bytes were in the spare space");
        self.filled += n;
        self.offset += n as u64;
    }

    /// Reads up to `max` bytes of `file` at `at` into the spare space (at most what fits),
    /// keeps them and returns them. A file that ends first is `UnexpectedEof`: it shrank
    /// since its size was taken.
    pub fn read_from(&mut self, file: &File, at: u64, max: u64) -> io::Result<&[u8]> {
        let start = self.filled;
        let want = self.room().min(usize::try_from(max).unwrap_or(usize::MAX));
        let n = read_at_least_one(file, &mut self.buf[start..start + want], at)?;
        self.commit(n);
        Ok(&self.buf[start..start + n])
    }

    /// Writes `bytes` at `at`, a position staged but not yet flushed (a reserved header).
    pub fn fill(&mut self, at: u64, bytes: &[u8]) {
        let staged_from = self.offset - self.filled as u64;
        let start = usize::try_from(at - staged_from).expect("the reserved bytes are staged");
        self.buf[start..start + bytes.len()].copy_from_slice(bytes);
    }
}

/// One `pread` that returns something: retried on `Interrupted`, and a file that has nothing
/// more is `UnexpectedEof`.
pub fn read_at_least_one(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    loop {
        match file.read_at(buf, at) {
            Ok(0) => return Err(shrank()),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The error of a file that ended before the size it had when it was opened.
pub fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "file shrank while being archived",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_gather_until_full_and_the_offset_counts_everything() {
        let mut out = Vec::new();
        let mut stage = Stage::new();
        stage.push(&mut out, b"abc").unwrap();
        assert!(out.is_empty(), "small pushes wait in the stage");
        stage.push(&mut out, &vec![7; STAGE_BYTES - 2]).unwrap();
        assert_eq!(
            out.len(),
            3,
            "a push that does not fit flushes what was staged first"
        );
        stage.push(&mut out, &vec![8; STAGE_BYTES + 1]).unwrap();
        stage.flush(&mut out).unwrap();
        assert_eq!(stage.offset(), out.len() as u64);
        assert_eq!(out.len(), 3 + STAGE_BYTES - 2 + STAGE_BYTES + 1);
    }

    #[test]
    fn a_reserved_header_is_filled_in_place() {
        let mut out = Vec::new();
        let mut stage = Stage::new();
        stage.push(&mut out, b"xx").unwrap();
        let at = stage.offset();
        stage.push(&mut out, &[0; 4]).unwrap();
        stage.push(&mut out, b"data").unwrap();
        stage.fill(at, b"HEAD");
        stage.flush(&mut out).unwrap();
        assert_eq!(out, b"xxHEADdata");
    }

    #[test]
    fn a_short_file_is_unexpected_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        let file = File::open(&path).unwrap();
        let mut stage = Stage::new();
        assert_eq!(stage.read_from(&file, 0, 100).unwrap(), b"12345");
        let e = stage.read_from(&file, 5, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn after_a_failure_the_stage_refuses_to_go_on() {
        let mut stage = Stage::new();
        assert!(stage.check().is_ok());
        let _ = stage.guard::<()>(Err(io::ErrorKind::BrokenPipe.into()));
        assert!(stage.check().is_err());
    }
}
