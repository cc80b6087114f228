//! What a folder URL's query string asks for besides a sorted listing (issue #17): a download
//! of the folder as an archive (`download=zip|tar`, `compress=1`, and `name=` once per entry
//! of a selection) or a search of the names below it (`q=`). The sort parameters stay the
//! listing's (`listing::parse_query`); this parser ignores them, as that one ignores these.
//!
//! Values are decoded as an HTML form sends them (`application/x-www-form-urlencoded`: `+` is
//! a space, then strict `%HH`), and must be UTF-8: anything else is refused, never guessed.

use std::fmt;

use crate::files::percent_decode;
use crate::serve::archive::{ArchiveKind, ZipMethod};

/// The most `name=` a selection may hold: a page's checkboxes, not a manifest.
pub const MAX_SELECTED: usize = 1000;
/// The longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 256;

/// What the request wants of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderAction {
    List,
    Download(Download),
    /// The text to look for in names (not empty: an empty search box lists the folder).
    Search(String),
}

/// `?download=`: which archive and what goes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub kind: ArchiveKind,
    /// Entries of the folder to archive (decoded, unchecked); empty for the whole folder.
    pub names: Vec<String>,
}

/// Why a query string was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    BadEscape,
    /// `download=` other than `zip` or `tar`.
    UnknownArchive,
    /// A parameter given twice that may appear once, or `download` with `q`.
    Conflict,
    /// `name=` without `download=`, or an empty one.
    StrayName,
    TooMany,
    TooLong,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueryError::BadEscape => "malformed query string: bad %-escape or not UTF-8",
            QueryError::UnknownArchive => "download= takes zip or tar",
            QueryError::Conflict => "download, compress and q may each appear once, not together",
            QueryError::StrayName => "name= selects entries of a download and cannot be empty",
            QueryError::TooMany => "too many name= in one download",
            QueryError::TooLong => "search text too long",
        })
    }
}

/// Reads the folder parameters of `query` (without the `?`).
pub fn folder_action(query: &str) -> Result<FolderAction, QueryError> {
    let mut download = None;
    let mut compress = None;
    let mut search = None;
    let mut names = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "download" => &mut download,
            "compress" => &mut compress,
            "q" => &mut search,
            "name" => {
                if names.len() == MAX_SELECTED {
                    return Err(QueryError::TooMany);
                }
                names.push(form_decode(value)?);
                continue;
            }
            _ => continue,
        };
        if slot.replace(form_decode(value)?).is_some() {
            return Err(QueryError::Conflict);
        }
    }
    let search = search.filter(|q| !q.trim().is_empty());
    if names.iter().any(String::is_empty) || (download.is_none() && !names.is_empty()) {
        return Err(QueryError::StrayName);
    }
    match (download, search) {
        (Some(_), Some(_)) => Err(QueryError::Conflict),
        (Some(kind), None) => {
            let kind = match (kind.as_str(), compress.as_deref()) {
                ("tar", _) => ArchiveKind::Tar,
                ("zip", Some("1")) => ArchiveKind::Zip(ZipMethod::Deflate),
                ("zip", _) => ArchiveKind::Zip(ZipMethod::Stored),
                _ => return Err(QueryError::UnknownArchive),
            };
            Ok(FolderAction::Download(Download { kind, names }))
        }
        (None, Some(q)) if q.chars().count() > MAX_SEARCH_CHARS => Err(QueryError::TooLong),
        (None, Some(q)) => Ok(FolderAction::Search(q)),
        (None, None) => Ok(FolderAction::List),
    }
}

/// One form value: `+` is a space, then strict percent-decoding, then UTF-8.
fn form_decode(value: &str) -> Result<String, QueryError> {
    let spaced = value.replace('+', " ");
    let bytes = percent_decode(&spaced).ok_or(QueryError::BadEscape)?;
    String::from_utf8(bytes).map_err(|_| QueryError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(kind: ArchiveKind, names: &[&str]) -> FolderAction {
        FolderAction::Download(Download {
            kind,
            names: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn actions() {
        let zip = ArchiveKind::Zip(ZipMethod::Stored);
        let cases: &[(&str, Result<FolderAction, QueryError>)] = &[
            ("", Ok(FolderAction::List)),
            ("sort=size&order=desc", Ok(FolderAction::List)),
            ("q=", Ok(FolderAction::List)),
            ("q=+", Ok(FolderAction::List)),
            ("download=zip", Ok(download(zip, &[]))),
            (
                "download=tar&compress=1",
                Ok(download(ArchiveKind::Tar, &[])),
            ),
            (
                "download=zip&compress=1",
                Ok(download(ArchiveKind::Zip(ZipMethod::Deflate), &[])),
            ),
            ("download=zip&compress=0", Ok(download(zip, &[]))),
            (
                "download=zip&name=a&name=b+c&name=%C3%A9%26",
                Ok(download(zip, &["a", "b c", "é&"])),
            ),
            ("q=Caf%C3%A9+x", Ok(FolderAction::Search("Café x".into()))),
            ("sort=name&q=a%2Bb", Ok(FolderAction::Search("a+b".into()))),
            ("download=rar", Err(QueryError::UnknownArchive)),
            ("download=ZIP", Err(QueryError::UnknownArchive)),
            ("download=", Err(QueryError::UnknownArchive)),
            ("download=zip&download=tar", Err(QueryError::Conflict)),
            ("download=zip&q=a", Err(QueryError::Conflict)),
            ("q=a&q=b", Err(QueryError::Conflict)),
            ("name=a", Err(QueryError::StrayName)),
            ("download=zip&name=", Err(QueryError::StrayName)),
            ("q=%zz", Err(QueryError::BadEscape)),
            ("q=%", Err(QueryError::BadEscape)),
            ("q=%ff", Err(QueryError::BadEscape)),
            ("download=zip&name=%C3", Err(QueryError::BadEscape)),
        ];
        for (query, want) in cases {
            assert_eq!(&folder_action(query), want, "{query}");
        }
    }

    #[test]
    fn bounds() {
        let many = "download=zip".to_string() + &"&name=a".repeat(MAX_SELECTED);
        assert!(matches!(
            folder_action(&many),
            Ok(FolderAction::Download(_))
        ));
        assert_eq!(folder_action(&(many + "&name=b")), Err(QueryError::TooMany));
        let long = "é".repeat(MAX_SEARCH_CHARS);
        assert_eq!(
            folder_action(&format!("q={long}")),
            Ok(FolderAction::Search(long.clone()))
        );
        assert_eq!(
            folder_action(&format!("q={long}x")),
            Err(QueryError::TooLong)
        );
    }
}
