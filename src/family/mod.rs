//! Ticket families: tickets that belong together (an order and its seats),
//! verified once, and the seats handed from the family to companions.
//!
//! The application says which tickets belong to which family
//! ([`Flow::with_ticket_families`](crate::Flow::with_ticket_families)). A
//! request that names a member of a family is gated as the family: one
//! binding (the family's), one device cookie (scoped to a path that covers
//! every member), one challenge. A device verified on one seat opens the
//! others with no new code.
//!
//! A seat handed to a companion ([`Flow::hand_off`](crate::Flow::hand_off))
//! leaves the family: it is bound to the companion's address, gated as a
//! ticket of its own, and the holder's devices are challenged on it (a code
//! that goes to the companion). Whether a seat was handed is read from the
//! store and kept per instance like a revocation generation: another
//! instance sees a hand-off within the layer's revocation bound.
//!
//! - [`Membership`]: how a ticket belongs to its family;
//! - [`HandOffRules`]: what a hand-off may do (cancellations, deadline, the
//!   application's own check);
//! - [`HandOffRefusal`]: why one was refused, with its text in five languages;
//! - [`SeatState`]: where a seat stands, for the family's page.

use std::fmt;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::store::StoreError;
use crate::ticket::TicketId;

mod texts;

/// How a ticket belongs to a family: the family's own ticket id, and the
/// cookie path that covers every member's pages (the family's device
/// cookie is scoped to it, so that it reaches every seat).
///
/// ```
/// use tower_otp::{TicketId, family::Membership};
///
/// // Seat `A7x9Qz-2` of order `A7x9Qz`, its pages under `/orders/A7x9Qz/`.
/// let seat = Membership::new(TicketId::new("A7x9Qz"), "/orders/A7x9Qz");
/// assert_eq!(seat.family().as_str(), "A7x9Qz");
/// assert!(!seat.is_holders_own());
/// assert!(Membership::new(TicketId::new("A7x9Qz"), "/orders/A7x9Qz").holders_own().is_holders_own());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    family: TicketId,
    cookie_path: String,
    holders_own: bool,
}

impl Membership {
    /// A member of `family`, whose device cookie is scoped to
    /// `cookie_path` (a path prefix of every member's URL and of the
    /// family's own, such as `/orders/A7x9Qz`; `/` for families whose
    /// members live under unrelated paths).
    pub fn new(family: TicketId, cookie_path: impl Into<String>) -> Self {
        Self {
            family,
            cookie_path: cookie_path.into(),
            holders_own: false,
        }
    }

    /// This member is the holder's own seat: it is never handed over.
    pub fn holders_own(mut self) -> Self {
        self.holders_own = true;
        self
    }

    /// The family's own ticket id.
    pub fn family(&self) -> &TicketId {
        &self.family
    }

    /// The cookie path that covers the family's pages.
    pub fn cookie_path(&self) -> &str {
        &self.cookie_path
    }

    /// Whether this member is the holder's own seat.
    pub fn is_holders_own(&self) -> bool {
        self.holders_own
    }
}

/// Which family a ticket belongs to: the application's answer, given to
/// [`Flow::with_ticket_families`](crate::Flow::with_ticket_families).
pub(crate) type Families = Arc<dyn Fn(&TicketId) -> Option<Membership> + Send + Sync>;

/// What a hand-off asks, as the application's check sees it
/// ([`HandOffRules::with_check`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct HandOffAsk<'a> {
    /// The family.
    pub family: &'a TicketId,
    /// The seat to hand over.
    pub seat: &'a TicketId,
    /// The companion's address.
    pub to: &'a EmailAddress,
}

