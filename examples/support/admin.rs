//! The demo's operator page: look up a ticket, revoke its devices, clear a
//! lockout, unbind it or bind it to another address. Served only when `OTP_ADMIN_TOKEN` is set.
//!
//! How it is protected, as a real back office would be:
//! - the operator signs in with the token (compared in constant time) and
//!   gets a session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/admin`);
//! - every action is a POST carrying a CSRF token tied to the session, and
//!   a cross-site `Origin` is refused;
//! - pages are `no-store`, framed by nobody, with a CSP that allows no script;
//! - addresses are shown masked; the ticket id typed is escaped (askama).
//!
//! Who did what is the application's to log; this logs the action and the
//! ticket's key label, never the ticket id or an address.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tower_otp::cookie::Cookie;
use tower_otp::{EmailAddress, Flow, TicketId, TicketKey};

/// The shortest token the demo accepts: a guessable token is no protection.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

const SESSION_COOKIE: &str = "otp_admin";

/// What the operator routes share. The session and CSRF values are fixed
/// for the life of the process, so they are derived once.
struct Admin {
    flow: Flow,
    /// A key of this process: the token, session and CSRF values are MACs under it.
    key: [u8; 32],
    /// The MAC of the configured token (compared to the MAC of what is typed).
    token_mac: [u8; 32],
    /// The session cookie's value: a MAC of the token's, so it changes with it.
    session: String,
    /// The CSRF field's value, tied to the session.
    csrf: String,
    secure: bool,
}

fn mac(key: &[u8; 32], purpose: &str, data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl Admin {
    fn new(flow: Flow, token: &str, secure: bool) -> Self {
        let key: [u8; 32] = rand::random();
        let token_mac = mac(&key, "token", token.as_bytes());
        let session = hex(&mac(&key, "session", &token_mac));
        let csrf = hex(&mac(&key, "csrf", session.as_bytes()));
        Self {
            flow,
            key,
            token_mac,
            session,
            csrf,
            secure,
        }
    }

    fn signed_in(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == SESSION_COOKIE)
            .any(|cookie| bool::from(cookie.value().as_bytes().ct_eq(self.session.as_bytes())))
    }

    /// The POST comes from this site: its CSRF token, and its `Origin` when sent.
    fn same_site(&self, headers: &HeaderMap, csrf: &str) -> bool {
        let origin_ok = match headers.get(ORIGIN) {
            None => true,
            Some(origin) => {
                let host = headers.get("host").and_then(|h| h.to_str().ok());
                let origin = origin.to_str().unwrap_or("");
                host.is_some_and(|host| {
                    origin == format!("http://{host}") || origin == format!("https://{host}")
                })
            }
        };
        origin_ok && bool::from(csrf.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The operator routes under `/admin`, for `flow`, signed in with `token`.
///
/// # Panics
///
/// If `token` is shorter than [`MIN_TOKEN_LEN`]; the demo checks first.
pub(crate) fn router(flow: Flow, token: &str, secure: bool) -> Router {
    assert!(token.len() >= MIN_TOKEN_LEN, "OTP_ADMIN_TOKEN is too short");
    let admin = Arc::new(Admin::new(flow, token, secure));
    Router::new()
        .route("/admin", get(page))
        .route("/admin/login", post(login))
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
{% else %}
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

fn login_page(refused: bool) -> AdminPage {
    AdminPage {
        signed_in: false,
        refused,
        ticket: String::new(),
        rows: Vec::new(),
        actions: ACTIONS,
        csrf: String::new(),
        done: None,
    }
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
    if !admin.signed_in(&headers) {
        return html(StatusCode::UNAUTHORIZED, &login_page(false));
    }
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
            refused: false,
            ticket,
            rows,
            actions: ACTIONS,
            csrf: admin.csrf.clone(),
            done,
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

async fn login(State(admin): State<Arc<Admin>>, Form(form): Form<Login>) -> Response {
    let typed = mac(&admin.key, "token", form.token.as_bytes());
    if !bool::from(typed.ct_eq(&admin.token_mac)) {
        tracing::warn!("operator sign-in refused");
        return html(StatusCode::FORBIDDEN, &login_page(true));
    }
    let secure = if admin.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=3600{secure}",
        admin.session
    );
    let mut response = Redirect::to("/admin").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, HeaderValue::from_str(&cookie).expect("ascii"));
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
    Form(form): Form<ActionForm>,
) -> Response {
    if !admin.signed_in(&headers) {
        return html(StatusCode::UNAUTHORIZED, &login_page(false));
    }
    if !admin.same_site(&headers, &form.csrf) {
        tracing::warn!("operator action refused: bad CSRF token or cross-site origin");
        return (StatusCode::FORBIDDEN, "refused: not from the operator page").into_response();
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
