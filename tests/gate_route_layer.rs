//! Where the ticket comes from: `route_layer` with the matched path parameter,
//! and the default path pattern with `Router::layer`. What the gate checked is
//! always what the handler serves (checklist 11.1, 11.2).

mod common;

use axum::body::Body;
use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Router, routing::any};
use common::{Browser, Harness};
use http::{Method, StatusCode};
use tower_otp::{FirstDevice, VerifiedDevice};

/// The handler says which ticket it serves and which one the gate verified.
async fn echo(Path(ticket): Path<String>, device: Option<Extension<VerifiedDevice>>) -> String {
    let gate = device.map_or_else(
        || "none".to_owned(),
        |Extension(d)| d.ticket().as_str().to_owned(),
    );
    format!("ECHO path={ticket} gate={gate}")
}

fn routes() -> Router {
    Router::new()
        .route("/tickets/{ticket}", any(echo))
        .route("/tickets/{ticket}/pdf", get(echo))
}

/// The ticket routes behind `route_layer` (the matched `{ticket}` parameter),
/// the other routes outside it.
fn with_route_layer(h: &Harness) -> Router {
    routes()
        .route_layer(h.layer.clone().with_ticket_param("ticket"))
        .route("/about", get(|| async { "about" }))
        .route("/", get(|| async { "home" }))
}

/// The ticket routes behind `Router::layer` (the default `/tickets/{ticket}` pattern).
fn with_layer(h: &Harness) -> Router {
    routes()
        .route("/", get(|| async { "home" }))
        .layer(h.layer.clone())
}

const PATHS: &[&str] = &[
    "/tickets/abc",
    "/tickets/abc/pdf",
    "/tickets/abc?x=1",
    "/tickets/%61bc",
    "/tickets/ab%63",
    "/tickets/%61%62%63/pdf",
    "/tickets//abc",
    "//tickets/abc",
    "/tickets/abc/",
    "/tickets/abc//",
    "/tickets/ABC",
    "/TICKETS/abc",
    "/%74ickets/abc",
    "/tickets/abc%2f..",
    "/tickets/abc%2F..",
    "/tickets/abc%2fpdf",
    "/tickets/abc/../abc",
    "/tickets/./abc",
    "/tickets/abc/./pdf",
    "/tickets/abc;x",
    "/tickets/abc%3Bx",
    "/tickets/abc%20",
    "/tickets/%20abc",
    "/tickets/abc%00",
    "/tickets/abc%0a",
    "/tickets/abc%ff",
    "/tickets/abc%",
    "/tickets/abc%2",
    "/tickets/abc+",
];

/// What one request got: the handler's ticket and the gate's, or a refusal.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Served { path: String, gate: String },
    Refused(StatusCode),
}

fn outcome(reply: &common::Reply) -> Outcome {
    if let Some(rest) = reply.body.strip_prefix("ECHO path=") {
        let (path, gate) = rest.rsplit_once(" gate=").unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        Outcome::Served {
            path: path.to_owned(),
            gate: gate.to_owned(),
        }
    } else {
        assert_ne!(
            reply.status,
            StatusCode::OK,
            "200 without the handler: {reply:?}"
        );
        Outcome::Refused(reply.status)
    }
}

