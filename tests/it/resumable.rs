//! Resumable uploads (draft-ietf-httpbis-resumable-upload, issue 18) against the real binary:
//! every step and error, a connection cut in the creating request and in an append, SIGKILL
//! mid-append and a restart, two racing appends.

use std::io::Write;
use std::net::TcpStream;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::support::{RawResponse, TestServer, Tmpfs, binary, read_head_response, read_response};

const V8: &str = "Upload-Draft-Interop-Version: 8\r\n";

/// Reads responses until a final one; returns the interim ones too.
fn read_final(stream: &mut TcpStream) -> (Vec<RawResponse>, RawResponse) {
    let mut interim = Vec::new();
    loop {
        let response = read_response(stream);
        if response.status >= 200 {
            return (interim, response);
        }
        interim.push(response);
    }
}

/// One request (head fields in `fields`, each ending in CRLF) with `body`, on a new
/// connection; the final response.
fn send(server: &TestServer, method: &str, path: &str, fields: &str, body: &[u8]) -> RawResponse {
    let mut stream = server.connect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{fields}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    if method == "HEAD" {
        return read_head_response(&mut stream);
    }
    read_final(&mut stream).1
}

/// `POST /files/{name}` with `Upload-Complete: ?0` and no content: the upload's path.
fn create_empty(server: &TestServer, name: &str, fields: &str) -> String {
    let r = send(
        server,
        "POST",
        &format!("/files/{name}"),
        &format!("{V8}Upload-Complete: ?0\r\n{fields}"),
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?0"));
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert!(r.header("upload-limit").is_some());
    r.header("location").expect("Location").to_owned()
}

fn head_offset(server: &TestServer, upload: &str) -> RawResponse {
    send(server, "HEAD", upload, V8, b"")
}

fn offset_of(server: &TestServer, upload: &str) -> u64 {
    let r = head_offset(server, upload);
    assert_eq!(r.status, 204, "{}", r.head);
    r.header("upload-offset").unwrap().parse().unwrap()
}

fn patch(
    server: &TestServer,
    upload: &str,
    offset: u64,
    complete: bool,
    body: &[u8],
) -> RawResponse {
    let done = if complete { "?1" } else { "?0" };
    let fields = format!(
        "{V8}Content-Type: application/partial-upload\r\nUpload-Offset: {offset}\r\n\
         Upload-Complete: {done}\r\n"
    );
    send(server, "PATCH", upload, &fields, body)
}

/// The head of a `PATCH` with `len` bytes of content from `offset` that completes `upload`.
fn completing_head(upload: &str, offset: u64, len: u64) -> String {
    format!(
        "PATCH {upload} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n{V8}\
         Content-Type: application/partial-upload\r\nUpload-Offset: {offset}\r\n\
         Upload-Complete: ?1\r\n\r\n"
    )
}

fn digest_of(bytes: &[u8]) -> String {
    let sha = Sha256::digest(bytes);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(sha)
    )
}

/// Sends a request head and `sent` of its content, reads the 104s it gets (at least one when
/// `want_104`), and cuts the connection: the upload's path from the 104, if any.
fn cut_after(server: &TestServer, head: &str, sent: &[u8], want_104: bool) -> Option<String> {
    let mut stream = server.connect();
    stream.write_all(head.as_bytes()).unwrap();
    let location = want_104.then(|| {
        let interim = read_response(&mut stream);
        assert_eq!(interim.status, 104, "{}", interim.head);
        interim.header("location").unwrap().to_owned()
    });
    stream.write_all(sent).unwrap();
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    location
}

/// What a client does after a cut: ask for the offset, append the rest from there, again
/// while the server still holds the cut request (409), until the upload completes.
fn resume(server: &TestServer, upload: &str, data: &[u8]) -> RawResponse {
    for _ in 0..500 {
        let offset = offset_of(server, upload);
        let r = patch(server, upload, offset, true, &data[offset as usize..]);
        if r.status != 409 {
            return r;
        }
        std::thread::yield_now();
    }
    panic!("the upload stayed busy");
}

#[test]
fn creation_sends_100_then_104_then_completes_like_a_plain_upload() {
    let server = TestServer::start();
    let data = binary(300_000, 1);
    let mut stream = server.connect();
    let head = format!(
        "PUT /files/a.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{V8}\
         Upload-Complete: ?1\r\nExpect: 100-continue\r\nContent-Digest: {}\r\n\r\n",
        data.len(),
        digest_of(&data)
    );
    stream.write_all(head.as_bytes()).unwrap();
    let cont = read_response(&mut stream);
    assert_eq!(cont.status, 100, "{}", cont.head);
    let interim = read_response(&mut stream);
    assert_eq!(interim.status, 104, "{}", interim.head);
    assert_eq!(interim.header("upload-draft-interop-version"), Some("8"));
    let location = interim.header("location").unwrap().to_owned();
    let id = location.strip_prefix("/uploads/").expect("an upload path");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let limit = interim.header("upload-limit").unwrap();
    assert!(limit.contains("max-size=1073741824"), "{limit}");
    assert!(limit.contains("max-age=86400"), "{limit}");
    stream.write_all(&data).unwrap();
    let (_, done) = read_final(&mut stream);
    assert_eq!(done.status, 201, "{}", done.head);
    assert_eq!(done.header("upload-complete"), Some("?1"));
    assert_eq!(done.header("location"), Some("/files/a.bin"));
    assert_eq!(
        done.header("content-digest"),
        Some(digest_of(&data).as_str())
    );
    assert_eq!(std::fs::read(server.path("a.bin")).unwrap(), data);
    // a client whose final response was lost learns that the upload is complete
    let r = head_offset(&server, &location);
    assert_eq!(r.header("upload-complete"), Some("?1"));
    assert_eq!(r.header("upload-offset"), Some("300000"));
    // replacing with PUT: 204, as a plain PUT would
    let r = send(
        &server,
        "PUT",
        "/files/a.bin",
        &format!("{V8}Upload-Complete: ?1\r\n"),
        b"new",
    );
    assert_eq!(r.status, 204, "{}", r.head);
    assert_eq!(std::fs::read(server.path("a.bin")).unwrap(), b"new");
}

