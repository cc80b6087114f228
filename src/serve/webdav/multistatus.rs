//! The XML WebDAV answers with: the 207 Multi-Status body (RFC 4918 §13, §14.16), written to
//! any `io::Write` one `<response>` at a time as the caller produces them, so that a listing of
//! any size goes out in constant memory; and the small bodies: LOCK's `<prop><lockdiscovery>`,
//! `<error>` with a precondition, the `supportedlock` and `lockdiscovery` values.
//!
//! The `D` prefix is bound to `DAV:` once, on the root; a property in any other namespace
//! declares its own prefix on itself (`<ns0:x xmlns:ns0="...">`), which needs no knowledge of
//! the namespaces to come; a dead property's stored element is written as it is, since it
//! carries its own declarations (`xml::Fragment`). Text is escaped, and characters XML cannot
//! carry at all (most C0 controls) become U+FFFD.

use std::io::{self, Write};
use std::time::Instant;

use super::lock::{Depth, Lock, Scope};
use super::xml::{DAV, PropName};
use crate::http::response::StatusCode;

/// The media type of every body here (RFC 4918 §8.2 allows both; `application/xml` is the
/// one RFC 7303 recommends).
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// Appends `text` escaped for element content or a double-quoted attribute value. `\r` is
/// written as a reference so that it survives the reader's line-end normalisation.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn status_line(status: StatusCode) -> String {
    format!("HTTP/1.1 {} {}", status.code(), status.reason())
}

/// What goes inside a property element.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// No content: a name alone (`propname`, and every non-200 propstat).
    Empty,
    /// Text, escaped here.
    Text(&'a str),
    /// Markup the server made, in the `DAV:` namespace with the `D` prefix (`resourcetype`'s
    /// `<D:collection/>`, `supportedlock`, `lockdiscovery`): written as it is.
    Xml(&'a str),
    /// A dead property's stored element (`Fragment::xml`), written *instead of* an element
    /// named by the caller: it is the property, name and all.
    Dead(&'a str),
}

/// Writes `<name>value</name>` for any namespace.
fn property(out: &mut String, name: &PropName, value: Value<'_>) {
    if let Value::Dead(xml) = value {
        out.push_str(xml);
        return;
    }
    let (qname, declaration) = if name.namespace == DAV {
        (format!("D:{}", name.local), String::new())
    } else if name.namespace.is_empty() {
        (name.local.clone(), " xmlns=\"\"".to_owned())
    } else {
        (
            format!("ns0:{}", name.local),
            format!(" xmlns:ns0=\"{}\"", escaped(&name.namespace)),
        )
    };
    out.push('<');
    out.push_str(&qname);
    out.push_str(&declaration);
    match value {
        Value::Empty => out.push_str("/>"),
        Value::Text(text) => {
            out.push('>');
            escape_into(out, text);
            out.push_str(&format!("</{qname}>"));
        }
        Value::Xml(xml) => {
            out.push('>');
            out.push_str(xml);
            out.push_str(&format!("</{qname}>"));
        }
        Value::Dead(_) => unreachable!("written above"),
    }
}

/// A 207 body being written.
pub struct Multistatus<W: Write> {
    out: W,
}

impl<W: Write> Multistatus<W> {
    /// Writes the declaration and the opening `<D:multistatus>`.
    pub fn begin(mut out: W) -> io::Result<Multistatus<W>> {
        out.write_all(DECLARATION.as_bytes())?;
        out.write_all(b"<D:multistatus xmlns:D=\"DAV:\">")?;
        Ok(Multistatus { out })
    }

    /// Starts the `<response>` for `href` (already percent-encoded, as the listing page
    /// encodes links; escaped here for XML). Its properties are gathered by status and the
    /// whole response is written by `Response::finish`.
    pub fn response(&mut self, href: &str) -> Response<'_, W> {
        Response {
            out: &mut self.out,
            href: escaped(href),
            groups: Vec::new(),
        }
    }

    /// A `<response>` with a status instead of properties: a member a DELETE, COPY or MOVE
    /// could not handle (RFC 4918 §9.6.1, §9.8.8), optionally with a precondition element
    /// such as `<D:lock-token-submitted>...` in an `<error>`.
    pub fn status(
        &mut self,
        href: &str,
        status: StatusCode,
        error: Option<&str>,
    ) -> io::Result<()> {
        let mut s = format!(
            "<D:response><D:href>{}</D:href><D:status>{}</D:status>",
            escaped(href),
            status_line(status)
        );
        if let Some(error) = error {
            s.push_str(&format!("<D:error>{error}</D:error>"));
        }
        s.push_str("</D:response>");
        self.out.write_all(s.as_bytes())
    }

    /// Closes the body and hands back the writer (to flush or to end its chunking).
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"</D:multistatus>\n")?;
        Ok(self.out)
    }
}

