//! Where challenge state lives: the [`Store`] trait and its implementations.
//!
//! A store keeps, per ticket (named by its [`TicketKey`], never the raw id):
//!
//! - whether the first device was claimed, and the revocation generation;
//! - the bound address, once one is verified (the one long-lived record),
//!   with its owner's language and the time it was bound;
//! - the pending challenge: the pending address, the last few issued code
//!   hashes with their expiry and address, the attempt budget of this round,
//!   the consecutive-failure counter and lockout, and the send times of the
//!   last hour;
//!
//! and, per address (named by an [`AddressKey`]), the send times of the last
//! hour across all tickets.
//!
//! # The contract
//!
//! Every method is one atomic step: concurrent calls for the same ticket
//! behave as if they ran one after another, on one instance or many sharing
//! the store. The policy (limits) travels with each call, so the store holds
//! no configuration of its own. Times come from the caller's clock (`now`);
//! a store may also expire records by itself once they can no longer matter.
//!
//! The rules each method applies are written on it; the conformance suite
//! (`tower_otp::store::conformance`, feature `test-util`) checks them,
//! including the races, and every store runs it.

use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::error::BoxError;
use crate::locale::Locale;
use crate::ticket::TicketKey;

mod budget;
#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
pub(crate) mod memory;
mod records;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod rules;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;
mod state;

pub use self::budget::SendBudget;
pub use self::state::{StateChange, StateFingerprint, StateRead, StateRecord};
pub use crate::code::CodeHash;

/// A keyed hash naming one send counter: of a normalised mailbox (for its
/// owner or for strangers), of a domain, or of the site.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey([u8; 16]);

impl AddressKey {
    /// An address key from its bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AddressKey({:02x}{:02x}{:02x}{:02x})",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The keys of the send counters one send may touch, built by the flow from
/// the address (see [`EmailAddress::mailbox`]) and the client.
///
/// A send through a ticket bound to the address counts in `owner`; any
/// other send counts in `mailbox`, `domain` (when the domain has one: see
/// [`without_domain`](Self::without_domain)) and, when the policy has a
/// site-wide budget, `site`. Either kind also counts in `client` when the
/// client is known and the policy has a per-client budget. The keys must
/// differ.
///
/// ```
/// use tower_otp::store::{AddressKey, CounterKeys};
///
/// let k = |b| AddressKey::from_bytes([b; 16]);
/// let keys = CounterKeys::new(k(1), k(2), k(3), k(4)).with_client(Some(k(5)));
/// assert_eq!((keys.owner, keys.domain, keys.client), (k(2), Some(k(3)), Some(k(5))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CounterKeys {
    /// Strangers' sends to the normalised mailbox.
    pub mailbox: AddressKey,
    /// Sends to the normalised mailbox through tickets bound to it.
    pub owner: AddressKey,
    /// Strangers' sends to the mailbox's domain (`None`: the domain has no
    /// such budget).
    pub domain: Option<AddressKey>,
    /// Strangers' sends site-wide.
    pub site: AddressKey,
    /// Sends asked for by the client (`None`: the client is not known).
    pub client: Option<AddressKey>,
}

impl CounterKeys {
    /// Keys from their parts, with a domain budget and no client.
    pub fn new(
        mailbox: AddressKey,
        owner: AddressKey,
        domain: AddressKey,
        site: AddressKey,
    ) -> Self {
        Self {
            mailbox,
            owner,
            domain: Some(domain),
            site,
            client: None,
        }
    }

    /// Sets the client's counter.
    pub fn with_client(mut self, client: Option<AddressKey>) -> Self {
        self.client = client;
        self
    }

    /// No domain budget: for a provider whose every spelling of a mailbox
    /// [`EmailAddress::mailbox`] already folds into one.
    pub fn without_domain(mut self) -> Self {
        self.domain = None;
        self
    }
}

