//! Resource limits under abuse (issue 15): silent new connections, many connections from one
//! client, descriptor exhaustion, slow readers, expensive digests.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::*;

/// Reads until the server closes, answers, or `within` passes; returns what was read and how
/// long it took. The socket's read timeout is the bound, not a sleep.
fn read_until_close(stream: &mut std::net::TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    stream.set_read_timeout(Some(within)).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed within {within:?}: {e}"),
        }
    }
    (got, started.elapsed())
}

#[test]
fn issue_15_a_silent_new_connection_gets_the_header_timeout_not_the_idle_one() {
    let server = TestServer::with_args(&["--header-timeout", "1", "--idle-timeout", "30"]);
    let mut stream = server.connect();
    let (got, took) = read_until_close(&mut stream, Duration::from_secs(10));
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{got:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // a connection that has had a request keeps the idle timeout
    let mut stream = server.connect();
    stream.write_all(&get("/echo/x")).unwrap();
    read_response(&mut stream);
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let err = stream.read(&mut [0u8; 1]).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
}

#[test]
fn issue_15_a_client_over_its_connection_cap_gets_503_and_others_come_back_when_one_leaves() {
    let server = TestServer::with_args(&["--max-connections-per-client", "2"]);
    let mut held: Vec<_> = (0..2).map(|_| server.connect()).collect();
    // both are being served before the third arrives
    for s in &mut held {
        s.write_all(&get("/")).unwrap();
        assert_eq!(read_response(s).status, 200);
    }
    let mut third = server.connect();
    let response = read_response(&mut third);
    assert_eq!(response.status, 503);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert!(response.header("retry-after").is_some());
    assert_closed(&mut third);
    // one leaves: its slot comes back once the server has seen the close
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = server.exchange(&get("/echo/back"));
        if response.status == 200 {
            assert_eq!(response.body, b"back");
            break;
        }
        assert_eq!(response.status, 503);
        assert!(Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn issue_15_descriptor_exhaustion_recovers_within_2_s_after_the_clients_leave() {
    let server = TestServer::under(&["prlimit", "--nofile=64"], &[]);
    std::fs::write(server.path("a.txt"), b"still here").unwrap();
    // 200 clients at once, each asking for a file: far more than 64 descriptors
    let mut clients: Vec<_> = (0..200).map(|_| server.connect()).collect();
    for client in &mut clients {
        // a client the server already closed may refuse the write: that is its answer
        let _ = client.write_all(&get("/files/a.txt"));
    }
    let mut answered = 0;
    for client in &mut clients {
        let (got, _) = read_until_close_or_answer(client);
        if got.starts_with(b"HTTP/1.1 200") || got.starts_with(b"HTTP/1.1 503") {
            answered += 1;
        }
    }
    assert!(answered > 0);
    drop(clients);
    let left = Instant::now();
    let deadline = left + Duration::from_secs(2);
    let (mut got_ok, mut put_ok) = (false, false);
    while !(got_ok && put_ok) {
        assert!(
            Instant::now() < deadline,
            "not whole again 2 s after the clients left (GET ok: {got_ok}, PUT ok: {put_ok})\n{}",
            server.log()
        );
        if !got_ok {
            let response = server.exchange(&get("/files/a.txt"));
            got_ok = response.status == 200 && response.body == b"still here";
        }
        if !put_ok {
            let response = server.exchange(
                b"PUT /files/b.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nnew",
            );
            put_ok = response.status == 201;
        }
    }
    assert_eq!(std::fs::read(server.path("b.txt")).unwrap(), b"new");
    let failures = server.log().matches("accept failed").count();
    assert!(failures <= 3, "{failures} accept-failure lines");
}

/// Reads a response head's first bytes, or the close; a reset counts as a close.
fn read_until_close_or_answer(stream: &mut std::net::TcpStream) -> (Vec<u8>, Duration) {
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let started = Instant::now();
    let mut got = vec![0u8; 12];
    let mut filled = 0;
    while filled < got.len() {
        match stream.read(&mut got[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    got.truncate(filled);
    (got, started.elapsed())
}

/// A client whose receive buffer is small, so that the server's writes back up quickly.
fn small_window_client(server: &TestServer) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    socket.into()
}

#[test]
fn issue_15_a_slow_reader_is_dropped_at_the_minimum_send_rate() {
    let io_timeout = Duration::from_secs(2);
    let server = TestServer::with_args(&["--io-timeout", "2", "--min-send-rate", "10000000"]);
    std::fs::write(server.path("big.bin"), binary(8 << 20, 15)).unwrap();
    let mut stream = small_window_client(&server);
    stream.write_all(&get("/files/big.bin")).unwrap();
    stream.set_read_timeout(Some(io_timeout * 4)).unwrap();
    let started = Instant::now();
    let mut taken = 0usize;
    let mut chunk = [0u8; 256];
    // 256 bytes every 100 ms: always some progress, far below 10 MB/s (which the kernel's
    // socket buffers, a few MiB counted as sent at once, stay well within)
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => taken += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?}: {e}", started.elapsed()),
        }
        assert!(
            started.elapsed() < io_timeout * 4,
            "a slow reader held the connection for {:?} ({taken} bytes)\n{}",
            started.elapsed(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    assert!(took >= io_timeout, "cut off before the grace: {took:?}");
    assert!(taken < 8 << 20, "the whole file went out");
}

/// A request for `path` asking for its sha-256 digest.
fn wanting_digest(method: &str, path: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nWant-Content-Digest: sha-256\r\n\r\n")
        .into_bytes()
}

#[test]
fn issue_15_head_never_hashes_a_large_file_but_answers_from_what_get_computed() {
    let server = TestServer::start();
    std::fs::write(server.path("big.bin"), binary(16 << 20, 3)).unwrap();
    let mut stream = server.connect();
    let started = Instant::now();
    stream
        .write_all(&wanting_digest("HEAD", "/files/big.bin"))
        .unwrap();
    let head = read_head_response(&mut stream);
    let took = started.elapsed();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-digest"), None, "uncached: no digest");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // GET computes it; a HEAD after it gets the same from the cache
    stream
        .write_all(&wanting_digest("GET", "/files/big.bin"))
        .unwrap();
    let get = read_response(&mut stream);
    let digest = get.header("content-digest").expect("GET has the digest");
    stream
        .write_all(&wanting_digest("HEAD", "/files/big.bin"))
        .unwrap();
    let head = read_head_response(&mut stream);
    assert_eq!(head.header("content-digest"), Some(digest));
    // a new version of the file is a new ETag: not the old digest
    std::fs::write(server.path("big.bin"), binary(16 << 20, 4)).unwrap();
    stream
        .write_all(&wanting_digest("HEAD", "/files/big.bin"))
        .unwrap();
    let head = read_head_response(&mut stream);
    assert_eq!(head.header("content-digest"), None);
}

#[test]
fn issue_15_a_digest_stops_when_its_client_leaves() {
    let server = TestServer::start();
    // hashing it takes far longer than the close takes to arrive (checked every 1 MiB)
    std::fs::write(server.path("huge.bin"), binary(64 << 20, 5)).unwrap();
    let mut leaving = server.connect();
    leaving
        .write_all(&wanting_digest("GET", "/files/huge.bin"))
        .unwrap();
    drop(leaving);
    // answered (to nobody) with 503 once the hashing noticed, not 200 after the whole file
    server.wait_for_log("\"GET /files/huge.bin\" 503");
}
