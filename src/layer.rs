//! [`OtpLayer`]: the builder, and the [`Layer`] that wraps a service.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::client_address::ClientAddress;
use crate::config::Config;
use crate::decision::FirstDevice;
use crate::device::KeyRing;
use crate::error::ConfigError;
use crate::flow::Flow;
use crate::pages::Pages;
use crate::public_origin::PublicOrigin;
use crate::revocation::Revocation;
use crate::service::OtpService;
use crate::ticket::{NoTicketSource, PathPattern, TicketId, TicketSource};

/// Protects the routes of a ticket with device verification by e-mailed
/// one-time password.
///
/// Build it from a [`Flow`] (the store, the mailer and the rules), say
/// where the ticket is, then apply it to the ticket's routes. A layer that
/// has not been told where the ticket is does not compile as a layer, so it
/// can never wrap a route without checking it.
///
/// The safe pattern first: `route_layer` on the ticket routes, with the
/// route's own parameter. A route in that group without the parameter
/// answers 500 and logs the fix, never the handler.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, VerifiedDevice};
/// # use tower_otp::testing::CapturingMailer as SmtpMailer;
///
/// let secret = Secret::random(); // in production: Secret::from_hex(&env_var)?
/// let mailer = SmtpMailer::new(); // SmtpMailer::from_url(..) in production
/// let flow = Flow::new(&secret, MemoryStore::new(), mailer).with_site_name("Example Tickets");
/// let app: Router = Router::new()
///     .route("/orders/{order_id}", get(|device: VerifiedDevice| async move {
///         format!("order {}", device.ticket().as_str())
///     }))
///     .route_layer(OtpLayer::new(flow).with_ticket_param("order_id"));
/// ```
///
/// Without naming the ticket, the layer is refused at compile time:
///
/// ```compile_fail
/// use axum::{Router, routing::get};
/// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
///
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .route_layer(OtpLayer::new(flow)); // error: `NoTicketSource` is not a ticket source
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct OtpLayer<T = NoTicketSource> {
    config: Arc<Config>,
    source: T,
}

impl OtpLayer {
    /// A layer over `flow`, signing device tokens with a key derived from
    /// the flow's secret (see [`OtpLayer::with_key_ring`] to rotate it).
    /// Name the ticket next: [`with_ticket_param`](OtpLayer::with_ticket_param)
    /// (with `route_layer`), [`with_ticket_path`](OtpLayer::with_ticket_path)
    /// or [`with_ticket_source`](OtpLayer::with_ticket_source).
    ///
    /// The layer shares `flow` (keep a clone to pre-bind addresses or revoke
    /// devices): settings live on the flow, so the order of building cannot
    /// leave the two apart.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow.clone()).with_ticket_param("ticket");
    /// assert_eq!(otp.flow().site_name(), flow.site_name());
    /// ```
    pub fn new(flow: Flow) -> Self {
        Self {
            config: Arc::new(Config::new(flow)),
            source: NoTicketSource,
        }
    }
}

impl<T> OtpLayer<T> {
    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The flow, to pre-bind addresses or revoke devices from the application.
    pub fn flow(&self) -> &Flow {
        &self.config.flow
    }

    /// Takes the ticket from `source`: any [`TicketSource`], such as a closure
    /// `Fn(&Parts) -> Option<TicketId>` (its cookies are then scoped to `/`).
    /// No default: a layer must be told where the ticket is.
    ///
    /// A closure that answers `None` lets the request through unchecked: it
    /// is for requests that name no ticket.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret, TicketId};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_ticket_source(|parts: &http::request::Parts| {
    ///     parts.headers.get("x-booking").and_then(|v| v.to_str().ok()).map(TicketId::from)
    /// });
    /// # drop(otp);
    /// ```
    pub fn with_ticket_source<U: TicketSource>(self, source: U) -> OtpLayer<U> {
        OtpLayer {
            config: self.config,
            source,
        }
    }