#[test]
fn a_request_without_upload_complete_is_a_plain_upload() {
    let server = TestServer::start();
    let r = send(&server, "POST", "/files/p.txt", V8, b"plain");
    assert_eq!(r.status, 201);
    assert!(
        r.headers
            .iter()
            .all(|(n, _)| !n.to_ascii_lowercase().starts_with("upload-"))
    );
    assert_eq!(std::fs::read(server.path("p.txt")).unwrap(), b"plain");
}

#[test]
fn create_append_retrieve_complete() {
    let server = TestServer::start();
    let data = binary(100_000, 2);
    let upload = create_empty(&server, "b.bin", "");
    let r = head_offset(&server, &upload);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert_eq!(r.header("upload-complete"), Some("?0"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("upload-limit").is_some());
    let r = patch(&server, &upload, 0, false, &data[..40_000]);
    assert_eq!(r.status, 204, "{}", r.head);
    assert_eq!(r.header("upload-offset"), Some("40000"));
    assert_eq!(r.header("upload-complete"), Some("?0"));
    // GET retrieves the offset too, never the bytes
    let r = send(&server, "GET", &upload, V8, b"");
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(r.header("upload-offset"), Some("40000"));
    assert!(
        !server.path("b.bin").exists(),
        "the target waits for completion"
    );
    let r = patch(&server, &upload, 40_000, true, &data[40_000..]);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?1"));
    assert_eq!(r.header("upload-offset"), Some("100000"));
    assert_eq!(std::fs::read(server.path("b.bin")).unwrap(), data);
    // more after completion: refused, the file untouched
    let r = patch(&server, &upload, 100_000, true, b"x");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("completed-upload"), "{}", r.text());
    assert_eq!(std::fs::read(server.path("b.bin")).unwrap(), data);
}

#[test]
fn offset_mismatch_is_409_problem_json() {
    let server = TestServer::start();
    let upload = create_empty(&server, "c.bin", "");
    assert_eq!(patch(&server, &upload, 0, false, b"abc").status, 204);
    let r = patch(&server, &upload, 1, false, b"zzz");
    assert_eq!(r.status, 409);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.header("upload-complete"), Some("?0"));
    assert_eq!(r.header("upload-offset"), Some("3"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["expected-offset"], 3);
    assert_eq!(body["provided-offset"], 1);
    assert_eq!(offset_of(&server, &upload), 3);
}

#[test]
fn malformed_and_missing_fields() {
    let server = TestServer::start();
    let r = send(
        &server,
        "POST",
        "/files/m",
        &format!("{V8}Upload-Complete: yes\r\n"),
        b"",
    );
    assert_eq!(r.status, 400);
    assert!(!server.path("m").exists());
    let upload = create_empty(&server, "m", "");
    let r = send(
        &server,
        "PATCH",
        &upload,
        &format!("{V8}Content-Type: application/partial-upload\r\nUpload-Complete: ?0\r\n"),
        b"a",
    );
    assert_eq!(r.status, 400, "no Upload-Offset");
    let r = send(
        &server,
        "PATCH",
        &upload,
        &format!("{V8}Upload-Offset: 0\r\nUpload-Complete: ?0\r\n"),
        b"a",
    );
    assert_eq!(r.status, 415, "no media type");
    assert_eq!(r.header("accept-patch"), Some("application/partial-upload"));
    assert_eq!(offset_of(&server, &upload), 0);
}

#[test]
fn length_mismatch_is_inconsistent_upload_length() {
    let server = TestServer::start();
    let fields = format!("{V8}Upload-Complete: ?1\r\nUpload-Length: 10\r\n");
    let r = send(&server, "POST", "/files/l", &fields, b"12345");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("inconsistent-upload-length"),
        "{}",
        r.text()
    );
    assert!(!server.path("l").exists());
    // a declared length, then an append past it
    let upload = create_empty(&server, "l", "Upload-Length: 4\r\n");
    assert_eq!(
        head_offset(&server, &upload).header("upload-length"),
        Some("4")
    );
    let r = patch(&server, &upload, 0, false, b"12345");
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(r.text().contains("inconsistent-upload-length"));
    assert_eq!(offset_of(&server, &upload), 0);
    // completing short of it
    let r = patch(&server, &upload, 0, true, b"12");
    assert_eq!(r.status, 400);
    assert!(!server.path("l").exists());
}

