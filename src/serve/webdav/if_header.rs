//! The WebDAV `If` request header (RFC 4918 §10.4): its parser and its evaluation, and the
//! `Coded-URL` of `Lock-Token` (§10.5). The parser turns the value into lists of conditions or
//! a typed error (400); the evaluation asks an [`IfState`] (the caller's view of ETags and of
//! the lock table) whether each condition holds. Which locks a request needs, and what 412 or
//! 423 it then gets, is the caller's: this file says only whether the header holds and which
//! state tokens it submitted.
//!
//! ```text
//! If = ( 1*No-tag-list / 1*Tagged-list )
//! No-tag-list = List
//! Tagged-list = Resource-Tag 1*List
//! List = "(" 1*Condition ")"
//! Condition = ["Not"] (State-token / "[" entity-tag "]")
//! State-token = Coded-URL
//! Coded-URL = "<" absolute-URI ">"
//! Resource-Tag = "<" Simple-ref ">"
//! entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE      ; RFC 9110 §8.8.3
//! ```
//! White space (SP, HTAB) may separate any two of these; `Not` is case-insensitive (RFC 5234
//! quoted strings are).

use std::fmt;

use crate::http::response::StatusCode;

/// Conditions in one header, all lists together: enough for any client (litmus sends 2), few
/// enough that evaluating them (an ETag lookup each) stays cheap.
pub const MAX_CONDITIONS: usize = 64;

/// A parsed `If` header: the lists, any one of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfHeader {
    pub lists: Vec<IfList>,
}

/// One parenthesised list: all its conditions must hold, for its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfList {
    /// The `Resource-Tag` (as sent: an absolute URI or an absolute path) of a tagged list;
    /// `None` for an untagged one, which is about the request's target.
    pub resource: Option<String>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `Not` was written before it.
    pub negated: bool,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// A state token (`<urn:uuid:...>`, or anything that cannot match, such as litmus's
    /// `<DAV:no-lock>`).
    Token(String),
    ETag(EntityTag),
}

/// An entity tag as RFC 9110 §8.8.3 writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    /// Between the quotes.
    pub opaque: String,
}

impl EntityTag {
    /// Parses `W/"x"` or `"x"` (an `ETag` field value, say); `None` for anything else.
    pub fn parse(value: &str) -> Option<EntityTag> {
        let (weak, rest) = match value.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let opaque = rest.strip_prefix('"')?.strip_suffix('"')?;
        opaque.bytes().all(is_etagc).then(|| EntityTag {
            weak,
            opaque: opaque.to_owned(),
        })
    }

    /// RFC 9110 §8.8.3.2 weak comparison: the opaque tags match, weakness aside. RFC 4918
    /// §10.4.4 allows either comparison; the weak one is what Apache's mod_dav does.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }
}

/// Why an `If` value was refused; every one is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfError {
    /// Nothing but white space.
    Empty,
    /// A byte the grammar does not allow here, at this offset.
    Unexpected(usize),
    /// The value ended inside a list, a tag or a token.
    Unfinished,
    /// `()`: a list needs a condition.
    EmptyList,
    /// Tagged and untagged lists mixed, or a tag with no list after it.
    MixedLists,
    /// More than `MAX_CONDITIONS`.
    TooManyConditions,
}

impl IfError {
    pub fn status(self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for IfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfError::Empty => f.write_str("empty If header"),
            IfError::Unexpected(at) => write!(f, "unexpected byte in If header at {at}"),
            IfError::Unfinished => f.write_str("If header ends too early"),
            IfError::EmptyList => f.write_str("empty list in If header"),
            IfError::MixedLists => f.write_str("tagged and untagged lists mixed in If header"),
            IfError::TooManyConditions => f.write_str("too many conditions in If header"),
        }
    }
}

impl std::error::Error for IfError {}

/// `etagc = %x21 / %x23-7E / obs-text` (RFC 9110 §8.8.3); obs-text is refused, since our own
/// tags never hold it. A space is accepted: RFC 4918's own examples (§10.4.6) put spaces in
/// entity tags, and such a tag can only fail to match ours.
fn is_etagc(b: u8) -> bool {
    b == b' ' || b == 0x21 || (0x23..=0x7e).contains(&b)
}

