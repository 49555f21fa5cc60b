//! [`VerifiedDevice`]: what the layer tells the application about a passing browser.

use crate::clock::Timestamp;
use crate::device::{DeviceClaims, DeviceId};
use crate::ticket::{TicketId, TicketKey};

/// A request extension on every request the layer let through for a ticket:
/// this browser is verified for this ticket. With feature `axum` it is also
/// an extractor.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_otp::VerifiedDevice;
///
/// async fn show(device: VerifiedDevice) -> String {
///     format!("verified since {}", device.verified_at().as_secs())
/// }
/// let app: Router = Router::new().route("/tickets/{ticket}", get(show));
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedDevice {
    ticket: TicketId,
    key: TicketKey,
    claims: DeviceClaims,
}

impl VerifiedDevice {
    pub(crate) fn new(ticket: TicketId, key: TicketKey, claims: DeviceClaims) -> Self {
        Self {
            ticket,
            key,
            claims,
        }
    }

    /// The ticket.
    pub fn ticket(&self) -> &TicketId {
        &self.ticket
    }

    /// The ticket's keyed hash (what logs and stores use).
    pub fn ticket_key(&self) -> &TicketKey {
        &self.key
    }

    /// The browser's device id (fresh at each verification).
    pub fn device_id(&self) -> DeviceId {
        self.claims.device_id
    }

    /// When this browser was verified (or trusted as the first device).
    pub fn verified_at(&self) -> Timestamp {
        self.claims.issued_at
    }

    /// When its device cookie expires.
    pub fn expires_at(&self) -> Timestamp {
        self.claims.expires_at
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::FromRequestParts;
    use http::StatusCode;
    use http::request::Parts;

    use super::VerifiedDevice;

    impl<S: Send + Sync> FromRequestParts<S> for VerifiedDevice {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<VerifiedDevice>().cloned().ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "VerifiedDevice is missing: is this route behind OtpLayer?",
            ))
        }
    }
}
