//! The protocol, bytes in and out: the request head (`request`), its parser (`parse`), body
//! framing and decoders (`body`), responses and their encoder (`response`), HTTP dates
//! (`date`), the shared list and q-value grammar (`syntax`) and the bounded copy and timeout
//! helpers (`transfer`). Nothing here knows of files, accounts or sockets.

pub mod body;
pub mod date;
pub mod parse;
pub mod request;
pub mod response;
pub mod syntax;
pub mod transfer;
