//! The gate: what an unverified browser gets (pages, actions, first-device trust).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, SET_COOKIE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use rand::RngCore;
use serde_json::json;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::config::Config;
use crate::decision::{Decision, Facts, FirstDevice, Kind, decide, is_prefetch};
use crate::device::{DeviceClaims, DeviceCookie};
use crate::flow::{Challenge, Rejection, SendRequest};
use crate::locale::Locale;
use crate::mail::BoxError;
use crate::pages::{Notice, PageContext, PageKind, RequestProblem};
use crate::ticket::{TicketKey, TicketMatch};
use crate::verified::VerifiedDevice;
use crate::web::action::{self, Action, ActionRequest};
use crate::web::{csrf, lang, origin, respond};

const PROBE_COOKIE: &str = "otp_probe";
const CSRF_COOKIE: &str = "otp_csrf";

type GateResult<B, E> = Result<Response<ResponseBody<B>>, E>;

/// Handles a request for a ticket that carries no valid device cookie (or
/// one that must be checked against the store first).
pub(crate) async fn run<S, ReqBody, ResBody>(
    config: Arc<Config>,
    mut inner: S,
    request: Request<ReqBody>,
    found: TicketMatch,
    key: TicketKey,
    claims: Option<DeviceClaims>,
) -> GateResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body,
    ReqBody::Error: Into<BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let mut store_failed = false;
    if let Some(claims) = claims {
        // Revocation checks are on: the cookie is valid unless the ticket's generation moved on.
        match config.flow.generation(&key).await {
            Ok(generation) if claims.generation >= generation => {
                parts
                    .extensions
                    .insert(VerifiedDevice::new(found.id.clone(), key, claims));
                let mut response = inner.call(Request::from_parts(parts, body)).await?;
                no_store_unless_set(&mut response);
                return Ok(response.map(ResponseBody::inner));
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(ticket = key.label(), %error, "store unavailable for the revocation check");
                store_failed = true;
            }
        }
    }
    let gate = Gate::new(&config, parts, &found, key);
    if store_failed {
        return Ok(gate.finish(gate.unavailable()));
    }
    let parts = &gate.parts;
    let challenge = match config.flow.challenge(&key).await {
        Ok(challenge) => challenge,
        Err(error) => {
            tracing::error!(ticket = key.label(), %error, "store unavailable");
            return Ok(gate.finish(gate.unavailable()));
        }
    };
    let facts = Facts {
        ticket: true,
        verified: false,
        method: Kind::of(&parts.method),
        prefetch: is_prefetch(&parts.headers),
        claimable: challenge.claimable,
        probe: DeviceCookie::find(&parts.headers, &gate.probe_name()) == Some(gate.probe_value()),
        mode: config.first_device,
    };
    let response = match decide(&facts) {
        Decision::Probe => gate.probe(),
        Decision::Claim => match config.flow.claim_first_device(&key).await {
            Ok(Some(generation)) => {
                let (claims, set_cookie) = gate.mint(generation);
                let clear_probe = gate.probe_cookie(true);
                let mut parts = gate.parts;
                parts
                    .extensions
                    .insert(VerifiedDevice::new(found.id.clone(), key, claims));
                let mut response = inner.call(Request::from_parts(parts, body)).await?;
                let headers = response.headers_mut();
                headers.append(SET_COOKIE, set_cookie);
                headers.append(SET_COOKIE, clear_probe);
                headers.insert(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                );
                return Ok(response.map(ResponseBody::inner));
            }
            Ok(None) => gate.page(
                StatusCode::UNAUTHORIZED,
                PageKind::Challenge,
                Some(&challenge),
                None,
            ),
            Err(error) => {
                tracing::error!(ticket = key.label(), %error, "store unavailable");
                gate.unavailable()
            }
        },
        Decision::ConfirmPage => gate.page(StatusCode::UNAUTHORIZED, PageKind::Confirm, None, None),
        Decision::Action => gate.action(body, &challenge).await,
        Decision::Page | Decision::Pass => gate.page(
            StatusCode::UNAUTHORIZED,
            PageKind::Challenge,
            Some(&challenge),
            None,
        ),
    };
    Ok(gate.finish(response))
}

