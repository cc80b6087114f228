//! The three request bodies read from the tree: PROPFIND (§14.20), PROPPATCH's
//! `propertyupdate` (§14.19) and LOCK's `lockinfo` (§14.11). Unknown elements are skipped.

use super::super::lock::Scope;
use super::{
    Element, Fragment, PropName, XmlError, XmlLimits, capture_nothing, expect_root, parse,
};

/// What a PROPFIND asks for (RFC 4918 §9.1, §14.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropFind {
    /// All dead properties and the live ones RFC 4918 defines, plus those `include`d.
    AllProp { include: Vec<PropName> },
    /// The names of all properties.
    PropName,
    /// These properties.
    Prop(Vec<PropName>),
}

/// The property names among an element's children.
fn names(element: Option<&Element>, limits: XmlLimits) -> Result<Vec<PropName>, XmlError> {
    let names: Vec<PropName> = element
        .into_iter()
        .flat_map(|e| &e.children)
        .map(|c| c.name.clone())
        .collect();
    if names.len() > limits.max_properties {
        return Err(XmlError::TooManyProperties);
    }
    Ok(names)
}

/// Parses a PROPFIND body; an empty one (white space only) is `allprop` (§9.1).
pub fn parse_propfind(body: &[u8], limits: XmlLimits) -> Result<PropFind, XmlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropFind::AllProp {
            include: Vec::new(),
        });
    }
    let root = parse(body, limits, capture_nothing)?;
    expect_root(&root, "propfind")?;
    let mut chosen = root
        .children
        .iter()
        .filter(|c| c.name.is_dav("allprop") || c.name.is_dav("propname") || c.name.is_dav("prop"));
    let what = chosen.next().ok_or(XmlError::Invalid(
        "propfind needs allprop, propname or prop",
    ))?;
    if chosen.next().is_some() {
        return Err(XmlError::Invalid(
            "propfind with more than one of allprop, propname, prop",
        ));
    }
    Ok(match what.name.local.as_str() {
        "allprop" => PropFind::AllProp {
            include: names(root.child("include"), limits)?,
        },
        "propname" => PropFind::PropName,
        _ => PropFind::Prop(names(Some(what), limits)?),
    })
}

/// One instruction of a PROPPATCH, in document order (§9.2: they are applied in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropPatch {
    Set(Fragment),
    Remove(PropName),
}

/// `propertyupdate / (set | remove) / prop / *`: the elements kept whole.
fn proppatch_values(path: &[&PropName]) -> bool {
    let [update, op, prop, _] = path else {
        return false;
    };
    update.is_dav("propertyupdate")
        && (op.is_dav("set") || op.is_dav("remove"))
        && prop.is_dav("prop")
}

/// Parses a PROPPATCH body into its instructions.
pub fn parse_proppatch(body: &[u8], limits: XmlLimits) -> Result<Vec<PropPatch>, XmlError> {
    let root = parse(body, limits, proppatch_values)?;
    expect_root(&root, "propertyupdate")?;
    let mut instructions = Vec::new();
    for op in root
        .children
        .iter()
        .filter(|c| c.name.is_dav("set") || c.name.is_dav("remove"))
    {
        let prop = op
            .child("prop")
            .ok_or(XmlError::Invalid("set or remove without prop"))?;
        for value in &prop.children {
            let fragment = value
                .fragment
                .clone()
                .expect("proppatch values are captured");
            instructions.push(if op.name.is_dav("set") {
                PropPatch::Set(fragment)
            } else {
                PropPatch::Remove(fragment.name)
            });
        }
    }
    if instructions.is_empty() {
        return Err(XmlError::Invalid(
            "propertyupdate with nothing to set or remove",
        ));
    }
    if instructions.len() > limits.max_properties {
        return Err(XmlError::TooManyProperties);
    }
    Ok(instructions)
}

/// A LOCK request's `lockinfo` (§9.10, §14.11). Only write locks exist (§7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub scope: Scope,
    /// The `owner` element whole (its `xml` is what lockdiscovery shows).
    pub owner: Option<Fragment>,
}

