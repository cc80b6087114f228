//! The `Content-Disposition` value that makes a browser save the archive under the folder's
//! name (RFC 6266), with the RFC 8187 `filename*` form for a name that is not plain ASCII.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187 §3.2.1: what `value-chars` leaves as it is (`attr-char`); all else is
/// percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"` for `file_name` (the folder's name with the archive's
/// extension). A name that is not printable ASCII, or holds `"`, `\` or `%`, gets an ASCII
/// fallback in `filename` (each such character as `_`) and itself in `filename*=UTF-8''…`:
/// readers that know `filename*` take it (RFC 6266 §4.3), and `filename` comes first
/// because some older parsers stop at the first (appendix D). Control characters never reach
/// the header.
pub fn attachment(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| match c {
            // `%` would be decoded by some browsers; `"` and `\` would need quoting
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    if fallback == file_name {
        return format!("attachment; filename=\"{file_name}\"");
    }
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_need_no_extended_form_and_others_get_both() {
        for (name, expected) in [
            ("photos.zip", "attachment; filename=\"photos.zip\""),
            ("my files.tar", "attachment; filename=\"my files.tar\""),
            (
                "café.zip",
                "attachment; filename=\"caf_.zip\"; filename*=UTF-8''caf%C3%A9.zip",
            ),
            (
                "say \"hi\".zip",
                "attachment; filename=\"say _hi_.zip\"; filename*=UTF-8''say%20%22hi%22.zip",
            ),
            (
                "100%\\x.tar",
                "attachment; filename=\"100__x.tar\"; filename*=UTF-8''100%25%5Cx.tar",
            ),
            (
                "日本.zip",
                "attachment; filename=\"__.zip\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.zip",
            ),
            ("a#b&c.zip", "attachment; filename=\"a#b&c.zip\""),
        ] {
            assert_eq!(attachment(name), expected, "{name:?}");
        }
    }

    #[test]
    fn control_characters_cannot_split_the_header() {
        let value = attachment("evil\r\nSet-Cookie: x=1.zip");
        assert!(!value.bytes().any(|b| b.is_ascii_control()), "{value}");
        assert!(value.contains("filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x%3D1.zip"));
    }
}