/// The limits a store applies when it issues or verifies a code.
///
/// Built by the flow from its configuration. [`Policy::default`] holds the
/// defaults of the design (the "Codes and limits" table); since the struct is
/// `#[non_exhaustive]`, code outside this crate starts from it and sets fields.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::store::Policy;
///
/// let mut policy = Policy::default();
/// assert_eq!(policy.code_ttl, Duration::from_secs(300));
/// policy.max_attempts = 3;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// How long a code stays valid after issue.
    pub code_ttl: Duration,
    /// How many of the most recently issued codes stay valid.
    pub live_codes: u32,
    /// Wrong entries allowed per round, across all live codes and browsers.
    pub max_attempts: u32,
    /// Consecutive failures across rounds before new devices are locked out.
    pub lockout_threshold: u32,
    /// How long the lockout lasts.
    pub lockout_duration: Duration,
    /// The wait after the 1st, 2nd, 3rd... send in the window (the last entry repeats).
    pub cooldowns: Vec<Duration>,
    /// The window in which sends are counted (one hour).
    pub send_window: Duration,
    /// Sends allowed per ticket per window.
    pub sends_per_ticket: u32,
    /// Sends allowed per mailbox per window, across tickets: counted apart
    /// for the tickets bound to that mailbox (its owner's budget) and for
    /// every other ticket (strangers' budget), so neither starves the other.
    pub sends_per_address: u32,
    /// Sends allowed per domain per window through tickets not bound to the
    /// address: the budget no spelling of a mailbox escapes.
    pub sends_per_domain: u32,
    /// Sends allowed site-wide per window through tickets not bound to the
    /// address (0: no site-wide budget).
    pub sends_site_wide: u32,
    /// Sends allowed per client per window, whatever the ticket and the
    /// address (0: no per-client budget). A store applies
    /// [`client_cap`](Self::client_cap), which stays below every other
    /// budget so that no one client can spend one up.
    pub sends_per_client: u32,
    /// How long a first-device claim lasts while the ticket is unbound and
    /// no device was verified (a bound ticket never expires).
    pub claim_lifetime: Duration,
    /// How long a claim of an id no validator vouched for lasts while the
    /// ticket stays unbound: anyone can make up such ids, so what nothing
    /// follows is forgotten soon.
    pub unvouched_claim_lifetime: Duration,
    /// Claims of ids no validator vouched for, per client per window (0: no
    /// such budget).
    pub unvouched_claims_per_client: u32,
}

impl Default for Policy {
    /// 5-minute codes, the last 3 live, 5 wrong entries per round, lockout
    /// for an hour after 20 consecutive failures, cooldowns 60 → 120 → 300 s,
    /// at most 5 sends per ticket and 10 per mailbox per hour (owner and
    /// strangers counted apart), 100 per domain per hour through unbound
    /// tickets, no site-wide budget, 4 per client per hour, first-device
    /// claims kept 30 days (a day for ids no validator vouched for, of
    /// which a client may claim 30 an hour).
    fn default() -> Self {
        Self {
            // The seed: a code is valid for 5 minutes (NIST allows up to 10).
            code_ttl: Duration::from_secs(5 * 60),
            // The last 3 codes stay valid, so a late first e-mail still works after Resend.
            live_codes: 3,
            // OWASP MFA cheat sheet: strict per-code attempt limits.
            max_attempts: 5,
            // NIST SP 800-63B §3.2.2: at most 100 consecutive failures; we lock at 20.
            lockout_threshold: 20,
            lockout_duration: Duration::from_secs(60 * 60),
            // A growing resend cooldown against e-mail bombing.
            cooldowns: vec![
                Duration::from_secs(60),
                Duration::from_secs(120),
                Duration::from_secs(300),
            ],
            send_window: Duration::from_secs(60 * 60),
            sends_per_ticket: 5,
            // OWASP forgot-password cheat sheet: limit mail per destination.
            sends_per_address: 10,
            // Catch-all domains and provider spellings the mailbox
            // normalisation cannot know (dots, `-` tags) all land in one
            // inbox: 100 an hour per domain bounds them, and is rarely
            // reached by real use since bound tickets do not count here.
            sends_per_domain: 100,
            // Off: its right size depends on the site's traffic, and one
            // flood would stop every unbound ticket's sends site-wide.
            sends_site_wide: 0,
            // Below the ticket's 5, so that one client cannot spend a
            // ticket's sends (nor a mailbox's, a domain's or the site's).
            sends_per_client: 4,
            // The default device cookie lifetime: a first device's cookie
            // does not outlive its claim.
            claim_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            // A made-up id's claim is gone the next day; a first device that
            // comes back later is trusted again if no one else came first.
            unvouched_claim_lifetime: Duration::from_secs(24 * 60 * 60),
            // Far above what one household opens in an hour, far below a
            // script's thousands.
            unvouched_claims_per_client: 30,
        }
    }
}

impl Policy {
    /// The cooldown that follows the `n`-th send of the window (`n` ≥ 1).
    pub fn cooldown_after(&self, n: usize) -> Duration {
        self.cooldowns
            .get(n.saturating_sub(1))
            .or(self.cooldowns.last())
            .copied()
            .unwrap_or(Duration::ZERO)
    }

