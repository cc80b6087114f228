//! Folder downloads (`?download=zip|tar`) and name search (`?q=`) of issue #17, over real
//! sockets, with the archives checked by real tools (`unzip -t`, `bsdtar`, Python's `zipfile`,
//! GNU `tar`) and every extracted entry compared byte for byte with the served tree.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::support::{RawResponse, TestServer, binary, get, read_head_response, read_response};

/// Names that break naive archivers and pages.
const AWKWARD: [&str; 6] = [
    "with space.txt",
    "hash#tag",
    "100%",
    "quote\"s'",
    "café ☕.txt",
    "a&b=c+d",
];

/// A served tree: nested folders, an empty one, awkward names, and what must stay out
/// (dot files, an in-flight upload, symlinks leading outside). Returns what a listing shows:
/// every file (path → bytes) and every folder (path → empty), relative to `top`.
fn fixture(top: &Path, outside: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut shown = BTreeMap::new();
    let mut file = |rel: &str, bytes: Vec<u8>| {
        let path = top.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &bytes).unwrap();
        shown.insert(rel.to_owned(), Some(bytes));
    };
    for (i, name) in AWKWARD.iter().enumerate() {
        file(name, format!("awkward {i}\n").into_bytes());
        file(
            &format!("nested/{name}/inner.bin"),
            binary(1000 + i * 70_000, i as u64),
        );
    }
    file("deep/a/b/c/d/leaf.txt", b"leaf\n".to_vec());
    file("big.bin", binary(3 << 20, 7));
    fs::create_dir_all(top.join("empty/also empty")).unwrap();
    for dir in [
        "nested",
        "deep",
        "deep/a",
        "deep/a/b",
        "deep/a/b/c",
        "deep/a/b/c/d",
    ] {
        shown.insert(dir.to_owned(), None);
    }
    for name in AWKWARD {
        shown.insert(format!("nested/{name}"), None);
    }
    shown.insert("empty".into(), None);
    shown.insert("empty/also empty".into(), None);
    // left out: hidden names, the server's temporaries, symlinks out of the root
    fs::write(top.join(".env"), "SECRET=1").unwrap();
    fs::create_dir_all(top.join(".git")).unwrap();
    fs::write(top.join(".git/config"), "x").unwrap();
    fs::write(top.join("nested/.upload-123-abc"), "half an upload").unwrap();
    fs::write(outside.join("secret.txt"), "outside").unwrap();
    symlink(outside.join("secret.txt"), top.join("leak.txt")).unwrap();
    symlink(outside, top.join("leakdir")).unwrap();
    // a symlink to a file inside goes in as that file; one to a folder is left out
    symlink("big.bin", top.join("alias.bin")).unwrap();
    shown.insert("alias.bin".into(), Some(binary(3 << 20, 7)));
    symlink("deep", top.join("deeplink")).unwrap();
    shown
}

/// Everything under `dir` as `fixture` describes it.
fn tree_of(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                found.insert(rel, None);
                stack.push(path);
            } else {
                found.insert(rel, Some(fs::read(&path).unwrap()));
            }
        }
    }
    found
}

