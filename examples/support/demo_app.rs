//! The demo's e-ticket site: its routes, its sample tickets, the purchase
//! that pre-binds a new ticket to its buyer's address, and how it configures
//! the layer. Shared by `examples/demo.rs` and the tests (`tests/browser.rs`
//! serves this same router on 127.0.0.1; `tests/demo_buy.rs` drives it).

#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT_LANGUAGE, HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower_otp::store::BindOutcome;
use tower_otp::ticket::NoTicketSource;
use tower_otp::{
    ClientAddress, EmailAddress, Flow, Locale, OtpLayer, PathParam, TicketId, VerifiedDevice,
};

pub(crate) const SAMPLE_TICKETS: [(&str, &str, &str); 3] = [
    (
        "A7x9Qz-2026-LIVE",
        "Tokyo Dome — Winter Live",
        "Gate 3 · Block B · Row 12 · Seat 34",
    ),
    (
        "kb-Yokohama-0412",
        "Yokohama Arena — Spring Tour",
        "Floor · Block C4 · Seat 101",
    ),
    (
        "Osaka_Jazz_88",
        "Osaka Jazz Night",
        "Balcony · Row 2 · Seat 8",
    ),
];

/// The demo's settings of the flow: the site name, and Japanese as the
/// fallback language.
pub(crate) fn configure_flow(flow: Flow) -> Flow {
    flow.with_site_name("Demo Tickets")
        .with_default_locale(Locale::Ja)
}

/// `OTP_REQUIRE_PREBOUND`: `1` (or `true`) turns on
/// `Flow::with_require_prebound`; unset, `0` or `false` keeps the default,
/// where ids the demo did not sell are bound by the first address verified.
pub(crate) fn require_prebound(value: Option<&str>) -> Result<bool, String> {
    flag("OTP_REQUIRE_PREBOUND", value)
}

/// `OTP_DEMO_SOLD_ONLY`: `1` (or `true`) makes the demo answer only the
/// tickets it sold at `/buy` and its sample tickets (see [`sold_only`]);
/// unset, `0` or `false` keeps answering any well-formed id, so that the
/// demo can be tried without buying.
pub(crate) fn sold_only_setting(value: Option<&str>) -> Result<bool, String> {
    flag("OTP_DEMO_SOLD_ONLY", value)
}

fn flag(name: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::trim) {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(format!("{name}: expected 1 or 0, got {other:?}")),
    }
}

/// Answers `404` for any id the demo did not sell (nor list as a sample),
/// before the gate stores anything for it: a sold id carries a tag only
/// the demo's secret makes (see [`new_ticket_id`]), so checking it needs no
/// lookup and survives a restart with the same `OTP_SECRET`. Claims of the
/// ids it vouches for last the full claim lifetime.
pub(crate) fn sold_only(layer: OtpLayer<PathParam>) -> OtpLayer<PathParam> {
    let flow = layer.flow().clone();
    layer.with_ticket_validator(move |id: &TicketId| {
        SAMPLE_TICKETS
            .iter()
            .any(|(sample, _, _)| *sample == id.as_str())
            || was_sold(&flow, id.as_str())
    })
}

/// The length of a sold id's random part and of its tag.
const SOLD_RANDOM: usize = 16;
const SOLD_TAG: usize = 11;

/// The tag of a sold id's random part: the start of its ticket key, which
/// only a flow keyed by the demo's secret computes.
fn sold_tag(flow: &Flow, random: &str) -> String {
    let key = flow.ticket_key(&TicketId::new(format!("sold:{random}")));
    key.as_str()[..SOLD_TAG].to_owned()
}

