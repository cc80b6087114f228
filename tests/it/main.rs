//! Integration tests: each test starts the real binary on an ephemeral loopback port with a
//! fresh directory and talks to it over real sockets.

mod differential;
mod faults;
mod files;
mod folders;
mod hardening;
mod limits;
mod listing;
mod protocol;
mod rebinding;
mod resumable;
mod routes;
mod security;
mod support;
mod tls;
mod tus;
mod web;
mod webdav;
