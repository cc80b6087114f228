//! WebDAV on `/files/` (issue #16): litmus, the conformance suite, run whole against the
//! binary; then the refusals, over raw TCP, each with the status it must get.

use std::process::Command;

use crate::support::{RawResponse, TestServer};

/// Sends one request with `fields` (each `Name: value`) and `body` on a fresh connection.
fn dav(server: &TestServer, method: &str, path: &str, fields: &[&str], body: &str) -> RawResponse {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", server.addr);
    for field in fields {
        raw.push_str(field);
        raw.push_str("\r\n");
    }
    if !body.is_empty() || method == "PUT" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    server.exchange(raw.as_bytes())
}

const PROPFIND_ALL: &str =
    "<?xml version='1.0'?><D:propfind xmlns:D='DAV:'><D:allprop/></D:propfind>";

/// The five suites of litmus 0.13, each with the number of tests it runs.
const SUITES: &[(&str, u32)] = &[
    ("basic", 16),
    ("copymove", 13),
    ("props", 30),
    ("locks", 41),
    ("http", 4),
];

#[test]
fn issue_16_litmus_passes_every_suite_without_warnings() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    // litmus writes its debug.log into the working directory
    let output = Command::new("litmus")
        .arg("-k")
        .arg(server.url("/files/"))
        .current_dir(work.path())
        .output()
        .expect("litmus is installed (.ci/run installs it: apt-get install litmus)");
    let out = String::from_utf8_lossy(&output.stdout);
    for (suite, tests) in SUITES {
        let want = format!("summary for `{suite}': of {tests} tests run: {tests} passed");
        assert!(out.contains(&want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains("WARNING"), "litmus warned:\n{out}");
    assert!(output.status.success(), "{out}");
}

#[test]
fn issue_16_options_announces_class_1_and_2_on_files_and_on_the_root() {
    let server = TestServer::start();
    for path in ["/", "/files/"] {
        let r = dav(&server, "OPTIONS", path, &[], "");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("dav"), Some("1, 2"), "{path}");
        assert_eq!(r.header("ms-author-via"), Some("DAV"), "{path}");
        assert!(r.header("allow").unwrap().contains("OPTIONS"), "{path}");
    }
    let allow = dav(&server, "OPTIONS", "/files/", &[], "");
    assert!(allow.header("allow").unwrap().contains("PROPFIND"));
}

