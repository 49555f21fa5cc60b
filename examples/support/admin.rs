//! The demo's operator page: look up a ticket, revoke its devices, clear a
//! lockout, unbind it or bind it to another address. Served only when `OTP_ADMIN_TOKEN` is set.
//!
//! How it is protected, as a real back office would be:
//! - the token must be hard to guess ([`check_token`]: at least 32
//!   characters, 8 of them different, of two kinds or more, as
//!   `openssl rand -hex 16` gives); what is typed is compared in constant
//!   time (as MACs under a key of this process);
//! - wrong tokens spend one budget, whoever types them: after
//!   [`FREE_FAILURES`] in a row, each further one closes the sign-in for
//!   twice as long as the last (1 s, 2 s, 4 s ... at most [`MAX_CLOSED`]).
//!   While it is closed every sign-in is answered 429 with `Retry-After`,
//!   the token unchecked; no handler waits. The right token reopens the
//!   budget, and so does an hour without a wrong one;
//! - each sign-in mints its own random session, kept in this process's
//!   memory (a restart signs everyone out). It ends at sign-out, after
//!   [`SESSION_IDLE`] without a request, and [`SESSION_LIFETIME`] after the
//!   sign-in at the latest. Its cookie is `HttpOnly`, `SameSite=Strict`,
//!   `Path=/admin`, and `Secure` when the site is served over https;
//! - every POST must come from the page itself: an `Origin`, when sent, must
//!   be exactly the request's own origin (the scheme the site is served
//!   over, the `Host` it was sent to), a `Sec-Fetch-Site`, when sent, must be
//!   `same-origin`; actions and sign-out also carry the session's CSRF token;
//! - pages are `no-store`, framed by nobody, with a CSP that allows no script;
//! - addresses are shown masked; the ticket id typed is escaped (askama).
//!
//! Who did what is the application's to log; this logs the action and the
//! ticket's key label, never the ticket id or an address.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_otp::cookie::Cookie;
use tower_otp::{EmailAddress, Flow, TicketId, TicketKey, Timestamp};

/// The fewest characters a token may have.
pub(crate) const MIN_TOKEN_LEN: usize = 32;

/// The fewest different characters a token may have.
pub(crate) const MIN_TOKEN_DISTINCT: usize = 8;

/// Wrong tokens in a row before the sign-in closes.
pub(crate) const FREE_FAILURES: u32 = 5;

/// The longest the sign-in stays closed after a wrong token.
pub(crate) const MAX_CLOSED: Duration = Duration::from_secs(300);

/// How long without a wrong token before the budget is whole again.
pub(crate) const FAILURES_FORGOTTEN: Duration = Duration::from_secs(3600);

/// A session ends after this long without a request...
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// ... and this long after its sign-in at the latest.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The most sessions kept; a sign-in beyond ends the least recently used.
const MAX_SESSIONS: usize = 32;

const SESSION_COOKIE: &str = "otp_admin";

const TOKEN_HINT: &str = "try: openssl rand -hex 16";

/// Whether `token` is hard enough to guess to guard the page: at least
/// [`MIN_TOKEN_LEN`] visible ASCII characters, at least
/// [`MIN_TOKEN_DISTINCT`] of them different, and of at least two kinds
/// (lower-case letters, upper-case letters, digits, symbols). That is well
/// over 128 bits for a random token; `aaaa…`, `abab…` or a long number fail.
///
/// # Errors
///
/// Which rule the token breaks, with a way to make a good one.
pub(crate) fn check_token(token: &str) -> Result<(), String> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "only visible ASCII characters, no spaces ({TOKEN_HINT})"
        ));
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "at least {MIN_TOKEN_LEN} characters, this one has {} ({TOKEN_HINT})",
            token.len()
        ));
    }
    let distinct = token.bytes().collect::<HashSet<u8>>().len();
    if distinct < MIN_TOKEN_DISTINCT {
        return Err(format!(
            "at least {MIN_TOKEN_DISTINCT} different characters, this one has {distinct} ({TOKEN_HINT})"
        ));
    }
    let kinds = [
        u8::is_ascii_lowercase,
        u8::is_ascii_uppercase,
        u8::is_ascii_digit,
        u8::is_ascii_punctuation,
    ]
    .iter()
    .filter(|kind| token.bytes().any(|b| kind(&b)))
    .count();
    if kinds < 2 {
        return Err(format!(
            "letters, digits or symbols mixed, not one kind only ({TOKEN_HINT})"
        ));
    }
    Ok(())
}

