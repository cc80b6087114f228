//! The zip writer: each entry's local header, its data (stored, or raw deflate through
//! flate2) and, when the CRC was not known before the data, a data descriptor; then the
//! central directory, kept in memory as the bytes it will be (about 60 bytes plus the name
//! per entry: 100,000 entries with 40-byte names make 10 MB), and the end records.
//!
//! An entry whose data fits the staging buffer is produced there first, so its local header
//! carries the real CRC and sizes (what every reader, streaming ones too, handles). A larger
//! one gets bit 3 and a descriptor: its data is read once, the CRC updated on the way.
//! zip64 fields appear where a size or an offset needs them: an entry is zip64 in its local
//! header when its size (for deflate, the most it could compress to) reaches 4 GiB, and the
//! end records when the archive has 65,535 entries or more or its central directory starts
//! or ends past 4 GiB.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use flate2::{Compress, Compression, FlushCompress, Status};

use super::stage::{STAGE_BYTES, Stage, read_at_least_one, shrank};
use super::zip_records::{
    METHOD_DEFLATE, METHOD_STORED, Record, S_IFDIR, S_IFREG, U32_FULL, push_end,
};
use super::{ArchiveError, Entry, check_path};
use crate::http::response::Sink;

/// How file data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipMethod {
    /// As it is: the archive goes at the speed of the disk (the default).
    Stored,
    /// Raw deflate (method 8) at `DEFLATE_LEVEL`, for folders of text (`&compress=1`).
    Deflate,
}

/// On 64 MiB of this crate's source and README (zlib-rs, one core of a busy machine), level 1
/// made 42.7 % of the size at 225 MB/s, level 2 33.2 % at 150 MB/s, level 6 29.0 % at
/// 59 MB/s: level 2 keeps up with a gigabit link and gets most of level 6's gain.
const DEFLATE_LEVEL: u32 = 2;

/// The file bytes deflate reads at a time.
const INPUT_BYTES: usize = 64 * 1024;

/// A zip archive in the making.
pub struct ZipWriter {
    method: ZipMethod,
    stage: Stage,
    central: Vec<u8>,
    entries: u64,
    /// Made on first use and reset between entries: making one costs more than a small file.
    deflate: Option<Box<Compress>>,
    input: Vec<u8>,
}

impl ZipWriter {
    pub fn new(method: ZipMethod) -> Self {
        ZipWriter {
            method,
            stage: Stage::new(),
            central: Vec::new(),
            entries: 0,
            deflate: None,
            input: Vec::new(),
        }
    }

    /// Adds a folder entry (`path/`, no data). Nothing is written on `BadPath`.
    pub fn add_directory(&mut self, out: &mut dyn Sink, entry: &Entry) -> Result<(), ArchiveError> {
        self.stage.check()?;
        let name = format!("{}/", entry.path);
        let mut record = self.record(entry, &name, S_IFDIR, 0)?;
        record.method = METHOD_STORED;
        let result = self.write_known(out, &mut record, None, 0);
        Ok(self.stage.guard(result)?)
    }

    /// Adds exactly `size` bytes of `file`, from its start. Nothing is written on `BadPath`.
    pub fn add_file(
        &mut self,
        out: &mut dyn Sink,
        entry: &Entry,
        file: &File,
        size: u64,
    ) -> Result<(), ArchiveError> {
        self.stage.check()?;
        let mut record = self.record(entry, entry.path, S_IFREG, size)?;
        let result = if size == 0 {
            // nothing to compress: stored, as Info-ZIP does
            record.method = METHOD_STORED;
            self.write_known(out, &mut record, None, 0)
        } else if record.local_len() as u64 + bound(self.method, size) <= STAGE_BYTES as u64 {
            self.write_known(out, &mut record, Some(file), size)
        } else {
            self.write_streamed(out, &mut record, file, size)
        };
        Ok(self.stage.guard(result)?)
    }

