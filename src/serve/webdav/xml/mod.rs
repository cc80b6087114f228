//! WebDAV request bodies (RFC 4918 §14): PROPFIND, PROPPATCH and LOCK, parsed with quick-xml
//! under limits into what the handlers need. The body becomes a small tree of elements, each
//! named by its namespace and local name (prefixes resolved: an undeclared one, or one
//! "undeclared" by `xmlns:p=""`, is an error); a DOCTYPE is refused outright, so no entity is
//! ever defined, let alone expanded (no XXE, no billion laughs); only the five predefined
//! entities and character references are accepted. Unknown elements are ignored, as §17 asks.
//!
//! The elements that are values (each property of a PROPPATCH, a LOCK's `owner`) are not taken
//! apart but kept as a [`Fragment`]: the element rewritten as standalone XML, its content byte
//! for byte as the client sent it, with the namespace declarations that content needs and its
//! `xml:lang` put on the element itself, so that it can be stored and later written into any
//! response as it is. Every error is a 400 (`XmlError::status`); the caller bounds the body's
//! size (413) before this sees it.
//!
//! The parts: this file (names, limits, errors, the tree), `reader` (quick-xml driven under
//! the limits, every check of well-formedness ours to add), `fragment` (elements kept whole)
//! and `bodies` (the three request bodies read from the tree).

mod bodies;
mod fragment;
mod reader;

use std::fmt;

use crate::http::response::StatusCode;
use reader::Parser;

pub use bodies::{PropFind, PropPatch, parse_lockinfo, parse_propfind, parse_proppatch};

/// The WebDAV namespace.
pub const DAV: &str = "DAV:";

/// Bounds on a request body's structure.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    /// Nesting of elements (litmus and the common clients stay under 8).
    pub max_depth: usize,
    /// Elements in the whole body.
    pub max_elements: usize,
    /// Property names in a PROPFIND, or set and remove instructions in a PROPPATCH.
    pub max_properties: usize,
    /// The bytes of one value (a property or an owner) as stored.
    pub max_value_bytes: usize,
    /// Namespace declarations in scope at once.
    pub max_namespaces: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: 32,
            max_elements: 10_000,
            max_properties: 1_000,
            max_value_bytes: 16 * 1024,
            max_namespaces: 64,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlError {
    NotUtf8,
    /// Not well-formed XML (quick-xml's verdict, or ours: a second root, text outside it, an
    /// unclosed element), near this byte offset.
    Syntax(u64),
    /// A DOCTYPE: refused whatever it holds.
    Doctype,
    /// A prefix with no namespace declared for it.
    UnboundPrefix,
    /// A declaration XML Namespaces forbids (`xmlns:xml` to another URI, binding `xmlns`).
    BadNamespace,
    /// An entity reference other than the five predefined, or a character reference to a
    /// character XML does not allow.
    BadReference,
    /// A character XML 1.0 does not allow (most C0 controls).
    BadCharacter,
    /// An element or attribute name that is not a qualified name (XML Namespaces §4).
    BadName,
    TooDeep,
    TooManyElements,
    TooManyProperties,
    TooManyNamespaces,
    ValueTooLarge,
    /// Well-formed, but not the document the method takes (wrong root, a required element
    /// missing, an unsupported lock type).
    Invalid(&'static str),
}

impl XmlError {
    pub fn status(self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::NotUtf8 => f.write_str("request body is not UTF-8"),
            XmlError::Syntax(at) => write!(f, "malformed XML near byte {at}"),
            XmlError::Doctype => f.write_str("DOCTYPE not allowed"),
            XmlError::UnboundPrefix => f.write_str("undeclared namespace prefix"),
            XmlError::BadNamespace => f.write_str("invalid namespace declaration"),
            XmlError::BadReference => {
                f.write_str("undefined entity or invalid character reference")
            }
            XmlError::BadCharacter => f.write_str("character not allowed in XML"),
            XmlError::BadName => f.write_str("invalid element or attribute name"),
            XmlError::TooDeep => f.write_str("XML nested too deeply"),
            XmlError::TooManyElements => f.write_str("too many XML elements"),
            XmlError::TooManyProperties => f.write_str("too many properties"),
            XmlError::TooManyNamespaces => f.write_str("too many namespace declarations"),
            XmlError::ValueTooLarge => f.write_str("property value too large"),
            XmlError::Invalid(what) => write!(f, "invalid request body: {what}"),
        }
    }
}

impl std::error::Error for XmlError {}

/// A property's (or any element's) name: namespace URI (`""` for none) and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    pub namespace: String,
    pub local: String,
}

impl PropName {
    pub fn new(namespace: &str, local: &str) -> PropName {
        PropName {
            namespace: namespace.to_owned(),
            local: local.to_owned(),
        }
    }

    pub fn is_dav(&self, local: &str) -> bool {
        self.namespace == DAV && self.local == local
    }
}

/// An element kept whole: a dead property's value, a lock's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub name: PropName,
    /// The `xml:lang` in effect on the element (its own or inherited).
    pub lang: Option<String>,
    /// The element as standalone XML, to store and to write into a response as it is.
    pub xml: String,
}

/// One element of the request tree.
#[derive(Debug)]
struct Element {
    name: PropName,
    children: Vec<Element>,
    /// Set for captured elements (which then have no children here).
    fragment: Option<Fragment>,
}

impl Element {
    fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name.is_dav(local))
    }
}

/// Which elements to keep whole, given the names from the root down to it.
type Capture = fn(&[&PropName]) -> bool;

fn capture_nothing(_: &[&PropName]) -> bool {
    false
}

/// The tree of a body: UTF-8 (a byte order mark allowed), well-formed, within `limits`.
fn parse(body: &[u8], limits: XmlLimits, capture: Capture) -> Result<Element, XmlError> {
    let body = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    // without it, byte offsets are those of `body` whatever quick-xml does with a BOM
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    Parser::new(body, limits).tree(capture)
}

fn expect_root(root: &Element, local: &'static str) -> Result<(), XmlError> {
    if root.name.is_dav(local) {
        Ok(())
    } else {
        Err(XmlError::Invalid("unexpected root element"))
    }
}

impl Fragment {
    /// Reads back a fragment's `xml` (as stored), checking it as a request body is checked.
    pub fn parse(xml: &str, limits: XmlLimits) -> Result<Fragment, XmlError> {
        let root = parse(xml.as_bytes(), limits, |path| path.len() == 1)?;
        root.fragment.ok_or(XmlError::Invalid("not a fragment"))
    }
}
