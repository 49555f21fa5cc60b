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
use axum::http::header::{CACHE_CONTROL, COOKIE, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_otp::cookie::Cookie;
use tower_otp::family::SeatState;
use tower_otp::{EmailAddress, Flow, TicketId, TicketKey, Timestamp};

// `demo_app.rs` loads these too: each is small and keeps no state.
#[allow(clippy::duplicate_mod)]
#[path = "demo_look.rs"]
mod look;
#[allow(clippy::duplicate_mod)]
#[path = "demo_texts.rs"]
mod texts;

use self::texts::{DemoTexts, fill};

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
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<meta name="robots" content="noindex,nofollow">
<title>{{ t.admin_title }} · {{ site }}</title>
<style>{{ style|safe }}</style>
</head>
<body>
<header><p class="site"><a href="/">{{ site }}</a></p></header>
<main>
<h1>{{ t.admin_title }}</h1>
{% if !signed_in %}
<form method="post" action="/admin/login">
<label for="token">{{ t.token_label }}</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button class="primary">{{ t.sign_in }}</button></form>
{% if refused %}<p class="notice" role="alert">{{ t.token_wrong }}</p>{% endif %}
{% if let Some(closed) = closed %}<p class="notice" role="alert">{{ closed }}</p>{% endif %}
{% else %}
<form method="get" action="/admin">
<label for="ticket">{{ t.ticket_id_label }}</label>
<input id="ticket" name="ticket" value="{{ ticket }}" required autocapitalize="off" spellcheck="false">
<button class="primary">{{ t.look_up }}</button></form>
{% if let Some(done) = done %}<p class="done" role="status">{{ done }}</p>{% endif %}
{% if !rows.is_empty() %}
<h2>{{ t.ticket_heading }} <code>{{ ticket }}</code></h2>
<table>{% for row in rows %}<tr><th scope="row">{{ row.0 }}</th><td>{{ row.1 }}</td></tr>{% endfor %}</table>
{% if !seats.is_empty() %}<h2>{{ t.seats_title }}</h2>
<table>{% for seat in seats %}<tr><th scope="row">{{ seat.0 }}</th><td>{{ seat.1 }}</td></tr>{% endfor %}</table>
{% endif %}<h2>{{ t.actions_title }}</h2>
<div class="actions">
{% for action in actions %}
<form method="post" action="/admin/action">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="hidden" name="action" value="{{ action.0 }}">
<button>{{ action.1 }}</button></form>
{% endfor %}
</div>
<form method="post" action="/admin/action">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="hidden" name="action" value="rebind">
<label for="address">{{ t.rebind_label }}</label>
<input id="address" name="address" type="email" autocomplete="off" required autocapitalize="off" spellcheck="false">
<button>{{ t.rebind }}</button></form>
<p class="small">{{ t.admin_note }}</p>
{% endif %}
<form method="post" action="/admin/logout">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button>{{ t.sign_out }}</button></form>
{% endif %}
</main>
</body>
</html>"#
)]
struct AdminPage {
    lang: &'static str,
    t: &'static DemoTexts,
    site: &'static str,
    style: &'static str,
    signed_in: bool,
    refused: bool,
    closed: Option<String>,
    ticket: String,
    rows: Vec<(&'static str, String)>,
    /// The seats of a ticket that is a family's own (an order), and where
    /// each stands.
    seats: Vec<(String, String)>,
    actions: Vec<(&'static str, &'static str)>,
    csrf: String,
    done: Option<String>,
}

/// The actions the page offers: form value, button label.
fn actions(t: &DemoTexts) -> Vec<(&'static str, &'static str)> {
    vec![
        ("revoke", t.revoke),
        ("clear_lockout", t.clear_lockout),
        ("unbind", t.unbind),
    ]
}

/// What action `name` says it did.
fn done(t: &DemoTexts, name: &str) -> Option<&'static str> {
    match name {
        "revoke" => Some(t.done_revoke),
        "clear_lockout" => Some(t.done_clear_lockout),
        "unbind" => Some(t.done_unbind),
        "rebind" => Some(t.done_rebind),
        _ => None,
    }
}

