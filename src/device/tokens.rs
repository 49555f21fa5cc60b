//! `DeviceTokens`: the configured issuer and verifier of device tokens.

use std::sync::Arc;
use std::time::Duration;

use super::claims::DeviceClaims;
use super::keyring::KeyRing;
use crate::clock::Timestamp;
use crate::error::ConfigError;
use crate::ticket::TicketKey;

pub(crate) const LIFETIME_OUT_OF_RANGE: ConfigError =
    ConfigError::out_of_range("device lifetime", "between 1 second and 400 days");
const LEEWAY_TOO_LARGE: ConfigError = ConfigError::out_of_range("leeway", "at most 60 seconds");
const INVALID_NAME: ConfigError = ConfigError::out_of_range(
    "issuer and audience",
    "1-64 printable ASCII characters without quotes or backslashes",
);

/// The longest token (and cookie) lifetime: browsers cap cookies at 400 days
/// (RFC 6265bis §5.5).
///
/// ```
/// use tower_otp::{KeyRing, Secret};
/// use tower_otp::device::{DeviceTokens, MAX_DEVICE_LIFETIME};
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
/// assert!(tokens.with_lifetime(MAX_DEVICE_LIFETIME).is_ok());
/// ```
pub const MAX_DEVICE_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);
/// The longest clock leeway allowed when checking `exp`.
///
/// ```
/// use tower_otp::{KeyRing, Secret};
/// use tower_otp::device::{DeviceTokens, MAX_LEEWAY};
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
/// assert!(tokens.clone().with_leeway(MAX_LEEWAY).is_ok());
/// assert!(tokens.with_leeway(MAX_LEEWAY * 2).is_err());
/// ```
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
/// The longest issuer or audience string.
const MAX_NAME_LEN: usize = 64;

/// Issues and verifies device tokens: compact JWS, HS256, with a `kid` from a
/// [`KeyRing`] and `typ: "device+jwt"`.
///
/// A token names the ticket by its keyed hash (`sub`), carries a fresh 128-bit
/// device id (`jti`), issue and expiry times (`iat`, `exp`) and the ticket's
/// revocation generation (`gen`); never an e-mail address or the ticket id.
/// Verification is pure computation: no I/O, no allocation.
///
/// Cheap to clone (an [`Arc`] inside).
///
/// ```
/// use std::time::Duration;
/// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
/// use tower_otp::device::{DeviceTokens, TokenError};
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()))
///     .with_lifetime(Duration::from_secs(7 * 24 * 3600))?;
/// let ticket = TicketKey::from_bytes([1; 16]);
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let issued = tokens.issue(&ticket, 0, now);
/// assert!(tokens.verify(&issued.token, &ticket, now).is_ok());
///
/// let other = TicketKey::from_bytes([2; 16]);
/// assert_eq!(tokens.verify(&issued.token, &other, now), Err(TokenError::WrongTicket));
/// let later = now + Duration::from_secs(8 * 24 * 3600);
/// assert_eq!(tokens.verify(&issued.token, &ticket, later), Err(TokenError::Expired));
/// # Ok::<(), tower_otp::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DeviceTokens {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
pub(crate) struct Inner {
    pub(crate) ring: KeyRing,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    /// Whole seconds.
    pub(crate) lifetime: u64,
    /// Milliseconds.
    pub(crate) leeway: u64,
    /// Names these settings in the per-thread cache of verified tokens;
    /// every change of a setting takes a new one.
    pub(crate) id: u64,
}

impl DeviceTokens {
    /// Tokens signed with `ring`'s current key, with issuer `"tower-otp"`,
    /// audience `"tower-otp/device"`, a 30-day lifetime and a 5-second leeway.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert_eq!(tokens.leeway(), Duration::from_secs(5));
    /// ```
    pub fn new(ring: KeyRing) -> Self {
        Self {
            inner: Arc::new(Inner {
                ring,
                issuer: "tower-otp".to_owned(),
                audience: "tower-otp/device".to_owned(),
                // NIST SP 800-63B-4 §2.1.3: re-authenticate at least every 30 days at AAL1.
                lifetime: 30 * 24 * 3600,
                // RFC 7519 §4.1.4: a small leeway; jsonwebtoken's 60 s default is too loose.
                leeway: 5_000,
                id: crate::slot::new_owner(),
            }),
        }
    }

