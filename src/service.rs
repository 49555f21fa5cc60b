//! [`OtpService`]: reads each request's facts, decides, and dispatches.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower_service::Service;
use tracing::Instrument as _;

use crate::body::GateBody;
use crate::config::Config;
use crate::decision::{Decision, Device, Facts, Stored, Ticket, Verb, decide};
use crate::device::{DeviceClaims, DeviceCookie};
use crate::error::BoxError;
use crate::extract::VerifiedDevice;
use crate::family::Membership;
use crate::future::ResponseFuture;
use crate::gate::request::wants_json;
use crate::gate::{self, respond};
use crate::pass::{note, pass, span};
use crate::proto;
use crate::revocation::Revocation;
use crate::ticket::{Found, TicketKey, TicketMatch, TicketSource};

/// The service [`OtpLayer`](crate::OtpLayer) wraps around `S`.
///
/// It answers with `S`'s own response body type, which must implement
/// [`GateBody`] so that the gate can write its pages into it: a verified
/// request's response passes through untouched.
#[derive(Debug, Clone)]
pub struct OtpService<S, T> {
    inner: S,
    // One `Arc` for both: axum clones a route's service for every request,
    // and each `Arc` costs an atomic increment and decrement.
    shared: Arc<Shared<T>>,
}

#[derive(Debug)]
struct Shared<T> {
    config: Arc<Config>,
    source: T,
}

impl<S, T> OtpService<S, T> {
    pub(crate) fn new(inner: S, config: Arc<Config>, source: T) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared { config, source }),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for OtpService<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    T: TicketSource,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: GateBody + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let Shared { config, source } = &*self.shared;
        let found = match source.find(&mut parts) {
            // An id the application does not know is not found (nothing stored).
            Found::Ticket(found)
                if config
                    .ticket_validator
                    .as_ref()
                    .is_none_or(|known| known(&found.id)) =>
            {
                found
            }
            other => return self.no_ticket(parts, body, other),
        };
        let facts = head_facts(config, &parts, Ticket::Named);
        let now = config.flow.now();
        let mut key = config.flow.ticket_key(&found.id);
        // A member of a family is gated as its family, unless it was handed
        // to a companion: then it is a ticket of its own.
        let mut family = None;
        if config.flow.has_families()
            && let Some(membership) = config.flow.membership(&found.id)
            && decide(&facts) != Decision::UpgradeToHttps
        {
            match config
                .flow
                .known_seat(&key, now, seat_ttl(config.revocation))
            {
                Some(true) => {}
                Some(false) => {
                    key = config.flow.ticket_key(membership.family());
                    family = Some(membership);
                }
                None => return self.unread_seat((parts, body), found, key, membership, facts),
            }
        }
        let (facts, claims) = device_facts(config, &parts, &key, now, facts);
        let decision = decide(&facts);
        match (decision, claims) {
            (Decision::PassVerified, Some(claims)) => {
                note(decision, Some(&key), "passed", None);
                let device = VerifiedDevice::new(found.id, key, claims);
                ResponseFuture::verified(pass(&mut self.inner, parts, body, device))
            }
            (_, claims) => self.challenge(
                decision,
                (parts, body),
                (found, key),
                (facts, family),
                claims,
            ),
        }
    }
}

