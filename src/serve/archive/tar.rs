//! The tar writer: POSIX ustar headers (POSIX.1-2001 `pax` format), with a PAX extended
//! header (typeflag `x`) before an entry whose name is over 100 bytes or not ASCII, whose
//! size is 8 GiB or more, or whose mtime does not fit the header's octal field. Folders are
//! entries of their own (typeflag `5`), so empty ones survive. A file's data follows its
//! header unchanged, so it goes out through `Sink::send_file` with the header as its head;
//! files up to `INLINE_MAX_BYTES` are read into the staging buffer instead, so that a folder
//! of small files leaves in few large writes rather than two syscalls a file.

use std::fs::File;

use super::stage::Stage;
use super::{ArchiveError, Entry, check_path};
use crate::http::response::Sink;

/// Tar's unit: headers and data are padded to it.
const BLOCK: usize = 512;

/// Files up to this size are copied through the staging buffer, not sent with `sendfile`.
const INLINE_MAX_BYTES: u64 = 64 * 1024;

/// The largest value 11 octal digits (the size and mtime fields) hold: 8 GiB - 1.
const OCTAL_11_MAX: u64 = 0o77_777_777_777;

/// The ustar name field: a name that is longer, or not ASCII, goes in a PAX `path` record.
const NAME_FIELD_BYTES: usize = 100;

/// The name of the extended header's own entry, as Python's `tarfile` writes it; readers that
/// know PAX never show it.
const PAX_ENTRY_NAME: &[u8] = b"././@PaxHeader";

const TYPE_FILE: u8 = b'0';
const TYPE_DIRECTORY: u8 = b'5';
const TYPE_PAX: u8 = b'x';

/// A tar archive in the making.
pub struct TarWriter {
    stage: Stage,
}

impl TarWriter {
    pub fn new() -> Self {
        TarWriter {
            stage: Stage::new(),
        }
    }

    /// Adds a folder entry (`path/`, typeflag `5`). Nothing is written on `BadPath`.
    pub fn add_directory(&mut self, out: &mut dyn Sink, entry: &Entry) -> Result<(), ArchiveError> {
        self.stage.check()?;
        check_path(entry.path)?;
        let headers = headers(&format!("{}/", entry.path), entry, 0, TYPE_DIRECTORY);
        let result = self.stage.push(out, &headers);
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
        check_path(entry.path)?;
        let headers = headers(entry.path, entry, size, TYPE_FILE);
        let result = self.write_file(out, &headers, file, size);
        Ok(self.stage.guard(result)?)
    }

    fn write_file(
        &mut self,
        out: &mut dyn Sink,
        headers: &[u8],
        file: &File,
        size: u64,
    ) -> std::io::Result<()> {
        self.stage.push(out, headers)?;
        if size <= INLINE_MAX_BYTES {
            let len = usize::try_from(size).expect("an inline file fits in memory");
            self.stage.make_room(out, len)?;
            let mut done = 0;
            while done < size {
                done += self.stage.read_from(file, done, size - done)?.len() as u64;
            }
        } else {
            self.stage.send_file(out, file, size)?;
        }
        self.stage.zeros(out, padding(size))
    }

    /// Writes the end of the archive (two zero blocks) and flushes; returns its length.
    pub fn finish(mut self, out: &mut dyn Sink) -> Result<u64, ArchiveError> {
        self.stage.check()?;
        let result = self
            .stage
            .zeros(out, BLOCK)
            .and_then(|()| self.stage.zeros(out, BLOCK))
            .and_then(|()| self.stage.flush(out))
            .and_then(|()| out.flush());
        self.stage.guard(result)?;
        Ok(self.stage.offset())
    }
}

/// The zero bytes that bring `size` up to a whole block.
fn padding(size: u64) -> usize {
    let partial = (size % BLOCK as u64) as usize;
    (BLOCK - partial) % BLOCK
}

