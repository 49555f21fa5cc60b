//! HTTP plumbing of the gate: actions, CSRF, origin checks, languages, responses.

pub(crate) mod action;
pub(crate) mod csrf;
pub(crate) mod lang;
pub(crate) mod origin;
pub(crate) mod proto;
pub(crate) mod respond;