// The rest of `call`, out of line: what `call` keeps is the verified path,
// whose code is then not interleaved with code it never runs.
impl<S, T> OtpService<S, T>
where
    T: TicketSource,
{
    /// A request that names no usable ticket: it passes or is answered at once.
    /// The inner service for a gate that may call it later: the one that
    /// was driven to readiness, leaving a fresh clone behind.
    fn take_ready_inner(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }

    #[inline(never)]
    fn no_ticket<ReqBody, ResBody>(
        &mut self,
        parts: Parts,
        body: ReqBody,
        found: Found,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let ticket = match found {
            Found::None => Ticket::Absent,
            Found::Ticket(_) | Found::Malformed => Ticket::Malformed,
            Found::Misconfigured(why) => {
                tracing::error!("tower-otp is misconfigured, refusing the request: {why}");
                Ticket::Misconfigured
            }
        };
        let config = &self.shared.config;
        let facts = head_facts(config, &parts, ticket);
        let json = || wants_json(&parts.headers);
        let decision = decide(&facts);
        let answer = match decision {
            Decision::Pass => {
                note(decision, None, "passed", None);
                return ResponseFuture::passed(self.inner.call(Request::from_parts(parts, body)));
            }
            Decision::NotFound => {
                respond::plain(StatusCode::NOT_FOUND, "not_found", "not found", json())
            }
            _ => {
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                respond::plain(status, "server_error", "server error", json())
            }
        };
        note(decision, None, "answered", Some(answer.status()));
        ResponseFuture::ready(answer)
    }

    /// A named ticket whose device did not pass on its cookie alone: the
    /// HTTPS redirect, or the gate (which reads the store).
    #[inline(never)]
    fn challenge<ReqBody, ResBody>(
        &mut self,
        decision: Decision,
        (parts, body): (Parts, ReqBody),
        (found, key): (TicketMatch, TicketKey),
        (facts, family): (Facts, Option<Membership>),
        claims: Option<DeviceClaims>,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        ReqBody: http_body::Body + Send + 'static,
        ReqBody::Data: Send,
        ReqBody::Error: Into<BoxError>,
        ResBody: GateBody + Send + 'static,
    {
        if decision == Decision::UpgradeToHttps {
            let answer = gate::https::upgrade(&parts, self.shared.config.public_origin.as_ref());
            note(decision, Some(&key), "answered", Some(answer.status()));
            return ResponseFuture::ready(answer);
        }
        let found = self.shared.source.scope(&parts, found);
        // A family's cookies cover every member's pages.
        let found = match family {
            Some(membership) => found.in_family(membership.cookie_path()),
            None => found,
        };
        let inner = self.take_ready_inner();
        let config = Arc::clone(&self.shared.config);
        let span = span(decision, Some(&key), None, None);
        let run = gate::run(
            config,
            inner,
            (parts, body),
            (found, key),
            facts,
            claims,
            span.clone(),
        );
        ResponseFuture::gate(Box::pin(run.instrument(span)))
    }

    /// A request on a family's seat this instance has no fresh reading of:
    /// reads whether the seat was handed over (one read, shared by the
    /// requests waiting on it), then goes on as the family or as the seat.
    /// A read that fails answers 503: the seat is not served unchecked.
    #[inline(never)]
    fn unread_seat<ReqBody, ResBody>(
        &mut self,
        (parts, body): (Parts, ReqBody),
        found: TicketMatch,
        seat: TicketKey,
        membership: Membership,
        facts: Facts,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        ReqBody: http_body::Body + Send + 'static,
        ReqBody::Data: Send,
        ReqBody::Error: Into<BoxError>,
        ResBody: GateBody + Send + 'static,
    {
        let found = self.shared.source.scope(&parts, found);
        let mut inner = self.take_ready_inner();
        let config = Arc::clone(&self.shared.config);
        let run = async move {
            let Some(handed) = config.flow.read_seat(&seat).await else {
                let mut answer = respond::plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "service unavailable",
                    wants_json(&parts.headers),
                );
                answer.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("2"),
                );
                return Ok(answer.map(ResBody::from_gate));
            };
            let (found, key) = if handed {
                (found, seat)
            } else {
                let family = config.flow.ticket_key(membership.family());
                (found.in_family(membership.cookie_path()), family)
            };
            let now = config.flow.now();
            let (facts, claims) = device_facts(&config, &parts, &key, now, facts);
            let decision = decide(&facts);
            match (decision, claims) {
                (Decision::PassVerified, Some(claims)) => {
                    note(decision, Some(&key), "passed", None);
                    let device = VerifiedDevice::new(found.id, key, claims);
                    let mut response = pass(&mut inner, parts, body, device).await?;
                    crate::pass::no_store_unless_set(&mut response);
                    Ok(response)
                }
                (decision, claims) => {
                    let span = span(decision, Some(&key), None, None);
                    let run = gate::run(
                        config,
                        inner,
                        (parts, body),
                        (found, key),
                        facts,
                        claims,
                        span.clone(),
                    );
                    run.instrument(span).await
                }
            }
        };
        ResponseFuture::gate(Box::pin(run))
    }
}

/// How long this instance trusts its reading of whether a family's seat was
/// handed over: as long as it trusts a generation (a hand-off is seen on
/// other instances within the revocation bound), every request under
/// [`Revocation::EveryRequest`], and the default TTL when revocation is off.
fn seat_ttl(revocation: Revocation) -> std::time::Duration {
    match revocation {
        Revocation::Cached { ttl } => ttl,
        Revocation::EveryRequest => std::time::Duration::ZERO,
        Revocation::Off => match Revocation::default() {
            Revocation::Cached { ttl } => ttl,
            _ => std::time::Duration::ZERO,
        },
    }
}

/// What the device cookie for `key` adds to the head's `facts`: the device
/// and whether its revocation generation must be read first.
#[inline]
fn device_facts(
    config: &Config,
    parts: &Parts,
    key: &TicketKey,
    now: crate::clock::Timestamp,
    mut facts: Facts,
) -> (Facts, Option<DeviceClaims>) {
    // Checklist 16.1: no device cookie is read or minted over plain HTTP.
    // A browser sends several of one name when another path or host
    // planted one: the first that verifies counts.
    let claims = if facts.plain_http {
        None
    } else {
        let name = config.cookie.name(key);
        DeviceCookie::values(&parts.headers, name.as_bytes())
            .find_map(|token| config.tokens.verify_bytes(token, key, now).ok())
    };
    if let Some(claims) = &claims {
        facts.device = Device::Signed {
            generation: claims.generation,
        };
        // Revocation from this instance's cache: a device known to be
        // revoked, or on a ticket this instance has never read (after a
        // restart, say), is checked against the store first.
        if let Revocation::Cached { ttl } = config.revocation {
            facts.revocation_check = config
                .flow
                .known_generation(key, now, ttl)
                .is_none_or(|current| claims.generation < current);
        }
        // A store found written with another secret: nothing passes
        // (the store's answer, 503, comes from the lookup).
        facts.revocation_check |= config.flow.state_refused();
    }
    (facts, claims)
}

/// What the request head tells before the device cookie is read.
#[inline]
fn head_facts(config: &Config, parts: &Parts, ticket: Ticket) -> Facts {
    Facts {
        ticket,
        // Behind a trusted proxy, a request counts as HTTPS only when the
        // proxy says so (none said: a client on the application's port),
        // unless the operator named a plain-HTTP public origin.
        plain_http: config.trust_forwarded_proto
            && config.public_origin.as_ref().is_none_or(|o| o.is_https())
            && !proto::arrived_over_https(&parts.headers),
        device: Device::Unverified,
        revocation_check: config.revocation == Revocation::EveryRequest,
        stored: Stored::NotRead,
        verb: Verb::of(&parts.method),
        prefetch: false,
        probe: false,
        marked: false,
        mode: config.first_device,
    }
}
