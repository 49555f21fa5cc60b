//! The challenge flow: send, resend, verify and restart over a [`Store`], a
//! [`Mailer`] and a [`Clock`], pure of HTTP.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use self::client::client_network;
pub(crate) use self::enforcers::Registration;
use self::enforcers::{Enforcement, Enforcers};
use self::generations::Generations;
use self::shared_read::SharedReads;
use self::state::{CheckedStore, StateWatch};
pub use self::state::{StateCheck, StateError};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::code::Code;
use crate::device::KeyRing;
use crate::email::EmailAddress;
use crate::events::{EventHook, Events, OtpEvent};
use crate::locale::Locale;
use crate::mail::{MailKind, Mailer, OtpMail};
use crate::secret::Secret;
use crate::store::{
    AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, CounterKeys, IssueOutcome,
    IssueRequest, RestartOutcome, SendBudget, Store, StoreError, TicketSnapshot, VerifyOutcome,
    VerifyRequest,
};
use crate::ticket::{TicketId, TicketKey};

mod client;
mod enforcers;
mod generations;
mod keys;
mod limits;
mod outcome;
mod send;
mod shared_read;
mod state;
mod support;

pub(crate) use self::keys::Keys;
pub use self::limits::Limits;
pub use self::outcome::{Challenge, ChallengeState, Rejection, Revoked, Sent, Verified};
pub use self::send::SendRequest;
pub use self::support::{Rebound, TicketReport, Unbound};

/// The challenge flow of every ticket, shared by all requests (cheap to clone).
///
/// [`OtpLayer`](crate::OtpLayer) drives it from HTTP; an application can also
/// use it directly (a native app's backend, pre-binding the purchaser's
/// address, revoking devices).
///
/// ```
/// use tower_otp::{CapturingMailer, Flow, Locale, ManualClock, MemoryStore, Secret, SendRequest, TicketId};
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
/// # Ok::<(), tower_otp::Rejection>(())
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
}

/// Counts the mail in flight in the background, so tests can wait for it.
#[derive(Debug, Default)]
struct Background {
    in_flight: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
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
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Uses `clock` for time. Default: [`SystemClock`]; tests use
    /// [`ManualClock`](crate::ManualClock) (feature `test-util`).
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
    /// use tower_otp::{Clock, ManualClock};
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
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
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
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
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
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_site_origin("https://tickets.example.com");
    /// # drop(flow);
    /// ```
    pub fn with_site_origin(self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.edit(|i| i.site_origin = Some(origin))
    }

    /// Calls `hook` with every [`OtpEvent`]. Default: none (events still go to `tracing`).
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
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
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
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
    /// use tower_otp::{CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Rejection, Secret, SendRequest, TicketId};
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
    /// # Ok::<(), tower_otp::Rejection>(())
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
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
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

    /// The key of one of `ip`'s client counters (by its IPv4 address, or its
    /// IPv6 /64): `purpose` keeps its sends and its claims apart.
    fn client_key(&self, purpose: &[u8], ip: IpAddr) -> AddressKey {
        let (network, len) = client_network(ip);
        let full = self.inner.keys.address.sign(&[purpose, &network[..len]]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&full[..16]);
        AddressKey::from_bytes(bytes)
    }

