//! [`OtpLayer`]: the builder, and the [`Layer`] that wraps a service.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::clock::Clock;
use crate::config::Config;
use crate::decision::FirstDevice;
use crate::device::{DeviceConfigError, DeviceTokens, KeyRing};
use crate::events::EventHook;
use crate::flow::{ConfigError, Flow, Limits};
use crate::mail::Mailer;
use crate::pages::Pages;
use crate::secret::Secret;
use crate::service::OtpService;
use crate::store::Store;
use crate::ticket::{PathPattern, TicketId, TicketSource};

/// Protects the routes of a ticket with device verification by e-mailed
/// one-time password.
///
/// Build it once with [`OtpLayer::new`] and the `with_*` setters (each
/// states its default), then apply it to a router. By default the ticket is
/// the `{ticket}` segment of `/tickets/{ticket}`.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_otp::{MemoryStore, OtpLayer, Secret};
/// # use tower_otp::CapturingMailer as SmtpMailer;
///
/// let secret = Secret::random(); // in production: Secret::from_hex(&env_var)?
/// let mailer = SmtpMailer::new(); // SmtpMailer::from_url(..) in production
/// let otp = OtpLayer::new(&secret, MemoryStore::new(), mailer).with_site_name("Example Tickets");
/// let app: Router = Router::new()
///     .route("/tickets/{ticket}", get(|| async { "your ticket" }))
///     .layer(otp);
/// ```
#[derive(Debug, Clone)]
pub struct OtpLayer<T = PathPattern> {
    config: Arc<Config>,
    source: T,
}

impl OtpLayer {
    /// A layer whose codes go through `mailer` and whose state lives in
    /// `store`, with every key derived from `secret` (the device-token
    /// signing key included: see [`OtpLayer::with_key_ring`] to rotate it).
    pub fn new(secret: &Secret, store: impl Store, mailer: impl Mailer) -> Self {
        let flow = Flow::new(secret, store, mailer);
        Self::from_flow(flow, KeyRing::derived(secret))
    }

    /// A layer over an existing [`Flow`] (so the application can share it for
    /// pre-binding and revocation), signing device tokens with `keys`.
    pub fn from_flow(flow: Flow, keys: KeyRing) -> Self {
        let source = PathPattern::new("/tickets/{ticket}").expect("the default pattern is valid");
        Self {
            config: Arc::new(Config::new(flow, DeviceTokens::new(keys))),
            source,
        }
    }
}

impl<T> OtpLayer<T> {
    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    fn edit_flow(self, f: impl FnOnce(Flow) -> Flow) -> Self {
        self.edit(|c| c.flow = f(c.flow.clone()))
    }

    /// The flow, to pre-bind addresses or revoke devices from the application.
    pub fn flow(&self) -> &Flow {
        &self.config.flow
    }

    /// Takes the ticket from `source` instead. Default: the `{ticket}` segment
    /// of `/tickets/{ticket}`.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, MemoryStore, OtpLayer, Secret, TicketId};
    ///
    /// let otp = OtpLayer::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_ticket_source(|parts: &http::request::Parts| {
    ///         parts.headers.get("x-booking").and_then(|v| v.to_str().ok()).map(TicketId::from)
    ///     });
    /// # drop(otp);
    /// ```
    pub fn with_ticket_source<U: TicketSource>(self, source: U) -> OtpLayer<U> {
        OtpLayer {
            config: self.config,
            source,
        }
    }

