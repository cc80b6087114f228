//! PROPFIND (RFC 4918 §9.1) with Depth 0 or 1; `Depth: infinity` (and no Depth, which means
//! it) gets 403 with `propfind-finite-depth`, as Apache answers by default, unless the
//! configuration allows it: then the tree is walked within bounds (`Root::walk`), streamed. The 207 is
//! written as it is produced, one `<response>` per entry, straight from the directory's
//! descriptor (chunked to an HTTP/1.1 client), so a directory of any size lists in constant
//! memory. Members are the entries the listing page shows (`FileRoot::lists`): dot files
//! unless shown, in-flight uploads never.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::lock::Lock;
use super::locking::{LOCKS, etag_of};
use super::multistatus::{
    COLLECTION, Multistatus, SUPPORTED_LOCK, Value, error_body, lockdiscovery,
};
use super::proppatch::{DEAD_PREFIX, dead_properties, dead_property};
use super::xml::{DAV, PropFind, PropName, XmlLimits, parse_propfind};
use super::{Ctx, DepthHeader, depth, xml_response};
use crate::files::FileRoot;
use crate::files::at::{
    Dir, Kind, Meta, Node, Root, Visit, Visited, WalkEnd, WalkLimits, may_have_xattrs, space,
};
use crate::http::date;
use crate::http::request::Version;
use crate::http::response::{Body, BodyStream, Response, StatusCode};
use crate::serve::errors::fs_error;
use crate::serve::listing::files_url;
use crate::serve::mime;

/// The live properties `allprop` returns (RFC 4918 §9.1: those this RFC defines).
const ALLPROP: &[&str] = &[
    "resourcetype",
    "getcontentlength",
    "getlastmodified",
    "getetag",
    "getcontenttype",
    "creationdate",
    "displayname",
    "supportedlock",
    "lockdiscovery",
];

/// RFC 4331 quotas: only when asked by name (§3: not in `allprop`).
const QUOTA: &[&str] = &["quota-available-bytes", "quota-used-bytes"];

/// Whether `name` is a live property here (PROPPATCH refuses to set those: 403).
pub(super) fn is_live(name: &PropName) -> bool {
    name.namespace == DAV
        && (ALLPROP.contains(&name.local.as_str()) || QUOTA.contains(&name.local.as_str()))
}

pub(super) fn propfind(ctx: &Ctx, body: &[u8], infinity_allowed: bool) -> Response {
    let members = match depth(ctx.head) {
        Ok(Some(DepthHeader::Zero)) => Members::None,
        Ok(Some(DepthHeader::One)) => Members::Children,
        Ok(None | Some(DepthHeader::Infinity)) if infinity_allowed => Members::Tree,
        Ok(None | Some(DepthHeader::Infinity)) => {
            return xml_response(
                StatusCode::FORBIDDEN,
                error_body("propfind-finite-depth", &[]),
            );
        }
        Err(response) => return response,
    };
    let request = match parse_propfind(body, XmlLimits::default()) {
        Ok(request) => request,
        Err(e) => return Response::error(e.status(), e),
    };
    let meta = match ctx.root.stat(&ctx.resource.rel) {
        Ok(meta) if matches!(meta.kind, Kind::File | Kind::Dir) => meta,
        Ok(_) => return Response::error(StatusCode::NOT_FOUND, "not found"),
        Err(e) => return fs_error(e),
    };
    let mut job = Listing {
        root: ctx.root.clone(),
        files: ctx.files.clone(),
        rel: ctx.resource.rel.clone(),
        meta,
        members,
        request,
        now: Instant::now(),
    };
    let response = Response::new(StatusCode::MULTI_STATUS)
        .header("Content-Type", super::multistatus::CONTENT_TYPE);
    if ctx.head.version == Version::Http11 {
        let mut response = response;
        response.body = Body::Stream {
            len: None,
            source: Box::new(job),
        };
        return response;
    }
    // RFC 9112 §7.1: no chunked coding for HTTP/1.0; the body is made first
    let mut body = Vec::new();
    match job.write_to(&mut body) {
        Ok(()) => response.body(body),
        Err(e) => fs_error(e.into()),
    }
}

/// Which members a PROPFIND of a collection describes besides the collection itself.
#[derive(Clone, Copy)]
enum Members {
    /// Depth 0.
    None,
    /// Depth 1.
    Children,
    /// Depth infinity, where allowed.
    Tree,
}