    /// The record of an entry of `size` bytes, before its data.
    fn record(
        &self,
        entry: &Entry,
        name: &str,
        file_type: u32,
        size: u64,
    ) -> Result<Record, ArchiveError> {
        check_path(entry.path)?;
        let method = match self.method {
            ZipMethod::Stored => METHOD_STORED,
            ZipMethod::Deflate => METHOD_DEFLATE,
        };
        Ok(Record {
            name: name.as_bytes().to_vec(),
            method,
            descriptor: false,
            zip64: bound(self.method, size) >= U32_FULL,
            crc: 0,
            compressed: 0,
            uncompressed: size,
            mtime: entry.mtime,
            unix_mode: file_type | (entry.mode & 0o7777),
        })
    }

    /// An entry whose data fits the stage: the header's room is kept, the data produced
    /// after it, and then the header written with the real CRC and sizes.
    fn write_known(
        &mut self,
        out: &mut dyn Sink,
        record: &mut Record,
        file: Option<&File>,
        size: u64,
    ) -> io::Result<()> {
        let header_len = record.local_len();
        let most = header_len + usize::try_from(bound(self.method, size)).expect("fits the stage");
        self.stage.make_room(out, most)?;
        let offset = self.stage.offset();
        self.stage.commit(header_len);
        if let Some(file) = file {
            let mut crc = libdeflater::Crc::new();
            let compressed = if record.method == METHOD_DEFLATE {
                self.deflate_small(file, size, &mut crc)?
            } else {
                let mut done = 0;
                while done < size {
                    let piece = self.stage.read_from(file, done, size - done)?;
                    crc.update(piece);
                    done += piece.len() as u64;
                }
                size
            };
            record.crc = crc.sum();
            record.compressed = compressed;
        }
        self.stage.fill(offset, &record.local());
        self.end_entry(record, offset);
        Ok(())
    }

    /// Reads a small file whole and deflates it into the stage in one call.
    fn deflate_small(
        &mut self,
        file: &File,
        size: u64,
        crc: &mut libdeflater::Crc,
    ) -> io::Result<u64> {
        let len = usize::try_from(size).expect("a small file fits in memory");
        self.input.resize(len, 0);
        file.read_exact_at(&mut self.input, 0)
            .map_err(eof_is_shrank)?;
        crc.update(&self.input);
        let deflate = compressor(&mut self.deflate);
        let before = deflate.total_out();
        let status = deflate
            .compress(&self.input, self.stage.spare(), FlushCompress::Finish)
            .map_err(io::Error::other)?;
        if status != Status::StreamEnd {
            return Err(io::Error::other("deflate output over its bound"));
        }
        let written = deflate.total_out() - before;
        self.stage
            .commit(usize::try_from(written).expect("within the stage"));
        Ok(written)
    }

    /// An entry larger than the stage: header with bit 3, the data read once, then the
    /// data descriptor with what was learnt.
    fn write_streamed(
        &mut self,
        out: &mut dyn Sink,
        record: &mut Record,
        file: &File,
        size: u64,
    ) -> io::Result<()> {
        record.descriptor = true;
        let offset = self.stage.offset();
        self.stage.push(out, &record.local())?;
        let mut crc = libdeflater::Crc::new();
        record.compressed = match self.method {
            ZipMethod::Stored => {
                let mut done = 0;
                while done < size {
                    if self.stage.room() == 0 {
                        self.stage.flush(out)?;
                    }
                    let piece = self.stage.read_from(file, done, size - done)?;
                    crc.update(piece);
                    done += piece.len() as u64;
                }
                size
            }
            ZipMethod::Deflate => self.deflate_streamed(out, file, size, &mut crc)?,
        };
        record.crc = crc.sum();
        if !record.zip64 && record.compressed >= U32_FULL {
            // `bound` makes this impossible; were it not, a 32-bit field would lie
            return Err(io::Error::other("deflate output over its bound"));
        }
        self.stage.push(out, &record.descriptor())?;
        self.end_entry(record, offset);
        Ok(())
    }

