//! The access log: one `info` line per exchange, on the `access` target,
//! `{peer} "{method} {target}" {status} {bytes}B {ms}ms`, with client text escaped so that no
//! client byte can forge a line. Where the line goes, and when, is the binary's logger's.

use std::fmt;
use std::time::Instant;

use log::info;

use crate::http::request::RequestHead;

/// What the access line reports of a response.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub status: u16,
    /// Body bytes sent.
    pub sent: u64,
}

/// Logs one access line for the exchange that began at `started`. `head` is `None` for a head
/// that could not be parsed: nothing of it is trustworthy enough to log.
pub fn log_access(peer: &str, head: Option<&RequestHead>, outcome: Outcome, started: Instant) {
    if !log::log_enabled!(target: "access", log::Level::Info) {
        return;
    }
    let (method, target) = match head {
        Some(head) => (head.method.as_str(), head.target.as_str()),
        None => ("-", "-"),
    };
    info!(
        target: "access",
        "{} \"{} {}\" {} {}B {}ms",
        peer,
        Escaped(method),
        Escaped(target),
        outcome.status,
        outcome.sent,
        started.elapsed().as_millis()
    );
}

/// Client text for the log: as is when it is plain visible ASCII (the parser admits little
/// else into a target), escaped like `{:?}` otherwise.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self
            .0
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            f.write_str(self.0)
        } else {
            write!(f, "{}", self.0.escape_debug())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_cannot_forge_a_line_or_a_field() {
        let cases = [
            ("/files/a.txt?x=1", "/files/a.txt?x=1"),
            ("GET", "GET"),
            ("/a b", "/a b"),
            ("/a\"b", "/a\\\"b"),
            ("/a\\b", "/a\\\\b"),
            ("/a\nfake line", "/a\\nfake line"),
            ("/a\r\n", "/a\\r\\n"),
            ("/\u{1b}[31m", "/\\u{1b}[31m"),
            ("/é", "/é"),
        ];
        for (input, want) in cases {
            assert_eq!(Escaped(input).to_string(), want, "{input:?}");
        }
    }
}
