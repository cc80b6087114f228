//! The exercise's routes, byte for byte over raw TCP, and the happy paths with a real client.

use std::io::Read;

use crate::support::{TestServer, get};

#[test]
fn root_is_200_with_empty_body_byte_for_byte() {
    // as the exercise's runner sees it (your_server.sh passes --no-date)
    let server = TestServer::with_args(&["--no-date"]);
    let response = server.exchange(&get("/"));
    assert_eq!(
        response.head,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn echo_returns_the_path_as_text_plain() {
    let server = TestServer::start();
    let response = server.exchange(&get("/echo/abc"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.header("content-length"), Some("3"));
    assert_eq!(response.body, b"abc");
    // percent-escapes are decoded, as curl users expect
    assert_eq!(
        server.exchange(&get("/echo/hello%20world")).body,
        b"hello world"
    );
    assert_eq!(server.exchange(&get("/echo/bad%zz")).status, 400);
}

#[test]
fn user_agent_is_echoed_whatever_the_header_case() {
    let server = TestServer::start();
    let request =
        b"GET /user-agent HTTP/1.1\r\nHost: localhost\r\nuser-AGENT: foobar/1.2.3\r\n\r\n";
    let response = server.exchange(request);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.body, b"foobar/1.2.3");
}

#[test]
fn unknown_paths_are_404_with_a_length() {
    let server = TestServer::start();
    for path in ["/nope", "/echo", "/user-agent/x", "/index.html"] {
        let response = server.exchange(&get(path));
        assert!(
            response.head.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{path}: {}",
            response.head
        );
        assert_eq!(
            response.header("content-length").map(str::to_owned),
            Some(response.body.len().to_string())
        );
        assert_eq!(response.header("content-type"), Some("text/plain"));
    }
}

/// The exercise's runner fails on any `Date` or `Server` field; your_server.sh passes
/// `--no-date`.
#[test]
fn no_date_or_server_header_with_no_date() {
    let server = TestServer::with_args(&["--no-date"]);
    for request in [
        get("/"),
        get("/echo/x"),
        get("/nope"),
        b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
    ] {
        let response = server.exchange(&request);
        assert!(
            response.header("date").is_none() && response.header("server").is_none(),
            "{}",
            response.head
        );
    }
}

#[test]
fn wrong_method_is_405_with_allow_and_unknown_method_is_501() {
    let server = TestServer::start();
    let response =
        server.exchange(b"POST /echo/abc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    let response = server.exchange(b"DELETE / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 405);
    let response = server.exchange(b"PATCH /files/a HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 405);
    assert_eq!(
        response.header("allow"),
        Some("GET, HEAD, POST, PUT, DELETE")
    );
    let response = server.exchange(b"BREW /echo/abc HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(
        response
            .head
            .starts_with("HTTP/1.1 501 Not Implemented\r\n")
    );
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[test]
fn gzip_when_accepted_and_identity_otherwise() {
    let server = TestServer::start();
    let echo = |accept: &str| {
        let request = format!(
            "GET /echo/{} HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {accept}\r\n\r\n",
            "a".repeat(300)
        );
        server.exchange(request.as_bytes())
    };
    for accept in [
        "gzip",
        "encoding-1, gzip, encoding-2",
        "deflate;q=0.5, gzip;q=0.8",
        "*",
    ] {
        let response = echo(accept);
        assert_eq!(
            response.header("content-encoding"),
            Some("gzip"),
            "{accept}"
        );
        assert_eq!(response.header("vary"), Some("Accept-Encoding"));
        assert_eq!(
            response.header("content-length").map(str::to_owned),
            Some(response.body.len().to_string())
        );
        assert!(response.body.len() < 300);
        assert_eq!(gunzip(&response.body), "a".repeat(300).as_bytes());
    }
    for accept in [
        "invalid-encoding",
        "encoding-1, encoding-2",
        "gzip;q=0",
        "identity",
    ] {
        let response = echo(accept);
        assert_eq!(response.header("content-encoding"), None, "{accept}");
        assert_eq!(response.body, "a".repeat(300).as_bytes());
    }
    let request = b"GET /user-agent HTTP/1.1\r\nHost: localhost\r\nUser-Agent: zip/1\r\nAccept-Encoding: gzip\r\n\r\n";
    let response = server.exchange(request);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&response.body), b"zip/1");
}

#[test]
fn happy_paths_with_a_real_client() {
    let server = TestServer::start();
    let agent = server.client();
    let mut response = agent.get(server.url("/echo/hello")).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_mut().read_to_string().unwrap(), "hello");
    let mut response = agent
        .get(server.url("/user-agent"))
        .header("User-Agent", "ureq-test")
        .call()
        .unwrap();
    assert_eq!(response.body_mut().read_to_string().unwrap(), "ureq-test");
    let response = agent.get(server.url("/")).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        agent.get(server.url("/missing")).call().unwrap().status(),
        404
    );
}

