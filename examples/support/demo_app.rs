//! The demo's e-ticket site: its routes, its sample tickets, the shop that
//! sells orders of seats pre-bound to their buyer's address, the ids of
//! orders and seats and the gate of the order routes, and how it configures
//! the layers. Shared by `examples/demo.rs` and the tests (`tests/browser.rs`
//! serves this same router on 127.0.0.1; `tests/demo_buy.rs` and
//! `tests/demo_orders.rs` drive it).
//!
//! The order routes' pages are in `order_pages.rs`. Every page speaks the
//! five languages of the gate's pages (`demo_texts.rs`) and shares one look
//! (`demo_look.rs`).

#![allow(dead_code, unreachable_pub)]

// `admin.rs` loads these too: each is small and keeps no state.
#[allow(clippy::duplicate_mod)]
#[path = "demo_look.rs"]
pub(crate) mod look;
#[allow(clippy::duplicate_mod)]
#[path = "demo_texts.rs"]
pub(crate) mod texts;

#[path = "order_pages.rs"]
mod orders;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower_otp::family::Membership;
use tower_otp::store::BindOutcome;
use tower_otp::ticket::{Found, NoTicketSource, TicketMatch};
use tower_otp::{
    ClientAddress, EmailAddress, Flow, Locale, OtpLayer, PathParam, TicketId, TicketSource,
    VerifiedDevice,
};

use self::look::esc;
use self::texts::{DemoTexts, fill};

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

/// The event the shop sells seats for.
pub(crate) const SHOP_EVENT: &str = "Budokan — Summer Live 2026";

/// Where seat `n` of an order is.
fn seat_place(n: u8) -> String {
    format!("Arena · Block A · Row 7 · Seat {}", 20 + u32::from(n))
}

/// The most seats one order holds.
pub(crate) const MAX_SEATS: u8 = 6;

/// The demo's settings of the flow: the site name, Japanese as the
/// fallback language, and the seats `{order}-{n}` of each order as members
/// of the order's family (seat 1, the buyer's own, never handed over).
pub(crate) fn configure_flow(flow: Flow) -> Flow {
    let flow = flow
        .with_site_name(look::SITE)
        .with_default_locale(Locale::Ja);
    // Only the secret's ticket keys are asked of this copy.
    let keys = flow.clone();
    flow.with_ticket_families(move |id: &TicketId| {
        let (order, n) = seat_of(&keys, id.as_str())?;
        let member = Membership::new(TicketId::new(order), format!("/orders/{order}"));
        Some(if n == 1 { member.holders_own() } else { member })
    })
}

/// `OTP_REQUIRE_PREBOUND`: `1` (or `true`) turns on
/// `Flow::with_require_prebound`; unset, `0` or `false` keeps the default,
/// where ids the demo did not sell are bound by the first address verified.
pub(crate) fn require_prebound(value: Option<&str>) -> Result<bool, String> {
    flag("OTP_REQUIRE_PREBOUND", value)
}

/// `OTP_DEMO_SOLD_ONLY`: `1` (or `true`) makes the demo answer only the
/// orders it sold at `/buy` (and their seats) and its sample tickets (see
/// [`sold_only`]); unset, `0` or `false` keeps answering any well-formed
/// ticket id, so that the demo can be tried without buying.
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
/// the demo's secret makes (see [`new_order_id`]), so checking it needs no
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

