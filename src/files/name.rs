//! URL segment -> safe relative name: what a `/files/` URL may name on disk. Percent-decode
//! first, validate second (darkhttpd: `urldecode`, then `make_safe_url`), so that an encoded
//! `../` is judged as the `../` it stands for. Nothing here touches the disk.

use std::path::PathBuf;

use super::error::FileError;
use super::write::TEMP_PREFIX;

/// Percent-decodes `s` (RFC 3986 §2.1); `None` for a `%` not followed by two hex digits.
/// `percent-encoding` decodes, but passes a malformed escape through as it stands: a name
/// with one is refused here first, so that `%zz` and `%` cannot mean themselves.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let well_formed = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'%')
        .all(|(i, _)| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    well_formed.then(|| percent_encoding::percent_decode(bytes).collect())
}

/// Whether `c` may not be part of a name: a control character (C0, DEL and C1, NEL U+0085
/// among them) or a Unicode line or paragraph separator (U+2028, U+2029). Each ends a line
/// somewhere (a terminal, a log, an editor, a JSON-in-JS reader), and a name that splits the
/// one-name-per-line listing forges entries in it. These are every character of the line
/// break classes BK, CR, LF and NL (UAX #14), and no name a person types needs one.
pub fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A name under the root, checked to be made of normal segments only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// Relative path of normal segments; empty for the root itself.
    pub relative: PathBuf,
    /// The URL ended in `/` (as `/files/` itself does): the client asks for a directory
    /// listing, whatever the name turns out to be on disk.
    pub ends_in_slash: bool,
}

impl FileName {
    /// Whether any segment starts with `.`: a dot file, or a name inside a dot directory.
    pub fn has_dot_segment(&self) -> bool {
        self.relative
            .iter()
            .any(|segment| segment.as_encoded_bytes().starts_with(b"."))
    }
}

/// Decodes then validates a `/files/` name: UTF-8, segments separated by `/`, none of them
/// empty, `.` or `..`, and no backslash, control character (NUL and C1 included) or line
/// separator (`breaks_lines`) anywhere. Decoding first means `%2e%2e%2f` is judged as the
/// `../` it stands for (darkhttpd's `urldecode` then `make_safe_url`). A segment starting with `TEMP_PREFIX` is `Reserved`. An encoded `/`
/// (`%2F`) is refused: `sub%2F` would list `sub` at a URL whose relative links resolve one
/// level up, so the listing's links, uploads and deletes would aim at the parent.
pub fn resolve_name(encoded: &str) -> Result<FileName, FileError> {
    if encoded
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%2f"))
    {
        return Err(FileError::BadName);
    }
    let decoded = percent_decode(encoded).ok_or(FileError::BadName)?;
    let name = String::from_utf8(decoded).map_err(|_| FileError::BadName)?;
    let (body, ends_in_slash) = match name.strip_suffix('/') {
        Some(body) => (body, true),
        None => (name.as_str(), false),
    };
    let mut relative = PathBuf::new();
    if body.is_empty() {
        return if name.is_empty() {
            Ok(FileName {
                relative,
                ends_in_slash: true,
            })
        } else {
            Err(FileError::BadName)
        };
    }
    for segment in body.split('/') {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(|c: char| c == '\\' || breaks_lines(c))
        {
            return Err(FileError::BadName);
        }
        // another request could read a half-written upload, or rename or delete it under
        // the upload that owns it and so tear the file it lands on
        if segment.starts_with(TEMP_PREFIX) {
            return Err(FileError::Reserved);
        }
        relative.push(segment);
    }
    Ok(FileName {
        relative,
        ends_in_slash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let ok = |s: &str, rel: &str, ends_in_slash: bool| {
            assert_eq!(
                resolve_name(s).unwrap(),
                FileName {
                    relative: PathBuf::from(rel),
                    ends_in_slash
                },
                "{s}"
            );
        };
        ok("a.txt", "a.txt", false);
        ok("sub/a.txt", "sub/a.txt", false);
        ok("hello%20world", "hello world", false);
        ok("caf%C3%A9", "café", false);
        ok("", "", true);
        ok("sub/", "sub", true);
        ok("..a", "..a", false);
        // bidi controls are allowed (the page isolates them); other separators are not lines
        ok("a%E2%80%AEtxt.exe", "a\u{202e}txt.exe", false);
        ok("a%C2%A0b", "a\u{a0}b", false);
        ok("a%E2%80%8Bb", "a\u{200b}b", false);
        for bad in [
            "../x",
            "..%2fx",
            "..%2Fx",
            "sub%2F",
            "sub%2fa.txt",
            "%2e%2e/x",
            "%2e%2e%2fx",
            "/etc/passwd",
            "//etc/passwd",
            "sub/../../x",
            "..\\x",
            "..%5cx",
            "a%00b",
            "%00",
            ".",
            "..",
            "./a",
            "a//b",
            "a/./b",
            "a/..",
            "%",
            "%2",
            "%zz",
            "%ff",
            "/",
            "a%0Ab",
            "a%0d",
            "%7f",
            "a%09b",
            // C1 controls and Unicode's line and paragraph separators end lines too
            "a%C2%85b",
            "a%C2%80",
            "%C2%9F",
            "a%E2%80%A8b",
            "a%E2%80%A9b",
            "sub%E2%80%A8/x",
        ] {
            assert!(
                matches!(resolve_name(bad), Err(FileError::BadName)),
                "{bad:?} accepted"
            );
        }
        for reserved in [".upload-1-0.tmp", "sub/.upload-x", ".upload-/a"] {
            assert!(
                matches!(resolve_name(reserved), Err(FileError::Reserved)),
                "{reserved:?} accepted"
            );
        }
        ok(".upload", ".upload", false);
        ok("x.upload-1", "x.upload-1", false);
    }

    #[test]
    fn percent_decoding_is_strict() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("abc", Some(b"abc")),
            ("a%20b", Some(b"a b")),
            ("%41%42", Some(b"AB")),
            ("%e9%C3", Some(b"\xe9\xc3")),
            ("%25zz", Some(b"%zz")),
            ("100%", None),
            ("%4", None),
            ("%4g", None),
            ("%%41", None),
            ("%41%", None),
            ("a%zzb", None),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input).as_deref(), *want, "{input:?}");
        }
    }
}