    /// The keys of the send counters for `address` asked for by `client`:
    /// its normalised mailbox ([`EmailAddress::mailbox`]) for strangers and
    /// for its owner, its domain (unless the provider's spellings are all
    /// known), the site, and the client's network, each under its own label.
    fn counter_keys(&self, address: &EmailAddress, client: Option<IpAddr>) -> CounterKeys {
        let key = |parts: &[&[u8]]| {
            let full = self.inner.keys.address.sign(parts);
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&full[..16]);
            AddressKey::from_bytes(bytes)
        };
        let mailbox = address.mailbox();
        let keys = CounterKeys::new(
            key(&[b"mailbox", mailbox.as_bytes()]),
            key(&[b"owner", mailbox.as_bytes()]),
            key(&[b"domain", address.mailbox_domain().as_bytes()]),
            key(&[b"site"]),
        )
        .with_client(client.map(|ip| self.client_key(b"client sends", ip)));
        if address.spellings_known() {
            keys.without_domain()
        } else {
            keys
        }
    }

    /// Where the ticket's challenge stands (a read; changes nothing).
    ///
    /// # Errors
    /// The store's error.
    pub async fn challenge(&self, ticket: &TicketKey) -> Result<Challenge, StoreError> {
        Ok(self.lookup(ticket).await?.0)
    }

    fn view(&self, s: &TicketSnapshot, now: Timestamp) -> Challenge {
        let locked_until = s.locked_until.filter(|until| *until > now);
        let live = !s.live_codes.is_empty() && !s.exhausted;
        let address = s.binding.as_ref().or(s.pending.as_ref());
        let not_prebound = self.inner.require_prebound && s.binding.is_none();
        let state = if not_prebound {
            ChallengeState::NotPrebound
        } else if locked_until.is_some() {
            ChallengeState::Locked
        } else if live {
            ChallengeState::CodeSent
        } else if address.is_some() {
            ChallengeState::SendRequired
        } else {
            ChallengeState::EmailRequired
        };
        let max = self.inner.limits.max_attempts();
        Challenge {
            state,
            bound: s.binding.is_some(),
            masked_address: address.map(EmailAddress::masked),
            expires_at: if live {
                s.live_codes.iter().map(|c| c.expires_at).max()
            } else {
                None
            },
            resend_at: self
                .inner
                .limits
                .policy()
                .next_send_at(&s.recent_sends)
                .filter(|at| *at > now),
            attempts_left: if s.exhausted {
                0
            } else {
                max.saturating_sub(s.attempts_used)
            },
            locked_until,
            exhausted: s.exhausted,
            expired: s.live_codes.is_empty() && s.had_codes,
            claimable: !s.claimed && s.binding.is_none() && !self.inner.state.first_devices_held(),
            now,
        }
    }

    /// The challenge and the ticket's revocation generation, in one read.
    pub(crate) async fn lookup(&self, ticket: &TicketKey) -> Result<(Challenge, u64), StoreError> {
        let (snapshot, now) = self.snapshot(ticket).await?;
        Ok((self.view(&snapshot, now), snapshot.generation))
    }

    /// The ticket as the store has it now (one read), with that "now"; the
    /// generation it holds refreshes this instance's revocation cache.
    async fn snapshot(
        &self,
        ticket: &TicketKey,
    ) -> Result<(TicketSnapshot, Timestamp), StoreError> {
        let now = self.now();
        let snapshot = self
            .inner
            .store
            .load(ticket, now, self.inner.limits.policy())
            .await?;
        self.inner
            .generations
            .record(ticket, Some(snapshot.generation), now);
        Ok((snapshot, now))
    }

    /// The generation this instance last read for `ticket`, trusted for
    /// `ttl`; a stale one is read again in the background (counted by
    /// [`Flow::settled`]). No store I/O on the caller's path; `now` is the
    /// caller's reading of the clock. `None`: this instance has no reading
    /// (never read, evicted, or its read failed), and the caller reads it
    /// before anything passes ([`Flow::shared_generation`]).
    pub(crate) fn known_generation(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        ttl: Duration,
    ) -> Option<u64> {
        let known = self.inner.generations.known(ticket, now, ttl);
        if known.refresh && known.generation.is_some() {
            let flow = self.clone();
            let ticket = *ticket;
            self.spawn_background(async move {
                if let Err(error) = flow.read_generation(&ticket, now).await {
                    tracing::warn!(ticket = ticket.label(), %error, "generation not refreshed");
                }
            });
        }
        known.generation
    }

    /// The ticket's generation from the store, for a device whose ticket
    /// this instance has no reading of: one read, shared by every request
    /// that waits for it at the same time, and recorded for the ones after.
    /// `None` when the store failed (logged).
    pub(crate) async fn shared_generation(&self, ticket: &TicketKey) -> Option<u64> {
        let read = async {
            self.read_generation(ticket, self.now())
                .await
                .map_err(|error| {
                    tracing::error!(ticket = ticket.label(), %error, "store unavailable");
                })
                .ok()
        };
        self.inner.generation_reads.read(ticket, read).await
    }

    /// Reads the ticket's generation as of `now` and records what was read
    /// in this instance's cache (a failed read as failed), timed from `now`.
    async fn read_generation(&self, ticket: &TicketKey, now: Timestamp) -> Result<u64, StoreError> {
        let read = self
            .inner
            .store
            .load(ticket, now, self.inner.limits.policy())
            .await
            .map(|snapshot| snapshot.generation);
        self.inner
            .generations
            .record(ticket, read.as_ref().ok().copied(), now);
        read
    }

    /// The ticket's revocation generation (device tokens from an older one are revoked).
    ///
    /// # Errors
    /// The store's error.
    pub async fn generation(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        Ok(self.snapshot(ticket).await?.0.generation)
    }

    /// Trusts the first device of an unclaimed, unbound ticket. Returns the
    /// generation for its device token, or `None` if the ticket was claimed
    /// or bound already.
    ///
    /// The ticket is taken as one the application vouches for: its claim
    /// lasts the [claim lifetime](Limits::with_claim_lifetime).
    ///
    /// # Errors
    /// The store's error.
    pub async fn claim_first_device(&self, ticket: &TicketKey) -> Result<Option<u64>, StoreError> {
        let now = self.now();
        let request = ClaimRequest::new(ticket, now, self.inner.limits.policy());
        self.claim(&request).await
    }

    /// [`claim_first_device`](Self::claim_first_device) for a ticket id no
    /// validator vouched for, asked by `client`: the claim lapses sooner and
    /// counts against the client's budget of such claims (refused at it:
    /// `None`, as for a claimed ticket).
    pub(crate) async fn claim_unvouched(
        &self,
        ticket: &TicketKey,
        client: Option<IpAddr>,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.now();
        let request = ClaimRequest::new(ticket, now, self.inner.limits.policy())
            .unvouched(client.map(|ip| self.client_key(b"client claims", ip)));
        self.claim(&request).await
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Option<u64>, StoreError> {
        match self.inner.store.claim_first_device(request).await? {
            ClaimOutcome::Claimed { generation } => {
                self.inner.events.emit(OtpEvent::FirstDeviceClaimed {
                    ticket: *request.ticket,
                });
                Ok(Some(generation))
            }
            ClaimOutcome::Throttled { retry_at } => {
                self.inner.events.emit(OtpEvent::ClaimThrottled {
                    ticket: *request.ticket,
                    retry_at,
                    budget: SendBudget::Client,
                });
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Sends a code (Send and Resend): to the bound address if there is one
    /// (a typed address is then ignored), else to the typed address, else to
    /// the pending one. Within the limits; a mail failure withdraws the code
    /// and counts nothing.
    ///
    /// # Errors
    /// A [`Rejection`] saying why nothing was sent:
    /// [`Rejection::NotPrebound`] for an unbound ticket when the flow
    /// [requires pre-bound addresses](Flow::with_require_prebound).
    pub async fn send(
        &self,
        ticket: &TicketKey,
        request: SendRequest<'_>,
    ) -> Result<Sent, Rejection> {
        let inner = &self.inner;
        let now = self.now();
        let policy = inner.limits.policy();
        // Read first, then issue: a typed address on a bound ticket is never
        // compared with the binding, so neither the answer nor its timing says
        // whether it was the bound one (checklist 6.3).
        let snapshot = inner.store.load(ticket, now, policy).await?;
        if snapshot.binding.is_none() && inner.require_prebound {
            return Err(self.not_prebound(ticket));
        }
        let address = match (&snapshot.binding, request.email, &snapshot.pending) {
            (Some(bound), _, _) => bound.clone(),
            (None, Some(typed), _) => {
                EmailAddress::parse(typed).map_err(Rejection::InvalidAddress)?
            }
            (None, None, Some(pending)) => pending.clone(),
            (None, None, None) => return Err(Rejection::AddressRequired),
        };
        let code = Code::generate(inner.limits.code_digits());
        let hash = code.hash(&inner.keys.code, ticket);
        let keys = self.counter_keys(&address, request.client);
        let issue = IssueRequest::new(ticket, &address, &keys, &hash, now, policy);
        let (expires_at, resend_at) = match inner.store.issue_code(&issue).await? {
            IssueOutcome::Issued {
                expires_at,
                next_send_at,
            } => (expires_at, next_send_at),
            IssueOutcome::TicketThrottled { retry_at } => {
                return Err(self.throttled(ticket, now, retry_at, SendBudget::Ticket));
            }
            IssueOutcome::AddressThrottled { retry_at, budget } => {
                return Err(self.throttled(ticket, now, retry_at, budget));
            }
            IssueOutcome::Locked { until } => {
                return Err(Rejection::Locked {
                    until,
                    retry_after: wait(now, until),
                });
            }
            IssueOutcome::BoundElsewhere => return Err(Rejection::Bound),
        };
        let mail = OtpMail::new(
            address.clone(),
            MailKind::Code {
                code,
                valid_for: policy.code_ttl,
            },
            request.locale,
            inner.site_name.clone(),
        )
        .with_site_origin(inner.site_origin.clone())
        .with_ticket_hint(request.ticket_hint.map(str::to_owned));
        if let Err(error) = inner.mailer.send(&mail).await {
            inner.events.emit(OtpEvent::MailFailed { ticket: *ticket });
            tracing::warn!(ticket = ticket.label(), error = %error, "withdrawing the undelivered code");
            if let Err(withdraw) = inner.store.withdraw_code(&issue).await {
                tracing::error!(ticket = ticket.label(), error = %withdraw, "could not withdraw an undelivered code");
            }
            return Err(Rejection::MailFailed(error));
        }
        let to = address.masked();
        inner.events.emit(OtpEvent::CodeSent {
            ticket: *ticket,
            to: to.clone(),
        });
        Ok(Sent {
            to,
            expires_at,
            resend_at,
        })
    }

    /// Checks a code typed by a person, without a page language: the bound
    /// locale stays as it is (see [`verify_in`](Flow::verify_in), which the
    /// layer uses). On success the code's address is bound (if the ticket
    /// was unbound) and the layer mints a device token.
    ///
    /// # Errors
    /// A [`Rejection`]: format errors, expired or missing codes and lockouts
    /// count nothing; wrong codes count against the round's budget. An
    /// unbound ticket is [`Rejection::NotPrebound`] when the flow
    /// [requires pre-bound addresses](Flow::with_require_prebound).
    pub async fn verify(&self, ticket: &TicketKey, input: &str) -> Result<Verified, Rejection> {
        self.verify_with(ticket, input, None).await
    }

    /// Checks a code typed on a page in `locale`, as [`verify`](Flow::verify)
    /// does, and on success remembers `locale` as the language of the bound
    /// address. The new-device notice that a success may send to the bound
    /// address goes out in the language that address used before (the bound
    /// locale as it was, falling back to the
    /// [default](Flow::with_default_locale)), never in the new device's.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, Flow, Locale, MemoryStore, Secret, SendRequest, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// flow.send(&ticket, SendRequest::new(Locale::Ko).with_email("minji@example.com")).await?;
    /// let verified = flow.verify_in(&ticket, &mailer.last_code().unwrap(), Locale::Ko).await?;
    /// assert!(verified.newly_bound);
    /// assert_eq!(flow.inspect(&ticket).await?.bound_locale, Some(Locale::Ko));
    /// # Ok::<(), tower_otp::Rejection>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`verify`](Flow::verify).
    pub async fn verify_in(
        &self,
        ticket: &TicketKey,
        input: &str,
        locale: Locale,
    ) -> Result<Verified, Rejection> {
        self.verify_with(ticket, input, Some(locale)).await
    }

    async fn verify_with(
        &self,
        ticket: &TicketKey,
        input: &str,
        locale: Option<Locale>,
    ) -> Result<Verified, Rejection> {
        let inner = &self.inner;
        // Codes on a bound ticket verify only its bound address (the store
        // voids any other), and one cannot be unbound but by support, which
        // drops its codes: a binding read here cannot be lost before the
        // verify below.
        if inner.require_prebound {
            let snapshot = inner
                .store
                .load(ticket, self.now(), inner.limits.policy())
                .await?;
            if snapshot.binding.is_none() {
                return Err(self.not_prebound(ticket));
            }
        }
        let code = Code::normalize(input, inner.limits.code_digits()).map_err(|error| {
            count_verification("invalid");
            Rejection::InvalidCode(error)
        })?;
        let hash = code.hash(&inner.keys.code, ticket);
        let now = self.now();
        let request =
            VerifyRequest::new(ticket, &hash, now, inner.limits.policy()).with_locale(locale);
        match inner.store.verify_code(&request).await? {
            VerifyOutcome::Verified {
                address,
                newly_bound,
                earlier_device,
                generation,
                previous_locale,
                ..
            } => {
                count_verification("verified");
                inner.events.emit(OtpEvent::Verified {
                    ticket: *ticket,
                    newly_bound,
                });
                // News only when another device already had the ticket: the
                // first device to verify a pre-bound address is its owner's.
                if !newly_bound && earlier_device && inner.notify_new_device {
                    let locale = previous_locale.unwrap_or(inner.default_locale);
                    self.notify_new_device(address, now, locale);
                }
                Ok(Verified {
                    generation,
                    newly_bound,
                })
            }
            VerifyOutcome::Wrong {
                attempts_left,
                locked_until,
            } => {
                count_verification("wrong");
                #[cfg(feature = "metrics")]
                crate::metrics::wrong_code(
                    inner.limits.max_attempts().saturating_sub(attempts_left),
                );
                inner.events.emit(OtpEvent::VerifyFailed {
                    ticket: *ticket,
                    attempts_left,
                });
                if let Some(until) = locked_until {
                    inner.events.emit(OtpEvent::Locked {
                        ticket: *ticket,
                        until,
                    });
                    return Err(Rejection::Locked {
                        until,
                        retry_after: wait(now, until),
                    });
                }
                Err(Rejection::WrongCode { attempts_left })
            }
            VerifyOutcome::Expired => {
                count_verification("expired");
                Err(Rejection::Expired)
            }
            VerifyOutcome::NoCode => {
                count_verification("no_code");
                Err(Rejection::NoCode)
            }
            VerifyOutcome::Exhausted => {
                count_verification("exhausted");
                Err(Rejection::TooManyAttempts)
            }
            VerifyOutcome::Locked { until } => {
                count_verification("locked");
                Err(Rejection::Locked {
                    until,
                    retry_after: wait(now, until),
                })
            }
        }
    }

    /// The refusal of an address for an unbound ticket
    /// ([`with_require_prebound`](Flow::with_require_prebound)), logged with
    /// the ticket's label only.
    /// A send refused by `budget` until `retry_at`: said as an event (with
    /// the budget's name, for logs and metrics) and as a rejection (without
    /// it, for the page).
    fn throttled(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        retry_at: Timestamp,
        budget: SendBudget,
    ) -> Rejection {
        self.inner.events.emit(OtpEvent::SendThrottled {
            ticket: *ticket,
            retry_at,
            budget,
        });
        Rejection::Throttled {
            retry_after: wait(now, retry_at),
        }
    }

    fn not_prebound(&self, ticket: &TicketKey) -> Rejection {
        tracing::info!(
            ticket = ticket.label(),
            "refused: the ticket has no pre-bound address"
        );
        Rejection::NotPrebound
    }

    fn notify_new_device(&self, to: EmailAddress, at: Timestamp, locale: Locale) {
        self.mail_in_background(to, MailKind::NewDevice { at }, locale, "new-device notice");
    }

    /// Sends a notice (no code) in the background; a failure is logged.
    fn mail_in_background(
        &self,
        to: EmailAddress,
        kind: MailKind,
        locale: Locale,
        what: &'static str,
    ) {
        let inner = &self.inner;
        let mail = OtpMail::new(to, kind, locale, inner.site_name.clone())
            .with_site_origin(inner.site_origin.clone());
        let mailer = Arc::clone(&inner.mailer);
        self.spawn_background(async move {
            if let Err(error) = mailer.send(&mail).await {
                tracing::warn!(error = %error, what, "notice not delivered");
            }
        });
    }

    /// Runs `task` in the background, counted until it ends (see [`Flow::settled`]).
    fn spawn_background(&self, task: impl Future<Output = ()> + Send + 'static) {
        let background = Arc::clone(&self.inner.background);
        let counted = async move {
            task.await;
            if background.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                background.idle.notify_waiters();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                self.inner
                    .background
                    .in_flight
                    .fetch_add(1, Ordering::AcqRel);
                drop(handle.spawn(counted));
            }
            Err(_) => tracing::warn!("no tokio runtime: background work skipped"),
        }
    }

    /// Waits until everything this flow does in the background has ended:
    /// mail (the new-device notice) handed to the mailer or failed, and
    /// revocation generations read. A
    /// test that counts mails calls it first, instead of yielding or sleeping.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// flow.settled().await; // nothing in flight: returns at once
    /// # });
    /// ```
    pub async fn settled(&self) {
        let background = &self.inner.background;
        loop {
            let idle = background.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if background.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Forgets the pending address and its codes so another address can be
    /// entered (unbound tickets only). The attempt budget is kept.
    ///
    /// # Errors
    /// [`Rejection::Bound`] for bound tickets, or the store's error.
    pub async fn restart(&self, ticket: &TicketKey) -> Result<(), Rejection> {
        match self.inner.store.restart(ticket, self.now()).await? {
            RestartOutcome::Restarted => {
                self.inner
                    .events
                    .emit(OtpEvent::Restarted { ticket: *ticket });
                Ok(())
            }
            RestartOutcome::Bound => Err(Rejection::Bound),
        }
    }

    /// Binds an address the application already knows (the purchaser's)
    /// before anyone verifies. A pre-bound ticket has no first-device trust:
    /// every device verifies by a code sent to this address. The owner's
    /// language is not known until they verify from a page; until then a
    /// new-device notice goes out in the [default](Flow::with_default_locale)
    /// (see [`pre_bind_in`](Flow::pre_bind_in)).
    ///
    /// # Errors
    /// The store's error.
    pub async fn pre_bind(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
    ) -> Result<BindOutcome, StoreError> {
        self.pre_bind_with(ticket, address, None).await
    }

    /// [`pre_bind`](Flow::pre_bind), with the owner's language (the one of
    /// their order, say): a new-device notice goes out in it until they
    /// verify from a page in another.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let buyer = EmailAddress::parse("wang@example.com").unwrap();
    /// flow.pre_bind_in(&ticket, &buyer, Locale::ZhHant).await?;
    /// assert_eq!(flow.inspect(&ticket).await?.bound_locale, Some(Locale::ZhHant));
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn pre_bind_in(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Locale,
    ) -> Result<BindOutcome, StoreError> {
        self.pre_bind_with(ticket, address, Some(locale)).await
    }

    async fn pre_bind_with(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Option<Locale>,
    ) -> Result<BindOutcome, StoreError> {
        let request = BindRequest::new(ticket, address, self.now()).with_locale(locale);
        let outcome = self.inner.store.bind(&request).await?;
        if outcome == BindOutcome::Bound {
            self.inner
                .events
                .emit(OtpEvent::PreBound { ticket: *ticket });
        }
        Ok(outcome)
    }

    /// Revokes every device token of the ticket issued so far. They stop
    /// passing only where a layer over this flow checks revocation
    /// ([`OtpLayer::with_revocation`](crate::OtpLayer::with_revocation)):
    /// [`Revoked::enforced`] says whether every live layer over this flow
    /// does, and a warning is logged when they do not.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, Flow, MemoryStore, OtpLayer, Revocation, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced);
    /// let layer = OtpLayer::new(flow.clone()); // revocation cached by default
    /// assert!(flow.revoke_devices(&ticket).await?.enforced);
    /// let off = OtpLayer::new(flow.clone()).with_revocation(Revocation::Off);
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced);
    /// drop((layer, off));
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced); // no layer at all
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn revoke_devices(&self, ticket: &TicketKey) -> Result<Revoked, StoreError> {
        let generation = self.inner.store.revoke_devices(ticket).await?;
        self.inner.events.emit(OtpEvent::DevicesRevoked {
            ticket: *ticket,
            generation,
        });
        // This instance refuses the revoked devices from their next request.
        self.inner
            .generations
            .record(ticket, Some(generation), self.now());
        let enforced = self.warn_unless_enforced(ticket);
        Ok(Revoked {
            generation,
            enforced,
        })
    }

    /// Whether every live layer over this flow refuses revoked devices; a
    /// warning names the cause when they do not.
    pub(crate) fn warn_unless_enforced(&self, ticket: &TicketKey) -> bool {
        match self.inner.enforcers.enforcement() {
            Enforcement::Enforced => true,
            Enforcement::NoLayer => {
                tracing::warn!(
                    ticket = ticket.label(),
                    "devices revoked in the store, but no layer over this flow is serving: \
                     nothing here refuses their cookies"
                );
                false
            }
            Enforcement::SomeLayerOff => {
                tracing::warn!(
                    ticket = ticket.label(),
                    "devices revoked in the store, but a layer over this flow does not check \
                     revocation: their cookies pass it until they expire \
                     (OtpLayer::with_revocation)"
                );
                false
            }
        }
    }

    /// The store's state record was written with another secret: nothing
    /// passes (no store I/O: what the last check found).
    pub(crate) fn state_refused(&self) -> bool {
        self.inner.state.refused()
    }

    /// Counts a layer's settings among this flow's layers while they live
    /// (`checks`: it checks revocation).
    pub(crate) fn register_layer(&self, checks: bool) -> Registration {
        Registration::new(&self.inner.enforcers, checks)
    }
}

/// Counts a code entry by its outcome (feature `metrics`).
fn count_verification(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    crate::metrics::verification(outcome);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
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