fn html(status: StatusCode, page: &AdminPage) -> Response {
    let body = page.render().expect("the template renders");
    let mut response = look::with_headers((status, Html(body)).into_response());
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in page, in the language of the request's `headers`.
fn login_page(headers: &HeaderMap) -> AdminPage {
    let locale = look::locale(headers);
    let t = DemoTexts::for_locale(locale);
    AdminPage {
        lang: locale.tag(),
        t,
        site: look::SITE,
        style: look::STYLE,
        signed_in: false,
        refused: false,
        closed: None,
        ticket: String::new(),
        rows: Vec::new(),
        seats: Vec::new(),
        actions: actions(t),
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
        return html(StatusCode::UNAUTHORIZED, &login_page(&headers));
    };
    let page = login_page(&headers);
    let t = page.t;
    let ticket = query.ticket.unwrap_or_default();
    let rows = if ticket.is_empty() {
        Vec::new()
    } else {
        match report(&admin.flow, &key(&admin.flow, &ticket), t).await {
            Ok(rows) => rows,
            Err(error) => vec![("error", error)],
        }
    };
    let seats = if ticket.is_empty() {
        Vec::new()
    } else {
        seats(&admin.flow, &ticket, t).await
    };
    let done = query
        .done
        .as_deref()
        .and_then(|d| done(t, d))
        .map(|label| fill(t.done, &[("done", label)]));
    html(
        StatusCode::OK,
        &AdminPage {
            signed_in: true,
            ticket,
            rows,
            seats,
            csrf,
            done,
            ..page
        },
    )
}

fn key(flow: &Flow, ticket: &str) -> TicketKey {
    flow.ticket_key(&TicketId::new(ticket))
}

/// What the operator sees of a ticket: nothing secret, addresses masked;
/// its rows named in `t`'s language.
async fn report(
    flow: &Flow,
    key: &TicketKey,
    t: &'static DemoTexts,
) -> Result<Vec<(&'static str, String)>, String> {
    let report = flow.inspect(key).await.map_err(|e| e.to_string())?;
    let yes_no = |b: bool| if b { t.yes } else { t.no }.to_owned();
    let at = |at: Option<tower_otp::Timestamp>| {
        at.map_or("—".to_owned(), |at| {
            let n = at.saturating_since(report.at).as_secs().to_string();
            fill(t.in_seconds, &[("n", &n)])
        })
    };
    let ago = |at: Option<tower_otp::Timestamp>| {
        at.map_or("—".to_owned(), |at| {
            let n = report.at.saturating_since(at).as_secs().to_string();
            fill(t.seconds_ago, &[("n", &n)])
        })
    };
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "—".to_owned());
    let sends = fill(
        t.n_of_max,
        &[
            ("n", &report.sends_in_window.to_string()),
            ("max", &report.sends_per_window.to_string()),
        ],
    );
    let values = [
        key.label().to_owned(),
        yes_no(report.claimed),
        at(report.claim_until),
        or_dash(report.bound_address.clone()),
        or_dash(report.bound_locale.map(|l| l.tag().to_owned())),
        ago(report.bound_at),
        yes_no(report.device_verified),
        or_dash(report.pending_address.clone()),
        sends,
        at(report.next_send_at),
        report.live_codes.to_string(),
        at(report.codes_expire_at),
        report.attempts_left.to_string(),
        report.consecutive_failures.to_string(),
        at(report.locked_until),
        report.generation.to_string(),
    ];
    Ok(t.report.into_iter().zip(values).collect())
}

/// The seats `{ticket}-1`, `{ticket}-2`… the flow's families make members
/// of `ticket`, and where each stands (addresses masked); none for a
/// ticket that is no family's own.
async fn seats(flow: &Flow, ticket: &str, t: &'static DemoTexts) -> Vec<(String, String)> {
    let seats: Vec<TicketId> = (1..=99)
        .map(|n| TicketId::new(format!("{ticket}-{n}")))
        .take_while(|seat| {
            flow.membership(seat)
                .is_some_and(|m| m.family().as_str() == ticket)
        })
        .collect();
    if seats.is_empty() {
        return Vec::new();
    }
    let states = match flow.seat_states(&seats).await {
        Ok(states) => states,
        Err(error) => return vec![("error".to_owned(), error.to_string())],
    };
    (1..)
        .zip(states)
        .map(|(n, state)| {
            let state = match state {
                SeatState::Pending { to } => fill(t.state_pending, &[("to", &to)]),
                SeatState::Received { to } => fill(t.state_received, &[("to", &to)]),
                _ => t.state_with_order.to_owned(),
            };
            (fill(t.seat_name, &[("n", &n.to_string())]), state)
        })
        .collect()
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
                ..login_page(&headers)
            };
            html(StatusCode::FORBIDDEN, &page)
        }
        SignIn::Closed(wait) => {
            // Whole seconds, rounded up: a client that waits as told is let in.
            let seconds = wait.as_millis().div_ceil(1000).max(1) as u64;
            tracing::warn!(seconds, "operator sign-in closed after wrong tokens");
            let page = login_page(&headers);
            let closed = fill(page.t.sign_in_closed, &[("seconds", &seconds.to_string())]);
            let page = AdminPage {
                closed: Some(closed),
                ..page
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
        return html(StatusCode::UNAUTHORIZED, &login_page(&headers));
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
                let locale = look::locale(&headers);
                let t = DemoTexts::for_locale(locale);
                let back = format!(
                    "/admin?ticket={}",
                    form_urlencoded::byte_serialize(form.ticket.as_bytes()).collect::<String>()
                );
                return look::message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    locale,
                    t.error_title,
                    t.not_an_address,
                    (&back, t.back),
                );
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