type Check = Arc<dyn Fn(&HandOffAsk<'_>) -> bool + Send + Sync>;
type Deadline = Arc<dyn Fn(&TicketId) -> Option<Timestamp> + Send + Sync>;

/// What hand-offs may do, each rule answered by its own
/// [`HandOffRefusal`]. The defaults: the holder's own seat stays (always),
/// a seat handed to you cannot be handed on (always), two cancellations per
/// seat, no deadline, no check of the application's.
///
/// ```
/// use tower_otp::{Timestamp, family::HandOffRules};
///
/// let rules = HandOffRules::default()
///     .with_cancellations(1)
///     // Hand-offs close when the doors open.
///     .with_deadline(|_order| Some(Timestamp::from_millis(1_790_000_000_000)))
///     // Seats bought on resale are not handed over.
///     .with_check(|ask| !ask.seat.as_str().ends_with("-resale"));
/// assert_eq!(rules.cancellations(), 1);
/// ```
#[derive(Clone)]
pub struct HandOffRules {
    cancellations: u32,
    deadline: Option<Deadline>,
    check: Option<Check>,
}

impl Default for HandOffRules {
    fn default() -> Self {
        Self {
            cancellations: 2,
            deadline: None,
            check: None,
        }
    }
}

impl fmt::Debug for HandOffRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandOffRules")
            .field("cancellations", &self.cancellations)
            .field("deadline", &self.deadline.is_some())
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl HandOffRules {
    /// How many times a hand-off of one seat may be cancelled before the
    /// companion receives it (each cancellation lets the holder hand the
    /// seat again, and each hand-off mails a stranger's address: the cap
    /// bounds that mail). `0`: a hand-off cannot be cancelled.
    pub fn with_cancellations(mut self, cap: u32) -> Self {
        self.cancellations = cap;
        self
    }

    /// When hand-offs of a family close (`None`: never), asked with the
    /// family's id at each hand-off and cancellation.
    pub fn with_deadline(
        mut self,
        deadline: impl Fn(&TicketId) -> Option<Timestamp> + Send + Sync + 'static,
    ) -> Self {
        self.deadline = Some(Arc::new(deadline));
        self
    }

    /// The application's own check of each hand-off: `false` refuses it
    /// ([`HandOffRefusal::RefusedBySite`]), for example for seats bought on
    /// resale.
    pub fn with_check(
        mut self,
        check: impl Fn(&HandOffAsk<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// The cancellations allowed per seat.
    pub fn cancellations(&self) -> u32 {
        self.cancellations
    }

    pub(crate) fn closed(&self, family: &TicketId, now: Timestamp) -> bool {
        self.deadline
            .as_ref()
            .and_then(|deadline| deadline(family))
            .is_some_and(|closes| now >= closes)
    }

    pub(crate) fn allows(&self, ask: &HandOffAsk<'_>) -> bool {
        self.check.as_ref().is_none_or(|check| check(ask))
    }
}

/// Why a hand-off or its cancellation was refused. Each has a stable
/// [`code`](Self::code) for JSON, an HTTP [`status`](Self::status) and a
/// [`message`](Self::message) in each language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandOffRefusal {
    /// The ticket belongs to no family.
    NotInFamily,
    /// The device was not verified on this seat's family.
    NotTheHolder,
    /// The seat is the holder's own.
    OwnSeat,
    /// The seat was handed to this device's holder: it is not handed on.
    ReceivedSeat,
    /// The seat is handed over already (pending or received).
    AlreadyHandedOver,
    /// Nothing to cancel: the seat was not handed over.
    NotHandedOver,
    /// The companion received the seat: too late to cancel.
    AlreadyReceived,
    /// The seat's hand-off was cancelled as often as the rules allow.
    TooManyCancellations,
    /// Hand-offs of this family are closed (past the deadline).
    Closed,
    /// The application's check refused it.
    RefusedBySite,
    /// The link to mail is not an absolute `http(s)` URL on the site.
    BadLink,
}

impl HandOffRefusal {
    /// Every refusal, for tests and catalogs.
    pub const ALL: [HandOffRefusal; 11] = [
        Self::NotInFamily,
        Self::NotTheHolder,
        Self::OwnSeat,
        Self::ReceivedSeat,
        Self::AlreadyHandedOver,
        Self::NotHandedOver,
        Self::AlreadyReceived,
        Self::TooManyCancellations,
        Self::Closed,
        Self::RefusedBySite,
        Self::BadLink,
    ];

    /// A stable snake_case code, for JSON answers and logs.
    ///
    /// ```
    /// use tower_otp::family::HandOffRefusal;
    ///
    /// assert_eq!(HandOffRefusal::OwnSeat.code(), "own_seat");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInFamily => "not_in_family",
            Self::NotTheHolder => "not_the_holder",
            Self::OwnSeat => "own_seat",
            Self::ReceivedSeat => "received_seat",
            Self::AlreadyHandedOver => "already_handed_over",
            Self::NotHandedOver => "not_handed_over",
            Self::AlreadyReceived => "already_received",
            Self::TooManyCancellations => "too_many_cancellations",
            Self::Closed => "closed",
            Self::RefusedBySite => "refused_by_site",
            Self::BadLink => "bad_link",
        }
    }

    /// The HTTP status that answers it: `403` for what this device may not
    /// do, `409` for what the seat's state does not allow, `400` for a bad
    /// link, `404` for a ticket in no family.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::NotInFamily => StatusCode::NOT_FOUND,
            Self::NotTheHolder | Self::ReceivedSeat | Self::RefusedBySite => StatusCode::FORBIDDEN,
            Self::BadLink => StatusCode::BAD_REQUEST,
            Self::OwnSeat
            | Self::AlreadyHandedOver
            | Self::NotHandedOver
            | Self::AlreadyReceived
            | Self::TooManyCancellations
            | Self::Closed => StatusCode::CONFLICT,
        }
    }

    /// What to tell the holder, in `locale`.
    ///
    /// ```
    /// use tower_otp::{Locale, family::HandOffRefusal};
    ///
    /// assert_eq!(HandOffRefusal::OwnSeat.message(Locale::En), "Your own seat stays with you: it cannot be handed over.");
    /// ```
    pub fn message(&self, locale: crate::locale::Locale) -> &'static str {
        texts::refusal(*self, locale)
    }
}

impl fmt::Display for HandOffRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message(crate::locale::Locale::En))
    }
}

/// Why [`Flow::hand_off`](crate::Flow::hand_off) or
/// [`Flow::cancel_hand_off`](crate::Flow::cancel_hand_off) did not do it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandOffError {
    /// A rule refused it: tell the holder [`HandOffRefusal::message`].
    #[error("{0}")]
    Refused(HandOffRefusal),
    /// The store failed: nothing was handed over or cancelled (try again).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HandOffRefusal> for HandOffError {
    fn from(refusal: HandOffRefusal) -> Self {
        Self::Refused(refusal)
    }
}

/// Where one seat stands ([`Flow::seat_states`](crate::Flow::seat_states)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeatState {
    /// With the family: its devices open it.
    Family,
    /// Handed to a companion who has not verified yet (cancellable).
    Pending {
        /// The companion, masked.
        to: String,
    },
    /// The companion verified a device on it: it is theirs.
    Received {
        /// The companion, masked.
        to: String,
    },
}

/// What a finished hand-off did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandedOff {
    /// The companion, masked.
    pub to: String,
    /// The companion's mail went out (`false`: the mailer failed; the seat
    /// is handed over all the same, and the companion can open the seat's
    /// link from the holder to get a code).
    pub mailed: bool,
}