    /// Takes the ticket from a path pattern such as `/tickets/{ticket}`,
    /// matched against the request path itself (also under `Router::layer`,
    /// or around a whole router). No default.
    ///
    /// The pattern does not know your routes: a request it does not match
    /// passes unchecked, so a route at another path (`/orders/{id}` under
    /// `/tickets/{ticket}`) is not protected. With axum prefer
    /// [`with_ticket_param`](OtpLayer::with_ticket_param).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_ticket_path("/bookings/{ticket}")?;
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] for a pattern not of the form `/literal/.../{name}`.
    pub fn with_ticket_path(self, pattern: &str) -> Result<OtpLayer<PathPattern>, ConfigError> {
        Ok(self.with_ticket_source(PathPattern::new(pattern)?))
    }

    /// Takes the ticket from the matched route's path parameter `name`
    /// (feature `axum`), for `Router::route_layer`: the gate checks exactly
    /// the ticket the handler's `Path` extractor sees. No default.
    ///
    /// It fails closed: a request on a route without that parameter (a
    /// misspelled name, a route that is not a ticket route), or a layer
    /// wrapped around a router from outside or mounted as a fallback,
    /// answers 500 and logs an error that names the fix; the handler is
    /// never called.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let app: Router = Router::new()
    ///     .route("/t/{id}", get(|| async { "ticket" }))
    ///     .route_layer(OtpLayer::new(flow).with_ticket_param("id"))
    ///     .route("/", get(|| async { "home, not a ticket" }));
    /// ```
    #[cfg(feature = "axum")]
    pub fn with_ticket_param(self, name: &str) -> OtpLayer<crate::ticket::PathParam> {
        self.with_ticket_source(crate::ticket::PathParam::new(name))
    }

    /// How the first browser to open a ticket is treated. Default:
    /// [`FirstDevice::Trust`] (after a cookie round-trip).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, FirstDevice, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_first_device(FirstDevice::Confirm);
    /// # drop(otp);
    /// ```
    pub fn with_first_device(self, mode: FirstDevice) -> Self {
        self.edit(|c| c.first_device = mode)
    }

    /// Signs device tokens with `keys` (its current key) and accepts its
    /// previous keys, for rotation without logging everyone out. Default: one
    /// key derived from the flow's secret.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, DeviceKey, Flow, KeyRing, MemoryStore, OtpLayer, Secret};
    ///
    /// let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_key_ring(KeyRing::new(DeviceKey::from_hex("k2", hex)?));
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    pub fn with_key_ring(self, keys: KeyRing) -> Self {
        self.edit(|c| c.tokens = c.tokens.clone().with_key_ring(keys))
    }

    /// How long a device stays verified. Default: 30 days (NIST SP 800-63B
    /// AAL1 re-verification); at most 400 days (browsers' cookie cap).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_device_lifetime(Duration::from_secs(7 * 24 * 3600))?;
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 second to 400 days.
    pub fn with_device_lifetime(self, lifetime: Duration) -> Result<Self, ConfigError> {
        let tokens = self.config.tokens.clone().with_lifetime(lifetime)?;
        Ok(self.edit(|c| c.tokens = tokens))
    }

    /// Whether cookies are `Secure` (and `__Secure-`/`__Host-` prefixed).
    /// Default: `true`. Turn it off only to try the gate over plain
    /// `http://` on your own machine.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let dev = OtpLayer::new(flow).with_cookie_secure(false); // http://127.0.0.1 only
    /// # drop(dev);
    /// ```
    pub fn with_cookie_secure(self, secure: bool) -> Self {
        self.edit(|c| c.cookie = c.cookie.with_secure(secure))
    }

    /// Renders pages with `pages`. Default:
    /// [`DefaultPages`](crate::pages::DefaultPages) (Japanese, English,
    /// Simplified and Traditional Chinese, Korean).
    ///
    /// ```
    /// use tower_otp::pages::DefaultPages;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_pages(DefaultPages::default());
    /// # drop(otp);
    /// ```
    pub fn with_pages(self, pages: impl Pages) -> Self {
        let pages: Arc<dyn Pages> = Arc::new(pages);
        self.edit(|c| c.pages = pages)
    }

    /// Tells e-mails which ticket they are about (an event name, a booking
    /// number; never needed, never a secret). Default: none.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_ticket_hint(|_ticket| Some("Summer Concert".to_owned()));
    /// # drop(otp);
    /// ```
    pub fn with_ticket_hint(
        self,
        hint: impl Fn(&TicketId) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.ticket_hint = Some(Arc::new(hint)))
    }

    /// Answers `404` for ticket ids the application does not know, before
    /// the gate reads or stores anything for them. Default: none (every id
    /// the source finds is treated as a ticket, and its first device's claim
    /// is stored until it expires).
    ///
    /// `validator` runs on every request that names a ticket, the verified
    /// ones included, so keep it cheap: a format check, a checksum or
    /// signature on the id, or a lookup in memory. A request it refuses never
    /// reaches the handler.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret, TicketId};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow)
    ///     .with_ticket_param("order_id")
    ///     .with_ticket_validator(|id: &TicketId| {
    ///         id.as_str().len() == 12 && id.as_str().bytes().all(|b| b.is_ascii_alphanumeric())
    ///     });
    /// # drop(otp);
    /// ```
    pub fn with_ticket_validator(
        self,
        validator: impl Fn(&TicketId) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.ticket_validator = Some(Arc::new(validator)))
    }

    /// Accepts POSTs whose `Origin` is one of these (for example an SPA on
    /// another origin using the JSON API). Default: only the request's own host.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_allowed_origins(["https://app.example.com"]);
    /// # drop(otp);
    /// ```
    pub fn with_allowed_origins(
        self,
        origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let origins = origins.into_iter().map(Into::into).collect();
        self.edit(|c| c.allowed_origins = origins)
    }

    /// Accepts POSTs marked `Sec-Fetch-Site: same-site`. Default: refused, as
    /// any sibling subdomain could send them.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_trust_same_site(true); // every subdomain is yours
    /// # drop(otp);
    /// ```
    pub fn with_trust_same_site(self, trust: bool) -> Self {
        self.edit(|c| c.trust_same_site = trust)
    }

    /// How [`Flow::revoke_devices`](crate::Flow::revoke_devices) takes
    /// effect. Default: [`Revocation::Cached`] for 5 seconds: no store I/O
    /// on the verified path; a revoked device is refused at once on the
    /// instance that revoked it and within 5 seconds on the others.
    /// [`Revocation::EveryRequest`] reads the store on every verified
    /// request; [`Revocation::Off`] lets revoked cookies pass until they expire.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Revocation, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_revocation(Revocation::Cached { ttl: Duration::from_secs(2) });
    /// # drop(otp);
    /// ```
    pub fn with_revocation(self, revocation: Revocation) -> Self {
        self.edit(|c| {
            c.revocation = revocation;
            c.registration = c.flow.register_layer(revocation != Revocation::Off);
        })
    }

    /// Trusts the scheme your reverse proxy reports in `X-Forwarded-Proto`
    /// (or `Forwarded: proto=`): a ticket request that reached the proxy over
    /// plain HTTP is redirected to HTTPS (308) before anything else, so no
    /// device cookie is ever minted or accepted over HTTP. Default: off. Turn
    /// it on only behind a proxy that overwrites these headers: from anyone
    /// else they are client-controlled.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_trusted_forwarded_proto(true);
    /// # drop(otp);
    /// ```
    pub fn with_trusted_forwarded_proto(self, trust: bool) -> Self {
        self.edit(|c| c.trust_forwarded_proto = trust)
    }

    /// The origin browsers use to reach the site, scheme and host (and a
    /// port other than the scheme's default): `https://tickets.example`.
    /// Default: none, and the gate takes the site's origin from each
    /// request's `Host`. Set it behind a reverse proxy, and wherever you
    /// know it: it is then the only thing the gate trusts for the origin.
    ///
    /// - **POSTs**: a POST judged by its `Origin` (browsers without Fetch
    ///   Metadata, HTTP clients; `Sec-Fetch-Site` decides first when sent)
    ///   whose origin is not this one, nor one of
    ///   [`with_allowed_origins`](OtpLayer::with_allowed_origins), is refused
    ///   (`403`, `csrf`). `Host` and `X-Forwarded-Host` are ignored: a proxy
    ///   may rewrite the one (nginx sends `Host: 127.0.0.1:3000` to
    ///   `proxy_pass http://127.0.0.1:3000`, and compared with it, every
    ///   such POST is refused), and a client may send the other.
    /// - **Scheme**: the site is on HTTPS when the origin is `https://`.
    ///   With [`with_trusted_forwarded_proto`](OtpLayer::with_trusted_forwarded_proto),
    ///   a ticket request the proxy does not say came over HTTPS (it says
    ///   `http`, or nothing: a client on the application's own port) is
    ///   redirected (`308`) to this origin, with the same path and query. An
    ///   `http://` origin says the site is plain HTTP (a proxy on your own
    ///   machine): nothing is redirected, and cookies must not be `Secure`
    ///   ([`with_cookie_secure`](OtpLayer::with_cookie_secure)`(false)`).
    ///
    /// It is not [`Flow::with_site_origin`](crate::Flow::with_site_origin),
    /// the origin e-mails show, and is not taken from it: that one is text
    /// for people, and this one decides which requests pass, so adding an
    /// origin to the mails never changes what the gate accepts. Give both
    /// the same value; a layer whose flow shows another origin logs a
    /// warning when it is applied.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_site_origin("https://tickets.example"); // shown in e-mails
    /// let otp = OtpLayer::new(flow)
    ///     .with_public_origin("https://tickets.example")? // what requests are checked against
    ///     .with_trusted_forwarded_proto(true); // nginx sets X-Forwarded-Proto
    /// assert!(OtpLayer::new(otp.flow().clone()).with_public_origin("tickets.example").is_err());
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for anything but `http://` or `https://`
    /// and a host (a name, an IPv4 address or a bracketed IPv6 address),
    /// with an optional port and nothing after it: no path, query, user or
    /// fragment. A trailing `/` is dropped; an internationalised name is
    /// kept in its `xn--` form, as browsers send it.
    pub fn with_public_origin(self, origin: &str) -> Result<Self, ConfigError> {
        let origin = PublicOrigin::parse(origin)?;
        Ok(self.edit(|c| c.public_origin = Some(origin)))
    }

    /// The public origin set by [`with_public_origin`](OtpLayer::with_public_origin),
    /// as it is compared with a browser's `Origin` (lower case, no default
    /// port): for the application's own forms outside the gate.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_public_origin("https://Tickets.example:443/")?;
    /// assert_eq!(otp.public_origin(), Some("https://tickets.example"));
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn public_origin(&self) -> Option<&str> {
        self.config.public_origin.as_ref().map(PublicOrigin::as_str)
    }

    /// Where the gate finds the address of the client that asks for a
    /// code, which the flow's per-client send budget counts sends by.
    /// Default: [`ClientAddress::socket`], the connection's peer, which the
    /// server must provide (axum: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`). Behind a
    /// reverse proxy, every peer is the proxy: name it with
    /// [`ClientAddress::forwarded`], and the gate reads the client from the
    /// header the proxy sets.
    ///
    /// With no address known, the budget does not apply, and the layer
    /// logs a warning the first time it sends a code that way.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, ClientAddress, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let nginx = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1", "::1"])?;
    /// let otp = OtpLayer::new(flow).with_ticket_param("order_id").with_client_address(nginx);
    /// # drop(otp);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_client_address(self, client_address: ClientAddress) -> Self {
        self.edit(|c| c.client_address = client_address)
    }

    /// How long the gate waits for the body of a form or JSON POST. Default:
    /// 5 seconds; allowed 100 ms to 60 s. A body that trickles in slower gets
    /// `408 Request Timeout` and the connection is closed. (Set your
    /// server's header-read timeout too: the gate only sees requests whose
    /// headers arrived.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_body_timeout(Duration::from_secs(3))?;
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside that range.
    pub fn with_body_timeout(self, timeout: Duration) -> Result<Self, ConfigError> {
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&timeout) {
            return Err(ConfigError::out_of_range(
                "body timeout",
                "between 100 milliseconds and 60 seconds",
            ));
        }
        Ok(self.edit(|c| c.body_timeout = timeout))
    }

    /// The largest form or JSON body the gate reads. Default: 4 KiB; allowed
    /// 256 B to 64 KiB.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_body_limit(2048)?;
    /// assert!(OtpLayer::new(otp.flow().clone()).with_body_limit(64).is_err());
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside that range.
    pub fn with_body_limit(self, bytes: usize) -> Result<Self, ConfigError> {
        if !(256..=64 * 1024).contains(&bytes) {
            return Err(ConfigError::out_of_range(
                "body limit",
                "between 256 bytes and 64 KiB",
            ));
        }
        Ok(self.edit(|c| c.body_limit = bytes))
    }
}

