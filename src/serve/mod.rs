//! Requests to responses: the router (the one `match`), the handlers of each route, the
//! listing page, compression and media types.

pub mod compress;
pub mod handlers;
pub mod listing;
pub mod mime;
pub mod router;
pub mod webdav;
