//! Interoperability with an independent client of the resumable-upload draft (issue 18):
//! tus-js-client, in its IETF mode (`protocol: 'ietf-draft-05'`, interop version 6, the
//! newest any published version speaks), run by Node.js through `tests/interop/tus_upload.js`
//! against the real binary: a whole upload in several appends, the data sent with the
//! creating request (the 104 and the 201), an upload stopped and resumed from the server's
//! offset by a second run, and an append cut off by a proxy and retried.
//!
//! The client is the version `tests/interop/package-lock.json` pins; when it is not installed
//! the first test runs `npm ci --prefix tests/interop` (which needs the npm registry) and fails,
//! saying so, if that does not work.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::support::{TestServer, binary};

const MIB: usize = 1 << 20;

/// How long one run of the client may take; a few MiB take well under a second here.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Installs the pinned client once when `node_modules` lacks it. The mutex keeps this binary's
/// tests from racing; the file lock, other test processes (a second `cargo test`).
fn ensure_client() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = interop_dir();
    let installed = dir.join("node_modules/tus-js-client/package.json");
    if installed.exists() {
        return;
    }
    let lock = File::open(dir.join("package.json")).expect("tests/interop/package.json");
    lock.lock().expect("lock tests/interop/package.json");
    if installed.exists() {
        return;
    }
    let run = Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(&dir)
        .args(["--no-audit", "--no-fund"])
        .output();
    let why = match run {
        Ok(out) if out.status.success() && installed.exists() => return,
        Ok(out) => format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("npm: {e}"),
    };
    panic!(
        "tus-js-client is not installed in tests/interop/node_modules and installing it failed; \
         run `npm ci --prefix tests/interop` (needs Node.js, npm and the npm registry):\n{why}"
    );
}

/// What one run of the script printed: one event per line (see `tus_upload.js`).
struct Run {
    lines: Vec<String>,
}

impl Run {
    /// The fields of each line that starts with `kind`.
    fn events(&self, kind: &str) -> Vec<Vec<&str>> {
        self.lines
            .iter()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|fields| fields[0] == kind)
            .map(|fields| fields[1..].to_vec())
            .collect()
    }

    /// `(method, Upload-Offset sent)` of each request, the offset `None` where none was sent.
    fn requests(&self) -> Vec<(&str, Option<usize>)> {
        self.events("REQUEST")
            .into_iter()
            .map(|f| (f[0], f[2].parse().ok()))
            .collect()
    }

    /// The Upload-Offset sent by each PATCH.
    fn patch_offsets(&self) -> Vec<usize> {
        let patches = self.requests().into_iter().filter(|r| r.0 == "PATCH");
        patches
            .map(|r| r.1.expect("a PATCH sends Upload-Offset"))
            .collect()
    }

    /// `(status, Location, Upload-Offset, Upload-Complete)` of the responses to `method`.
    fn responses(&self, method: &str) -> Vec<(u16, String, String, String)> {
        let all = self.events("RESPONSE").into_iter();
        all.filter(|f| f[0] == method)
            .map(|f| (f[1].parse().unwrap(), f[2].into(), f[3].into(), f[4].into()))
            .collect()
    }

    /// The bytes the server accepted, by the client's count of each append it answered.
    fn accepted(&self) -> usize {
        let chunks = self.events("CHUNK").into_iter();
        chunks.map(|f| f[0].parse::<usize>().unwrap()).sum()
    }

    /// The upload resource's URL, from the run's last line (`DONE` or `STOPPED`).
    fn last(&self, kind: &str) -> String {
        let last = self.lines.last().map(|l| l.split(' ').collect::<Vec<_>>());
        match last.as_deref() {
            Some([k, url]) if *k == kind => url.to_string(),
            _ => panic!("the run did not end in {kind}:\n{}", self.lines.join("\n")),
        }
    }
}

/// Runs `node tus_upload.js endpoint file flags...` to its end; fails the test if node fails.
fn tus(endpoint: &str, file: &Path, flags: &[&str]) -> Run {
    ensure_client();
    let dir = interop_dir();
    let child = Command::new("node")
        .arg(dir.join("tus_upload.js"))
        .arg(endpoint)
        .arg(file)
        .args(flags)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Debian package nodejs)");
    let pid = child.id();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = result.recv_timeout(RUN_TIMEOUT) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("tus-js-client did not finish within {RUN_TIMEOUT:?}");
    };
    let output = output.expect("node's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert!(
        output.status.success(),
        "tus-js-client failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Run { lines }
}

