//! The verified path: what `OtpLayer` adds to a request whose browser holds a
//! valid device cookie, against a bare router and reference middlewares, in
//! the same run.
//!
//! `cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3`
//!
//! - `verified_path/bare_router`: the router alone (the baseline);
//! - `verified_path/noop_from_fn`: the router behind a no-op `from_fn` layer;
//! - `verified_path/jsonwebtoken_from_fn`: a `from_fn` layer that finds the
//!   cookie and calls `jsonwebtoken::decode` with strict validation;
//! - `verified_path/otp_layer`: the router behind `OtpLayer`, cookie valid;
//! - `verified_path/otp_route_layer`: the same with `route_layer` + `PathParam`.
//!
//! Every variant builds the same request (with the same `Cookie` header).

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::StatusCode;
use http::header::COOKIE;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tower::{Service, ServiceExt};
use tower_otp::device::DeviceCookie;
use tower_otp::{CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};

const PATH: &str = "/tickets/A7x9Qz-2026-LIVE";

fn router() -> Router {
    Router::new().route("/tickets/{ticket}", get(|| async { "ticket" }))
}

/// A valid device cookie for `TICKET`, obtained the way a browser would (first device).
async fn device_cookie(app: Router) -> String {
    let probe = app
        .clone()
        .oneshot(Request::get(PATH).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let probe_cookie = probe.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let claimed = app
        .oneshot(
            Request::get(PATH)
                .header(COOKIE, &probe_cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(claimed.status(), StatusCode::OK);
    claimed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("otp-"))
        .expect("device cookie")
}

fn request(cookie_header: &str) -> Request {
    Request::get(PATH)
        .header(COOKIE, cookie_header)
        .body(Body::empty())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secret = Secret::random();
    let layer = || {
        let flow = Flow::new(&secret, MemoryStore::new(), CapturingMailer::new());
        OtpLayer::new(flow)
            .with_ticket_path("/tickets/{ticket}")
            .expect("a valid pattern")
            .with_cookie_secure(false)
    };
    let shared = layer();
    let otp_app = router().layer(shared.clone());
    let device = rt.block_on(device_cookie(otp_app.clone()));
    // A realistic header: the device cookie among a few others.
    let cookies = format!(
        "_ga=GA1.2.123456789.1700000000; theme=dark; {device}; session=abcdef0123456789; lang=ja"
    );
    let route_app = router().route_layer(shared.clone().with_ticket_param("ticket"));

    // The reference: find the cookie and decode with jsonwebtoken, strictly.
    let name = device.split('=').next().unwrap().to_owned();
    let key = DecodingKey::from_secret(&[0u8; 32]);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&["tower-otp"]);
    validation.set_audience(&["tower-otp/device"]);
    validation.leeway = 5;
    let jwt_app = router().layer(middleware::from_fn(move |req: Request, next: Next| {
        let key = key.clone();
        let validation = validation.clone();
        let name = name.clone();
        async move {
            let token = DeviceCookie::find(req.headers(), &name).unwrap_or("");
            // Signed with another key: decoding still does all the work, then fails; we pass anyway.
            let _ = black_box(jsonwebtoken::decode::<serde_json::Value>(
                token,
                &key,
                &validation,
            ));
            next.run(req).await
        }
    }));
    let noop_app = router().layer(middleware::from_fn(|req: Request, next: Next| {
        next.run(req)
    }));

    let mut group = c.benchmark_group("verified_path");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, app) in [
        ("bare_router", router()),
        ("noop_from_fn", noop_app),
        ("jsonwebtoken_from_fn", jwt_app),
        ("otp_layer", otp_app),
        ("otp_route_layer", route_app),
    ] {
        // As `axum::serve` does (`into_make_service`): routes are made ready once, not per request.
        let mut app = app.with_state(());
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let response = ServiceExt::<Request>::ready(&mut app)
                        .await
                        .unwrap()
                        .call(request(&cookies))
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    black_box(response)
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