/// Whether `tag` is `expected`, compared without stopping at the first
/// difference.
fn same_tag(expected: &str, tag: &str) -> bool {
    expected.len() == tag.len()
        && expected
            .bytes()
            .zip(tag.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Whether `id` is an order [`new_order_id`] made under this secret, one
/// of its seats, its transfer offer, or a single ticket the demo sold
/// before it sold orders (96 random bits and their tag).
fn was_sold(flow: &Flow, id: &str) -> bool {
    if order_seats(flow, id).is_some() || seat_of(flow, id).is_some() {
        return true;
    }
    if let Some(order) = id.strip_suffix(TRANSFER_SUFFIX) {
        return order_seats(flow, order).is_some();
    }
    if id.len() != SOLD_RANDOM + SOLD_TAG || !id.is_ascii() {
        return false;
    }
    let (random, tag) = id.split_at(SOLD_RANDOM);
    same_tag(&sold_tag(flow, random), tag)
}

/// A new order id, in the ticket id alphabet (`[A-Za-z0-9_-]`, 28
/// characters): 96 random bits, the number of seats (one digit), then a
/// tag of both only this secret makes. The seats are read back from the id
/// ([`order_seats`]), so the demo knows them after a restart with no
/// database of its own, and [`sold_only`] tells a sold order from a
/// made-up one.
pub(crate) fn new_order_id(flow: &Flow, seats: u8) -> String {
    let bytes: [u8; 12] = rand::random();
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let body = format!("{random}{seats}");
    let tag = sold_tag(flow, &body);
    format!("{body}{tag}")
}

/// The number of seats of order `id`, if this secret made it.
pub(crate) fn order_seats(flow: &Flow, id: &str) -> Option<u8> {
    if id.len() != SOLD_RANDOM + 1 + SOLD_TAG || !id.is_ascii() {
        return None;
    }
    let (body, tag) = id.split_at(SOLD_RANDOM + 1);
    let seats = body.as_bytes()[SOLD_RANDOM].checked_sub(b'0')?;
    ((1..=MAX_SEATS).contains(&seats) && same_tag(&sold_tag(flow, body), tag)).then_some(seats)
}

/// The order and the seat number of seat id `{order}-{n}`, if the order is
/// one this secret made and it has that seat.
pub(crate) fn seat_of<'a>(flow: &Flow, id: &'a str) -> Option<(&'a str, u8)> {
    let (order, n) = id.rsplit_once('-')?;
    let n = seat_number(n)?;
    let seats = order_seats(flow, order)?;
    (n <= seats).then_some((order, n))
}

/// A seat number as the URL writes it: `1` to `6`, no sign, no zero in front.
fn seat_number(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [digit @ b'1'..=b'9'] => Some(digit - b'0').filter(|n| *n <= MAX_SEATS),
        _ => None,
    }
}

/// What [`Flow::transfer_id`] appends to an order's id: the ticket of the
/// page where a transfer's recipient accepts it.
const TRANSFER_SUFFIX: &str = "~transfer";

/// The seat ids of order `order`: `{order}-1` to `{order}-{seats}`.
pub(crate) fn seat_ids(order: &str, seats: u8) -> Vec<TicketId> {
    (1..=seats)
        .map(|n| TicketId::new(format!("{order}-{n}")))
        .collect()
}

/// The ticket of a request to the order routes: the order for
/// `/orders/{order}` and its forms (`/cancel`, `/transfer`,
/// `/transfer/confirm`, `/transfer/cancel`), the seat `{order}-{n}` for
/// `/orders/{order}/seats/{n}` and its `/companion` form, the order's
/// transfer offer ([`Flow::transfer_id`]) for `/orders/{order}/accept`,
/// where its recipient accepts it. Every cookie is scoped to
/// `/orders/{order}`, which covers them all. An order this secret did not make, or a seat it does not have, is
/// not found (404, nothing stored).
#[derive(Clone)]
pub(crate) struct OrderSource {
    flow: Flow,
}

impl std::fmt::Debug for OrderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderSource")
    }
}

impl OrderSource {
    /// The orders of `flow`'s secret.
    pub(crate) fn new(flow: Flow) -> Self {
        Self { flow }
    }

    /// The ticket `path` names.
    pub(crate) fn find_in_path(&self, path: &str) -> Found {
        let Some(rest) = path.strip_prefix("/orders/") else {
            return Found::None;
        };
        let mut pieces = rest.split('/');
        let order = pieces.next().unwrap_or_default();
        let Some(seats) = order_seats(&self.flow, order) else {
            return Found::Malformed;
        };
        let scope = format!("/orders/{order}");
        let rest: Vec<&str> = pieces.collect();
        let id = match rest.as_slice() {
            [] | ["cancel" | "transfer"] | ["transfer", "confirm" | "cancel"] => order.to_owned(),
            ["accept"] => {
                let id = self.flow.transfer_id(&TicketId::new(order));
                return Found::Ticket(TicketMatch::new(id, scope));
            }
            ["seats", n] | ["seats", n, "companion"] => match seat_number(n) {
                Some(n) if n <= seats => format!("{order}-{n}"),
                _ => return Found::Malformed,
            },
            _ => return Found::Malformed,
        };
        Found::Ticket(TicketMatch::new(TicketId::new(id), scope))
    }
}

