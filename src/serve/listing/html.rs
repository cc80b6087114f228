//! The listing as an HTML page: breadcrumbs, sortable column heads, one row per entry, and
//! when the client may write, the upload panel and delete buttons that the page's script
//! drives. Rows are rendered one at a time (the page streams); maud escapes every name.
//!
//! Names are shown so that none can reorder what the page says about it or about others
//! (`shown_name`): each sits in its own bidi isolate, a file's extension in another, and bidi
//! controls are shown as their code points instead of obeyed. `photo\u{202E}gpj.exe` then
//! reads `photo[U+202E]gpj.exe`, not `photoexe.jpg`.
//!
//! The page's CSS and script are `assets/`, inlined and allowed by their SHA-256 in a strict
//! `Content-Security-Policy`, so the page loads nothing from anywhere.

use std::io::{self, Write};
use std::sync::OnceLock;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::{Listing, Query, SortKey, SortOrder, encode_segment};
use crate::files::DirEntry;
use crate::http::date;

impl Listing {
    pub(super) fn write_html(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.html_head().into_string().as_bytes())?;
        for entry in self.entries.iter() {
            out.write_all(self.html_row(entry).into_string().as_bytes())?;
        }
        out.write_all(self.html_tail().into_string().as_bytes())
    }

    /// Everything up to the first row: breadcrumbs, the upload panel, the table head. The
    /// page's open tags are written raw here and closed in `html_tail`, rows go in between.
    fn html_head(&self) -> Markup {
        let mut crumbs = Vec::with_capacity(self.path.len());
        let mut url = String::from("/files/");
        for segment in &self.path {
            url.push_str(&encode_segment(segment).to_string());
            url.push('/');
            crumbs.push((segment, url.clone()));
        }
        let title: String = self
            .path
            .iter()
            .map(|s| format!("{}/", visible_text(s)))
            .collect();
        html! {
            (DOCTYPE)
            (PreEscaped("<html lang=\"en\">"))
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Index of /files/" (title) }
                style { (PreEscaped(CSS)) }
            }
            (PreEscaped("<body>"))
            header {
                nav.crumbs aria-label="Breadcrumbs" {
                    a href="/files/" { "files" }
                    @for (segment, url) in &crumbs {
                        " / "
                        a href=(url) { (shown_name(segment, false)) }
                    }
                    " /"
                }
            }
            // plain links and a form: they work without the script
            nav.tools aria-label="Folder" {
                form.search role="search" method="get" action="" {
                    input #search type="search" name="q" placeholder="Search names below" aria-label="Search names below this folder";
                    " "
                    button type="submit" { "Search" }
                }
                span.downloads {
                    "Download folder: "
                    a #download-zip href="?download=zip" download { ".zip" }
                    " "
                    a #download-tar href="?download=tar" download { ".tar" }
                }
            }
            @if self.may_write {
                section #manage hidden {
                    button #new-folder type="button" { "New folder" }
                    span #selection {
                        span #selected-count { "0 selected" }
                        " "
                        button #move-selected type="button" disabled { "Move to…" }
                        " "
                        button #delete-selected type="button" disabled { "Delete" }
                        " "
                        button #download-selected type="button" disabled { "Download .zip" }
                    }
                }
                p #status role="status" aria-live="polite" {}
                section #upload hidden {
                    label.picker {
                        "Upload files "
                        input #picker type="file" multiple;
                    }
                    span.hint { " or drop them anywhere on this page" }
                    ul #progress {}
                }
            }
            (PreEscaped("<table>"))
            thead {
                tr {
                    (self.column_head(SortKey::Name, "Name", "sort-name"))
                    (self.column_head(SortKey::Size, "Size", "sort-size"))
                    (self.column_head(SortKey::Modified, "Modified", "sort-date"))
                    @if self.may_write { th.actions hidden { span.visually-hidden { "Actions" } } }
                }
            }
            (PreEscaped("<tbody>"))
            @if !self.path.is_empty() {
                tr.parent {
                    td.name { a href="../" rel="up" { "../" } }
                    td {}
                    td {}
                }
            }
        }
    }

    /// A column's head: a link that sorts by it, ascending first, then the other way.
    fn column_head(&self, key: SortKey, label: &str, id: &str) -> Markup {
        let current = self.query.sort == key;
        let (next, arrow, sorted) = match (current, self.query.order) {
            (false, _) => (SortOrder::Ascending, "", "none"),
            (true, SortOrder::Ascending) => (SortOrder::Descending, " ▲", "ascending"),
            (true, SortOrder::Descending) => (SortOrder::Ascending, " ▼", "descending"),
        };
        let next = Query {
            sort: key,
            order: next,
        };
        html! {
            th aria-sort=(sorted) {
                a #(id) href=(next.as_str()) { (label) (arrow) }
            }
        }
    }

    fn html_row(&self, entry: &DirEntry) -> Markup {
        let href = if entry.is_dir {
            format!("{}/", encode_segment(&entry.name))
        } else {
            encode_segment(&entry.name).to_string()
        };
        let modified = date::rfc3339(entry.modified);
        let modified = std::str::from_utf8(&modified).expect("RFC 3339 is ASCII");
        html! {
            tr class=[entry.is_dir.then_some("dir")] {
                td.name {
                    // the script needs the name itself, which the text no longer is
                    a href=(href) data-name=(entry.name) {
                        (shown_name(&entry.name, !entry.is_dir))
                        @if entry.is_dir { "/" }
                    }
                }
                td.size data-bytes=(entry.size) {
                    @if !entry.is_dir { (human_size(entry.size)) }
                }
                td.modified {
                    time datetime=(modified) { (modified[..16].replace('T', " ")) }
                }
            }
        }
    }

    fn html_tail(&self) -> Markup {
        let count = self.entries.len();
        html! {
            (PreEscaped("</tbody></table>"))
            footer {
                (count) @if count == 1 { " entry" } @else { " entries" }
            }
            script { (PreEscaped(JS)) }
            (PreEscaped("</body></html>\n"))
        }
    }
}