/// One `<response>` with its properties, grouped into a `<propstat>` per status.
pub struct Response<'m, W: Write> {
    out: &'m mut W,
    href: String,
    groups: Vec<(StatusCode, String)>,
}

impl<W: Write> Response<'_, W> {
    /// Adds a property under `status` (200 with its value; 404, 403, 424 with `Value::Empty`).
    pub fn prop(&mut self, status: StatusCode, name: &PropName, value: Value<'_>) {
        let group = match self.groups.iter_mut().position(|(s, _)| *s == status) {
            Some(i) => &mut self.groups[i].1,
            None => {
                self.groups.push((status, String::new()));
                &mut self.groups.last_mut().expect("just pushed").1
            }
        };
        property(group, name, value);
    }

    /// Writes the response: the href, then each status's properties, in the order the
    /// statuses first appeared.
    pub fn finish(self) -> io::Result<()> {
        let mut s = format!("<D:response><D:href>{}</D:href>", self.href);
        for (status, props) in &self.groups {
            s.push_str(&format!(
                "<D:propstat><D:prop>{props}</D:prop><D:status>{}</D:status></D:propstat>",
                status_line(*status)
            ));
        }
        s.push_str("</D:response>");
        self.out.write_all(s.as_bytes())
    }
}

/// The `supportedlock` value: exclusive and shared write locks.
pub const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope>\
    <D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/>\
    </D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// The `resourcetype` value of a collection (a file's is empty).
pub const COLLECTION: &str = "<D:collection/>";

/// One `<D:activelock>` (RFC 4918 §14.1); `root_href` is the lock root's URL, encoded.
pub fn activelock(out: &mut String, lock: &Lock, now: Instant, root_href: &str) {
    let scope = match lock.scope {
        Scope::Exclusive => "<D:exclusive/>",
        Scope::Shared => "<D:shared/>",
    };
    let depth = match lock.depth {
        Depth::Zero => "0",
        Depth::Infinity => "infinity",
    };
    out.push_str(&format!(
        "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>{scope}</D:lockscope>\
         <D:depth>{depth}</D:depth>"
    ));
    if let Some(owner) = &lock.owner {
        // the stored `<owner>` element, with its own declarations
        out.push_str(owner);
    }
    out.push_str(&format!(
        "<D:timeout>{}</D:timeout><D:locktoken><D:href>{}</D:href></D:locktoken>\
         <D:lockroot><D:href>{}</D:href></D:lockroot></D:activelock>",
        lock.remaining(now),
        escaped(&lock.token),
        escaped(root_href)
    ));
}

/// The `lockdiscovery` value for these locks.
pub fn lockdiscovery(locks: &[Lock], now: Instant, href_of: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for lock in locks {
        activelock(&mut out, lock, now, &href_of(&lock.root));
    }
    out
}

/// The body of a successful LOCK (RFC 4918 §9.10.1): `<D:prop><D:lockdiscovery>` with the lock.
pub fn lock_body(lock: &Lock, now: Instant, root_href: &str) -> String {
    let mut out = format!("{DECLARATION}<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>");
    activelock(&mut out, lock, now, root_href);
    out.push_str("</D:lockdiscovery></D:prop>\n");
    out
}

/// An `<D:error>` body with one precondition (RFC 4918 §16), such as `propfind-finite-depth`,
/// or `lock-token-submitted` / `no-conflicting-lock` naming the locked resources' `hrefs`.
pub fn error_body(condition: &str, hrefs: &[&str]) -> String {
    let mut out = format!("{DECLARATION}<D:error xmlns:D=\"DAV:\">");
    out.push_str(&condition_xml(condition, hrefs));
    out.push_str("</D:error>\n");
    out
}

