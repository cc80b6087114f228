//! Issue 8: TLS with certificates made in the test, through rustls as a client and through
//! `curl --cacert`; handshakes that go wrong; records trickled past the timeouts; start-up
//! errors; reload on SIGHUP.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{READ_TIMEOUT, TestServer, assert_closed, binary};

/// A self-signed certificate for localhost and 127.0.0.1, written as `cert.pem` and
/// `key.pem` into `dir`.
struct Pair {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn make_pair(dir: &Path, tag: &str) -> Pair {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join(format!("{tag}cert.pem"));
    let key = dir.join(format!("{tag}key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Pair {
        cert,
        key,
        der: made.cert.der().clone(),
    }
}

fn tls_server(pair: &Pair, extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--tls-cert",
        pair.cert.to_str().unwrap(),
        "--tls-key",
        pair.key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    TestServer::with_args(&args)
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn client_config(
    trusted: &CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `server` that trusts `trusted`, handshake done.
fn connect_tls(
    server: &TestServer,
    trusted: &CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<TlsStream, std::io::Error> {
    let config = client_config(trusted, version);
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut stream = StreamOwned::new(conn, server.connect());
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// Reads one response (head byte by byte, then a `Content-Length` body) from any stream.
fn read_tls_response(stream: &mut impl Read) -> (u16, String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    (status, head, body)
}

#[test]
fn issue_8_tls_1_3_and_1_2_with_alpn_http_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &[]);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut stream = connect_tls(&server, &pair.der, version).unwrap();
        assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(stream.conn.protocol_version(), Some(version.version));
        stream
            .write_all(b"GET /echo/secure HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, _, body) = read_tls_response(&mut stream);
        assert_eq!((status, body.as_slice()), (200, &b"secure"[..]));
    }
    server.wait_for_log("access: reads by anyone, writes by anyone, TLS on");
}

#[test]
fn issue_8_uploads_and_downloads_over_one_tls_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &[]);
    let data = binary(3 << 20, 8);
    let mut stream = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    let head = format!(
        "PUT /files/big.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&data).unwrap();
    assert_eq!(read_tls_response(&mut stream).0, 201);
    assert!(std::fs::read(server.path("big.bin")).unwrap() == data);
    for _ in 0..2 {
        stream
            .write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, _, body) = read_tls_response(&mut stream);
        assert_eq!(status, 200);
        assert!(body == data, "download differs");
    }
    // a ranged download goes through the same path
    stream
        .write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-19\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_tls_response(&mut stream);
    assert_eq!((status, body.as_slice()), (206, &data[10..20]));
}

#[test]
fn issue_8_curl_with_cacert() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &[]);
    let url = format!("https://127.0.0.1:{}/files/c.txt", server.addr.port());
    let upload = dir.path().join("up.txt");
    std::fs::write(&upload, "over tls\n").unwrap();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&pair.cert)
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-T",
            upload.to_str().unwrap()
        ]),
        "201"
    );
    assert_eq!(curl(&[]), "over tls\n");
    // without the CA, curl refuses the certificate
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(&url)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn issue_8_plain_http_on_the_tls_port_gets_a_plain_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = tls_server(&make_pair(dir.path(), ""), &[]);
    let response = server.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 400);
    assert!(response.text().contains("https://"), "{}", response.text());
}

#[test]
fn issue_8_stalled_or_broken_handshakes_cost_one_thread_for_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &["--header-timeout", "1"]);
    // silent; half a record header; a record header announcing more than is sent
    for sent in [
        &b""[..],
        &[0x16, 0x03],
        &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01],
    ] {
        let mut stream = server.connect();
        stream.write_all(sent).unwrap();
        let started = std::time::Instant::now();
        assert_closed(&mut stream);
        assert!(started.elapsed() < READ_TIMEOUT, "{sent:?}");
    }
    // garbage that claims to be a handshake gets an alert at most, then a close
    let mut stream = server.connect();
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.len() < 16, "{rest:?}");
    // and the server goes on serving
    let mut good = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    good.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_tls_response(&mut good).0, 200);
    server.wait_for_log("TLS handshake failed");
}

#[test]
fn issue_8_a_client_offering_only_h2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &[]);
    let mut config = (*client_config(&pair.der, &rustls::version::TLS13)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let conn = ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
        .unwrap();
    let mut stream = StreamOwned::new(conn, server.connect());
    let mut handshake = Ok((0, 0));
    while stream.conn.is_handshaking() && handshake.is_ok() {
        handshake = stream.conn.complete_io(&mut stream.sock);
    }
    assert!(handshake.is_err());
}

#[test]
fn issue_8_sighup_reloads_the_certificate_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_pair(dir.path(), "");
    let server = tls_server(&first, &[]);
    let mut old = connect_tls(&server, &first.der, &rustls::version::TLS13).unwrap();
    let second = make_pair(dir.path(), "next-");
    std::fs::copy(&second.cert, &first.cert).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_for_log("reloaded the TLS certificate and key");
    assert!(connect_tls(&server, &first.der, &rustls::version::TLS13).is_err());
    let mut new = connect_tls(&server, &second.der, &rustls::version::TLS13).unwrap();
    for stream in [&mut old, &mut new] {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        assert_eq!(read_tls_response(stream).0, 200);
    }
    // a broken pair keeps the one in use
    std::fs::write(&first.cert, "not pem").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_for_log("kept the old TLS certificate");
    assert!(connect_tls(&server, &second.der, &rustls::version::TLS13).is_ok());
}

