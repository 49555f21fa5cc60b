//! A POST to the gate: origin → media type → body limit → parse → CSRF → flow.

use bytes::Bytes;
use http::Response;
use http::header::HeaderValue;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::csrf;
use super::parse::{self, Action, ActionRequest};
use super::render;
use super::request::{BodyType, GateRequest};
use crate::config::Config;
use crate::error::BoxError;
use crate::flow::{Challenge, Rejection, SendRequest};
use crate::gate::decision::FirstDevice;
use crate::pages::RequestProblem;

/// Runs the action a POST asks for, and answers it.
pub(crate) async fn run<B>(
    config: &Config,
    req: &GateRequest,
    body: B,
    challenge: &Challenge,
) -> Response<Bytes>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let request = match accept(config, req, body).await {
        Ok(request) => request,
        Err(problem) => return render::problem(config, req, problem, challenge),
    };
    let outcome = perform(config, req, &request).await;
    // The page after an action shows the challenge as it is now.
    let now = match &outcome {
        Err(ActionError::Problem(_)) => None,
        Ok(_) if !req.json => None,
        Ok(Some(_)) => None,
        _ => config.flow.challenge(&req.key).await.ok(),
    };
    match outcome {
        Ok(device_cookie) => render::done(req, device_cookie, now.as_ref()),
        Err(ActionError::Rejected(rejection)) => {
            render::rejected(config, req, &rejection, now.as_ref())
        }
        Err(ActionError::Problem(problem)) => render::problem(config, req, problem, challenge),
    }
}

/// The checks before the flow: where the POST comes from, what it is, its CSRF token.
async fn accept<B>(
    config: &Config,
    req: &GateRequest,
    body: B,
) -> Result<ActionRequest, RequestProblem>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if !req.same_origin {
        return Err(RequestProblem::CrossSite);
    }
    // The JSON API takes only application/json (a CORS preflight for
    // cross-origin callers); pages take forms.
    let wanted = if req.json {
        BodyType::Json
    } else {
        BodyType::Form
    };
    if req.body_type != wanted {
        return Err(RequestProblem::UnsupportedMediaType);
    }
    let bytes = read_body(body, req.content_length, config.body_limit).await?;
    let parsed = match req.body_type {
        BodyType::Json => parse::from_json(&bytes),
        _ => parse::from_form(&bytes),
    };
    let request = parsed.map_err(|_| RequestProblem::BadRequest)?;
    if req.body_type == BodyType::Form
        && !csrf::check(
            &config.flow.keys().csrf,
            req.csrf_cookie.as_deref(),
            &req.key,
            request.csrf.as_deref(),
        )
    {
        return Err(RequestProblem::Csrf);
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

/// The flow's part; a new device cookie when the browser is now verified.
async fn perform(
    config: &Config,
    req: &GateRequest,
    request: &ActionRequest,
) -> Result<Option<HeaderValue>, ActionError> {
    let flow = &config.flow;
    let send = SendRequest::new(req.locale).with_ticket_hint(req.hint.as_deref());
    match request.action {
        Action::Send | Action::Resend => {
            let send = match (request.action, request.email.as_deref()) {
                (Action::Send, Some(email)) => send.with_email(email),
                _ => send,
            };
            flow.send(&req.key, send).await?;
            Ok(None)
        }
        Action::Verify => {
            let code = request.code.as_deref().unwrap_or("");
            let verified = flow.verify(&req.key, code).await?;
            Ok(Some(render::mint(config, req, verified.generation).1))
        }
        Action::Restart => {
            flow.restart(&req.key).await?;
            Ok(None)
        }
        Action::Confirm => {
            if config.first_device != FirstDevice::Confirm {
                return Err(ActionError::Problem(RequestProblem::BadRequest));
            }
            let claimed = flow
                .claim_first_device(&req.key)
                .await
                .map_err(Rejection::from)?;
            // Claimed meanwhile by another browser: back to the (now challenge) page.
            Ok(claimed.map(|generation| render::mint(config, req, generation).1))
        }
    }
}

/// The body, within `limit` bytes.
async fn read_body<B>(body: B, declared: Option<u64>, limit: usize) -> Result<Bytes, RequestProblem>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(RequestProblem::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(RequestProblem::TooLarge)
        }
        Err(_) => Err(RequestProblem::BadRequest),
    }
}
