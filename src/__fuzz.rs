//! Thin wrappers over crate-private parsers, for the targets in `fuzz/`.
//!
//! Compiled only with `--cfg fuzzing` (which `cargo fuzz` sets): not part of
//! the public API, no semver promise.

use std::time::Duration;

use http::HeaderMap;

use crate::device::{DeviceClaims, DeviceCookie, DeviceTokens, TokenError};
use crate::gate::{cookies, parse};
use crate::{TicketKey, Timestamp};

/// What the layer's two `Cookie` reads found: the device cookie's scan, and
/// the gate's own cookies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scanned<'a> {
    /// Every device-cookie value offered to the verifier, in order.
    pub device: Vec<&'a [u8]>,
    /// The first-device probe cookie.
    pub probe: Option<&'a str>,
    /// The CSRF cookie.
    pub csrf: Option<&'a str>,
    /// The language cookie.
    pub lang: Option<&'a str>,
}

/// Runs the layer's `Cookie` reads: every device value the scan offers the
/// verifier (none accepted), and the gate's own cookies.
pub fn scan_cookies<'a>(headers: &'a HeaderMap, device: &[u8], secure: bool) -> Scanned<'a> {
    let jar = cookies::jar(headers, secure);
    Scanned {
        device: DeviceCookie::values(headers, device).collect(),
        probe: jar.probe,
        csrf: jar.csrf,
        lang: jar.lang,
    }
}

/// The first-device probe cookie's name.
pub fn probe_name(secure: bool) -> &'static str {
    cookies::probe_name(secure)
}

/// The CSRF cookie's name.
pub fn csrf_name(secure: bool) -> &'static str {
    cookies::csrf_name(secure)
}

/// The `Path` attribute the gate writes for `path`.
pub fn safe_path(path: &str) -> &str {
    crate::device::safe_path(path)
}

/// The layer's one `Set-Cookie` writer, as a string.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> String {
    let header = crate::device::set_cookie(name, value, path, max_age, secure);
    header.to_str().map(str::to_owned).unwrap_or_default()
}

/// A parsed gate action with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `send`, `resend`, `verify`, `restart` or `confirm`.
    pub action: &'static str,
    /// The typed address.
    pub email: Option<String>,
    /// The typed code.
    pub code: Option<String>,
    /// The form's CSRF token (never in JSON).
    pub csrf: Option<String>,
}

fn action(parsed: parse::ActionRequest) -> Action {
    Action {
        action: match parsed.action {
            parse::Action::Send => "send",
            parse::Action::Resend => "resend",
            parse::Action::Verify => "verify",
            parse::Action::Restart => "restart",
            parse::Action::Confirm => "confirm",
        },
        email: parsed.email,
        code: parsed.code,
        csrf: parsed.csrf,
    }
}

/// The form parser; `None` when malformed.
pub fn from_form(body: &[u8]) -> Option<Action> {
    parse::from_form(body).ok().map(action)
}

/// The JSON parser; `None` when malformed.
pub fn from_json(body: &[u8]) -> Option<Action> {
    parse::from_json(body).ok().map(action)
}

/// The verifier over a cookie's raw bytes (the gate's hot path).
pub fn verify_token_bytes(
    tokens: &DeviceTokens,
    bytes: &[u8],
    ticket: &TicketKey,
    now: Timestamp,
) -> Result<DeviceClaims, TokenError> {
    tokens.verify_bytes(bytes, ticket, now)
}

/// The device tokens a layer over `flow` signs and verifies with.
pub fn device_tokens(flow: &crate::Flow) -> DeviceTokens {
    DeviceTokens::new(flow.device_keys().clone())
}
