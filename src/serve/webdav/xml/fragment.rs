//! Elements kept whole (`Fragment`): a dead property's value or a lock's owner, read to its
//! end and rewritten as standalone XML. The content stays byte for byte as sent; the element
//! gets a prefix of its own (never one its content uses), the declarations its content needs
//! from the ancestors it leaves behind, and its `xml:lang`.

use std::collections::BTreeSet;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};

use super::reader::Parser;
use super::{DAV, Fragment, PropName, XmlError};

/// The prefixes an element's name and attributes use (`None`: the default namespace).
fn note_prefixes(e: &BytesStart<'_>, used: &mut BTreeSet<Option<String>>) {
    match e.name().prefix() {
        Some(p) if p.into_inner() == "xml" => {}
        Some(p) => {
            used.insert(Some(p.into_inner().to_owned()));
        }
        None => {
            used.insert(None);
        }
    }
    for attr in e.attributes().flatten() {
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        if let Some(p) = attr.key.prefix().filter(|p| p.into_inner() != "xml") {
            used.insert(Some(p.into_inner().to_owned()));
        }
    }
}

/// Text for an attribute value between double quotes.
fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

impl<'a> Parser<'a> {
    /// Keeps the element just opened whole (see `Fragment`): reads to its end, checking the
    /// content as everything else and noting the prefixes it uses, then writes it standalone.
    pub(super) fn fragment(
        &mut self,
        start: &BytesStart<'_>,
        empty: bool,
        name: PropName,
        lang: Option<String>,
        depth: usize,
    ) -> Result<Fragment, XmlError> {
        let mut used = BTreeSet::new();
        let mut attributes = String::new();
        for attr in start.attributes().flatten() {
            let key = attr.key.0;
            if attr.key.as_namespace_binding().is_some() || key == "xml:lang" {
                continue;
            }
            if let Some(p) = attr.key.prefix().filter(|p| p.into_inner() != "xml") {
                used.insert(Some(p.into_inner().to_owned()));
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|_| XmlError::BadReference)?;
            attributes.push_str(&format!(" {key}=\"{}\"", escape_attr(&value)));
        }
        let inner = if empty {
            ""
        } else {
            self.inner(depth, &mut used)?
        };
        if inner.len() > self.limits.max_value_bytes {
            return Err(XmlError::ValueTooLarge);
        }
        let bindings = self.bindings(&used)?;
        let mut declarations = String::new();
        for (prefix, namespace) in &bindings {
            match prefix {
                Some(p) => {
                    declarations.push_str(&format!(" xmlns:{p}=\"{}\"", escape_attr(namespace)))
                }
                // an element in no namespace is written unprefixed with xmlns="" below
                None if !name.namespace.is_empty() => {
                    declarations.push_str(&format!(" xmlns=\"{}\"", escape_attr(namespace)));
                }
                None => {}
            }
        }
        let qname = if name.namespace.is_empty() {
            declarations.insert_str(0, " xmlns=\"\"");
            name.local.clone()
        } else {
            // a prefix the content already binds to the element's namespace serves it too
            let bound = bindings
                .iter()
                .find_map(|(p, ns)| p.clone().filter(|_| *ns == name.namespace));
            let prefix = bound.unwrap_or_else(|| {
                let fresh = (name.namespace == DAV).then(|| "D".to_owned()).into_iter();
                let prefix = fresh
                    .chain((0..).map(|n| format!("ns{n}")))
                    .find(|p| !used.contains(&Some(p.clone())))
                    .expect("an unused prefix exists");
                declarations.insert_str(
                    0,
                    &format!(" xmlns:{prefix}=\"{}\"", escape_attr(&name.namespace)),
                );
                prefix
            });
            format!("{prefix}:{}", name.local)
        };
        let lang_attribute = lang
            .as_ref()
            .map(|l| format!(" xml:lang=\"{}\"", escape_attr(l)))
            .unwrap_or_default();
        let xml = if inner.is_empty() {
            format!("<{qname}{declarations}{lang_attribute}{attributes}/>")
        } else {
            format!("<{qname}{declarations}{lang_attribute}{attributes}>{inner}</{qname}>")
        };
        Ok(Fragment { name, lang, xml })
    }