    /// Signs with `ring`'s current key and accepts its previous keys,
    /// keeping every other setting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()))
    ///     .with_lifetime(Duration::from_secs(3600))?
    ///     .with_key_ring(KeyRing::derived(&Secret::random()));
    /// assert_eq!(tokens.lifetime(), Duration::from_secs(3600));
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_key_ring(mut self, ring: KeyRing) -> Self {
        self.edit().ring = ring;
        self
    }

    /// Sets the `iss` claim, written and required. Default: `"tower-otp"`.
    ///
    /// ```
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random())).with_issuer("tickets.example")?;
    /// assert_eq!(tokens.issuer(), "tickets.example");
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless 1-64 printable ASCII characters without `"` or `\`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Result<Self, ConfigError> {
        let issuer = checked_name(issuer.into())?;
        self.edit().issuer = issuer;
        Ok(self)
    }

    /// Sets the `aud` claim, written and required. Use a purpose-specific
    /// value (RFC 8725 §3.9). Default: `"tower-otp/device"`.
    ///
    /// ```
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random())).with_audience("tickets/device")?;
    /// assert_eq!(tokens.audience(), "tickets/device");
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless 1-64 printable ASCII characters without `"` or `\`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Result<Self, ConfigError> {
        let audience = checked_name(audience.into())?;
        self.edit().audience = audience;
        Ok(self)
    }

    /// Sets how long a device stays verified (rounded down to whole seconds).
    /// Default: 30 days (NIST SP 800-63B-4 §2.1.3, AAL1); at most 400 days.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert_eq!(tokens.lifetime(), Duration::from_secs(30 * 24 * 3600));
    /// assert!(tokens.clone().with_lifetime(Duration::from_secs(401 * 24 * 3600)).is_err());
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] under one second or over 400 days.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Result<Self, ConfigError> {
        if lifetime < Duration::from_secs(1) || lifetime > MAX_DEVICE_LIFETIME {
            return Err(LIFETIME_OUT_OF_RANGE);
        }
        self.edit().lifetime = lifetime.as_secs();
        Ok(self)
    }

    /// Sets the clock leeway for `exp`: a token is accepted while
    /// `exp + leeway > now`. Default: 5 seconds; at most 60.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random())).with_leeway(Duration::ZERO)?;
    /// assert_eq!(tokens.leeway(), Duration::ZERO);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] over 60 seconds.
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, ConfigError> {
        if leeway > MAX_LEEWAY {
            return Err(LEEWAY_TOO_LARGE);
        }
        self.edit().leeway = leeway.as_millis() as u64;
        Ok(self)
    }

    /// The settings, to change: under a new id, so no token verified under
    /// the old ones is taken from the cache as verified under these.
    fn edit(&mut self) -> &mut Inner {
        let inner = Arc::make_mut(&mut self.inner);
        inner.id = crate::slot::new_owner();
        inner
    }

    /// The issuer (`iss`).
    ///
    /// ```
    /// # use tower_otp::{KeyRing, Secret};
    /// # use tower_otp::device::DeviceTokens;
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert_eq!(tokens.issuer(), "tower-otp");
    /// ```
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The audience (`aud`).
    ///
    /// ```
    /// # use tower_otp::{KeyRing, Secret};
    /// # use tower_otp::device::DeviceTokens;
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert_eq!(tokens.audience(), "tower-otp/device");
    /// ```
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The token lifetime; the device cookie's `Max-Age` should match it.
    ///
    /// ```
    /// # use tower_otp::{KeyRing, Secret};
    /// # use tower_otp::device::{DeviceCookie, DeviceTokens};
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert_eq!(DeviceCookie::for_tokens(&tokens).max_age(), tokens.lifetime());
    /// ```
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.inner.lifetime)
    }

    /// The clock leeway for `exp`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_otp::{KeyRing, Secret};
    /// # use tower_otp::device::DeviceTokens;
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// assert!(tokens.leeway() <= Duration::from_secs(60));
    /// ```
    pub fn leeway(&self) -> Duration {
        Duration::from_millis(self.inner.leeway)
    }

    /// The key ring.
    ///
    /// ```
    /// # use tower_otp::{KeyRing, Secret};
    /// # use tower_otp::device::DeviceTokens;
    /// let secret = Secret::random();
    /// let tokens = DeviceTokens::new(KeyRing::derived(&secret));
    /// assert_eq!(tokens.key_ring().current_kid(), KeyRing::derived(&secret).current_kid());
    /// ```
    pub fn key_ring(&self) -> &KeyRing {
        &self.inner.ring
    }

    /// A new device for `ticket` at `generation`: a fresh token that lives
    /// `lifetime` (at most [`lifetime`](Self::lifetime)), and the claims it
    /// carries, as the verifier reads them back.
    pub(crate) fn mint(
        &self,
        ticket: &TicketKey,
        generation: u64,
        now: Timestamp,
        lifetime: Duration,
    ) -> (DeviceClaims, String) {
        let issued = self.issue_within(ticket, generation, now, lifetime);
        let claims = DeviceClaims {
            device_id: issued.device_id,
            issued_at: Timestamp::from_millis(now.as_secs() * 1000),
            expires_at: issued.expires_at,
            generation,
        };
        (claims, issued.token)
    }
}