/// The explicit bidi formatting characters of UAX #9 (embeddings, overrides, isolates, their
/// terminators) and the three marks. Obeyed in a name, they reorder what is shown: a
/// right-to-left override makes `gpj.exe` read `exe.jpg`.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A name for the page: in a `<bdi>` (its own direction, `dir=auto`, isolated from the text
/// around it), a file's extension in a second one, so a right-to-left name still ends in the
/// extension it has; and each bidi control shown as its code point (`visible`).
pub(crate) fn shown_name(name: &str, is_file: bool) -> Markup {
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if is_file && dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    html! {
        bdi {
            bdi { (visible(stem)) }
            @if !extension.is_empty() { bdi { (visible(extension)) } }
        }
    }
}

/// `text` with each bidi control replaced by a marked `U+202E`.
fn visible(text: &str) -> Markup {
    html! {
        @for piece in pieces(text) {
            @match piece {
                Piece::Text(run) => (run),
                Piece::Control(c) => span.bidi { (code_point(c)) },
            }
        }
    }
}

enum Piece<'a> {
    Text(&'a str),
    Control(char),
}

/// `text` cut into runs without bidi controls and the controls between them.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices().filter(|&(_, c)| is_bidi_control(c)) {
        if start < i {
            out.push(Piece::Text(&text[start..i]));
        }
        out.push(Piece::Control(c));
        start = i + c.len_utf8();
    }
    if start < text.len() {
        out.push(Piece::Text(&text[start..]));
    }
    out
}

