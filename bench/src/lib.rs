//! The measurements of tower-otp (BENCHMARKS.md): the instruction count of
//! the verified path and its comparison with a base commit
//! (`instructions.sh`), end-to-end load (`load.sh`), criterion benches
//! (`benches/`) and their drivers (`src/bin/`).
//!
//! This library holds the apps they compare: the same route (the one
//! `examples/support/peers.rs` defines, shared with `tests/alloc.rs`) bare
//! and behind each middleware, one per mode:
//!
//! - `bare`: the router alone;
//! - `noop`: a layer that does nothing, applied with `route_layer` as `otp`
//!   is; `noop-layer`: the same applied with `.layer`;
//! - `spin`: `noop` plus a loop of `SPIN` steps (instructions without
//!   footprint);
//! - `otp`: `OtpLayer` with `route_layer` and `PathParam`, a valid device
//!   cookie; `param-layer`: the same applied with `.layer`;
//! - `pattern`: `OtpLayer` applied with `.layer` and a path pattern, under
//!   the default revocation cache; `pattern-off` (`Revocation::Off`) and
//!   `pattern-every` (`Revocation::EveryRequest`);
//! - `jwt`: a `from_fn` middleware that finds the cookie and runs
//!   `jsonwebtoken::decode` with strict validation;
//! - `sessions`: tower-sessions with its memory store, reading one value;
//! - `cookies`: tower-cookies checking a signed cookie.

#[path = "../../examples/support/peers.rs"]
mod peers;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use http::StatusCode;
use http::header::COOKIE;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tower::ServiceExt;
use tower_otp::Revocation;

use self::peers::{first_device_cookie, layer, otp, pattern, router, set_cookies};

/// The `Cookie` header a verified client sends, with `cookie` in it: the
/// same padding in every mode, filled to the same length, so every mode
/// reads the same bytes.
pub fn cookie_header(cookie: &str) -> String {
    peers::cookie_header(cookie)
}

/// A request for the route, with `cookie` as its `Cookie` header.
pub fn get_with(cookie: &str) -> Request {
    peers::get_with(cookie)
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
/// (default 1000) steps. It has the instruction count of a middleware but
/// almost no code or data of its own, so end to end it tells what the
/// instructions alone cost (BENCHMARKS.md).
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
pub async fn app(mode: &str) -> Option<(Router, String)> {
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
        "pattern" => pattern(Revocation::default()).await,
        "pattern-off" => pattern(Revocation::Off).await,
        "pattern-every" => pattern(Revocation::EveryRequest).await,
        "jwt" => jwt(),
        "sessions" => sessions().await,
        "cookies" => cookies().await,
        _ => return None,
    })
}
