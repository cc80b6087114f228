//! WebDAV class 1 and 2 on `/files/` (RFC 4918; issue #16). So far the foundations, each
//! with its tests, to be wired into the router next:
//!
//! - `xml`: request bodies (PROPFIND, PROPPATCH, LOCK) parsed under limits with quick-xml,
//!   dead property values kept as replayable XML;
//! - `multistatus`: the 207 body written as it is produced, and the other small XML bodies
//!   (LOCK's answer, precondition errors);
//! - `if_header`: the `If` header (§10.4) parsed and evaluated, and `Lock-Token`;
//! - `lock`: the in-memory lock table: conflicts, timeouts, refresh, what a request may change.
//!
//! The file operations they lead to are `files::at`'s; statuses stay with the serve layer.

// TODO(#16): wired by the router; until then these are used by their tests (and fuzzers) only.
#![allow(dead_code, unused_imports)]

pub mod if_header;
pub mod lock;
pub mod multistatus;
pub mod xml;
