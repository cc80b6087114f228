//! A small, strict HTTP/1.1 server: the "build your own HTTP server" routes (`/`, `/echo/{s}`,
//! `/user-agent`, `/files/{name}`) on a blocking, thread-per-connection core.
//!
//! The modules are listed in the order a request flows through them: the server accepts a
//! connection, the connection loop parses a head, decides the body framing, routes the request
//! to a handler and writes the response. Dependencies point down this list; only `connection`
//! owns a socket, and the protocol modules see bytes or `Read`/`Write` only.
#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod body;
pub mod compress;
pub mod config;
pub mod connection;
pub mod date;
pub mod files;
pub mod handlers;
pub mod listing;
pub mod logger;
pub mod mime;
pub mod parse;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
pub mod stream;
pub mod tls;