fn run(program: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (.ci/run installs it): {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {args:?} failed: {text}");
    text
}

fn exchange(server: &TestServer, request: &str) -> RawResponse {
    server.exchange(request.as_bytes())
}

fn served() -> (
    TestServer,
    tempfile::TempDir,
    BTreeMap<String, Option<Vec<u8>>>,
) {
    let outside = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let shown = fixture(&server.path("top"), outside.path());
    (server, outside, shown)
}

#[test]
fn zip_holds_exactly_the_listed_tree() {
    let (server, _outside, shown) = served();
    let work = tempfile::tempdir().unwrap();
    // curl as a user would run it: the name comes from Content-Disposition
    run(
        "curl",
        &["-sSfOJ", &server.url("/files/top/?download=zip")],
        work.path(),
    );
    assert!(work.path().join("top.zip").is_file(), "saved as top.zip");
    let tested = run("unzip", &["-t", "top.zip"], work.path());
    assert!(tested.contains("No errors detected"), "{tested}");
    let script = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        assert z.testzip() is None\n\
        for i in z.infolist(): assert i.flag_bits & 0x800 or i.filename.isascii(), i.filename\n\
        z.extractall(sys.argv[2])\n";
    run("python3", &["-c", script, "top.zip", "out"], work.path());
    assert_eq!(tree_of(&work.path().join("out")), shown);
}

#[test]
fn tar_holds_exactly_the_listed_tree_with_times() {
    let (server, _outside, shown) = served();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(server.path("top/deep/a/b/c/d/leaf.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let response = exchange(
        &server,
        "GET /files/top/?download=tar HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"top.tar\"")
    );
    assert_eq!(response.header("accept-ranges"), None);
    let work = tempfile::tempdir().unwrap();
    fs::write(work.path().join("top.tar"), &response.body).unwrap();
    let listed = run("bsdtar", &["-tf", "top.tar"], work.path());
    assert!(listed.contains("café ☕.txt"), "{listed}");
    fs::create_dir(work.path().join("out")).unwrap();
    run("tar", &["-xf", "top.tar", "-C", "out"], work.path());
    assert_eq!(tree_of(&work.path().join("out")), shown);
    let extracted = fs::metadata(work.path().join("out/deep/a/b/c/d/leaf.txt")).unwrap();
    assert_eq!(extracted.modified().unwrap(), old, "modification time kept");
}

#[test]
fn a_selection_holds_only_the_named_entries() {
    let (server, _outside, shown) = served();
    let response = exchange(
        &server,
        "GET /files/top/?download=zip&compress=1&name=deep&name=caf%C3%A9+%E2%98%95.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    let work = tempfile::tempdir().unwrap();
    fs::write(work.path().join("sel.zip"), &response.body).unwrap();
    run("unzip", &["-q", "sel.zip", "-d", "out"], work.path());
    let want: BTreeMap<_, _> = shown
        .into_iter()
        .filter(|(k, _)| k.starts_with("deep") || k == "café ☕.txt")
        .collect();
    assert_eq!(tree_of(&work.path().join("out")), want);
}

#[test]
fn the_root_downloads_and_non_ascii_names_get_filename_star() {
    let (server, _outside, _) = served();
    fs::create_dir(server.path("é dir")).unwrap();
    fs::write(server.path("é dir/x"), "x").unwrap();
    let response = exchange(
        &server,
        "GET /files/%C3%A9%20dir/?download=tar HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    let disposition = response.header("content-disposition").unwrap();
    assert!(
        disposition.contains("filename*=UTF-8''%C3%A9%20dir.tar"),
        "{disposition}"
    );
    let response = exchange(
        &server,
        "GET /files/?download=zip HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert!(response.body.len() > 3 << 20, "the whole root is in it");
}

#[test]
fn head_answers_like_get_without_a_body() {
    let (server, _outside, _) = served();
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD /files/top/?download=zip HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let head = read_head_response(&mut stream);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/zip"));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    // the connection is ready for the next request: nothing of an archive was sent
    stream.write_all(&get("/echo/next")).unwrap();
    assert_eq!(read_response(&mut stream).text(), "next");
}

#[test]
fn bad_downloads_are_refused() {
    let (server, _outside, _) = served();
    let cases = [
        ("/files/top/?download=rar", 400),
        ("/files/top/?download=zip&download=tar", 400),
        ("/files/top/?download=zip&q=a", 400),
        ("/files/top/?name=deep", 400),
        ("/files/top/?download=zip&name=..", 400),
        ("/files/top/?download=zip&name=a%2Fb", 400),
        ("/files/top/?download=zip&name=deep%2Fa", 400),
        ("/files/top/?download=zip&name=%zz", 400),
        ("/files/top/?download=zip&name=.env", 404),
        ("/files/top/?download=zip&name=.upload-123-abc", 403),
        ("/files/top/?download=zip&name=leakdir", 200),
        ("/files/top/?download=zip&name=missing", 404),
        ("/files/missing/?download=zip", 404),
        ("/files/leakdir/?download=zip", 404),
        ("/files/top/big.bin/?download=zip", 404),
    ];
    for (target, status) in cases {
        let response = exchange(
            &server,
            &format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        assert_eq!(response.status, status, "{target}: {}", response.text());
        if status != 200 {
            assert_eq!(
                response.header("content-type"),
                Some("text/plain"),
                "{target}"
            );
        }
    }
    // a selected symlink that leads outside is left out like any other
    let response = exchange(
        &server,
        "GET /files/top/?download=tar&name=leakdir&name=leak.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(!String::from_utf8_lossy(&response.body).contains("outside"));
    let response = exchange(&server, "GET /files/top/?download=zip HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 505);
}

#[test]
fn a_file_that_shrinks_mid_entry_cuts_the_download() {
    let server = TestServer::start();
    fs::create_dir(server.path("d")).unwrap();
    let file = fs::File::create(server.path("d/huge.bin")).unwrap();
    file.set_len(256 << 20).unwrap();
    let mut stream = server.connect();
    stream
        .write_all(b"GET /files/d/?download=tar HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut first = vec![0; 64 * 1024];
    stream.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
    file.set_len(1 << 20).unwrap();
    let mut rest = Vec::new();
    // the server closes the connection without the last chunk
    let _ = stream.read_to_end(&mut rest);
    let total = first.len() + rest.len();
    assert!(total < 256 << 20, "{total} bytes: less than the file");
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "no last chunk: the client sees a cut download"
    );
}

#[test]
fn a_file_replaced_while_archived_is_whole_old_or_whole_new() {
    let server = TestServer::start();
    fs::create_dir(server.path("d")).unwrap();
    let versions: Vec<Vec<u8>> = (0..3).map(|i| binary(2 << 20, 100 + i)).collect();
    fs::write(server.path("d/f.bin"), &versions[0]).unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..30 {
                let body = &versions[i % 3];
                let mut request = format!(
                    "PUT /files/d/f.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                request.extend_from_slice(body);
                assert!(matches!(server.exchange(&request).status, 201 | 204));
            }
        });
        for _ in 0..10 {
            let response = exchange(
                &server,
                "GET /files/d/?download=zip HTTP/1.1\r\nHost: localhost\r\n\r\n",
            );
            let work = tempfile::tempdir().unwrap();
            fs::write(work.path().join("a.zip"), &response.body).unwrap();
            run("unzip", &["-q", "a.zip"], work.path());
            let got = fs::read(work.path().join("f.bin")).unwrap();
            assert!(versions.contains(&got), "one whole version");
        }
        writer.join().unwrap();
    });
}

fn search(server: &TestServer, target: &str, accept: &str) -> RawResponse {
    exchange(
        server,
        &format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n"),
    )
}

#[test]
fn search_finds_names_below_the_folder_case_insensitively() {
    let (server, _outside, _) = served();
    fs::write(server.path("top/deep/CAFÉ menu.TXT"), "m").unwrap();
    fs::write(server.path("top/.git/café hidden"), "h").unwrap();
    fs::write(server.path("outside café"), "above the folder").unwrap();
    let plain = search(&server, "/files/top/?q=Caf%C3%A9", "text/plain");
    assert_eq!(plain.status, 200);
    let mut lines: Vec<_> = plain.text().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["café ☕.txt", "deep/CAFÉ menu.TXT", "nested/café ☕.txt/"]
    );
    // symlinks are never entered and the secret outside is never named
    let leak = search(&server, "/files/top/?q=secret", "text/plain");
    assert_eq!(leak.text(), "");
    let json = search(&server, "/files/top/?q=leaf", "application/json");
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(value["complete"], true);
    let hit = &value["results"][0];
    assert_eq!(hit["path"], "deep/a/b/c/d/leaf.txt");
    assert_eq!(hit["name"], "leaf.txt");
    assert_eq!(hit["kind"], "file");
    assert_eq!(hit["size"], 5);
    assert_eq!(value["results"].as_array().unwrap().len(), 1);
}

#[test]
fn search_page_links_every_hit() {
    let (server, _outside, _) = served();
    let page = search(&server, "/files/top/?q=%23", "text/html");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text();
    let links: Vec<&str> = html
        .split("<a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .filter(|l| l.contains("hash"))
        .collect();
    let mut sorted = links.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["/files/top/hash%23tag", "/files/top/nested/hash%23tag/"]
    );
    for link in links {
        let response = exchange(
            &server,
            &format!("GET {link} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        assert_eq!(response.status, 200, "{link}");
    }
    // a right-to-left override in a hit is shown, not obeyed, as on the listing page
    fs::write(server.path("top/photo\u{202E}gpj.exe"), "x").unwrap();
    let spoof = search(&server, "/files/top/?q=photo", "text/html").text();
    assert!(spoof.contains("<bdi>.exe</bdi>"), "{spoof}");
    assert!(spoof.contains("U+202E"), "{spoof}");
    let none = search(&server, "/files/top/?q=zzzz", "text/html");
    assert!(none.text().contains("No names match."));
}

#[test]
fn search_stops_at_its_limit_and_says_so() {
    let server = TestServer::with_args(&["--max-search-results", "3"]);
    for i in 0..10 {
        fs::write(server.path(&format!("match {i}")), "x").unwrap();
    }
    let plain = search(&server, "/files/?q=match", "text/plain");
    let text = plain.text();
    let (hits, note) = text
        .split_once("\n\n")
        .expect("an empty line before the note");
    assert_eq!(hits.lines().count(), 3, "{text}");
    assert!(note.contains("stopped after 3 results"), "{note}");
    let json = search(&server, "/files/?q=MATCH", "application/json");
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(value["complete"], false);
    assert_eq!(value["results"].as_array().unwrap().len(), 3);
    for (target, status) in [
        ("/files/?q=%zz", 400),
        ("/files/nope/?q=a", 404),
        ("/files/?q=a&q=b", 400),
    ] {
        assert_eq!(search(&server, target, "*/*").status, status, "{target}");
    }
    // an empty search box lists the folder
    assert_eq!(
        search(&server, "/files/?q=", "text/plain")
            .text()
            .lines()
            .count(),
        10
    );
}

/// The page's write actions are WebDAV requests: without an account they are refused like any
/// write, with one they go through; a name that exists is never replaced.
#[test]
fn folder_actions_need_an_account_and_never_replace() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("users");
    fs::write(&file, format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let server = TestServer::with_args(&["--auth-file", file.to_str().unwrap()]);
    fs::create_dir(server.path("kept")).unwrap();
    fs::write(server.path("a.txt"), "a").unwrap();
    let alice = "Authorization: Basic YWxpY2U6cHc=\r\n"; // alice:pw
    let ask = |line: &str, auth: &str| {
        exchange(
            &server,
            &format!("{line} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n"),
        )
    };
    assert_eq!(ask("MKCOL /files/new/", "").status, 401);
    assert!(!server.path("new").exists());
    let moved = "MOVE /files/a.txt HTTP/1.1\r\nHost: localhost\r\nDestination: /files/kept/a.txt";
    let status = |r: RawResponse| r.status;
    assert_eq!(status(exchange(&server, &format!("{moved}\r\n\r\n"))), 401);
    assert_eq!(ask("DELETE /files/kept/", "").status, 401);
    assert!(server.path("kept").is_dir() && server.path("a.txt").is_file());

    assert_eq!(ask("MKCOL /files/new/", alice).status, 201);
    assert_eq!(ask("MKCOL /files/new/", alice).status, 405, "exists");
    assert_eq!(ask("MKCOL /files/no/such/", alice).status, 409, "no parent");
    fs::write(server.path("kept/a.txt"), "other").unwrap();
    let clash = format!("{moved}\r\nOverwrite: F\r\n{alice}\r\n");
    assert_eq!(status(exchange(&server, &clash)), 412, "never replaced");
    assert_eq!(fs::read(server.path("kept/a.txt")).unwrap(), b"other");
    // reading (archives, searches) needs no account without --private
    assert_eq!(ask("GET /files/?download=zip", "").status, 200);
    assert_eq!(ask("GET /files/?q=a", "").status, 200);
}

#[test]
fn a_read_only_server_still_downloads_and_searches_but_manages_nothing() {
    let server = TestServer::with_args(&["--read-only"]);
    fs::create_dir(server.path("d")).unwrap();
    fs::write(server.path("d/x.txt"), "x").unwrap();
    for line in ["MKCOL /files/e/", "DELETE /files/d/", "MOVE /files/d/"] {
        let response = exchange(
            &server,
            &format!("{line} HTTP/1.1\r\nHost: localhost\r\nDestination: /files/f/\r\n\r\n"),
        );
        assert_eq!(response.status, 405, "{line}");
    }
    assert!(server.path("d/x.txt").is_file());
    assert_eq!(
        exchange(
            &server,
            "GET /files/d/?download=tar HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .status,
        200
    );
    assert_eq!(
        search(&server, "/files/?q=x", "text/plain").text(),
        "d/x.txt\n"
    );
    // the page offers no write controls
    let page = search(&server, "/files/", "text/html").text();
    assert!(!page.contains("id=\"manage\""));
}