/// Asserts that with a cookie for `abc` only, every path is either served as
/// `abc` (the gate verified what the handler serves) or refused; and that
/// without any cookie, nothing is served.
///
/// `h` must challenge every device (no first-device trust, so no request can
/// earn a cookie for another ticket by being its first device).
async fn check_router(name: &str, h: &Harness, app: Router) -> Vec<(String, Outcome)> {
    let mut holder = Browser::on(app.clone());
    holder.get("/tickets/abc").await;
    let reply = holder
        .post_form(
            "/tickets/abc",
            &[("action", "send"), ("email", "a@example.com")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{name}: {reply:?}");
    let code = h.last_code();
    let claim = holder
        .submit("/tickets/abc", &[("action", "verify"), ("code", &code)])
        .await;
    assert!(
        claim.body.starts_with("ECHO path=abc gate=abc"),
        "{name}: {claim:?}"
    );
    // abc's cookies, exactly, with every request however the path is
    // spelled (a browser sends them only where the path matches `Path`
    // literally): each from a browser with an empty jar.
    let cookies = holder.cookie_header("/tickets/abc").expect("abc's cookie");
    let cookies = [("cookie", cookies.as_str())];
    let mut table = Vec::new();
    for path in PATHS {
        // HEAD answers have no body to tell who served them: a 200 must match a served GET.
        let get_served = matches!(
            outcome(
                &Browser::on(app.clone())
                    .send_with(Method::GET, path, &cookies, Body::empty())
                    .await
            ),
            Outcome::Served { .. }
        );
        for method in [Method::HEAD, Method::POST, Method::OPTIONS, Method::GET] {
            let with = Browser::on(app.clone())
                .send_with(method.clone(), path, &cookies, Body::empty())
                .await;
            if method == Method::HEAD {
                if with.status == StatusCode::OK {
                    assert!(get_served, "{name} HEAD {path}: 200 but GET is refused");
                }
                let mut stranger = Browser::on(app.clone());
                let without = stranger
                    .send_with(Method::HEAD, path, &[], Body::empty())
                    .await;
                assert_ne!(
                    without.status,
                    StatusCode::OK,
                    "{name} HEAD {path} without a cookie"
                );
                continue;
            }
            let got = outcome(&with);
            if let Outcome::Served { path: served, gate } = &got {
                assert_eq!(served, gate, "{name} {method} {path}: served ≠ checked");
                assert_eq!(gate, "abc", "{name} {method} {path}: only abc has a cookie");
            }
            let mut stranger = Browser::on(app.clone());
            let without = stranger
                .send_with(method.clone(), path, &[], Body::empty())
                .await;
            assert!(
                matches!(outcome(&without), Outcome::Refused(_)),
                "{name} {method} {path}: served without a cookie: {without:?}"
            );
            if method == Method::GET {
                table.push((path.to_string(), got));
            }
        }
    }
    table
}

/// A harness whose layer challenges every device.
fn challenging() -> Harness {
    Harness::with(|l| l.with_first_device(FirstDevice::Challenge))
}

/// The cookies of a browser that claimed `abc` through the default harness app.
async fn first_device(h: &Harness) -> Browser {
    let mut b = h.browser();
    b.open("/tickets/abc").await;
    b
}

#[tokio::test]
async fn route_layer_serves_exactly_what_it_checked() {
    let h = challenging();
    let table = check_router("route_layer", &h, with_route_layer(&h)).await;
    let served = |path: &str| {
        table
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, o)| matches!(o, Outcome::Served { .. }))
            .unwrap()
    };
    // The same ticket however it is spelled, as the router decodes it.
    for path in [
        "/tickets/abc",
        "/tickets/%61bc",
        "/tickets/ab%63",
        "/tickets/abc/pdf",
    ] {
        assert!(served(path), "{path}: {table:#?}");
    }
    for path in [
        "/tickets/ABC",
        "/tickets/abc%2f..",
        "/tickets//abc",
        "/%74ickets/abc",
    ] {
        assert!(!served(path), "{path}: {table:#?}");
    }
    // Routes outside the route_layer group pass untouched.
    let mut b = Browser::on(with_route_layer(&h));
    assert_eq!(b.get("/about").await.body, "about");
    assert_eq!(b.get("/").await.body, "home");
}

#[tokio::test]
async fn the_default_pattern_serves_exactly_what_it_checked() {
    let h = challenging();
    let table = check_router("layer", &h, with_layer(&h)).await;
    let served = |path: &str| {
        table
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, o)| matches!(o, Outcome::Served { .. }))
            .unwrap()
    };
    for path in [
        "/tickets/abc",
        "/tickets/%61bc",
        "/tickets/ab%63",
        "/tickets/abc/pdf",
    ] {
        assert!(served(path), "{path}: {table:#?}");
    }
    for path in [
        "/tickets/ABC",
        "/tickets/abc%2f..",
        "/tickets//abc",
        "/%74ickets/abc",
    ] {
        assert!(!served(path), "{path}: {table:#?}");
    }
}

#[tokio::test]
async fn both_sources_agree() {
    let (x, y) = (challenging(), challenging());
    let a = check_router("route_layer", &x, with_route_layer(&x)).await;
    let b = check_router("layer", &y, with_layer(&y)).await;
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        let served = |o: &Outcome| matches!(o, Outcome::Served { .. });
        assert_eq!(
            served(x),
            served(y),
            "{path}: route_layer {x:?}, layer {y:?}"
        );
    }
}

#[tokio::test]
async fn a_path_param_source_on_router_layer_gates_its_routes_and_refuses_the_rest() {
    // axum 0.8 applies `Router::layer` to each route after matching, so the
    // parameter is there: the gate still serves exactly what it checked. A
    // route without the parameter, and the fallback, fail closed (500).
    let h = challenging();
    let app = routes()
        .route("/", get(|| async { "home" }))
        .layer(h.layer.clone().with_ticket_param("ticket"));
    let table = check_router("layer + with_ticket_param", &h, app.clone()).await;
    assert!(matches!(&table[0], (p, Outcome::Served { .. }) if p == "/tickets/abc"));
    let mut b = Browser::on(app);
    for path in ["/", "/nothing"] {
        let reply = b.get(path).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(!reply.body.contains("home"), "{path}: {reply:?}");
    }
}

