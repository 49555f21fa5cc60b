//! The challenge flow: send, resend, verify and restart over a [`Store`], a
//! [`Mailer`] and a [`Clock`], pure of HTTP.
//!
//! This file holds [`Flow`] itself: its construction, its settings and what
//! it tells of them. What it does lives beside it, one file each: `send`
//! (a code and the address it goes to), `verify` (a typed code),
//! `challenge` (where a ticket stands), `claim` (first devices), `bind`
//! (pre-binding), `revocation` (revoked devices and the generations the
//! layer checks), `background` (notices mailed after answering) and
//! `support` (what an operator does for a ticket's holder).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use self::background::Background;
use self::enforcers::Enforcers;
pub(crate) use self::enforcers::Registration;
use self::generations::Generations;
use self::recipients::Recipients;
use self::shared_read::SharedReads;
use self::state::{CheckedStore, StateWatch};
pub use self::state::{StateCheck, StateError};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::device::KeyRing;
use crate::events::{EventHook, Events};
use crate::locale::Locale;
use crate::mail::Mailer;
use crate::secret::Secret;
use crate::store::Store;
use crate::ticket::{TicketId, TicketKey};

mod background;
mod bind;
mod challenge;
mod claim;
mod client;
mod enforcers;
mod family_report;
mod generations;
mod hand_off;
mod keys;
mod limits;
mod outbox;
mod outcome;
mod recipients;
mod revocation;
mod seats;
mod send;
mod shared_read;
mod state;
mod support;
pub(crate) mod transfer;
mod verify;

pub use self::family_report::FamilyReport;
pub(crate) use self::keys::Keys;
pub use self::limits::Limits;
pub use self::outcome::{Challenge, ChallengeState, Rejection, Revoked, Sent, Verified};
pub use self::send::SendRequest;
pub use self::support::{Rebound, TicketReport, Unbound};
pub use crate::code::CodeFormatError;
pub use crate::mail::outbox::{Delivery, OutboxSettings};

/// The challenge flow of every ticket, shared by all requests (cheap to clone).
///
/// [`OtpLayer`](crate::OtpLayer) drives it from HTTP; an application can also
/// use it directly (a native app's backend, pre-binding the purchaser's
/// address, revoking devices).
///
/// ```
/// use tower_otp::{testing::CapturingMailer, Flow, Locale, testing::ManualClock, MemoryStore, Secret, flow::SendRequest, TicketId};
///
/// # tokio_test_block_on(async {
/// let mailer = CapturingMailer::new();
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
///     .with_clock(ManualClock::starting_now())
///     .with_site_name("Example Tickets");
/// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
///
/// flow.send(&ticket, SendRequest::new(Locale::En).with_email("taro@example.com")).await?;
/// let code = mailer.last_code().expect("a code was sent");
/// let verified = flow.verify(&ticket, &code).await?;
/// assert!(verified.newly_bound);
/// # Ok::<(), tower_otp::flow::Rejection>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a flow does nothing until a layer or the application uses it"]
pub struct Flow {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    /// The store as given (metered with the `metrics` feature).
    raw_store: Arc<dyn Store>,
    /// The same, behind the check of its state record ([`CheckedStore`]):
    /// what every operation uses.
    store: Arc<dyn Store>,
    /// What this process knows of the store's state record.
    state: Arc<StateWatch>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    keys: Keys,
    /// The default device-token key ring, derived from the secret.
    device_keys: KeyRing,
    limits: Limits,
    site_name: String,
    site_origin: Option<String>,
    events: Events,
    notify_new_device: bool,
    /// Only addresses the application pre-bound are bound (off: the first
    /// verified address is, as in the seed).
    require_prebound: bool,
    default_locale: Locale,
    /// Mail sent in the background (the new-device notice), shared by every clone.
    background: Arc<Background>,
    /// The live layers over this flow, by whether they check revocation;
    /// shared by every clone.
    enforcers: Arc<Enforcers>,
    /// The generations of recently seen tickets; shared by every clone.
    generations: Arc<Generations>,
    /// Generation reads in flight, shared by the requests that wait on them.
    generation_reads: Arc<SharedReads>,
    /// Where recently seen tickets' codes go; shared by every clone.
    recipients: Arc<Recipients>,
    /// The outbox code mails queue in (none: mailed before `send` returns).
    outbox: self::outbox::CodeOutbox,
    /// Which tickets belong together (none: every ticket is its own).
    families: Option<crate::family::Families>,
    /// What hand-offs of a family's seats may do.
    hand_off_rules: crate::family::HandOffRules,
    /// What transfers may do.
    transfer_rules: self::transfer::terms::TransferRules,
    /// Whether recently seen seats were handed over; shared by every clone.
    seats: Arc<self::seats::Seats>,
    /// Seat reads in flight, shared by the requests that wait on them.
    seat_reads: Arc<SharedReads>,
}