/// `len` bytes of test data in a file of their own, beside the server's directory.
fn source(len: usize, seed: u64) -> (tempfile::NamedTempFile, Vec<u8>) {
    let data = binary(len, seed);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&data).unwrap();
    (file, data)
}

fn assert_stored(server: &TestServer, name: &str, data: &[u8]) {
    let stored = std::fs::read(server.path(name)).expect("the uploaded file");
    assert!(stored == data, "{name}: {} bytes differ", stored.len());
}

#[test]
fn tus_js_client_uploads_a_file_in_appends_of_one_mib() {
    let server = TestServer::start();
    let len = 3 * MIB + 123_457;
    let (file, data) = source(len, 1);
    let run = tus(
        &server.url("/files/whole.bin"),
        file.path(),
        &["--chunk", "1048576"],
    );

    // creation with Upload-Complete: ?0 and no content: 201, Location, offset 0
    let created = &run.responses("POST")[0];
    assert_eq!(created.0, 201, "{:?}", run.lines);
    assert!(created.1.starts_with("/uploads/"), "{created:?}");
    assert_eq!((created.2.as_str(), created.3.as_str()), ("0", "?0"));
    assert!(
        run.events("INTERIM").is_empty(),
        "no 104 for an empty creation"
    );
    // one append per MiB, each from the offset the last answer gave
    assert_eq!(run.patch_offsets(), [0, MIB, 2 * MIB, 3 * MIB]);
    let appends = run.responses("PATCH");
    assert!(
        appends[..3].iter().all(|r| r.0 == 201 && r.3 == "?0"),
        "{appends:?}"
    );
    // version 6: the completing append gets the creating request's answer and ?1
    let last = &appends[3];
    assert_eq!(last.0, 201);
    assert_eq!(last.1, "/files/whole.bin");
    assert_eq!((last.2.clone(), last.3.as_str()), (len.to_string(), "?1"));
    assert_eq!(run.accepted(), len);
    assert!(run.last("DONE").ends_with(&created.1));
    assert_stored(&server, "whole.bin", &data);
}

#[test]
fn tus_js_client_sends_data_with_the_creation_and_sees_the_104() {
    let server = TestServer::start();
    let (file, data) = source(2 * MIB + 5, 2);
    let flags = ["--chunk", "1048576", "--with-creation"];
    let run = tus(&server.url("/files/early.bin"), file.path(), &flags);

    // the 104 names the upload resource before the 201 does, with the draft-05 limits
    let interim = run.events("INTERIM");
    assert_eq!(interim.len(), 1, "{:?}", run.lines);
    assert_eq!(interim[0][0], "104");
    let created = &run.responses("POST")[0];
    assert_eq!(created.0, 201);
    assert_eq!(
        interim[0][1], created.1,
        "the 104 and the 201 name one resource"
    );
    let limit = interim[0][3..].join(" ");
    assert!(
        limit.contains("max-size=") && limit.contains("expires="),
        "{limit}"
    );
    assert_eq!((created.2.as_str(), created.3.as_str()), ("1048576", "?0"));
    assert_eq!(run.patch_offsets(), [MIB, 2 * MIB]);
    assert_stored(&server, "early.bin", &data);

    // all in one request: the 201 of a plain upload, its Location the file itself
    let (file, data) = source(MIB + 7, 3);
    let flags = ["--chunk", "8388608", "--with-creation"];
    let run = tus(&server.url("/files/once.bin"), file.path(), &flags);
    let created = &run.responses("POST")[0];
    let answer = (created.0, created.1.as_str(), created.3.as_str());
    assert_eq!(answer, (201, "/files/once.bin", "?1"), "{:?}", run.lines);
    assert!(run.patch_offsets().is_empty());
    assert_stored(&server, "once.bin", &data);
}

#[test]
fn tus_js_client_declares_the_length_with_the_last_append() {
    let server = TestServer::start();
    let len = 2 * MIB + 11;
    let (file, data) = source(len, 6);
    let flags = ["--chunk", "1048576", "--defer-length"];
    let run = tus(&server.url("/files/later.bin"), file.path(), &flags);
    let lengths: Vec<(&str, &str)> = run.events("REQUEST").iter().map(|f| (f[0], f[3])).collect();
    let last = len.to_string();
    let expected = [
        ("POST", "-"),
        ("PATCH", "-"),
        ("PATCH", "-"),
        ("PATCH", last.as_str()),
    ];
    assert_eq!(lengths, expected, "{:?}", run.lines);
    let answer = &run.responses("PATCH")[2];
    assert_eq!(
        (answer.0, answer.1.as_str(), answer.3.as_str()),
        (201, "/files/later.bin", "?1")
    );
    assert_stored(&server, "later.bin", &data);
}