/// Levels a Depth infinity walk enters: each holds a descriptor while the walk is in it.
const MAX_DEPTH: usize = 128;

/// Entries a Depth infinity walk visits before it gives up.
const MAX_TREE_ENTRIES: u64 = 1_000_000;

/// A PROPFIND being answered.
struct Listing {
    root: Root,
    /// For the listing's rule of which members are shown.
    files: FileRoot,
    rel: PathBuf,
    meta: Meta,
    members: Members,
    request: PropFind,
    now: Instant,
}

impl BodyStream for Listing {
    fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut ms = Multistatus::begin(out)?;
        let rel = self.rel.clone();
        let meta = self.meta.clone();
        self.describe(&mut ms, &rel, &meta, None)?;
        if meta.kind == Kind::Dir {
            match self.members {
                Members::None => {}
                Members::Children => self.children(&mut ms, &rel)?,
                Members::Tree => self.tree(&mut ms, &rel)?,
            }
        }
        ms.finish()?;
        Ok(())
    }
}

impl Listing {
    /// The entries of the directory `rel` that the listing shows.
    fn children<W: Write>(&self, ms: &mut Multistatus<W>, rel: &Path) -> io::Result<()> {
        let dir = self.root.open_dir(rel).map_err(io::Error::other)?;
        for entry in dir.entries().map_err(io::Error::other)? {
            let Ok(entry) = entry else { continue };
            if !self.shown(&entry.name) {
                continue;
            }
            let member = rel.join(&entry.name);
            let here = (entry.kind != Kind::Symlink).then_some((&dir, entry.name.as_os_str()));
            self.member(ms, &member, entry.kind, &dir, here)?;
        }
        Ok(())
    }

