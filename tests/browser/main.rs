//! The listing page in a real browser (issue 9): Chromium driven through chromedriver with
//! fantoccini. Needs Debian's `chromium` and `chromium-driver`, so it only builds with
//! `--features browser-tests` (`.ci/run` installs the packages and runs it); the README's plain
//! `cargo test` never sees it, rather than seeing it skip.
//!
//! One session walks what a person does: browse into a sub-directory, follow links to awkward
//! names, upload through the page, delete with the confirmation, sort by size. It also takes
//! the screenshot the README shows (`docs/listing.png`).

#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;

mod relay;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use relay::Relay;
use support::{TestServer, binary, read_head_response};

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        // chromedriver wants a port number; a free one from the kernel, released just before
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) on PATH");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("chromedriver says when it is ready")
                .unwrap();
            if line.contains("started successfully") {
                break;
            }
        }
        // keep draining its output so that it never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    browser_downloading(driver, profile, profile).await
}

/// A Chromium session that saves downloads into `downloads` without asking.
async fn browser_downloading(
    driver: &Driver,
    profile: &std::path::Path,
    downloads: &std::path::Path,
) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1000,760",
                "--force-device-scale-factor=1",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The names in the listing's rows, top to bottom (the parent link left out), read in one
/// script call so that a page reloading meanwhile cannot leave a stale element in hand.
async fn row_names(client: &Client) -> Vec<String> {
    let names = client
        .execute(
            "return [...document.querySelectorAll('tbody tr:not(.parent) td.name a')]
               .map((a) => a.innerText);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(names).unwrap()
}

const AWKWARD: [&str; 8] = [
    "with space.txt",
    "hash#tag.txt",
    "100%.txt",
    "what?.txt",
    "a&b.txt",
    "quote\"s'.txt",
    "<script>alert(1)<.txt",
    "café ☕.txt",
];

#[tokio::test(flavor = "current_thread")]
async fn issue_9_a_person_browses_uploads_deletes_and_sorts() {
    let server = TestServer::start();
    let sub = "docs & notes";
    fs::create_dir(server.path(sub)).unwrap();
    fs::create_dir(server.path("photos")).unwrap();
    for name in AWKWARD {
        fs::write(
            server.path(&format!("{sub}/{name}")),
            format!("bytes of {name}"),
        )
        .unwrap();
    }
    fs::write(server.path("README.txt"), "Read me first.\n").unwrap();
    fs::write(server.path("report.pdf"), binary(180_000, 1)).unwrap();
    fs::write(server.path("notes.md"), "# Notes\n".repeat(300)).unwrap();
    fs::write(server.path("archive.tar.gz"), binary(2_400_000, 2)).unwrap();
    fs::write(server.path("old.log"), "old\n".repeat(50)).unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let base = server.url("/files/");

    // browse into the sub-directory by its link; the breadcrumbs follow
    client.goto(&base).await.unwrap();
    client
        .find(Locator::LinkText("docs & notes/"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let here = client.current_url().await.unwrap();
    assert_eq!(here.path(), "/files/docs%20%26%20notes/");
    let crumbs = client
        .find(Locator::Css("nav.crumbs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(crumbs, "files / docs & notes /");

    // every awkward name shows as itself and its link brings its own bytes
    let shown = row_names(&client).await;
    for name in AWKWARD {
        assert!(shown.iter().any(|s| s == name), "{name} not in {shown:?}");
        client
            .find(Locator::LinkText(name))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let body = client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, format!("bytes of {name}"), "{name}");
        client.back().await.unwrap();
    }
    // and the parent link leads back up
    client
        .find(Locator::Css("a[rel=up]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/files/");

    // upload through the page's file picker: the file lands whole, the page lists it
    let upload_dir = tempfile::tempdir().unwrap();
    let local = upload_dir.path().join("holiday photo #1.jpg");
    let content = binary(3_000_000, 7);
    fs::write(&local, &content).unwrap();
    pick(&client, &local).await;
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::LinkText("holiday photo #1.jpg"))
        .await
        .expect("the page lists the upload after it reloads");
    assert_eq!(
        fs::read(server.path("holiday photo #1.jpg")).unwrap(),
        content
    );

    // uploading over a listed file asks first; declined, nothing changes; accepted, replaced
    let replacement = upload_dir.path().join("README.txt");
    fs::write(&replacement, "Read me second.\n").unwrap();
    let picker = client.find(Locator::Id("picker")).await.unwrap();
    picker
        .send_keys(replacement.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        client.get_alert_text().await.unwrap(),
        "Replace README.txt?"
    );
    client.dismiss_alert().await.unwrap();
    assert_eq!(
        fs::read(server.path("README.txt")).unwrap(),
        b"Read me first.\n"
    );
    picker
        .send_keys(replacement.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        client.get_alert_text().await.unwrap(),
        "Replace README.txt?"
    );
    client.accept_alert().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("tr td.size[data-bytes='16']"))
        .await
        .expect("the page lists the replaced file after it reloads");
    assert_eq!(
        fs::read(server.path("README.txt")).unwrap(),
        b"Read me second.\n"
    );

    // delete one, through the confirmation
    let row = client
        .find(Locator::XPath("//tr[td/a[@data-name='old.log']]"))
        .await
        .unwrap();
    row.find(Locator::Css("button.delete"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(client.get_alert_text().await.unwrap(), "Delete old.log?");
    client.accept_alert().await.unwrap();
    wait_until_gone(&client, "old.log").await;
    assert!(!server.path("old.log").exists(), "deleted on disk");

    // sort by size: directories first, then smallest to largest; again for the reverse
    let files_by_size = |descending: bool| {
        let mut files: Vec<(u64, String)> = fs::read_dir(server.dir())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| {
                (
                    e.metadata().unwrap().len(),
                    e.file_name().into_string().unwrap(),
                )
            })
            .collect();
        files.sort();
        if descending {
            files.reverse();
        }
        files.into_iter().map(|(_, name)| name).collect::<Vec<_>>()
    };
    // directories first (in either order: their sizes are the file system's business), then
    // the files by size
    let check_order = |mut names: Vec<String>, descending: bool| {
        let files = names.split_off(2);
        names.sort();
        assert_eq!(names, ["docs & notes/", "photos/"]);
        assert_eq!(files, files_by_size(descending));
    };
    client
        .find(Locator::Id("sort-size"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    check_order(row_names(&client).await, false);
    assert!(client.current_url().await.unwrap().query() == Some("sort=size&order=asc"));
    client
        .find(Locator::Id("sort-size"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    check_order(row_names(&client).await, true);

    // the README's picture of the page
    let png = client.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    fs::create_dir_all(&docs).unwrap();
    fs::write(docs.join("listing.png"), png).unwrap();
    client.close().await.unwrap();
}

/// Answers the prompt the page just opened with `text`.
async fn answer_prompt(client: &Client, text: &str) {
    client.send_alert_text(text).await.unwrap();
    client.accept_alert().await.unwrap();
}

async fn row_button(client: &Client, name: &str, class: &str) {
    let row = client
        .find(Locator::XPath(&format!("//tr[td/a[@data-name='{name}']]")))
        .await
        .unwrap();
    row.find(Locator::Css(&format!("button.{class}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for_link(client: &Client, text: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("{text} never listed: {e}"));
}

#[tokio::test(flavor = "current_thread")]
async fn issue_17_a_person_makes_renames_moves_downloads_searches_and_deletes_a_folder() {
    let server = TestServer::start();
    fs::write(server.path("drag me.txt"), "dragged\n").unwrap();
    fs::write(server.path("move me.txt"), "moved by menu\n").unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let client = browser_downloading(&driver, profile.path(), downloads.path()).await;
    client.goto(&server.url("/files/")).await.unwrap();

    // a new folder, then an upload into it through the page
    client
        .find(Locator::Id("new-folder"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    answer_prompt(&client, "Trip 2026").await;
    wait_for_link(&client, "Trip 2026/").await;
    assert!(server.path("Trip 2026").is_dir());
    client
        .find(Locator::LinkText("Trip 2026/"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let photo = downloads.path().join("beach #1.jpg");
    let content = binary(1_500_000, 17);
    fs::write(&photo, &content).unwrap();
    pick(&client, &photo).await;
    wait_for_link(&client, "beach #1.jpg").await;
    fs::remove_file(&photo).unwrap();
    client
        .find(Locator::Css("a[rel=up]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // a name that exists already is refused with a message, and nothing changes
    client
        .find(Locator::Id("new-folder"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    answer_prompt(&client, "Trip 2026").await;
    let status = client.find(Locator::Id("status")).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#status.failed"))
        .await
        .unwrap();
    assert!(status.text().await.unwrap().contains("already exists"));

    // rename the folder in place
    row_button(&client, "Trip 2026", "rename").await;
    answer_prompt(&client, "Trip & more").await;
    wait_for_link(&client, "Trip & more/").await;
    assert!(server.path("Trip & more/beach #1.jpg").is_file());
    assert!(!server.path("Trip 2026").exists());

    // move a file into it by dragging its row onto the folder's row (the page's drag handlers,
    // driven by script: WebDriver cannot perform a native HTML drag)
    client
        .execute(
            "const [from, to] = arguments;
             const row = (name) => [...document.querySelectorAll('tbody tr')]
               .find((r) => r.querySelector('td.name a')?.textContent === name);
             const data = new DataTransfer();
             row(from).dispatchEvent(new DragEvent('dragstart', { dataTransfer: data, bubbles: true }));
             row(to).dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
             row(to).dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));",
            vec![json!("drag me.txt"), json!("Trip & more/")],
        )
        .await
        .unwrap();
    wait_until_gone(&client, "drag me.txt").await;
    assert_eq!(
        fs::read(server.path("Trip & more/drag me.txt")).unwrap(),
        b"dragged\n"
    );

    // and one with "Move to…", from the keyboard
    let row = client
        .find(Locator::XPath("//tr[td/a[@data-name='move me.txt']]"))
        .await
        .unwrap();
    let button = row.find(Locator::Css("button.move")).await.unwrap();
    button.send_keys("\u{e007}").await.unwrap(); // Enter
    answer_prompt(&client, "/files/Trip & more/").await;
    wait_until_gone(&client, "move me.txt").await;
    assert_eq!(
        fs::read(server.path("Trip & more/move me.txt")).unwrap(),
        b"moved by menu\n"
    );

    // download the folder as zip from its page; every entry's bytes match
    client
        .find(Locator::LinkText("Trip & more/"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Id("download-zip"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let zip = downloads.path().join("Trip & more.zip");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !zip.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no download in {downloads:?}"
        );
        client.find(Locator::Css("body")).await.unwrap();
    }
    let out = downloads.path().join("out");
    let unzip = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&out)
        .status()
        .unwrap();
    assert!(unzip.success());
    assert_eq!(fs::read(out.join("beach #1.jpg")).unwrap(), content);
    assert_eq!(fs::read(out.join("drag me.txt")).unwrap(), b"dragged\n");
    assert_eq!(
        fs::read(out.join("move me.txt")).unwrap(),
        b"moved by menu\n"
    );

    // search from the root and follow the hit
    client.goto(&server.url("/files/")).await.unwrap();
    let search = client.find(Locator::Id("search")).await.unwrap();
    search.send_keys("MOVE ME").await.unwrap();
    search.send_keys("\u{e007}").await.unwrap();
    wait_for_link(&client, "Trip & more/move me.txt").await;
    client
        .find(Locator::LinkText("Trip & more/move me.txt"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let body = client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "moved by menu");

    // delete the folder: the confirmation says how much it holds
    client.goto(&server.url("/files/")).await.unwrap();
    row_button(&client, "Trip & more", "delete").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let question = loop {
        if let Ok(text) = client.get_alert_text().await {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no confirmation");
    };
    assert_eq!(
        question,
        "Delete the folder Trip & more and the 3 entries in it?"
    );
    client.accept_alert().await.unwrap();
    wait_until_gone(&client, "Trip & more/").await;
    assert!(!server.path("Trip & more").exists());
    client.close().await.unwrap();
}

/// Waits until the listing no longer shows `name` (fantoccini waits for presence only); each
/// look is a WebDriver round trip.
async fn wait_until_gone(client: &Client, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row_names(client).await.iter().any(|n| n == name) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} still listed"
        );
    }
}

const MIB: u64 = 1 << 20;

/// Issue 18: a big upload through the page goes on from the server's offset after the server
/// is killed and started again mid-upload, and after the page is reloaded mid-upload and the
/// same file picked again; Pause and Resume, and Cancel, work on its row. The browser talks to
/// the server through a relay that holds and cuts its connection at a chosen byte.
#[tokio::test(flavor = "current_thread")]
async fn issue_18_a_big_upload_survives_a_restart_and_a_reload_and_pauses_and_cancels() {
    const SIZE: u64 = 40 * MIB;
    let server = TestServer::start();
    let relay = Relay::start(server.addr);
    let local = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["restarted.bin", "reloaded.bin", "cancelled.bin"]
        .into_iter()
        .zip(18..)
        .map(|(name, seed)| {
            let bytes = binary(SIZE as usize, seed);
            let path = local.path().join(name);
            fs::write(&path, &bytes).unwrap();
            (name, path, bytes)
        })
        .collect();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client
        .goto(&format!("http://{}/files/", relay.addr))
        .await
        .unwrap();

    // the server is killed while the third 8 MiB append is on its way, and started again
    let (name, path, bytes) = &files[0];
    relay.arm(20 * MIB);
    pick(&client, path).await;
    relay.wait_held();
    let server = TestServer::in_dir(server.kill_keeping_dir(), &[]);
    relay.point_at(server.addr);
    relay.cut();
    wait_for_link(&client, name).await;
    assert!(
        fs::read(server.path(name)).unwrap() == *bytes,
        "{name} is not whole"
    );
    // from the server's offset (at least the two appends it answered): had the page started
    // again from zero it would have sent 60 MiB
    let sent = relay.forwarded();
    assert!(sent < SIZE + 8 * MIB, "{sent} bytes sent for {SIZE}");

    // the page is reloaded mid-upload; the same file picked again resumes from the offset
    let (name, path, bytes) = &files[1];
    relay.arm(20 * MIB);
    pick(&client, path).await;
    relay.wait_held();
    client.refresh().await.unwrap();
    relay.cut();
    let remembered = remembered_uploads(&client).await;
    assert_eq!(remembered.len(), 1, "{remembered:?}");
    let offset = upload_offset(&server, &remembered[0]);
    assert!(offset >= 16 * MIB, "{offset}");
    relay.arm(4 * MIB);
    pick(&client, path).await;
    relay.wait_held();
    let label = wait_for_label(&client, "resumed at").await;
    let resumed_at = upload_row(&client, "dataset.resumedAt").await;
    assert!(resumed_at.parse::<u64>().unwrap() >= offset, "{label}");
    // paused: the append in flight is dropped; resumed: the server's offset again
    row_control(&client, "pause", "Pause").await;
    wait_for_label(&client, "paused").await;
    relay.cut();
    row_control(&client, "pause", "Resume").await;
    wait_for_link(&client, name).await;
    assert!(
        fs::read(server.path(name)).unwrap() == *bytes,
        "{name} is not whole"
    );
    // only the rest went after the reload (and the 4 MiB that the pause dropped, at most)
    let sent = relay.forwarded();
    assert!(
        sent <= SIZE - offset + 4 * MIB + 64 * 1024,
        "{sent} sent, {offset} held"
    );
    assert!(remembered_uploads(&client).await.is_empty());

    // cancelled mid-upload: no file, no partial data, nothing remembered
    let (name, path, _) = &files[2];
    relay.arm(12 * MIB);
    pick(&client, path).await;
    relay.wait_held();
    row_control(&client, "cancel", "Cancel").await;
    relay.cut();
    wait_for_label(&client, "sent — cancelled").await;
    assert!(!server.path(name).exists());
    let partial: Vec<_> = fs::read_dir(server.path(".upload-resumable"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".data"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
    assert!(remembered_uploads(&client).await.is_empty());

    // a file of that name appeared since the page was loaded: not replaced unasked (412)
    let late = local.path().join("late.bin");
    fs::write(&late, binary(9 << 20, 22)).unwrap();
    fs::write(server.path("late.bin"), "someone else's").unwrap();
    pick(&client, &late).await;
    wait_for_label(&client, "sent — 412").await;
    assert_eq!(
        fs::read(server.path("late.bin")).unwrap(),
        b"someone else's"
    );
    assert!(remembered_uploads(&client).await.is_empty());
    client.close().await.unwrap();
}

/// Picks `path` in the page's file picker, as a person choosing one file.
async fn pick(client: &Client, path: &std::path::Path) {
    client
        .find(Locator::Id("picker"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
}

/// The upload resources the page remembers for resuming after a reload.
async fn remembered_uploads(client: &Client) -> Vec<String> {
    let urls = client
        .execute(
            "return Object.keys(localStorage).filter((k) => k.startsWith('upload '))
               .map((k) => localStorage.getItem(k));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(urls).unwrap()
}

/// The server's offset for an upload resource (anonymous: the URL is the whole key).
fn upload_offset(server: &TestServer, url: &str) -> u64 {
    let mut stream = server.connect();
    let head = format!(
        "HEAD {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpload-Draft-Interop-Version: 8\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    let response = read_head_response(&mut stream);
    assert!(response.status < 300, "{response:?}");
    response.header("upload-offset").unwrap().parse().unwrap()
}

/// `expression` of the last row in the upload list (`textContent`, `dataset.sent` ...).
async fn upload_row(client: &Client, expression: &str) -> String {
    let value = client
        .execute(
            &format!(
                "const row = document.querySelector('#progress li:last-child');
                 return row ? String(row.{expression} ?? '') : '';"
            ),
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

/// Waits (at most 30 s) until the last upload row says `needle`; each look is a WebDriver
/// round trip.
async fn wait_for_label(client: &Client, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = upload_row(client, "textContent").await;
        if text.contains(needle) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upload row never said {needle:?}: {text}"
        );
    }
}

/// Clicks the last upload row's button of `class`, which must read `label`.
async fn row_control(client: &Client, class: &str, label: &str) {
    let button = client
        .find(Locator::Css(&format!(
            "#progress li:last-child button.{class}"
        )))
        .await
        .unwrap();
    assert_eq!(button.text().await.unwrap(), label);
    button.click().await.unwrap();
}