    /// The per-client cap a store applies (0: none): `sends_per_client`, but
    /// below every other budget a client could otherwise spend up alone (a
    /// ticket's, a mailbox's, a domain's, the site's), and at least 1.
    ///
    /// ```
    /// use tower_otp::store::Policy;
    ///
    /// let mut policy = Policy::default();
    /// assert_eq!(policy.client_cap(), 4);
    /// policy.sends_per_ticket = 3;
    /// assert_eq!(policy.client_cap(), 2);
    /// policy.sends_per_client = 0;
    /// assert_eq!(policy.client_cap(), 0);
    /// ```
    pub fn client_cap(&self) -> u32 {
        if self.sends_per_client == 0 {
            return 0;
        }
        let site = if self.sends_site_wide == 0 {
            u32::MAX
        } else {
            self.sends_site_wide
        };
        let others = self
            .sends_per_ticket
            .min(self.sends_per_address)
            .min(self.sends_per_domain)
            .min(site);
        self.sends_per_client.min(others.saturating_sub(1)).max(1)
    }

    /// When the next send is allowed, given the send times of the window
    /// (oldest first): the later of the cooldown after the last send and, at
    /// the cap, the time the oldest send leaves the window.
    pub fn next_send_at(&self, sends: &[Timestamp]) -> Option<Timestamp> {
        let last = *sends.last()?;
        let mut at = last + self.cooldown_after(sends.len());
        if sends.len() >= self.sends_per_ticket as usize {
            let oldest_counted = sends[sends.len() - self.sends_per_ticket as usize];
            at = at.max(oldest_counted + self.send_window);
        }
        Some(at)
    }
}

/// One issued code as the store keeps it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The keyed hash of the code.
    pub hash: CodeHash,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
}

impl CodeRecord {
    /// A record.
    pub fn new(hash: CodeHash, issued_at: Timestamp, expires_at: Timestamp) -> Self {
        Self {
            hash,
            issued_at,
            expires_at,
        }
    }
}

/// A read-only picture of a ticket, for pages and decisions.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TicketSnapshot {
    /// The first device was claimed (and the claim holds at `now`).
    pub claimed: bool,
    /// When the claim lapses: a claim on an unbound ticket that was given a
    /// lifetime (`None`: no claim, or one that holds for good).
    pub claim_until: Option<Timestamp>,
    /// The bound address.
    pub binding: Option<EmailAddress>,
    /// The language the bound address last used: of the page where it last
    /// verified a code, or the one given when it was bound (`None`: not
    /// known, or not bound).
    pub bound_locale: Option<Locale>,
    /// When the current binding was made (`None`: unbound, or bound by a
    /// version of tower-otp that did not record it).
    pub bound_at: Option<Timestamp>,
    /// A device was verified by a code on this ticket.
    pub device_verified: bool,
    /// The revocation generation (device tokens carry it).
    pub generation: u64,
    /// The address the pending codes were sent to (unbound tickets).
    pub pending: Option<EmailAddress>,
    /// The codes still valid at `now`, oldest first.
    pub live_codes: Vec<CodeRecord>,
    /// Wrong entries used in this round.
    pub attempts_used: u32,
    /// The attempt budget of this round is spent: its codes are void.
    pub exhausted: bool,
    /// Consecutive failures across rounds.
    pub consecutive_failures: u32,
    /// New devices are locked out until then.
    pub locked_until: Option<Timestamp>,
    /// Send times within the window, oldest first.
    pub recent_sends: Vec<Timestamp>,
    /// A code was issued and has since expired unused (it helps the page say "expired").
    pub had_codes: bool,
}

/// What [`Store::claim_first_device`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// This caller is the first device.
    Claimed {
        /// The ticket's generation, for the device token.
        generation: u64,
    },
    /// The ticket was already claimed or is bound: no trust on first use.
    Refused,
    /// The client's budget of unvouched claims is spent: nothing was
    /// claimed or counted.
    Throttled {
        /// When the client may claim again.
        retry_at: Timestamp,
    },
}

/// A request to claim the first device ([`Store::claim_first_device`]).
///
/// ```
/// use tower_otp::store::{AddressKey, ClaimRequest, Policy};
/// use tower_otp::{TicketKey, Timestamp};
///
/// let (ticket, policy) = (TicketKey::from_bytes([7; 16]), Policy::default());
/// let request = ClaimRequest::new(&ticket, Timestamp::from_millis(0), &policy);
/// assert!(request.vouched);
/// let client = AddressKey::from_bytes([1; 16]);
/// let request = request.unvouched(Some(client));
/// assert_eq!((request.vouched, request.client), (false, Some(client)));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClaimRequest<'a> {
    /// The ticket.
    pub ticket: &'a TicketKey,
    /// The current time.
    pub now: Timestamp,
    /// The limits.
    pub policy: &'a Policy,
    /// The application vouched for the ticket id (a validator accepted it,
    /// or the application itself asked).
    pub vouched: bool,
    /// The counter of the client asking, when the id is not vouched for
    /// and the client is known.
    pub client: Option<AddressKey>,
}

