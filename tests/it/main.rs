//! Integration tests: each test starts the real binary on an ephemeral loopback port with a
//! fresh directory and talks to it over real sockets.

mod differential;
mod files;
mod listing;
mod protocol;
mod resumable;
mod routes;
mod security;
mod support;
mod tls;
mod web;