/// Calls a service directly, with `cookies` as the `Cookie` header.
async fn call<S>(service: S, method: Method, path: &str, cookies: &str) -> common::Reply
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = http::Request::builder().method(method).uri(path);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    let response = service
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    common::Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test]
async fn a_path_param_source_outside_the_router_never_passes() {
    use tower::Layer;
    let h = Harness::new();
    let holder = first_device(&h).await;
    let cookies = holder.cookie_header("/tickets/abc").unwrap_or_default();
    // The whole router wrapped (e.g. `ServiceBuilder::new().layer(otp).service(app)`):
    // no route is matched yet, so there is no parameter to read.
    let service = h.layer.clone().with_ticket_param("ticket").layer(routes());
    for jar in [cookies.as_str(), ""] {
        for path in ["/tickets/abc", "/tickets/abc/pdf", "/tickets/xyz", "/"] {
            for method in [Method::GET, Method::HEAD, Method::POST] {
                let reply = call(service.clone(), method.clone(), path, jar).await;
                assert_eq!(
                    reply.status,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "{method} {path}: {reply:?}"
                );
                assert!(!reply.body.contains("ECHO"));
                assert!(reply.set_cookies().is_empty());
            }
        }
    }
    assert_eq!(h.mailer.count(), 0);
}

#[tokio::test]
async fn a_path_param_source_over_a_nested_router_gates_it() {
    // `nest` flattens the inner router's routes, so `{ticket}` is matched.
    let h = challenging();
    let app = Router::new()
        .nest("/tickets", Router::new().route("/{ticket}", get(echo)))
        .layer(h.layer.clone().with_ticket_param("ticket"));
    let mut stranger = Browser::on(app);
    let reply = stranger.get("/tickets/abc").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert!(!reply.body.contains("ECHO"));
}

#[tokio::test]
async fn a_path_param_source_over_nest_service_never_passes() {
    // `nest_service` keeps the inner router opaque: the outer match has only
    // axum's tail parameter, never `ticket`, and the inner router serves the
    // ticket route.
    let h = Harness::new();
    let app = Router::new()
        .nest_service("/tickets", Router::new().route("/{ticket}", get(echo)))
        .layer(h.layer.clone().with_ticket_param("ticket"));
    let mut stranger = Browser::on(app);
    let reply = stranger.get("/tickets/abc").await;
    assert!(!reply.body.contains("ECHO"), "served ungated: {reply:?}");
    assert_ne!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_route_with_another_parameter_name_fails_closed() {
    // `with_ticket_param("ticket")` on a group with `/e/{id}`: that route
    // cannot be checked, so it answers 500 instead of passing.
    let h = Harness::new();
    let app = Router::new()
        .route("/e/{id}", get(|Path(id): Path<String>| async move { id }))
        .route("/tickets/{ticket}", get(echo))
        .route_layer(h.layer.clone().with_ticket_param("ticket"));
    let mut b = Browser::on(app);
    let reply = b.get("/e/abc").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.body.contains("abc"), "{reply:?}");
    assert_ne!(b.get("/tickets/abc").await.status, StatusCode::OK);
}

/// With `PathParam`, the gate's cookies are scoped to the request path
/// through the ticket's segment: what the browser sends back on the ticket's
/// pages and nowhere else. A `route_layer` inside a nested router sees the
/// path without the nest's prefix (axum strips it); the cookies must still
/// carry the full path the browser asked for, or the browser would never
/// send them back and the first device could never be recognised.
/// The ticket the gate verified, for a route with several parameters.
async fn gate_only(Extension(device): Extension<VerifiedDevice>) -> String {
    format!("gate={}", device.ticket().as_str())
}

