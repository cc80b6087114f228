//! The protocol, bytes in and out, one job per file in the order a request meets them: the
//! request head as data (`request`), its parser (`parse`), the `Host` grammar (`host`), the
//! shared token, list and q-value grammar (`syntax`), body framing decided once (`framing`) and the body readers it picks
//! (`decode`); then status codes (`status`), responses (`response`) and their encoder
//! (`encode`); HTTP dates (`date`); the bounded copy and timeout helpers (`transfer`).
//! Nothing here knows of files, accounts or sockets.

pub mod date;
pub mod decode;
pub mod encode;
pub mod framing;
pub mod host;
pub mod parse;
pub mod request;
pub mod response;
pub mod status;
pub mod syntax;
pub mod transfer;

/// The path `framing` and `decode` had as one file, kept so that `net/` and `serve/` compile
/// unchanged while they are reorganised in parallel.
// TODO(#14): drop once every caller imports from `framing` and `decode`.
pub mod body {
    pub use super::decode::{ChunkedReader, LengthReader};
    pub use super::framing::{BodyError, BodyFraming, decide_framing};
}
