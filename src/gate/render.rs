//! The gate's answers to one [`GateRequest`]: a page in HTML or its JSON
//! picture, and the cookies that go with it.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, SET_COOKIE};
use http::{Response, StatusCode};
use serde_json::json;

use super::cookies::{self, LANG};
use super::request::{GateRequest, probe_value};
use super::{csrf, lang, respond};
use crate::body::GateBody;
use crate::config::Config;
use crate::device::{DeviceClaims, set_cookie};
use crate::flow::{Challenge, ChallengeState, Delivery, Rejection};
use crate::locale::Locale;
use crate::pages::{Notice, PageContext, PageKind, RequestProblem};

/// How long the first-device probe waits for the browser to come back.
const PROBE_MAX_AGE: Duration = Duration::from_secs(300);
/// How long a chosen language is remembered.
const LANG_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What to show: a page kind with its status, the challenge and a notice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) status: StatusCode,
    pub(crate) kind: PageKind,
    pub(crate) challenge: Option<&'a Challenge>,
    pub(crate) notice: Option<Notice<'a>>,
}

impl<'a> Answer<'a> {
    /// The challenge page (401).
    pub(crate) fn challenge(challenge: Option<&'a Challenge>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: PageKind::Challenge,
            challenge,
            notice: None,
        }
    }

    /// A page of `kind` with `status` and no challenge.
    pub(crate) fn plain(status: StatusCode, kind: PageKind) -> Self {
        Self {
            status,
            kind,
            challenge: None,
            notice: None,
        }
    }
}

/// The answer as HTML or JSON, as the request asked.
pub(crate) fn page(config: &Config, req: &GateRequest, answer: Answer<'_>) -> Response<Bytes> {
    let delivery = config.flow.delivery(&req.key);
    if req.json {
        return json_page(answer, delivery);
    }
    let (path, query) = (req.path(), req.query());
    let links: Vec<(Locale, String)> = (config.pages.languages().iter())
        .map(|l| (*l, lang::switch_url(path, query, *l)))
        .collect();
    let links: Vec<(Locale, &str)> = links.iter().map(|(l, u)| (*l, u.as_str())).collect();
    let cookie = req
        .csrf_cookie
        .as_deref()
        .or(req.new_csrf.as_deref())
        .unwrap_or("");
    let token = csrf::masked_token(&config.flow.keys().csrf, cookie, &req.key);
    let mut context = PageContext::new(answer.kind, req.locale, &req.url, &token, &req.nonce)
        .with_language_links(&links)
        .with_ticket_hint(req.hint.as_deref())
        .with_site_name(Some(config.flow.site_name()))
        .with_delivery(delivery);
    context.challenge = answer.challenge;
    context.notice = answer.notice;
    let html = config.pages.render(&context);
    respond::html(answer.status, html, &req.nonce)
}

fn json_page(answer: Answer<'_>, delivery: Option<Delivery>) -> Response<Bytes> {
    let challenge = answer.challenge;
    let mut value = match (answer.notice, answer.kind) {
        (Some(Notice::Rejected(rejection)), _) => respond::rejection_json(rejection, challenge),
        (Some(Notice::Problem(problem)), _) => {
            let (_, code) = respond::problem_status(problem);
            let mut map = challenge.map(respond::challenge_json).unwrap_or_default();
            map.insert("error".into(), json!(code));
            map.insert("message".into(), json!(respond::problem_message(problem)));
            serde_json::Value::Object(map)
        }
        (None, PageKind::Confirm) => json!({ "state": "confirm_required" }),
        (None, PageKind::Unavailable) => {
            json!({ "error": "unavailable", "message": "service unavailable, try again shortly" })
        }
        (None, _) => challenge
            .map(respond::challenge_json)
            .map(serde_json::Value::Object)
            .unwrap_or_default(),
    };
    if let (Some(_), serde_json::Value::Object(map)) = (challenge, &mut value) {
        respond::delivery_json(map, delivery);
    }
    respond::json(answer.status, &value)
}

/// The refusal every unbound ticket gets when the flow binds only
/// pre-bound addresses.
static NOT_PREBOUND: Rejection = Rejection::NotPrebound;

/// The challenge page (401), or, for a ticket in
/// [`ChallengeState::NotPrebound`], the page that says no address can be
/// typed here (403, JSON `"error": "not_prebound"`).
pub(crate) fn challenge_page(
    config: &Config,
    req: &GateRequest,
    challenge: Option<&Challenge>,
) -> Response<Bytes> {
    match challenge {
        Some(c) if c.state == ChallengeState::NotPrebound => {
            rejected(config, req, &NOT_PREBOUND, challenge)
        }
        _ => page(config, req, Answer::challenge(challenge)),
    }
}

