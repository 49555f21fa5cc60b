//! What the flow answers: the challenge as pages show it, and every result of an action.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::code::CodeFormatError;
use crate::email::AddressError;
use crate::mail::MailError;
use crate::mail::outbox::Delivery;
use crate::store::StoreError;

/// Where a ticket's challenge stands, for a browser that is not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeState {
    /// Unbound, nothing pending: ask for an address.
    EmailRequired,
    /// An address is known (bound or pending) but no code is live: offer Send.
    SendRequired,
    /// A code was sent and is live: ask for it, offer Resend.
    CodeSent,
    /// New devices are locked out for a while.
    Locked,
    /// Unbound, and the flow binds only addresses the application pre-bound
    /// ([`Flow::with_require_prebound`](crate::Flow::with_require_prebound)):
    /// no address can be typed here. The first device may still be trusted.
    NotPrebound,
}

impl ChallengeState {
    /// The JSON name: `email_required`, `send_required`, `code_sent`,
    /// `locked`, `not_prebound`.
    ///
    /// ```
    /// use tower_otp::flow::ChallengeState;
    ///
    /// assert_eq!(ChallengeState::NotPrebound.as_str(), "not_prebound");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeState::EmailRequired => "email_required",
            ChallengeState::SendRequired => "send_required",
            ChallengeState::CodeSent => "code_sent",
            ChallengeState::Locked => "locked",
            ChallengeState::NotPrebound => "not_prebound",
        }
    }
}

/// A ticket's challenge as a page shows it. Holds no code and no full address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The state.
    pub state: ChallengeState,
    /// The address is bound for good (no address field, no restart).
    pub bound: bool,
    /// The bound or pending address, masked.
    pub masked_address: Option<String>,
    /// When the newest live code expires.
    pub expires_at: Option<Timestamp>,
    /// When Send/Resend is allowed again (`None`: now).
    pub resend_at: Option<Timestamp>,
    /// Wrong entries left in this round.
    pub attempts_left: u32,
    /// New devices are locked out until then.
    pub locked_until: Option<Timestamp>,
    /// The round's attempts are spent: its codes are void.
    pub exhausted: bool,
    /// The last code expired unused.
    pub expired: bool,
    /// The ticket is unclaimed and unbound: the first device may still be trusted.
    pub claimable: bool,
    /// The time this view was taken.
    pub now: Timestamp,
}

impl Challenge {
    /// Seconds until the newest code expires (0 if none).
    pub fn expires_in(&self) -> Duration {
        self.expires_at
            .map_or(Duration::ZERO, |t| t.saturating_since(self.now))
    }

    /// Seconds until Send/Resend is allowed (0: now).
    pub fn resend_in(&self) -> Duration {
        self.resend_at
            .map_or(Duration::ZERO, |t| t.saturating_since(self.now))
    }
}

/// A code was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// The masked recipient.
    pub to: String,
    /// When the code expires.
    pub expires_at: Timestamp,
    /// When the next send is allowed.
    pub resend_at: Timestamp,
    /// Where the mail stands: [`Delivery::Sent`] when mailed before
    /// answering, [`Delivery::Queued`] (with the expected wait) when the
    /// flow has an [outbox](crate::Flow::with_outbox).
    pub delivery: Delivery,
}

/// A device was verified: the layer mints its device token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The ticket's generation, to put in the device token.
    pub generation: u64,
    /// The address was bound by this verification.
    pub newly_bound: bool,
}

/// Devices were revoked: what [`Flow::revoke_devices`](crate::Flow::revoke_devices) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "revoked devices keep passing unless `enforced` is true"]
pub struct Revoked {
    /// The ticket's new revocation generation.
    pub generation: u64,
    /// Every layer over this flow that is alive now (built and not dropped:
    /// the layers that serve) checks revocation
    /// ([`OtpLayer::with_revocation`](crate::OtpLayer::with_revocation), on by
    /// default), and there is at least one, so revoked devices are refused
    /// from their next request. When `false`, a warning names why: no layer is
    /// alive, or one has revocation off and lets their cookies pass until
    /// they expire.
    pub enforced: bool,
}

