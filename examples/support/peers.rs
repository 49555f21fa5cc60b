//! The route and the verified client every measurement of the layer shares:
//! the bench crate's apps (`bench/src/lib.rs`, which puts the same route
//! behind other middleware) and `tests/alloc.rs`. Every request carries the
//! same padding cookies, filled to the same length ([`cookie_header`]), so
//! every app reads the same bytes and only the middleware differs.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http::header::{COOKIE, SET_COOKIE};
use tower::ServiceExt;
use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer};

pub(crate) const PATH: &str = "/tickets/A7x9Qz-2026-LIVE";

/// The length of every mode's `Cookie` header.
pub(crate) const HEADER_LEN: usize = 900;

/// The `Cookie` header a verified client of a mode sends: the padding, its
/// cookie, and a filler cookie that brings it to [`HEADER_LEN`] bytes, so a
/// mode with a short cookie (the bare router's) is not sent fewer bytes than
/// one with a token in it.
///
/// The mode's cookie sits after the padding, so a middleware that looks for
/// it reads ~560 bytes first. A browser sends cookies with longer paths
/// first (RFC 6265, section 5.4), so a device cookie (`Path=/tickets/...`)
/// would lead a real header: `PEERS_COOKIE_ORDER=browser` in the
/// environment puts every mode's cookie first instead.
pub(crate) fn cookie_header(cookie: &str) -> String {
    let browser_order = std::env::var("PEERS_COOKIE_ORDER").is_ok_and(|v| v == "browser");
    let mut header = if browser_order {
        format!("{cookie}; {}; fill=", padding())
    } else {
        format!("{}; {cookie}; fill=", padding())
    };
    assert!(header.len() < HEADER_LEN, "the cookie fits in the header");
    let fill = HEADER_LEN - header.len();
    header.push_str(&"f".repeat(fill));
    header
}

/// Cookies a real site carries besides ours (analytics, preferences).
fn padding() -> String {
    format!(
        "_ga=GA1.2.{}.1700000000; _gid=GA1.2.{}; theme=dark; lang=ja; consent={}; prefs={}",
        "1234567890".repeat(3),
        "9876543210".repeat(3),
        "a".repeat(180),
        "b".repeat(180)
    )
}

/// The one route every mode serves.
pub(crate) fn router() -> Router {
    Router::new().route("/tickets/{ticket}", get(|| async { "ok" }))
}

/// The `name=value` of each `Set-Cookie` of `response`.
pub(crate) fn set_cookies(response: &http::Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

pub(crate) fn get_with(cookie: &str) -> Request {
    Request::get(PATH)
        .header(COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// An `OtpLayer` over a memory store, with cookies a test client over
/// plain HTTP keeps; the ticket source is the caller's.
pub(crate) fn layer() -> OtpLayer<tower_otp::ticket::NoTicketSource> {
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    );
    OtpLayer::new(flow).with_cookie_secure(false)
}

/// `OtpLayer` applied with `route_layer` and `PathParam`, and its device
/// cookie.
pub(crate) async fn otp() -> (Router, String) {
    let app = router().route_layer(layer().with_ticket_param("ticket"));
    let device = first_device_cookie(&app).await;
    (app, device)
}

/// `OtpLayer` applied with `.layer` and a path pattern (no `PathParam`),
/// under `revocation`, and its device cookie.
pub(crate) async fn pattern(revocation: tower_otp::Revocation) -> (Router, String) {
    let layer = layer()
        .with_ticket_path("/tickets/{ticket}")
        .expect("a valid pattern")
        .with_revocation(revocation);
    let app = router().layer(layer);
    let device = first_device_cookie(&app).await;
    (app, device)
}

/// The device cookie an `OtpLayer` app gives the first browser at `PATH`,
/// through the probe round trip.
pub(crate) async fn first_device_cookie(app: &Router) -> String {
    let probe = app.clone().oneshot(get_with("x=1")).await.unwrap();
    let claimed = app
        .clone()
        .oneshot(get_with(&set_cookies(&probe).join("; ")))
        .await
        .unwrap();
    set_cookies(&claimed)
        .into_iter()
        .find(|c| c.starts_with("otp-"))
        .expect("a device cookie")
}