    /// Takes the ticket from a path pattern such as `/e/{ticket}`.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, MemoryStore, OtpLayer, Secret};
    ///
    /// let otp = OtpLayer::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_ticket_path("/bookings/{ticket}")?;
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] for a pattern not of the form `/literal/.../{name}`.
    pub fn with_ticket_path(self, pattern: &str) -> Result<OtpLayer<PathPattern>, ConfigError> {
        Ok(self.with_ticket_source(PathPattern::new(pattern)?))
    }

    /// Takes the ticket from the matched route's path parameter `name`
    /// (feature `axum`). Use it with `Router::route_layer`, so the gate and
    /// the handler see the same ticket.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower_otp::{CapturingMailer, MemoryStore, OtpLayer, Secret};
    ///
    /// let otp = OtpLayer::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_ticket_param("id");
    /// let app: Router = Router::new()
    ///     .route("/t/{id}", get(|| async { "ticket" }))
    ///     .route_layer(otp);
    /// ```
    #[cfg(feature = "axum")]
    pub fn with_ticket_param(self, name: &str) -> OtpLayer<crate::ticket::PathParam> {
        self.with_ticket_source(crate::ticket::PathParam::new(name))
    }

    /// How the first browser to open a ticket is treated. Default:
    /// [`FirstDevice::Trust`] (after a cookie round-trip).
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, FirstDevice, MemoryStore, OtpLayer, Secret};
    ///
    /// let otp = OtpLayer::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_first_device(FirstDevice::Confirm);
    /// # drop(otp);
    /// ```
    pub fn with_first_device(self, mode: FirstDevice) -> Self {
        self.edit(|c| c.first_device = mode)
    }

    /// The limits of the flow. Default: [`Limits::default`] (6 digits, 5
    /// minutes, 3 live codes, 5 attempts, lockout after 20 failures...).
    pub fn with_limits(self, limits: Limits) -> Self {
        self.edit_flow(|f| f.with_limits(limits))
    }

    /// The clock. Default: the system clock. Tests use
    /// [`ManualClock`](crate::ManualClock).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.edit_flow(|f| f.with_clock(clock))
    }

    /// The site name in pages and e-mails. Default `"tower-otp"`.
    pub fn with_site_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit_flow(|f| f.with_site_name(name))
    }

    /// The canonical origin e-mails name. Default: none.
    pub fn with_site_origin(self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.edit_flow(|f| f.with_site_origin(origin))
    }

    /// Receives every event. Default: none (events still go to `tracing`).
    pub fn with_event_hook(self, hook: impl EventHook) -> Self {
        self.edit_flow(|f| f.with_event_hook(hook))
    }

    /// The fallback language: of pages when neither the visitor's choice nor
    /// `Accept-Language` picks an enabled one, and of messages sent outside a
    /// request (the new-device notice). Default: English.
    pub fn with_default_locale(self, locale: crate::Locale) -> Self {
        self.edit_flow(|f| f.with_default_locale(locale))
    }

    /// Whether to notify the bound address when another device is verified. Default: on.
    pub fn with_new_device_notice(self, on: bool) -> Self {
        self.edit_flow(|f| f.with_new_device_notice(on))
    }

    /// Signs device tokens with `keys` (its current key) and accepts its
    /// previous keys, for rotation without logging everyone out. Default: one
    /// key derived from the secret.
    pub fn with_key_ring(self, keys: KeyRing) -> Self {
        self.edit(|c| {
            let lifetime = c.tokens.lifetime();
            c.tokens = DeviceTokens::new(keys)
                .with_lifetime(lifetime)
                .expect("the lifetime was valid");
        })
    }

    /// How long a device stays verified. Default: 30 days (NIST SP 800-63B
    /// AAL1 re-verification); at most 400 days (browsers' cookie cap).
    ///
    /// # Errors
    /// [`DeviceConfigError`] outside 1 second to 400 days.
    pub fn with_device_lifetime(self, lifetime: Duration) -> Result<Self, DeviceConfigError> {
        let tokens = self.config.tokens.clone().with_lifetime(lifetime)?;
        let cookie = self.config.cookie.with_max_age(lifetime)?;
        Ok(self.edit(|c| {
            c.tokens = tokens;
            c.cookie = cookie;
        }))
    }

    /// Whether cookies are `Secure`. Default: `true`. Turn it off only to try
    /// the gate over plain `http://` on your own machine.
    pub fn with_cookie_secure(self, secure: bool) -> Self {
        self.edit(|c| c.cookie = c.cookie.with_secure(secure))
    }

    /// Renders pages with `pages`. Default: [`DefaultPages`](crate::pages::DefaultPages).
    pub fn with_pages(self, pages: impl Pages) -> Self {
        let pages: Arc<dyn Pages> = Arc::new(pages);
        self.edit(|c| c.pages = pages)
    }

    /// Tells e-mails which ticket they are about (an event name, a booking
    /// number; never needed, never a secret). Default: none.
    pub fn with_ticket_hint(
        self,
        hint: impl Fn(&TicketId) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.ticket_hint = Some(Arc::new(hint)))
    }

    /// Accepts POSTs whose `Origin` is one of these (for example an SPA on
    /// another origin using the JSON API). Default: only the request's own host.
    pub fn with_allowed_origins(
        self,
        origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let origins = origins.into_iter().map(Into::into).collect();
        self.edit(|c| c.allowed_origins = origins)
    }

    /// Accepts POSTs marked `Sec-Fetch-Site: same-site`. Default: refused, as
    /// any sibling subdomain could send them.
    pub fn with_trust_same_site(self, trust: bool) -> Self {
        self.edit(|c| c.trust_same_site = trust)
    }

    /// Checks every device cookie against the ticket's revocation generation
    /// in the store (one read per request). Default: off (no I/O on the
    /// verified path).
    pub fn with_revocation_check(self, on: bool) -> Self {
        self.edit(|c| c.revocation_check = on)
    }

    /// Trusts the scheme your reverse proxy reports in `X-Forwarded-Proto`
    /// (or `Forwarded: proto=`): a ticket request that reached the proxy over
    /// plain HTTP is redirected to HTTPS (308) before anything else, so no
    /// device cookie is ever minted or accepted over HTTP. Default: off. Turn
    /// it on only behind a proxy that overwrites these headers: from anyone
    /// else they are client-controlled.
    ///
    /// ```
    /// use tower_otp::{CapturingMailer, MemoryStore, OtpLayer, Secret};
    ///
    /// let otp = OtpLayer::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_trusted_forwarded_proto(true);
    /// # drop(otp);
    /// ```
    pub fn with_trusted_forwarded_proto(self, trust: bool) -> Self {
        self.edit(|c| c.trust_forwarded_proto = trust)
    }

    /// The largest form or JSON body the gate reads. Default: 4 KiB; allowed 256 B to 64 KiB.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside that range.
    pub fn with_body_limit(self, bytes: usize) -> Result<Self, ConfigError> {
        if !(256..=64 * 1024).contains(&bytes) {
            return Err(ConfigError::OutOfRange {
                setting: "body limit",
                range: "between 256 bytes and 64 KiB",
            });
        }
        Ok(self.edit(|c| c.body_limit = bytes))
    }
}

impl<S, T: Clone> Layer<S> for OtpLayer<T> {
    type Service = OtpService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        OtpService::new(inner, Arc::clone(&self.config), self.source.clone())
    }
}
