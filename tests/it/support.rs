//! `TestServer` runs the real binary; raw-socket helpers read responses without trusting the
//! server's framing more than the test means to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long any single read in a test may wait before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with_args(&[])
    }

    /// Starts the server with `--port 0 --directory <fresh dir>` plus `args`, and waits for
    /// its `listening on` line.
    pub fn with_args(args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::in_dir(dir, args)
    }

    pub fn in_dir(dir: tempfile::TempDir, args: &[&str]) -> TestServer {
        TestServer::logging(dir, "debug", args)
    }

    /// As `with_args`, with `RUST_LOG` set to `filter` (it must let `listening on` through).
    pub fn with_log_filter(filter: &str, args: &[&str]) -> TestServer {
        TestServer::logging(tempfile::tempdir().expect("temp dir"), filter, args)
    }

    fn logging(dir: tempfile::TempDir, filter: &str, args: &[&str]) -> TestServer {
        TestServer::wrapped(dir, filter, &[], args)
    }

    /// As `with_args`, run through `wrapper`, a command that execs the server (`prlimit ...`).
    pub fn under(wrapper: &[&str], args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::wrapped(dir, "debug", wrapper, args)
    }

    fn wrapped(
        dir: tempfile::TempDir,
        filter: &str,
        wrapper: &[&str],
        args: &[&str],
    ) -> TestServer {
        let bin = env!("CARGO_BIN_EXE_http-server");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        let mut child = command
            .args(["--port", "0", "--directory"])
            .arg(dir.path())
            .args(args)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, addr)) = line.split_once("listening on ") {
                    let _ =
                        addr_tx.send(addr.trim().parse::<SocketAddr>().expect("address in log"));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server logs its address");
        TestServer {
            child,
            addr,
            dir,
            log,
            reader: Some(reader),
        }
    }

    /// Sends SIGTERM (a graceful shutdown); `wait` then gives the exit status.
    pub fn terminate(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
    }

    /// Stops the server with SIGTERM, asserts a clean exit, and returns its whole log (read to
    /// the end of its stderr).
    pub fn stop(&mut self) -> String {
        self.terminate();
        assert!(self.wait().success());
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader");
        }
        self.log()
    }

    /// Waits until the log contains `needle`, for lines with nothing to read on a socket
    /// (they are buffered for up to 100 ms); fails the test after `READ_TIMEOUT`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + READ_TIMEOUT;
        while !self.log().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "{needle:?} never logged:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server with SIGKILL (no clean-up of any kind runs) and hands back its
    /// directory, for a restart on it (`in_dir`).
    pub fn kill_hard(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after a signal) and returns its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not exit within 15 s");
    }

    /// Kills the server with SIGKILL (no shutdown at all) and hands back its directory, for a
    /// restart over it with `in_dir`.
    pub fn kill_keeping_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A connected client socket with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Sends `request` on a new connection and reads one response.
    pub fn exchange(&self, request: &[u8]) -> RawResponse {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        read_response(&mut stream)
    }

    /// A `ureq` agent that reports HTTP error statuses as responses, not errors.
    pub fn client(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(READ_TIMEOUT))
            .build()
            .into()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The head exactly as received, status line to blank line.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads a head byte by byte (so nothing after it is consumed), then a `Content-Length` body.
pub fn read_response(stream: &mut TcpStream) -> RawResponse {
    read_response_to(stream, false)
}

/// As `read_response`, for a response to HEAD: no body follows whatever the length says.
pub fn read_head_response(stream: &mut TcpStream) -> RawResponse {
    read_response_to(stream, true)
}

fn read_response_to(stream: &mut TcpStream, head_only: bool) -> RawResponse {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!(
                "connection closed mid-head after {:?}",
                String::from_utf8_lossy(&head)
            ),
            Err(e) => panic!(
                "reading head after {:?}: {e}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header colon");
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut response = RawResponse {
        status,
        head,
        headers,
        body: Vec::new(),
    };
    let no_body = head_only || status == 204 || status == 304 || status < 200;
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    if !no_body && chunked {
        response.body = read_chunked(stream);
    } else if !no_body {
        let len: usize = response
            .header("content-length")
            .expect("Content-Length")
            .parse()
            .unwrap();
        response.body = vec![0; len];
        stream.read_exact(&mut response.body).expect("body");
    }
    response
}

/// Reads a chunked body (RFC 9112 §7.1) strictly: hex sizes without extensions, CRLF after
/// every chunk, an empty trailer.
fn read_chunked(stream: &mut TcpStream) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).expect("chunk size line");
            line.push(byte[0]);
        }
        let size = std::str::from_utf8(&line[..line.len() - 2]).expect("ASCII size");
        let size = usize::from_str_radix(size, 16).expect("hex chunk size");
        let mut chunk = vec![0; size + 2];
        stream.read_exact(&mut chunk).expect("chunk data");
        assert_eq!(&chunk[size..], b"\r\n", "CRLF after chunk data");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Asserts that the peer closes the connection without sending anything more.
pub fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&rest)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection not closed: {e}"),
    }
}

/// `GET path` over HTTP/1.1 with a Host header.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// A deterministic pseudo-random buffer that uses every byte value.
pub fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A tmpfs of `size` (`1m`) mounted at `at` for one test (root only), unmounted on drop,
/// lazily: the server may still hold it, or an assertion failed while it was mounted.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(mounted.success(), "mount -t tmpfs failed");
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