impl<'a> ClaimRequest<'a> {
    /// A claim of a vouched-for id.
    pub fn new(ticket: &'a TicketKey, now: Timestamp, policy: &'a Policy) -> Self {
        Self {
            ticket,
            now,
            policy,
            vouched: true,
            client: None,
        }
    }

    /// A claim of an id no validator vouched for, asked by `client`.
    pub fn unvouched(mut self, client: Option<AddressKey>) -> Self {
        self.vouched = false;
        self.client = client;
        self
    }

    /// How long the claim lasts while the ticket stays unbound.
    pub fn lifetime(&self) -> Duration {
        if self.vouched {
            self.policy.claim_lifetime
        } else {
            self.policy.unvouched_claim_lifetime
        }
    }

    /// The client's counter and its cap, when this claim is counted.
    pub fn counter(&self) -> Option<(AddressKey, u32)> {
        let cap = self.policy.unvouched_claims_per_client;
        match self.client {
            Some(key) if !self.vouched && cap > 0 => Some((key, cap)),
            _ => None,
        }
    }
}

/// A request to bind an address ([`Store::bind`], [`Store::rebind`]).
///
/// ```
/// use tower_otp::store::BindRequest;
/// use tower_otp::{EmailAddress, Locale, TicketKey, Timestamp};
///
/// let ticket = TicketKey::from_bytes([7; 16]);
/// let address = EmailAddress::parse("taro@example.com").unwrap();
/// let request = BindRequest::new(&ticket, &address, Timestamp::from_millis(0))
///     .with_locale(Some(Locale::Ja));
/// assert_eq!(request.locale, Some(Locale::Ja));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BindRequest<'a> {
    /// The ticket.
    pub ticket: &'a TicketKey,
    /// The address to bind.
    pub address: &'a EmailAddress,
    /// The language of its owner, if the application knows it (the new-device
    /// notice goes out in it until the owner verifies from a page).
    pub locale: Option<Locale>,
    /// The current time (recorded as the time of the binding).
    pub now: Timestamp,
}

impl<'a> BindRequest<'a> {
    /// A request without a language.
    pub fn new(ticket: &'a TicketKey, address: &'a EmailAddress, now: Timestamp) -> Self {
        Self {
            ticket,
            address,
            locale: None,
            now,
        }
    }

    /// Sets the owner's language.
    pub fn with_locale(mut self, locale: Option<Locale>) -> Self {
        self.locale = locale;
        self
    }
}

/// What [`Store::bind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindOutcome {
    /// The address is now bound.
    Bound,
    /// An address was bound already (this one or another); nothing changed.
    AlreadyBound {
        /// It is the same address.
        same: bool,
    },
}

/// A request to record a newly issued code ([`Store::issue_code`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct IssueRequest<'a> {
    /// The ticket.
    pub ticket: &'a TicketKey,
    /// Where the code goes: the binding if bound, else the pending or typed address.
    pub address: &'a EmailAddress,
    /// The keys of the send counters (of the normalised mailbox, its domain, the site).
    pub keys: &'a CounterKeys,
    /// The new code's hash.
    pub code: &'a CodeHash,
    /// The current time.
    pub now: Timestamp,
    /// The limits.
    pub policy: &'a Policy,
    /// The caller believes the ticket is bound to `address` (it read so
    /// earlier): the store issues only if it still is, and answers
    /// [`IssueOutcome::NotBound`] if the ticket has no binding now. Without
    /// it, an unbound ticket takes `address` as its pending address.
    pub expect_bound: bool,
}

impl<'a> IssueRequest<'a> {
    /// A request.
    pub fn new(
        ticket: &'a TicketKey,
        address: &'a EmailAddress,
        keys: &'a CounterKeys,
        code: &'a CodeHash,
        now: Timestamp,
        policy: &'a Policy,
    ) -> Self {
        Self {
            ticket,
            address,
            keys,
            code,
            now,
            policy,
            expect_bound: false,
        }
    }

