//! The gate: everything a browser meets that cannot simply pass.
//!
//! [`OtpService`](crate::OtpService) reads the request head and the device
//! cookie, and asks [`decide`](crate::decision::decide). Requests it cannot
//! settle from the head (an unverified browser, or revocation checks) come
//! to [`run`], which reads the ticket's state once, decides again and
//! answers: the first-device round trip, the challenge page, or a gate
//! action. Only then are the gate's own cookies read (a second look at the
//! `Cookie` headers, which a verified request never takes).
//!
//! - [`request`]: the request head as a plain value;
//! - [`action`] and [`parse`]: POSTed actions; [`claim`]: the first device;
//! - [`render`] and [`respond`]: pages, JSON, status codes and headers;
//! - [`cookies`], [`csrf`], [`origin`], [`lang`]: the HTTP details;
//!   [`https`]: the redirect of a request that arrived over plain HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::body::GateBody;
use crate::config::Config;
use crate::decision::{Decision, Facts, Stored, decide};
use crate::device::DeviceClaims;
use crate::error::BoxError;
use crate::extract::VerifiedDevice;
use crate::flow::Challenge;
use crate::pages::{PageKind, RequestProblem};
use crate::pass::{no_store_unless_set, pass};
use crate::revocation::Revocation;
use crate::ticket::{TicketKey, TicketMatch};

pub(crate) mod action;
pub(crate) mod claim;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod https;
pub(crate) mod lang;
pub(crate) mod origin;
pub(crate) mod parse;
pub(crate) mod render;
pub(crate) mod request;
pub(crate) mod respond;

use self::render::Answer;
use self::request::GateRequest;

type GateResult<B, E> = Result<Response<B>, E>;

/// The answer to a ticket URL whose cookie path cannot be a cookie's `Path`
/// (a raw `;`, `,` or `"` in it, say): 404, with no cookie, no claim and no
/// mail. Its cookies could only go on `Path=/`, where every such URL a
/// browser is led to would add one to every later request to the whole
/// site. The first one is logged at WARN (by the ticket's label), so a site
/// whose ticket links hold such characters learns to percent-encode them.
fn unscopable<B: GateBody>(parts: &Parts, key: &TicketKey, span: &tracing::Span) -> Response<B> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.swap(true, Ordering::Relaxed) {
        tracing::debug!(
            ticket = key.label(),
            "ticket URL cannot scope a cookie: not found"
        );
    } else {
        tracing::warn!(
            ticket = key.label(),
            "tower-otp answers 404 to ticket URLs whose path cannot scope a cookie (a `;`, `,`, \
             `\"`, `\\`, space, control or non-ASCII character in it): percent-encode them in \
             ticket links"
        );
    }
    let json = request::wants_json(&parts.headers);
    let response = respond::plain(StatusCode::NOT_FOUND, "not_found", "not found", json);
    span.record("outcome", "not_found");
    span.record("status", response.status().as_u16());
    response.map(B::from_gate)
}

/// Passes a device the store's generation let through, to the inner service.
async fn pass_verified<S, ReqBody, ResBody>(
    inner: &mut S,
    (parts, body): (Parts, ReqBody),
    found: TicketMatch,
    key: TicketKey,
    claims: Option<DeviceClaims>,
) -> GateResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let claims = claims.expect("a signed device has claims");
    let device = VerifiedDevice::new(found.id, key, claims);
    let mut response = pass(inner, parts, body, device).await?;
    no_store_unless_set(&mut response);
    Ok(response)
}

/// The ticket's challenge and its generation as the decision takes them (a
/// failed read is logged and taken as [`Stored::Unavailable`]).
async fn read_ticket(config: &Config, key: &TicketKey) -> (Option<Challenge>, Stored) {
    match config.flow.lookup(key).await {
        Ok((challenge, generation)) => {
            let stored = Stored::Read {
                generation,
                claimable: challenge.claimable,
            };
            (Some(challenge), stored)
        }
        Err(error) => {
            tracing::error!(ticket = key.label(), %error, "store unavailable");
            (None, Stored::Unavailable)
        }
    }
}