/// The header blocks of one entry: a PAX extended header when the ustar fields cannot say it
/// all, then the ustar header. `name` has the trailing `/` of a folder.
pub fn headers(name: &str, entry: &Entry, size: u64, typeflag: u8) -> Vec<u8> {
    let long_name = name.len() > NAME_FIELD_BYTES || !name.is_ascii();
    let big = size > OCTAL_11_MAX;
    let odd_time = u64::try_from(entry.mtime).map_or(true, |t| t > OCTAL_11_MAX);
    let mut records = Vec::new();
    if long_name {
        pax_record(&mut records, "path", name);
    }
    if big {
        pax_record(&mut records, "size", &size.to_string());
    }
    if odd_time {
        pax_record(&mut records, "mtime", &entry.mtime.to_string());
    }
    let mut out = Vec::with_capacity(3 * BLOCK + records.len());
    let mtime_field = entry.mtime.clamp(0, OCTAL_11_MAX as i64) as u64;
    if !records.is_empty() {
        let pax_size = records.len() as u64;
        out.extend_from_slice(&ustar(
            PAX_ENTRY_NAME,
            pax_size,
            mtime_field,
            0o644,
            TYPE_PAX,
        ));
        out.extend_from_slice(&records);
        out.resize(out.len() + padding(pax_size), 0);
    }
    let name_field = if long_name {
        fallback_name(name)
    } else {
        name.as_bytes().to_vec()
    };
    out.extend_from_slice(&ustar(&name_field, size, mtime_field, entry.mode, typeflag));
    out
}

/// What a reader that ignores PAX sees instead of a long or non-ASCII name: its first 100
/// bytes with every non-ASCII byte as `_`, keeping a folder's trailing `/`.
fn fallback_name(name: &str) -> Vec<u8> {
    let mut short: Vec<u8> = name
        .bytes()
        .map(|b| if b.is_ascii() { b } else { b'_' })
        .take(NAME_FIELD_BYTES)
        .collect();
    if name.ends_with('/')
        && let Some(last) = short.last_mut()
    {
        *last = b'/';
    }
    short
}