/// What may stand between `<` and `>`: visible ASCII but the angle brackets (an absolute URI
/// or path never holds them or white space; RFC 3986 §2).
fn is_uri_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'<' && b != b'>'
}

/// A cursor over the value.
struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    /// `<...>` from here; the text inside, non-empty.
    fn angle(&mut self) -> Result<&'a str, IfError> {
        self.at += 1;
        let start = self.at;
        while let Some(&b) = self.bytes.get(self.at) {
            if b == b'>' {
                let inside = &self.bytes[start..self.at];
                self.at += 1;
                if inside.is_empty() {
                    return Err(IfError::Unexpected(start));
                }
                return Ok(std::str::from_utf8(inside).expect("visible ASCII is UTF-8"));
            }
            if !is_uri_byte(b) {
                return Err(IfError::Unexpected(self.at));
            }
            self.at += 1;
        }
        Err(IfError::Unfinished)
    }

    /// `[entity-tag]` from here.
    fn etag(&mut self) -> Result<EntityTag, IfError> {
        self.at += 1;
        let start = self.at;
        let end = self.bytes[start..]
            .iter()
            .position(|&b| b == b']')
            .map(|n| start + n)
            .ok_or(IfError::Unfinished)?;
        let inside =
            std::str::from_utf8(&self.bytes[start..end]).map_err(|_| IfError::Unexpected(start))?;
        let tag = EntityTag::parse(inside).ok_or(IfError::Unexpected(start))?;
        self.at = end + 1;
        Ok(tag)
    }

    /// `( 1*Condition )` from here.
    fn list(&mut self, count: &mut usize) -> Result<Vec<Condition>, IfError> {
        self.at += 1;
        let mut conditions = Vec::new();
        loop {
            let negated = match self.peek().ok_or(IfError::Unfinished)? {
                b')' => {
                    self.at += 1;
                    if conditions.is_empty() {
                        return Err(IfError::EmptyList);
                    }
                    return Ok(conditions);
                }
                b'N' | b'n'
                    if self.bytes[self.at..].len() >= 3
                        && self.bytes[self.at..self.at + 3].eq_ignore_ascii_case(b"not") =>
                {
                    self.at += 3;
                    true
                }
                _ => false,
            };
            let test = match self.peek().ok_or(IfError::Unfinished)? {
                b'<' => Test::Token(self.angle()?.to_owned()),
                b'[' => Test::ETag(self.etag()?),
                _ => return Err(IfError::Unexpected(self.at)),
            };
            *count += 1;
            if *count > MAX_CONDITIONS {
                return Err(IfError::TooManyConditions);
            }
            conditions.push(Condition { negated, test });
        }
    }
}

/// Parses an `If` field value.
pub fn parse_if(value: &[u8]) -> Result<IfHeader, IfError> {
    let mut lexer = Lexer {
        bytes: value,
        at: 0,
    };
    let mut lists = Vec::new();
    let mut count = 0;
    let tagged = match lexer.peek() {
        None => return Err(IfError::Empty),
        Some(b'<') => true,
        Some(b'(') => false,
        Some(_) => return Err(IfError::Unexpected(lexer.at)),
    };
    let mut resource: Option<String> = None;
    // a tag must be followed by a list before the next tag or the end
    let mut lists_since_tag = 0;
    while let Some(b) = lexer.peek() {
        match b {
            b'<' if tagged => {
                if resource.is_some() && lists_since_tag == 0 {
                    return Err(IfError::MixedLists);
                }
                resource = Some(lexer.angle()?.to_owned());
                lists_since_tag = 0;
            }
            b'<' => return Err(IfError::MixedLists),
            b'(' => {
                let conditions = lexer.list(&mut count)?;
                lists.push(IfList {
                    resource: resource.clone(),
                    conditions,
                });
                lists_since_tag += 1;
            }
            _ => return Err(IfError::Unexpected(lexer.at)),
        }
    }
    if tagged && lists_since_tag == 0 {
        return Err(IfError::MixedLists);
    }
    Ok(IfHeader { lists })
}