/// Whether `id` is one [`new_ticket_id`] made under this secret (the tags
/// compared without stopping at the first difference).
fn was_sold(flow: &Flow, id: &str) -> bool {
    if id.len() != SOLD_RANDOM + SOLD_TAG || !id.is_ascii() {
        return false;
    }
    let (random, tag) = id.split_at(SOLD_RANDOM);
    let expected = sold_tag(flow, random);
    expected
        .bytes()
        .zip(tag.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// The demo's settings of the layer: the ticket route parameter, and each
/// sample ticket's event as the pages' ticket hint.
pub(crate) fn configure(layer: OtpLayer<NoTicketSource>) -> OtpLayer<PathParam> {
    layer
        .with_ticket_param("ticket")
        .with_ticket_hint(|ticket| {
            SAMPLE_TICKETS
                .iter()
                .find(|(id, _, _)| *id == ticket.as_str())
                .map(|(_, event, _)| (*event).to_owned())
        })
}

/// The demo behind a reverse proxy that terminates TLS (`OTP_PUBLIC_ORIGIN`):
/// POSTs are checked against `public_origin`, never the `Host` the proxy
/// sends, and a ticket request the proxy does not say came over HTTPS (a
/// client on the demo's own port) is redirected there (308). The client's
/// address is the one a proxy on this machine (loopback) appends to
/// `X-Forwarded-For`.
pub(crate) fn behind_proxy(
    layer: OtpLayer<PathParam>,
    public_origin: &str,
) -> Result<OtpLayer<PathParam>, tower_otp::ConfigError> {
    let proxy = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1", "::1"])?;
    Ok(layer
        .with_public_origin(public_origin)?
        .with_trusted_forwarded_proto(true)
        .with_client_address(proxy))
}

/// The site: `/` lists the sample tickets and sells new ones, `POST /buy`
/// sells one (pre-bound to the buyer's address through `otp`'s flow),
/// `/tickets/{ticket}` (behind `otp`) shows one.
pub(crate) fn router(otp: OtpLayer<PathParam>) -> Router {
    let shop = Shop {
        flow: otp.flow().clone(),
        public_origin: otp.public_origin().map(str::to_owned),
    };
    Router::new()
        .route("/tickets/{ticket}", get(ticket_page))
        .route_layer(otp)
        .route("/", get(index))
        .route("/buy", post(buy).with_state(shop))
}

/// What the purchase needs: the flow that pre-binds, and the origin
/// browsers use behind a proxy (the gate's), if any.
#[derive(Clone)]
struct Shop {
    flow: Flow,
    public_origin: Option<String>,
}

/// Whether a POST comes from this site: its `Origin` is the public origin
/// behind a proxy, else names the host it was sent to. Browsers send `Origin`
/// with every form POST; a missing one, `null` (a sandboxed or
/// privacy-redirected form) and any other site are refused. The demo's
/// purchase form needs no more against cross-site requests: it changes
/// nothing that belongs to anyone yet.
fn same_origin(headers: &HeaderMap, uri: &Uri, public_origin: Option<&str>) -> bool {
    let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
    if let Some(public) = public_origin {
        return origin.is_some_and(|o| o.eq_ignore_ascii_case(public));
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    match (host, origin) {
        (Some(host), Some(origin)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        _ => false,
    }
}

/// A new ticket id, in the demo's id alphabet (`[A-Za-z0-9_-]`, 27
/// characters): 96 random bits, then a tag of them only this secret makes,
/// so that [`sold_only`] can tell a sold id from a made-up one.
fn new_ticket_id(flow: &Flow) -> String {
    let bytes: [u8; 12] = rand::random();
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let tag = sold_tag(flow, &random);
    format!("{random}{tag}")
}

/// `POST /buy` (form field `email`): sells a new ticket, pre-bound to that
/// address before its link exists, and answers 303 to the ticket. Every
/// device, the buyer's first included, then confirms by a code sent there:
/// a forwarded link is worth nothing without the buyer's mailbox.
async fn buy(State(shop): State<Shop>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let flow = shop.flow;
    if !same_origin(&headers, &uri, shop.public_origin.as_deref()) {
        tracing::warn!("purchase refused: cross-origin or no Origin");
        return (StatusCode::FORBIDDEN, "cross-origin purchase refused").into_response();
    }
    let email = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "email")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let Ok(buyer) = EmailAddress::parse(&email) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(page(
                "Demo Tickets",
                "<h1>Demo Tickets</h1><p>That is not a valid e-mail address.</p>\
                 <p><a href=\"/\">Back</a></p>",
            )),
        )
            .into_response();
    };
    let accept_language = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let locale = Locale::negotiate(None, accept_language, &Locale::ALL, Locale::Ja);
    let id = new_ticket_id(&flow);
    let ticket = flow.ticket_key(&TicketId::new(id.clone()));
    match flow.pre_bind_in(&ticket, &buyer, locale).await {
        Ok(BindOutcome::Bound) => {
            tracing::info!(ticket = ticket.label(), buyer = %buyer.masked(), "ticket sold");
            Redirect::to(&format!("/tickets/{id}")).into_response()
        }
        Ok(_) => {
            // 128 random bits never meet a ticket already bound.
            tracing::error!(ticket = ticket.label(), "a new ticket id was already bound");
            (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response()
        }
        Err(error) => {
            tracing::error!(%error, "purchase failed: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response()
        }
    }
}

/// A page of the demo's own (no style, as the rest of it).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{title}</title>{body}</html>"
    )
}

async fn index() -> Html<String> {
    let items: String = SAMPLE_TICKETS
        .iter()
        .map(|(id, event, _)| {
            format!("<li><a href=\"/tickets/{id}\">{event}</a> <code>{id}</code></li>")
        })
        .collect();
    Html(page(
        "Demo Tickets",
        &format!(
            "<h1>Demo Tickets</h1><h2>Buy a ticket</h2><form method=post action=/buy>\
             <label>E-mail <input type=email name=email required autocomplete=email></label> \
             <button>Buy</button></form><p>The ticket is bound to this address when you buy it: \
             every device, this one included, opens it with a one-time password sent there \
             (printed in the demo's terminal).</p><h2>Try any ticket</h2><p>Open a ticket here, \
             then open the same link in another browser: it asks for a one-time password.</p>\
             <ul>{items}</ul><p>Any id of <code>[A-Za-z0-9_-]{{1,64}}</code> works: \
             <code>/tickets/your-own-id</code>. Such a ticket was sold to nobody: its first browser \
             is trusted, and the first address verified on another one is bound to it for good \
             (with <code>OTP_REQUIRE_PREBOUND=1</code>, other browsers are refused instead; with \
             <code>OTP_DEMO_SOLD_ONLY=1</code>, only the tickets sold here and these samples \
             exist).</p>"
        ),
    ))
}

fn valid_ticket(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn ticket_page(Path(ticket): Path<String>, device: VerifiedDevice) -> Response {
    if !valid_ticket(&ticket) {
        return (StatusCode::NOT_FOUND, "no such ticket").into_response();
    }
    let (event, seat) = SAMPLE_TICKETS
        .iter()
        .find(|(id, _, _)| *id == ticket)
        .map_or(("Demo Event", "General admission"), |(_, event, seat)| {
            (*event, *seat)
        });
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{event}</title><h1>{event}</h1><p>{seat}</p>{qr}<p>Ticket <code>{ticket}</code></p>\
         <p><small>This browser is verified (device {device}).</small></p><p><a href=\"/\">All tickets</a></p></html>",
        qr = qr_picture(&ticket),
        device = device.device_id(),
    ))
    .into_response()
}

