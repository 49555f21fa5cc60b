//! Allocations on the verified path (issue 13): a request whose browser holds
//! a valid device cookie allocates nothing beyond what the `VerifiedDevice`
//! extension needs. A counting global allocator measures the layer's own
//! share (the same request through the bare router is subtracted), and the
//! count is pinned here so it cannot grow unnoticed.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http::header::COOKIE;
use tower::{Service, ServiceExt};
use tower_otp::{CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};

/// dhat's allocator counts every allocation of this test binary (the
/// project forbids `unsafe`, so a hand-written counting allocator is out).
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Allocations so far.
fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// What the layer may allocate per verified request, over a layer that does
/// nothing: the ticket id's `String` and the box of the `VerifiedDevice`
/// extension; the response's `Cache-Control: no-store` slot in its header
/// map; and axum's box around a response body of another type than its own
/// (`ResponseBody`). Sources and the layer's settings are shared (`Arc`),
/// since axum clones the route's service for every request.
const LAYER_ALLOCATIONS: f64 = 4.0;

/// With `PathParam`, one more: axum's `RawPathParams`, the only public way
/// to read the parameter the handler's `Path` reads, copies the route's
/// parameter list.
const PARAM_ALLOCATIONS: f64 = LAYER_ALLOCATIONS + 1.0;

const PATH: &str = "/tickets/A7x9Qz-2026-LIVE";

fn request(cookies: &str) -> Request {
    Request::get(PATH)
        .header(COOKIE, cookies)
        .body(Body::empty())
        .unwrap()
}

fn router() -> Router {
    Router::new().route("/tickets/{ticket}", get(|| async { "ok" }))
}

/// Allocations per request of `app` over `n` requests (after one warm-up),
/// as `axum::serve` drives it: routes finalized once (`with_state`), then
/// ready and call per request.
async fn per_request(app: Router, cookies: &str, n: u64) -> f64 {
    let mut service = app.with_state::<()>(()).into_service::<Body>();
    let mut before = 0;
    for i in 0..=n {
        if i == 1 {
            before = allocations();
        }
        let response = ServiceExt::<Request>::ready(&mut service)
            .await
            .unwrap()
            .call(request(cookies))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    (allocations() - before) as f64 / n as f64
}

/// The device cookie `app` gives its first browser, through the probe round trip.
async fn first_device(app: &Router) -> String {
    let probe = app.clone().oneshot(request("")).await.unwrap();
    let jar = |response: &http::Response<_>| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let claimed = app
        .clone()
        .oneshot(request(&jar(&probe).join("; ")))
        .await
        .unwrap();
    jar(&claimed)
        .into_iter()
        .find(|c| c.starts_with("otp-"))
        .expect("a device cookie")
}

fn layer() -> OtpLayer<tower_otp::ticket::NoTicketSource> {
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    );
    OtpLayer::new(flow).with_cookie_secure(false)
}

/// One test for both ways of applying the layer: dhat allows one profiler
/// per process at a time.
#[tokio::test(flavor = "current_thread")]
async fn the_verified_path_allocates_only_what_verified_device_needs() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let cookies = |device: &str| {
        format!("_ga=GA1.2.1.1700000000; theme=dark; {device}; session=abcdef; lang=ja")
    };

    // `.layer` with a path pattern. axum boxes every layered route's
    // service, future and body: a layer that does nothing pays that too, so
    // it is the baseline.
    let otp = router().layer(layer().with_ticket_path("/tickets/{ticket}").unwrap());
    let pattern_cookies = cookies(&first_device(&otp).await);
    let noop = router().layer(tower::util::MapRequestLayer::new(|r: Request| r));
    let bare = per_request(router(), &pattern_cookies, 200).await;
    let baseline = per_request(noop, &pattern_cookies, 200).await;
    let layered = per_request(otp, &pattern_cookies, 200).await;
    let added = layered - baseline;
    eprintln!(
        "allocations per request: bare router {bare}, no-op layer {baseline}, OtpLayer {layered}: the layer adds {added}"
    );
    assert!(
        added <= LAYER_ALLOCATIONS,
        "the verified path allocates {added} per request (pinned at {LAYER_ALLOCATIONS})"
    );

    // `route_layer` with `PathParam`, against a no-op `route_layer`.
    let otp = router().route_layer(layer().with_ticket_param("ticket"));
    let param_cookies = cookies(&first_device(&otp).await);
    let noop = router().route_layer(tower::util::MapRequestLayer::new(|r: Request| r));
    let baseline = per_request(noop, &param_cookies, 200).await;
    let layered = per_request(otp, &param_cookies, 200).await;
    let added = layered - baseline;
    eprintln!(
        "route_layer: no-op layer {baseline}, OtpLayer with PathParam {layered}: the layer adds {added}"
    );
    assert!(
        added <= PARAM_ALLOCATIONS,
        "the verified path with PathParam allocates {added} per request (pinned at {PARAM_ALLOCATIONS})"
    );
}
