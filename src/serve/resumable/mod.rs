//! Resumable uploads (draft-ietf-httpbis-resumable-upload, interop versions 6, 7 and 8; see
//! `docs/resumable-uploads.md` for what each version asks and how the routes will map). An
//! upload resource lives at `UPLOADS_PREFIX` + its id, outside the served names.
//!
//! - `fields`: the structured header fields (`Upload-Complete`, the older `Upload-Incomplete`,
//!   `Upload-Offset`, `Upload-Length`, `Upload-Limit`, `Upload-Draft-Interop-Version`), parsed
//!   and serialised with `sfv` (RFC 9651), and what differs between the interop versions.
//! - `state`: what the server remembers of each upload resource (an unguessable id, owner,
//!   target, declared length, the creating request's preconditions and digests, interop
//!   version, times) and its strict JSON form; no I/O.
//! - `store`: all of its disk access, in one place: the state file written atomically beside
//!   the data file whose synced length is the offset, so that both survive SIGKILL; appends,
//!   listing, expiry.
//! - `answers`: the bodies and heads the protocol defines: its problem+json responses
//!   (mismatching offset, completed upload, inconsistent length) and the `104` interim heads.
//!
//! The router, the access rules and the final commit into the served directory stay where
//! they are (`serve::router`, `security::access`, `files::FileRoot::store`).
// TODO(#18): wired by the router
#![allow(dead_code)]

pub mod answers;
pub mod fields;
pub mod state;
pub mod store;

/// Where upload resources are addressed: `/uploads/{id}`, a path no served name can take.
pub const UPLOADS_PREFIX: &str = "/uploads/";

/// The hidden in-progress namespace under the served directory where `state` keeps upload
/// resources. It starts with `files::TEMP_PREFIX`, so listings hide it and no `/files/` name
/// can reach it (`resolve_name` answers `Reserved`).
pub const STATE_DIR: &str = ".upload-resumable";

#[cfg(test)]
mod tests {
    #[test]
    fn the_state_directory_is_reserved() {
        assert!(super::STATE_DIR.starts_with(crate::files::TEMP_PREFIX));
        assert!(crate::files::resolve_name(super::STATE_DIR).is_err());
        assert!(crate::files::resolve_name(&format!("{}/x.state", super::STATE_DIR)).is_err());
    }
}