    /// Deflates `size` bytes of `file` into the stage, flushing it whenever it fills.
    fn deflate_streamed(
        &mut self,
        out: &mut dyn Sink,
        file: &File,
        size: u64,
        crc: &mut libdeflater::Crc,
    ) -> io::Result<u64> {
        self.input.resize(INPUT_BYTES, 0);
        let deflate = compressor(&mut self.deflate);
        let start = deflate.total_out();
        let mut done = 0;
        loop {
            let (n, flush) = if done < size {
                let want = INPUT_BYTES.min(usize::try_from(size - done).unwrap_or(usize::MAX));
                let n = read_at_least_one(file, &mut self.input[..want], done)?;
                crc.update(&self.input[..n]);
                done += n as u64;
                (n, FlushCompress::None)
            } else {
                (0, FlushCompress::Finish)
            };
            let mut input = &self.input[..n];
            loop {
                if self.stage.room() == 0 {
                    self.stage.flush(out)?;
                }
                let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
                let status = deflate
                    .compress(input, self.stage.spare(), flush)
                    .map_err(io::Error::other)?;
                let taken = usize::try_from(deflate.total_in() - in_before).expect("<= input");
                input = &input[taken..];
                let made = usize::try_from(deflate.total_out() - out_before).expect("<= spare");
                self.stage.commit(made);
                let drained = if flush == FlushCompress::Finish {
                    status == Status::StreamEnd
                } else {
                    // all input taken without filling the output: nothing is waiting
                    input.is_empty() && self.stage.room() > 0
                };
                if drained {
                    break;
                }
            }
            if flush == FlushCompress::Finish {
                return Ok(deflate.total_out() - start);
            }
        }
    }

    /// Records a written entry in the central directory.
    fn end_entry(&mut self, record: &Record, offset: u64) {
        record.push_central(&mut self.central, offset);
        self.entries += 1;
    }

    /// Writes the central directory and the end records, and flushes; returns the length.
    pub fn finish(mut self, out: &mut dyn Sink) -> Result<u64, ArchiveError> {
        self.stage.check()?;
        let offset = self.stage.offset();
        let size = self.central.len() as u64;
        let mut central = std::mem::take(&mut self.central);
        push_end(&mut central, self.entries, size, offset);
        let result = self
            .stage
            .push(out, &central)
            .and_then(|()| self.stage.flush(out))
            .and_then(|()| out.flush());
        self.stage.guard(result)?;
        Ok(self.stage.offset())
    }

    /// The bytes held for the central directory so far: the writer's memory beyond its
    /// fixed buffers, for a caller that wants to bound it.
    pub fn central_directory_bytes(&self) -> usize {
        self.central.len()
    }
}

/// The most bytes `size` bytes of data can take in the archive: their size when stored,
/// and for deflate a bound above zlib's `deflateBound` (stored blocks cost 5 bytes per
/// 64 KiB; an eighth more and 1 KiB leave room for any level).
fn bound(method: ZipMethod, size: u64) -> u64 {
    match method {
        ZipMethod::Stored => size,
        ZipMethod::Deflate => size.saturating_add(size / 8).saturating_add(1024),
    }
}

/// The compressor, made once per writer and reset for each entry.
fn compressor(slot: &mut Option<Box<Compress>>) -> &mut Compress {
    let deflate =
        slot.get_or_insert_with(|| Box::new(Compress::new(Compression::new(DEFLATE_LEVEL), false)));
    deflate.reset();
    deflate
}