/// One gate response being put together.
struct Gate<'a> {
    config: &'a Config,
    parts: http::request::Parts,
    found: &'a TicketMatch,
    key: TicketKey,
    locale: Locale,
    json: bool,
    /// The request's own path and query: form action and redirect target.
    url: String,
    csrf_cookie: Option<String>,
    /// A CSRF cookie to set (GET without one).
    new_csrf: Option<String>,
    /// The language chosen by `?otp_lang=`, to remember.
    lang_choice: Option<Locale>,
    /// The application's hint of which ticket this is.
    hint: Option<String>,
    nonce: String,
}

impl<'a> Gate<'a> {
    fn new(
        config: &'a Config,
        parts: http::request::Parts,
        found: &'a TicketMatch,
        key: TicketKey,
    ) -> Self {
        let headers = &parts.headers;
        let query = parts.uri.query();
        let csrf_name = cookie_name(config.secure(), CSRF_COOKIE);
        let csrf_cookie = DeviceCookie::find(headers, &csrf_name)
            .filter(|v| csrf::well_formed(v))
            .map(str::to_owned);
        let locale = lang::negotiate(
            query,
            DeviceCookie::find(headers, lang::LANG_PARAM),
            headers,
            config.pages.languages(),
            config.flow.default_locale(),
        );
        let json = accepts_json(headers) || content_type_is(&parts, "application/json");
        let url = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        // HEAD, prefetches and other methods set no cookie at all.
        let quiet = !matches!(parts.method, Method::GET | Method::POST) || is_prefetch(headers);
        // A browser without a CSRF cookie gets one, so the page it is shown
        // (a refused POST's page included) can be submitted.
        // The JSON API needs none: its POSTs must be application/json (a CORS preflight).
        let new_csrf = (csrf_cookie.is_none() && !quiet && !json).then(csrf::new_cookie_value);
        let lang_choice = if quiet { None } else { lang::from_query(query) };
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        Self {
            config,
            parts,
            found,
            key,
            locale,
            json,
            url,
            csrf_cookie,
            new_csrf,
            lang_choice,
            hint: config.ticket_hint.as_ref().and_then(|hint| hint(&found.id)),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
        }
    }

    fn probe_name(&self) -> String {
        cookie_name(self.config.secure(), PROBE_COOKIE)
    }

