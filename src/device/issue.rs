//! Issuing device tokens, with `jsonwebtoken`.

use std::time::Duration;

use super::claims::{DeviceId, IssuedToken, OutClaims, from_secs};
use super::keyring::token_header;
use super::tokens::DeviceTokens;
use crate::clock::Timestamp;
use crate::ticket::TicketKey;

impl DeviceTokens {
    /// Issues a token for a device just verified for `ticket`, with a fresh
    /// device id, signed with the ring's current key.
    ///
    /// `generation` is the ticket's revocation generation from the store;
    /// `exp` is `now` (rounded down to a second) plus the lifetime.
    ///
    /// ```
    /// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
    /// use tower_otp::device::DeviceTokens;
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// let ticket = TicketKey::from_bytes([1; 16]);
    /// let a = tokens.issue(&ticket, 0, Timestamp::from_millis(0));
    /// let b = tokens.issue(&ticket, 0, Timestamp::from_millis(0));
    /// assert_ne!(a.device_id, b.device_id);
    /// ```
    pub fn issue(&self, ticket: &TicketKey, generation: u64, now: Timestamp) -> IssuedToken {
        self.issue_within(ticket, generation, now, self.lifetime())
    }

    /// [`issue`](Self::issue), for at most `lifetime` (never longer than
    /// [`lifetime`](Self::lifetime)): a device whose trust lapses sooner
    /// gets a token that does too.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
    /// # use tower_otp::device::DeviceTokens;
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// let ticket = TicketKey::from_bytes([1; 16]);
    /// let day = Duration::from_secs(86_400);
    /// let issued = tokens.issue_within(&ticket, 0, Timestamp::from_millis(0), day);
    /// assert_eq!(issued.expires_at, Timestamp::from_millis(86_400_000));
    /// ```
    pub fn issue_within(
        &self,
        ticket: &TicketKey,
        generation: u64,
        now: Timestamp,
        lifetime: Duration,
    ) -> IssuedToken {
        let inner = &*self.inner;
        let device_id = DeviceId::random();
        let jti = device_id.to_string();
        let iat = now.as_secs();
        let exp = iat.saturating_add(lifetime.as_secs().min(inner.lifetime));
        let claims = OutClaims {
            iss: &inner.issuer,
            aud: &inner.audience,
            sub: ticket.as_str(),
            jti: &jti,
            iat,
            exp,
            generation,
        };
        let header = token_header(inner.ring.current_kid());
        let token = jsonwebtoken::encode(&header, &claims, &inner.ring.encoding)
            .expect("an HMAC key and plain claims always encode");
        debug_assert!(
            token
                .strip_prefix(&*inner.ring.keys[0].header_segment)
                .is_some_and(|rest| rest.starts_with('.')),
            "issued header must be the precomputed one"
        );
        IssuedToken {
            token,
            device_id,
            expires_at: from_secs(exp),
        }
    }
}