    /// Issues only while the ticket is bound to the request's address (see
    /// [`expect_bound`](Self::expect_bound)).
    ///
    /// ```
    /// use tower_otp::{EmailAddress, Secret, TicketId};
    /// use tower_otp::store::{AddressKey, CodeHash, CounterKeys, IssueRequest, Policy};
    /// use tower_otp::{Timestamp, Flow, MemoryStore, testing::CapturingMailer};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let address = EmailAddress::parse("minji@example.com").unwrap();
    /// let key = AddressKey::from_bytes([1; 16]);
    /// let keys = CounterKeys::new(key, key, key, key);
    /// let code = CodeHash::from_bytes([2; 32]);
    /// let policy = Policy::default();
    /// let request = IssueRequest::new(&ticket, &address, &keys, &code, Timestamp::from_millis(1_000), &policy)
    ///     .expecting_binding();
    /// assert!(request.expect_bound);
    /// ```
    pub fn expecting_binding(mut self) -> Self {
        self.expect_bound = true;
        self
    }
}

/// What [`Store::issue_code`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueOutcome {
    /// The code was recorded and the send counted.
    Issued {
        /// When the new code expires.
        expires_at: Timestamp,
        /// When the next send will be allowed.
        next_send_at: Timestamp,
        /// The ticket is bound (to the request's address).
        bound: bool,
        /// Wrong codes entered in the round the new code belongs to.
        attempts_used: u32,
    },
    /// The ticket's cooldown or hourly cap has not passed.
    TicketThrottled {
        /// When a send will be allowed.
        retry_at: Timestamp,
    },
    /// A cap across tickets is reached: the mailbox's (its owner's or
    /// strangers'), the domain's, the site's or the client's.
    AddressThrottled {
        /// When a send will be allowed.
        retry_at: Timestamp,
        /// Which cap it was (never [`SendBudget::Ticket`]).
        budget: SendBudget,
    },
    /// New devices are locked out.
    Locked {
        /// Until then.
        until: Timestamp,
    },
    /// The ticket is bound to another address.
    BoundElsewhere,
    /// The request [expected a binding](IssueRequest::expecting_binding)
    /// and the ticket has none: nothing was issued or counted.
    NotBound,
}

/// A request to check a code ([`Store::verify_code`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct VerifyRequest<'a> {
    /// The ticket.
    pub ticket: &'a TicketKey,
    /// The hash of the code entered.
    pub code: &'a CodeHash,
    /// The current time.
    pub now: Timestamp,
    /// The limits.
    pub policy: &'a Policy,
    /// The language of the page the code was typed on: on success it becomes
    /// the ticket's bound locale (`None` leaves the bound locale as it is).
    pub locale: Option<Locale>,
}

impl<'a> VerifyRequest<'a> {
    /// A request without a language.
    pub fn new(
        ticket: &'a TicketKey,
        code: &'a CodeHash,
        now: Timestamp,
        policy: &'a Policy,
    ) -> Self {
        Self {
            ticket,
            code,
            now,
            policy,
            locale: None,
        }
    }

    /// Sets the language of the page.
    ///
    /// ```
    /// use tower_otp::store::{CodeHash, Policy, VerifyRequest};
    /// use tower_otp::{Locale, TicketKey, Timestamp};
    ///
    /// let (ticket, code, policy) = (TicketKey::from_bytes([1; 16]), CodeHash::from_bytes([2; 32]), Policy::default());
    /// let request = VerifyRequest::new(&ticket, &code, Timestamp::from_millis(0), &policy)
    ///     .with_locale(Some(Locale::Ko));
    /// assert_eq!(request.locale, Some(Locale::Ko));
    /// ```
    pub fn with_locale(mut self, locale: Option<Locale>) -> Self {
        self.locale = locale;
        self
    }
}

/// What [`Store::verify_code`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// The code matched a live code and was consumed; the challenge is cleared.
    Verified {
        /// The address the code was sent to, now bound.
        address: EmailAddress,
        /// The address was bound by this call.
        newly_bound: bool,
        /// A device was trusted on this ticket before this one: a claimed
        /// first device, or a device verified earlier.
        earlier_device: bool,
        /// The ticket's generation, for the device token.
        generation: u64,
        /// The bound locale before this verification changed it (`None` when
        /// the ticket was unbound, or its owner's language was not known):
        /// the language of the new-device notice to the owner.
        previous_locale: Option<Locale>,
    },
    /// No live code matched; the attempt was counted.
    Wrong {
        /// Wrong entries left in this round (0: the codes are now void).
        attempts_left: u32,
        /// Set when this failure started a lockout.
        locked_until: Option<Timestamp>,
    },
    /// Codes were issued but all have expired. Not counted.
    Expired,
    /// No code was ever issued in this round (or it was withdrawn). Not counted.
    NoCode,
    /// The round's attempt budget is spent. Not counted.
    Exhausted,
    /// New devices are locked out. Not counted, whatever the code.
    Locked {
        /// Until then.
        until: Timestamp,
    },
}