/// `<D:condition>` with its hrefs, for `error_body` or `Multistatus::status`.
pub fn condition_xml(condition: &str, hrefs: &[&str]) -> String {
    if hrefs.is_empty() {
        return format!("<D:{condition}/>");
    }
    let hrefs: String = hrefs
        .iter()
        .map(|h| format!("<D:href>{}</D:href>", escaped(h)))
        .collect();
    format!("<D:{condition}>{hrefs}</D:{condition}>")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use quick_xml::NsReader;
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;

    use super::super::xml::{Fragment, PropPatch, XmlLimits, parse_proppatch};
    use super::*;

    /// Every element as `{namespace}local` and every run of text (references resolved), in
    /// document order: reading with a namespace-aware parser proves the output well-formed
    /// and its prefixes declared.
    fn read_back(xml: &str) -> Vec<String> {
        let mut reader = NsReader::from_str(xml);
        let mut out = Vec::new();
        let mut text = String::new();
        loop {
            let (ns, event) = reader.read_resolved_event().unwrap();
            match &event {
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => match r.resolve_char_ref().unwrap() {
                    Some(c) => text.push(c),
                    None => text.push_str(
                        &quick_xml::escape::unescape(&format!("&{};", r.xml10_content())).unwrap(),
                    ),
                },
                _ if !text.trim().is_empty() => out.push(std::mem::take(&mut text)),
                _ => text.clear(),
            }
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    let ns = match ns {
                        ResolveResult::Bound(ns) => ns.0.to_owned(),
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(p) => panic!("undeclared prefix {p} in {xml}"),
                    };
                    out.push(format!("{{{ns}}}{}", e.local_name().into_inner()));
                }
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    fn dead(body: &str) -> Fragment {
        match parse_proppatch(body.as_bytes(), XmlLimits::default())
            .unwrap()
            .remove(0)
        {
            PropPatch::Set(f) => f,
            PropPatch::Remove(_) => unreachable!("a set was sent"),
        }
    }

    #[test]
    fn a_multistatus_groups_properties_by_status() {
        let value = dead(
            "<D:propertyupdate xmlns:D='DAV:' xmlns:Z='urn:z'><D:set><D:prop><Z:p><Z:q>v</Z:q></Z:p>\
             </D:prop></D:set></D:propertyupdate>",
        );
        let mut ms = Multistatus::begin(Vec::new()).unwrap();
        let mut r = ms.response("/files/a%20b/");
        r.prop(
            StatusCode::OK,
            &PropName::new(DAV, "resourcetype"),
            Value::Xml(COLLECTION),
        );
        r.prop(
            StatusCode::NOT_FOUND,
            &PropName::new("urn:x", "missing"),
            Value::Empty,
        );
        r.prop(
            StatusCode::OK,
            &PropName::new(DAV, "displayname"),
            Value::Text("a <b> & \"c\"\r"),
        );
        r.prop(StatusCode::OK, &value.name, Value::Dead(&value.xml));
        r.prop(
            StatusCode::NOT_FOUND,
            &PropName::new("", "bare"),
            Value::Empty,
        );
        r.finish().unwrap();
        let error = condition_xml("lock-token-submitted", &["/files/x"]);
        ms.status("/files/x?&", StatusCode::FORBIDDEN, Some(&error))
            .unwrap();
        let body = String::from_utf8(ms.finish().unwrap()).unwrap();
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\
             <D:response><D:href>/files/a%20b/</D:href>\
             <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>\
             <D:displayname>a &lt;b&gt; &amp; &quot;c&quot;&#13;</D:displayname>\
             <Z:p xmlns:Z=\"urn:z\"><Z:q>v</Z:q></Z:p></D:prop>\
             <D:status>HTTP/1.1 200 OK</D:status></D:propstat>\
             <D:propstat><D:prop><ns0:missing xmlns:ns0=\"urn:x\"/><bare xmlns=\"\"/></D:prop>\
             <D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>\
             <D:response><D:href>/files/x?&amp;</D:href><D:status>HTTP/1.1 403 Forbidden</D:status>\
             <D:error><D:lock-token-submitted><D:href>/files/x</D:href></D:lock-token-submitted>\
             </D:error></D:response></D:multistatus>\n"
        );
        let seen = read_back(&body);
        for want in [
            "{DAV:}multistatus",
            "{urn:z}p",
            "{urn:z}q",
            "{urn:x}missing",
            "{}bare",
            "a <b> & \"c\"\r",
            "/files/x?&",
        ] {
            assert!(seen.iter().any(|s| s == want), "{want:?} in {seen:?}");
        }
    }

    #[test]
    fn text_xml_cannot_carry_is_replaced() {
        let mut s = String::new();
        escape_into(&mut s, "a\u{1}b\u{fffe}\tc\n");
        assert_eq!(s, "a\u{fffd}b\u{fffd}\tc\n");
    }

    #[test]
    fn responses_leave_as_they_are_finished() {
        let mut ms = Multistatus::begin(Vec::new()).unwrap();
        let mut lengths = Vec::new();
        for i in 0..3 {
            let mut r = ms.response(&format!("/files/{i}"));
            r.prop(
                StatusCode::OK,
                &PropName::new(DAV, "getcontentlength"),
                Value::Text(&i.to_string()),
            );
            r.finish().unwrap();
            lengths.push(ms.out.len());
        }
        // each response reached the writer when it was finished, none held back
        assert!(lengths.windows(2).all(|w| w[0] < w[1]), "{lengths:?}");
        let out = String::from_utf8(ms.finish().unwrap()).unwrap();
        assert_eq!(
            read_back(&out)
                .iter()
                .filter(|e| *e == "{DAV:}response")
                .count(),
            3
        );
    }

    #[test]
    fn lock_and_error_bodies_are_well_formed() {
        let now = Instant::now();
        let lock = Lock {
            token: "urn:uuid:6e3c2e8a-0c3b-4f7e-9a51-0e9f1c2d3b4a".to_owned(),
            root: "dir".to_owned(),
            scope: Scope::Shared,
            depth: Depth::Infinity,
            owner: Some(
                "<D:owner xmlns:D=\"DAV:\"><D:href>mailto:a@b</D:href></D:owner>".to_owned(),
            ),
            principal: None,
            expires: now + Duration::from_secs(3600),
        };
        let body = lock_body(&lock, now, "/files/dir/");
        assert!(
            body.contains("<D:timeout>Second-3600</D:timeout>"),
            "{body}"
        );
        assert!(
            body.contains("<D:depth>infinity</D:depth>") && body.contains("<D:shared/>"),
            "{body}"
        );
        let seen = read_back(&body);
        for want in [
            "{DAV:}lockdiscovery",
            "{DAV:}activelock",
            "{DAV:}owner",
            "mailto:a@b",
            "{DAV:}lockroot",
            "/files/dir/",
            &lock.token,
        ] {
            assert!(seen.iter().any(|s| s == want), "{want} in {seen:?}");
        }
        // `lockdiscovery` is a value: give it a root that binds `D`
        let two = lockdiscovery(&[lock.clone(), lock], now, |root| format!("/files/{root}/"));
        let two = read_back(&format!(
            "<D:lockdiscovery xmlns:D=\"DAV:\">{two}</D:lockdiscovery>"
        ));
        assert_eq!(two.iter().filter(|e| *e == "{DAV:}activelock").count(), 2);
        assert_eq!(
            read_back(&error_body("propfind-finite-depth", &[])),
            ["{DAV:}error", "{DAV:}propfind-finite-depth"]
        );
        assert_eq!(
            read_back(&error_body("lock-token-submitted", &["/files/a&b"])),
            [
                "{DAV:}error",
                "{DAV:}lock-token-submitted",
                "{DAV:}href",
                "/files/a&b"
            ]
        );
        let supported = read_back(&format!(
            "<D:supportedlock xmlns:D=\"DAV:\">{SUPPORTED_LOCK}</D:supportedlock>"
        ));
        assert_eq!(
            supported.iter().filter(|e| *e == "{DAV:}lockentry").count(),
            2
        );
    }
}
