//! Transfers: a verified owner gives a ticket (a family's, with its seats
//! still with the family) to another address, confirmed by a code sent to
//! the bound address first, accepted by the recipient on their own device.
//!
//! 1. [`Flow::start_transfer`](crate::Flow::start_transfer), from a device
//!    verified on the ticket: records the offer to the new address and
//!    mails a confirmation code to the bound address (a stolen device
//!    cookie alone cannot give a ticket away).
//! 2. [`Flow::confirm_transfer`](crate::Flow::confirm_transfer), with that
//!    code: mails the recipient the link of the acceptance page, a route
//!    the application puts behind the layer with the ticket id
//!    [`Flow::transfer_id`](crate::Flow::transfer_id) names. That id is
//!    bound to the recipient while the offer stands: its challenge sends
//!    the recipient a code.
//! 3. [`Flow::accept_transfer`](crate::Flow::accept_transfer), from the
//!    recipient's device verified there: the binding moves, every earlier
//!    device is challenged on its next request (within the revocation
//!    bound on other instances), both addresses are told.
//!
//! The owner may [cancel](crate::Flow::cancel_transfer) until the recipient
//! accepts; [`TransferRules`] caps the transfers of a ticket (one by
//! default) and carries the application's own check.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::email::EmailAddress;
use crate::flow::Rejection;
use crate::store::StoreError;
use crate::ticket::TicketId;

mod texts;

/// What a transfer asks, as the application's check sees it
/// ([`TransferRules::with_check`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct TransferAsk<'a> {
    /// The ticket (a family's own id for a family).
    pub ticket: &'a TicketId,
    /// The recipient.
    pub to: &'a EmailAddress,
}

type Check = Arc<dyn Fn(&TransferAsk<'_>) -> bool + Send + Sync>;

/// What transfers may do: how many times a ticket may change hands (one
/// by default), and the application's own check.
///
/// ```
/// use tower_otp::transfer::TransferRules;
///
/// let rules = TransferRules::default()
///     .with_cap(2)
///     // Tickets bought on resale are not transferred again.
///     .with_check(|ask| !ask.ticket.as_str().starts_with("resale-"));
/// assert_eq!(rules.cap(), 2);
/// ```
#[derive(Clone)]
pub struct TransferRules {
    cap: u32,
    check: Option<Check>,
}

impl Default for TransferRules {
    fn default() -> Self {
        Self {
            cap: 1,
            check: None,
        }
    }
}

impl fmt::Debug for TransferRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransferRules")
            .field("cap", &self.cap)
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl TransferRules {
    /// How many transfers a ticket may have in all (`0`: none).
    pub fn with_cap(mut self, cap: u32) -> Self {
        self.cap = cap;
        self
    }

    /// The application's own check of each transfer: `false` refuses it
    /// ([`TransferRefusal::RefusedBySite`]).
    pub fn with_check(
        mut self,
        check: impl Fn(&TransferAsk<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// How many transfers a ticket may have in all.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    pub(crate) fn allows(&self, ask: &TransferAsk<'_>) -> bool {
        self.check.as_ref().is_none_or(|check| check(ask))
    }
}

/// Why a step of a transfer was refused, with a stable
/// [`code`](Self::code), an HTTP [`status`](Self::status) and a
/// [`message`](Self::message) in each language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferRefusal {
    /// The device was not verified on this ticket (or its family).
    NotTheOwner,
    /// The ticket has no bound address to confirm the transfer with.
    NotBound,
    /// The recipient is the ticket's own address.
    SameAddress,
    /// The ticket was transferred as often as the rules allow.
    TooManyTransfers,
    /// The application's check refused it.
    RefusedBySite,
    /// A transfer of this ticket is under way: cancel it first.
    AlreadyUnderWay,
    /// No transfer of this ticket is under way (never started, cancelled,
    /// or accepted already).
    NoTransfer,
    /// The owner has not confirmed the transfer yet.
    NotConfirmed,
    /// The device was not verified as the transfer's recipient.
    NotTheRecipient,
    /// The acceptance link is not an absolute `http(s)` URL on the site.
    BadLink,
}

impl TransferRefusal {
    /// Every refusal, for tests and catalogs.
    pub const ALL: [TransferRefusal; 10] = [
        Self::NotTheOwner,
        Self::NotBound,
        Self::SameAddress,
        Self::TooManyTransfers,
        Self::RefusedBySite,
        Self::AlreadyUnderWay,
        Self::NoTransfer,
        Self::NotConfirmed,
        Self::NotTheRecipient,
        Self::BadLink,
    ];

    /// A stable snake_case code, for JSON answers and logs.
    ///
    /// ```
    /// use tower_otp::transfer::TransferRefusal;
    ///
    /// assert_eq!(TransferRefusal::TooManyTransfers.code(), "too_many_transfers");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotTheOwner => "not_the_owner",
            Self::NotBound => "not_bound",
            Self::SameAddress => "same_address",
            Self::TooManyTransfers => "too_many_transfers",
            Self::RefusedBySite => "refused_by_site",
            Self::AlreadyUnderWay => "already_under_way",
            Self::NoTransfer => "no_transfer",
            Self::NotConfirmed => "not_confirmed",
            Self::NotTheRecipient => "not_the_recipient",
            Self::BadLink => "bad_link",
        }
    }

    /// The HTTP status that answers it.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::NotTheOwner | Self::NotTheRecipient | Self::RefusedBySite => {
                StatusCode::FORBIDDEN
            }
            Self::SameAddress | Self::BadLink => StatusCode::BAD_REQUEST,
            Self::NotBound
            | Self::TooManyTransfers
            | Self::AlreadyUnderWay
            | Self::NoTransfer
            | Self::NotConfirmed => StatusCode::CONFLICT,
        }
    }

    /// What to tell the person, in `locale`.
    ///
    /// ```
    /// use tower_otp::{Locale, transfer::TransferRefusal};
    ///
    /// assert_eq!(TransferRefusal::NoTransfer.message(Locale::En), "No transfer of this ticket is under way.");
    /// ```
    pub fn message(&self, locale: crate::Locale) -> &'static str {
        texts::refusal(*self, locale)
    }
}