    /// The namespaces of the `used` prefixes as declared where the resolver now stands (the
    /// captured element's scope: declarations on it and on its ancestors). A prefix declared
    /// only inside the content needs nothing from outside and is left out.
    fn bindings(
        &self,
        used: &BTreeSet<Option<String>>,
    ) -> Result<Vec<(Option<String>, String)>, XmlError> {
        let mut bindings = Vec::new();
        for prefix in used {
            let (probe, is_element) = match prefix {
                Some(p) => (format!("{p}:x"), false),
                None => ("x".to_owned(), true),
            };
            let namespace = match self.reader.resolver().resolve(QName(&probe), is_element).0 {
                ResolveResult::Bound(ns) => quick_xml::escape::unescape(ns.0)
                    .map_err(|_| XmlError::BadReference)?
                    .into_owned(),
                ResolveResult::Unbound => String::new(),
                ResolveResult::Unknown(_) => continue,
            };
            bindings.push((prefix.clone(), namespace));
        }
        Ok(bindings)
    }

    /// The content of the element just opened, as the bytes it was sent as.
    fn inner(
        &mut self,
        depth: usize,
        used: &mut BTreeSet<Option<String>>,
    ) -> Result<&'a str, XmlError> {
        let from = self.reader.buffer_position();
        let mut level = 0;
        loop {
            let before = self.reader.buffer_position();
            match self.next()? {
                Event::Start(e) => {
                    level += 1;
                    self.open(&e, depth + level)?;
                    note_prefixes(&e, used);
                }
                Event::Empty(e) => {
                    self.open(&e, depth + level + 1)?;
                    note_prefixes(&e, used);
                }
                Event::End(_) if level == 0 => {
                    let range = usize::try_from(from).ok().zip(usize::try_from(before).ok());
                    return range
                        .and_then(|(from, to)| self.body.get(from..to))
                        .ok_or(XmlError::Syntax(before));
                }
                Event::End(_) => level -= 1,
                Event::Eof | Event::Decl(_) => return Err(XmlError::Syntax(before)),
                other => self.content(&other, true)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PropPatch, XmlLimits, parse_proppatch};
    use super::*;

    const NS: &str = "http://example.com/neon/litmus/";
    const DECL: &str = r#"<?xml version="1.0" encoding="utf-8" ?>"#;

    fn limits() -> XmlLimits {
        XmlLimits::default()
    }

    fn proppatch(body: &str) -> Result<Vec<PropPatch>, XmlError> {
        parse_proppatch(body.as_bytes(), limits())
    }

    /// The set instructions' fragments, each checked to read back to itself.
    fn sets(body: &str) -> Vec<String> {
        proppatch(body)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                PropPatch::Set(f) => {
                    let again = Fragment::parse(&f.xml, limits()).unwrap();
                    assert_eq!(again, f, "the stored form reads back the same");
                    f.xml
                }
                PropPatch::Remove(n) => format!("remove {{{}}}{}", n.namespace, n.local),
            })
            .collect()
    }

    #[test]
    fn proppatch_values_replay_byte_for_byte() {
        let update =
            |ops: &str| format!("{DECL}<propertyupdate xmlns='DAV:'>{ops}</propertyupdate>");
        let cases: Vec<(String, Vec<String>)> = vec![
            // litmus propset, propnullns, prophighunicode, propvalnspace
            (
                update(&format!("<set><prop><foo xmlns='{NS}'>value goes here</foo></prop></set>")),
                vec![format!(r#"<ns0:foo xmlns:ns0="{NS}">value goes here</ns0:foo>"#)],
            ),
            (
                update("<set><prop><nonamespace xmlns=\"\">randomvalue</nonamespace></prop></set>"),
                vec![r#"<nonamespace xmlns="">randomvalue</nonamespace>"#.to_owned()],
            ),
            (
                update(&format!("<set><prop><high-unicode xmlns='{NS}'>&#65536;</high-unicode></prop></set>")),
                vec![format!(r#"<ns0:high-unicode xmlns:ns0="{NS}">&#65536;</ns0:high-unicode>"#)],
            ),
            (
                update(&format!("<set><prop><t:valnspace xmlns:t='{NS}'><foo xmlns='http://bar'/></t:valnspace></prop></set>")),
                vec![format!(r#"<ns0:valnspace xmlns:ns0="{NS}" xmlns="DAV:"><foo xmlns='http://bar'/></ns0:valnspace>"#)],
            ),
            // litmus propremoveset: in document order
            (
                update(&format!(
                    "<remove><prop><removeset xmlns='{NS}'/></prop></remove>\
                     <set><prop><removeset xmlns='{NS}'>x</removeset></prop></set>\
                     <set><prop><removeset xmlns='{NS}'>y</removeset></prop></set>"
                )),
                vec![
                    format!("remove {{{NS}}}removeset"),
                    format!(r#"<ns0:removeset xmlns:ns0="{NS}">x</ns0:removeset>"#),
                    format!(r#"<ns0:removeset xmlns:ns0="{NS}">y</ns0:removeset>"#),
                ],
            ),
            // prefixes declared on ancestors come along; attributes, comments, CDATA, entities
            // and line ends stay as sent; xml:lang is inherited
            (
                "<D:propertyupdate xmlns:D='DAV:' xmlns:Z='urn:z'><D:set xml:lang='de'><D:prop>\
                 <Z:p Z:a='&quot;1&quot;'><Z:c b='2'>t &amp; <![CDATA[<raw>]]><!--c--></Z:c>\r\n<D:href>x</D:href></Z:p>\
                 </D:prop></D:set></D:propertyupdate>"
                    .to_owned(),
                vec![
                    "<Z:p xmlns:D=\"DAV:\" xmlns:Z=\"urn:z\" xml:lang=\"de\" Z:a=\"&quot;1&quot;\">\
                     <Z:c b='2'>t &amp; <![CDATA[<raw>]]><!--c--></Z:c>\r\n<D:href>x</D:href></Z:p>"
                        .to_owned(),
                ],
            ),
            // a prefix the content uses is never taken for the element itself
            (
                update("<set><prop><x:p xmlns:x='u' xmlns:ns0='v'><ns0:q/></x:p></prop></set>"),
                vec![r#"<ns1:p xmlns:ns1="u" xmlns:ns0="v"><ns0:q/></ns1:p>"#.to_owned()],
            ),
            // Windows Explorer after an upload
            (
                "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"urn:schemas-microsoft-com:\"><D:set><D:prop>\
                 <Z:Win32LastModifiedTime>Wed, 01 Jan 2025 00:00:00 GMT</Z:Win32LastModifiedTime>\
                 <Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"
                    .to_owned(),
                vec![
                    r#"<ns0:Win32LastModifiedTime xmlns:ns0="urn:schemas-microsoft-com:">Wed, 01 Jan 2025 00:00:00 GMT</ns0:Win32LastModifiedTime>"#.to_owned(),
                    r#"<ns0:Win32FileAttributes xmlns:ns0="urn:schemas-microsoft-com:">00000020</ns0:Win32FileAttributes>"#.to_owned(),
                ],
            ),
        ];
        for (body, want) in cases {
            assert_eq!(sets(&body), want, "{body}");
        }
        let lang = proppatch(
            "<propertyupdate xmlns='DAV:'><set><prop xml:lang='en-GB'><p xmlns='u'/></prop></set></propertyupdate>",
        );
        match &lang.unwrap()[0] {
            PropPatch::Set(f) => assert_eq!(
                (f.lang.as_deref(), f.xml.as_str()),
                (Some("en-GB"), r#"<ns0:p xmlns:ns0="u" xml:lang="en-GB"/>"#)
            ),
            other => panic!("{other:?}"),
        }
    }
}