#[test]
fn issue_8_unusable_tls_files_stop_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_pair(dir.path(), "a-");
    let b = make_pair(dir.path(), "b-");
    let run = |cert: &Path, key: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_http-server"))
            .args(["--port", "0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let missing = dir.path().join("missing.pem");
    let stderr = run(&missing, &a.key);
    assert!(
        stderr.contains("missing.pem") && stderr.contains("No such file"),
        "{stderr}"
    );
    let stderr = run(&a.cert, &b.key);
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );
    let stderr = run(&a.key, &a.key);
    assert!(stderr.contains("no certificate found"), "{stderr}");
    let stderr = run(&a.cert, &a.cert);
    assert!(stderr.contains("no private key found"), "{stderr}");
    // --tls-cert alone is a usage error
    let out = Command::new(env!("CARGO_BIN_EXE_http-server"))
        .args(["--port", "0", "--tls-cert"])
        .arg(&a.cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Encrypts `plaintext` as the client's next record(s), to be sent by hand.
fn seal(conn: &mut ClientConnection, plaintext: &[u8]) -> Vec<u8> {
    conn.writer().write_all(plaintext).unwrap();
    let mut records = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut records).unwrap();
    }
    records
}

/// What the server did while a record trickled in.
struct Answer {
    /// Since the first byte went out.
    after: Duration,
    /// How many bytes of the record went out before the server answered or closed.
    sent: usize,
    /// All plaintext the server sent, up to its close.
    plaintext: Vec<u8>,
}

/// Sends `record` a byte at a time, each after waiting up to `pace` for the server to answer
/// (the wait is a read, so an answer ends the trickle at once), then reads to the close.
fn trickle(stream: &mut TlsStream, record: &[u8], pace: Duration) -> Answer {
    let started = Instant::now();
    stream.sock.set_read_timeout(Some(pace)).unwrap();
    let mut sent = 0;
    'trickle: for byte in record {
        if stream.sock.write_all(std::slice::from_ref(byte)).is_err() {
            break;
        }
        sent += 1;
        let wait = Instant::now() + pace;
        // session tickets may come first; wait on until the pace is up or an answer comes
        while Instant::now() < wait {
            match stream.conn.read_tls(&mut stream.sock) {
                Ok(0) => break 'trickle,
                Ok(_) => match stream.conn.process_new_packets() {
                    Ok(io) if io.plaintext_bytes_to_read() == 0 && !io.peer_has_closed() => {}
                    _ => break 'trickle,
                },
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                Err(_) => break 'trickle,
            }
        }
    }
    let after = started.elapsed();
    stream.sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    while let Ok(n) = stream.conn.read_tls(&mut stream.sock) {
        if n == 0 || stream.conn.process_new_packets().is_err() {
            break;
        }
    }
    let mut plaintext = Vec::new();
    // no close_notify is an error, but what came before it is kept
    let _ = stream.conn.reader().read_to_end(&mut plaintext);
    Answer {
        after,
        sent,
        plaintext,
    }
}

#[test]
fn issue_8_a_trickled_tls_request_head_gets_408_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(
        &pair,
        &[
            "--header-timeout",
            "1",
            "--idle-timeout",
            "1",
            "--io-timeout",
            "1",
        ],
    );
    let mut stream = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    let request = format!(
        "GET /echo/still-alive HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(40)
    );
    let record = seal(&mut stream.conn, request.as_bytes());
    // a byte every 200 ms: never quiet for a whole second, but the record would take 20 s
    let answer = trickle(&mut stream, &record, Duration::from_millis(200));
    assert!(
        answer.sent < record.len(),
        "the whole record went out unanswered"
    );
    let text = String::from_utf8_lossy(&answer.plaintext);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(
        answer.after >= Duration::from_millis(900) && answer.after < Duration::from_secs(3),
        "{:?}",
        answer.after
    );
}

#[test]
fn issue_8_a_trickled_tls_request_body_gets_408_per_min_body_rate() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &["--io-timeout", "1", "--min-body-rate", "100"]);
    let mut stream = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    let body = "b".repeat(60);
    let head = format!(
        "PUT /files/slow.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let record = seal(&mut stream.conn, body.as_bytes());
    // no plaintext arrives until the record is whole, so the body is late after the 1 s grace
    let answer = trickle(&mut stream, &record, Duration::from_millis(200));
    assert!(
        answer.sent < record.len(),
        "the whole record went out unanswered"
    );
    let text = String::from_utf8_lossy(&answer.plaintext);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(answer.after < Duration::from_secs(3), "{:?}", answer.after);
    assert!(!server.path("slow.txt").exists());
}

#[test]
fn issue_8_an_idle_tls_connection_closes_quietly_and_keep_alive_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    let server = tls_server(&pair, &["--header-timeout", "1", "--idle-timeout", "1"]);
    let mut stream = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /echo/again HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, _, body) = read_tls_response(&mut stream);
        assert_eq!((status, body.as_slice()), (200, &b"again"[..]));
    }
    // idle: no 408, just the close after the idle timeout
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn issue_8_sigterm_closes_an_idle_tls_connection_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "");
    // the default idle timeout, 60 s: only the shutdown can close the connection in time
    let mut server = tls_server(&pair, &[]);
    let mut stream = connect_tls(&server, &pair.der, &rustls::version::TLS13).unwrap();
    stream
        .write_all(b"GET /echo/idle HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_tls_response(&mut stream).0, 200);
    let started = Instant::now();
    server.terminate();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.wait().success());
}
