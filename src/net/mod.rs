//! Sockets and threads: binding and accepting (`server`), the per-connection loop
//! (`connection`), the byte stream it reads and writes (`stream`, plain or TLS) and the TLS
//! files (`tls`). Only this layer owns a socket; it hands each request to `serve`.

pub mod connection;
pub mod server;
pub mod stream;
pub mod tls;
