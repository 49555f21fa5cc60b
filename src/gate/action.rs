//! A POST to the gate: origin → media type → body limit → parse → CSRF → flow.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::parse::{self, Action, ActionRequest};
use super::request::{BodyType, GateRequest};
use super::{claim, csrf};
use super::{render, respond};
use crate::client_address;
use crate::config::Config;
use crate::decision::FirstDevice;
use crate::error::BoxError;
use crate::flow::{Challenge, Rejection, SendRequest};
use crate::pages::RequestProblem;

/// Runs the action a POST asks for, and answers it. `challenge` is the
/// ticket as the gate read it, if it did: an unverified browser's action is
/// made without a read first, and the ticket is read only for an answer
/// that shows it (a refusal, or a page after a problem).
pub(crate) async fn run<B>(
    config: &Config,
    req: &GateRequest,
    body: B,
    challenge: Option<&Challenge>,
) -> Response<Bytes>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let request = match accept(config, req, body).await {
        Ok(request) => request,
        Err(refusal) => return refusal.answer(config, req, challenge).await,
    };
    let outcome = perform(config, req, &request).await;
    match outcome {
        Ok(Done::Page(view)) => {
            let delivery = config.flow.delivery(&req.key);
            render::done(req, None, view.as_ref(), delivery)
        }
        Ok(Done::Verified(device_cookie)) => render::done(req, Some(device_cookie), None, None),
        Err(ActionError::Rejected(rejection)) => {
            // The page after a refusal shows the challenge as it is now
            // (not asked again of a store that just failed: 503).
            let now = match rejection {
                Rejection::Unavailable(_) => None,
                _ => config.flow.challenge(&req.key).await.ok(),
            };
            render::rejected(config, req, &rejection, now.as_ref())
        }
        Err(ActionError::Problem(problem)) => {
            with_challenge(config, req, challenge, |c| {
                render::problem(config, req, problem, c)
            })
            .await
        }
    }
}

/// `answer` with the ticket's challenge: the one read already, else one
/// read now (503 if the store fails).
async fn with_challenge(
    config: &Config,
    req: &GateRequest,
    challenge: Option<&Challenge>,
    answer: impl FnOnce(&Challenge) -> Response<Bytes>,
) -> Response<Bytes> {
    if let Some(challenge) = challenge {
        return answer(challenge);
    }
    match config.flow.challenge(&req.key).await {
        Ok(challenge) => answer(&challenge),
        Err(error) => {
            tracing::error!(ticket = req.key.label(), %error, "store unavailable");
            render::unavailable(config, req)
        }
    }
}

/// A successful action: the page state to answer with (after a send, as
/// the store left it; `None` when the answer shows none), or the cookie of
/// a device now verified.
enum Done {
    Page(Option<Challenge>),
    Verified(HeaderValue),
}

/// Why a POST was refused before the flow saw it.
enum Refusal {
    /// A request problem; `close` when its body was left unread, so the
    /// connection cannot serve another request.
    Problem {
        problem: RequestProblem,
        close: bool,
    },
    /// The body did not arrive within the deadline (a slow client).
    Timeout,
}

impl Refusal {
    fn read(problem: RequestProblem) -> Self {
        Refusal::Problem {
            problem,
            close: false,
        }
    }

