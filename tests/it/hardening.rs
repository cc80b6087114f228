//! Issue 15's security items other than the Host check (`rebinding.rs`): headers that keep
//! other sites from reading or running what this server sends, stored hashes refused at load,
//! failed logins that take one time, and names that cannot split lines or spoof an extension.

use std::process::Command;

use crate::support::{TestServer, get};

#[test]
fn issue_15_echo_is_never_sniffed() {
    let server = TestServer::start();
    let response = server.exchange(&get("/echo/%3Cscript%3Ealert(1)%3C%2Fscript%3E"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.body, b"<script>alert(1)</script>");
}

#[test]
fn issue_15_a_bcrypt_cost_outside_4_to_31_stops_start_up_naming_user_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.txt");
    let good = bcrypt::hash("pw", 4).unwrap();
    for cost in ["03", "32", "99"] {
        let bad = good.replacen("$04$", &format!("${cost}$"), 1);
        std::fs::write(&file, format!("alice:{good}\n\ncarol:{bad}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_http-server"))
            .args(["--port", "0", "--auth-file"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let cost: u32 = cost.parse().unwrap();
        let want = format!("users.txt:3: user \"carol\": bcrypt cost {cost} is outside 4-31");
        assert!(stderr.contains(&want), "{stderr}");
    }
}

#[test]
fn issue_15_files_and_listings_are_same_origin_resources_unless_embedding_is_allowed() {
    for (args, want) in [
        (&[][..], "same-origin"),
        (&["--allow-embedding"][..], "cross-origin"),
    ] {
        let server = TestServer::with_args(args);
        std::fs::write(server.path("app.js"), "alert(1)").unwrap();
        for path in ["/files/app.js", "/files/", "/files/missing.js"] {
            let response = server.exchange(&get(path));
            assert_eq!(
                response.header("cross-origin-resource-policy"),
                Some(want),
                "{args:?} {path}: {}",
                response.status
            );
        }
        // the exercise's routes are as they were
        for path in ["/", "/echo/x", "/user-agent"] {
            let response = server.exchange(&get(path));
            assert_eq!(response.header("cross-origin-resource-policy"), None);
        }
    }
}

#[test]
fn issue_15_names_with_line_breaks_beyond_ascii_are_refused() {
    let server = TestServer::start();
    for name in [
        "a%C2%85b",    // NEL
        "a%E2%80%A8b", // LINE SEPARATOR
        "a%E2%80%A9b", // PARAGRAPH SEPARATOR
        "a%C2%80b",    // another C1 control
        "a%0Bb",       // vertical tab
        "sub%C2%85/x", // in a directory segment too
    ] {
        for method in ["PUT", "DELETE", "GET"] {
            let raw = format!(
                "{method} /files/{name} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nx"
            );
            let response = server.exchange(raw.as_bytes());
            assert_eq!(response.status, 400, "{method} {name}");
            assert_eq!(response.header("content-type"), Some("text/plain"));
        }
    }
    assert_eq!(std::fs::read_dir(server.dir()).unwrap().count(), 0);
}

#[test]
fn issue_15_a_right_to_left_override_cannot_spoof_an_extension_in_the_page() {
    let server = TestServer::start();
    let raw = "PUT /files/photo%E2%80%AEgpj.exe HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(server.exchange(raw.as_bytes()).status, 201);
    let page =
        server.exchange(b"GET /files/ HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n");
    let html = page.text();
    assert_eq!(page.status, 200);
    assert!(
        html.contains(
            "data-name=\"photo\u{202e}gpj.exe\"><bdi><bdi>photo<span class=\"bidi\">U+202E</span>gpj</bdi><bdi>.exe</bdi></bdi></a>"
        ),
        "{html}"
    );
    // the override itself is only in the attribute the script reads, never in shown text
    assert_eq!(html.matches('\u{202e}').count(), 1, "{html}");
}
