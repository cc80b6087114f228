//! PROPPATCH (RFC 4918 §9.2) and where dead properties live: one `user.` extended attribute
//! per property, on the file or directory itself, so that they survive a restart, move with
//! a rename, are copied by COPY (`files::at` copies `user.` attributes), go with DELETE and
//! never show up as files. The attribute is named `user.dav.` and a hash of the property's
//! namespace and name (XML names can be longer than an attribute name may be); its value is
//! the property element as the client sent it (`xml::Fragment`), which carries its own name.
//!
//! All or nothing, as §9.2 asks: a protected (live) property refuses the whole request (403
//! for it, 424 for the rest), and a failure while writing undoes what was written. On a file
//! system without user attributes the properties get 507 inside the 207: the server has
//! nowhere to record them.

use sha2::{Digest, Sha256};

use super::multistatus::{Multistatus, Value};
use super::propfind::is_live;
use super::xml::{Fragment, PropName, PropPatch, XmlLimits, parse_proppatch};
use super::{Ctx, locking, xml_response};
use crate::files::at::{
    FsError, Node, SetXattr, set_modified, xattr_get, xattr_list, xattr_remove, xattr_set,
};
use crate::http::date;
use crate::http::response::{Response, StatusCode};
use crate::serve::errors::{fs_error, fs_status};

/// The attribute names of dead properties start with this.
pub(super) const DEAD_PREFIX: &str = "user.dav.";

/// The namespace of Windows' `Win32*` properties.
const MICROSOFT: &str = "urn:schemas-microsoft-com:";

/// The attribute a property is kept in.
fn attribute(name: &PropName) -> String {
    let mut hasher = Sha256::new();
    hasher.update(name.namespace.as_bytes());
    hasher.update([0]);
    hasher.update(name.local.as_bytes());
    let digest = hasher.finalize();
    let mut out = String::from(DEAD_PREFIX);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Every dead property of an entry: its name and its stored element. Attributes that do not
/// read back as a property (someone else's `user.dav.*`) are left out.
pub(super) fn dead_properties(node: &Node) -> Vec<(PropName, String)> {
    let Ok(names) = xattr_list(node) else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|n| n.starts_with(DEAD_PREFIX))
        .filter_map(|n| xattr_get(node, n).ok().flatten())
        .filter_map(|v| String::from_utf8(v).ok())
        .filter_map(|xml| Fragment::parse(&xml, XmlLimits::default()).ok())
        .map(|f| (f.name, f.xml))
        .collect()
}

/// One dead property's stored element.
pub(super) fn dead_property(node: &Node, name: &PropName) -> Option<String> {
    let value = xattr_get(node, &attribute(name)).ok()??;
    String::from_utf8(value).ok()
}

fn name_of(instruction: &PropPatch) -> &PropName {
    match instruction {
        PropPatch::Set(fragment) => &fragment.name,
        PropPatch::Remove(name) => name,
    }
}

pub(super) fn proppatch(ctx: &Ctx, body: &[u8]) -> Response {
    let instructions = match parse_proppatch(body, XmlLimits::default()) {
        Ok(instructions) => instructions,
        Err(e) => return Response::error(e.status(), e),
    };
    let node = match ctx.root.open_entry(&ctx.resource.rel) {
        Ok(node) => node,
        Err(e) => return fs_error(e),
    };
    if let Err(response) = locking::may_change(ctx, &ctx.resource, super::lock::Depth::Zero, false)
    {
        return response;
    }
    let protected: Vec<bool> = instructions.iter().map(|i| is_live(name_of(i))).collect();
    let statuses = if protected.contains(&true) {
        protected
            .iter()
            .map(|&p| {
                if p {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::FAILED_DEPENDENCY
                }
            })
            .collect()
    } else {
        apply(&node, &instructions)
    };
    let href = ctx.resource.href(matches!(node, Node::Dir(_)));
    let mut ms = Multistatus::begin(Vec::new()).expect("writing to memory");
    let mut response = ms.response(&href);
    for (instruction, status) in instructions.iter().zip(statuses) {
        response.prop(status, name_of(instruction), Value::Empty);
    }
    response.finish().expect("writing to memory");
    xml_response(
        StatusCode::MULTI_STATUS,
        ms.finish().expect("writing to memory"),
    )
}

/// Applies the instructions in order; on the first failure, undoes the ones before it and
/// answers that one's status, 424 for the others.
fn apply(node: &Node, instructions: &[PropPatch]) -> Vec<StatusCode> {
    let mut undo: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for (i, instruction) in instructions.iter().enumerate() {
        let attr = attribute(name_of(instruction));
        let result = xattr_get(node, &attr).and_then(|before| {
            match instruction {
                PropPatch::Set(fragment) => {
                    xattr_set(node, &attr, fragment.xml.as_bytes(), SetXattr::Either)?
                }
                PropPatch::Remove(_) => {
                    xattr_remove(node, &attr)?;
                }
            }
            undo.push((attr.clone(), before));
            Ok(())
        });
        if let Err(e) = result {
            for (attr, before) in undo.into_iter().rev() {
                let _ = match before {
                    Some(value) => xattr_set(node, &attr, &value, SetXattr::Either),
                    None => xattr_remove(node, &attr).map(|_| ()),
                };
            }
            let failed = match e {
                FsError::Unsupported | FsError::TooLarge | FsError::NoSpace => {
                    StatusCode::INSUFFICIENT_STORAGE
                }
                e => fs_status(&e),
            };
            return (0..instructions.len())
                .map(|j| {
                    if j == i {
                        failed
                    } else {
                        StatusCode::FAILED_DEPENDENCY
                    }
                })
                .collect();
        }
    }
    windows_times(node, instructions);
    vec![StatusCode::OK; instructions.len()]
}

/// Windows Explorer sets `Win32LastModifiedTime` (an HTTP date) after every upload; it is kept
/// as a dead property and also becomes the file's modification time, so that it survives as
/// `getlastmodified` too. A value that is no date changes no time.
fn windows_times(node: &Node, instructions: &[PropPatch]) {
    for instruction in instructions {
        let PropPatch::Set(fragment) = instruction else {
            continue;
        };
        if fragment.name != PropName::new(MICROSOFT, "Win32LastModifiedTime") {
            continue;
        }
        let text = fragment
            .xml
            .split_once('>')
            .and_then(|(_, rest)| rest.rsplit_once('<'))
            .map(|(text, _)| text.trim());
        if let Some(when) = text.and_then(date::parse) {
            let _ = set_modified(node, when);
        }
    }
}