/// What [`Store::restart`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartOutcome {
    /// The pending address and its codes are forgotten.
    Restarted,
    /// The ticket is bound; nothing changed.
    Bound,
}

/// What [`Store::unbind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnbindOutcome {
    /// The address that was bound (`None`: the ticket was not bound).
    pub previous: Option<EmailAddress>,
    /// The ticket's new generation: device tokens issued before carry an
    /// older one.
    pub generation: u64,
}

/// What [`Store::rebind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebindOutcome {
    /// The request's address is now bound.
    Rebound {
        /// The address bound before (`None`: the ticket was not bound).
        previous: Option<EmailAddress>,
        /// The language of that address, if known.
        previous_locale: Option<Locale>,
        /// The ticket's new generation: device tokens issued before carry
        /// an older one.
        generation: u64,
    },
    /// The ticket was bound to this address already; nothing changed.
    Unchanged,
}

/// What [`Store::clear_lockout`] cleared, as it was before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LockoutCleared {
    /// The lockout that was running at `now`, if any.
    pub locked_until: Option<Timestamp>,
    /// The consecutive failures counted towards the next lockout.
    pub consecutive_failures: u32,
}

/// The store could not be reached or failed. Keeps its source.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {message}")]
pub struct StoreError {
    message: &'static str,
    #[source]
    source: Option<BoxError>,
}

impl StoreError {
    /// An error with a short static description (no secrets) and its cause.
    pub fn new(message: &'static str, source: impl Into<BoxError>) -> Self {
        Self {
            message,
            source: Some(source.into()),
        }
    }