/// The `Coded-URL` of a `Lock-Token` header (RFC 4918 §10.5): the token between `<` and `>`.
pub fn parse_coded_url(value: &[u8]) -> Option<&str> {
    let mut lexer = Lexer {
        bytes: value,
        at: 0,
    };
    if lexer.peek()? != b'<' {
        return None;
    }
    let token = lexer.angle().ok()?;
    lexer.peek().is_none().then_some(token)
}

/// What the evaluation needs to know of the server's state.
pub trait IfState {
    /// How the caller names a resource (its normalised relative path, say).
    type Resource;

    /// The resource a `Resource-Tag` names, or `None` when it names none of ours (another
    /// host, outside the WebDAV tree): RFC 4918 §10.4.4 then treats it as a resource that
    /// exists without the state asked about.
    fn resource(&self, tag: &str) -> Option<Self::Resource>;

    /// The resource's current entity tag; `None` if it has none (or does not exist).
    fn etag(&self, resource: &Self::Resource) -> Option<EntityTag>;

    /// Whether `token` names a current lock whose scope includes `resource` (§10.4.4: "a lock
    /// state token is considered to match if the resource is anywhere in the scope of the
    /// lock").
    fn has_lock(&self, resource: &Self::Resource, token: &str) -> bool;
}

impl IfHeader {
    /// RFC 4918 §10.4.3: the header holds if any list holds; a list holds if every condition
    /// does, for the list's resource (its tag's, or the request's for an untagged list). A
    /// false header is answered 412.
    pub fn evaluate<S: IfState>(&self, request: &S::Resource, state: &S) -> bool {
        self.lists.iter().any(|list| {
            let tagged;
            let resource = match &list.resource {
                None => Some(request),
                Some(tag) => {
                    tagged = state.resource(tag);
                    tagged.as_ref()
                }
            };
            list.conditions
                .iter()
                .all(|c| c.negated != holds(c, resource, state))
        })
    }

    /// Every state token in the header, in order, `Not` ones included: §10.4.1 counts "the mere
    /// fact that a state token appears in an If header" as submitting it. The lock checks
    /// (423) look among these, whether or not their list held.
    pub fn state_tokens(&self) -> impl Iterator<Item = &str> {
        self.lists
            .iter()
            .flat_map(|l| &l.conditions)
            .filter_map(|c| match &c.test {
                Test::Token(t) => Some(t.as_str()),
                Test::ETag(_) => None,
            })
    }
}