    /// Everything below the directory `rel`, by the bounded walk: a directory the listing
    /// hides is not entered, a symlink is described (as what it leads to, inside the root)
    /// but never entered. A walk cut short by its bounds ends the body with an error, so the
    /// client sees a broken response rather than a tree that looks whole.
    fn tree<W: Write>(&self, ms: &mut Multistatus<W>, rel: &Path) -> io::Result<()> {
        let limits = WalkLimits {
            max_depth: MAX_DEPTH,
            max_entries: MAX_TREE_ENTRIES,
        };
        let mut failed = None;
        let end = self.root.walk(rel, limits, &mut |visited: &Visited<'_>| {
            if !self.shown(visited.name) {
                return Visit::Skip;
            }
            let member = rel.join(visited.rel);
            let here = (visited.kind != Kind::Symlink).then_some((visited.dir, visited.name));
            match self.member(ms, &member, visited.kind, visited.dir, here) {
                Ok(()) => Visit::Continue,
                Err(e) => {
                    failed = Some(e);
                    Visit::Stop
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        match end.map_err(io::Error::other)? {
            WalkEnd::Complete => Ok(()),
            cut => Err(io::Error::other(format!("tree walk ended early: {cut:?}"))),
        }
    }

    /// Whether a member named `name` is listed: the listing page's rule.
    fn shown(&self, name: &OsStr) -> bool {
        self.files.lists(name).is_some()
    }

    /// One member, at `member` of kind `kind` in `dir`; a link is described as what it leads
    /// to when that is inside the root, anything else that is not a file or directory is not.
    fn member<W: Write>(
        &self,
        ms: &mut Multistatus<W>,
        member: &Path,
        kind: Kind,
        dir: &Dir,
        here: Option<(&Dir, &OsStr)>,
    ) -> io::Result<()> {
        let meta = match (kind, member.file_name()) {
            (Kind::Symlink, _) | (_, None) => self.root.stat(member),
            (_, Some(name)) => dir.lstat(name),
        };
        match meta {
            Ok(meta) if matches!(meta.kind, Kind::File | Kind::Dir) => {
                self.describe(ms, member, &meta, here)
            }
            _ => Ok(()),
        }
    }

    fn describe<W: Write>(
        &self,
        ms: &mut Multistatus<W>,
        rel: &Path,
        meta: &Meta,
        member: Option<(&Dir, &OsStr)>,
    ) -> io::Result<()> {
        let collection = meta.kind == Kind::Dir;
        let mut href = files_url(rel);
        if collection {
            href.push('/');
        }
        let key = rel.to_string_lossy();
        let live = Live {
            root: &self.root,
            rel,
            key: &key,
            meta,
            now: self.now,
        };
        // an entry of the listing is opened for its dead properties only if it has some
        let node = || match member {
            Some((dir, name)) if !may_have_xattrs(dir, name, DEAD_PREFIX) => None,
            _ => self.root.open_entry(rel).ok(),
        };
        let mut response = ms.response(&href);
        match &self.request {
            PropFind::AllProp { include } => {
                for local in ALLPROP {
                    let name = PropName::new(DAV, local);
                    if let Some(value) = live.value(local) {
                        value.write(&mut response, &name);
                    }
                }
                if let Some(node) = node() {
                    for (_, xml) in dead_properties(&node) {
                        response.prop(StatusCode::OK, &PropName::new(DAV, ""), Value::Dead(&xml));
                    }
                }
                for name in include
                    .iter()
                    .filter(|n| n.namespace == DAV && QUOTA.contains(&n.local.as_str()))
                {
                    if let Some(value) = live.value(&name.local) {
                        value.write(&mut response, name);
                    }
                }
            }
            PropFind::PropName => {
                for local in ALLPROP.iter().chain(QUOTA) {
                    if live.value(local).is_some() {
                        response.prop(StatusCode::OK, &PropName::new(DAV, local), Value::Empty);
                    }
                }
                if let Some(node) = node() {
                    for (name, _) in dead_properties(&node) {
                        response.prop(StatusCode::OK, &name, Value::Empty);
                    }
                }
            }
            PropFind::Prop(names) => {
                let node = names.iter().any(|n| !is_live(n)).then(node).flatten();
                for name in names {
                    if is_live(name) {
                        match live.value(&name.local) {
                            Some(value) => value.write(&mut response, name),
                            None => response.prop(StatusCode::NOT_FOUND, name, Value::Empty),
                        }
                        continue;
                    }
                    match node.as_ref().and_then(|n| dead_property(n, name)) {
                        Some(xml) => response.prop(StatusCode::OK, name, Value::Dead(&xml)),
                        None => response.prop(StatusCode::NOT_FOUND, name, Value::Empty),
                    }
                }
            }
        }
        response.finish()
    }
}

/// What a live property's value is made of.
enum LiveValue {
    Text(String),
    Xml(String),
}

impl LiveValue {
    fn write<W: Write>(&self, response: &mut super::multistatus::Response<'_, W>, name: &PropName) {
        match self {
            LiveValue::Text(t) => response.prop(StatusCode::OK, name, Value::Text(t)),
            LiveValue::Xml(x) => response.prop(StatusCode::OK, name, Value::Xml(x)),
        }
    }
}

/// One entry's live properties.
struct Live<'a> {
    root: &'a Root,
    rel: &'a Path,
    key: &'a str,
    meta: &'a Meta,
    now: Instant,
}

impl Live<'_> {
    /// The value of the live property `local` (in `DAV:`), `None` where this resource has none.
    fn value(&self, local: &str) -> Option<LiveValue> {
        let file = self.meta.kind == Kind::File;
        let text = |s: String| Some(LiveValue::Text(s));
        match local {
            "resourcetype" => Some(LiveValue::Xml(if file {
                String::new()
            } else {
                COLLECTION.to_owned()
            })),
            "getcontentlength" if file => text(self.meta.len.to_string()),
            "getlastmodified" => text(date::format(self.meta.modified)),
            "getetag" if file => text(etag_of(self.meta)),
            "getcontenttype" if file => text(mime::content_type(self.rel).into_owned()),
            "creationdate" => {
                let when = self.meta.created.unwrap_or(self.meta.modified);
                text(String::from_utf8_lossy(&date::rfc3339(when)).into_owned())
            }
            "displayname" => text(
                self.rel
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            "supportedlock" => Some(LiveValue::Xml(SUPPORTED_LOCK.to_owned())),
            "lockdiscovery" => {
                let locks: Vec<Lock> = LOCKS.discover(self.now, self.key);
                let root = self.root;
                Some(LiveValue::Xml(lockdiscovery(&locks, self.now, |key| {
                    super::locking::href_of_key(root, key)
                })))
            }
            "quota-available-bytes" | "quota-used-bytes" => {
                let node: Node = self.root.open_entry(self.rel).ok()?;
                let space = space(&node).ok()?;
                let n = if local == "quota-used-bytes" {
                    space.used
                } else {
                    space.available
                };
                text(n.to_string())
            }
            _ => None,
        }
    }
}