    /// An error without a cause.
    pub fn msg(message: &'static str) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

/// Challenge state shared by every instance of an application.
///
/// See the [module documentation](self) for the contract. Each method is one
/// atomic step for its ticket. [`MemoryStore`](crate::MemoryStore) (a lock per ticket) and
/// `RedisStore` (a Lua script per method) are complete implementations; run
/// the conformance suite (`tower_otp::store_conformance_tests!`, feature
/// `test-util`) on yours.
///
/// # Example
///
/// A store that counts the verifications it sees and hands every call to
/// another store, keeping its atomicity:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use tower_otp::store::{
///     BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
///     LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateRead, Store, StoreError, TicketSnapshot,
///     UnbindOutcome, VerifyOutcome, VerifyRequest,
/// };
/// use tower_otp::{MemoryStore, TicketKey, Timestamp};
///
/// #[derive(Debug, Default)]
/// struct Counting<S> {
///     inner: S,
///     verifications: AtomicU64,
/// }
///
/// #[tower_otp::async_trait]
/// impl<S: Store> Store for Counting<S> {
///     async fn load(&self, ticket: &TicketKey, now: Timestamp, policy: &Policy) -> Result<TicketSnapshot, StoreError> {
///         self.inner.load(ticket, now, policy).await
///     }
///     async fn claim_first_device(&self, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, StoreError> {
///         self.inner.claim_first_device(request).await
///     }
///     async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
///         self.inner.bind(request).await
///     }
///     async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
///         self.inner.issue_code(request).await
///     }
///     async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
///         self.inner.withdraw_code(request).await
///     }
///     async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
///         self.verifications.fetch_add(1, Ordering::Relaxed);
///         self.inner.verify_code(request).await
///     }
///     async fn restart(&self, ticket: &TicketKey, now: Timestamp) -> Result<RestartOutcome, StoreError> {
///         self.inner.restart(ticket, now).await
///     }
///     async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
///         self.inner.revoke_devices(ticket).await
///     }
///     async fn withdraw_binding(&self, ticket: &TicketKey, now: Timestamp, generation: u64) -> Result<Option<u64>, StoreError> {
///         self.inner.withdraw_binding(ticket, now, generation).await
///     }
///     async fn unbind(&self, ticket: &TicketKey, now: Timestamp) -> Result<UnbindOutcome, StoreError> {
///         self.inner.unbind(ticket, now).await
///     }
///     async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
///         self.inner.rebind(request).await
///     }
///     async fn clear_lockout(&self, ticket: &TicketKey, now: Timestamp) -> Result<LockoutCleared, StoreError> {
///         self.inner.clear_lockout(ticket, now).await
///     }
///     async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
///         self.inner.forget(ticket).await
///     }
///     async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
///         self.inner.state(change).await
///     }
///     fn is_durable(&self) -> bool {
///         self.inner.is_durable()
///     }
/// }
///
/// let store = Counting { inner: MemoryStore::new(), verifications: AtomicU64::new(0) };
/// # let _ = store;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tower-otp store",
    label = "not a `Store`",
    note = "a store implements `tower_otp::store::Store`: `MemoryStore`, `SqliteStore`, `PostgresStore`, `RedisStore`, an `Arc` of one, or your own"
)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A read-only snapshot of the ticket at `now` (no changes; unknown tickets
    /// give the default snapshot).
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError>;

    /// Marks the first device: succeeds once per ticket, and only while the
    /// ticket is unclaimed and unbound (else `Refused`, counting nothing).
    /// When the request names a [counter](ClaimRequest::counter), the
    /// claim is counted there in the window (`now - send_window`,
    /// exclusive), and refused at its cap (`Throttled`, retry when its
    /// oldest claim leaves the window), claiming nothing. The claim lasts
    /// [`request.lifetime()`](ClaimRequest::lifetime) from `now` while the
    /// ticket stays unbound (then the ticket is unclaimed again and the
    /// store may forget it); a binding makes it permanent.
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Binds `request.address` if the ticket has no binding (pre-binding by
    /// the application), recording `request.locale` as the bound locale and
    /// `request.now` as the time of the binding. Of two concurrent binds,
    /// exactly one wins; a refused bind changes nothing.
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError>;

    /// Records a newly issued code if the limits allow, in this order:
    ///
    /// 1. bound to another address → `BoundElsewhere`;
    /// 2. locked out at `now` → `Locked`;
    /// 3. ticket: the sends of the window (`now - send_window`, exclusive) are
    ///    at `sends_per_ticket`, or `now` is before the cooldown after the last
    ///    send → `TicketThrottled` with [`Policy::next_send_at`];
    /// 4. counters across tickets: if the ticket is bound to `address`, the
    ///    owner's counter (`keys.owner`, cap `sends_per_address`); otherwise
    ///    the strangers' counters, in this order: `keys.mailbox`
    ///    (`sends_per_address`), `keys.domain` when it is `Some`
    ///    (`sends_per_domain`) and, when `sends_site_wide` > 0, `keys.site`.
    ///    Then, either way, `keys.client` when it is `Some` and
    ///    [`Policy::client_cap`] > 0. The first at its cap in the window →
    ///    `AddressThrottled` naming it (retry when its oldest send leaves
    ///    the window), counting nothing;
    /// 5. otherwise: if the ticket is unbound and `address` differs from the
    ///    pending address, the old codes are dropped and `address` becomes
    ///    pending (on a bound ticket, codes sent to another address before the
    ///    binding are void and may be dropped the same way); a new round
    ///    starts (attempts reset to 0, not exhausted) when no code of the
    ///    current round is live at `now` or the round is exhausted, else the
    ///    round's attempts carry over. Codes the round issued that were since
    ///    dropped by [`restart`](Store::restart) or an address change still
    ///    count as live until their own expiry, so neither starts a new
    ///    round. The code is added (only the newest `live_codes` are kept);
    ///    the send is counted for the ticket and in every counter of rule 4
    ///    → `Issued`.
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError>;

    /// Undoes an [`issue_code`](Store::issue_code) whose mail could not be
    /// delivered: removes that code and the send it counted (for the ticket and
    /// the counters of rule 4 at `request.now`). Everything else stays as it is.
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError>;

    /// Checks a code, in this order:
    ///
    /// 1. locked out at `now` → `Locked` (not counted);
    /// 2. the round is exhausted → `Exhausted` (not counted);
    /// 3. no live code: `Expired` if the round had codes, else `NoCode` (not counted);
    /// 4. the hash equals a live code's (constant time where the store can) →
    ///    the challenge is cleared (codes, pending address, attempts,
    ///    consecutive failures), the code's address is bound if the ticket is
    ///    unbound (at `now`), the ticket remembers that a device was verified,
    ///    and `request.locale`, when given, becomes the bound locale →
    ///    `Verified` (`earlier_device`: the ticket had a live first-device
    ///    claim or a verified device before; `previous_locale`: the bound
    ///    locale before this call, `None` if it just bound); if the ticket is
    ///    bound to another address, the code is void: count it as wrong;
    /// 5. otherwise count one wrong entry: attempts + 1 and consecutive
    ///    failures + 1; at `max_attempts` the round is exhausted (its codes
    ///    void); at `lockout_threshold` new devices are locked out until
    ///    `now + lockout_duration` and the consecutive count restarts → `Wrong`.
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError>;

    /// Forgets the pending address and its codes (unbound tickets only). The
    /// attempts of the round, the failure count and the send times stay.
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError>;

    /// Increments the ticket's generation, so that device tokens issued before
    /// stop passing where revocation checks are on. Returns the new generation.
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError>;

    /// Unbinds the ticket as [`unbind`](Store::unbind) does, but only when it
    /// is bound, no device was verified on it since it was bound, and its
    /// generation is still `generation`: how a seat handed to a companion is
    /// taken back before the companion received it. Returns the new
    /// generation, or `None` when a condition does not hold (then nothing
    /// changed). Atomic with [`verify_code`](Store::verify_code) on the same
    /// ticket: of the two, the one the store takes first wins.
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError>;

    // Support actions: called by an operator through the flow, never by the
    // gate. Each is one atomic step, like every method above.

    /// Forgets the binding (its address, language and time) and the pending
    /// challenge (the pending address and its codes), and increments the
    /// generation so device tokens issued before stop passing where
    /// revocation is checked. The ticket then counts as claimed for good and
    /// not verified: no browser is trusted as a first device, and the next
    /// address whose code is verified is bound, as on a new ticket. The
    /// round's attempts, the failure count, a running lockout and the send
    /// times stay (they guard against abuse, not for the owner). Works on
    /// unbound tickets too (the generation still moves).
    async fn unbind(&self, ticket: &TicketKey, now: Timestamp)
    -> Result<UnbindOutcome, StoreError>;

    /// Binds `request.address` in place of the current binding, if any, in
    /// one step: → `Unchanged` when it is the bound address already (nothing
    /// changes); otherwise the binding becomes `request.address` with
    /// `request.locale` and `request.now`, the pending address and its codes
    /// are dropped (codes sent to the old address must not verify), the
    /// generation is incremented (devices verified under the old binding stop
    /// passing where revocation is checked: the holder verifies again with
    /// the new address), no device counts as verified on the new binding
    /// yet (its first one is its owner's, as after a pre-binding), the
    /// ticket's send times are forgotten (they were the old address's: its
    /// resend cooldown does not hold back the new one's first code), and
    /// the old address and its language are returned → `Rebound`. The
    /// claim, the failure count and a lockout stay.
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError>;

    /// Gives a ticket's holder their way in back: ends a lockout of new
    /// devices, resets the consecutive-failure count (returns both as they
    /// were at `now`), voids the round (its codes are dropped and its
    /// attempts restored, so a spent round no longer waits for its codes to
    /// expire) and forgets the ticket's sends of the window (so the next
    /// send is neither in a cooldown nor over the ticket's hourly cap). The
    /// pending address, the binding and the counters across tickets stay.
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError>;

    /// Deletes everything the store keeps under the ticket's key (claim,
    /// binding, language, generation, challenge, counters of the ticket):
    /// afterwards [`load`](Store::load) gives the default snapshot. Returns
    /// whether there was anything. The per-address send counters stay: they
    /// are keyed by a keyed hash of a mailbox, not by the ticket, hold only
    /// send times, and expire within `send_window` by themselves.
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError>;

    /// Reads and changes the store's record of itself ([`StateRecord`]:
    /// which secret wrote its state, whether first devices are held), in
    /// one atomic step: [`StateChange::Init`] writes the record only when
    /// the store has none, [`StateChange::Replace`] whatever it has.
    /// Returns the record held afterwards, and whether this call wrote it.
    /// The flow checks it before it gates anything, and again now and then
    /// to notice a store that lost what it wrote.
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError>;

    /// Whether what the store keeps survives a restart of the application
    /// (default: `true`). [`MemoryStore`](crate::MemoryStore) says `false`: after a restart every
    /// ticket is unclaimed and unbound again, so a layer that trusts first
    /// devices over it should warn.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_otp::MemoryStore;
    /// use tower_otp::store::Store;
    ///
    /// assert!(!MemoryStore::new().is_durable());
    /// let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// assert!(!shared.is_durable());
    /// ```
    fn is_durable(&self) -> bool {
        true
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        (**self).load(ticket, now, policy).await
    }
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        (**self).claim_first_device(request).await
    }
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        (**self).bind(request).await
    }
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        (**self).issue_code(request).await
    }
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        (**self).withdraw_code(request).await
    }
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        (**self).verify_code(request).await
    }
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        (**self).restart(ticket, now).await
    }
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        (**self).revoke_devices(ticket).await
    }
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        (**self).withdraw_binding(ticket, now, generation).await
    }
    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        (**self).unbind(ticket, now).await
    }
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        (**self).rebind(request).await
    }
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        (**self).clear_lockout(ticket, now).await
    }
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        (**self).forget(ticket).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        (**self).state(change).await
    }
    fn is_durable(&self) -> bool {
        (**self).is_durable()
    }
}