/// Logs the settings that are legal but unsafe in production.
fn warn_unsafe_settings(config: &Config) {
    let trusts_first_devices = config.first_device != FirstDevice::Challenge;
    if config.first_device == FirstDevice::Trust && !config.flow.store_is_durable() {
        tracing::warn!(
            "tower-otp: FirstDevice::Trust over a store that forgets on restart (MemoryStore, \
             or a Redis that keeps nothing on disk): \
             after a restart every ticket is unclaimed again and a stranger's browser is \
             trusted as its first device. Use a durable store (SqliteStore, PostgresStore, \
             RedisStore with appendonly or save rules) in production"
        );
    }
    if let (Some(public), Some(mailed)) = (&config.public_origin, config.flow.site_origin())
        && PublicOrigin::parse(mailed).ok().as_ref() != Some(public)
    {
        tracing::warn!(
            public_origin = public.as_str(),
            site_origin = mailed,
            "tower-otp: the layer's public origin is not the origin the flow's e-mails show \
             (Flow::with_site_origin): people are told one site and use another. Give both \
             the same value"
        );
    }
    let claim_lifetime = config.flow.limits().policy().claim_lifetime;
    if trusts_first_devices && config.tokens.lifetime() > claim_lifetime {
        tracing::warn!(
            device_lifetime_days = config.tokens.lifetime().as_secs() / 86_400,
            claim_lifetime_days = claim_lifetime.as_secs() / 86_400,
            "tower-otp: device cookies outlive the first-device claim of an unbound ticket: \
             once the claim lapses, a stranger's browser could be trusted as a new first \
             device while the first one still passes. Keep with_device_lifetime at most \
             Limits::with_claim_lifetime"
        );
    }
}

impl<S, T: TicketSource> Layer<S> for OtpLayer<T> {
    type Service = OtpService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        let config = &self.config;
        // Settings that are legal but unsafe in production: said once per layer.
        if !config
            .warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            warn_unsafe_settings(config);
        }
        OtpService::new(inner, Arc::clone(config), self.source.clone())
    }
}