fn eof_is_shrank(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        shrank()
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::path::Path;

    use super::super::testkit::{
        SparseSink, TOP, archive, assert_same_tree, fixture, python, run, save, sparse_source,
        walk, zip_check,
    };
    use super::super::{ArchiveError, ArchiveKind, Entry};
    use super::*;

    fn entry(path: &str) -> Entry<'_> {
        Entry {
            path,
            mtime: 1_700_000_000,
            mode: 0o644,
        }
    }

    /// Every tool on an archive of the fixture: `unzip -t`, extraction by `unzip`, by
    /// `bsdtar` from the file and from a pipe (libarchive's streaming reader, which walks the
    /// local headers and data descriptors), and Python's check of every entry.
    fn check_with_tools(method: ZipMethod, python_method: &str) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        fixture(&src);
        let zip = save(
            dir.path(),
            "a.zip",
            &archive(&src, ArchiveKind::Zip(method)),
        );
        let zip_path = zip.to_str().unwrap();

        let tested = run("unzip", &["-t", zip_path], None, None);
        assert!(tested.contains("No errors detected"), "{tested}");
        let extract = |name: &str| {
            let out = dir.path().join(name);
            fs::create_dir(&out).unwrap();
            out
        };
        let out = extract("unzip");
        run(
            "unzip",
            &["-q", zip_path, "-d", out.to_str().unwrap()],
            None,
            None,
        );
        assert_same_tree(&src, &out.join(TOP), true);
        let out = extract("bsdtar");
        run(
            "bsdtar",
            &["-xpf", zip_path, "-C", out.to_str().unwrap()],
            None,
            None,
        );
        assert_same_tree(&src, &out.join(TOP), true);
        let out = extract("bsdtar-stream");
        run(
            "bsdtar",
            &["-xpf", "-", "-C", out.to_str().unwrap()],
            Some(&zip),
            None,
        );
        // modes live in the central directory only, which a stream reaches last
        assert_same_tree(&src, &out.join(TOP), false);

        let count = python(
            &zip_check(),
            &[zip_path, src.to_str().unwrap(), TOP, python_method],
        );
        assert_eq!(count.trim(), (walk(&src).len() + 1).to_string());
    }

    #[test]
    fn issue_17_stored_zip_of_awkward_names_passes_unzip_bsdtar_and_python() {
        check_with_tools(ZipMethod::Stored, "0");
    }

    #[test]
    fn issue_17_deflated_zip_round_trips_through_every_reader() {
        check_with_tools(ZipMethod::Deflate, "8");
    }

    #[test]
    fn deflate_shrinks_text_inline_and_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = b"line of text\n"
            .iter()
            .copied()
            .cycle()
            .take(900_000)
            .collect();
        for len in [5_000, 900_000] {
            let file = File::open(save(dir.path(), "t", &text[..len])).unwrap();
            let mut out = Vec::new();
            let mut zip = ZipWriter::new(ZipMethod::Deflate);
            zip.add_file(&mut out, &entry("t.txt"), &file, len as u64)
                .unwrap();
            zip.finish(&mut out).unwrap();
            assert!(
                out.len() < len / 20,
                "{len} bytes of text took {}",
                out.len()
            );
            let descriptor = out.windows(4).any(|w| w == 0x0807_4b50u32.to_le_bytes());
            assert_eq!(
                descriptor,
                len > STAGE_BYTES,
                "a descriptor only when streamed"
            );
        }
    }

    #[test]
    fn issue_17_more_than_65535_entries_get_the_zip64_end_records() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::open(save(dir.path(), "one", b"one small entry")).unwrap();
        let mut out = Vec::new();
        let mut zip = ZipWriter::new(ZipMethod::Stored);
        zip.add_directory(&mut out, &entry("many")).unwrap();
        for i in 0..70_000 {
            zip.add_file(&mut out, &entry(&format!("many/{i:05}.txt")), &file, 15)
                .unwrap();
        }
        zip.finish(&mut out).unwrap();
        let path = save(dir.path(), "many.zip", &out);
        let path = path.to_str().unwrap();

        let tested = run("unzip", &["-tq", path], None, None);
        assert!(tested.contains("No errors detected"), "{tested}");
        let listed = run("bsdtar", &["-tf", path], None, None);
        assert_eq!(listed.lines().count(), 70_001);
        let script = r#"
import struct, sys, zipfile
data = open(sys.argv[1], 'rb').read()
end = data.rindex(b'PK\x05\x06')
assert struct.unpack_from('<H', data, end + 10)[0] == 0xFFFF, 'the classic count says: see zip64'
locator = data.rindex(b'PK\x06\x07')
record = struct.unpack_from('<Q', data, locator + 8)[0]
assert data[record:record + 4] == b'PK\x06\x06'
assert struct.unpack_from('<Q', data, record + 32)[0] == 70001
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    infos = z.infolist()
    assert len(infos) == 70001
    assert all(z.read(i) == b'one small entry' for i in infos[1:])
