//! Where a ticket's code mail stands, as the visitor is told.

use std::time::Duration;

/// What became of the latest code mail of a ticket, or where it waits.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::mail::outbox::Delivery;
///
/// let queued = Delivery::Queued { eta: Duration::from_secs(12) };
/// assert_eq!(queued.as_str(), "queued");
/// assert!(!queued.is_final());
/// assert!(Delivery::Refused.withdrawn());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Waiting in the outbox; it should leave in about `eta`.
    Queued {
        /// The expected wait until it leaves, from the queue position and pace.
        eta: Duration,
    },
    /// Handed to the mail server, not yet accepted (or being retried).
    Sending,
    /// The mail server accepted it.
    Sent,
    /// The mail server refused it for good (SMTP `5xx`); the code was withdrawn.
    Refused,
    /// Every try failed for the moment (SMTP `4xx`, timeouts); the code was
    /// withdrawn.
    Failed,
    /// Not sent: the code expired while it waited.
    Expired,
    /// Not sent: a newer code for the ticket replaced it, or the code was no
    /// longer live when its turn came.
    Superseded,
}

impl Delivery {
    /// The JSON name: `queued`, `sending`, `sent`, `refused`, `failed`,
    /// `expired`, `superseded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued { .. } => "queued",
            Delivery::Sending => "sending",
            Delivery::Sent => "sent",
            Delivery::Refused => "refused",
            Delivery::Failed => "failed",
            Delivery::Expired => "expired",
            Delivery::Superseded => "superseded",
        }
    }

    /// Whether nothing more will happen to this mail.
    pub fn is_final(self) -> bool {
        !matches!(self, Delivery::Queued { .. } | Delivery::Sending)
    }

    /// Whether its code was withdrawn because the mail could not be delivered.
    pub fn withdrawn(self) -> bool {
        matches!(self, Delivery::Refused | Delivery::Failed)
    }

    /// The expected wait, for a queued mail.
    pub fn eta(self) -> Option<Duration> {
        match self {
            Delivery::Queued { eta } => Some(eta),
            _ => None,
        }
    }
}
