//! Issue 15: the DNS-rebinding check on every bind, the host an absolute-form target names,
//! and malformed `Host` values. Binds other than 127.0.0.1 use 127.0.0.2 and `::1` (both
//! loopback); a non-loopback address (10.200.0.1) is bound inside a private network namespace
//! (`unshare -n`, root only), where curl is the client.

use std::process::Command;

use crate::support::TestServer;

fn request(method: &str, target: &str, host: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// (status, content type) of `GET target` with `Host: host`.
fn answer(server: &TestServer, target: &str, host: &str) -> (u16, Option<String>) {
    let response = server.exchange(&request("GET", target, host));
    let content_type = response.header("content-type").map(str::to_owned);
    (response.status, content_type)
}

#[test]
fn issue_15_a_specific_loopback_bind_answers_to_its_address_and_localhost() {
    for (bind, own) in [("127.0.0.2", "127.0.0.2"), ("::1", "[::1]")] {
        let server = TestServer::with_args(&["--bind", bind, "--allowed-host", "files.lan"]);
        std::fs::write(server.path("secret"), "s").unwrap();
        for host in [own, &format!("{own}:4221"), "localhost", "files.lan:1"] {
            assert_eq!(
                answer(&server, "/files/secret", host).0,
                200,
                "{bind} {host}"
            );
        }
        for host in [
            "evil.example",
            "evil.example:4221",
            "127.0.0.3",
            "localhost.evil",
        ] {
            let (status, content_type) = answer(&server, "/files/secret", host);
            assert_eq!(status, 421, "{bind} {host}");
            assert_eq!(content_type.as_deref(), Some("text/plain"), "{bind} {host}");
        }
    }
}

#[test]
fn issue_15_an_absolute_form_target_names_the_host_and_is_checked() {
    let server = TestServer::start();
    std::fs::write(server.path("secret"), "s").unwrap();
    // RFC 9112 §3.2.2: the target's authority, not Host, is the host
    let cases = [
        ("http://evil.example/files/secret", "localhost", 421),
        ("http://evil.example:4221/files/secret", "127.0.0.1", 421),
        ("http://localhost:4221/files/secret", "evil.example", 200),
        ("HTTP://[::1]/files/secret?x", "evil.example", 200),
        ("http://u@localhost/files/secret", "localhost", 400),
        ("http://localhost:99999/files/secret", "localhost", 400),
    ];
    for (target, host, expected) in cases {
        assert_eq!(answer(&server, target, host).0, expected, "{target} {host}");
    }
    // a write's Origin is compared with the target's host too
    let put = |target: &str, host: &str, origin: &str| {
        let raw = format!(
            "PUT {target} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Length: 1\r\n\r\nx"
        );
        server.exchange(raw.as_bytes()).status
    };
    let target = "http://localhost:4221/files/w";
    assert_eq!(put(target, "evil.example", "http://evil.example"), 403);
    assert_eq!(put(target, "evil.example", "http://localhost:4221"), 201);
}

#[test]
fn issue_15_a_malformed_host_is_400() {
    let server = TestServer::start();
    for host in [
        "[::1]x",
        "[::1]:x",
        "[]",
        "[]:4221",
        "[::1",
        "localhost:x",
        "localhost:65536",
        "localhost:-1",
        "alice@localhost",
        "alice:pw@localhost:4221",
        "local host",
        "localhost/x",
        "ho%73t",
    ] {
        let (status, content_type) = answer(&server, "/files/", host);
        assert_eq!(status, 400, "{host:?}");
        assert_eq!(content_type.as_deref(), Some("text/plain"), "{host:?}");
    }
    let two = b"GET /files/ HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n";
    assert_eq!(server.exchange(two).status, 400);
    // RFC 9110 §7.2 allows an empty Host; it names nothing this server answers to
    assert_eq!(answer(&server, "/files/", "").0, 421);
}

/// The script run in a private network namespace: a server on 10.200.0.1, and curl asking it
/// with each `Host` (and one absolute-form target), printing `code content-type` per line.
const NETNS_SCRIPT: &str = r#"
set -e
ip link set lo up
ip addr add 10.200.0.1/24 dev lo
mkfifo "$2/log"
RUST_LOG=info "$1" --bind 10.200.0.1 --port 8080 --directory "$2" \
    --allowed-host files.lan --allow-anonymous-writes 2>"$2/log" &
server=$!
exec 3<"$2/log"
while read -r line <&3; do case $line in *"listening on"*) break;; esac; done
cat <&3 >/dev/null &
ask() { curl -s -o /dev/null -w '%{http_code} %{content_type}\n' "$@"; }
url=http://10.200.0.1:8080/files/secret
for host in 10.200.0.1 10.200.0.1:8080 files.lan evil.example localhost 127.0.0.1 '[::1]'; do
    ask -H "Host: $host" "$url"
done
ask -X PUT -H 'Host: evil.example' -H 'Origin: http://evil.example' --data-binary x "$url"
ask --request-target http://evil.example/files/secret "$url"
kill "$server"
"#;

#[test]
fn issue_15_a_non_loopback_bind_answers_to_its_address_only() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() != "0" {
        println!("skipped: binding 10.200.0.1 in a private network namespace needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s").unwrap();
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", NETNS_SCRIPT, "sh"])
        .arg(env!("CARGO_BIN_EXE_http-server"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = [
        "200 application/octet-stream",
        "200 application/octet-stream",
        "200 application/octet-stream",
        "421 text/plain",
        "421 text/plain",
        "421 text/plain",
        "421 text/plain",
        // the write the issue saw answered 201: its Origin matched its own Host
        "421 text/plain",
        "421 text/plain",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), want, "{stdout}");
    assert_eq!(std::fs::read(dir.path().join("secret")).unwrap(), b"s");
}
