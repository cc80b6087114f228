//! Test helpers for the archive writers: a folder of awkward names, a walk that archives it,
//! sinks for sparse multi-GiB archives, the real tools (`unzip`, `bsdtar`, GNU `tar`, Python)
//! and a comparison of an extracted tree with its source.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::{ArchiveKind, ArchiveWriter, Entry};
use crate::http::response::Sink;

/// The name of the archive's top folder in every fixture archive.
pub const TOP: &str = "top folder é";

/// Builds the fixture under `root`: names with spaces, `#`, `%`, quotes, `<`, non-ASCII, a
/// 200-byte name, a deep path, empty folders, an empty file, files on both sides of the
/// writers' size thresholds, an executable, a text file worth deflating, and distinct
/// mtimes (odd seconds, one before 1980). Returns nothing: the tree is the truth.
pub fn fixture(root: &Path) {
    let deep = (1..=30)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    let files: Vec<(String, Vec<u8>)> = vec![
        ("sp ace.txt".into(), b"spaces".to_vec()),
        ("hash#and%percent.txt".into(), b"# and %".to_vec()),
        ("quote\"s'n<angle>.txt".into(), b"quotes".to_vec()),
        (
            "café/日本語 ファイル.txt".into(),
            "ünïcödé".as_bytes().to_vec(),
        ),
        (format!("{}.bin", "n".repeat(196)), vec![1; 300]),
        (format!("{deep}/deep.txt"), b"deep".to_vec()),
        ("zero.bin".into(), Vec::new()),
        ("medium.bin".into(), pattern(100 * 1024)),
        ("large.bin".into(), pattern(1024 * 1024 + 7)),
        ("text.txt".into(), text(600 * 1024)),
        ("small text.txt".into(), text(5000)),
        ("run.sh".into(), b"#!/bin/sh\necho hi\n".to_vec()),
    ];
    for (name, bytes) in &files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
    }
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("a/b/empty too")).unwrap();
    // times last, deepest first, since making an entry changes its folder's time
    let mut all = walk(root);
    all.reverse();
    for (i, (rel, _)) in all.iter().enumerate() {
        let seconds = if rel == "sp ace.txt" {
            100_000_001 // 1973: before DOS time begins
        } else {
            1_600_000_001 + 7_777 * i as u64
        };
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        File::open(root.join(rel))
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

/// Bytes that do not repeat within 64 KiB, so that a misplaced piece shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn text(len: usize) -> Vec<u8> {
    let line = b"the quick brown fox jumps over the lazy dog, again and again\n";
    line.iter().copied().cycle().take(len).collect()
}

/// Every entry below `root`, relative, sorted, parents before children: (path, is_dir).
pub fn walk(root: &Path) -> Vec<(String, bool)> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<(String, bool)>) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let is_dir = path.is_dir();
            out.push((rel, is_dir));
            if is_dir {
                visit(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(root, root, &mut out);
    out
}

/// The archive of `root` as the router will make it: the top folder, then every entry.
pub fn archive(root: &Path, kind: ArchiveKind) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = ArchiveWriter::new(kind);
    let meta = fs::metadata(root).unwrap();
    writer
        .add_directory(&mut out, &Entry::of(TOP, &meta))
        .unwrap();
    for (rel, is_dir) in walk(root) {
        let path = format!("{TOP}/{rel}");
        let file = File::open(root.join(&rel)).unwrap();
        let meta = file.metadata().unwrap();
        let entry = Entry::of(&path, &meta);
        if is_dir {
            writer.add_directory(&mut out, &entry).unwrap();
        } else {
            writer
                .add_file(&mut out, &entry, &file, meta.len())
                .unwrap();
        }
    }
    let len = writer.finish(&mut out).unwrap();
    assert_eq!(len, out.len() as u64, "finish counts every byte");
    out
}

/// Checks that `extracted` holds exactly the tree of `source`: the same entries, the same
/// bytes, the same mtimes (to the second) and, where `modes`, the same permissions.
pub fn assert_same_tree(source: &Path, extracted: &Path, modes: bool) {
    let want = walk(source);
    let got = walk(extracted);
    assert_eq!(got, want, "the same entries");
    for (rel, is_dir) in want {
        let (a, b) = (source.join(&rel), extracted.join(&rel));
        let (ma, mb) = (fs::metadata(&a).unwrap(), fs::metadata(&b).unwrap());
        if !is_dir {
            assert_eq!(
                fs::read(&a).unwrap(),
                fs::read(&b).unwrap(),
                "bytes of {rel:?}"
            );
        }
        assert_eq!(ma.mtime(), mb.mtime(), "mtime of {rel:?}");
        if modes {
            assert_eq!(ma.mode() & 0o777, mb.mode() & 0o777, "mode of {rel:?}");
        }
    }
}

