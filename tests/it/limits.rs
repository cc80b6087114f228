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
