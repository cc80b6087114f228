//! Fuzzes the folder parameters of a listing URL (`folder_action`: `download`, `name`,
//! `compress`, `q`), a parser of client bytes that picks archives and searches.
//!
//! Invariants checked:
//! - It never panics, whatever the bytes.
//! - Parameters it does not know change nothing: appending `&` plus an unknown key keeps
//!   the answer.
//! - A selection stays within its bound, a search text within its length, and a search text
//!   is never blank.

#![no_main]

use http_server::{FolderAction, MAX_SEARCH_CHARS, MAX_SELECTED, folder_action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let answer = folder_action(text);
    assert_eq!(folder_action(&format!("{text}&sort=x&&=")), answer);
    match answer {
        Ok(FolderAction::Download(d)) => assert!(d.names.len() <= MAX_SELECTED),
        Ok(FolderAction::Search(q)) => {
            assert!(q.chars().count() <= MAX_SEARCH_CHARS);
            assert!(!q.trim().is_empty());
        }
        Ok(FolderAction::List) | Err(_) => {}
    }
});
