//! A small, strict HTTP/1.1 server: the "build your own HTTP server" routes (`/`, `/echo/{s}`,
//! `/user-agent`, `/files/{name}`) on a blocking, thread-per-connection core.
//!
//! The layers, in the order a request flows through them (each folder's `mod.rs` says what it
//! owns). Dependencies point down this list and never up:
//!
//! - `net`: accepts connections, one thread each, and runs the connection loop: read a head,
//!   frame the body, hand the request to `serve`, write the response, keep or close. Only this
//!   layer owns a socket.
//! - `serve`: turns a request into a response: the router's one `match`, the download and
//!   upload steps, listings; the one place where file errors and refusals become statuses.
//! - `security`: who may do what (a pure access decision) and the accounts behind it.
//! - `files`: the disk under `--directory`, without HTTP: names, containment, atomic writes.
//! - `http`: the protocol as bytes: the head parser, body framing and decoders, the response
//!   encoder, dates.
//! - `config`: plain data, every limit named; it imports nothing from the crate.
#![forbid(unsafe_code)]

pub mod config;
mod files;
mod http;
mod net;
mod security;
mod serve;

// The binary's surface: bind and run, the services it reloads on SIGHUP, the start-up lines.
pub use http::date::rfc3339;
pub use net::server::{self, BindError, Services};
pub use net::tls::{TlsError, TlsFiles};
pub use security::access::{self, Credentials, Refusal};
pub use security::accounts::{Accounts, parse_basic};

// The fuzz targets' and tests' surface: the parsers of client bytes.
pub use files::percent_decode;
pub use http::decode::ChunkedReader;
pub use http::framing::BodyError;
pub use http::parse::{HeadScanner, ParseError, Parsed, parse_head};
pub use http::request::{RequestHead, Version};
pub use serve::listing::{Format, encode_segment, negotiate, parse_query};
pub use serve::query::{FolderAction, MAX_SEARCH_CHARS, MAX_SELECTED, folder_action};
pub use serve::resumable::fields::{
    InteropVersion, MAX_INTEGER, UploadFields, UploadLimit, VersionField, serialize_count,
};
pub use serve::resumable::state::UploadState;
pub use serve::webdav::if_header::{
    Condition, EntityTag, IfHeader, IfList, IfState, Test, parse_coded_url, parse_if,
};
pub use serve::webdav::xml::{
    Fragment, PropFind, PropPatch, XmlLimits, parse_lockinfo, parse_propfind, parse_proppatch,
};
pub use serve::webdav::{ForeignUrl, files_part};
