//! Device tokens: the signed cookie that lets a verified browser pass.
//!
//! The building blocks behind [`OtpLayer`](crate::OtpLayer)'s device cookie,
//! for benchmarks, conformance tests and tools that read the cookies; an
//! application needs none of them. [`KeyRing`] and
//! [`DeviceKey`](crate::DeviceKey) (`kid` rotation) and
//! [`DeviceId`] are at the crate root.
//!
//! - [`DeviceTokens`]: the configured issuer and verifier (HS256 signed with
//!   `jsonwebtoken`; an allocation-free verifier on the hot path);
//! - [`IssuedToken`] and [`DeviceClaims`]: the wire format;
//! - [`DeviceCookie`]: the cookie's name, attributes and lookup.

pub(crate) mod claims;
mod cookie;
mod issue;
pub(crate) mod keyring;
mod seen;
mod tokens;
mod verify;

pub use self::claims::{DeviceClaims, IssuedToken};
pub use self::cookie::{CookieName, DeviceCookie};
pub use self::tokens::{DeviceTokens, MAX_DEVICE_LIFETIME, MAX_LEEWAY};
pub use self::verify::TokenError;

pub(crate) use self::claims::DeviceId;
#[cfg(fuzzing)]
pub(crate) use self::cookie::safe_path;
pub(crate) use self::cookie::{cookie_octets, pairs, scopable, set_cookie, value_of};
pub(crate) use self::keyring::KeyRing;