/// Claims `req`'s ticket for this browser, counted against its client
/// address when no validator vouches for the id ([`claim::first_device`]).
async fn claim_first(
    config: &Config,
    req: &GateRequest,
    parts: &Parts,
) -> Result<Option<(DeviceClaims, HeaderValue)>, crate::store::StoreError> {
    let client = || {
        crate::client_address::client_of(&config.client_address, &parts.extensions, &parts.headers)
    };
    claim::first_device(config, req, client).await
}

/// A first device just claimed: to the inner service with its new cookie,
/// or, back from the probe's redirect, to the same URL without the mark.
async fn claimed_first<S, ReqBody, ResBody>(
    config: &Config,
    inner: &mut S,
    (parts, body): (Parts, ReqBody),
    req: GateRequest,
    (claims, set_cookie): (DeviceClaims, HeaderValue),
    span: &tracing::Span,
) -> GateResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: GateBody,
{
    let clear_probe = render::probe_cookie(config, &req, std::time::Duration::ZERO);
    if req.probe_marked {
        // Back from the probe's redirect: drop the mark from the URL.
        let mut response = respond::see_other(&req.url);
        response.headers_mut().append(SET_COOKIE, set_cookie);
        response.headers_mut().append(SET_COOKIE, clear_probe);
        let response = render::finish(config, &req, response);
        span.record("status", response.status().as_u16());
        return Ok(response);
    }
    let device = VerifiedDevice::new(req.ticket, req.key, claims);
    let mut response = pass(inner, parts, body, device).await?;
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, set_cookie);
    headers.append(SET_COOKIE, clear_probe);
    // It sets a cookie: never cached, whatever the application said.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Answers a request [`decide`] sent to [`Decision::Lookup`]: reads the