/// A QR-like picture drawn from a hash of the ticket id (decorative).
fn qr_picture(ticket: &str) -> String {
    let mut bits = Vec::with_capacity(441);
    let mut block = Sha256::digest(ticket.as_bytes());
    while bits.len() < 441 {
        bits.extend(
            block
                .iter()
                .flat_map(|byte| (0..8).map(move |i| byte >> i & 1 == 1)),
        );
        block = Sha256::digest(block);
    }
    // The three finder squares of a QR code, then hash bits.
    let finder_at = |x: usize, y: usize| {
        [(0, 0), (14, 0), (0, 14)].into_iter().find_map(|(fx, fy)| {
            let (dx, dy) = (x.wrapping_sub(fx), y.wrapping_sub(fy));
            (dx < 8 && dy < 8).then_some((dx, dy))
        })
    };
    let mut path = String::new();
    for y in 0..21 {
        for x in 0..21 {
            let on = match finder_at(x, y) {
                Some((dx, dy)) => {
                    dx < 7
                        && dy < 7
                        && (dx % 6 == 0
                            || dy % 6 == 0
                            || ((2..=4).contains(&dx) && (2..=4).contains(&dy)))
                }
                None => bits[y * 21 + x],
            };
            if on {
                path.push_str(&format!("M{x} {y}h1v1h-1z"));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-2 -2 25 25\" width=\"200\" height=\"200\" \
         role=\"img\" aria-label=\"ticket code\"><rect x=\"-2\" y=\"-2\" width=\"25\" height=\"25\" \
         fill=\"#fff\"/><path d=\"{path}\"/></svg>"
    )
}