/// `text` with each bidi control replaced by `[U+202E]`, where no markup can go (the title).
fn visible_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_bidi_control(c) {
                format!("[{}]", code_point(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// `999 B`, `1.0 KiB`, `12.3 MiB`: binary units, one decimal from KiB up.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

const CSS: &str = include_str!("assets/listing.css");
const JS: &str = include_str!("assets/listing.js");

/// The page's `Content-Security-Policy`: nothing from anywhere but its one style and one
/// script, allowed by their hashes.
pub(super) fn page_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = |text: &str| {
            let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        format!(
            "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            hash(CSS),
            hash(JS)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::listing::{Format, files_url};
    use std::path::Path;

    fn page(may_write: bool) -> String {
        let entry = |name: &str, is_dir| DirEntry {
            name: name.into(),
            is_dir,
            size: 2048,
            modified: std::time::UNIX_EPOCH,
        };
        let mut listing = Listing {
            path: vec!["a&b".into(), "<c>".into()],
            entries: vec![entry("x\"y'<z>.txt", false), entry("d #1", true)].into(),
            format: Format::Html,
            query: Query::default(),
            may_write,
        };
        listing.sort();
        let mut out = Vec::new();
        listing.write_body(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn html_escapes_and_encodes_in_one_place() {
        let html = page(true);
        for want in [
            "<title>Index of /files/a&amp;b/&lt;c&gt;/</title>",
            "<a href=\"/files/a%26b/\"><bdi><bdi>a&amp;b</bdi></bdi></a>",
            "<a href=\"/files/a%26b/%3Cc%3E/\"><bdi><bdi>&lt;c&gt;</bdi></bdi></a>",
            "<a href=\"x%22y%27%3Cz%3E.txt\" data-name=\"x&quot;y'&lt;z&gt;.txt\">\
             <bdi><bdi>x&quot;y'&lt;z&gt;</bdi><bdi>.txt</bdi></bdi></a>",
            "<a href=\"d%20%231/\" data-name=\"d #1\"><bdi><bdi>d #1</bdi></bdi>/</a>",
            "<td class=\"size\" data-bytes=\"2048\">2.0 KiB</td>",
            "<time datetime=\"1970-01-01T00:00:00Z\">1970-01-01 00:00</time>",
            "<a href=\"../\" rel=\"up\">",
            "id=\"picker\"",
            "<th class=\"actions\" hidden>",
        ] {
            assert!(html.contains(want), "{want} not in {html}");
        }
        assert!(html.find("d #1<").unwrap() < html.find("x&quot;").unwrap());
        assert!(html.ends_with("</body></html>\n"));
    }

    #[test]
    fn issue_15_no_name_can_reorder_its_extension() {
        let shown = |name: &str, is_file| shown_name(name, is_file).into_string();
        assert_eq!(
            shown("photo\u{202E}gpj.exe", true),
            "<bdi><bdi>photo<span class=\"bidi\">U+202E</span>gpj</bdi><bdi>.exe</bdi></bdi>"
        );
        // a right-to-left name keeps its extension in an isolate of its own
        assert_eq!(
            shown("שלום.exe", true),
            "<bdi><bdi>שלום</bdi><bdi>.exe</bdi></bdi>"
        );
        assert_eq!(shown(".env", true), "<bdi><bdi>.env</bdi></bdi>");
        assert_eq!(shown("a.b", false), "<bdi><bdi>a.b</bdi></bdi>");
        // every explicit formatting character and mark, none left to obey
        for c in "\u{61C}\u{200E}\u{200F}\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}".chars() {
            let html = shown(&format!("a{c}b.txt"), true);
            assert!(!html.contains(c), "{html}");
            assert!(html.contains(&code_point(c)), "{html}");
        }
        assert_eq!(visible_text("x\u{202E}y"), "x[U+202E]y");
    }

    #[test]
    fn read_only_pages_offer_no_writes() {
        let html = page(false);
        for absent in [
            "id=\"upload\"",
            "id=\"picker\"",
            "class=\"delete\"",
            "class=\"actions\"",
        ] {
            assert!(!html.contains(absent), "{absent}");
        }
    }

    #[test]
    fn sizes_and_links() {
        for (bytes, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (10 << 20, "10.0 MiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(human_size(bytes), want);
        }
        assert_eq!(
            encode_segment("a b#c%d?e&f\"g'h<i>:é/").to_string(),
            "a%20b%23c%25d%3Fe%26f%22g%27h%3Ci%3E%3A%C3%A9%2F"
        );
        assert_eq!(encode_segment("A-z_0.9~").to_string(), "A-z_0.9~");
        assert_eq!(
            files_url(Path::new("sub dir/café #1.txt")),
            "/files/sub%20dir/caf%C3%A9%20%231.txt"
        );
    }
}
