//! Allocations on the verified path: a request whose browser holds
//! a valid device cookie allocates nothing beyond what the `VerifiedDevice`
//! extension needs. A counting global allocator measures the layer's own
//! share (the same request through a layer that does nothing is
//! subtracted), and the count is pinned here so it cannot grow unnoticed.
//! The app, the request and the first device's cookie are the benchmarks'
//! (`examples/support/peers.rs`).

#[path = "../examples/support/peers.rs"]
#[allow(dead_code)]
mod peers;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use tower::{Service, ServiceExt};

/// dhat's allocator counts every allocation of this test binary (the
/// project forbids `unsafe`, so a hand-written counting allocator is out).
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Allocations so far.
fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// What the layer may allocate per verified request, over a layer that does
/// nothing: the box of the `VerifiedDevice` extension, and the extension map
/// growing to hold one entry more than axum's own. The ticket id is kept
/// inline, the response body is the inner service's own (so axum does not
/// box it again), and sources and the layer's settings are shared (`Arc`),
/// since axum clones the route's service for every request.
const LAYER_ALLOCATIONS: f64 = 2.0;

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
            .call(peers::get_with(cookies))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    (allocations() - before) as f64 / n as f64
}

/// Checks that `otp` allocates at most `pin` per request more than `noop`,
/// both sent the cookies of `otp`'s first device; `shape` names how the
/// layer is applied.
async fn assert_added_at_most(shape: &str, otp: Router, noop: Router, pin: f64) {
    let device = peers::first_device_cookie(&otp).await;
    let cookies = format!("_ga=GA1.2.1.1700000000; theme=dark; {device}; session=abcdef; lang=ja");
    let baseline = per_request(noop, &cookies, 200).await;
    let layered = per_request(otp, &cookies, 200).await;
    let added = layered - baseline;
    eprintln!(
        "{shape}: allocations per request: no-op layer {baseline}, OtpLayer {layered}: the layer adds {added}"
    );
    assert!(
        added <= pin,
        "{shape}: the verified path allocates {added} per request (pinned at {pin})"
    );
}

/// One test for both ways of applying the layer: dhat allows one profiler
/// per process at a time.
#[tokio::test(flavor = "current_thread")]
async fn the_verified_path_allocates_only_what_verified_device_needs() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let noop = || tower::util::MapRequestLayer::new(|r: Request| r);

    // `.layer` with a path pattern. axum boxes every layered route's
    // service, future and body: a layer that does nothing pays that too, so
    // it is the baseline.
    let otp = peers::router().layer(
        peers::layer()
            .with_ticket_path("/tickets/{ticket}")
            .unwrap(),
    );
    let noop_layer = peers::router().layer(noop());
    assert_added_at_most(
        "`.layer` + path pattern",
        otp,
        noop_layer,
        LAYER_ALLOCATIONS,
    )
    .await;

    // `route_layer` with `PathParam`, against a no-op `route_layer`: the
    // same, since the parameter is read through axum's `Path`, which
    // deserializes it in place (`RawPathParams` would copy the list).
    let otp = peers::router().route_layer(peers::layer().with_ticket_param("ticket"));
    let noop_layer = peers::router().route_layer(noop());
    assert_added_at_most(
        "`route_layer` + PathParam",
        otp,
        noop_layer,
        LAYER_ALLOCATIONS,
    )
    .await;
}
