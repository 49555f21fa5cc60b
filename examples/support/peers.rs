//! The same route behind each middleware the layer is compared with, shared
//! by `examples/bench_server.rs` (end to end, `scripts/load.sh`) and
//! `benches/layer.rs` (in process), so both measure the same code.
//!
//! Modes: `bare` (the router alone), `noop` (a layer that does nothing,
//! applied with `route_layer` like `otp`), `spin` (`noop` plus a loop of
//! `SPIN` steps: instructions without footprint), `otp` (`OtpLayer`, a
//! valid device cookie), `pattern` (`OtpLayer` with `.layer` and a path
//! pattern), `jwt`
//! (a `from_fn` middleware that finds the cookie and runs
//! `jsonwebtoken::decode` with strict validation), `sessions`
//! (tower-sessions with its memory store, reading one value), `cookies`
//! (tower-cookies checking a signed cookie). Every request carries the same
//! padding cookies, filled to the same length ([`cookie_header`]), so every
//! mode reads the same bytes and only the middleware differs.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use http::StatusCode;
use http::header::{COOKIE, SET_COOKIE};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tower::ServiceExt;
use tower_otp::{CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};

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

fn set_cookies(response: &http::Response<Body>) -> Vec<String> {
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

async fn otp() -> (Router, String) {
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

fn jwt() -> (Router, String) {
    let claims = serde_json::json!({
        "iss": "tower-otp", "aud": "tower-otp/device", "sub": "A7x9Qz",
        "jti": "0123456789abcdef0123456789abcdef", "iat": 1_800_000_000u64,
        "exp": 4_000_000_000u64, "gen": 0,
    });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&[7u8; 32]),
    )
    .unwrap();
    let key = DecodingKey::from_secret(&[7u8; 32]);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&["tower-otp"]);
    validation.set_audience(&["tower-otp/device"]);
    let app = router().layer(middleware::from_fn(move |req: Request, next: Next| {
        let (key, validation) = (key.clone(), validation.clone());
        async move {
            let token = req
                .headers()
                .get(COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("; ").find_map(|c| c.strip_prefix("device=")))
                .unwrap_or("");
            match jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
                Ok(_) => next.run(req).await,
                Err(_) => StatusCode::UNAUTHORIZED.into_response(),
            }
        }
    }));
    (app, format!("device={token}"))
}

async fn sessions() -> (Router, String) {
    use tower_sessions::{MemoryStore as SessionStore, Session, SessionManagerLayer};
    let layer = SessionManagerLayer::new(SessionStore::default()).with_secure(false);
    let app = Router::new()
        .route(
            "/tickets/{ticket}",
            get(|session: Session| async move {
                let verified: Option<bool> = session.get("verified").await.unwrap();
                if verified == Some(true) {
                    "ok".into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        .route(
            "/login",
            get(|session: Session| async move {
                session.insert("verified", true).await.unwrap();
                "in"
            }),
        )
        .layer(layer);
    let login = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = set_cookies(&login).pop().expect("a session cookie");
    (app, cookie)
}

async fn cookies() -> (Router, String) {
    use tower_cookies::{Cookie, CookieManagerLayer, Cookies, Key};
    let key = Key::from(&[9u8; 64]);
    let check = key.clone();
    let app = Router::new()
        .route(
            "/tickets/{ticket}",
            get(move |cookies: Cookies| async move {
                match cookies.signed(&check).get("device") {
                    Some(_) => "ok".into_response(),
                    None => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        )
        .route(
            "/login",
            get(move |cookies: Cookies| async move {
                cookies.signed(&key).add(Cookie::new("device", "A7x9Qz:0"));
                "in"
            }),
        )
        .layer(CookieManagerLayer::new());
    let login = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = set_cookies(&login).pop().expect("a signed cookie");
    (app, cookie)
}

/// The `spin` mode's layer: a no-op layer that also runs a loop of `SPIN`
/// (default 1000) steps, about 1.27 instructions each under callgrind. It
/// has the instruction count of a middleware but almost no code or data of
/// its own, so end to end it tells what the instructions alone cost
/// (BENCHMARKS.md, "What instructions do not explain").
fn spin(request: Request) -> Request {
    static STEPS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        std::env::var("SPIN")
            .ok()
            .and_then(|steps| steps.parse().ok())
            .unwrap_or(1000)
    });
    let mut x = std::hint::black_box(1u64);
    for step in 0..std::hint::black_box(*STEPS) {
        x = x.wrapping_mul(31).wrapping_add(step);
    }
    std::hint::black_box(x);
    request
}

/// The app of `mode` and the cookie a verified client of it sends (`None`
/// for an unknown mode).
pub(crate) async fn app(mode: &str) -> Option<(Router, String)> {
    Some(match mode {
        "bare" => (router(), "device=none".to_owned()),
        // A layer that does nothing, applied as `otp` is: what any layer costs.
        "noop" => (
            router().route_layer(tower::util::MapRequestLayer::new(|r: Request| r)),
            "device=none".to_owned(),
        ),
        "spin" => (
            router().route_layer(tower::util::MapRequestLayer::new(spin)),
            "device=none".to_owned(),
        ),
        "otp" => otp().await,
        // `otp` and `noop` applied with `.layer` instead: whether the way
        // a layer is applied costs anything end to end.
        "param-layer" => {
            let app = router().layer(layer().with_ticket_param("ticket"));
            let device = first_device_cookie(&app).await;
            (app, device)
        }
        "noop-layer" => (
            router().layer(tower::util::MapRequestLayer::new(|r: Request| r)),
            "device=none".to_owned(),
        ),
        "pattern" => pattern(tower_otp::Revocation::default()).await,
        "jwt" => jwt(),
        "sessions" => sessions().await,
        "cookies" => cookies().await,
        _ => return None,
    })
}
