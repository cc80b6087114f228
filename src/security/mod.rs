//! Who may do what: the access decision (`access`, pure: request, policy and credentials in,
//! a grant or a refusal out) and the accounts behind Basic auth (`auth`).

pub mod access;
pub mod auth;
