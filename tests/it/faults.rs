//! Issue #15's faults and races against the real binary: a symlink exchanged for a directory
//! while uploads, deletes and listings aim into it, a removed-and-recreated root, a full disk
//! (a small tmpfs; root only), and a server killed mid-upload then restarted.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, RenameFlags};

use crate::support::{READ_TIMEOUT, RawResponse, TestServer, Tmpfs, read_response};

fn request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// One request on a keep-alive connection, reconnecting when the server closed it.
fn send(server: &TestServer, stream: &mut Option<TcpStream>, raw: &[u8]) -> RawResponse {
    let conn = stream.get_or_insert_with(|| server.connect());
    conn.write_all(raw).unwrap();
    let response = read_response(conn);
    if response.header("connection") == Some("close") {
        *stream = None;
    }
    response
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Issue #15 item 1: before, an upload landed outside the root after 19 requests, a delete
/// removed a file outside after 1,425 and a listing showed an outside directory after 386.
/// Every act now resolves its name once, beneath the root, and acts on descriptors.
#[test]
fn issue_15_an_exchanging_symlink_never_carries_a_write_delete_or_listing_outside() {
    let outer = tempfile::tempdir().unwrap();
    let outside = outer.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "outside").unwrap();
    fs::write(outside.join("outside-secret-name"), "outside").unwrap();
    let dir = tempfile::tempdir_in(outer.path()).unwrap();
    let root = dir.path().to_owned();
    fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("swap")).unwrap();
    let server = TestServer::in_dir(dir, &[]);

    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut listed, mut statuses) = (0, std::collections::BTreeMap::new());
    /// Stops the exchanging thread however the loop ends, a failed assertion included.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let top =
                rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(&top, "sub", &top, "swap", RenameFlags::EXCHANGE)
                    .unwrap();
            }
        });
        let _stop = Stop(&stop);
        let mut conn = None;
        for i in 0..500 {
            if Instant::now() > deadline {
                break;
            }
            let steps = [
                request("PUT", "/files/sub/victim", b"inside"),
                request("PUT", &format!("/files/sub/new-{i}"), b"inside"),
                request("DELETE", "/files/sub/victim", b""),
                request("GET", "/files/sub/", b""),
            ];
            for raw in steps {
                let response = send(&server, &mut conn, &raw);
                let what = String::from_utf8_lossy(&raw[..20]);
                assert!(response.status < 500, "{what}: {response:?}");
                *statuses.entry(response.status).or_insert(0) += 1;
                if raw.starts_with(b"GET") && response.status == 200 {
                    listed += 1;
                    assert!(!response.text().contains("outside"), "{}", response.text());
                }
            }
        }
    });
    eprintln!("statuses {statuses:?}, {listed} listings");
    assert!(listed > 0);
    assert_eq!(names(&outside), ["outside-secret-name", "victim"]);
    assert_eq!(
        fs::read_to_string(outside.join("victim")).unwrap(),
        "outside"
    );
}

/// Issue #15 item 7: downloads used the start-up handle and everything else the path, so a
/// file put into a recreated root listed but could not be read. Every operation now starts
/// from the same current root. While the directory is missing, reads and deletes are 404
/// and uploads 503 (the server's fault, not the client's).
#[test]
fn issue_15_a_removed_and_recreated_root_is_seen_alike_by_every_operation() {
    let server = TestServer::start();
    fs::write(server.path("old.txt"), "old").unwrap();
    assert_eq!(
        server
            .exchange(&request("GET", "/files/old.txt", b""))
            .status,
        200
    );
    fs::remove_dir_all(server.dir()).unwrap();

    for (method, path, want) in [
        ("GET", "/files/old.txt", 404),
        ("GET", "/files/", 404),
        ("DELETE", "/files/old.txt", 404),
        ("PUT", "/files/new.txt", 503),
    ] {
        let response = server.exchange(&request(method, path, b"x"));
        assert_eq!(response.status, want, "{method} {path}: {response:?}");
        assert_eq!(response.header("content-type"), Some("text/plain"));
    }

    fs::create_dir(server.dir()).unwrap();
    let put = server.exchange(&request("PUT", "/files/new.txt", b"recreated"));
    assert_eq!(put.status, 201, "{put:?}");
    let got = server.exchange(&request("GET", "/files/new.txt", b""));
    assert_eq!((got.status, got.text().as_str()), (200, "recreated"));
    assert_eq!(
        server.exchange(&request("GET", "/files/", b"")).text(),
        "new.txt\n"
    );
    assert_eq!(
        server
            .exchange(&request("GET", "/files/old.txt", b""))
            .status,
        404
    );
    assert_eq!(
        server
            .exchange(&request("DELETE", "/files/new.txt", b""))
            .status,
        204
    );
    assert_eq!(names(server.dir()), Vec::<String>::new());
}

/// A server whose directory is a 1 MiB tmpfs. Fields drop in order: the server, then the
/// mount, then the folder it was made in.
struct FullDisk {
    server: TestServer,
    disk: PathBuf,
    _mounted: Tmpfs,
    _outer: tempfile::TempDir,
}