/// The store failed: 503.
pub(crate) fn unavailable(config: &Config, req: &GateRequest) -> Response<Bytes> {
    let answer = Answer::plain(StatusCode::SERVICE_UNAVAILABLE, PageKind::Unavailable);
    page(config, req, answer)
}

/// A request the gate refuses before the flow sees it.
pub(crate) fn problem(
    config: &Config,
    req: &GateRequest,
    problem: RequestProblem,
    challenge: &Challenge,
) -> Response<Bytes> {
    let answer = Answer {
        status: respond::problem_status(problem).0,
        notice: Some(Notice::Problem(problem)),
        ..Answer::challenge(Some(challenge))
    };
    page(config, req, answer)
}

/// The page again with what the flow refused, on the challenge as it is now.
pub(crate) fn rejected(
    config: &Config,
    req: &GateRequest,
    rejection: &Rejection,
    now: Option<&Challenge>,
) -> Response<Bytes> {
    let kind = if now.is_some() {
        PageKind::Challenge
    } else {
        PageKind::Unavailable
    };
    let answer = Answer {
        status: respond::rejection_status(rejection),
        kind,
        challenge: now,
        notice: Some(Notice::Rejected(rejection)),
    };
    let mut response = page(config, req, answer);
    // Every 429 says when to retry: a spent round waits for the next send.
    let wait = rejection.retry_after().or_else(|| {
        matches!(rejection, Rejection::TooManyAttempts)
            .then(|| now.map_or(Duration::ZERO, Challenge::resend_in))
    });
    if let Some(wait) = wait {
        // Whole seconds, rounded up: a client that waits that long may go.
        let seconds = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
        respond::retry_after(&mut response, seconds.max(1));
    }
    response
}

/// A successful action: 303 to the same URL (HTML), or the new state (JSON).
pub(crate) fn done(
    req: &GateRequest,
    device_cookie: Option<HeaderValue>,
    now: Option<&Challenge>,
    delivery: Option<Delivery>,
) -> Response<Bytes> {
    let mut response = if !req.json {
        respond::see_other(&req.url)
    } else if device_cookie.is_some() {
        respond::json(StatusCode::OK, &json!({ "state": "verified" }))
    } else {
        let mut state = now.map(respond::challenge_json).unwrap_or_default();
        respond::delivery_json(&mut state, delivery);
        respond::json(StatusCode::OK, &state.into())
    };
    if let Some(cookie) = device_cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// First device, trust mode: set the probe cookie and come back (a JSON
/// client is told so in a `cookie_check` state).
pub(crate) fn probe(config: &Config, req: &GateRequest) -> Response<Bytes> {
    let mut response = respond::see_other(&req.marked_url());
    if req.json {
        let value = json!({
            "state": "cookie_check",
            "message": "first device: repeat the request with the cookie just set",
        });
        let body = serde_json::to_vec(&value).unwrap_or_default();
        *response.body_mut() = Bytes::from(body);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
        .headers_mut()
        .append(SET_COOKIE, probe_cookie(config, req, PROBE_MAX_AGE));
    response
}

/// The probe cookie, or its removal (`max_age` zero).
pub(crate) fn probe_cookie(config: &Config, req: &GateRequest, max_age: Duration) -> HeaderValue {
    let secure = config.secure();
    set_cookie(
        cookies::probe_name(secure),
        probe_value(&req.key),
        &req.cookie_path,
        Some(max_age),
        secure,
    )
}

/// A new device for `req`'s ticket at `generation`, trusted for
/// `lifetime` at most (a first device whose claim lapses sooner than the
/// device lifetime gets a token and a cookie that lapse with it), and the
/// `Set-Cookie` that hands it to the browser.
pub(crate) fn mint(
    config: &Config,
    req: &GateRequest,
    generation: u64,
    lifetime: Duration,
) -> (DeviceClaims, HeaderValue) {
    let lifetime = lifetime.min(config.tokens.lifetime());
    let now = config.flow.now();
    let (claims, token) = config.tokens.mint(&req.key, generation, now, lifetime);
    let cookie = config
        .cookie
        .header(&req.key, &token, &req.cookie_path, lifetime);
    (claims, cookie)
}

/// Adds the cookies every gate page sets (CSRF, language) and the body.
pub(crate) fn finish<B: GateBody>(
    config: &Config,
    req: &GateRequest,
    mut response: Response<Bytes>,
) -> Response<B> {
    let secure = config.secure();
    let headers = response.headers_mut();
    if let Some(value) = &req.new_csrf {
        let cookie = set_cookie(cookies::csrf_name(secure), value, "/", None, secure);
        headers.append(SET_COOKIE, cookie);
    }
    if let Some(locale) = req.lang_choice {
        let cookie = set_cookie(LANG, locale.tag(), "/", Some(LANG_MAX_AGE), secure);
        headers.append(SET_COOKIE, cookie);
    }
    response.map(B::from_gate)
}
