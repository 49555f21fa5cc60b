//! A driver for counting the verified path's instructions (issue 13): the
//! same router and five-cookie header as `benches/layer.rs`, `n` requests,
//! bare or behind `OtpLayer` with a valid device cookie. Under callgrind,
//! instruction counts are repeatable whatever else the machine does:
//!
//! ```sh
//! cargo build --release --example verified_path --features test-util
//! for n in 1000 3000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/verified_path otp $n 2>&1 | grep Collected
//! done   # (I(3000) - I(1000)) / 2000 = instructions per request; same with `bare`
//! ```
//!
//! Modes: `bare`, `otp` (the default revocation cache), `otp-off`
//! (`Revocation::Off`), `otp-every` (`Revocation::EveryRequest`).
//!
//! A third argument installs a `tracing` subscriber at that level (`info`,
//! `debug`) writing to nowhere, to price the gate's span (issue 12).

#![allow(missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http::header::COOKIE;
use tower::{Service, ServiceExt};

fn request(cookies: &str) -> Request {
    Request::get("/tickets/A7x9Qz-2026-LIVE")
        .header(COOKIE, cookies)
        .body(Body::empty())
        .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("otp");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    if let Some(level) = args.get(3) {
        let level: tracing::Level = level.parse().expect("a tracing level");
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .init();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = || Router::new().route("/tickets/{ticket}", get(|| async { "ok" }));
    let revocation = match mode {
        "otp-off" => tower_otp::Revocation::Off,
        "otp-every" => tower_otp::Revocation::EveryRequest,
        _ => tower_otp::Revocation::default(),
    };
    let otp_app = router().layer(layer().with_revocation(revocation));
    // The first device's cookie, through the probe round trip.
    let device = rt.block_on(async {
        let r = otp_app.clone().oneshot(request("")).await.unwrap();
        let probe = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let r = otp_app.clone().oneshot(request(&probe)).await.unwrap();
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("otp-"))
            .expect("a device cookie")
    });
    let cookies = format!(
        "_ga=GA1.2.123456789.1700000000; theme=dark; {device}; session=abcdef0123456789; lang=ja"
    );
    let app = if mode == "bare" { router() } else { otp_app };
    let mut app = app.with_state::<()>(());
    rt.block_on(async {
        for _ in 0..n {
            let response = ServiceExt::<Request>::ready(&mut app)
                .await
                .unwrap()
                .call(request(&cookies))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            std::hint::black_box(response);
        }
    });
}

fn layer() -> tower_otp::OtpLayer<tower_otp::PathPattern> {
    let secret = tower_otp::Secret::from_hex(
        "00112233445566778899aabbccddeeff0123456789abcdef0f1e2d3c4b5a6978",
    )
    .unwrap();
    let flow = tower_otp::Flow::new(
        &secret,
        tower_otp::MemoryStore::new(),
        tower_otp::CapturingMailer::new(),
    );
    tower_otp::OtpLayer::new(flow)
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false)
}