/// ticket's state, decides again with it, and acts.
///
/// A signed device that the store says is current passes before the rest
/// of the request head is read ([`GateRequest`]: cookies, language, CSRF
/// nonce, URL), since none of it can change that decision; under
/// `Revocation::EveryRequest` that is every verified request.
pub(crate) async fn run<S, ReqBody, ResBody>(
    config: Arc<Config>,
    mut inner: S,
    (parts, body): (Parts, ReqBody),
    (found, key): (TicketMatch, TicketKey),
    facts: Facts,
    claims: Option<DeviceClaims>,
    span: tracing::Span,
) -> GateResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: GateBody,
    ReqBody: http_body::Body,
    ReqBody::Error: Into<BoxError>,
{
    // A signed device under cached revocation: the generation this instance
    // knows by now, else one read shared by every request waiting on it
    // (after a restart, say), decides. A revoked device, or a failed read,
    // goes on to the full state below; a store that did not answer that
    // read is not asked again (503).
    let mut unanswered = false;
    if let (Some(_), Revocation::Cached { ttl }) = (&claims, config.revocation)
        && !config.flow.state_refused()
    {
        let known = config.flow.known_generation(&key, config.flow.now(), ttl);
        let generation = match known {
            Some(generation) => Some(generation),
            None => {
                let read = config.flow.shared_generation(&key).await;
                unanswered = read.is_none();
                read
            }
        };
        if let Some(generation) = generation {
            let stored = Stored::Read {
                generation,
                claimable: false,
            };
            if decide(&Facts { stored, ..facts }) == Decision::PassVerified {
                span.record("outcome", Decision::PassVerified.name());
                return pass_verified(&mut inner, (parts, body), found, key, claims).await;
            }
        }
    }
    // A signed device: read the ticket first, since its generation alone
    // decides, before the rest of the head is read. An unverified browser
    // is not read yet: its claim or action is one store step of its own.
    let mut read = None;
    let mut facts = facts;
    if claims.is_some() {
        let (challenge, stored) = if unanswered {
            (None, Stored::Unavailable)
        } else {
            read_ticket(&config, &key).await
        };
        facts.stored = stored;
        // What the head adds (prefetch, probe, mark) never makes a device pass.
        if decide(&facts) == Decision::PassVerified {
            span.record("outcome", Decision::PassVerified.name());
            return pass_verified(&mut inner, (parts, body), found, key, claims).await;
        }
        read = Some(challenge);
    }
    let jar = if facts.plain_http {
        cookies::Jar::default()
    } else {
        cookies::jar(&parts.headers, config.secure())
    };
    let Some(req) = GateRequest::read(&config, &parts, &found, key, &jar) else {
        return Ok(unscopable(&parts, &key, &span));
    };
    let facts = Facts {
        prefetch: req.prefetch,
        probe: req.probe,
        marked: req.probe_marked,
        ..facts
    };
    // A claim made before the read and refused is not made again after it.
    let mut claim_refused = false;
    let (challenge, stored) = match read {
        Some(challenge) => (challenge, facts.stored),
        None => {
            // Decided as if the ticket were claimable: a claim or an action
            // is then made at once, and the store, which does it atomically,
            // refuses what the ticket no longer allows.
            let unread = Facts {
                stored: Stored::Read {
                    generation: 0,
                    claimable: true,
                },
                ..facts
            };
            match decide(&unread) {
                Decision::Action => {
                    span.record("outcome", Decision::Action.name());
                    let response = action::run(&config, &req, body, None).await;
                    let response = render::finish(&config, &req, response);
                    span.record("status", response.status().as_u16());
                    return Ok(response);
                }
                Decision::Claim => {
                    match claim_first(&config, &req, &parts).await {
                        Ok(Some(claimed)) => {
                            span.record("outcome", Decision::Claim.name());
                            return claimed_first(
                                &config,
                                &mut inner,
                                (parts, body),
                                req,
                                claimed,
                                &span,
                            )
                            .await;
                        }
                        // Claimed or bound already, or the client's budget
                        // refused it: the page says how it stands.
                        Ok(None) => claim_refused = true,
                        Err(error) => {
                            tracing::error!(ticket = key.label(), %error, "store unavailable");
                            span.record("outcome", Decision::Unavailable.name());
                            let response = render::unavailable(&config, &req);
                            let response = render::finish(&config, &req, response);
                            span.record("status", response.status().as_u16());
                            return Ok(response);
                        }
                    }
                }
                _ => {}
            }
            read_ticket(&config, &key).await
        }
    };
    let facts = Facts { stored, ..facts };
    let decision = decide(&facts);
    span.record("outcome", decision.name());
    let response = match (decision, challenge.as_ref()) {
        (Decision::Claim, Some(challenge)) if claim_refused => {
            render::challenge_page(&config, &req, Some(challenge))
        }
        (Decision::Claim, Some(challenge)) => match claim_first(&config, &req, &parts).await {
            Ok(Some(claimed)) => {
                return claimed_first(&config, &mut inner, (parts, body), req, claimed, &span)
                    .await;
            }
            Ok(None) => render::challenge_page(&config, &req, Some(challenge)),
            Err(error) => {
                tracing::error!(ticket = key.label(), %error, "store unavailable");
                render::unavailable(&config, &req)
            }
        },
        (Decision::Probe, _) => render::probe(&config, &req),
        (Decision::CookiesRequired, Some(challenge)) => {
            render::problem(&config, &req, RequestProblem::CookiesRequired, challenge)
        }
        (Decision::ConfirmPage, _) => {
            let answer = Answer::plain(StatusCode::UNAUTHORIZED, PageKind::Confirm);
            render::page(&config, &req, answer)
        }
        (Decision::Action, Some(challenge)) => {
            action::run(&config, &req, body, Some(challenge)).await
        }
        (Decision::Page, challenge) => render::challenge_page(&config, &req, challenge),
        (Decision::Unavailable, _) => render::unavailable(&config, &req),
        (decision, _) => {
            // Settled before the lookup, or a read without its challenge: never the inner service.
            tracing::error!(?decision, "tower-otp: unexpected decision after the lookup");
            let message = "server error";
            respond::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                message,
                req.json,
            )
        }
    };
    let response = render::finish(&config, &req, response);
    span.record("status", response.status().as_u16());
    Ok(response)
}