impl Flow {
    /// A flow over `store` and `mailer`, with keys derived from `secret`, the
    /// system clock, default [`Limits`], site name `"tower-otp"`, and new-device
    /// notices on.
    pub fn new(secret: &Secret, store: impl Store, mailer: impl Mailer) -> Self {
        #[cfg(feature = "metrics")]
        let (store, mailer) = (
            crate::metrics::MeteredStore(store),
            crate::metrics::MeteredMailer(mailer),
        );
        let keys = Keys::derive(secret);
        let raw_store: Arc<dyn Store> = Arc::new(store);
        let state = Arc::new(StateWatch::new(keys.state));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            inner: Arc::new(Inner {
                store: Arc::new(CheckedStore {
                    inner: Arc::clone(&raw_store),
                    watch: Arc::clone(&state),
                    clock: Arc::clone(&clock),
                }),
                raw_store,
                state,
                mailer: Arc::new(mailer),
                clock,
                keys,
                device_keys: KeyRing::derived(secret),
                limits: Limits::default(),
                site_name: "tower-otp".to_owned(),
                site_origin: None,
                events: Events::default(),
                notify_new_device: true,
                require_prebound: false,
                default_locale: Locale::default(),
                background: Arc::default(),
                enforcers: Arc::default(),
                // 100,000 tickets: about 6 MB at most.
                generations: Arc::new(Generations::new(100_000)),
                generation_reads: Arc::default(),
                outbox: Default::default(),
                // 100,000 tickets: about 15 MB at most.
                recipients: Arc::new(Recipients::new(100_000)),
                families: None,
                hand_off_rules: crate::family::HandOffRules::default(),
                transfer_rules: self::transfer::terms::TransferRules::default(),
                seats: Arc::new(self::seats::Seats::new(100_000)),
                seat_reads: Arc::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Uses `clock` for time. Default: [`SystemClock`]; tests use
    /// [`ManualClock`](crate::testing::ManualClock) (feature `test-util`).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    /// use tower_otp::{Clock, testing::ManualClock};
    ///
    /// let clock = ManualClock::starting_now();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_clock(clock.clone());
    /// assert_eq!(flow.now(), clock.now());
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.edit(|i| {
            i.clock = Arc::new(clock);
            i.store = Arc::new(CheckedStore {
                inner: Arc::clone(&i.raw_store),
                watch: Arc::clone(&i.state),
                clock: Arc::clone(&i.clock),
            });
        })
    }

    /// Uses `limits`. Default: [`Limits::default`] (each default is on its setter).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    /// use tower_otp::Limits;
    ///
    /// let limits = Limits::default().with_max_attempts(3)?;
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_limits(limits);
    /// assert_eq!(flow.limits().max_attempts(), 3);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_limits(self, limits: Limits) -> Self {
        self.edit(|i| i.limits = limits)
    }

    /// The site name e-mails and pages show. Default `"tower-otp"`.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// assert_eq!(flow.site_name(), "tower-otp");
    /// assert_eq!(flow.with_site_name("Example Tickets").site_name(), "Example Tickets");
    /// ```
    pub fn with_site_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|i| i.site_name = name)
    }

    /// The site's canonical origin (`https://tickets.example.com`), shown in
    /// e-mails; never taken from the request. Default: none.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_site_origin("https://tickets.example.com");
    /// # drop(flow);
    /// ```
    pub fn with_site_origin(self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.edit(|i| i.site_origin = Some(origin))
    }

    /// Calls `hook` with every [`OtpEvent`](crate::OtpEvent). Default: none (events still go to `tracing`).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    /// use tower_otp::OtpEvent;
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_event_hook(|event: &OtpEvent| println!("{event:?}"));
    /// # drop(flow);
    /// ```
    pub fn with_event_hook(self, hook: impl EventHook) -> Self {
        let hook: Arc<dyn EventHook> = Arc::new(hook);
        self.edit(|i| i.events = Events::new(Some(hook)))
    }

    /// Whether to e-mail the bound address when another device is verified:
    /// a device verified on a bound ticket where an earlier device exists (a
    /// claimed first device, or one verified before). The first device to
    /// verify a pre-bound ticket is not news and gets no notice. Default: on
    /// (NIST SP 800-63B §4.6).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_new_device_notice(false);
    /// # drop(flow);
    /// ```
    pub fn with_new_device_notice(self, on: bool) -> Self {
        self.edit(|i| i.notify_new_device = on)
    }

    /// Whether a ticket can be bound only by the application
    /// ([`pre_bind`](Flow::pre_bind), [`rebind`](Flow::rebind)), never by an
    /// address typed on a device. Default: off, the seed's behaviour: the
    /// first address verified for an unbound ticket is bound to it for good.
    ///
    /// Off, an unbound ticket belongs to whoever verifies first: a stranger
    /// holding a forwarded link types their own address, verifies, and owns
    /// the ticket; the buyer's next device then needs the stranger's mailbox.
    /// Pre-bind every ticket you sell, and turn this on so a ticket you did
    /// not pre-bind cannot be taken that way.
    ///
    /// On, [`send`](Flow::send) and [`verify`](Flow::verify) refuse an
    /// unbound ticket with [`Rejection::NotPrebound`] before anything is sent,
    /// counted or bound (a verify then reads the ticket first: one more store
    /// read), and its challenge is [`ChallengeState::NotPrebound`]: the pages
    /// answer `403` and say to open the ticket from the purchase e-mail or ask
    /// the seller (JSON: `"error": "not_prebound"`). Pre-bound tickets work as
    /// before, and the first device of an unbound ticket is still trusted
    /// ([`FirstDevice::Trust`](crate::FirstDevice::Trust) or `Confirm`, on
    /// the layer); with [`FirstDevice::Challenge`](crate::FirstDevice::Challenge)
    /// only pre-bound tickets open at all. The setting lives on the flow,
    /// not the layer, so an application driving the flow without HTTP is held
    /// to it too.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, flow::Rejection, Secret, flow::SendRequest, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
    ///     .with_require_prebound(true);
    /// assert!(flow.requires_prebound());
    ///
    /// // A forwarded link to an order nobody pre-bound: nothing is sent.
    /// let forwarded = flow.ticket_key(&TicketId::new("forwarded-order"));
    /// let typed = SendRequest::new(Locale::En).with_email("stranger@example.com");
    /// assert!(matches!(flow.send(&forwarded, typed).await, Err(Rejection::NotPrebound)));
    /// assert_eq!(mailer.count(), 0);
    ///
    /// // A sold order, pre-bound at checkout: its buyer verifies as usual.
    /// let sold = flow.ticket_key(&TicketId::new("sold-order"));
    /// flow.pre_bind(&sold, &EmailAddress::parse("buyer@example.com").unwrap()).await?;
    /// flow.send(&sold, SendRequest::new(Locale::En)).await?;
    /// flow.verify(&sold, &mailer.last_code().unwrap()).await?;
    /// # Ok::<(), tower_otp::flow::Rejection>(())
    /// # }).unwrap();
    /// ```
    pub fn with_require_prebound(self, on: bool) -> Self {
        self.edit(|i| i.require_prebound = on)
    }

    /// Whether only pre-bound addresses are bound
    /// ([`with_require_prebound`](Flow::with_require_prebound)).
    pub fn requires_prebound(&self) -> bool {
        self.inner.require_prebound
    }

    /// The fallback language: of pages when neither the visitor's choice nor
    /// `Accept-Language` picks an enabled one, and of notices to a bound
    /// address whose language is not known (bound by
    /// [`pre_bind`](Flow::pre_bind) without one, or before tower-otp
    /// remembered it). Default:
    /// [`Locale::En`].
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    /// use tower_otp::Locale;
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_default_locale(Locale::Ja);
    /// # drop(flow);
    /// ```
    pub fn with_default_locale(self, locale: Locale) -> Self {
        self.edit(|i| i.default_locale = locale)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The configured site name.
    pub fn site_name(&self) -> &str {
        &self.inner.site_name
    }

    /// The current time, from the flow's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The keyed hash that names `ticket` in stores, tokens and logs.
    pub fn ticket_key(&self, ticket: &TicketId) -> TicketKey {
        self.inner.keys.ticket.key(ticket)
    }

    /// The default language (pages fall back to it too).
    pub(crate) fn default_locale(&self) -> Locale {
        self.inner.default_locale
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Whether the store keeps its state across restarts ([`Store::is_durable`]).
    pub(crate) fn store_is_durable(&self) -> bool {
        self.inner.store.is_durable()
    }

    /// The origin e-mails show ([`Flow::with_site_origin`]), if any.
    pub(crate) fn site_origin(&self) -> Option<&str> {
        self.inner.site_origin.as_deref()
    }

    pub(crate) fn device_keys(&self) -> &KeyRing {
        &self.inner.device_keys
    }

    /// The refusal of an address for an unbound ticket
    /// ([`with_require_prebound`](Flow::with_require_prebound)), logged with
    /// the ticket's label only.
    fn not_prebound(&self, ticket: &TicketKey) -> Rejection {
        tracing::info!(
            ticket = ticket.label(),
            "refused: the ticket has no pre-bound address"
        );
        Rejection::NotPrebound
    }

    /// The store's state record was written with another secret: nothing
    /// passes (no store I/O: what the last check found).
    pub(crate) fn state_refused(&self) -> bool {
        self.inner.state.refused()
    }
}

/// The wait until `at`, at least one second (for `Retry-After`).
fn wait(now: Timestamp, at: Timestamp) -> Duration {
    let millis = at.saturating_since(now).as_millis();
    Duration::from_secs(
        u64::try_from(millis.div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1),
    )
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("limits", &self.inner.limits)
            .field("site_name", &self.inner.site_name)
            .field("require_prebound", &self.inner.require_prebound)
            .field("events", &self.inner.events)
            .finish_non_exhaustive()
    }
}