#[test]
fn past_max_size_is_413_with_upload_limit() {
    let server = TestServer::with_args(&["--max-body", "1000"]);
    let fields = format!("{V8}Upload-Complete: ?0\r\nUpload-Length: 2000\r\n");
    let r = send(&server, "POST", "/files/big", &fields, b"");
    assert_eq!(r.status, 413);
    assert!(r.header("upload-limit").unwrap().contains("max-size=1000"));
    let upload = create_empty(&server, "big", "");
    assert_eq!(patch(&server, &upload, 0, false, &[7; 900]).status, 204);
    let r = patch(&server, &upload, 900, true, &[7; 200]);
    assert_eq!(r.status, 413, "{}", r.head);
    assert_eq!(offset_of(&server, &upload), 900);
    // a chunked append that runs past it keeps nothing of itself
    let mut stream = server.connect();
    let head = format!(
        "PATCH {upload} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n{V8}\
         Content-Type: application/partial-upload\r\nUpload-Offset: 900\r\n\
         Upload-Complete: ?1\r\n\r\n50\r\n{}\r\n50\r\n{}\r\n0\r\n\r\n",
        "a".repeat(80),
        "b".repeat(80)
    );
    stream.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_final(&mut stream).1.status, 413);
    assert_eq!(offset_of(&server, &upload), 900);
}

#[test]
fn unknown_malformed_foreign_and_expired_uploads_are_404() {
    let server = TestServer::with_args(&["--upload-expiry", "1"]);
    for path in [
        "/uploads/00000000000000000000000000000000",
        "/uploads/nope",
        "/uploads/",
        "/uploads/../files/x",
    ] {
        assert_eq!(head_offset(&server, path).status, 404, "{path}");
        assert_eq!(patch(&server, path, 0, true, b"x").status, 404, "{path}");
    }
    let upload = create_empty(&server, "e", "");
    assert_eq!(offset_of(&server, &upload), 0);
    // expiry is the thing under test: one second of no appends, counted in whole seconds
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(head_offset(&server, &upload).status, 404);
    assert_eq!(patch(&server, &upload, 0, true, b"x").status, 404);
    assert!(!server.path("e").exists());
}

#[test]
fn another_account_gets_404() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    let hash = |pw| bcrypt::hash(pw, 4).unwrap();
    std::fs::write(&file, format!("alice:{}\nbob:{}\n", hash("a"), hash("b"))).unwrap();
    let server = TestServer::with_args(&["--auth-file", file.to_str().unwrap()]);
    let basic = |user: &str, pw: &str| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        format!("Authorization: Basic {token}\r\n")
    };
    let alice = basic("alice", "a");
    let bob = basic("bob", "b");
    let upload = create_empty(&server, "owned", &alice);
    let patch_as = |who: &str| {
        let fields = format!(
            "{V8}{who}Content-Type: application/partial-upload\r\nUpload-Offset: 0\r\n\
             Upload-Complete: ?1\r\n"
        );
        send(&server, "PATCH", &upload, &fields, b"data")
    };
    assert_eq!(patch_as(&bob).status, 404);
    assert_eq!(send(&server, "HEAD", &upload, &bob, b"").status, 404);
    assert_eq!(send(&server, "DELETE", &upload, &bob, b"").status, 404);
    assert_eq!(patch_as("").status, 401, "writes need a user");
    assert_eq!(send(&server, "HEAD", &upload, &alice, b"").status, 204);
    assert_eq!(patch_as(&alice).status, 201);
    assert_eq!(std::fs::read(server.path("owned")).unwrap(), b"data");
}

#[test]
fn read_only_refuses_creation_and_appends() {
    let server = TestServer::with_args(&["--read-only"]);
    let fields = format!("{V8}Upload-Complete: ?0\r\n");
    assert_eq!(send(&server, "POST", "/files/r", &fields, b"").status, 405);
    let path = "/uploads/00000000000000000000000000000000";
    assert_eq!(patch(&server, path, 0, true, b"x").status, 405);
}

#[test]
fn cross_site_and_misdirected_requests_are_refused_on_every_new_kind() {
    let server = TestServer::start();
    let upload = create_empty(&server, "guarded", "");
    assert_eq!(patch(&server, &upload, 0, false, b"mine").status, 204);
    let raw = |method: &str, path: &str, host: &str, fields: &str, body: &str| {
        let mut stream = server.connect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n{V8}{fields}\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        match method {
            "HEAD" => read_head_response(&mut stream),
            _ => read_final(&mut stream).1,
        }
    };
    let cross = "Sec-Fetch-Site: cross-site\r\nOrigin: http://evil.example\r\n";
    let partial = "Content-Type: application/partial-upload\r\n";
    let cases = [
        (
            "POST",
            "/files/new",
            cross,
            "Upload-Complete: ?0\r\n".to_owned(),
            403,
        ),
        (
            "PUT",
            "/files/new",
            cross,
            "Upload-Complete: ?1\r\n".to_owned(),
            403,
        ),
        (
            "PATCH",
            &upload,
            cross,
            format!("{partial}Upload-Offset: 4\r\nUpload-Complete: ?1\r\n"),
            403,
        ),
        ("DELETE", &upload, cross, String::new(), 403),
    ];
    for (method, path, site, fields, want) in cases {
        let r = raw(method, path, "localhost", &format!("{site}{fields}"), "xy");
        assert_eq!(r.status, want, "{method} {path}: {}", r.head);
    }
    // a page on a rebound name reaches us with its own Host: refused before anything is read
    for method in ["HEAD", "GET", "OPTIONS", "DELETE"] {
        let r = raw(method, &upload, "evil.example", "", "");
        assert_eq!(r.status, 421, "{method}: {}", r.head);
    }
    let fields = format!("{partial}Upload-Offset: 4\r\nUpload-Complete: ?1\r\n");
    assert_eq!(
        raw("PATCH", &upload, "evil.example", &fields, "xy").status,
        421
    );
    // nothing of it happened: the upload holds its 4 bytes, no file was made
    assert_eq!(offset_of(&server, &upload), 4);
    assert!(!server.path("new").exists() && !server.path("guarded").exists());
}

