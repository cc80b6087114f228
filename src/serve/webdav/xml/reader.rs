//! The XML reader under limits: quick-xml's events, with the checks it leaves to its user
//! (allowed characters, qualified names, entity references, one root, nothing but white space
//! around it, a declaration only first, no DOCTYPE), building the request tree.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceError, QName, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use super::{Capture, Element, PropName, XmlError, XmlLimits};

/// XML 1.0 §2.2: `Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`
/// (surrogates cannot occur in a Rust string).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{fffe}' | '\u{ffff}')
}

fn check_chars(s: &str) -> Result<(), XmlError> {
    if s.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(XmlError::BadCharacter)
    }
}

// NameStartChar ::= ":" | [A-Z] | "_" | [a-z] | [#xC0-#xD6] | [#xD8-#xF6] | [#xF8-#x2FF] |
//     [#x370-#x37D] | [#x37F-#x1FFF] | [#x200C-#x200D] | [#x2070-#x218F] | [#x2C00-#x2FEF] |
//     [#x3001-#xD7FF] | [#xF900-#xFDCF] | [#xFDF0-#xFFFD] | [#x10000-#xEFFFF]
// NameChar ::= NameStartChar | "-" | "." | [0-9] | #xB7 | [#x0300-#x036F] | [#x203F-#x2040]
//                                                                  (XML 1.0 §2.3, less ":")
fn is_name_start(c: char) -> bool {
    matches!(c, 'A'..='Z' | '_' | 'a'..='z' | '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{f6}'
        | '\u{f8}'..='\u{2ff}' | '\u{370}'..='\u{37d}' | '\u{37f}'..='\u{1fff}' | '\u{200c}'..='\u{200d}'
        | '\u{2070}'..='\u{218f}' | '\u{2c00}'..='\u{2fef}' | '\u{3001}'..='\u{d7ff}'
        | '\u{f900}'..='\u{fdcf}' | '\u{fdf0}'..='\u{fffd}' | '\u{10000}'..='\u{effff}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{b7}' | '\u{300}'..='\u{36f}' | '\u{203f}'..='\u{2040}')
}

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// `QName ::= (NCName ":")? NCName` (XML Namespaces §4): the names we echo back in responses
/// must be ones any parser takes.
fn check_qname(name: &str) -> Result<(), XmlError> {
    let ok = match name.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(name),
    };
    if ok { Ok(()) } else { Err(XmlError::BadName) }
}

/// `&name;`: a predefined entity or a character reference to an allowed character.
fn check_reference(name: &str) -> Result<(), XmlError> {
    let ok = match name.strip_prefix('#') {
        Some(number) => {
            let value = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => number.parse(),
            };
            value.ok().and_then(char::from_u32).is_some_and(is_xml_char)
                && !number.starts_with(['+', '-'])
        }
        None => matches!(name, "lt" | "gt" | "amp" | "apos" | "quot"),
    };
    if ok {
        Ok(())
    } else {
        Err(XmlError::BadReference)
    }
}

fn namespace_error(e: &NamespaceError) -> XmlError {
    match e {
        NamespaceError::UnknownPrefix(_) => XmlError::UnboundPrefix,
        NamespaceError::TooManyBindings(_) => XmlError::TooManyNamespaces,
        NamespaceError::TooDeeplyNested(_) => XmlError::TooDeep,
        _ => XmlError::BadNamespace,
    }
}