/// Whether the condition (`Not` aside) matches; nothing matches an unmapped resource.
fn holds<S: IfState>(condition: &Condition, resource: Option<&S::Resource>, state: &S) -> bool {
    let Some(resource) = resource else {
        return false;
    };
    match &condition.test {
        Test::Token(token) => state.has_lock(resource, token),
        Test::ETag(tag) => state
            .etag(resource)
            .is_some_and(|current| current.weak_eq(tag)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn token(t: &str) -> Condition {
        Condition {
            negated: false,
            test: Test::Token(t.to_owned()),
        }
    }

    fn etag(weak: bool, t: &str) -> Condition {
        Condition {
            negated: false,
            test: Test::ETag(EntityTag {
                weak,
                opaque: t.to_owned(),
            }),
        }
    }

    fn not(mut c: Condition) -> Condition {
        c.negated = true;
        c
    }

    fn list(resource: Option<&str>, conditions: Vec<Condition>) -> IfList {
        IfList {
            resource: resource.map(str::to_owned),
            conditions,
        }
    }

    const T1: &str = "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2";
    const T2: &str = "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092";

    #[test]
    fn parses_the_rfc_examples() {
        let cases: Vec<(String, Vec<IfList>)> = vec![
            // §10.4.6
            (
                format!(r#"(<{T1}> ["I am an ETag"]) (["I am another ETag"])"#),
                vec![
                    list(None, vec![token(T1), etag(false, "I am an ETag")]),
                    list(None, vec![etag(false, "I am another ETag")]),
                ],
            ),
            // §10.4.7
            (
                format!("(Not <{T1}> <{T2}>)"),
                vec![list(None, vec![not(token(T1)), token(T2)])],
            ),
            // §10.4.8
            (
                format!("(<{T1}>) (Not <DAV:no-lock>)"),
                vec![
                    list(None, vec![token(T1)]),
                    list(None, vec![not(token("DAV:no-lock"))]),
                ],
            ),
            // §10.4.9
            (
                format!(r#"</resource1> (<{T1}> [W/"A weak ETag"]) (["strong ETag"])"#),
                vec![
                    list(
                        Some("/resource1"),
                        vec![token(T1), etag(true, "A weak ETag")],
                    ),
                    list(Some("/resource1"), vec![etag(false, "strong ETag")]),
                ],
            ),
            // §10.4.10
            (
                format!("<http://www.example.com/specs/> (<{T1}>)"),
                vec![list(Some("http://www.example.com/specs/"), vec![token(T1)])],
            ),
            // two tags, space-free and with tabs; `not` in any case
            (
                "<a>(<x>)(nOt[\"e\"])\t<b>\t(<y>)".to_owned(),
                vec![
                    list(Some("a"), vec![token("x")]),
                    list(Some("a"), vec![not(etag(false, "e"))]),
                    list(Some("b"), vec![token("y")]),
                ],
            ),
            (
                r#"  ([""])  "#.to_owned(),
                vec![list(None, vec![etag(false, "")])],
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_if(value.as_bytes()),
                Ok(IfHeader { lists: want }),
                "{value}"
            );
        }
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        let many = "(<a>)".repeat(MAX_CONDITIONS + 1);
        for (value, want) in [
            ("", IfError::Empty),
            (" \t ", IfError::Empty),
            ("(", IfError::Unfinished),
            ("(<a>", IfError::Unfinished),
            ("(<a", IfError::Unfinished),
            ("([\"x\"", IfError::Unfinished),
            ("()", IfError::EmptyList),
            ("(<>)", IfError::Unexpected(2)),
            ("(<a b>)", IfError::Unexpected(3)),
            ("(<a\u{e9}>)", IfError::Unexpected(3)),
            ("(Not)", IfError::Unexpected(4)),
            ("(Not Not <a>)", IfError::Unexpected(5)),
            ("(Nothing)", IfError::Unexpected(4)),
            ("([x])", IfError::Unexpected(2)),
            ("([W/x])", IfError::Unexpected(2)),
            ("([\"a\"b\"])", IfError::Unexpected(2)),
            ("(token)", IfError::Unexpected(1)),
            ("x", IfError::Unexpected(0)),
            ("(<a>) x", IfError::Unexpected(6)),
            ("(<a>) <b> (<c>)", IfError::MixedLists),
            ("<a>", IfError::MixedLists),
            ("<a> <b> (<c>)", IfError::MixedLists),
            ("<a> (<b>) <c>", IfError::MixedLists),
            ("(<a>)\r\n (<b>)", IfError::Unexpected(5)),
            (many.as_str(), IfError::TooManyConditions),
        ] {
            assert_eq!(parse_if(value.as_bytes()), Err(want), "{value:?}");
            assert_eq!(want.status(), StatusCode::BAD_REQUEST);
        }
    }

    /// Resources by path; one lock (T1) whose scope is `/locked` and what is under it.
    struct State {
        etags: HashMap<&'static str, &'static str>,
    }

    impl IfState for State {
        type Resource = String;

        fn resource(&self, tag: &str) -> Option<String> {
            tag.strip_prefix("http://here").map(str::to_owned)
        }

        fn etag(&self, resource: &String) -> Option<EntityTag> {
            self.etags
                .get(resource.as_str())
                .and_then(|t| EntityTag::parse(t))
        }

        fn has_lock(&self, resource: &String, token: &str) -> bool {
            token == T1 && (resource == "/locked" || resource.starts_with("/locked/"))
        }
    }

    #[test]
    fn evaluates_as_rfc_4918_and_litmus_expect() {
        let state = State {
            etags: HashMap::from([
                ("/locked", "\"e1\""),
                ("/locked/m", "W/\"e2\""),
                ("/free", "\"e3\""),
            ]),
        };
        let on = |target: &str, value: String| {
            let header = parse_if(value.as_bytes()).unwrap();
            header.evaluate(&target.to_owned(), &state)
        };
        for (target, value, want) in [
            // litmus locks: cond_put, fail_cond_put, cond_put_with_not, cond_put_corrupt_token,
            // complex_cond_put, fail_complex_cond_put, fail_cond_put_unlocked
            ("/locked", format!(r#"(<{T1}> ["e1"])"#), true),
            ("/locked", r#"(<DAV:no-lock> ["e1"])"#.to_owned(), false),
            ("/locked", format!("(<{T1}>) (Not <DAV:no-lock>)"), true),
            ("/locked", format!("(<{T1}x>) (Not <DAV:no-lock>)"), true),
            (
                "/locked",
                format!(r#"(<{T1}> ["e1"]) (Not <DAV:no-lock> ["e1"])"#),
                true,
            ),
            (
                "/locked",
                format!(r#"(<{T1}> ["e0"]) (Not <DAV:no-lock> ["e0"])"#),
                false,
            ),
            ("/free", "(<DAV:no-lock>)".to_owned(), false),
            // the lock's scope covers members; weak comparison of ETags
            ("/locked/m", format!(r#"(<{T1}> ["e2"])"#), true),
            ("/locked/m", r#"([W/"e2"])"#.to_owned(), true),
            ("/free", format!("(<{T1}>)"), false),
            ("/free", format!("(Not <{T1}>)"), true),
            ("/free", format!("(Not <{T1}> <{T2}>)"), false),
            // tagged lists are about their own resource, not the target
            ("/free", format!("<http://here/locked> (<{T1}>)"), true),
            ("/locked", format!("<http://here/free> (<{T1}>)"), false),
            ("/free", r#"<http://here/free> (["e3"])"#.to_owned(), true),
            // a resource not ours holds no state: only `Not` conditions are true of it
            (
                "/locked",
                format!("<http://elsewhere/locked> (<{T1}>)"),
                false,
            ),
            (
                "/locked",
                format!("<http://elsewhere/locked> (Not <{T1}>)"),
                true,
            ),
            // an unmapped target has no ETag
            ("/missing", r#"(["e1"])"#.to_owned(), false),
            ("/missing", r#"(Not ["e1"])"#.to_owned(), true),
        ] {
            assert_eq!(on(target, value.clone()), want, "{target}: {value}");
        }
    }

    #[test]
    fn every_state_token_counts_as_submitted() {
        let value = format!(r#"<a> (<{T1}> ["e"]) (Not <DAV:no-lock>) <x> (<{T2}>)"#);
        let header = parse_if(value.as_bytes()).unwrap();
        assert_eq!(
            header.state_tokens().collect::<Vec<_>>(),
            [T1, "DAV:no-lock", T2]
        );
    }

    #[test]
    fn entity_tags_and_lock_tokens() {
        assert_eq!(EntityTag::parse("W/\"a\"").map(|t| t.weak), Some(true));
        assert_eq!(EntityTag::parse("\"a\"").map(|t| t.weak), Some(false));
        for bad in ["a", "\"a", "W/a", "w/\"a\"", "\"a\tb\"", "\"a\"b\""] {
            assert_eq!(EntityTag::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_coded_url(format!("<{T1}>").as_bytes()), Some(T1));
        assert_eq!(parse_coded_url(b" <a> "), Some("a"));
        for bad in [&b""[..], b"a", b"<a>x", b"<a", b"<>", b"<a> <b>"] {
            assert_eq!(parse_coded_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = b"()<>[]\"W/Not \tx:";
        let mut state: u32 = 1;
        for _ in 0..20_000 {
            let mut value = Vec::new();
            for _ in 0..(state % 24) {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                value.push(alphabet[(state >> 16) as usize % alphabet.len()]);
            }
            let _ = parse_if(&value);
            let _ = parse_coded_url(&value);
        }
    }
}