#[tokio::test]
async fn cookie_paths_follow_the_ticket_segment() {
    let flat = |layer: tower_otp::OtpLayer<tower_otp::PathParam>| {
        Router::new()
            .route("/tickets/{ticket}", get(echo))
            .route("/tickets/{ticket}/pdf", get(echo))
            .route("/a/{x}/t/{ticket}/{*rest}", get(gate_only))
            .route_layer(layer)
    };
    let nested_inside = |layer| {
        Router::new().nest(
            "/api/v1",
            Router::new()
                .route("/tickets/{ticket}", get(echo))
                .route("/tickets/{ticket}/pdf", get(echo))
                .route_layer(layer),
        )
    };
    let nested_outside = |layer| {
        Router::new()
            .nest(
                "/api/v1",
                Router::new()
                    .route("/tickets/{ticket}", get(echo))
                    .route("/tickets/{ticket}/pdf", get(echo)),
            )
            .route_layer(layer)
    };
    type Shape = fn(tower_otp::OtpLayer<tower_otp::PathParam>) -> Router;
    let cases: [(Shape, &str, &str); 8] = [
        (flat, "/tickets/abc", "/tickets/abc"),
        (flat, "/tickets/abc/pdf", "/tickets/abc"),
        (flat, "/tickets/%61bc/pdf", "/tickets/%61bc"),
        (flat, "/a/1/t/abc/x/y", "/a/1/t/abc"),
        (nested_inside, "/api/v1/tickets/abc", "/api/v1/tickets/abc"),
        (
            nested_inside,
            "/api/v1/tickets/abc/pdf",
            "/api/v1/tickets/abc",
        ),
        (nested_outside, "/api/v1/tickets/abc", "/api/v1/tickets/abc"),
        (
            nested_outside,
            "/api/v1/tickets/abc/pdf",
            "/api/v1/tickets/abc",
        ),
    ];
    for (shape, path, want) in cases {
        // A store of its own: each case's browser is the ticket's first.
        let h = Harness::new();
        let mut browser = Browser::on(shape(h.layer.clone().with_ticket_param("ticket")));
        let reply = browser.get(path).await;
        // The probe (and later the device cookie) is the ticket's; the CSRF
        // cookie is site-wide by design.
        let cookies: Vec<_> = reply
            .set_cookies()
            .into_iter()
            .filter(|c| c.name() != "otp_csrf")
            .collect();
        assert!(!cookies.is_empty(), "{path}: {reply:?}");
        for cookie in cookies {
            assert_eq!(cookie.path(), Some(want), "{path}: {}", cookie.name());
        }
        // The probe's redirect goes back to the URL the browser asked for.
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            reply.header("location"),
            Some(format!("{path}?otp_probe=1").as_str()),
            "{path}"
        );
        // And the round trip ends with the first device served there.
        let served = browser.open(path).await;
        assert!(served.body.contains("gate=abc"), "{path}: {served:?}");
    }
}

/// The same with a path pattern (`Router::layer` inside the nested router):
/// the pattern matches the path the layer sees, the cookies and redirects
/// carry the path the browser asked for.
#[tokio::test]
async fn pattern_cookie_paths_under_nest() {
    let h = Harness::new();
    let app = Router::new().nest(
        "/api/v1",
        Router::new()
            .route("/tickets/{ticket}", get(echo))
            .layer(h.layer.clone()),
    );
    let mut browser = Browser::on(app);
    let reply = browser.get("/api/v1/tickets/abc").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/api/v1/tickets/abc?otp_probe=1")
    );
    let probe = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.name() == "otp_probe")
        .expect("a probe cookie");
    assert_eq!(probe.path(), Some("/api/v1/tickets/abc"));
    let served = browser.open("/api/v1/tickets/abc").await;
    assert!(served.body.contains("gate=abc"), "{served:?}");
}

/// One verification covers every route under the ticket's path: a second
/// device that verifies on an order's seat page passes on the order page
/// and its other seat pages (the device cookie's `Path` is the ticket's
/// prefix), and on no other order.
#[tokio::test]
async fn one_verification_covers_every_route_under_the_ticket() {
    use tower_otp::{
        Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer, testing::TestBrowser,
    };
    let mailer = CapturingMailer::new();
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    let page = |Path(params): Path<Vec<(String, String)>>| async move {
        let parts: Vec<String> = params.into_iter().map(|(_, v)| v).collect();
        format!("PAGE {}", parts.join("/"))
    };
    let app = Router::new()
        .route("/orders/{order_id}", get(page))
        .route("/orders/{order_id}/seats/{seat}", get(page))
        .route_layer(OtpLayer::new(flow).with_ticket_param("order_id"));
    // The buyers' first devices claim orders 7, 8 and 77.
    let mut first = TestBrowser::new(app.clone());
    for order in ["7", "8", "77"] {
        let page = first.open(&format!("/orders/{order}")).await;
        assert_eq!(page.text(), format!("PAGE {order}"));
    }
    // A second device verifies on a seat page...
    let mut phone = TestBrowser::new(app.clone()).with_mailer(mailer);
    assert_eq!(phone.open("/orders/7/seats/3").await.status(), 401);
    phone.send_email("buyer@example.com").await;
    let code = phone.code_for("buyer@example.com").unwrap();
    assert_eq!(phone.enter_code(&code).await.text(), "PAGE 7/3");
    // ...and passes on the order and every seat of it, with no new code.
    assert_eq!(phone.open("/orders/7").await.text(), "PAGE 7");
    assert_eq!(phone.open("/orders/7/seats/9").await.text(), "PAGE 7/9");
    // Not on another order, nor on one whose id merely starts the same.
    assert_eq!(phone.open("/orders/8").await.status(), 401);
    assert_eq!(phone.open("/orders/77").await.status(), 401);
}
