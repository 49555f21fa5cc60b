//! The layer's configuration, with secure defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::client_address::ClientAddress;
use crate::decision::FirstDevice;
use crate::device::{DeviceCookie, DeviceTokens};
use crate::flow::{Flow, Registration};
use crate::pages::{DefaultPages, Pages};
use crate::public_origin::PublicOrigin;
use crate::revocation::Revocation;
use crate::ticket::TicketId;

/// The largest gate form or JSON body by default: a few KiB is plenty for an
/// address and a code (checklist 10.2, RUSTSEC-2022-0055).
pub(crate) const DEFAULT_BODY_LIMIT: usize = 4 * 1024;

/// How long the gate waits for a form or JSON body by default: a few
/// hundred bytes take one round trip; a client that trickles its body one
/// byte at a time must not hold a connection.
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Says whether a ticket id names a ticket the application knows.
pub(crate) type TicketValidator = Arc<dyn Fn(&TicketId) -> bool + Send + Sync>;

/// Gives the e-mail a hint of which ticket it is about.
pub(crate) type TicketHint = Arc<dyn Fn(&TicketId) -> Option<String> + Send + Sync>;

/// Everything the service needs, shared by all clones.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) flow: Flow,
    pub(crate) tokens: DeviceTokens,
    pub(crate) cookie: DeviceCookie,
    pub(crate) pages: Arc<dyn Pages>,
    /// Trust on first use, after a cookie round-trip (the seed's behaviour).
    pub(crate) first_device: FirstDevice,
    pub(crate) body_limit: usize,
    pub(crate) body_timeout: Duration,
    /// Origins besides the request's own whose POSTs are accepted (none).
    pub(crate) allowed_origins: Vec<String>,
    /// `Sec-Fetch-Site: same-site` is cross-origin: refused unless every
    /// sibling subdomain is trusted (OWASP CSRF cheat sheet).
    pub(crate) trust_same_site: bool,
    /// Cached for a few seconds: revocation is honoured with no store I/O
    /// on the verified path.
    pub(crate) revocation: Revocation,
    /// Off: `X-Forwarded-Proto` is client-controlled unless a proxy the
    /// operator runs overwrites it (checklist 16.1/16.2).
    pub(crate) trust_forwarded_proto: bool,
    /// None: POST origins are checked against the request's own `Host`, and
    /// the HTTPS redirect goes to it. Behind a proxy that rewrites `Host`,
    /// the operator names the origin browsers use (`Host` and
    /// `X-Forwarded-Host` are never trusted for it).
    pub(crate) public_origin: Option<PublicOrigin>,
    /// Where the client's address comes from, for the flow's per-client
    /// send budget: the connection's peer.
    pub(crate) client_address: ClientAddress,
    /// A code was sent with no client address known, and that was logged
    /// (once per layer, shared by clones).
    pub(crate) client_unknown_warned: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) ticket_hint: Option<TicketHint>,
    /// Unknown ids are answered 404 before anything is stored (none: every
    /// id the source finds is a ticket).
    pub(crate) ticket_validator: Option<TicketValidator>,
    /// The ephemeral-store warning was logged (once per layer, shared by clones).
    pub(crate) warned: Arc<std::sync::atomic::AtomicBool>,
    /// Counts these settings among the flow's layers while they live, by
    /// whether they check revocation.
    pub(crate) registration: Registration,
}

impl Config {
    /// The defaults of every layer setting, each with its reason.
    pub(crate) fn new(flow: Flow) -> Self {
        let registration = flow.register_layer(Revocation::default() != Revocation::Off);
        Self {
            // 30-day device cookies (NIST SP 800-63B AAL1 re-verification),
            // HS256 with a key derived from the flow's secret.
            tokens: DeviceTokens::new(flow.device_keys().clone()),
            // `Secure`, `HttpOnly`, `SameSite=Lax` (a mail link is a
            // cross-site navigation, so never `Strict`).
            cookie: DeviceCookie::new(),
            flow,
            pages: Arc::new(DefaultPages::default()),
            first_device: FirstDevice::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            allowed_origins: Vec::new(),
            trust_same_site: false,
            revocation: Revocation::default(),
            trust_forwarded_proto: false,
            public_origin: None,
            client_address: ClientAddress::socket(),
            client_unknown_warned: Arc::default(),
            ticket_hint: None,
            ticket_validator: None,
            warned: Arc::default(),
            registration,
        }
    }

    /// Whether cookies are `Secure` (and prefixed).
    pub(crate) fn secure(&self) -> bool {
        self.cookie.is_secure()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("flow", &self.flow)
            .field("tokens", &self.tokens)
            .field("cookie", &self.cookie)
            .field("first_device", &self.first_device)
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
            .field("allowed_origins", &self.allowed_origins)
            .field("trust_same_site", &self.trust_same_site)
            .field("revocation", &self.revocation)
            .field("trust_forwarded_proto", &self.trust_forwarded_proto)
            .field("public_origin", &self.public_origin)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}