#[test]
fn options_asterisk_is_the_server_as_a_whole_and_other_methods_cannot_use_it() {
    let server = TestServer::start();
    let r = server.exchange(b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("dav"), Some("1, 2"));
    // the resumable-upload draft's limits, for a client asking before its first upload
    assert!(
        r.header("upload-limit").unwrap().contains("max-size="),
        "{r:?}"
    );
    for method in ["GET", "PUT", "PROPFIND"] {
        let request =
            format!("{method} * HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
        let r = server.exchange(request.as_bytes());
        assert_eq!(r.status, 400, "{method}: {r:?}");
    }
}

#[test]
fn issue_16_propfind_depth_infinity_is_403_with_finite_depth() {
    let server = TestServer::start();
    for fields in [&["Depth: infinity"][..], &[]] {
        let r = dav(&server, "PROPFIND", "/files/", fields, PROPFIND_ALL);
        assert_eq!(r.status, 403, "{fields:?}");
        assert!(r.text().contains("propfind-finite-depth"), "{}", r.text());
    }
}

#[test]
fn issue_16_propfind_lists_what_the_page_lists_with_encoded_hrefs() {
    let server = TestServer::start();
    std::fs::write(server.path("a b#%.txt"), "12345").unwrap();
    std::fs::write(server.path(".hidden"), "x").unwrap();
    std::fs::create_dir(server.path("sub")).unwrap();
    let r = dav(&server, "PROPFIND", "/files/", &["Depth: 1"], PROPFIND_ALL);
    assert_eq!(r.status, 207);
    let body = r.text();
    assert!(
        body.contains("<D:href>/files/a%20b%23%25.txt</D:href>"),
        "{body}"
    );
    assert!(body.contains("<D:href>/files/sub/</D:href>"), "{body}");
    assert!(
        body.contains("<D:getcontentlength>5</D:getcontentlength>"),
        "{body}"
    );
    assert!(!body.contains("hidden"), "{body}");
    // the ETag is GET's
    let get = dav(&server, "GET", "/files/a%20b%23%25.txt", &[], "");
    let etag = get.header("etag").unwrap();
    assert!(
        body.contains(&format!(
            "<D:getetag>{}</D:getetag>",
            etag.replace('"', "&quot;")
        )),
        "{body}"
    );
}

#[test]
fn issue_16_xml_with_a_doctype_is_400() {
    let server = TestServer::start();
    let xxe = "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>\
               <D:propfind xmlns:D='DAV:'><D:prop><D:x>&x;</D:x></D:prop></D:propfind>";
    let r = dav(&server, "PROPFIND", "/files/", &["Depth: 0"], xxe);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = dav(&server, "PROPPATCH", "/files/", &[], xxe);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn issue_16_mkcol_refusals() {
    let server = TestServer::start();
    assert_eq!(dav(&server, "MKCOL", "/files/new", &[], "").status, 201);
    assert!(server.path("new").is_dir());
    assert_eq!(dav(&server, "MKCOL", "/files/new", &[], "").status, 405);
    assert_eq!(
        dav(&server, "MKCOL", "/files/no/parent", &[], "").status,
        409
    );
    assert_eq!(
        dav(&server, "MKCOL", "/files/body", &[], "<x/>").status,
        415
    );
    assert!(!server.path("body").exists());
    assert_eq!(
        dav(&server, "MKCOL", "/files/.upload-x", &[], "").status,
        403
    );
    assert_eq!(dav(&server, "MKCOL", "/files/a/../b", &[], "").status, 400);
}

#[test]
fn issue_16_destination_gets_the_checks_of_the_request_path() {
    let server = TestServer::start();
    std::fs::write(server.path("src.txt"), "source").unwrap();
    let host = server.addr.to_string();
    let cases: &[(String, u16)] = &[
        ("http://evil.example/files/x".into(), 502),
        (format!("ftp://{host}/files/x"), 502),
        ("/elsewhere/x".into(), 403),
        ("/files/.upload-123".into(), 403),
        ("/files/a/../../etc".into(), 400),
        ("/files/a%2Fb".into(), 400),
        (format!("http://{host}/files/no/parent"), 409),
    ];
    for method in ["COPY", "MOVE"] {
        for (destination, status) in cases {
            let field = format!("Destination: {destination}");
            let r = dav(&server, method, "/files/src.txt", &[&field], "");
            assert_eq!(r.status, *status, "{method} to {destination}: {}", r.text());
        }
    }
    assert_eq!(
        std::fs::read_to_string(server.path("src.txt")).unwrap(),
        "source"
    );
    let names: Vec<_> = std::fs::read_dir(server.dir()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing else was made");
}

#[test]
fn issue_16_copy_move_overwrite_and_status() {
    let server = TestServer::start();
    std::fs::write(server.path("a"), "a").unwrap();
    std::fs::write(server.path("b"), "b").unwrap();
    let to_b = "Destination: /files/b";
    let r = dav(&server, "COPY", "/files/a", &[to_b, "Overwrite: F"], "");
    assert_eq!(r.status, 412);
    assert_eq!(std::fs::read_to_string(server.path("b")).unwrap(), "b");
    assert_eq!(dav(&server, "COPY", "/files/a", &[to_b], "").status, 204);
    assert_eq!(std::fs::read_to_string(server.path("b")).unwrap(), "a");
    assert_eq!(
        dav(&server, "COPY", "/files/a", &["Destination: /files/c"], "").status,
        201
    );
    // a tree moves by one rename, with its dead properties
    std::fs::create_dir_all(server.path("t/u")).unwrap();
    std::fs::write(server.path("t/u/f"), "f").unwrap();
    let set = "<?xml version='1.0'?><D:propertyupdate xmlns:D='DAV:' xmlns:Z='urn:z'><D:set>\
               <D:prop><Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>";
    assert_eq!(dav(&server, "PROPPATCH", "/files/t/", &[], set).status, 207);
    let r = dav(
        &server,
        "MOVE",
        "/files/t/",
        &["Destination: /files/m/"],
        "",
    );
    assert_eq!(r.status, 201);
    assert_eq!(std::fs::read_to_string(server.path("m/u/f")).unwrap(), "f");
    let ask = "<?xml version='1.0'?><D:propfind xmlns:D='DAV:' xmlns:Z='urn:z'><D:prop>\
               <Z:colour/></D:prop></D:propfind>";
    let r = dav(&server, "PROPFIND", "/files/m/", &["Depth: 0"], ask);
    assert!(r.text().contains(">blue</"), "{}", r.text());
    // and in a listing of its parent, as a member
    let r = dav(&server, "PROPFIND", "/files/", &["Depth: 1"], PROPFIND_ALL);
    assert!(r.text().contains(">blue</"), "{}", r.text());
    // properties never show as files
    let listing = dav(&server, "GET", "/files/m/", &[], "").text();
    assert_eq!(listing, "u/\n");
    assert_eq!(dav(&server, "DELETE", "/files/m/", &[], "").status, 204);
    assert!(!server.path("m").exists());
}

#[test]
fn issue_16_a_locked_file_refuses_writes_without_its_token() {
    let server = TestServer::start();
    std::fs::write(server.path("doc"), "v1").unwrap();
    let info = "<?xml version='1.0'?><D:lockinfo xmlns:D='DAV:'><D:lockscope><D:exclusive/>\
                </D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    let r = dav(&server, "LOCK", "/files/doc", &["Depth: 0"], info);
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.header("lock-token").unwrap().to_owned();
    assert!(token.starts_with("<urn:uuid:"), "{token}");
    assert_eq!(dav(&server, "PUT", "/files/doc", &[], "v2").status, 423);
    assert_eq!(dav(&server, "DELETE", "/files/doc", &[], "").status, 423);
    let to = "Destination: /files/other";
    assert_eq!(dav(&server, "MOVE", "/files/doc", &[to], "").status, 423);
    let set = "<?xml version='1.0'?><D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>\
               <D:x>1</D:x></D:prop></D:set></D:propertyupdate>";
    assert_eq!(
        dav(&server, "PROPPATCH", "/files/doc", &[], set).status,
        423
    );
    assert_eq!(std::fs::read_to_string(server.path("doc")).unwrap(), "v1");
    let with_token = format!("If: ({token})");
    assert_eq!(
        dav(&server, "PUT", "/files/doc", &[&with_token], "v2").status,
        204
    );
    let unlock = format!("Lock-Token: {token}");
    assert_eq!(
        dav(&server, "UNLOCK", "/files/doc", &[&unlock], "").status,
        204
    );
    assert_eq!(dav(&server, "PUT", "/files/doc", &[], "v3").status, 204);
}

#[test]
fn issue_16_read_only_refuses_webdav_writes_and_answers_propfind() {
    let server = TestServer::with_args(&["--read-only"]);
    std::fs::write(server.path("f"), "f").unwrap();
    for (method, fields) in [
        ("MKCOL", &[][..]),
        ("PROPPATCH", &[][..]),
        ("LOCK", &[][..]),
        ("COPY", &["Destination: /files/g"][..]),
        ("MOVE", &["Destination: /files/g"][..]),
        ("DELETE", &[][..]),
    ] {
        let r = dav(&server, method, "/files/f", fields, "");
        assert_eq!(r.status, 405, "{method}");
    }
    let r = dav(&server, "PROPFIND", "/files/f", &["Depth: 0"], "");
    assert_eq!(r.status, 207);
    assert!(server.path("f").is_file());
}

#[test]
fn issue_16_cross_site_webdav_writes_are_403() {
    let server = TestServer::start();
    let r = dav(
        &server,
        "MKCOL",
        "/files/x",
        &["Origin: http://evil.example"],
        "",
    );
    assert_eq!(r.status, 403);
    assert!(!server.path("x").exists());
}

/// Runs rclone against the server's `/files/` as a plain WebDAV remote.
fn rclone(server: &TestServer, config: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new("rclone")
        .args(args)
        .args([
            "--webdav-url",
            &server.url("/files/"),
            "--webdav-vendor",
            "other",
        ])
        .arg("--config")
        .arg(config)
        .output()
        .expect("rclone is installed (.ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "rclone {args:?}: {text}");
    text
}

#[test]
fn issue_16_rclone_copies_syncs_and_moves_a_tree_byte_identical() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("rclone.conf");
    std::fs::write(&config, "").unwrap();
    let up = work.path().join("up");
    let names = [
        "plain.txt",
        "with space/and #hash.bin",
        "deep/er/still/100% sure?.dat",
        "quotes/\"double\" 'single'.txt",
        "unicode/café ü 日本.txt",
        "lt/<tag>&amp;.txt",
    ];
    for (i, name) in names.iter().enumerate() {
        let path = up.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, crate::support::binary(1000 * (i + 1) + 7, i as u64)).unwrap();
    }
    std::fs::create_dir_all(up.join("empty/dir")).unwrap();
    let up_s = up.to_str().unwrap();
    rclone(
        &server,
        &config,
        &["copy", "--create-empty-src-dirs", up_s, ":webdav:tree"],
    );
    for name in names {
        let stored = std::fs::read(server.path("tree").join(name)).unwrap();
        assert_eq!(stored, std::fs::read(up.join(name)).unwrap(), "{name}");
    }
    let check = rclone(
        &server,
        &config,
        &["check", "--download", up_s, ":webdav:tree"],
    );
    assert!(check.contains("0 differences found"), "{check}");
    let back = work.path().join("back");
    rclone(
        &server,
        &config,
        &["copy", ":webdav:tree", back.to_str().unwrap()],
    );
    for name in names {
        assert_eq!(
            std::fs::read(back.join(name)).unwrap(),
            std::fs::read(up.join(name)).unwrap(),
            "{name}"
        );
    }
    // a local change, then sync: the deleted file goes, the changed one is replaced
    std::fs::remove_file(up.join(names[1])).unwrap();
    std::fs::write(up.join(names[2]), b"changed, and of another length").unwrap();
    rclone(&server, &config, &["sync", up_s, ":webdav:tree"]);
    assert!(!server.path("tree").join(names[1]).exists());
    assert_eq!(
        std::fs::read(server.path("tree").join(names[2])).unwrap(),
        b"changed, and of another length"
    );
    let check = rclone(
        &server,
        &config,
        &["check", "--download", up_s, ":webdav:tree"],
    );
    assert!(check.contains("0 differences found"), "{check}");
    // move: up to the server, gone locally
    let moving = work.path().join("moving");
    std::fs::create_dir_all(moving.join("inner")).unwrap();
    std::fs::write(moving.join("inner/m.bin"), crate::support::binary(5000, 9)).unwrap();
    rclone(
        &server,
        &config,
        &["move", moving.to_str().unwrap(), ":webdav:tree/moved-in"],
    );
    assert_eq!(
        std::fs::read(server.path("tree/moved-in/inner/m.bin")).unwrap(),
        crate::support::binary(5000, 9)
    );
    assert!(!moving.join("inner/m.bin").exists());
    rclone(
        &server,
        &config,
        &["moveto", ":webdav:tree/plain.txt", ":webdav:tree/moved.txt"],
    );
    assert!(server.path("tree/moved.txt").is_file());
    rclone(&server, &config, &["purge", ":webdav:tree"]);
    assert!(!server.path("tree").exists());
}

#[test]
fn issue_16_a_scripted_cadaver_session() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("hello.txt");
    std::fs::write(&local, "hello\n").unwrap();
    let back = work.path().join("back.txt");
    let script = format!(
        "mkcol d\ncd d\nput {} h.txt\nget h.txt {}\nmove h.txt m.txt\ncopy m.txt c.txt\n\
         propset m.txt colour blue\npropget m.txt colour\nlock m.txt\nunlock m.txt\nls\n\
         rm c.txt\nquit\n",
        local.display(),
        back.display()
    );
    let mut child = Command::new("cadaver")
        .arg(server.url("/files/"))
        .current_dir(work.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cadaver is installed (.ci/run installs it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!out.contains("failed"), "{out}");
    assert_eq!(out.matches("succeeded").count(), 10, "{out}");
    assert!(out.contains("Value of colour is: blue"), "{out}");
    assert_eq!(std::fs::read_to_string(back).unwrap(), "hello\n");
    assert_eq!(
        std::fs::read_to_string(server.path("d/m.txt")).unwrap(),
        "hello\n"
    );
    assert!(!server.path("d/c.txt").exists() && !server.path("d/h.txt").exists());
}

#[test]
fn issue_16_windows_properties_succeed_and_set_the_modification_time() {
    let server = TestServer::start();
    assert_eq!(
        dav(&server, "PUT", "/files/up.bin", &[], "data").status,
        201
    );
    let body = "<?xml version='1.0'?><D:propertyupdate xmlns:D='DAV:' \
                xmlns:Z='urn:schemas-microsoft-com:'><D:set><D:prop>\
                <Z:Win32CreationTime>Mon, 01 Jan 2001 00:00:00 GMT</Z:Win32CreationTime>\
                <Z:Win32LastAccessTime>Mon, 01 Jan 2001 00:00:00 GMT</Z:Win32LastAccessTime>\
                <Z:Win32LastModifiedTime>Mon, 01 Jan 2001 00:00:00 GMT</Z:Win32LastModifiedTime>\
                <Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>\
                </D:prop></D:set></D:propertyupdate>";
    let r = dav(&server, "PROPPATCH", "/files/up.bin", &[], body);
    assert_eq!(r.status, 207);
    let text = r.text();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 1, "{text}");
    assert!(
        !text.contains("HTTP/1.1 4") && !text.contains("HTTP/1.1 5"),
        "{text}"
    );
    let modified = std::fs::metadata(server.path("up.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let since = modified.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(since.as_secs(), 978_307_200);
}

#[test]
fn issue_16_propfind_to_an_http_1_0_client_carries_its_length() {
    let server = TestServer::start();
    std::fs::write(server.path("f"), "x").unwrap();
    let r = server.exchange(b"PROPFIND /files/ HTTP/1.0\r\nHost: localhost\r\nDepth: 1\r\n\r\n");
    assert_eq!(r.status, 207);
    assert!(r.header("content-length").is_some(), "{}", r.head);
    assert!(
        r.text().contains("<D:href>/files/f</D:href>"),
        "{}",
        r.text()
    );
}

/// Whether a Depth 1 PROPFIND of `/files/` names `href`.
fn propfind_lists(server: &TestServer, href: &str) -> bool {
    let r = dav(server, "PROPFIND", "/files/", &["Depth: 1"], PROPFIND_ALL);
    assert_eq!(r.status, 207);
    r.text().contains(&format!("<D:href>{href}</D:href>"))
}

#[test]
fn issue_16_show_dot_files_lists_what_a_sync_tool_wrote_but_never_uploads_in_flight() {
    for (args, shown) in [(&[][..], false), (&["--show-dot-files"][..], true)] {
        let server = TestServer::with_args(args);
        // as rclone writes one: a PUT, then the listing it compares against
        let put = dav(&server, "PUT", "/files/.hidden", &[], "dot");
        assert_eq!(put.status, 201, "{args:?}");
        std::fs::create_dir(server.path(".upload-resumable")).unwrap();
        std::fs::write(server.path(".upload-123.tmp"), "partial").unwrap();
        assert_eq!(propfind_lists(&server, "/files/.hidden"), shown, "{args:?}");
        assert!(!propfind_lists(&server, "/files/.upload-resumable/"));
        assert!(!propfind_lists(&server, "/files/.upload-123.tmp"));
        let page = dav(&server, "GET", "/files/?format=text", &[], "").text();
        assert_eq!(page.contains(".hidden"), shown, "{args:?}: {page}");
        assert!(!page.contains(".upload-"), "{page}");
        // search and folder archives walk by the same rule
        let found = dav(&server, "GET", "/files/?q=hid", &["Accept: text/plain"], "");
        assert_eq!(found.status, 200);
        assert_eq!(found.text().contains(".hidden"), shown, "{}", found.text());
        let zip = dav(&server, "GET", "/files/?download=zip", &[], "");
        assert_eq!(zip.status, 200);
        let zip = String::from_utf8_lossy(&zip.body).into_owned();
        assert_eq!(zip.contains(".hidden"), shown, "{args:?}");
        assert!(!zip.contains(".upload-"), "{args:?}");
    }
    let both = Command::new(env!("CARGO_BIN_EXE_http-server"))
        .args(["--hide-dot-files", "--show-dot-files", "--port", "0"])
        .output()
        .unwrap();
    assert!(!both.status.success());
}

#[test]
fn issue_16_allow_propfind_infinity_streams_the_tree_without_entering_links_or_hidden() {
    let server = TestServer::with_args(&["--allow-propfind-infinity"]);
    std::fs::create_dir_all(server.path("a/b/c")).unwrap();
    std::fs::write(server.path("a/b/c/deep.txt"), "deep").unwrap();
    std::fs::write(server.path("top.txt"), "top").unwrap();
    std::fs::create_dir_all(server.path(".git/objects")).unwrap();
    std::fs::write(server.path("a/.secret"), "x").unwrap();
    std::fs::create_dir(server.path(".upload-resumable")).unwrap();
    // a link back up: followed, the walk would never end
    std::os::unix::fs::symlink(server.dir(), server.path("a/loop")).unwrap();
    for fields in [&["Depth: infinity"][..], &[]] {
        let r = dav(&server, "PROPFIND", "/files/", fields, PROPFIND_ALL);
        assert_eq!(r.status, 207, "{fields:?}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        let body = r.text();
        for href in [
            "/files/",
            "/files/top.txt",
            "/files/a/",
            "/files/a/b/",
            "/files/a/b/c/",
            "/files/a/b/c/deep.txt",
        ] {
            assert!(
                body.contains(&format!("<D:href>{href}</D:href>")),
                "{href}: {body}"
            );
        }
        assert!(!body.contains("/files/a/loop/a/"), "{body}");
        assert!(!body.contains(".git"), "{body}");
        assert!(!body.contains(".secret"), "{body}");
        assert!(!body.contains(".upload-"), "{body}");
    }
    // Depth 1 stays one level
    let one = dav(&server, "PROPFIND", "/files/", &["Depth: 1"], PROPFIND_ALL).text();
    assert!(one.contains("<D:href>/files/a/</D:href>"), "{one}");
    assert!(!one.contains("deep.txt"), "{one}");
}

/// Runs `args` under `timeout` (every step against a FUSE mount could hang if the mount
/// broke); the exit status and what it printed.
fn bounded(seconds: u32, args: &[&str]) -> (bool, String) {
    let output = Command::new("timeout")
        .arg(format!("{seconds}s"))
        .args(args)
        .output()
        .expect("coreutils' timeout");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Unmounts (lazily, so a busy or broken mount cannot keep the test waiting) when dropped,
/// also when an assertion failed while mounted.
struct Mounted<'a>(&'a std::path::Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let at = self.0.to_str().unwrap();
        let (ok, text) = bounded(20, &["fusermount3", "-u", at]);
        if !ok {
            eprintln!("fusermount3 -u {at}: {text}; unmounting lazily");
            bounded(20, &["fusermount3", "-uz", at]);
        }
    }
}

#[test]
fn issue_16_rclone_mount_copies_a_tree_in_and_out() {
    if !std::path::Path::new("/dev/fuse").exists() {
        eprintln!("SKIP issue_16_rclone_mount: no /dev/fuse on this machine");
        return;
    }
    if Command::new("fusermount3").arg("-V").output().is_err() {
        eprintln!("SKIP issue_16_rclone_mount: no fusermount3 (.ci/run installs fuse3)");
        return;
    }
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("rclone.conf");
    std::fs::write(&config, "").unwrap();
    let mnt = work.path().join("mnt");
    let tree = work.path().join("tree");
    let names = ["top.txt", "a b/c#d/deep.bin", "unicode/café.txt"];
    for (i, name) in names.iter().enumerate() {
        let path = tree.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, crate::support::binary(30_000 * i + 11, i as u64)).unwrap();
    }
    std::fs::create_dir(&mnt).unwrap();
    // --daemon returns once the mount is up (or has failed): no polling for it
    let url = server.url("/files/");
    let (mounted, text) = bounded(
        60,
        &[
            "rclone",
            "mount",
            ":webdav:",
            mnt.to_str().unwrap(),
            "--webdav-url",
            &url,
            "--webdav-vendor",
            "other",
            "--config",
            config.to_str().unwrap(),
            "--dir-cache-time",
            "0s",
            "--daemon",
            "--daemon-wait",
            "30s",
        ],
    );
    if !mounted {
        eprintln!("SKIP issue_16_rclone_mount: rclone mount failed on this machine: {text}");
        return;
    }
    let guard = Mounted(&mnt);
    let (ok, text) = bounded(
        60,
        &["cp", "-r", tree.to_str().unwrap(), mnt.to_str().unwrap()],
    );
    assert!(ok, "cp into the mount: {text}");
    let out = work.path().join("out");
    let from = mnt.join("tree");
    let (ok, text) = bounded(
        60,
        &["cp", "-r", from.to_str().unwrap(), out.to_str().unwrap()],
    );
    assert!(ok, "cp out of the mount: {text}");
    let (ok, listed) = bounded(20, &["ls", "-R", from.to_str().unwrap()]);
    assert!(ok && listed.contains("deep.bin"), "{listed}");
    drop(guard);
    for name in names {
        let want = std::fs::read(tree.join(name)).unwrap();
        assert_eq!(
            std::fs::read(server.path("tree").join(name)).unwrap(),
            want,
            "{name}"
        );
        assert_eq!(std::fs::read(out.join(name)).unwrap(), want, "{name}");
    }
    let (_, mounts) = bounded(10, &["cat", "/proc/mounts"]);
    assert!(
        !mounts.contains(mnt.to_str().unwrap()),
        "still mounted: {mounts}"
    );
}
