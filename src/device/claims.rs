//! What a device token says: the device id, times and generation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A device id: 128 random bits, fresh for every verification (the `jti` of
/// its token). Shown as 22 URL-safe base64 characters.
///
/// ```
/// use tower_otp::DeviceId;
///
/// let id = DeviceId::from_bytes([7; 16]);
/// assert_eq!(id.to_string(), "BwcHBwcHBwcHBwcHBwcHBw");
/// assert_eq!(DeviceId::parse("BwcHBwcHBwcHBwcHBwcHBw"), Some(id));
/// assert_eq!(format!("{id:?}"), "DeviceId(BwcHBwcHBwcHBwcHBwcHBw)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId([u8; 16]);

impl DeviceId {
    /// A fresh id from the thread-local CSPRNG.
    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// An id from its 16 bytes (for stores that keep the bytes).
    ///
    /// ```
    /// # use tower_otp::DeviceId;
    /// assert_eq!(DeviceId::from_bytes([0; 16]).to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
    /// ```
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    ///
    /// ```
    /// # use tower_otp::DeviceId;
    /// assert_eq!(DeviceId::from_bytes([5; 16]).as_bytes(), &[5; 16]);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the 22-character text form.
    ///
    /// ```
    /// # use tower_otp::DeviceId;
    /// assert!(DeviceId::parse("AAAAAAAAAAAAAAAAAAAAAA").is_some());
    /// assert!(DeviceId::parse("AAAA").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 22 {
            return None;
        }
        let mut bytes = [0u8; 16];
        let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
        (n == 16).then_some(Self(bytes))
    }

    fn encode(&self) -> [u8; 22] {
        let mut text = [0u8; 22];
        URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut text)
            .expect("16 bytes encode to 22 characters");
        text
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.encode();
        f.write_str(std::str::from_utf8(&text).expect("base64 is ASCII"))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

/// A freshly issued device token, ready to go into the device cookie.
///
/// The token is a bearer credential: `Debug` does not print it.
///
/// ```
/// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
/// use tower_otp::device::DeviceTokens;
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
/// let issued = tokens.issue(&TicketKey::from_bytes([1; 16]), 0, Timestamp::from_millis(0));
/// assert_eq!(issued.expires_at.as_secs(), 30 * 24 * 3600);
/// assert_eq!(issued.token.split('.').count(), 3);
/// assert!(format!("{issued:?}").contains("token: \"REDACTED\""));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWS (`header.payload.signature`).
    pub token: String,
    /// The new device id (the token's `jti`).
    pub device_id: DeviceId,
    /// When the token expires (its `exp`, whole seconds).
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"REDACTED")
            .field("device_id", &self.device_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The claims of a verified device token.
///
/// ```
/// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
/// use tower_otp::device::DeviceTokens;
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
/// let ticket = TicketKey::from_bytes([1; 16]);
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let issued = tokens.issue(&ticket, 3, now);
/// let claims = tokens.verify(&issued.token, &ticket, now)?;
/// assert_eq!(claims.device_id, issued.device_id);
/// assert_eq!(claims.generation, 3);
/// assert_eq!(claims.issued_at, now);
/// # Ok::<(), tower_otp::device::TokenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceClaims {
    /// The device id (`jti`).
    pub device_id: DeviceId,
    /// When the token was issued (`iat`, whole seconds).
    pub issued_at: Timestamp,
    /// When it expires (`exp`, whole seconds).
    pub expires_at: Timestamp,
    /// The ticket's revocation generation when the token was issued (`gen`);
    /// a store with a higher generation has revoked the token.
    pub generation: u64,
}

/// The token payload, as written by the issuer.
#[derive(Serialize)]
pub(crate) struct OutClaims<'a> {
    pub(crate) iss: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) jti: &'a str,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    #[serde(rename = "gen")]
    pub(crate) generation: u64,
}

/// The token payload, as read by the verifier: strings borrowed from the
/// decoded buffer, every claim optional here so a missing one is named.
/// Numbers must be JSON numbers (a string `exp` fails to parse).
#[derive(Deserialize)]
pub(crate) struct InClaims<'a> {
    #[serde(borrow)]
    pub(crate) iss: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) aud: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) sub: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) jti: Option<&'a str>,
    pub(crate) iat: Option<u64>,
    pub(crate) exp: Option<u64>,
    #[serde(rename = "gen")]
    pub(crate) generation: Option<u64>,
}

/// Seconds since the epoch as a timestamp, saturating.
pub(crate) fn from_secs(secs: u64) -> Timestamp {
    Timestamp::from_millis(secs.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn device_ids_are_22_chars_and_unique() {
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = DeviceId::random();
            assert!(seen.insert(id));
        }
        let id = DeviceId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(DeviceId::parse(&text), Some(id));
        assert_eq!(DeviceId::parse("short"), None);
        assert_eq!(DeviceId::parse("BwcHBwcHBwcHBwcHBwcHB+"), None);
    }

    #[test]
    fn claims_parse_strictly() {
        let ok = br#"{"iss":"a","aud":"b","sub":"c","jti":"d","iat":1,"exp":2,"gen":3}"#;
        let c: InClaims<'_> = serde_json::from_slice(ok).unwrap();
        assert_eq!((c.iss, c.exp, c.generation), (Some("a"), Some(2), Some(3)));
        let bad: &[&[u8]] = &[
            br#"{"exp":"9999999999"}"#,
            br#"{"exp":-1}"#,
            br#"{"exp":1.5}"#,
            br#"{"gen":"1"}"#,
            br#"{"sub":1}"#,
            br#"{"exp":1,"exp":2}"#,
            br#"[]"#,
            br#"{"exp":1}x"#,
        ];
        for json in bad {
            assert!(
                serde_json::from_slice::<InClaims<'_>>(json).is_err(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