/// The parse in progress.
pub(super) struct Parser<'a> {
    pub(super) body: &'a str,
    pub(super) reader: NsReader<&'a [u8]>,
    pub(super) limits: XmlLimits,
    elements: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(body: &'a str, limits: XmlLimits) -> Parser<'a> {
        let mut reader = NsReader::from_str(body);
        reader.config_mut().check_comments = true;
        reader.config_mut().check_end_names = true;
        reader
            .resolver_mut()
            .set_max_namespace_bindings(limits.max_namespaces);
        Parser {
            body,
            reader,
            limits,
            elements: 0,
        }
    }

    pub(super) fn next(&mut self) -> Result<Event<'a>, XmlError> {
        let at = self.reader.buffer_position();
        match self.reader.read_event() {
            Ok(Event::DocType(_)) => Err(XmlError::Doctype),
            Ok(event) => Ok(event),
            Err(quick_xml::Error::Namespace(e)) => Err(namespace_error(&e)),
            Err(_) => Err(XmlError::Syntax(at)),
        }
    }

    /// The namespace of an element or attribute name (`is_element`: the default applies).
    pub(super) fn resolve(&self, name: QName<'_>, is_element: bool) -> Result<String, XmlError> {
        let (ns, _) = self.reader.resolver().resolve(name, is_element);
        match ns {
            // the resolver keeps declarations as written: `a&amp;b` means `a&b`
            ResolveResult::Bound(ns) => quick_xml::escape::unescape(ns.0)
                .map(|ns| ns.into_owned())
                .map_err(|_| XmlError::BadReference),
            ResolveResult::Unbound => Ok(String::new()),
            ResolveResult::Unknown(_) => Err(XmlError::UnboundPrefix),
        }
    }

    /// Counts the element, checks its attributes (well-formed, prefixes bound, values made of
    /// allowed characters and references) and returns its name and its own `xml:lang`.
    pub(super) fn open(
        &mut self,
        e: &BytesStart<'_>,
        depth: usize,
    ) -> Result<(PropName, Option<String>), XmlError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(XmlError::TooManyElements);
        }
        if depth >= self.limits.max_depth {
            return Err(XmlError::TooDeep);
        }
        let at = self.reader.buffer_position();
        let mut lang = None;
        check_qname(e.name().0)?;
        for attr in e.attributes() {
            let attr = attr.map_err(|_| XmlError::Syntax(at))?;
            check_qname(attr.key.0)?;
            check_chars(&attr.value)?;
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|_| XmlError::BadReference)?;
            if attr.key.as_namespace_binding().is_none() {
                self.resolve(attr.key, false)?;
            }
            if attr.key.0 == "xml:lang" {
                lang = Some(value.into_owned());
            }
        }
        let name = e.name();
        let namespace = self.resolve(name, true)?;
        Ok((
            PropName::new(&namespace, name.local_name().into_inner()),
            lang,
        ))
    }

    /// Text, CDATA and references between elements, checked; `inside` says whether an element
    /// is open (outside the root only white space may stand).
    pub(super) fn content(&self, event: &Event<'_>, inside: bool) -> Result<(), XmlError> {
        let at = self.reader.buffer_position();
        match event {
            Event::Text(t) => {
                let text = t.xml10_content();
                check_chars(&text)?;
                if !inside && !text.trim_matches(['\x20', '\t', '\r', '\n']).is_empty() {
                    return Err(XmlError::Syntax(at));
                }
            }
            Event::CData(c) if inside => check_chars(&c.xml10_content())?,
            Event::GeneralRef(r) if inside => check_reference(&r.xml10_content())?,
            Event::Comment(c) => check_chars(&c.xml10_content())?,
            Event::PI(pi) if !pi.target().eq_ignore_ascii_case("xml") => {}
            _ => return Err(XmlError::Syntax(at)),
        }
        Ok(())
    }

    /// The whole body as a tree, keeping the elements `capture` picks as fragments.
    pub(super) fn tree(mut self, capture: Capture) -> Result<Element, XmlError> {
        let mut open: Vec<(Element, Option<String>)> = Vec::new();
        let mut root = None;
        let mut first = true;
        loop {
            let event = self.next()?;
            let was_first = std::mem::replace(&mut first, false);
            let (start, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    let (done, _) = open.pop().expect("quick-xml matches end tags");
                    match open.last_mut() {
                        Some((parent, _)) => parent.children.push(done),
                        None => root = Some(done),
                    }
                    continue;
                }
                Event::Eof if open.is_empty() && root.is_some() => {
                    return Ok(root.expect("checked"));
                }
                Event::Eof => return Err(XmlError::Syntax(self.reader.buffer_position())),
                Event::Decl(_) if was_first => continue,
                other => {
                    self.content(&other, !open.is_empty())?;
                    continue;
                }
            };
            if root.is_some() {
                return Err(XmlError::Syntax(self.reader.buffer_position()));
            }
            let (name, own_lang) = self.open(&start, open.len())?;
            let lang = own_lang.or_else(|| open.last().and_then(|(_, l)| l.clone()));
            let path: Vec<&PropName> = open.iter().map(|(e, _)| &e.name).chain([&name]).collect();
            let element = if capture(&path) {
                let fragment =
                    self.fragment(&start, empty, name.clone(), lang.clone(), open.len())?;
                Element {
                    name,
                    children: Vec::new(),
                    fragment: Some(fragment),
                }
            } else {
                Element {
                    name,
                    children: Vec::new(),
                    fragment: None,
                }
            };
            match (empty || element.fragment.is_some(), open.last_mut()) {
                (false, _) => open.push((element, lang)),
                (true, Some((parent, _))) => parent.children.push(element),
                (true, None) => root = Some(element),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PropFind, parse_lockinfo, parse_propfind, parse_proppatch};
    use super::*;
    use crate::http::response::StatusCode;

    const DECL: &str = r#"<?xml version="1.0" encoding="utf-8" ?>"#;

    fn limits() -> XmlLimits {
        XmlLimits::default()
    }

    fn propfind(body: &str) -> Result<PropFind, XmlError> {
        parse_propfind(body.as_bytes(), limits())
    }

    #[test]
    fn malformed_and_hostile_bodies_are_400() {
        let lol = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>";
        let deep = format!(
            "<propfind xmlns='DAV:'>{}{}</propfind>",
            "<a>".repeat(40),
            "</a>".repeat(40)
        );
        let many = format!(
            "<propfind xmlns='DAV:'><prop>{}</prop></propfind>",
            "<x/>".repeat(1001)
        );
        let cases: Vec<(String, XmlError)> = vec![
            // litmus propfind_invalid and propfind_invalid2
            ("<foo>".into(), XmlError::Syntax(0)),
            (r#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#.into(), XmlError::UnboundPrefix),
            ("<D:propfind><D:allprop/></D:propfind>".into(), XmlError::UnboundPrefix),
            ("<propfind xmlns='DAV:' x:a='1'><allprop/></propfind>".into(), XmlError::UnboundPrefix),
            (format!("{DECL}{lol}<propfind xmlns='DAV:'>&lol2;</propfind>"), XmlError::Doctype),
            ("<!DOCTYPE p [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><propfind xmlns='DAV:'>&e;</propfind>".into(), XmlError::Doctype),
            ("<propfind xmlns='DAV:'><allprop/>&e;</propfind>".into(), XmlError::BadReference),
            ("<propfind xmlns='DAV:'><allprop/>&#0;</propfind>".into(), XmlError::BadReference),
            ("<propfind xmlns='DAV:'><allprop/>&#x1;</propfind>".into(), XmlError::BadReference),
            ("<propfind xmlns='DAV:' a='&x;'><allprop/></propfind>".into(), XmlError::BadReference),
            ("<propfind xmlns='DAV:'><allprop/>\u{1}</propfind>".into(), XmlError::BadCharacter),
            ("<propfind xmlns='DAV:'><allprop a='1' a='2'/></propfind>".into(), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:' xmlns:xml='urn:x'><allprop/></propfind>".into(), XmlError::BadNamespace),
            ("<propfind xmlns='DAV:'><allprop></propfind>".into(), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:'><allprop/></propfind><propfind/>".into(), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:'><allprop/></propfind>junk".into(), XmlError::Syntax(0)),
            ("junk<propfind xmlns='DAV:'><allprop/></propfind>".into(), XmlError::Syntax(0)),
            (format!(" {DECL}<propfind xmlns='DAV:'><allprop/></propfind>"), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:'><allprop/><?xml version='1.0'?></propfind>".into(), XmlError::Syntax(0)),
            (deep, XmlError::TooDeep),
            (many, XmlError::TooManyProperties),
            ("<propfind xmlns='DAV:'/>".into(), XmlError::Invalid("propfind needs allprop, propname or prop")),
            ("<propfind xmlns='DAV:'><allprop/><prop/></propfind>".into(), XmlError::Invalid("propfind with more than one of allprop, propname, prop")),
            ("<propfind xmlns='urn:not-dav'><allprop/></propfind>".into(), XmlError::Invalid("unexpected root element")),
            ("<propfind xmlns='DAV:'><!-- a -- b --><allprop/></propfind>".into(), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:'><allprop b/></propfind>".into(), XmlError::Syntax(0)),
            ("<propfind xmlns='DAV:'><prop><=x/></prop></propfind>".into(), XmlError::BadName),
            ("<propfind xmlns='DAV:'><prop><x:y:z xmlns:x='u'/></prop></propfind>".into(), XmlError::BadName),
            ("<propfind xmlns='DAV:'><prop><1x/></prop></propfind>".into(), XmlError::BadName),
            ("<propfind xmlns='DAV:'><prop><x 1a='v'/></prop></propfind>".into(), XmlError::BadName),
        ];
        // where a syntax error is found is a hint for logs, not part of the contract
        let blur = |e: XmlError| {
            if let XmlError::Syntax(_) = e {
                XmlError::Syntax(0)
            } else {
                e
            }
        };
        for (body, want) in cases {
            assert_eq!(propfind(&body).map_err(blur), Err(want), "{body}");
            assert_eq!(want.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(
            parse_propfind(b"<propfind xmlns='DAV:'>\xff</propfind>", limits()),
            Err(XmlError::NotUtf8)
        );
        let few = XmlLimits {
            max_elements: 3,
            ..limits()
        };
        assert_eq!(
            parse_propfind(
                b"<propfind xmlns='DAV:'><prop><a/><b/></prop></propfind>",
                few
            ),
            Err(XmlError::TooManyElements)
        );
        let narrow = XmlLimits {
            max_namespaces: 2,
            ..limits()
        };
        let body = b"<propfind xmlns='DAV:' xmlns:a='1' xmlns:b='2'><allprop/></propfind>";
        assert_eq!(
            parse_propfind(body, narrow),
            Err(XmlError::TooManyNamespaces)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let pieces: [&[u8]; 14] = [
            b"<",
            b">",
            b"/",
            b"propertyupdate",
            b" xmlns='DAV:'",
            b"set",
            b"prop",
            b"<p xmlns='u'>",
            b"&amp;",
            b"&#",
            b"x:",
            b"\xc3\xa9",
            b"<!--",
            b"]]>",
        ];
        let mut state: u32 = 7;
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..(state % 20) {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                body.extend_from_slice(pieces[(state >> 16) as usize % pieces.len()]);
            }
            let _ = parse_propfind(&body, limits());
            let _ = parse_proppatch(&body, limits());
            let _ = parse_lockinfo(&body, limits());
        }
    }
}
