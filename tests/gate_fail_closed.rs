//! A layer put in the wrong place never serves a protected route unchecked
//! (the gate's first step): every mistake the layer can detect answers 500,
//! never calls the handler, and logs one error that names the fix. The
//! mistake it cannot detect, a layer that was never told where the ticket
//! is, does not compile (tests/compile_fail.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{Browser, Harness, Logs};
use http::StatusCode;

/// An order handler that counts its calls.
fn orders(calls: &Arc<AtomicUsize>) -> Router {
    let calls = Arc::clone(calls);
    Router::new().route(
        "/orders/{order_id}",
        get(move |Path(id): Path<String>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { format!("ORDER {id}") }
        }),
    )
}

/// Asserts a 500 that is not the order, and one logged error per request that contains `fix`.
async fn assert_refused(app: Router, paths: &[&str], logs: &Logs, fix: &str) {
    let mut b = Browser::on(app);
    for path in paths {
        let reply = b.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: {reply:?}"
        );
        assert!(!reply.body.contains("ORDER"), "{path}: {reply:?}");
        assert!(reply.set_cookies().is_empty(), "{path}: {reply:?}");
    }
    let errors = logs.errors();
    assert_eq!(
        errors.len(),
        paths.len(),
        "one error per request: {errors:#?}"
    );
    for error in &errors {
        assert!(
            error.contains(fix),
            "the error names the fix `{fix}`: {error}"
        );
    }
}

#[tokio::test]
async fn a_misspelled_parameter_fails_closed_and_names_the_right_one() {
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::new();
    let app = orders(&calls).route_layer(h.layer.clone().with_ticket_param("id"));
    assert_refused(
        app,
        &["/orders/42", "/orders/43"],
        &logs,
        "with_ticket_param(\"order_id\")",
    )
    .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the handler was never called"
    );
}

#[tokio::test]
async fn a_route_without_any_parameter_in_the_group_fails_closed() {
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let h = Harness::new();
    let app = Router::new()
        .route(
            "/orders",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "ORDER list" }
            }),
        )
        .route_layer(h.layer.clone().with_ticket_param("order_id"));
    assert_refused(
        app,
        &["/orders"],
        &logs,
        "move it out of the Router::route_layer group",
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_path_param_layer_around_the_whole_router_fails_closed() {
    use tower::Layer as _;
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::new();
    let counted = Arc::clone(&calls);
    // `ServiceBuilder::new().layer(otp).service(app)`: routing has not happened yet.
    let wrapped = h
        .layer
        .clone()
        .with_ticket_param("order_id")
        .layer(orders(&calls).route(
            "/",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "ORDER home" }
            }),
        ));
    let app = Router::new().fallback_service(wrapped);
    assert_refused(app, &["/orders/42", "/"], &logs, "Router::route_layer").await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_path_param_layer_mounted_as_a_fallback_fails_closed() {
    use axum::handler::HandlerWithoutStateExt as _;
    use tower::Layer as _;
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let h = Harness::new();
    let handler = move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "ORDER from the fallback" }
    };
    // The protected handler is the fallback: no route of the router matched.
    let protected = h
        .layer
        .clone()
        .with_ticket_param("order_id")
        .layer(handler.into_service());
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .fallback_service(protected);
    assert_refused(
        app,
        &["/orders/42", "/anything"],
        &logs,
        "Router::route_layer",
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_protected_router_mounted_as_a_fallback_routes_and_gates_itself() {
    // A whole Router as the fallback service routes by itself, so its own
    // `Router::layer` sees its matched routes: the order is gated, not refused.
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::new();
    let protected = orders(&calls).layer(h.layer.clone().with_ticket_param("order_id"));
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .fallback_service(protected);
    let mut owner = Browser::on(app.clone());
    assert_eq!(owner.open("/orders/42").await.body, "ORDER 42");
    let mut stranger = Browser::on(app);
    assert_eq!(
        stranger.get("/orders/42").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_right_parameter_gates_and_serves() {
    // The control: the same app, correctly named, challenges a stranger and
    // serves the first device, with nothing logged as an error.
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::new();
    let app = orders(&calls).route_layer(h.layer.clone().with_ticket_param("order_id"));
    let mut owner = Browser::on(app.clone());
    let reply = owner.open("/orders/42").await;
    assert_eq!(reply.body, "ORDER 42");
    let mut stranger = Browser::on(app);
    assert_eq!(
        stranger.get("/orders/42").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(logs.errors().is_empty(), "{:#?}", logs.errors());
}

#[tokio::test]
async fn a_handler_taking_verified_device_without_the_layer_fails_closed() {
    use tower_otp::VerifiedDevice;
    let (logs, _guard) = Logs::capture();
    // The layer was forgotten on this route: the extractor refuses to serve it.
    let app = Router::new().route(
        "/orders/{order_id}",
        get(|device: VerifiedDevice| async move { format!("ORDER {}", device.ticket().as_str()) }),
    );
    assert_refused(
        app,
        &["/orders/42"],
        &logs,
        "put the route behind the layer",
    )
    .await;
}

#[tokio::test]
async fn option_verified_device_is_none_without_a_ticket_and_some_behind_the_gate() {
    use tower_otp::VerifiedDevice;
    let h = Harness::new();
    let show = |device: Option<VerifiedDevice>| async move {
        match device {
            Some(device) => format!("ORDER {}", device.ticket().as_str()),
            None => "ANONYMOUS".to_owned(),
        }
    };
    let app = Router::new()
        .route("/orders/{order_id}", get(show))
        .route_layer(h.layer.clone().with_ticket_param("order_id"))
        .route("/", get(show));
    let mut b = Browser::on(app);
    assert_eq!(b.get("/").await.body, "ANONYMOUS");
    assert_eq!(b.open("/orders/42").await.body, "ORDER 42");
}

#[tokio::test]
async fn trusting_first_devices_over_a_memory_store_is_loud_once() {
    use tower_otp::FirstDevice;
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::new();
    // Two routes in the group: the layer wraps each, the warning comes once.
    let _app = orders(&calls)
        .route("/orders/{order_id}/pdf", get(|| async { "PDF" }))
        .route_layer(h.layer.clone().with_ticket_param("order_id"));
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("MemoryStore") && warnings[0].contains("durable store"));
    // Never trusting a first device is safe on any store: no warning.
    let (logs, _guard) = Logs::capture();
    let strict = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    let _app = orders(&calls).route_layer(strict.layer.clone().with_ticket_param("order_id"));
    assert!(logs.warnings().is_empty(), "{:#?}", logs.warnings());
}

#[tokio::test]
async fn device_cookies_outliving_claims_are_loud() {
    use tower_otp::FirstDevice;
    let (logs, _guard) = Logs::capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let h = Harness::with(|l| {
        l.with_first_device(FirstDevice::Confirm)
            .with_device_lifetime(std::time::Duration::from_secs(400 * 86_400))
            .unwrap()
    });
    let _app = orders(&calls).route_layer(h.layer.clone().with_ticket_param("order_id"));
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("outlive the first-device claim"),
        "{}",
        warnings[0]
    );
}
