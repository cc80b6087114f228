//! The protocol, bytes in and out: the request head (`request`), its parser (`parse`), body
//! framing and decoders (`body`), responses and their encoder (`response`) and HTTP dates
//! (`date`). Nothing here knows of files, accounts or sockets.

pub mod body;
pub mod date;
pub mod parse;
pub mod request;
pub mod response;
