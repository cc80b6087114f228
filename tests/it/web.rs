//! Issue 9 over real sockets, apart from listings (`listing.rs`): types from the name, the
//! fields HTTP linters ask for (`Date`, 304 without `Content-Type`, 201 with `Location`, cache
//! fields), and gzip of files on the fly and from precompressed siblings.

use std::fs;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use crate::support::{TestServer, binary, get, read_head_response, read_response};

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Text that compresses, `len` bytes.
fn text(len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = (0..)
        .flat_map(|i: u32| format!("line {i} of some text\n").into_bytes())
        .take(len)
        .collect();
    out.truncate(len);
    out
}

#[test]
fn issue_9_types_come_from_the_extension_never_from_the_content() {
    let server = TestServer::with_args(&[]);
    let cases = [
        ("mango_pear_apple_grape", "application/octet-stream"),
        ("page.unknownext", "application/octet-stream"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("photo.png", "image/png"),
    ];
    for (name, _) in cases {
        // ASCII words everywhere: a sniffer would call every one of them text
        fs::write(server.path(name), "mango pear apple grape\n").unwrap();
    }
    for (name, want) in cases {
        let response = server.exchange(&get(&format!("/files/{name}")));
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(response.header("content-type"), Some(want), "{name}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{name}");
        assert_eq!(response.header("vary"), Some("Accept-Encoding"), "{name}");
    }
}

#[test]
fn issue_9_served_pages_run_in_a_sandbox_away_from_the_listing() {
    let server = TestServer::start();
    for name in ["page.html", "logo.svg", "notes.txt", "doc.pdf", "blob"] {
        fs::write(
            server.path(name),
            "<script>fetch('/files/x', {method: 'DELETE'})</script>",
        )
        .unwrap();
    }
    for (name, sandboxed) in [
        ("page.html", true),
        ("logo.svg", true),
        ("notes.txt", false),
        ("doc.pdf", false),
        ("blob", false),
    ] {
        let response = server.exchange(&get(&format!("/files/{name}")));
        let policy = response.header("content-security-policy");
        assert_eq!(
            policy.is_some_and(|p| p.starts_with("sandbox ") && !p.contains("allow-same-origin")),
            sandboxed,
            "{name}: {policy:?}"
        );
    }
}

#[test]
fn issue_9_date_on_every_response_unless_no_date() {
    let server = TestServer::start();
    fs::write(server.path("a.txt"), "a").unwrap();
    let requests = [
        get("/"),
        get("/echo/x"),
        get("/user-agent"),
        get("/nope"),
        get("/files/a.txt"),
        get("/files/"),
        get("/files/missing"),
        b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n".to_vec(),
    ];
    for request in &requests {
        let response = server.exchange(request);
        let date = response.header("date").expect(&response.head);
        let mut date_line = response.head.split("\r\n").nth(1).unwrap().to_owned();
        date_line.truncate(6);
        assert_eq!(date_line, "Date: ", "Date comes first: {}", response.head);
        let sent = httpdate(date);
        let now = SystemTime::now();
        let skew = now.duration_since(sent).unwrap_or_else(|e| e.duration());
        assert!(skew < Duration::from_secs(5), "{date}");
    }
    let quiet = TestServer::with_args(&["--no-date"]);
    fs::write(quiet.path("a.txt"), "a").unwrap();
    for request in &requests {
        let response = quiet.exchange(request);
        assert!(response.header("date").is_none(), "{}", response.head);
    }
}

/// IMF-fixdate, parsed here independently of the server's own parser.
fn httpdate(s: &str) -> SystemTime {
    let parts: Vec<&str> = s.split([' ', ':']).collect();
    let [_, day, month, year, h, m, sec, "GMT"] = parts[..] else {
        panic!("not an IMF-fixdate: {s}");
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)
    .expect("month") as i64
        + 1;
    let (y, d): (i64, i64) = (year.parse().unwrap(), day.parse().unwrap());
    // days from civil (Howard Hinnant)
    let y = if month <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400
        + h.parse::<i64>().unwrap() * 3600
        + m.parse::<i64>().unwrap() * 60
        + sec.parse::<i64>().unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
}

#[test]
fn issue_9_not_modified_has_validators_cache_fields_and_no_content_type() {
    let server = TestServer::start();
    fs::write(server.path("a.css"), text(4000)).unwrap();
    for encoding in ["identity", "gzip"] {
        let first = server.exchange(&request(
            "GET",
            "/files/a.css",
            &[("Accept-Encoding", encoding)],
        ));
        let etag = first.header("etag").unwrap().to_owned();
        let response = server.exchange(&request(
            "GET",
            "/files/a.css",
            &[("Accept-Encoding", encoding), ("If-None-Match", &etag)],
        ));
        assert_eq!(response.status, 304, "{encoding}");
        assert_eq!(response.header("etag"), Some(etag.as_str()));
        assert!(response.header("last-modified").is_some());
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        assert_eq!(response.header("vary"), Some("Accept-Encoding"));
        assert!(response.header("date").is_some());
        assert!(
            response.header("content-type").is_none(),
            "{}",
            response.head
        );
        assert!(response.header("content-encoding").is_none());
    }
}

#[test]
fn issue_9_created_carries_the_percent_encoded_location() {
    let server = TestServer::start();
    fs::create_dir(server.path("sub dir")).unwrap();
    let target = "/files/sub%20dir/caf%C3%A9%20%231%3F.txt";
    let response = server.exchange(
        &[
            request("POST", target, &[("Content-Length", "2")]),
            b"hi".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(response.status, 201);
    assert_eq!(response.header("location"), Some(target));
    assert_eq!(
        fs::read(server.path("sub dir/café #1?.txt")).unwrap(),
        b"hi"
    );
    // the Location leads back to the file
    assert_eq!(server.exchange(&get(target)).body, b"hi");
    // a PUT that replaced a file created nothing
    let replaced = server.exchange(
        &[
            request("PUT", target, &[("Content-Length", "2")]),
            b"ho".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(replaced.status, 204);
    assert!(replaced.header("location").is_none());
}

#[test]
fn issue_9_exercise_routes_keep_their_exact_types() {
    let server = TestServer::start();
    let agent = server.exchange(&request("GET", "/user-agent", &[("User-Agent", "me/1")]));
    assert_eq!(agent.header("content-type"), Some("text/plain"));
    assert_eq!(agent.header("cache-control"), Some("no-store"));
    let echo = server.exchange(&request(
        "GET",
        "/echo/abcde",
        &[("Accept-Encoding", "gzip")],
    ));
    assert_eq!(echo.header("content-type"), Some("text/plain"));
    assert_eq!(echo.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&echo.body), b"abcde");
}

#[test]
fn issue_9_text_files_are_gzipped_on_the_fly_when_accepted() {
    let server = TestServer::start();
    let content = text(300_000);
    fs::write(server.path("big.txt"), &content).unwrap();
    let response = server.exchange(&request(
        "GET",
        "/files/big.txt",
        &[("Accept-Encoding", "br;q=1, gzip;q=0.5")],
    ));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.header("content-length").is_none());
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        response.body.len() < content.len() / 4,
        "{}",
        response.body.len()
    );
    assert_eq!(gunzip(&response.body), content);
    let gzip_etag = response.header("etag").unwrap().to_owned();

    let identity = server.exchange(&get("/files/big.txt"));
    assert!(identity.header("content-encoding").is_none());
    assert_eq!(identity.body, content);
    let identity_etag = identity.header("etag").unwrap().to_owned();
    assert_ne!(
        gzip_etag, identity_etag,
        "each representation has its own tag"
    );

    // If-None-Match compares with the representation that would be sent
    let conditional = |accept: &str, tag: &str| {
        server
            .exchange(&request(
                "GET",
                "/files/big.txt",
                &[("Accept-Encoding", accept), ("If-None-Match", tag)],
            ))
            .status
    };
    assert_eq!(conditional("gzip", &gzip_etag), 304);
    assert_eq!(conditional("identity", &identity_etag), 304);
    assert_eq!(conditional("gzip", &identity_etag), 200);
    assert_eq!(conditional("identity", &gzip_etag), 200);
}

#[test]
fn issue_9_gzip_only_where_it_pays_and_is_understood() {
    let server = TestServer::start();
    fs::write(server.path("small.txt"), text(1023)).unwrap();
    fs::write(server.path("edge.txt"), text(1024)).unwrap();
    fs::write(server.path("blob"), text(50_000)).unwrap();
    fs::write(server.path("photo.png"), binary(50_000, 1)).unwrap();
    fs::write(server.path("big.json"), text(50_000)).unwrap();
    let encoding = |path: &str, accept: &str| {
        let response = server.exchange(&request("GET", path, &[("Accept-Encoding", accept)]));
        assert_eq!(response.status, 200, "{path}");
        response.header("content-encoding").map(str::to_owned)
    };
    assert_eq!(encoding("/files/small.txt", "gzip"), None);
    assert_eq!(encoding("/files/edge.txt", "gzip").as_deref(), Some("gzip"));
    assert_eq!(encoding("/files/blob", "gzip"), None);
    assert_eq!(encoding("/files/photo.png", "gzip"), None);
    assert_eq!(encoding("/files/big.json", "gzip").as_deref(), Some("gzip"));
    assert_eq!(encoding("/files/big.json", "gzip;q=0"), None);
    assert_eq!(encoding("/files/big.json", "br, deflate"), None);

    // HTTP/1.0 cannot read chunked framing: it gets the file as it is, with its length
    let mut stream = server.connect();
    stream
        .write_all(b"GET /files/big.json HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
        .unwrap();
    let old = read_response(&mut stream);
    assert!(old.header("content-encoding").is_none());
    assert_eq!(old.header("content-length"), Some("50000"));

    // a range is served from the identity, whatever the client accepts
    let range = server.exchange(&request(
        "GET",
        "/files/big.json",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=10-19")],
    ));
    assert_eq!(range.status, 206);
    assert!(range.header("content-encoding").is_none());
    assert_eq!(range.body, &text(50_000)[10..20]);
}

#[test]
fn issue_9_head_tells_what_get_would_send_and_the_connection_goes_on() {
    let server = TestServer::start();
    fs::write(server.path("big.txt"), text(100_000)).unwrap();
    let mut stream = server.connect();
    let headers = [("Accept-Encoding", "gzip")];
    stream
        .write_all(&request("HEAD", "/files/big.txt", &headers))
        .unwrap();
    let head = read_head_response(&mut stream);
    stream
        .write_all(&request("GET", "/files/big.txt", &headers))
        .unwrap();
    let got = read_response(&mut stream);
    let fields = |r: &crate::support::RawResponse| {
        let mut fields: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .cloned()
            .collect();
        fields.sort();
        fields
    };
    assert_eq!(fields(&head), fields(&got));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(gunzip(&got.body), text(100_000));
    // still in step: the HEAD sent no body, the chunked body ended where it said
    stream.write_all(&get("/echo/next")).unwrap();
    assert_eq!(read_response(&mut stream).body, b"next");
}

#[test]
fn issue_9_precompressed_sibling_is_sent_when_not_older() {
    let server = TestServer::start();
    let content = text(20_000);
    fs::write(server.path("app.js"), &content).unwrap();
    // deliberately not what gzip of the file gives: the test sees which one was sent
    let mut sibling = Vec::new();
    let mut encoder = flate2::write::GzEncoder::new(&mut sibling, flate2::Compression::best());
    encoder.write_all(&content).unwrap();
    encoder.finish().unwrap();
    fs::write(server.path("app.js.gz"), &sibling).unwrap();
    let response = server.exchange(&request(
        "GET",
        "/files/app.js",
        &[("Accept-Encoding", "gzip")],
    ));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(
        response.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        response.header("content-length"),
        Some(sibling.len().to_string().as_str())
    );
    assert_eq!(response.body, sibling);
    let etag = response.header("etag").unwrap().to_owned();
    let again = server.exchange(&request(
        "GET",
        "/files/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    ));
    assert_eq!(again.status, 304);
    // clients without gzip get the file itself
    assert_eq!(server.exchange(&get("/files/app.js")).body, content);

    // a sibling older than the file is stale: the file is gzipped on the fly instead
    let past = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(server.path("app.js.gz"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let fresh = server.exchange(&request(
        "GET",
        "/files/app.js",
        &[("Accept-Encoding", "gzip")],
    ));
    assert_eq!(fresh.header("transfer-encoding"), Some("chunked"));
    assert_ne!(fresh.body, sibling);
    assert_eq!(gunzip(&fresh.body), content);
}