#[test]
fn tus_js_client_resumes_a_stopped_upload_from_the_servers_offset() {
    let server = TestServer::start();
    let len = 3 * MIB + 99;
    let (file, data) = source(len, 4);
    let endpoint = server.url("/files/resumed.bin");
    let first = tus(&endpoint, file.path(), &["--stop-after", "1"]);
    let upload = first.last("STOPPED");
    assert_eq!(first.patch_offsets(), [0]);
    assert!(
        !server.path("resumed.bin").exists(),
        "the target waits for completion"
    );

    // a second client process, knowing only the upload's URL
    let second = tus(&endpoint, file.path(), &["--resume", &upload]);
    let requests = second.requests();
    assert_eq!(requests[0], ("HEAD", None), "{:?}", second.lines);
    assert!(requests.iter().all(|r| r.0 != "POST"), "no second creation");
    let offset = &second.responses("HEAD")[0];
    assert_eq!(offset.0, 204);
    assert_eq!(
        (offset.2.clone(), offset.3.as_str()),
        (MIB.to_string(), "?0")
    );
    assert_eq!(second.patch_offsets(), [MIB, 2 * MIB, 3 * MIB]);
    assert_eq!(second.accepted(), len - MIB, "only the rest was sent again");
    assert_eq!(second.last("DONE"), upload);
    assert_stored(&server, "resumed.bin", &data);
}

#[test]
fn tus_js_client_retries_an_append_cut_off_mid_body_from_what_arrived() {
    let server = TestServer::start();
    let len = 2 * MIB + 3;
    let (file, data) = source(len, 5);
    let cut_at = 300_000;
    let proxy = CuttingProxy::start(server.addr, cut_at);
    let endpoint = format!("http://{}/files/cut.bin", proxy.addr);
    let run = tus(&endpoint, file.path(), &["--chunk", "1048576"]);
    assert!(proxy.cut.load(Ordering::SeqCst), "the proxy cut a PATCH");

    // the first append failed; the retry asked for the offset (again, should it meet the cut
    // append still being settled: 409) and went on from there
    let requests = run.requests();
    assert_eq!(
        requests[..3],
        [("POST", None), ("PATCH", Some(0)), ("HEAD", None)],
        "{:?}",
        run.lines
    );
    let heads = run.responses("HEAD");
    let kept: usize = heads.last().unwrap().2.parse().expect("Upload-Offset");
    assert!(0 < kept && kept < cut_at, "kept {kept} of the cut append");
    let offsets = run.patch_offsets();
    assert_eq!(
        offsets[offsets.len() - 2..],
        [kept, kept + MIB],
        "{:?}",
        run.lines
    );
    assert_eq!(
        run.accepted(),
        len - kept,
        "only what the server lacked was sent again"
    );
    assert_stored(&server, "cut.bin", &data);
}

/// A loopback TCP proxy in front of the server that cuts the connection carrying the first
/// `PATCH` once `cut_at` bytes of it (from its request line) went through, both ways at once
/// as a dropped link would; every other connection it relays untouched.
struct CuttingProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn start(server: SocketAddr, cut_at: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let done = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let done = done.clone();
                std::thread::spawn(move || relay(client, server, cut_at, &done));
            }
        });
        CuttingProxy { addr, cut }
    }
}

fn relay(client: TcpStream, server: SocketAddr, cut_at: usize, done: &AtomicBool) {
    let Ok(upstream) = TcpStream::connect(server) else {
        return;
    };
    let (mut down_from, mut down_to) = (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut down_from, &mut down_to);
        let _ = down_to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (client, upstream);
    // what went up before the PATCH (small: one empty creation), then the PATCH's bytes so far
    let mut before = Vec::new();
    let mut patch_bytes: Option<usize> = None;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut send = &buf[..n];
        if patch_bytes.is_none() && !done.load(Ordering::SeqCst) {
            before.extend_from_slice(send);
            if let Some(at) = before.windows(6).position(|w| w == b"PATCH ") {
                patch_bytes = Some(before.len() - at);
            }
        } else if let Some(sent) = patch_bytes.as_mut() {
            *sent += n;
        }
        if let Some(sent) = patch_bytes.filter(|&s| s >= cut_at) {
            send = &send[..n - (sent - cut_at).min(n)];
            let _ = to.write_all(send);
            done.store(true, Ordering::SeqCst);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(send).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