/// One PAX record, `"%d %s=%s\n"`, whose leading length counts its own digits (POSIX.1-2001,
/// pax "extended header").
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + digits(rest);
    if digits(len) > digits(rest) {
        len += 1;
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// A ustar header block (POSIX.1-1988 as amended: name 100, mode 8, uid 8, gid 8, size 12,
/// mtime 12, chksum 8, typeflag 1, linkname 100, magic "ustar\0", version "00", uname 32,
/// gname 32, devmajor 8, devminor 8, prefix 155). Owner is 0/0 with no names: the archive
/// says nothing about the server's accounts.
fn ustar(name: &[u8], size: u64, mtime: u64, mode: u32, typeflag: u8) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = &name[..name.len().min(NAME_FIELD_BYTES)];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size <= OCTAL_11_MAX {
        octal(&mut h[124..136], size);
    } else {
        // GNU base-256: the high bit of the first byte, then the value big-endian. The PAX
        // `size` record says the same to readers that know PAX.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // the checksum is the sum of all bytes with its own field read as spaces
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h
}

/// Writes `value` as zero-padded octal digits filling `field` but its last byte, a NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    debug_assert_eq!(text.len(), width, "the value fits its field");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry<'_> {
        Entry {
            path,
            mtime: 1_700_000_000,
            mode: 0o640,
        }
    }

    fn field(h: &[u8], range: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&h[range])
            .unwrap()
            .trim_end_matches('\0')
    }

    #[test]
    fn a_short_ascii_name_needs_one_ustar_block() {
        let h = headers("dir/a.txt", &entry("dir/a.txt"), 5, TYPE_FILE);
        assert_eq!(h.len(), BLOCK);
        assert_eq!(field(&h, 0..100), "dir/a.txt");
        assert_eq!(field(&h, 100..108), "0000640");
        assert_eq!(field(&h, 124..136), "00000000005");
        assert_eq!(field(&h, 136..148), format!("{:011o}", 1_700_000_000));
        assert_eq!(&h[257..265], b"ustar\x0000");
        let stored = u32::from_str_radix(field(&h, 148..155), 8).unwrap();
        let mut copy = h.clone();
        copy[148..156].fill(b' ');
        assert_eq!(stored, copy.iter().map(|&b| u32::from(b)).sum::<u32>());
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for value in [
            "",
            "x",
            &"y".repeat(90),
            &"z".repeat(994),
            &"w".repeat(9_990),
        ] {
            let mut out = Vec::new();
            pax_record(&mut out, "path", value);
            let text = std::str::from_utf8(&out).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len(), "{text:?}");
            assert!(text.ends_with(&format!("path={value}\n")));
        }
    }

    #[test]
    fn long_or_non_ascii_names_big_sizes_and_odd_times_go_in_pax_records() {
        let name = "é/".repeat(60);
        let h = headers(&name, &entry("x"), 0, TYPE_DIRECTORY);
        assert_eq!(h[156], TYPE_PAX);
        let records = String::from_utf8_lossy(&h[BLOCK..2 * BLOCK]);
        assert!(records.contains(&format!(" path={name}\n")));
        let ustar = &h[2 * BLOCK..];
        assert_eq!(ustar[156], TYPE_DIRECTORY);
        assert!(ustar[..100].is_ascii() && ustar[99] == b'/');

        let nine_gib = 9 << 30;
        let h = headers("big", &entry("big"), nine_gib, TYPE_FILE);
        let records = String::from_utf8_lossy(&h[BLOCK..2 * BLOCK]);
        assert!(
            records.contains(&format!(" size={nine_gib}\n")),
            "{records}"
        );
        let ustar = &h[2 * BLOCK..];
        assert_eq!(ustar[124], 0x80, "base-256 for readers without PAX");
        assert_eq!(
            u64::from_be_bytes(ustar[128..136].try_into().unwrap()),
            nine_gib
        );

        let old = Entry {
            mtime: -86_400,
            ..entry("old")
        };
        let h = headers("old", &old, 0, TYPE_FILE);
        assert!(String::from_utf8_lossy(&h[BLOCK..2 * BLOCK]).contains(" mtime=-86400\n"));
        assert_eq!(field(&h[2 * BLOCK..], 136..148), "00000000000");
    }

    #[test]
    fn padding_fills_the_last_block() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }

    mod tools {
        use std::fs::{self, File};

        use super::super::super::testkit::{
            SparseSink, TOP, archive, assert_same_tree, fixture, python, run, save, sparse_source,
            tar_check,
        };
        use super::super::super::{ArchiveKind, Entry};
        use super::super::TarWriter;

        #[test]
        fn issue_17_tar_of_awkward_names_extracts_whole_with_gnu_tar_bsdtar_and_python() {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            fs::create_dir(&src).unwrap();
            fixture(&src);
            let tar = save(dir.path(), "a.tar", &archive(&src, ArchiveKind::Tar));
            let tar = tar.to_str().unwrap();

            let listing = run("tar", &["-tvf", tar], None, None);
            assert!(
                listing.contains("deep.txt") && listing.contains("empty too/"),
                "{listing}"
            );
            assert!(run("bsdtar", &["-tvf", tar], None, None).contains("zero.bin"));

            for (tool, flags) in [("tar", "-xpf"), ("bsdtar", "-xpf")] {
                let out = dir.path().join(tool);
                fs::create_dir(&out).unwrap();
                run(tool, &[flags, tar, "-C", out.to_str().unwrap()], None, None);
                assert_same_tree(&src, &out.join(TOP), true);
            }
            let count = python(&tar_check(), &[tar, src.to_str().unwrap(), TOP]);
            assert_eq!(
                count.trim(),
                (super::super::super::testkit::walk(&src).len() + 1).to_string()
            );
        }

        #[test]
        fn issue_17_a_size_over_8_gib_goes_in_a_pax_record_that_every_reader_takes() {
            let dir = tempfile::tempdir().unwrap();
            let nine_gib: u64 = 9 << 30;
            // a sparse source and a sparse archive: a 9 GiB entry that costs no disk
            let big = sparse_source(&dir.path().join("big"), nine_gib, &[]);
            let after = save(dir.path(), "after", b"after the big one");
            let path = dir.path().join("big.tar");
            let mut out = SparseSink::create(&path);
            let mut tar = TarWriter::new();
            let entry = |path| Entry {
                path,
                mtime: 1_700_000_000,
                mode: 0o644,
            };
            tar.add_file(&mut out, &entry("big.bin"), &big, nine_gib)
                .unwrap();
            let after = File::open(after).unwrap();
            tar.add_file(&mut out, &entry("after.txt"), &after, 17)
                .unwrap();
            let len = tar.finish(&mut out).unwrap();
            assert_eq!(out.close(), len);
            let tar = path.to_str().unwrap();

            for tool in ["tar", "bsdtar"] {
                let listing = run(tool, &["-tvf", tar], None, None);
                assert!(listing.contains(&nine_gib.to_string()), "{tool}: {listing}");
                assert!(listing.contains("after.txt"), "{tool}: {listing}");
            }
            let script = r#"
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    big, after = t.getmembers()
    assert big.size == 9 << 30 and big.pax_headers['size'] == str(9 << 30), big.pax_headers
    assert t.extractfile(after).read() == b'after the big one'
print('ok')
"#;
            assert_eq!(python(script, &[tar]).trim(), "ok");
        }
    }
}
