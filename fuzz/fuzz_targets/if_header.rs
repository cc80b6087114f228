//! Fuzzes the WebDAV `If` header parser (`parse_if`) and `Lock-Token`'s `parse_coded_url`.
//!
//! Invariants checked:
//! - Neither panics, whatever the bytes, and evaluating what `parse_if` accepts does not
//!   either.
//! - What `parse_if` accepts has at least one list, every list at least one condition, and
//!   tokens and tags made of visible ASCII without angle brackets.
//! - Writing the parsed header back in canonical form and parsing that gives the same header.
//! - `parse_coded_url` accepts exactly a lone `<...>` (white space around it), whose content
//!   a one-condition `If` list would also accept as a state token.

#![no_main]

use http_server::{EntityTag, IfHeader, IfState, Test, parse_coded_url, parse_if};
use libfuzzer_sys::fuzz_target;

fn canonical(header: &IfHeader) -> String {
    let mut out = String::new();
    for list in &header.lists {
        if let Some(tag) = &list.resource {
            out.push_str(&format!("<{tag}> "));
        }
        out.push('(');
        for c in &list.conditions {
            if c.negated {
                out.push_str("Not ");
            }
            match &c.test {
                Test::Token(t) => out.push_str(&format!("<{t}> ")),
                Test::ETag(e) => {
                    let weak = if e.weak { "W/" } else { "" };
                    out.push_str(&format!("[{weak}\"{}\"] ", e.opaque));
                }
            }
        }
        out.push_str(") ");
    }
    out
}

/// A state where the tag `<here>` names the request's resource, which has ETag "e" and is
/// locked by `<t>`; everything else is unmapped.
struct State;

impl IfState for State {
    type Resource = ();

    fn resource(&self, tag: &str) -> Option<()> {
        (tag == "here").then_some(())
    }

    fn etag(&self, _: &()) -> Option<EntityTag> {
        EntityTag::parse("\"e\"")
    }

    fn has_lock(&self, _: &(), token: &str) -> bool {
        token == "t"
    }
}

fn is_uri_text(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'<' && b != b'>')
}

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = parse_if(data) {
        assert!(!header.lists.is_empty());
        for list in &header.lists {
            assert!(!list.conditions.is_empty());
            assert!(list.resource.as_deref().is_none_or(is_uri_text));
        }
        assert!(header.state_tokens().all(is_uri_text));
        let again = parse_if(canonical(&header).as_bytes()).expect("the canonical form parses");
        assert_eq!(again, header);
        let _ = header.evaluate(&(), &State);
    }
    if let Some(token) = parse_coded_url(data) {
        assert!(is_uri_text(token), "{token:?}");
        let list = format!("(<{token}>)");
        let parsed = parse_if(list.as_bytes()).expect("a coded URL is a state token");
        assert!(parsed.state_tokens().eq([token]));
    }
});