/// Runs a tool, with the file `stdin` fed to it through a pipe if given (a redirected file
/// would be seekable, and libarchive would read it as a file rather than as a stream);
/// panics with its stderr unless it succeeds, and names the package when the tool is
/// missing. Returns its stdout.
pub fn run(program: &str, args: &[&str], stdin: Option<&Path>, cwd: Option<&Path>) -> String {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let output = match command.spawn() {
        Ok(mut child) => {
            let feeder = stdin.map(|path| {
                let mut pipe = child.stdin.take().expect("stdin was piped");
                let mut file = File::open(path).unwrap();
                std::thread::spawn(move || io::copy(&mut file, &mut pipe).map(drop))
            });
            let output = child.wait_with_output().unwrap();
            if let Some(feeder) = feeder {
                feeder.join().unwrap().unwrap();
            }
            output
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let package = match program {
                "bsdtar" => "libarchive-tools",
                "python3" => "python3",
                other => other,
            };
            panic!("{program} is needed for this test: apt-get install {package}")
        }
        Err(e) => panic!("{program}: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {stderr}\n{stdout}"
    );
    stdout
}

/// Runs a Python script with `args`; its stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    run("python3", &all, None, None)
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// A sink into a file that leaves holes for zeros, so that a multi-GiB archive of a sparse
/// file costs no disk: all-zero writes and every `send_file` become seeks. Only for sources
/// that are all zeros where `send_file` reads them.
pub struct SparseSink {
    file: File,
}

impl SparseSink {
    pub fn create(path: &Path) -> Self {
        SparseSink {
            file: File::create(path).unwrap(),
        }
    }

    /// Sets the length to where the writing ended (a trailing hole has no bytes to end it).
    pub fn close(mut self) -> u64 {
        let end = self.file.stream_position().unwrap();
        self.file.set_len(end).unwrap();
        end
    }
}

impl Write for SparseSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        static ZEROS: [u8; 256 * 1024] = [0; 256 * 1024];
        let n = bytes.len().min(ZEROS.len());
        // a slice comparison is a memcmp, fast even in a debug build
        if bytes[..n] == ZEROS[..n] {
            self.file.seek(SeekFrom::Current(n as i64))?;
            return Ok(n);
        }
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for SparseSink {
    fn send_file(&mut self, head: &[u8], _zeros: &File, _start: u64, len: u64) -> io::Result<u64> {
        self.write_all(head)?;
        self.file.seek(SeekFrom::Current(len as i64))?;
        Ok(len)
    }
}

/// A sparse file of `len` zero bytes ending in `tail`.
pub fn sparse_source(path: &Path, len: u64, tail: &[u8]) -> File {
    let mut file = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    file.set_len(len).unwrap();
    file.seek(SeekFrom::Start(len - tail.len() as u64)).unwrap();
    file.write_all(tail).unwrap();
    file
}

/// The entries Python's `os.walk` sees below `root`, as archive names under `TOP`; shared
/// by the two checks below.
const PY_EXPECTED: &str = r#"
import os, sys
def expected(root, top, slash):
    names = {top + slash}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        base = top if rel == '.' else top + '/' + rel
        if rel != '.':
            names.add(base + slash)
        for f in files:
            names.add(base + '/' + f)
    return names
def source(root, top, name):
    rel = name[len(top) + 1:].rstrip('/')
    return os.path.join(root, rel) if rel else root
"#;

/// Python's `zipfile` on an archive of the fixture: `testzip()`, the entries, every entry's
/// bytes, the UTF-8 flag, the extended timestamp and the DOS time (UTC), the Unix mode and
/// the compression method of every non-empty file. Args: archive, root, top, method.
pub fn zip_check() -> String {
    PY_EXPECTED.to_owned()
        + r#"
import datetime, struct, zipfile
archive, root, top, method = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def ut_mtime(extra):
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from('<HH', extra, i)
        if tag == 0x5455:
            return struct.unpack_from('<i', extra, i + 5)[0]
        i += 4 + size
with zipfile.ZipFile(archive) as z:
    assert z.testzip() is None
    names = [i.filename for i in z.infolist()]
    assert len(names) == len(set(names)), 'no duplicates'
    assert set(names) == expected(root, top, '/'), set(names) ^ expected(root, top, '/')
    for info in z.infolist():
        st = os.stat(source(root, top, info.filename))
        assert ut_mtime(info.extra) == int(st.st_mtime), info.filename
        t = max(int(st.st_mtime), 315532800)
        d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        want = (d.year, d.month, d.day, d.hour, d.minute, d.second // 2 * 2)
        assert info.date_time == want, (info.filename, info.date_time, want)
        assert (info.external_attr >> 16) & 0o7777 == st.st_mode & 0o7777, info.filename
        assert bool(info.flag_bits & 0x800) == (not info.filename.isascii()), info.filename
        if info.is_dir():
            assert os.path.isdir(source(root, top, info.filename))
        else:
            data = open(source(root, top, info.filename), 'rb').read()
            assert z.read(info) == data, info.filename
            if data:
                assert info.compress_type == method, info.filename
print(len(names))
"#
}

/// Python's `tarfile` on an archive of the fixture: the entries, their types, bytes, mtimes
/// and modes, and a PAX `path` for every long or non-ASCII name. Args: archive, root, top.
pub fn tar_check() -> String {
    PY_EXPECTED.to_owned()
        + r#"
import tarfile
archive, root, top = sys.argv[1:4]
with tarfile.open(archive) as t:
    members = t.getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names)), 'no duplicates'
    assert set(names) == expected(root, top, ''), set(names) ^ expected(root, top, '')
    for m in members:
        src = source(root, top, m.name)
        st = os.stat(src)
        assert m.mtime == int(st.st_mtime), m.name
        assert m.mode == st.st_mode & 0o7777, m.name
        full = m.name + ('/' if m.isdir() else '')
        if len(full.encode()) > 100 or not full.isascii():
            assert m.pax_headers.get('path') == full, m.name
        if m.isdir():
            assert os.path.isdir(src), m.name
        else:
            assert m.isfile() and t.extractfile(m).read() == open(src, 'rb').read(), m.name
print(len(names))
"#
}