#[test]
fn head_answers_like_get_without_a_body() {
    let server = TestServer::start();
    for path in ["/", "/echo/abc", "/user-agent"] {
        let got = server.exchange(&get(path));
        let mut stream = server.connect();
        use std::io::Write;
        stream
            .write_all(format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        let head = crate::support::read_head_response(&mut stream);
        assert_eq!(head.head, got.head, "{path}");
        // the next response on the connection starts right away: no body was sent
        stream.write_all(&get("/echo/next")).unwrap();
        assert_eq!(crate::support::read_response(&mut stream).body, b"next");
    }
}

#[test]
fn startup_failures_exit_non_zero_with_one_clear_line() {
    let server = TestServer::start();
    let port = server.addr.port().to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_http-server"))
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, stderr) = run(&["--port", &port]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    let (code, stderr) = run(&["--port", "0", "--directory", "/nonexistent/dir"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("error: --directory /nonexistent/dir:"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--port", "not-a-number"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("invalid value"), "{stderr}");
}

/// The access lines in the server's log so far, waiting (bounded) until there are `n`: lines
/// are buffered for up to 100 ms.
fn access_lines(server: &TestServer, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines: Vec<String> = server
            .log()
            .lines()
            .filter(|l| l.contains(" access] "))
            .map(str::to_owned)
            .collect();
        if lines.len() >= n || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn issue_5_one_access_line_per_request_with_client_bytes_escaped() {
    let server = TestServer::start();
    assert_eq!(server.exchange(&get("/echo/a\"b")).body, b"a\"b");
    assert_eq!(server.exchange(b"BAD\r\n\r\n").status, 400);
    let lines = access_lines(&server, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // two connections, so two threads: each logs after its response is sent, and the second
    // may log first
    let echo_line = lines
        .iter()
        .find(|l| l.contains("/echo/"))
        .expect("echo line");
    let bad_line = lines
        .iter()
        .find(|l| !l.contains("/echo/"))
        .expect("bad line");
    // [time INFO access] {peer} "{method} {target}" {status} {bytes}B {ms}ms
    let (_, echo) = echo_line.split_once(" access] 127.0.0.1:").expect("peer");
    let (port, rest) = echo.split_once(' ').unwrap();
    assert!(port.parse::<u16>().is_ok(), "{echo}");
    assert!(
        rest.starts_with("\"GET /echo/a\\\"b\" 200 3B ") && rest.ends_with("ms"),
        "{rest}"
    );
    assert!(bad_line.contains("\"- -\" 400 "), "{bad_line}");
}

#[test]
fn issue_5_rust_log_warn_silences_the_access_log() {
    // warn for everything, as RUST_LOG=warn, but the start-up line the test needs for the port
    let mut server = TestServer::with_log_filter("warn,http_server=info", &[]);
    assert_eq!(server.exchange(&get("/echo/quiet")).body, b"quiet");
    let log = server.stop();
    assert!(log.contains("listening on"), "{log}");
    assert!(!log.contains(" access] "), "{log}");
}