#[test]
fn a_lock_taken_since_the_creation_refuses_the_completing_append_without_its_token() {
    let server = TestServer::start();
    std::fs::write(server.path("t.txt"), "old").unwrap();
    let upload = create_empty(&server, "t.txt", "");
    assert_eq!(patch(&server, &upload, 0, false, b"abc").status, 204);
    let info = "<?xml version='1.0'?><D:lockinfo xmlns:D='DAV:'><D:lockscope><D:exclusive/>\
                </D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    let lock = send(
        &server,
        "LOCK",
        "/files/t.txt",
        "Depth: 0\r\nContent-Type: application/xml\r\n",
        info.as_bytes(),
    );
    assert_eq!(lock.status, 200, "{}", lock.head);
    let token = lock.header("lock-token").unwrap().to_owned();
    let r = patch(&server, &upload, 3, true, b"def");
    assert_eq!(r.status, 423, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?0"));
    assert_eq!(
        std::fs::read_to_string(server.path("t.txt")).unwrap(),
        "old"
    );
    // nothing of the refused append was taken; with the token it completes
    assert_eq!(offset_of(&server, &upload), 3);
    let fields = format!(
        "{V8}If: ({token})\r\nContent-Type: application/partial-upload\r\nUpload-Offset: 3\r\n\
         Upload-Complete: ?1\r\n"
    );
    let r = send(&server, "PATCH", &upload, &fields, b"def");
    assert!(r.status == 204 || r.status == 201, "{}", r.head);
    assert_eq!(
        std::fs::read_to_string(server.path("t.txt")).unwrap(),
        "abcdef"
    );
}

#[test]
fn cancellation_removes_the_partial_data() {
    let server = TestServer::start();
    let upload = create_empty(&server, "gone", "");
    assert_eq!(patch(&server, &upload, 0, false, b"partial").status, 204);
    let r = send(&server, "DELETE", &upload, V8, b"");
    assert_eq!(r.status, 204);
    assert_eq!(head_offset(&server, &upload).status, 404);
    assert_eq!(send(&server, "DELETE", &upload, V8, b"").status, 404);
    let state_dir = server.path(".upload-resumable");
    let left: Vec<_> = std::fs::read_dir(state_dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!server.path("gone").exists());
}

