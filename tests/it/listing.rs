//! Directory listings (issue 9) over real sockets: plain text for curl, JSON for programs, an
//! HTML page for people, names that need escaping, sorting, and the page's security fields.

use std::fs;
use std::io::Write;

use sha2::{Digest, Sha256};

use crate::support::{RawResponse, TestServer, get, read_head_response, read_response};

/// Names that break naive pages: HTML, URL and shell metacharacters, and non-ASCII.
const AWKWARD: [&str; 9] = [
    "with space.txt",
    "hash#tag",
    "100%",
    "what?",
    "a&b",
    "quote\"s'",
    "<script>alert(1)<",
    "café ☕",
    "a:b",
];

fn listing(server: &TestServer, path: &str, accept: &str) -> RawResponse {
    server.exchange(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n").as_bytes(),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every `href="..."` of a page, as written (HTML-escaped).
fn hrefs(page: &str) -> Vec<String> {
    page.split(" href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[test]
fn issue_9_curl_gets_the_plain_listing_unchanged() {
    let server = TestServer::start();
    fs::write(server.path("b.txt"), "b").unwrap();
    fs::write(server.path("a"), "a").unwrap();
    fs::create_dir(server.path("a.d")).unwrap();
    fs::write(server.path(".hidden"), "h").unwrap();
    for accept in ["*/*", "text/plain", "text/*", "image/png"] {
        let response = listing(&server, "/files/", accept);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert_eq!(response.header("vary"), Some("Accept"));
        assert_eq!(response.text(), "a\na.d/\nb.txt\n", "{accept}");
    }
    // and without any Accept
    assert_eq!(server.exchange(&get("/files/")).text(), "a\na.d/\nb.txt\n");
}

#[test]
fn issue_9_json_listing_has_name_kind_size_and_rfc3339_time() {
    let server = TestServer::start();
    fs::write(server.path("b.txt"), "bb").unwrap();
    fs::create_dir(server.path("sub")).unwrap();
    for name in AWKWARD {
        fs::write(server.path(name), name).unwrap();
    }
    let response = listing(&server, "/files/", "application/json");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("vary"), Some("Accept"));
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(entries.len(), AWKWARD.len() + 2);
    assert_eq!(entries[0]["name"], "sub", "directories first");
    assert_eq!(entries[0]["kind"], "directory");
    let b = entries.iter().find(|e| e["name"] == "b.txt").unwrap();
    assert_eq!(b["kind"], "file");
    assert_eq!(b["size"], 2);
    let modified = b["modified"].as_str().unwrap();
    assert_eq!(modified.len(), 20, "{modified}");
    assert!(modified.ends_with('Z') && modified.as_bytes()[10] == b'T');
    for name in AWKWARD {
        assert!(entries.iter().any(|e| e["name"] == name), "{name}");
    }
}

#[test]
fn issue_9_negotiation_prefers_html_for_browsers() {
    let server = TestServer::start();
    let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";
    let cases = [
        (chrome, "text/html; charset=utf-8"),
        ("application/json", "application/json"),
        ("application/json, text/html;q=0.5", "application/json"),
        ("text/html;q=0, application/json;q=0.1", "application/json"),
        ("text/html;q=0", "text/plain"),
        ("text/html;q=2", "text/plain"),
        (
            "application/json;q=0.5, text/html;q=0.5",
            "text/html; charset=utf-8",
        ),
    ];
    for (accept, want) in cases {
        let response = listing(&server, "/files/", accept);
        assert_eq!(response.header("content-type"), Some(want), "{accept}");
    }
}

#[test]
fn issue_9_html_escapes_every_name_and_every_link_leads_to_its_file() {
    let server = TestServer::start();
    for name in AWKWARD {
        fs::write(server.path(name), format!("content of {name}")).unwrap();
    }
    fs::create_dir(server.path("dir #1")).unwrap();
    let response = listing(&server, "/files/", "text/html");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = response.text();
    assert!(
        !page.contains("<script>alert"),
        "unescaped name in the page"
    );
    for name in AWKWARD {
        assert!(page.contains(&html_escape(name)), "{name} not shown");
    }
    let links = hrefs(&page);
    for name in AWKWARD {
        let link = links
            .iter()
            .find(|href| {
                percent_decode(href).as_deref() == Some(name)
                    && !href.contains(['#', '?', ' ', '"', '<', '&', ':'])
            })
            .unwrap_or_else(|| panic!("no encoded link for {name:?} in {links:?}"));
        let file = server.exchange(&get(&format!("/files/{link}")));
        assert_eq!(file.status, 200, "{link}");
        assert_eq!(file.text(), format!("content of {name}"), "{link}");
    }
    assert!(links.contains(&"dir%20%231/".to_owned()), "{links:?}");
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[test]
fn issue_9_html_has_breadcrumbs_a_parent_link_and_directories_first() {
    let server = TestServer::start();
    fs::create_dir_all(server.path("top dir/inner")).unwrap();
    fs::write(server.path("top dir/a.txt"), "a").unwrap();
    fs::write(server.path("top dir/zz.txt"), "z").unwrap();
    let page = listing(&server, "/files/top%20dir/", "text/html").text();
    let links = hrefs(&page);
    let position = |href: &str| {
        links
            .iter()
            .position(|l| l == href)
            .unwrap_or_else(|| panic!("{href} not in {links:?}"))
    };
    assert!(
        position("/files/") < position("/files/top%20dir/"),
        "breadcrumbs"
    );
    assert!(position("../") < position("inner/"), "parent link first");
    assert!(position("inner/") < position("a.txt"), "directories first");
    assert!(position("a.txt") < position("zz.txt"));
    assert!(page.contains("<title>Index of /files/top dir/</title>"));
    // the root has no parent
    assert!(!hrefs(&listing(&server, "/files/", "text/html").text()).contains(&"../".to_owned()));
}

#[test]
fn issue_9_html_sorts_by_size_and_date_through_the_query() {
    let server = TestServer::start();
    fs::write(server.path("middle"), vec![b'x'; 2000]).unwrap();
    fs::write(server.path("small"), "x").unwrap();
    fs::write(server.path("large"), vec![b'x'; 5000]).unwrap();
    fs::create_dir(server.path("zdir")).unwrap();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(server.path("large"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let order = |query: &str| -> Vec<String> {
        hrefs(&listing(&server, &format!("/files/{query}"), "text/html").text())
            .into_iter()
            .filter(|h| !h.starts_with(['?', '/']))
            .collect()
    };
    assert_eq!(order(""), ["zdir/", "large", "middle", "small"]);
    assert_eq!(order("?sort=size"), ["zdir/", "small", "middle", "large"]);
    assert_eq!(
        order("?sort=size&order=desc"),
        ["zdir/", "large", "middle", "small"]
    );
    assert_eq!(order("?sort=date")[..2], ["zdir/", "large"]);
    assert_eq!(order("?sort=bogus&order=%ff&x"), order(""));
    // the current column's link flips the order; no script is needed to sort
    let page = listing(&server, "/files/?sort=size&order=asc", "text/html").text();
    assert!(
        page.contains("href=\"?sort=size&amp;order=desc\""),
        "{page}"
    );
}

#[test]
fn issue_9_html_page_is_self_contained_with_a_strict_policy() {
    let server = TestServer::start();
    let response = listing(&server, "/files/", "text/html");
    let page = response.text();
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    let csp = response.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    // the one inline script and the one style are allowed by their hashes, nothing else
    for (open, close, directive) in [
        ("<script>", "</script>", "script-src"),
        ("<style>", "</style>", "style-src"),
    ] {
        assert_eq!(page.matches(open).count(), 1, "{open}");
        let inline = page
            .split(open)
            .nth(1)
            .unwrap()
            .split(close)
            .next()
            .unwrap();
        let digest: [u8; 32] = Sha256::digest(inline.as_bytes()).into();
        let hash = format!("'sha256-{}'", base64(&digest));
        assert!(csp.contains(&format!("{directive} {hash};")), "{csp}");
    }
    assert!(!page.contains("src="), "no external script, image or frame");
    assert!(!page.contains("http"), "no absolute link anywhere");
    let inline_handler = page.split(" on").skip(1).any(|rest| {
        let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(!inline_handler, "no inline event handlers");
    // the upload controls are in the page (hidden until the script shows them)
    assert!(page.contains("id=\"picker\" type=\"file\" multiple"));
    assert!(page.contains("<section id=\"upload\" hidden>"));
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= group.len() {
                TABLE[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A large listing is rendered as it is sent, never held whole: chunked for HTTP/1.1 (and
/// HEAD says so), with an exact length for HTTP/1.0, the same bytes either way.
#[test]
fn issue_9_large_listings_stream_chunked_or_with_exact_lengths_for_http_1_0() {
    let server = TestServer::start();
    for i in 0..3000 {
        fs::write(
            server.path(&format!("file-{i:05}-with-a-longish-name.txt")),
            "",
        )
        .unwrap();
    }
    for accept in ["*/*", "application/json", "text/html"] {
        let mut stream = server.connect();
        let request =
            format!("HEAD /files/ HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let head = read_head_response(&mut stream);
        assert_eq!(
            head.header("transfer-encoding"),
            Some("chunked"),
            "{accept}"
        );
        assert_eq!(head.header("content-length"), None, "{accept}");
        stream
            .write_all(request.replace("HEAD", "GET").as_bytes())
            .unwrap();
        let got = read_response(&mut stream);
        assert_eq!(got.header("transfer-encoding"), Some("chunked"), "{accept}");
        assert!(got.body.len() > 100_000, "{accept}: {}", got.body.len());
        assert!(got.text().matches("-with-a-longish-name.txt").count() >= 3000);
        let mut old = server.connect();
        old.write_all(format!("GET /files/ HTTP/1.0\r\nAccept: {accept}\r\n\r\n").as_bytes())
            .unwrap();
        let old = read_response(&mut old);
        assert_eq!(
            old.header("content-length"),
            Some(got.body.len().to_string().as_str()),
            "{accept}"
        );
        assert_eq!(old.body, got.body, "{accept}");
    }
}

#[test]
fn issue_9_listings_revalidate_with_their_etag() {
    let server = TestServer::start();
    fs::write(server.path("a.txt"), "a").unwrap();
    let mut tags = Vec::new();
    for accept in ["*/*", "application/json", "text/html"] {
        let first = listing(&server, "/files/", accept);
        let etag = first.header("etag").expect("listing ETag").to_owned();
        assert!(etag.starts_with("W/\""), "{etag}");
        let again = server.exchange(
            format!(
                "GET /files/ HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nIf-None-Match: {etag}\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(again.status, 304, "{accept}");
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert_eq!(again.header("vary"), Some("Accept"));
        assert_eq!(again.header("cache-control"), Some("no-cache"));
        assert!(again.header("content-type").is_none());
        tags.push(etag);
    }
    tags.dedup();
    assert_eq!(tags.len(), 3, "each format has its own tag");
    // a change to the directory changes the tag
    let before = listing(&server, "/files/", "*/*")
        .header("etag")
        .unwrap()
        .to_owned();
    fs::write(server.path("b.txt"), "b").unwrap();
    assert_ne!(
        listing(&server, "/files/", "*/*").header("etag"),
        Some(before.as_str())
    );
}

/// `sub%2F` would list `sub` at a URL one level up from where its relative links point, so a
/// click on Delete there would aim at the parent's file of the same name.
#[test]
fn issue_9_an_encoded_slash_in_a_name_is_refused() {
    let server = TestServer::start();
    fs::create_dir(server.path("sub")).unwrap();
    fs::write(server.path("sub/keep.txt"), "k").unwrap();
    for target in [
        "/files/sub%2F",
        "/files/sub%2fkeep.txt",
        "/files/sub%2F?sort=size",
    ] {
        assert_eq!(
            listing(&server, target, "text/html").status,
            400,
            "{target}"
        );
    }
    assert_eq!(listing(&server, "/files/sub/", "text/html").status, 200);
}