impl fmt::Display for TransferRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message(crate::Locale::En))
    }
}

/// Why a step of a transfer did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// A rule refused it.
    #[error("{0}")]
    Refused(TransferRefusal),
    /// The confirmation code was not sent or not accepted: wrong, expired,
    /// throttled, locked, the mail failed… as for any code
    /// ([`Rejection`]'s texts and statuses apply).
    #[error(transparent)]
    Code(Rejection),
    /// The store failed: the step did not happen (try again).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransferRefusal> for TransferError {
    fn from(refusal: TransferRefusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<Rejection> for TransferError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Unavailable(error) => Self::Store(error),
            other => Self::Code(other),
        }
    }
}

/// Where a ticket's transfers stand ([`Flow::transfer_status`](crate::Flow::transfer_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStatus {
    /// The transfer under way, if any.
    pub pending: Option<PendingTransfer>,
    /// Transfers of this ticket so far.
    pub done: u32,
    /// Transfers allowed in all ([`TransferRules::with_cap`]).
    pub cap: u32,
}

/// A transfer under way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingTransfer {
    /// The recipient, masked.
    pub to: String,
    /// The owner confirmed it with the code: the recipient was mailed.
    pub confirmed: bool,
}

/// What [`Flow::start_transfer`](crate::Flow::start_transfer) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStarted {
    /// The recipient, masked.
    pub to: String,
    /// Where the confirmation code went (the bound address), masked.
    pub code_to: String,
    /// How long the code is valid.
    pub valid_for: Duration,
}

/// What [`Flow::accept_transfer`](crate::Flow::accept_transfer) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transferred {
    /// The ticket's new generation: every earlier device is refused.
    pub generation: u64,
    /// The previous owner, masked.
    pub from: String,
}
