//! Who may do what. The access decision (`access`, pure: policy, request head and
//! credentials in, a grant or a refusal out) with the origin checks it makes first
//! (`origin`: DNS rebinding, cross-site requests); and who the client is: the accounts behind
//! Basic auth (`accounts`), read from an htpasswd file (`htpasswd`), with failures and
//! concurrent password checks bounded (`throttle`).

pub mod access;
pub mod accounts;
mod failure_time;
pub mod htpasswd;
pub mod origin;
pub mod throttle;

/// The path `accounts` had before it was split, kept so that `net/` and `serve/` compile
/// unchanged while they are reorganised in parallel.
// TODO(#14): drop once every caller imports from `accounts`.
pub mod auth {
    pub use super::accounts::Accounts;
}