impl TicketSource for OrderSource {
    fn find(&self, parts: &mut Parts) -> Found {
        self.find_in_path(parts.uri.path())
    }
}

/// The demo's settings of the layer: the ticket route parameter, and as the
/// pages' ticket hint each sample ticket's event, or an order's.
pub(crate) fn configure(layer: OtpLayer<NoTicketSource>) -> OtpLayer<PathParam> {
    let flow = layer.flow().clone();
    layer
        .with_ticket_param("ticket")
        .with_ticket_hint(move |ticket| hint(&flow, ticket.as_str()))
}

/// The event of a sample ticket, an order or a seat (with its number).
fn hint(flow: &Flow, id: &str) -> Option<String> {
    if let Some((_, event, _)) = SAMPLE_TICKETS.iter().find(|(sample, _, _)| *sample == id) {
        return Some((*event).to_owned());
    }
    let order = id.strip_suffix(TRANSFER_SUFFIX).unwrap_or(id);
    if order_seats(flow, order).is_some() {
        return Some(SHOP_EVENT.to_owned());
    }
    let (_, n) = seat_of(flow, id)?;
    Some(format!("{SHOP_EVENT} · {}", seat_place(n)))
}

/// The gate of the order routes: `tickets`' layer (the same flow and
/// settings) with the orders' own ticket source ([`OrderSource`]).
pub(crate) fn order_gate(tickets: &OtpLayer<PathParam>) -> OtpLayer<OrderSource> {
    let source = OrderSource::new(tickets.flow().clone());
    tickets.clone().with_ticket_source(source)
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

/// The site: `/` is the shop (and lists the sample tickets), `POST /buy`
/// sells an order (pre-bound to the buyer's address through `otp`'s flow),
/// `/tickets/{ticket}` (behind `otp`) shows one ticket, and the order
/// routes (behind [`order_gate`]) show an order and its seats, hand seats
/// to companions, and transfer the order.
pub(crate) fn router(otp: OtpLayer<PathParam>) -> Router {
    let shop = Shop {
        flow: otp.flow().clone(),
        public_origin: otp.public_origin().map(str::to_owned),
    };
    let orders = Router::new()
        .route("/orders/{order}", get(orders::order_page))
        .route("/orders/{order}/seats/{n}", get(orders::seat_page))
        .route(
            "/orders/{order}/seats/{n}/companion",
            post(orders::companion),
        )
        .route("/orders/{order}/cancel", post(orders::cancel))
        .route("/orders/{order}/transfer", post(orders::transfer))
        .route(
            "/orders/{order}/transfer/confirm",
            post(orders::confirm_transfer),
        )
        .route(
            "/orders/{order}/transfer/cancel",
            post(orders::cancel_transfer),
        )
        .route(
            "/orders/{order}/accept",
            get(orders::accept_page).post(orders::accept),
        )
        .with_state(shop.clone())
        .route_layer(order_gate(&otp));
    Router::new()
        .route("/tickets/{ticket}", get(ticket_page))
        .route_layer(otp)
        .merge(orders)
        .route("/", get(index))
        .route("/buy", post(buy).with_state(shop))
        .layer(axum::middleware::from_fn(look::remember_language))
}

/// What the shop and the order pages need: the flow that pre-binds and
/// hands seats over, and the origin browsers use behind a proxy (the
/// gate's), if any.
#[derive(Clone)]
struct Shop {
    flow: Flow,
    public_origin: Option<String>,
}

/// The origin a POST came from, if it is this site: its `Origin` is the
/// public origin behind a proxy, else names the host it was sent to, and a
/// `Sec-Fetch-Site`, when sent, is `same-origin`. Browsers send `Origin`
/// with every form POST; a missing one, `null` (a sandboxed or
/// privacy-redirected form) and any other site are refused.
fn same_origin<'h>(
    headers: &'h HeaderMap,
    uri: &Uri,
    public_origin: Option<&str>,
) -> Option<&'h str> {
    let fetch_site_ok = headers
        .get_all("sec-fetch-site")
        .iter()
        .all(|site| site.as_bytes() == b"same-origin");
    let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok())?;
    if !fetch_site_ok {
        return None;
    }
    if let Some(public) = public_origin {
        return origin.eq_ignore_ascii_case(public).then_some(origin);
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    (origin == format!("http://{host}") || origin == format!("https://{host}")).then_some(origin)
}