/// Why an action did not succeed. Each case has its own page text, HTTP
/// status and JSON error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The address typed is not valid.
    #[error("invalid e-mail address: {0}")]
    InvalidAddress(#[source] AddressError),
    /// Send needs an address and none was given.
    #[error("an e-mail address is required")]
    AddressRequired,
    /// What was typed is not a code.
    #[error("invalid code format: {0}")]
    InvalidCode(#[source] CodeFormatError),
    /// The code is wrong.
    #[error("wrong code, {attempts_left} attempts left")]
    WrongCode {
        /// Wrong entries left in this round.
        attempts_left: u32,
    },
    /// The codes have expired.
    #[error("the code has expired")]
    Expired,
    /// No code was sent yet.
    #[error("no code has been sent")]
    NoCode,
    /// The round's attempts are spent; a new code is needed.
    #[error("too many wrong codes")]
    TooManyAttempts,
    /// A send limit: wait and retry.
    #[error("too many codes sent, retry in {} s", retry_after.as_secs())]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// New devices are locked out.
    #[error("locked, retry in {} s", retry_after.as_secs())]
    Locked {
        /// Until when.
        until: Timestamp,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The ticket is bound: the address cannot be changed.
    #[error("the address is bound to this ticket and cannot be changed")]
    Bound,
    /// The ticket has no bound address, and the flow binds only addresses
    /// the application pre-bound
    /// ([`Flow::with_require_prebound`](crate::Flow::with_require_prebound)):
    /// nothing was sent and nothing bound.
    #[error(
        "this ticket has no address yet: open it from the link in your purchase e-mail, or ask the seller"
    )]
    NotPrebound,
    /// The mail could not be delivered; no code was issued. When the mail
    /// server refused it for good ([`MailError::is_permanent`], an SMTP
    /// `5xx`) the JSON error code is `mail_refused`, else `mail_failed`.
    #[error("mail delivery failed")]
    MailFailed(#[source] MailError),
    /// The outbox already holds as many mails as it may
    /// ([`OutboxSettings::with_capacity`](crate::mail::outbox::OutboxSettings::with_capacity)):
    /// no code was issued and nothing counted; retry after the wait.
    #[error("too many e-mails are waiting to be sent, retry in {} s", retry_after.as_secs())]
    OutboxFull {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The store failed: nothing happened.
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
}

impl Rejection {
    /// The stable machine-readable code of the JSON API.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::flow::Rejection;
    /// use tower_otp::mail::MailError;
    ///
    /// let refused = Rejection::MailFailed(MailError::permanent("550 no such user"));
    /// assert_eq!(refused.error_code(), "mail_refused");
    /// let full = Rejection::OutboxFull { retry_after: Duration::from_secs(1) };
    /// assert_eq!((full.error_code(), full.retry_after()), ("outbox_full", Some(Duration::from_secs(1))));
    /// ```
    pub fn error_code(&self) -> &'static str {
        match self {
            Rejection::InvalidAddress(_) => "invalid_email",
            Rejection::AddressRequired => "email_required",
            Rejection::InvalidCode(_) | Rejection::WrongCode { .. } => "invalid_code",
            Rejection::Expired => "code_expired",
            Rejection::NoCode => "no_code",
            Rejection::TooManyAttempts => "too_many_attempts",
            Rejection::Throttled { .. } => "throttled",
            Rejection::Locked { .. } => "locked",
            Rejection::Bound => "bound",
            Rejection::NotPrebound => "not_prebound",
            Rejection::MailFailed(error) if error.is_permanent() => "mail_refused",
            Rejection::MailFailed(_) => "mail_failed",
            Rejection::OutboxFull { .. } => "outbox_full",
            Rejection::Unavailable(_) => "unavailable",
        }
    }

    /// How long to wait before retrying, for `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejection::Throttled { retry_after }
            | Rejection::Locked { retry_after, .. }
            | Rejection::OutboxFull { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Self {
        Rejection::Unavailable(e)
    }
}