/// Parses a LOCK body. An empty body is a refresh, which the caller tells apart first.
pub fn parse_lockinfo(body: &[u8], limits: XmlLimits) -> Result<LockInfo, XmlError> {
    let root = parse(
        body,
        limits,
        |path| matches!(path, [info, owner] if info.is_dav("lockinfo") && owner.is_dav("owner")),
    )?;
    expect_root(&root, "lockinfo")?;
    let scope = root
        .child("lockscope")
        .and_then(|s| {
            s.children.iter().find_map(|c| {
                if c.name.is_dav("exclusive") {
                    Some(Scope::Exclusive)
                } else if c.name.is_dav("shared") {
                    Some(Scope::Shared)
                } else {
                    None
                }
            })
        })
        .ok_or(XmlError::Invalid(
            "lockinfo needs lockscope exclusive or shared",
        ))?;
    let locktype = root
        .child("locktype")
        .ok_or(XmlError::Invalid("lockinfo needs locktype"))?;
    if locktype.child("write").is_none() {
        return Err(XmlError::Invalid("only write locks exist"));
    }
    Ok(LockInfo {
        scope,
        owner: root.child("owner").and_then(|o| o.fragment.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::DAV;
    use super::*;

    const NS: &str = "http://example.com/neon/litmus/";
    const DECL: &str = r#"<?xml version="1.0" encoding="utf-8" ?>"#;

    fn limits() -> XmlLimits {
        XmlLimits::default()
    }

    fn propfind(body: &str) -> Result<PropFind, XmlError> {
        parse_propfind(body.as_bytes(), limits())
    }

    fn proppatch(body: &str) -> Result<Vec<PropPatch>, XmlError> {
        parse_proppatch(body.as_bytes(), limits())
    }

    fn name(ns: &str, local: &str) -> PropName {
        PropName::new(ns, local)
    }

    #[test]
    fn propfind_bodies() {
        let all = |include: Vec<PropName>| Ok(PropFind::AllProp { include });
        let cases = [
            ("", all(vec![])),
            (" \r\n", all(vec![])),
            (
                r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#,
                all(vec![]),
            ),
            (
                "\u{feff}<propfind xmlns='DAV:'><allprop/><include><quota-used-bytes/><x:y xmlns:x='urn:x'/></include></propfind>",
                all(vec![name(DAV, "quota-used-bytes"), name("urn:x", "y")]),
            ),
            // litmus propextended: unknown elements are ignored (RFC 4918 §17)
            (
                &format!("{DECL}<propfind xmlns=\"DAV:\"><foobar/><allprop/></propfind>"),
                all(vec![]),
            ),
            (
                r#"<propfind xmlns="DAV:"><propname/></propfind>"#,
                Ok(PropFind::PropName),
            ),
            (
                &format!(
                    "{DECL}<propfind xmlns='DAV:'><prop><getcontentlength/><resourcetype></resourcetype>\
                     <foo xmlns='{NS}'/><L:bar xmlns:L='{NS}'/><nonamespace xmlns=''/></prop></propfind>"
                ),
                Ok(PropFind::Prop(vec![
                    name(DAV, "getcontentlength"),
                    name(DAV, "resourcetype"),
                    name(NS, "foo"),
                    name(NS, "bar"),
                    name("", "nonamespace"),
                ])),
            ),
            // the namespace is what counts, not the prefix, and `&amp;` in it is decoded
            (
                r#"<a:propfind xmlns:a="DAV:"><a:prop><b:x xmlns:b="u?a&amp;b"/></a:prop></a:propfind>"#,
                Ok(PropFind::Prop(vec![name("u?a&b", "x")])),
            ),
            (
                "<propfind xmlns='DAV:'><prop><caf\u{e9}-1.x_y/></prop></propfind>",
                Ok(PropFind::Prop(vec![name(DAV, "caf\u{e9}-1.x_y")])),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(propfind(body), want, "{body}");
        }
    }

    #[test]
    fn proppatch_refusals() {
        let big = format!(
            "<propertyupdate xmlns='DAV:'><set><prop><p xmlns='u'>{}</p></prop></set></propertyupdate>",
            "x".repeat(16 * 1024 + 1)
        );
        for (body, want) in [
            (
                "<propertyupdate xmlns='DAV:'/>",
                XmlError::Invalid("propertyupdate with nothing to set or remove"),
            ),
            (
                "<propertyupdate xmlns='DAV:'><set/></propertyupdate>",
                XmlError::Invalid("set or remove without prop"),
            ),
            (
                "<propertyupdate xmlns='DAV:'><set><prop/></set></propertyupdate>",
                XmlError::Invalid("propertyupdate with nothing to set or remove"),
            ),
            (
                "<propfind xmlns='DAV:'><allprop/></propfind>",
                XmlError::Invalid("unexpected root element"),
            ),
            (
                "<propertyupdate xmlns='DAV:'><set><prop><p xmlns='u'><q:r/></p></prop></set></propertyupdate>",
                XmlError::UnboundPrefix,
            ),
            (
                "<propertyupdate xmlns='DAV:'><set><prop><p xmlns='u'>&bad;</p></prop></set></propertyupdate>",
                XmlError::BadReference,
            ),
            (
                "<propertyupdate xmlns='DAV:'><set><prop><p xmlns='u'><?xml x?></p></prop></set></propertyupdate>",
                XmlError::Syntax(53),
            ),
            (&big, XmlError::ValueTooLarge),
        ] {
            assert_eq!(proppatch(body), Err(want), "{body}");
        }
    }

    #[test]
    fn lockinfo_bodies() {
        // what neon sends for litmus
        let body = format!(
            "{DECL}<lockinfo xmlns='DAV:'>\n<lockscope><exclusive/></lockscope>\n<locktype><write/></locktype><owner>litmus test suite</owner>\n</lockinfo>\n"
        );
        let info = parse_lockinfo(body.as_bytes(), limits()).unwrap();
        assert_eq!(info.scope, Scope::Exclusive);
        assert_eq!(
            info.owner.unwrap().xml,
            r#"<D:owner xmlns:D="DAV:">litmus test suite</D:owner>"#
        );
        // RFC 4918 §9.10.9; the content's own D prefix serves the element too
        let body = "<D:lockinfo xmlns:D='DAV:'><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype>\
                    <D:owner><D:href>http://example.org/~ejw/contact.html</D:href></D:owner></D:lockinfo>";
        let info = parse_lockinfo(body.as_bytes(), limits()).unwrap();
        assert_eq!(info.scope, Scope::Shared);
        assert_eq!(
            info.owner.unwrap().xml,
            r#"<D:owner xmlns:D="DAV:"><D:href>http://example.org/~ejw/contact.html</D:href></D:owner>"#
        );
        let no_owner = "<lockinfo xmlns='DAV:'><lockscope><exclusive/></lockscope><locktype><write/></locktype></lockinfo>";
        assert_eq!(
            parse_lockinfo(no_owner.as_bytes(), limits()).unwrap().owner,
            None
        );
        for (body, want) in [
            (
                "<lockinfo xmlns='DAV:'><locktype><write/></locktype></lockinfo>",
                XmlError::Invalid("lockinfo needs lockscope exclusive or shared"),
            ),
            (
                "<lockinfo xmlns='DAV:'><lockscope><exclusive/></lockscope></lockinfo>",
                XmlError::Invalid("lockinfo needs locktype"),
            ),
            (
                "<lockinfo xmlns='DAV:'><lockscope><exclusive/></lockscope><locktype><read/></locktype></lockinfo>",
                XmlError::Invalid("only write locks exist"),
            ),
            ("", XmlError::Syntax(0)),
        ] {
            assert_eq!(
                parse_lockinfo(body.as_bytes(), limits()),
                Err(want),
                "{body}"
            );
        }
    }
}