    /// A small cookie with our attributes.
    fn small_cookie(&self, name: String, value: String, path: &str) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(path.to_owned())
            .http_only(true)
            .secure(self.config.secure())
            .same_site(SameSite::Lax)
            .build()
    }

    /// The probe's value names the ticket, so a probe earned on one ticket claims no other.
    fn probe_value(&self) -> &str {
        &self.key.as_str()[..16]
    }

    fn probe_cookie(&self, remove: bool) -> HeaderValue {
        let mut cookie = self.small_cookie(
            self.probe_name(),
            self.probe_value().to_owned(),
            self.found.cookie_path(self.parts.uri.path()),
        );
        cookie.set_max_age(cookie::time::Duration::seconds(if remove {
            0
        } else {
            300
        }));
        header_value(&cookie)
    }

    /// First device, trust mode: set the probe cookie and come back.
    fn probe(&self) -> Response<Bytes> {
        let mut response = respond::see_other(&self.url);
        response
            .headers_mut()
            .append(SET_COOKIE, self.probe_cookie(false));
        response
    }

    /// A fresh device token and its cookie.
    fn mint(&self, generation: u64) -> (DeviceClaims, HeaderValue) {
        let now = self.config.flow.now();
        let issued = self.config.tokens.issue(&self.key, generation, now);
        let cookie = self.config.cookie.set_cookie(
            &self.key,
            &issued.token,
            self.found.cookie_path(self.parts.uri.path()),
        );
        let claims = DeviceClaims {
            device_id: issued.device_id,
            issued_at: crate::Timestamp::from_millis(now.as_secs() * 1000),
            expires_at: issued.expires_at,
            generation,
        };
        (claims, header_value(&cookie))
    }

    fn csrf_token(&self) -> String {
        let cookie = self
            .csrf_cookie
            .as_deref()
            .or(self.new_csrf.as_deref())
            .unwrap_or("");
        csrf::token(&self.config.flow.keys().csrf, cookie, &self.key)
    }

    /// A page (HTML) or its JSON picture.
    fn page(
        &self,
        status: StatusCode,
        kind: PageKind,
        challenge: Option<&Challenge>,
        notice: Option<Notice<'_>>,
    ) -> Response<Bytes> {
        if self.json {
            return self.json_page(status, kind, challenge, notice);
        }
        let path = self.parts.uri.path();
        let query = self.parts.uri.query();
        let links: Vec<(Locale, String)> = (self.config.pages.languages().iter())
            .map(|l| (*l, lang::switch_url(path, query, *l)))
            .collect();
        let links: Vec<(Locale, &str)> = links.iter().map(|(l, u)| (*l, u.as_str())).collect();
        let token = self.csrf_token();
        let mut context = PageContext::new(kind, self.locale, &self.url, &token, &self.nonce)
            .with_language_links(&links)
            .with_ticket_hint(self.hint.as_deref())
            .with_site_name(Some(self.config.flow.site_name()));
        context.challenge = challenge;
        context.notice = notice;
        let html = self.config.pages.render(&context);
        respond::html(status, html, &self.nonce)
    }

    fn json_page(
        &self,
        status: StatusCode,
        kind: PageKind,
        challenge: Option<&Challenge>,
        notice: Option<Notice<'_>>,
    ) -> Response<Bytes> {
        let value = match (notice, kind) {
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
        respond::json(status, &value)
    }

    fn unavailable(&self) -> Response<Bytes> {
        self.page(
            StatusCode::SERVICE_UNAVAILABLE,
            PageKind::Unavailable,
            None,
            None,
        )
    }

    fn problem(&self, problem: RequestProblem, challenge: &Challenge) -> Response<Bytes> {
        let (status, _) = respond::problem_status(problem);
        self.page(
            status,
            PageKind::Challenge,
            Some(challenge),
            Some(Notice::Problem(problem)),
        )
    }

    /// Re-renders the page with what went wrong (reading the challenge afresh).
    async fn rejected(&self, rejection: Rejection) -> Response<Bytes> {
        let status = respond::rejection_status(&rejection);
        let challenge = self.config.flow.challenge(&self.key).await.ok();
        let kind = if challenge.is_some() {
            PageKind::Challenge
        } else {
            PageKind::Unavailable
        };
        let mut response = self.page(
            status,
            kind,
            challenge.as_ref(),
            Some(Notice::Rejected(&rejection)),
        );
        // Every 429 says when to retry: a spent round waits for the next send.
        let wait = rejection.retry_after().or_else(|| {
            matches!(rejection, Rejection::TooManyAttempts).then(|| {
                challenge
                    .as_ref()
                    .map_or(Duration::ZERO, Challenge::resend_in)
            })
        });
        if let Some(wait) = wait {
            respond::retry_after(&mut response, wait.as_secs().max(1));
        }
        response
    }

    /// A successful action: 303 to the same URL (HTML), or the new state (JSON).
    async fn done(&self, device_cookie: Option<HeaderValue>) -> Response<Bytes> {
        let mut response = if !self.json {
            respond::see_other(&self.url)
        } else if device_cookie.is_some() {
            respond::json(StatusCode::OK, &json!({ "state": "verified" }))
        } else {
            match self.config.flow.challenge(&self.key).await {
                Ok(challenge) => {
                    respond::json(StatusCode::OK, &respond::challenge_json(&challenge).into())
                }
                Err(_) => respond::json(StatusCode::OK, &json!({})),
            }
        };
        if let Some(cookie) = device_cookie {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        response
    }

    /// A POST: checks, then the action.
    async fn action<B>(&self, body: B, challenge: &Challenge) -> Response<Bytes>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let config = self.config;
        if !origin::post_allowed(
            &self.parts.headers,
            self.parts.uri.authority().map(|a| a.as_str()),
            &config.allowed_origins,
            config.trust_same_site,
        ) {
            return self.problem(RequestProblem::CrossSite, challenge);
        }
        let is_json = content_type_is(&self.parts, "application/json");
        let is_form = content_type_is(&self.parts, "application/x-www-form-urlencoded");
        // The JSON API takes only application/json (a CORS preflight for cross-origin callers); pages take forms.
        let accepted = if self.json { is_json } else { is_form };
        if !accepted {
            return self.problem(RequestProblem::UnsupportedMediaType, challenge);
        }
        let bytes = match read_body(body, &self.parts, config.body_limit).await {
            Ok(bytes) => bytes,
            Err(problem) => return self.problem(problem, challenge),
        };
        let parsed = if is_json {
            action::from_json(&bytes)
        } else {
            action::from_form(&bytes)
        };
        let Ok(request) = parsed else {
            return self.problem(RequestProblem::BadRequest, challenge);
        };
        if is_form
            && !csrf::check(
                &config.flow.keys().csrf,
                self.csrf_cookie.as_deref(),
                &self.key,
                request.csrf.as_deref(),
            )
        {
            return self.problem(RequestProblem::Csrf, challenge);
        }
        match self.perform(&request).await {
            Ok(device_cookie) => self.done(device_cookie).await,
            Err(ActionError::Rejected(rejection)) => self.rejected(rejection).await,
            Err(ActionError::Problem(problem)) => self.problem(problem, challenge),
        }
    }

    async fn perform(&self, request: &ActionRequest) -> Result<Option<HeaderValue>, ActionError> {
        let flow = &self.config.flow;
        let send = SendRequest::new(self.locale).with_ticket_hint(self.hint.as_deref());
        match request.action {
            Action::Send => {
                let send = match request.email.as_deref() {
                    Some(email) => send.with_email(email),
                    None => send,
                };
                flow.send(&self.key, send).await?;
                Ok(None)
            }
            Action::Resend => {
                flow.send(&self.key, send).await?;
                Ok(None)
            }
            Action::Verify => {
                let verified = flow
                    .verify(&self.key, request.code.as_deref().unwrap_or(""))
                    .await?;
                Ok(Some(self.mint(verified.generation).1))
            }
            Action::Restart => {
                flow.restart(&self.key).await?;
                Ok(None)
            }
            Action::Confirm => {
                if self.config.first_device != FirstDevice::Confirm {
                    return Err(ActionError::Problem(RequestProblem::BadRequest));
                }
                match flow
                    .claim_first_device(&self.key)
                    .await
                    .map_err(Rejection::from)?
                {
                    Some(generation) => Ok(Some(self.mint(generation).1)),
                    // Claimed meanwhile by another browser: back to the (now challenge) page.
                    None => Ok(None),
                }
            }
        }
    }

    /// Adds the cookies this response should set.
    fn finish<B>(&self, response: Response<Bytes>) -> Response<ResponseBody<B>> {
        let mut response = response;
        let headers = response.headers_mut();
        if let Some(value) = &self.new_csrf {
            let cookie = self.small_cookie(
                cookie_name(self.config.secure(), CSRF_COOKIE),
                value.clone(),
                "/",
            );
            headers.append(SET_COOKIE, header_value(&cookie));
        }
        if let Some(locale) = self.lang_choice {
            let mut cookie =
                self.small_cookie(lang::LANG_PARAM.to_owned(), locale.tag().to_owned(), "/");
            cookie.set_max_age(cookie::time::Duration::days(365));
            headers.append(SET_COOKIE, header_value(&cookie));
        }
        response.map(ResponseBody::gate)
    }
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

/// `__Host-` prefixed when `Secure` (Path=/ cookies) or `__Secure-` for
/// path-scoped ones is decided by the caller; here: `__Host-` for `/` cookies.
fn cookie_name(secure: bool, base: &str) -> String {
    if !secure {
        base.to_owned()
    } else if base == PROBE_COOKIE {
        format!("__Secure-{base}")
    } else {
        format!("__Host-{base}")
    }
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string())
        .expect("cookie values we build are valid header values")
}

/// A ticket page is a capability page: keep it out of caches unless the app says otherwise.
pub(crate) fn no_store_unless_set<B>(response: &mut Response<B>) {
    response
        .headers_mut()
        .entry(http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

fn accepts_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn content_type_is(parts: &http::request::Parts, mime: &str) -> bool {
    parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
}

async fn read_body<B>(
    body: B,
    parts: &http::request::Parts,
    limit: usize,
) -> Result<Bytes, RequestProblem>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
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