print('ok')
"#;
        assert_eq!(python(script, &[path]).trim(), "ok");
    }

    #[test]
    fn issue_17_an_entry_over_4_gib_gets_zip64_sizes_and_the_next_one_a_zip64_offset() {
        let dir = tempfile::tempdir().unwrap();
        let size = (4 << 30) + 3;
        // sparse: 4 GiB of zeros ending in "END"; the archive is sparse too
        let big = sparse_source(&dir.path().join("big"), size, b"END");
        let after = File::open(save(dir.path(), "after", b"after the big one")).unwrap();
        let path = dir.path().join("big.zip");
        let mut out = SparseSink::create(&path);
        let mut zip = ZipWriter::new(ZipMethod::Stored);
        zip.add_file(&mut out, &entry("big.bin"), &big, size)
            .unwrap();
        zip.add_file(&mut out, &entry("after.txt"), &after, 17)
            .unwrap();
        let len = zip.finish(&mut out).unwrap();
        assert_eq!(out.close(), len);
        check_big_zip(&path, size);
    }

    /// Python reads the central directory and the small entry; the big entry's local header,
    /// its last bytes and its data descriptor are found by hand (reading 4 GiB for a CRC
    /// check would make the test slow). `bsdtar` and `unzip` list both entries.
    fn check_big_zip(path: &Path, size: u64) {
        let path = path.to_str().unwrap();
        let script = r#"
import struct, sys, zipfile
path, size = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(path) as z:
    big, after = z.infolist()
    assert big.file_size == size and big.compress_size == size
    assert after.header_offset > 0xFFFFFFFF, after.header_offset
    assert z.read(after) == b'after the big one'
    crc = big.CRC
with open(path, 'rb') as f:
    f.seek(big.header_offset)
    head = f.read(30)
    sig, _, flags, method, _, _, crc0, c32, u32, n, m = struct.unpack('<IHHHHHIIIHH', head)
    assert sig == 0x04034b50 and flags & 8 and method == 0 and crc0 == 0
    assert (c32, u32) == (0xFFFFFFFF, 0xFFFFFFFF)
    extra = f.read(n + m)[n:]
    assert struct.unpack_from('<HH', extra) == (1, 16), 'a zip64 field in the local header'
    start = big.header_offset + 30 + n + m
    f.seek(start + size - 3)
    assert f.read(3) == b'END'
    sig, dcrc, dc, du = struct.unpack('<IIQQ', f.read(24))
    assert (sig, dcrc, dc, du) == (0x08074b50, crc, size, size), 'a 64-bit descriptor'
print('ok')
"#;
        assert_eq!(python(script, &[path, &size.to_string()]).trim(), "ok");
        let listed = run("unzip", &["-l", path], None, None);
        assert!(
            listed.contains(&size.to_string()) && listed.contains("after.txt"),
            "{listed}"
        );
        let listed = run("bsdtar", &["-tvf", path], None, None);
        assert!(listed.contains(&size.to_string()), "{listed}");
    }

    #[test]
    fn a_file_that_shrank_breaks_the_archive_and_no_trailer_follows() {
        let dir = tempfile::tempdir().unwrap();
        for declared in [10, STAGE_BYTES as u64 * 2] {
            let file = File::open(save(dir.path(), "f", b"12345")).unwrap();
            let mut out = Vec::new();
            let mut zip = ZipWriter::new(ZipMethod::Stored);
            let e = zip
                .add_file(&mut out, &entry("f"), &file, declared)
                .unwrap_err();
            assert!(
                matches!(&e, ArchiveError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof),
                "{e}"
            );
            assert!(zip.add_directory(&mut out, &entry("d")).is_err());
            assert!(zip.finish(&mut out).is_err());
            assert!(!out.windows(4).any(|w| w == b"PK\x05\x06"), "no end record");
        }
    }

    #[test]
    fn a_bad_path_writes_nothing_and_the_archive_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::open(save(dir.path(), "f", b"12345")).unwrap();
        let mut out = Vec::new();
        let mut zip = ZipWriter::new(ZipMethod::Stored);
        for bad in ["../f", "/f", "a\\..\\f"] {
            let e = zip.add_file(&mut out, &entry(bad), &file, 5).unwrap_err();
            assert!(matches!(e, ArchiveError::BadPath), "{bad}");
        }
        zip.add_file(&mut out, &entry("f"), &file, 5).unwrap();
        zip.finish(&mut out).unwrap();
        let path = save(dir.path(), "a.zip", &out);
        let listed = run("unzip", &["-Z1", path.to_str().unwrap()], None, None);
        assert_eq!(listed, "f\n");
    }
}
