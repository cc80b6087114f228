//! Sockets and threads: binding and accepting (`server`) within what the open-files limit
//! allows (`descriptors`), the per-connection loop
//! (`connection`) and what it runs: reading a head (`head`), the read buffer and body reader
//! (`body_source`), the byte stream (`stream`, plain or TLS), TLS set-up and handshake
//! (`tls`), the shutdown registry (`shutdown`), connections per client (`clients`) and the access line
//! (`access_log`). Only this
//! layer owns a socket; it hands each request to `serve`.

mod access_log;
mod body_source;
mod clients;
mod connection;
mod descriptors;
mod head;
pub mod server;
mod shutdown;
mod stream;
pub mod tls;
