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

    /// The ticket the request named (for a member of a
    /// [family](crate::family), the member: the seat, not its order).
    pub fn ticket(&self) -> &TicketId {
        &self.ticket
    }

    /// The keyed hash of the ticket the device was verified on (what logs
    /// and stores use): for a member of a [family](crate::family) that was
    /// not handed over, the family's; for a seat handed to a companion,
    /// the seat's own.
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

/// The rejection of the [`VerifiedDevice`] extractor when no
/// [`OtpLayer`](crate::OtpLayer) let the request through: a route that was
/// meant to be protected is not. It answers 500 (never the ticket) and logs
/// an error.
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("VerifiedDevice is missing: this route is not behind OtpLayer")]
#[non_exhaustive]
pub struct MissingVerifiedDevice;

#[cfg(feature = "axum")]
mod axum_impls {
    use std::convert::Infallible;

    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::{MissingVerifiedDevice, VerifiedDevice};

    impl IntoResponse for MissingVerifiedDevice {
        fn into_response(self) -> Response {
            tracing::error!(
                "a handler takes VerifiedDevice but no OtpLayer let this request through: \
                 put the route behind the layer (Router::route_layer)"
            );
            (StatusCode::INTERNAL_SERVER_ERROR, "server error").into_response()
        }
    }

    /// Fails closed: without the layer, the handler never runs.
    impl<S: Send + Sync> FromRequestParts<S> for VerifiedDevice {
        type Rejection = MissingVerifiedDevice;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<VerifiedDevice>()
                .cloned()
                .ok_or(MissingVerifiedDevice)
        }
    }

    /// `Option<VerifiedDevice>`: `None` on a request the layer passed without
    /// a ticket (or on a route without the layer).
    impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedDevice {
        type Rejection = Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<VerifiedDevice>().cloned())
        }
    }
}