/// The refusal of a POST that did not come from this site's pages.
fn cross_origin(locale: Locale, back: &str) -> Response {
    tracing::warn!("form refused: cross-origin or no Origin");
    let t = DemoTexts::for_locale(locale);
    look::message(
        StatusCode::FORBIDDEN,
        locale,
        t.error_title,
        t.cross_origin,
        (back, t.back),
    )
}

/// The page of a store that failed: nothing changed, try again.
fn busy(locale: Locale, back: &str) -> Response {
    let t = DemoTexts::for_locale(locale);
    look::message(
        StatusCode::SERVICE_UNAVAILABLE,
        locale,
        t.error_title,
        t.busy,
        (back, t.back),
    )
}

fn not_found(locale: Locale) -> Response {
    let t = DemoTexts::for_locale(locale);
    look::message(
        StatusCode::NOT_FOUND,
        locale,
        t.not_found_title,
        t.not_found,
        ("/", t.back_to_shop),
    )
}

/// The value of form field `name` in a urlencoded body.
fn field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.into_owned())
}

/// `POST /buy` (form fields `email`, and `seats`: 1 to 6, 1 when missing):
/// sells a new order, pre-bound to that address before its link exists,
/// and answers 303 to the order. Every device, the buyer's first included,
/// then confirms by a code sent there: a forwarded link is worth nothing
/// without the buyer's mailbox.
async fn buy(State(shop): State<Shop>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let flow = shop.flow;
    if same_origin(&headers, &uri, shop.public_origin.as_deref()).is_none() {
        return cross_origin(locale, "/");
    }
    let email = field(&body, "email").unwrap_or_default();
    let Ok(buyer) = EmailAddress::parse(&email) else {
        return look::message(
            StatusCode::BAD_REQUEST,
            locale,
            t.error_title,
            t.bad_email,
            ("/", t.back),
        );
    };
    let seats = match field(&body, "seats") {
        None => Some(1),
        Some(seats) => seat_number(&seats),
    };
    let Some(seats) = seats else {
        return look::message(
            StatusCode::BAD_REQUEST,
            locale,
            t.error_title,
            t.bad_seats,
            ("/", t.back),
        );
    };
    let id = new_order_id(&flow, seats);
    let order = flow.ticket_key(&TicketId::new(id.clone()));
    match flow.pre_bind_in(&order, &buyer, locale).await {
        Ok(BindOutcome::Bound) => {
            tracing::info!(order = order.label(), seats, buyer = %buyer.masked(), "order sold");
            Redirect::to(&format!("/orders/{id}")).into_response()
        }
        Ok(_) => {
            // 96 random bits never meet an order already bound.
            tracing::error!(order = order.label(), "a new order id was already bound");
            busy(locale, "/")
        }
        Err(error) => {
            tracing::error!(%error, "purchase failed: store unavailable");
            busy(locale, "/")
        }
    }
}