/// What the operator routes share.
struct Admin {
    flow: Flow,
    /// A key of this process: what is typed is compared as a MAC under it.
    key: [u8; 32],
    /// The MAC of the configured token.
    token_mac: [u8; 32],
    /// The site is served over https.
    https: bool,
    state: Mutex<Sessions>,
}

/// The sessions and the sign-in budget.
#[derive(Default)]
struct Sessions {
    /// By the SHA-256 of the cookie's value, so memory holds no cookie.
    live: HashMap<[u8; 32], Session>,
    /// Wrong tokens in a row.
    failures: u32,
    last_failure: Option<Timestamp>,
    closed_until: Option<Timestamp>,
}

struct Session {
    csrf: String,
    started: Timestamp,
    seen: Timestamp,
}

impl Session {
    fn live_at(&self, now: Timestamp) -> bool {
        now.saturating_since(self.seen) < SESSION_IDLE
            && now.saturating_since(self.started) < SESSION_LIFETIME
    }
}

/// How a sign-in went.
enum SignIn {
    /// The right token: the new session's cookie value.
    Session(String),
    /// A wrong token.
    Refused,
    /// Closed, the token unchecked: try again after this long.
    Closed(Duration),
}

fn mac(key: &[u8; 32], purpose: &str, data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn session_id(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl Admin {
    fn state(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks `typed` against the token, within the budget.
    fn sign_in(&self, typed: &str) -> SignIn {
        let now = self.flow.now();
        let right = bool::from(mac(&self.key, "token", typed.as_bytes()).ct_eq(&self.token_mac));
        let mut state = self.state();
        if let Some(until) = state.closed_until.filter(|until| *until > now) {
            return SignIn::Closed(until.saturating_since(now));
        }
        if !right {
            if state
                .last_failure
                .is_some_and(|last| now.saturating_since(last) >= FAILURES_FORGOTTEN)
            {
                state.failures = 0;
            }
            state.failures = state.failures.saturating_add(1);
            state.last_failure = Some(now);
            if let Some(over) = state.failures.checked_sub(FREE_FAILURES + 1) {
                let closed = Duration::from_secs(1 << over.min(16)).min(MAX_CLOSED);
                state.closed_until = Some(now + closed);
            }
            return SignIn::Refused;
        }
        state.failures = 0;
        state.last_failure = None;
        state.closed_until = None;
        state.live.retain(|_, session| session.live_at(now));
        if state.live.len() >= MAX_SESSIONS {
            let oldest = state
                .live
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(id, _)| *id);
            state.live.retain(|id, _| Some(*id) != oldest);
        }
        let value = hex(&rand::random::<[u8; 32]>());
        let session = Session {
            csrf: hex(&rand::random::<[u8; 32]>()),
            started: now,
            seen: now,
        };
        state.live.insert(session_id(&value), session);
        SignIn::Session(value)
    }

    /// The signed-in session of this request (its id and CSRF token), if
    /// any; a request keeps it from going idle.
    fn session(&self, headers: &HeaderMap) -> Option<([u8; 32], String)> {
        let now = self.flow.now();
        let mut state = self.state();
        let ids: Vec<[u8; 32]> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == SESSION_COOKIE)
            .map(|cookie| session_id(cookie.value()))
            .collect();
        for id in ids {
            let Some(session) = state.live.get_mut(&id) else {
                continue;
            };
            if !session.live_at(now) {
                state.live.remove(&id);
                continue;
            }
            session.seen = now;
            return Some((id, session.csrf.clone()));
        }
        None
    }

    fn sign_out(&self, id: &[u8; 32]) {
        self.state().live.remove(id);
    }

    /// The request comes from this site's own pages: an `Origin`, when sent,
    /// is exactly the request's origin (the scheme the site is served over,
    /// the host the request was sent to), and a `Sec-Fetch-Site`, when sent,
    /// is `same-origin`.
    fn sent_by_own_page(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let fetch_site_ok = headers
            .get_all("sec-fetch-site")
            .iter()
            .all(|site| site.as_bytes() == b"same-origin");
        let mut origins = headers.get_all(ORIGIN).iter();
        let origin_ok = match (origins.next(), origins.next()) {
            (None, _) => true,
            (Some(origin), None) => {
                let host = headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| uri.authority().map(|a| a.as_str()));
                let scheme = if self.https { "https" } else { "http" };
                host.is_some_and(|host| {
                    origin
                        .as_bytes()
                        .eq_ignore_ascii_case(format!("{scheme}://{host}").as_bytes())
                })
            }
            (Some(_), Some(_)) => false,
        };
        fetch_site_ok && origin_ok
    }

    /// [`sent_by_own_page`](Self::sent_by_own_page), and `csrf` is the session's.
    fn csrf_ok(&self, headers: &HeaderMap, uri: &Uri, session_csrf: &str, csrf: &str) -> bool {
        self.sent_by_own_page(headers, uri)
            && bool::from(csrf.as_bytes().ct_eq(session_csrf.as_bytes()))
    }

    fn cookie(&self, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.https { "; Secure" } else { "" };
        let cookie = format!(
            "{SESSION_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        );
        HeaderValue::from_str(&cookie).expect("ascii")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The operator routes under `/admin`, for `flow`, signed in with `token`;
/// `https`: the site is served over https (directly or behind a TLS proxy
/// that passes `Host` through), so the session cookie is `Secure` and only
/// an `https` `Origin` is the page's own. Sessions and the sign-in budget
/// follow the flow's clock.
///
/// # Panics
///
/// If [`check_token`] refuses `token`; the demo checks first.
pub(crate) fn router(flow: Flow, token: &str, https: bool) -> Router {
    if let Err(why) = check_token(token) {
        panic!("OTP_ADMIN_TOKEN: {why}");
    }
    let key: [u8; 32] = rand::random();
    let admin = Arc::new(Admin {
        token_mac: mac(&key, "token", token.as_bytes()),
        key,
        flow,
        https,
        state: Mutex::new(Sessions::default()),
    });
    Router::new()
        .route("/admin", get(page))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/action", post(action))
        .with_state(admin)
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Operator · Demo Tickets</title>
<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{padding:.25rem .75rem .25rem 0;text-align:left;vertical-align:top}
form.inline{display:inline}p.note{color:#555}</style></head><body>
<h1>Operator</h1>
{% if !signed_in %}
<form method="post" action="/admin/login">
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button>Sign in</button></form>
{% if refused %}<p role="alert">That token is not right.</p>{% endif %}
{% if let Some(seconds) = closed_for %}<p role="alert">Too many wrong tokens: signing in is closed for {{ seconds }} s.</p>{% endif %}
{% else %}
<form method="post" action="/admin/logout">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button>Sign out</button></form>
<form method="get" action="/admin">
<label for="ticket">Ticket id</label>
<input id="ticket" name="ticket" value="{{ ticket }}" required>
<button>Look up</button></form>
{% if let Some(done) = done %}<p role="status">Done: {{ done }}.</p>{% endif %}
{% if !rows.is_empty() %}
<h2>Ticket {{ ticket }}</h2>
<table>{% for row in rows %}<tr><th scope="row">{{ row.0 }}</th><td>{{ row.1 }}</td></tr>{% endfor %}</table>
<h2>Actions</h2>
{% for action in actions %}
<form class="inline" method="post" action="/admin/action">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="hidden" name="action" value="{{ action.0 }}">
<button>{{ action.1 }}</button></form>
{% endfor %}
<form method="post" action="/admin/action">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="hidden" name="action" value="rebind">
<label for="address">Bind to another address</label>
<input id="address" name="address" type="email" autocomplete="off" required>
<button>Rebind</button></form>
<p class="note">Unbind and rebind also revoke every device; a rebind tells the old address, in its language.
Addresses are masked. Each action is logged with the ticket's key label.</p>
{% endif %}
{% endif %}
</body></html>"#
)]
struct AdminPage {
    signed_in: bool,
    refused: bool,
    closed_for: Option<u64>,
    ticket: String,
    rows: Vec<(&'static str, String)>,
    actions: &'static [(&'static str, &'static str)],
    csrf: String,
    done: Option<&'static str>,
}

/// The actions the page offers: form value, button label.
const ACTIONS: &[(&str, &str)] = &[
    ("revoke", "Revoke all devices"),
    ("clear_lockout", "Clear the lockout"),
    ("unbind", "Unbind the address"),
];

/// What each action says it did.
const DONE: &[(&str, &str)] = &[
    ("revoke", "every device of the ticket was revoked"),
    ("clear_lockout", "the lockout was cleared"),
    ("unbind", "the address was unbound and every device revoked"),
    (
        "rebind",
        "the ticket was bound to the new address and every device revoked",
    ),
];

fn html(status: StatusCode, page: &AdminPage) -> Response {
    let body = page.render().expect("the template renders");
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

fn login_page() -> AdminPage {
    AdminPage {
        signed_in: false,
        refused: false,
        closed_for: None,
        ticket: String::new(),
        rows: Vec::new(),
        actions: ACTIONS,
        csrf: String::new(),
        done: None,
    }
}

fn not_from_the_page() -> Response {
    tracing::warn!("operator request refused: not from the operator page");
    (StatusCode::FORBIDDEN, "refused: not from the operator page").into_response()
}

#[derive(Deserialize)]
struct Lookup {
    ticket: Option<String>,
    done: Option<String>,
}

async fn page(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Query(query): Query<Lookup>,
) -> Response {
    let Some((_, csrf)) = admin.session(&headers) else {
        return html(StatusCode::UNAUTHORIZED, &login_page());
    };
    let ticket = query.ticket.unwrap_or_default();
    let rows = if ticket.is_empty() {
        Vec::new()
    } else {
        match report(&admin.flow, &key(&admin.flow, &ticket)).await {
            Ok(rows) => rows,
            Err(error) => vec![("error", error)],
        }
    };
    let done = query
        .done
        .and_then(|d| DONE.iter().find(|(name, _)| *name == d))
        .map(|(_, label)| *label);
    html(
        StatusCode::OK,
        &AdminPage {
            signed_in: true,
            ticket,
            rows,
            csrf,
            done,
            ..login_page()
        },
    )
}

fn key(flow: &Flow, ticket: &str) -> TicketKey {
    flow.ticket_key(&TicketId::new(ticket))
}

/// What the operator sees of a ticket: nothing secret, addresses masked.
async fn report(flow: &Flow, key: &TicketKey) -> Result<Vec<(&'static str, String)>, String> {
    let report = flow.inspect(key).await.map_err(|e| e.to_string())?;
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let at = |t: Option<tower_otp::Timestamp>| {
        t.map_or("—".to_owned(), |t| {
            format!("in {} s", t.saturating_since(report.at).as_secs())
        })
    };
    let ago = |t: Option<tower_otp::Timestamp>| {
        t.map_or("—".to_owned(), |t| {
            format!("{} s ago", report.at.saturating_since(t).as_secs())
        })
    };
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "—".to_owned());
    Ok(vec![
        ("key", key.label().to_owned()),
        ("claimed", yes_no(report.claimed)),
        ("claim lapses", at(report.claim_until)),
        ("bound address", or_dash(report.bound_address.clone())),
        (
            "bound language",
            or_dash(report.bound_locale.map(|l| l.tag().to_owned())),
        ),
        ("bound", ago(report.bound_at)),
        ("a device was verified", yes_no(report.device_verified)),
        ("pending address", or_dash(report.pending_address.clone())),
        (
            "sends in the window",
            format!("{} of {}", report.sends_in_window, report.sends_per_window),
        ),
        ("next send allowed", at(report.next_send_at)),
        ("live codes", report.live_codes.to_string()),
        ("codes expire", at(report.codes_expire_at)),
        ("attempts left", report.attempts_left.to_string()),
        ("failures in a row", report.consecutive_failures.to_string()),
        ("locked until", at(report.locked_until)),
        ("device generation", report.generation.to_string()),
    ])
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Login>,
) -> Response {
    if !admin.sent_by_own_page(&headers, &uri) {
        return not_from_the_page();
    }
    match admin.sign_in(&form.token) {
        SignIn::Session(value) => {
            let mut response = Redirect::to("/admin").into_response();
            response
                .headers_mut()
                .insert(SET_COOKIE, admin.cookie(&value, SESSION_LIFETIME));
            response
        }
        SignIn::Refused => {
            tracing::warn!("operator sign-in refused");
            let page = AdminPage {
                refused: true,
                ..login_page()
            };
            html(StatusCode::FORBIDDEN, &page)
        }
        SignIn::Closed(wait) => {
            // Whole seconds, rounded up: a client that waits as told is let in.
            let seconds = wait.as_millis().div_ceil(1000).max(1) as u64;
            tracing::warn!(seconds, "operator sign-in closed after wrong tokens");
            let page = AdminPage {
                closed_for: Some(seconds),
                ..login_page()
            };
            let mut response = html(StatusCode::TOO_MANY_REQUESTS, &page);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

#[derive(Deserialize)]
struct Logout {
    csrf: String,
}

async fn logout(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Logout>,
) -> Response {
    if let Some((id, csrf)) = admin.session(&headers) {
        if !admin.csrf_ok(&headers, &uri, &csrf, &form.csrf) {
            return not_from_the_page();
        }
        admin.sign_out(&id);
        tracing::info!("operator signed out");
    }
    let mut response = Redirect::to("/admin").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, admin.cookie("", Duration::ZERO));
    response
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    ticket: String,
    action: String,
    address: Option<String>,
}

async fn action(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some((_, csrf)) = admin.session(&headers) else {
        return html(StatusCode::UNAUTHORIZED, &login_page());
    };
    if !admin.csrf_ok(&headers, &uri, &csrf, &form.csrf) {
        return not_from_the_page();
    }
    let key = key(&admin.flow, &form.ticket);
    let flow = &admin.flow;
    let result = match form.action.as_str() {
        "revoke" => flow.revoke_devices(&key).await.map(drop),
        "clear_lockout" => flow.clear_lockout(&key).await.map(drop),
        "unbind" => flow.unbind(&key).await.map(drop),
        "rebind" => {
            let typed = form.address.as_deref().unwrap_or("");
            let Ok(address) = EmailAddress::parse(typed) else {
                return (StatusCode::UNPROCESSABLE_ENTITY, "not an e-mail address").into_response();
            };
            flow.rebind(&key, &address).await.map(drop)
        }
        _ => return (StatusCode::BAD_REQUEST, "unknown action").into_response(),
    };
    match result {
        Ok(()) => {
            tracing::info!(
                action = form.action,
                ticket = key.label(),
                "operator action"
            );
            let ticket: String = form_urlencoded::byte_serialize(form.ticket.as_bytes()).collect();
            Redirect::to(&format!("/admin?ticket={ticket}&done={}", form.action)).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}
