//! A micro-benchmark of the writers, not a test: run it on a quiet machine with
//! `cargo test --release --lib archive::bench -- --ignored --nocapture`. It archives 1 GiB in
//! 64 files (page cache) to a reader on a loopback socket, as tar, stored zip and plain
//! `sendfile(2)` of the same files (what a `GET` of each does), then 10,000 files of 4 KiB,
//! and prints MB/s and the ratios to `sendfile`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use rustix::io::Errno;
use rustix::net::SendFlags;

use super::{ArchiveKind, ArchiveWriter, Entry, ZipMethod};
use crate::http::response::Sink;

/// The socket as the server's plain-HTTP stream sends on it: writes straight to the socket,
/// files with `sendfile(2)` after their head sent with `MSG_MORE`.
struct SocketSink(TcpStream);

impl Write for SocketSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for SocketSink {
    fn send_file(&mut self, mut head: &[u8], file: &File, start: u64, len: u64) -> io::Result<u64> {
        while !head.is_empty() {
            match rustix::net::send(&self.0, head, SendFlags::NOSIGNAL | SendFlags::MORE) {
                Ok(n) => head = &head[n..],
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut offset = start;
        while offset < start + len {
            let count = usize::try_from((start + len - offset).min(1 << 30)).unwrap();
            match rustix::fs::sendfile(&self.0, file, Some(&mut offset), count) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(len)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    Sendfile,
    Tar,
    StoredZip,
}

/// Sends `files` one way to a reader thread; returns (bytes received, seconds).
fn send(files: &[(String, File, u64)], way: Way) -> (u64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            match socket.read(&mut buf).unwrap() {
                0 => break total,
                n => total += n as u64,
            }
        }
    });
    let mut sink = SocketSink(TcpStream::connect(addr).unwrap());
    let started = Instant::now();
    let kind = match way {
        Way::Sendfile => None,
        Way::Tar => Some(ArchiveKind::Tar),
        Way::StoredZip => Some(ArchiveKind::Zip(ZipMethod::Stored)),
    };
    match kind {
        None => {
            for (_, file, len) in files {
                sink.send_file(&[], file, 0, *len).unwrap();
            }
        }
        Some(kind) => {
            let mut writer = ArchiveWriter::new(kind);
            for (name, file, len) in files {
                let entry = Entry {
                    path: name,
                    mtime: 1_700_000_000,
                    mode: 0o644,
                };
                writer.add_file(&mut sink, &entry, file, *len).unwrap();
            }
            writer.finish(&mut sink).unwrap();
        }
    }
    drop(sink);
    let total = reader.join().unwrap();
    (total, started.elapsed().as_secs_f64())
}

fn make_files(dir: &Path, count: usize, len: usize) -> Vec<(String, File, u64)> {
    let piece: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4093) as u8).collect();
    (0..count)
        .map(|i| {
            let name = format!("bench/f{i:05}.bin");
            let path = dir.join(format!("f{i:05}.bin"));
            fs::write(&path, &piece).unwrap();
            let file = File::open(&path).unwrap();
            let mut warm = Vec::new();
            (&file).read_to_end(&mut warm).unwrap(); // into the page cache
            (name, file, len as u64)
        })
        .collect()
}

fn run_set(title: &str, files: &[(String, File, u64)], rounds: usize) {
    let mut rates: Vec<(Way, Vec<f64>)> = [Way::Sendfile, Way::Tar, Way::StoredZip]
        .into_iter()
        .map(|w| (w, Vec::new()))
        .collect();
    for _ in 0..rounds {
        for (way, runs) in &mut rates {
            let (bytes, secs) = send(files, *way);
            runs.push(bytes as f64 / secs / 1e6);
        }
    }
    let median = |runs: &mut Vec<f64>| {
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    };
    let base = median(&mut rates[0].1);
    println!("{title}: median of {rounds} runs");
    for (way, runs) in &mut rates {
        let m = median(runs);
        println!(
            "  {way:?}: {m:.0} MB/s, {:.2}x sendfile (runs {runs:.0?})",
            m / base
        );
    }
}

#[test]
#[ignore = "a benchmark: run by hand, --release, on a quiet machine"]
fn bench_archive_writers_against_sendfile() {
    let dir = tempfile::tempdir().unwrap();
    let big = make_files(dir.path(), 64, 16 << 20);
    run_set("1 GiB in 64 files", &big, 5);
    drop(big);
    let small_dir = dir.path().join("small");
    fs::create_dir(&small_dir).unwrap();
    let small = make_files(&small_dir, 10_000, 4096);
    run_set("10,000 files of 4 KiB", &small, 5);
}