/// `/`: the shop (an order of 1 to 6 seats) and the sample tickets.
async fn index(headers: HeaderMap) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let options: String = (1..=MAX_SEATS)
        .map(|n| {
            format!(
                "<option value=\"{n}\"{}>{n}</option>",
                if n == 1 { " selected" } else { "" }
            )
        })
        .collect();
    let samples: String = SAMPLE_TICKETS
        .iter()
        .map(|(id, event, _)| format!("<li><a href=\"/tickets/{id}\">{}</a></li>", esc(event)))
        .collect();
    let main = format!(
        "<h1>{title}</h1>\n<div class=\"shop\">\n<section class=\"card\" aria-labelledby=\"event\">\n\
         <p class=\"kicker\">{on_sale}</p>\n<h2 id=\"event\">{event}</h2>\n\
         <form method=post action=/buy>\n\
         <label for=\"email\">{email_label}</label>\n\
         <input type=email name=email required autocomplete=email id=\"email\" autocapitalize=\"off\" spellcheck=\"false\">\n\
         <label for=\"seats\">{seats_label}</label>\n\
         <select name=seats id=\"seats\" aria-describedby=\"seats-help\">{options}</select>\n\
         <p class=\"help\" id=\"seats-help\">{seats_help}</p>\n\
         <button class=\"primary\">{buy}</button>\n</form>\n\
         <p class=\"small\">{buy_note}</p>\n</section>\n\
         <section aria-labelledby=\"try\">\n<h2 id=\"try\">{try_title}</h2>\n<p>{try_body}</p>\n\
         <ul class=\"tickets\">{samples}</ul>\n<p class=\"small\">{any_id} {any_id_bound} {settings}</p>\n\
         </section>\n</div>",
        title = esc(t.shop_title),
        on_sale = esc(t.on_sale),
        event = esc(SHOP_EVENT),
        email_label = esc(t.email_label),
        seats_label = esc(t.seats_label),
        seats_help = esc(t.seats_help),
        buy = esc(t.buy_button),
        buy_note = esc(t.buy_note),
        try_title = esc(t.try_title),
        try_body = esc(t.try_body),
        any_id = fill(
            &esc(t.any_id),
            &[("example", "<code>/tickets/your-own-id</code>")]
        ),
        any_id_bound = esc(t.any_id_bound),
        settings = fill(
            &esc(t.any_id_settings),
            &[
                ("prebound", "<code>OTP_REQUIRE_PREBOUND=1</code>"),
                ("sold_only", "<code>OTP_DEMO_SOLD_ONLY=1</code>"),
            ]
        ),
    );
    look::page(StatusCode::OK, locale, t.shop_title, &main)
}

fn valid_ticket(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A ticket's pass: its event, its place, its code, the verified device.
struct Pass<'a> {
    id: &'a str,
    event: &'a str,
    /// The seat's number among the order's (`Seat 2 of 3`), if a seat.
    of: Option<String>,
    place: &'a str,
    back: (&'a str, &'a str),
}

fn pass_page(locale: Locale, pass: &Pass<'_>, device: &VerifiedDevice) -> Response {
    let t = DemoTexts::for_locale(locale);
    let of = pass
        .of
        .as_ref()
        .map(|of| format!("<p class=\"seat\">{}</p>\n", esc(of)))
        .unwrap_or_default();
    let main = format!(
        "<h1>{event}</h1>\n<section class=\"card pass\" aria-label=\"{ticket}\">\n{of}<p>{place}</p>\n{qr}\n\
         <p class=\"small\">{ticket}: <code>{id}</code></p>\n</section>\n\
         <p class=\"verified\" data-verified>{verified}</p>\n<p><a href=\"{back_href}\">{back_label}</a></p>",
        event = esc(pass.event),
        ticket = esc(t.ticket_label),
        place = esc(pass.place),
        qr = qr_picture(pass.id, t.qr_label),
        id = esc(pass.id),
        verified = esc(&fill(
            t.verified,
            &[("device", &device.device_id().to_string())]
        )),
        back_href = esc(pass.back.0),
        back_label = esc(pass.back.1),
    );
    look::page(StatusCode::OK, locale, pass.event, &main)
}

/// `/tickets/{ticket}` (behind the gate): one ticket.
async fn ticket_page(
    Path(ticket): Path<String>,
    headers: HeaderMap,
    device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    if !valid_ticket(&ticket) {
        return not_found(locale);
    }
    let (event, place) = SAMPLE_TICKETS
        .iter()
        .find(|(id, _, _)| *id == ticket)
        .map_or((t.demo_event, t.general_admission), |(_, event, place)| {
            (*event, *place)
        });
    let pass = Pass {
        id: &ticket,
        event,
        of: None,
        place,
        back: ("/", t.back_to_shop),
    };
    pass_page(locale, &pass, &device)
}

/// A QR-like picture drawn from a hash of the ticket id (decorative, named
/// `label` for screen readers).
fn qr_picture(ticket: &str, label: &str) -> String {
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
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-2 -2 25 25\" width=\"240\" height=\"240\" \
         role=\"img\" aria-label=\"{label}\"><rect x=\"-2\" y=\"-2\" width=\"25\" height=\"25\" \
         fill=\"#fff\"/><path d=\"{path}\"/></svg>",
        label = esc(label),
    )
}
