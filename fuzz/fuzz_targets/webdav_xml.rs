//! Fuzzes the WebDAV request-body parsers: `parse_propfind`, `parse_proppatch` and
//! `parse_lockinfo`, and `Fragment::parse` on what they keep.
//!
//! Invariants checked, for the default limits and for small ones:
//! - None of them panics, whatever the bytes.
//! - Every value a PROPPATCH sets, and a LOCK's owner, is standalone XML that reads back
//!   (with `Fragment::parse`) to the same fragment: same name, `xml:lang` and text, so what is
//!   stored can be replayed into any response.
//! - Property names have a non-empty local name without `:`.
//! - Smaller limits never turn a refusal into an acceptance.

#![no_main]

use http_server::{
    Fragment, PropFind, PropPatch, XmlLimits, parse_lockinfo, parse_propfind, parse_proppatch,
};
use libfuzzer_sys::fuzz_target;

fn check_fragment(fragment: &Fragment) {
    let again = Fragment::parse(&fragment.xml, XmlLimits::default())
        .unwrap_or_else(|e| panic!("{:?} does not read back: {e}", fragment.xml));
    assert_eq!(&again, fragment);
    check_name(&fragment.name.local);
}

fn check_name(local: &str) {
    assert!(!local.is_empty() && !local.contains(':'), "{local:?}");
}

fn run(data: &[u8], limits: XmlLimits) -> [bool; 3] {
    let propfind = parse_propfind(data, limits);
    if let Ok(PropFind::Prop(names) | PropFind::AllProp { include: names }) = &propfind {
        names.iter().for_each(|n| check_name(&n.local));
    }
    let proppatch = parse_proppatch(data, limits);
    for instruction in proppatch.iter().flatten() {
        match instruction {
            PropPatch::Set(fragment) => check_fragment(fragment),
            PropPatch::Remove(name) => check_name(&name.local),
        }
    }
    let lockinfo = parse_lockinfo(data, limits);
    if let Ok(info) = &lockinfo {
        info.owner.iter().for_each(check_fragment);
    }
    [propfind.is_ok(), proppatch.is_ok(), lockinfo.is_ok()]
}

fuzz_target!(|data: &[u8]| {
    let wide = run(data, XmlLimits::default());
    let narrow = XmlLimits {
        max_depth: 4,
        max_elements: 8,
        max_properties: 2,
        max_value_bytes: 16,
        max_namespaces: 2,
    };
    let small = run(data, narrow);
    for (wide, small) in wide.into_iter().zip(small) {
        assert!(wide || !small, "accepted only under the smaller limits");
    }
});
