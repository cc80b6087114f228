//! File name -> `Content-Type`, from the extension alone (thin, over `mime_guess`'s table of
//! the IANA and Apache `mime.types` names). Content is never sniffed: the type a client sees
//! depends on the name it asked for, which the uploader chose, not on bytes an uploader wrote.

use std::borrow::Cow;
use std::path::Path;

/// The type for names without an extension, or with one the table does not know. The
/// exercise's runner compares it byte for byte.
pub const UNKNOWN: &str = "application/octet-stream";

/// The `Content-Type` value for a file called `name`. Text, JavaScript and JSON carry
/// `; charset=utf-8`: browsers would otherwise guess the charset (windows-1252 for text/plain).
pub fn content_type(name: &Path) -> Cow<'static, str> {
    let Some(mime) = mime_guess::from_path(name).first() else {
        return Cow::Borrowed(UNKNOWN);
    };
    if mime.get_param(mime_guess::mime::CHARSET).is_none() && is_textual(&mime) {
        Cow::Owned(format!("{}; charset=utf-8", mime.essence_str()))
    } else {
        Cow::Owned(mime.essence_str().to_owned())
    }
}

/// Whether the type is text a browser decodes with a charset.
fn is_textual(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml"
        )
        || mime.suffix() == Some(mime_guess::mime::JSON)
        || mime.suffix() == Some(mime_guess::mime::XML)
}

/// Whether gzip pays for this type: text, JSON, JavaScript, SVG and XML. Images, archives
/// and media are compressed already.
pub fn is_compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// Whether a browser runs script from a document of this type: HTML, XHTML, SVG, XML (which
/// may be XHTML in disguise).
pub fn is_active(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "text/html" | "application/xhtml+xml" | "text/xml" | "application/xml"
    ) || essence.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        let cases = [
            ("mango_pear_apple_grape", UNKNOWN),
            ("noext.", UNKNOWN),
            ("archive.unknownext", UNKNOWN),
            (".hidden", UNKNOWN),
            ("a.txt", "text/plain; charset=utf-8"),
            ("A.TXT", "text/plain; charset=utf-8"),
            ("index.html", "text/html; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("data.json", "application/json; charset=utf-8"),
            ("feed.xml", "text/xml; charset=utf-8"),
            ("logo.svg", "image/svg+xml; charset=utf-8"),
            ("photo.png", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            ("song.mp3", "audio/mpeg"),
            ("doc.pdf", "application/pdf"),
            ("a.tar.gz", "application/gzip"),
            ("sub/dir/page.htm", "text/html; charset=utf-8"),
        ];
        for (name, want) in cases {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }

    #[test]
    fn compressible() {
        for yes in [
            "text/plain; charset=utf-8",
            "text/css",
            "application/json",
            "image/svg+xml",
            "application/ld+json",
        ] {
            assert!(is_compressible(yes), "{yes}");
        }
        for no in [UNKNOWN, "image/png", "application/gzip", "video/mp4"] {
            assert!(!is_compressible(no), "{no}");
        }
        for active in [
            "text/html; charset=utf-8",
            "image/svg+xml; charset=utf-8",
            "application/xhtml+xml",
            "text/xml",
        ] {
            assert!(is_active(active), "{active}");
        }
        for inert in [
            "text/plain; charset=utf-8",
            "application/pdf",
            "text/css",
            "text/javascript",
            UNKNOWN,
        ] {
            assert!(!is_active(inert), "{inert}");
        }
    }
}