#[test]
fn a_cancellation_stops_an_append_in_progress() {
    let server = TestServer::start();
    let upload = create_empty(&server, "stopped", "");
    let mut appending = server.connect();
    let head = completing_head(&upload, 0, 512 << 20);
    appending.write_all(head.as_bytes()).unwrap();
    let mut writer = appending.try_clone().unwrap();
    // the client keeps sending until the server stops reading and closes
    let sending = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..8192 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    wait_for_offset(&server, &upload, 1);
    let r = send(&server, "DELETE", &upload, V8, b"");
    assert_eq!(r.status, 204, "{}", r.head);
    let stopped = read_final(&mut appending).1;
    assert_eq!(stopped.status, 404, "{}", stopped.head);
    drop(appending);
    sending.join().unwrap();
    assert_eq!(head_offset(&server, &upload).status, 404);
    let left: Vec<_> = std::fs::read_dir(server.path(".upload-resumable"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn options_announce_the_limits() {
    let server = TestServer::start();
    // on /files/ the WebDAV answer (200, `DAV: 1, 2`) carries the upload limits too
    let r = send(&server, "OPTIONS", "/files/x", "", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("dav"), Some("1, 2"));
    assert!(r.header("upload-limit").unwrap().contains("max-size="));
    assert_eq!(r.header("accept-patch"), Some("application/partial-upload"));
    assert!(r.header("allow").unwrap().contains("OPTIONS"));
    let upload = create_empty(&server, "o", "");
    let r = send(&server, "OPTIONS", &upload, "", b"");
    assert_eq!(r.status, 204);
    assert!(r.header("upload-limit").is_some());
    assert_eq!(send(&server, "PUT", &upload, "", b"").status, 405);
}

#[test]
fn caps_per_client_and_in_total() {
    let server = TestServer::with_args(&["--max-uploads-per-client", "2"]);
    create_empty(&server, "1", "");
    let second = create_empty(&server, "2", "");
    let fields = format!("{V8}Upload-Complete: ?0\r\n");
    let r = send(&server, "POST", "/files/3", &fields, b"");
    assert_eq!(r.status, 429);
    // a finished upload no longer counts
    assert_eq!(patch(&server, &second, 0, true, b"x").status, 201);
    create_empty(&server, "3", "");

    let server = TestServer::with_args(&["--max-uploads", "1"]);
    create_empty(&server, "1", "");
    assert_eq!(send(&server, "POST", "/files/2", &fields, b"").status, 507);
}

#[test]
fn parallel_creations_cannot_all_pass_the_caps() {
    let server = TestServer::with_args(&["--max-uploads-per-client", "2", "--max-uploads", "3"]);
    let fields = format!("{V8}Upload-Complete: ?0\r\n");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let racing: Vec<_> = (0..30)
            .map(|i| {
                let (server, fields) = (&server, &fields);
                scope.spawn(move || {
                    send(server, "POST", &format!("/files/r{i}"), fields, b"").status
                })
            })
            .collect();
        racing.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = statuses.iter().filter(|&&s| s == 201).count();
    assert_eq!(created, 2, "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 429),
        "{statuses:?}"
    );
}

#[test]
fn interop_6_answers_201_and_expires() {
    let server = TestServer::start();
    let v6 = "Upload-Draft-Interop-Version: 6\r\n";
    let r = send(
        &server,
        "POST",
        "/files/six",
        &format!("{v6}Upload-Complete: ?0\r\n"),
        b"",
    );
    assert_eq!(r.status, 201);
    assert!(r.header("upload-limit").unwrap().contains("expires="));
    let upload = r.header("location").unwrap().to_owned();
    let append = |offset: u64, done: &str, body: &[u8]| {
        let fields = format!(
            "{v6}Content-Type: application/partial-upload\r\nUpload-Offset: {offset}\r\n{done}"
        );
        send(&server, "PATCH", &upload, &fields, body)
    };
    let r = append(0, "Upload-Complete: ?0\r\n", b"abc");
    assert_eq!(r.status, 201, "version 6: an incomplete append is 201");
    // version 6: a missing Upload-Complete completes
    assert_eq!(append(3, "", b"def").status, 201);
    assert_eq!(std::fs::read(server.path("six")).unwrap(), b"abcdef");
    // version 6 refuses state fields on retrieval
    let fields = format!("{v6}Upload-Offset: 0\r\n");
    assert_eq!(send(&server, "HEAD", &upload, &fields, b"").status, 400);
}

#[test]
fn interop_9_is_served_and_a_chunked_last_append_gives_the_length() {
    let server = TestServer::start();
    let v9 = "Upload-Draft-Interop-Version: 9\r\n";
    let chunked = |method: &str, path: &str, fields: &str, body: &[u8]| {
        let mut stream = server.connect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
             {v9}{fields}\r\n{:x}\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        stream.write_all(b"\r\n0\r\n\r\n").unwrap();
        read_final(&mut stream)
    };
    let (interim, created) = chunked("PUT", "/files/nine", "Upload-Complete: ?0\r\n", b"first ");
    assert_eq!(created.status, 201, "{}", created.head);
    assert_eq!(interim.len(), 1, "{interim:?}");
    assert_eq!(interim[0].status, 104);
    assert_eq!(interim[0].header("upload-draft-interop-version"), Some("9"));
    let upload = created.header("location").unwrap().to_owned();
    assert_eq!(interim[0].header("location"), Some(upload.as_str()));
    assert_eq!(created.header("upload-offset"), Some("6"));
    // no Content-Length and no Upload-Length: the representation's length is what arrived
    let fields = "Content-Type: application/partial-upload\r\nUpload-Offset: 6\r\n\
                  Upload-Complete: ?1\r\n";
    let (_, done) = chunked("PATCH", &upload, fields, b"and last");
    assert_eq!(done.status, 201, "{}", done.head);
    assert_eq!(done.header("upload-complete"), Some("?1"));
    assert_eq!(
        std::fs::read(server.path("nine")).unwrap(),
        b"first and last"
    );
    let r = send(&server, "HEAD", &upload, v9, b"");
    assert_eq!(r.header("upload-length"), Some("14"), "{}", r.head);
}

#[test]
fn unsupported_versions_get_no_104() {
    let server = TestServer::start();
    let v5 = "Upload-Draft-Interop-Version: 5\r\n";
    let r = send(
        &server,
        "POST",
        "/files/five",
        &format!("{v5}Upload-Complete: ?1\r\n"),
        b"x",
    );
    assert_eq!(r.status, 201, "the whole representation: a plain upload");
    let r = send(
        &server,
        "POST",
        "/files/five",
        &format!("{v5}Upload-Complete: ?0\r\n"),
        b"x",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn digests_of_the_whole_and_of_one_append() {
    let server = TestServer::start();
    let data = binary(50_000, 3);
    // the creating request's Content-Digest covers the whole, checked at completion
    let head = format!(
        "POST /files/d HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{V8}\
         Upload-Complete: ?1\r\nContent-Digest: {}\r\n\r\n",
        data.len(),
        digest_of(&data)
    );
    let upload = cut_after(&server, &head, &data[..20_000], true).unwrap();
    let r = resume(&server, &upload, &data);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(std::fs::read(server.path("d")).unwrap(), data);

    // a wrong whole digest: the upload fails at completion, the target is not written
    let head = format!(
        "POST /files/d2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{V8}\
         Upload-Complete: ?1\r\nRepr-Digest: {}\r\n\r\n",
        data.len(),
        digest_of(b"other")
    );
    let upload = cut_after(&server, &head, &data[..20_000], true).unwrap();
    let r = resume(&server, &upload, &data);
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?1"));
    assert!(!server.path("d2").exists());

    // an append's own Content-Digest covers that append: a mismatch appends nothing
    let upload = create_empty(&server, "d3", "");
    let fields = format!(
        "{V8}Content-Type: application/partial-upload\r\nUpload-Offset: 0\r\n\
         Upload-Complete: ?0\r\nContent-Digest: {}\r\n",
        digest_of(b"not this")
    );
    let r = send(&server, "PATCH", &upload, &fields, b"this");
    assert_eq!(r.status, 400);
    assert_eq!(offset_of(&server, &upload), 0);
}

#[test]
fn preconditions_of_the_creating_request_are_checked_at_completion() {
    let server = TestServer::start();
    let upload = create_empty(&server, "pre", "If-None-Match: *\r\n");
    // the file appears meanwhile
    std::fs::write(server.path("pre"), b"someone else's").unwrap();
    let r = patch(&server, &upload, 0, true, b"mine");
    assert_eq!(r.status, 412, "{}", r.head);
    assert_eq!(
        std::fs::read(server.path("pre")).unwrap(),
        b"someone else's"
    );
    // that answer is final (`?1`) and the upload is gone: a client that lost it never reads
    // "complete" for a file that was not stored
    assert_eq!(r.header("upload-complete"), Some("?1"));
    assert_eq!(head_offset(&server, &upload).status, 404);
    // and before anything is created
    let fields = format!("{V8}Upload-Complete: ?0\r\nIf-None-Match: *\r\n");
    assert_eq!(
        send(&server, "POST", "/files/pre", &fields, b"").status,
        412
    );
}

#[test]
fn a_completion_that_may_pass_keeps_the_upload_open() {
    let server = TestServer::start();
    std::fs::create_dir(server.path("folder")).unwrap();
    let upload = create_empty(&server, "folder/f.bin", "");
    assert_eq!(patch(&server, &upload, 0, false, b"all ").status, 204);
    // the folder goes while the upload is open: completing is 409, nothing is lost
    std::fs::remove_dir(server.path("folder")).unwrap();
    let r = patch(&server, &upload, 4, true, b"of it");
    assert_eq!(r.status, 409, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?0"));
    assert_eq!(r.header("upload-offset"), Some("9"));
    let head = head_offset(&server, &upload);
    assert_eq!(head.header("upload-complete"), Some("?0"));
    assert_eq!(head.header("upload-offset"), Some("9"));
    // once it is back, a folder in the file's place is mended the same way
    std::fs::create_dir_all(server.path("folder/f.bin")).unwrap();
    let r = patch(&server, &upload, 9, true, b"");
    assert_eq!(r.status, 409, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?0"));
    std::fs::remove_dir(server.path("folder/f.bin")).unwrap();
    // then an empty completing append commits what was kept
    let r = patch(&server, &upload, 9, true, b"");
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(
        std::fs::read(server.path("folder/f.bin")).unwrap(),
        b"all of it"
    );
}

#[test]
fn an_append_past_the_length_is_413_with_the_limits() {
    let server = TestServer::start();
    let upload = create_empty(&server, "short", "Upload-Length: 3\r\n");
    // chunked, so that only the bytes themselves can show that it is too long
    let mut stream = server.connect();
    let head = format!(
        "PATCH {upload} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n{V8}\
         Content-Type: application/partial-upload\r\nUpload-Offset: 0\r\n\
         Upload-Complete: ?1\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let r = read_final(&mut stream).1;
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(
        r.header("upload-limit").unwrap().contains("max-size="),
        "{}",
        r.head
    );
    assert_eq!(offset_of(&server, &upload), 0);
    assert!(!server.path("short").exists());
}

#[test]
fn cut_in_the_creating_request_then_resumed() {
    let server = TestServer::start();
    let data = binary(2_000_000, 4);
    let head = format!(
        "PUT /files/cut.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{V8}\
         Upload-Complete: ?1\r\n\r\n",
        data.len()
    );
    let upload = cut_after(&server, &head, &data[..1_234_567], true).unwrap();
    assert!(!server.path("cut.bin").exists());
    let r = resume(&server, &upload, &data);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(std::fs::read(server.path("cut.bin")).unwrap(), data);
}

#[test]
fn cut_in_an_append_then_resumed() {
    let server = TestServer::start();
    let data = binary(2_000_000, 5);
    let upload = create_empty(&server, "cut2.bin", "");
    assert_eq!(patch(&server, &upload, 0, false, &data[..100]).status, 204);
    let head = completing_head(&upload, 100, data.len() as u64 - 100);
    cut_after(&server, &head, &data[100..1_500_000], false);
    let r = resume(&server, &upload, &data);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(std::fs::read(server.path("cut2.bin")).unwrap(), data);
}

/// Waits until the upload's offset reaches `at` (the server has taken that much of a body
/// still being sent).
fn wait_for_offset(server: &TestServer, upload: &str, at: u64) {
    let deadline = std::time::Instant::now() + crate::support::READ_TIMEOUT;
    while offset_of(server, upload) < at {
        assert!(
            std::time::Instant::now() < deadline,
            "offset never reached {at}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn sigkill_mid_append_then_restart_and_resume() {
    let server = TestServer::start();
    let data = binary(3_000_000, 6);
    let upload = create_empty(&server, "killed.bin", "");
    let mut stream = server.connect();
    let head = completing_head(&upload, 0, data.len() as u64);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&data[..1_000_000]).unwrap();
    wait_for_offset(&server, &upload, 1_000_000);
    let dir = server.kill_keeping_dir();
    drop(stream);
    let server = TestServer::in_dir(dir, &[]);
    assert_eq!(offset_of(&server, &upload), 1_000_000);
    let r = resume(&server, &upload, &data);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(std::fs::read(server.path("killed.bin")).unwrap(), data);
}

#[test]
fn two_racing_appends_one_wins() {
    let server = TestServer::start();
    let a = binary(200_000, 7);
    let b = binary(200_000, 8);
    let upload = create_empty(&server, "race.bin", "");
    let mut first = server.connect();
    let head = completing_head(&upload, 0, a.len() as u64);
    first.write_all(head.as_bytes()).unwrap();
    first.write_all(&a[..50_000]).unwrap();
    wait_for_offset(&server, &upload, 50_000);
    let r = patch(&server, &upload, 0, true, &b);
    assert_eq!(r.status, 409, "{}", r.head);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    first.write_all(&a[50_000..]).unwrap();
    let (_, done) = read_final(&mut first);
    assert_eq!(done.status, 201, "{}", done.head);
    assert_eq!(std::fs::read(server.path("race.bin")).unwrap(), a);
    // the loser, late: the upload is done
    assert_eq!(patch(&server, &upload, 0, true, &b).status, 400);
}

#[test]
fn state_survives_a_clean_restart_and_expiry_is_swept_at_start_up() {
    let server = TestServer::start();
    let upload = create_empty(&server, "kept", "");
    assert_eq!(patch(&server, &upload, 0, false, b"12345").status, 204);
    let dir = server.kill_keeping_dir();
    let server = TestServer::in_dir(dir, &[]);
    assert_eq!(offset_of(&server, &upload), 5);
    let dir = server.kill_keeping_dir();
    // all that one second of expiry needs: uploads touched at least a second ago
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let server = TestServer::in_dir(dir, &["--upload-expiry", "1"]);
    let left: Vec<_> = std::fs::read_dir(server.path(".upload-resumable"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "swept at start-up: {left:?}");
    assert_eq!(head_offset(&server, &upload).status, 404);
}

#[test]
fn the_expiry_sweep_leaves_an_upload_that_is_being_written_to() {
    // a sweep every 1.5 s, and an append that outlasts the expiry (3 s, so that a busy
    // machine has time to start the append before the fresh upload expires)
    let server = TestServer::with_args(&["--upload-expiry", "3"]);
    let upload = create_empty(&server, "slow", "");
    let mut stream = server.connect();
    let head = completing_head(&upload, 0, 4);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"ab").unwrap();
    wait_for_offset(&server, &upload, 2);
    // the client is slow: what is under test is time passing, not an order of events
    std::thread::sleep(std::time::Duration::from_millis(5000));
    // past its expiry and a sweep, but not abandoned: its offset is still there to be read
    assert_eq!(offset_of(&server, &upload), 2);
    stream.write_all(b"cd").unwrap();
    let r = read_final(&mut stream).1;
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(std::fs::read(server.path("slow")).unwrap(), b"abcd");
}

#[test]
fn the_periodic_sweep_removes_an_abandoned_upload_while_the_server_runs() {
    let server = TestServer::with_args(&["--upload-expiry", "1"]);
    let upload = create_empty(&server, "abandoned", "");
    assert_eq!(patch(&server, &upload, 0, false, b"partial").status, 204);
    // nothing asks for it again: only the sweep (every half second here) can remove it
    server.wait_for_log("resumable uploads: 1 expired");
    let left: Vec<_> = std::fs::read_dir(server.path(".upload-resumable"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(head_offset(&server, &upload).status, 404);
}

#[test]
fn a_long_append_is_fsynced_periodically_and_says_so_in_104s() {
    let server = TestServer::start();
    let upload = create_empty(&server, "long", "");
    let data = binary(40 << 20, 9);
    let mut stream = server.connect();
    let head = completing_head(&upload, 0, data.len() as u64);
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        writer.write_all(head.as_bytes()).unwrap();
        writer.write_all(&data).unwrap();
        data
    });
    let (interim, done) = read_final(&mut stream);
    let data = sending.join().unwrap();
    assert_eq!(done.status, 201, "{}", done.head);
    // one each time another 16 MiB were made durable (at the read that passed the mark)
    let offsets: Vec<u64> = interim
        .iter()
        .map(|r| {
            assert_eq!(r.status, 104, "{}", r.head);
            r.header("upload-offset").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    for (k, offset) in (1..).zip(&offsets) {
        assert!(
            (((k * 16) << 20)..((k * 16 + 1) << 20)).contains(offset),
            "{offsets:?}"
        );
    }
    assert!(std::fs::read(server.path("long")).unwrap() == data);
}

/// The one data file in the server's hidden upload directory.
fn the_data_file(server: &TestServer) -> std::path::PathBuf {
    let dir = server.path(".upload-resumable");
    let mut data: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    assert_eq!(data.len(), 1, "{data:?}");
    data.pop().unwrap()
}

/// The performance section of issue 18: completion renames the data file over the target
/// (no second copy of the bytes), with a plain upload's permissions and answer, and still
/// refuses when the creating request's preconditions no longer hold.
#[test]
fn completion_renames_the_data_file_into_place() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let server = TestServer::start();
    let plain = send(&server, "PUT", "/files/plain", "", b"plain");
    assert_eq!(plain.status, 201, "{}", plain.head);
    let data = binary(3_000_000, 7);

    let upload = create_empty(&server, "renamed.bin", "");
    assert_eq!(
        patch(&server, &upload, 0, false, &data[..1_000_000]).status,
        204
    );
    let kept = the_data_file(&server);
    let inode = std::fs::metadata(&kept).unwrap().ino();
    let r = patch(&server, &upload, 1_000_000, true, &data[1_000_000..]);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("content-digest"), Some(digest_of(&data).as_str()));
    assert_eq!(r.header("location"), Some("/files/renamed.bin"));
    let landed = std::fs::metadata(server.path("renamed.bin")).unwrap();
    assert_eq!(landed.ino(), inode, "the data file itself is the target");
    assert_eq!(landed.nlink(), 1);
    assert!(!kept.exists());
    assert_eq!(std::fs::read(server.path("renamed.bin")).unwrap(), data);
    let mode = |p: &str| {
        std::fs::metadata(server.path(p))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode("renamed.bin"), mode("plain"));
    // the tombstone answers as completed
    assert_eq!(
        head_offset(&server, &upload).header("upload-complete"),
        Some("?1")
    );

    // replacing under If-Match: 204, by rename too
    let etag = send(&server, "HEAD", "/files/renamed.bin", "", b"");
    let etag = etag.header("etag").unwrap().to_owned();
    let upload = create_empty(&server, "renamed.bin", &format!("If-Match: {etag}\r\n"));
    let inode = std::fs::metadata(the_data_file(&server)).unwrap().ino();
    let r = send(
        &server,
        "PATCH",
        &upload,
        &format!(
            "{V8}Content-Type: application/partial-upload\r\nUpload-Offset: 0\r\n\
             Upload-Complete: ?1\r\n"
        ),
        b"second",
    );
    assert_eq!(
        r.status, 201,
        "an upload created by POST answers 201: {}",
        r.head
    );
    let landed = std::fs::metadata(server.path("renamed.bin")).unwrap();
    assert_eq!((landed.ino(), landed.len()), (inode, 6));
    // hashed as it arrived, not read again: the same digest
    assert_eq!(
        r.header("content-digest"),
        Some(digest_of(b"second").as_str())
    );

    // ... and checked like one read back: a wrong Repr-Digest on a one-request upload
    let fields = format!(
        "{V8}Upload-Complete: ?1\r\nRepr-Digest: {}\r\n",
        digest_of(b"other")
    );
    let r = send(&server, "POST", "/files/wrong.bin", &fields, b"mine");
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(!server.path("wrong.bin").exists());

    // a precondition that held at creation and fails at completion: the target stays (as
    // another writer left it), the data goes
    let etag = send(&server, "HEAD", "/files/renamed.bin", "", b"");
    let etag = etag.header("etag").unwrap().to_owned();
    let upload = create_empty(&server, "renamed.bin", &format!("If-Match: {etag}\r\n"));
    let data_file = the_data_file(&server);
    std::fs::write(server.path("renamed.bin"), b"someone else's").unwrap();
    let r = patch(&server, &upload, 0, true, b"third");
    assert_eq!(r.status, 412, "{}", r.head);
    assert_eq!(r.header("upload-complete"), Some("?1"));
    assert_eq!(
        std::fs::read(server.path("renamed.bin")).unwrap(),
        b"someone else's"
    );
    assert!(!data_file.exists());
}

/// When the target's directory is on another file system than the hidden upload directory
/// (a mount inside the served tree), the rename gives `EXDEV` and completion copies instead.
#[test]
fn completion_across_file_systems_copies() {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return eprintln!("skipped: mounting a tmpfs inside the served directory needs root");
    }
    let server = TestServer::start();
    let mount = server.path("mnt");
    std::fs::create_dir(&mount).unwrap();
    let _mounted = Tmpfs::mount(&mount, "8m");

    let data = binary(2_000_000, 8);
    let upload = create_empty(&server, "mnt/far.bin", "");
    let kept = the_data_file(&server);
    let inode = std::fs::metadata(&kept).unwrap().ino();
    let r = patch(&server, &upload, 0, true, &data);
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("content-digest"), Some(digest_of(&data).as_str()));
    assert_eq!(std::fs::read(mount.join("far.bin")).unwrap(), data);
    assert_ne!(
        std::fs::metadata(mount.join("far.bin")).unwrap().ino(),
        inode
    );
    assert!(
        !kept.exists(),
        "the copied data is removed with the tombstone"
    );
    let names: Vec<_> = std::fs::read_dir(&mount).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary left: {names:?}");
}