/// Issuer and audience go into JSON verbatim, and the verifier compares them
/// as borrowed strings, so they must need no JSON escaping.
fn checked_name(name: String) -> Result<String, ConfigError> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if ok { Ok(name) } else { Err(INVALID_NAME) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn tokens() -> DeviceTokens {
        DeviceTokens::new(KeyRing::derived(&Secret::random()))
    }

    #[test]
    fn settings_and_limits() {
        let t = tokens();
        assert_eq!(t.issuer(), "tower-otp");
        assert_eq!(t.audience(), "tower-otp/device");
        assert_eq!(t.leeway(), Duration::from_secs(5));
        assert_eq!(t.lifetime(), Duration::from_secs(30 * 24 * 3600));

        let day = Duration::from_secs(24 * 3600);
        assert!(t.clone().with_lifetime(400 * day).is_ok());
        assert_eq!(
            t.clone()
                .with_lifetime(400 * day + Duration::from_secs(1))
                .unwrap_err(),
            LIFETIME_OUT_OF_RANGE
        );
        assert_eq!(
            t.clone()
                .with_lifetime(Duration::from_millis(999))
                .unwrap_err(),
            LIFETIME_OUT_OF_RANGE
        );
        assert!(t.clone().with_leeway(Duration::from_secs(60)).is_ok());
        assert_eq!(
            t.clone().with_leeway(Duration::from_secs(61)).unwrap_err(),
            LEEWAY_TOO_LARGE
        );
        for bad in ["", "a\"b", "a\\b", "caf\u{e9}", "a\nb", &"x".repeat(65)] {
            assert_eq!(t.clone().with_issuer(bad).unwrap_err(), INVALID_NAME);
            assert_eq!(t.clone().with_audience(bad).unwrap_err(), INVALID_NAME);
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let mut bytes = [0xab; 32];
        bytes[31] = 1;
        let key = crate::DeviceKey::new("k1", &bytes).unwrap();
        let shown = format!("{:?}", DeviceTokens::new(KeyRing::new(key)));
        assert!(
            shown.contains("\"k1\"") && shown.contains("tower-otp"),
            "{shown}"
        );
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("abab"),
            "{shown}"
        );
    }

    #[test]
    fn setters_do_not_touch_clones() {
        let a = tokens();
        let b = a.clone().with_issuer("other").unwrap();
        assert_eq!(a.issuer(), "tower-otp");
        assert_eq!(b.issuer(), "other");
    }
}
