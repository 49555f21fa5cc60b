//! Device tokens: the signed cookie that lets a verified browser pass.
//!
//! - [`keyring`]: [`DeviceKey`] and [`KeyRing`] (`kid` rotation).
//! - [`tokens`]: [`DeviceTokens`], the configured issuer and verifier.
//! - [`issue`] signs with `jsonwebtoken`; [`verify`] is the allocation-free hot path.
//! - [`claims`]: [`DeviceId`], [`IssuedToken`], [`DeviceClaims`], the wire format.
//! - [`cookie`]: [`DeviceCookie`], the cookie's name, attributes and lookup.

mod claims;
mod cookie;
mod issue;
mod keyring;
mod tokens;
mod verify;

pub use self::claims::{DeviceClaims, DeviceId, IssuedToken};
pub use self::cookie::{CookieName, DeviceCookie};
pub use self::keyring::{DeviceKey, KeyRing};
pub use self::tokens::{DeviceTokens, MAX_DEVICE_LIFETIME, MAX_LEEWAY};
pub use self::verify::TokenError;
