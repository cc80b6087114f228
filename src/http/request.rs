//! Plain data for a parsed request head: `Method`, `Version`, `Headers`, `RequestHead`.
//! Parsing lives in `parse.rs`; body framing in `framing.rs`.

use std::fmt;

/// A request method. Methods this server does not know parse fine and become `Other`, which the
/// router answers with 501.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Connect,
    Other(String),
}

impl Method {
    /// Maps a method token (already checked to be a `token`) to a `Method`; methods are
    /// case-sensitive (RFC 9110 §9.1).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            other => Method::Other(other.to_owned()),
        }
    }

    /// Safe methods (RFC 9110 §9.2.1) are read-only by definition; everything else is a
    /// write to the access decision. TRACE, safe in the RFC, is not implemented here, so it
    /// counts as a write and gets the write refusals first, as it always has.
    pub fn is_safe(&self) -> bool {
        matches!(self, Method::Get | Method::Head | Method::Options)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol versions this server speaks; anything else is refused with 505 by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Header fields in the order received. Names keep their case; lookups ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push((name.to_owned(), value.to_owned()));
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every value of `name` in order, for fields that may be repeated as a list.
    pub fn get_all<'a, 'b>(&'a self, name: &'b str) -> impl Iterator<Item = &'a str> + use<'a, 'b> {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any comma-separated element of any `name` field equals `token`, ignoring case
    /// (as for `Connection: keep-alive, Upgrade`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        crate::http::syntax::elements(self.get_all(name)).any(|t| t.eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A parsed request line and header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The request target as sent, reduced to origin-form (`/path?query`) when it came in
    /// absolute-form.
    pub target: String,
    /// The `host[:port]` of an absolute-form target, checked by `host::host_name`.
    pub authority: Option<String>,
    pub version: Version,
    pub headers: Headers,
}

impl RequestHead {
    /// The host the request is for: an absolute-form target's authority, which RFC 9112
    /// §3.2.2 says an origin server must use instead of `Host`, else the `Host` field.
    pub fn host(&self) -> Option<&str> {
        self.authority
            .as_deref()
            .or_else(|| self.headers.get("host"))
    }

    /// The target's path, without the query; still percent-encoded.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}