    async fn answer(
        self,
        config: &Config,
        req: &GateRequest,
        challenge: Option<&Challenge>,
    ) -> Response<Bytes> {
        let (mut response, close) = match self {
            Refusal::Problem { problem, close } => {
                let page = with_challenge(config, req, challenge, |c| {
                    render::problem(config, req, problem, c)
                });
                (page.await, close)
            }
            Refusal::Timeout => {
                let message = "the request body arrived too slowly";
                let status = StatusCode::REQUEST_TIMEOUT;
                (respond::plain(status, "timeout", message, req.json), true)
            }
        };
        if close {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The checks before the flow: where the POST comes from, what it is, its CSRF token.
async fn accept<B>(config: &Config, req: &GateRequest, body: B) -> Result<ActionRequest, Refusal>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    // The JSON API takes only application/json (a CORS preflight for
    // cross-origin callers); pages take forms.
    let wanted = if req.json {
        BodyType::Json
    } else {
        BodyType::Form
    };
    let early = if !req.same_origin {
        Some(RequestProblem::CrossSite)
    } else if req.body_type != wanted {
        Some(RequestProblem::UnsupportedMediaType)
    } else {
        None
    };
    let read = read_body(
        body,
        req.content_length,
        config.body_limit,
        config.body_timeout,
    )
    .await;
    if let Some(problem) = early {
        // Refused whatever it says, but a small body is read first, so a
        // client that reuses the connection is not reset.
        let close = read.is_err();
        return Err(Refusal::Problem { problem, close });
    }
    let bytes = read?;
    let parsed = match req.body_type {
        BodyType::Json => parse::from_json(&bytes),
        _ => parse::from_form(&bytes),
    };
    let request = parsed.map_err(|_| Refusal::read(RequestProblem::BadRequest))?;
    if req.body_type == BodyType::Form
        && !csrf::check(
            &config.flow.keys().csrf,
            req.csrf_cookie.as_deref(),
            &req.key,
            request.csrf.as_deref(),
        )
    {
        return Err(Refusal::read(RequestProblem::Csrf));
    }
    Ok(request)
}

enum ActionError {
    Rejected(Rejection),
    Problem(RequestProblem),
}

impl From<Rejection> for ActionError {
    fn from(rejection: Rejection) -> Self {
        ActionError::Rejected(rejection)
    }
}

/// The flow's part, and what a successful one answers.
async fn perform(
    config: &Config,
    req: &GateRequest,
    request: &ActionRequest,
) -> Result<Done, ActionError> {
    let flow = &config.flow;
    let send = SendRequest::new(req.locale)
        .with_ticket_hint(req.hint.as_deref())
        .with_client(req.client);
    let send = if req.bound_only {
        send.bound_only()
    } else {
        send
    };
    match request.action {
        Action::Send | Action::Resend => {
            if req.client.is_none() {
                client_address::warn_unknown(&config.client_unknown_warned);
            }
            let send = match (request.action, request.email.as_deref()) {
                (Action::Send, Some(email)) => send.with_email(email),
                _ => send,
            };
            let (_, view) = flow.send_and_view(&req.key, send).await?;
            Ok(Done::Page(Some(view)))
        }
        Action::Verify => {
            let code = request.code.as_deref().unwrap_or("");
            let verified = if req.bound_only {
                flow.verify_bound_only(&req.key, code, req.locale).await?
            } else {
                flow.verify_in(&req.key, code, req.locale).await?
            };
            let lifetime = config.tokens.lifetime();
            Ok(Done::Verified(
                render::mint(config, req, verified.generation, lifetime).1,
            ))
        }
        Action::Restart => {
            flow.restart(&req.key).await?;
            if !req.json {
                return Ok(Done::Page(None));
            }
            let view = flow.challenge(&req.key).await.map_err(Rejection::from)?;
            Ok(Done::Page(Some(view)))
        }
        Action::Confirm => {
            if config.first_device != FirstDevice::Confirm {
                return Err(ActionError::Problem(RequestProblem::BadRequest));
            }
            let claimed = claim::first_device(config, req, || req.client)
                .await
                .map_err(Rejection::from)?;
            // Claimed meanwhile by another browser (or refused by the
            // client's budget): back to the (now challenge) page.
            match claimed {
                Some((_, set_cookie)) => Ok(Done::Verified(set_cookie)),
                None if !req.json => Ok(Done::Page(None)),
                None => {
                    let view = flow.challenge(&req.key).await.map_err(Rejection::from)?;
                    Ok(Done::Page(Some(view)))
                }
            }
        }
    }
}

/// The body, within `limit` bytes and `deadline`.
async fn read_body<B>(
    body: B,
    declared: Option<u64>,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, Refusal>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let too_large = Refusal::Problem {
        problem: RequestProblem::TooLarge,
        close: true,
    };
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Refusal::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
        Ok(Err(_)) => Err(Refusal::Problem {
            problem: RequestProblem::BadRequest,
            close: true,
        }),
    }
}