/// `None` (said why) unless root, who alone may mount.
fn on_a_full_disk() -> Option<FullDisk> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return None;
    }
    let outer = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir_in(outer.path()).unwrap();
    let disk = dir.path().to_owned();
    let mounted = Tmpfs::mount(&disk, "1m");
    Some(FullDisk {
        server: TestServer::in_dir(dir, &[]),
        disk,
        _mounted: mounted,
        _outer: outer,
    })
}

/// Issue #15 item 8: a full disk was a 500; WebDAV clients and RFC 4918 §11.5 expect 507.
#[test]
fn issue_15_a_full_disk_is_507_and_leaves_nothing() {
    let Some(full) = on_a_full_disk() else {
        return;
    };
    let (server, disk) = (&full.server, &full.disk);

    for method in ["PUT", "POST"] {
        let body = vec![b'x'; 2 << 20];
        let mut stream = server.connect();
        let mut writer = stream.try_clone().unwrap();
        let head = format!(
            "{method} /files/big.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // the server answers while the body is still coming: it is sent by another thread
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&body);
        });
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let response = read_response(&mut stream);
        assert_eq!(response.status, 507, "{method}: {response:?}");
        assert_eq!(response.header("content-type"), Some("text/plain"));
        drop(stream);
        sending.join().unwrap();
        assert_eq!(names(disk), Vec::<String>::new(), "{method} left something");
    }
    let small = server.exchange(&request("PUT", "/files/small.txt", b"fits"));
    assert_eq!(small.status, 201, "{small:?}");
    assert_eq!(fs::read_to_string(disk.join("small.txt")).unwrap(), "fits");
}

/// Issue 18: a resumable upload that fills the disk is 507, as a plain one, not 500; what it
/// stored stays until the client resumes or cancels it, and cancelling gives the room back.
#[test]
fn issue_18_a_resumable_upload_on_a_full_disk_is_507_and_cancelling_frees_it() {
    let Some(full) = on_a_full_disk() else {
        return;
    };
    let (server, disk) = (&full.server, &full.disk);
    let body = vec![b'x'; 2 << 20];
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "PUT /files/big.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Upload-Draft-Interop-Version: 9\r\nUpload-Complete: ?0\r\n\r\n",
        body.len()
    );
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let interim = read_response(&mut stream);
    assert_eq!(interim.status, 104, "{interim:?}");
    let upload = interim.header("location").unwrap().to_owned();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 507, "{response:?}");
    assert_eq!(response.header("upload-complete"), Some("?0"));
    drop(stream);
    sending.join().unwrap();
    assert!(!disk.join("big.bin").exists());
    let cancel = format!(
        "DELETE {upload} HTTP/1.1\r\nHost: localhost\r\nUpload-Draft-Interop-Version: 9\r\n\r\n"
    );
    let cancelled = server.exchange(cancel.as_bytes());
    assert_eq!(cancelled.status, 204, "{cancelled:?}");
    let small = server.exchange(&request("PUT", "/files/small.txt", &[b'y'; 512 * 1024]));
    assert_eq!(small.status, 201, "{small:?}");
}

/// Issue #15 item 9: a crash left its `.upload-*` temporaries forever. At start-up those no
/// live process owns are removed and counted in the log; state kept under the reserved
/// prefix for restarts (resumable uploads) stays.
#[test]
fn issue_15_temporaries_of_a_killed_server_are_removed_at_the_next_start() {
    let server = TestServer::start();
    fs::create_dir(server.path(".upload-resumable")).unwrap();
    fs::write(server.path(".upload-resumable/u.state"), "{}").unwrap();
    let half = 512 * 1024;
    let mut stream = server.connect();
    stream
        .write_all(
            b"PUT /files/big.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n",
        )
        .unwrap();
    stream.write_all(&vec![b'x'; half]).unwrap();
    let deadline = Instant::now() + READ_TIMEOUT;
    let temp = loop {
        let found = names(server.dir()).into_iter().find(|n| {
            n.ends_with(".tmp")
                && fs::metadata(server.path(n)).is_ok_and(|m| m.len() == half as u64)
        });
        if let Some(temp) = found {
            break temp;
        }
        assert!(Instant::now() < deadline, "no temporary of {half} bytes");
        std::thread::sleep(Duration::from_millis(10));
    };
    let dir = server.kill_hard();
    drop(stream);
    assert!(dir.path().join(&temp).exists(), "SIGKILL cleans nothing up");

    let restarted = TestServer::in_dir(dir, &[]);
    restarted.wait_for_log(&format!(
        "removed 1 stale upload temporaries ({half} bytes)"
    ));
    assert!(!restarted.path(&temp).exists());
    assert_eq!(names(restarted.dir()), [".upload-resumable"]);
    assert_eq!(
        fs::read_to_string(restarted.path(".upload-resumable/u.state")).unwrap(),
        "{}"
    );
}
