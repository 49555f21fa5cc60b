//! Behind a reverse proxy: the requests a proxy such as nginx hands the
//! application, driven through the real layer.
//!
//! nginx's `proxy_pass http://127.0.0.1:3000;` sends `Host: 127.0.0.1:3000`
//! (its default), adds `X-Forwarded-Proto` when told to, and passes any
//! `X-Forwarded-Host` a client made up. With `with_public_origin`, POSTs are
//! checked against the origin the operator named, whatever `Host` says; with
//! `with_trusted_forwarded_proto`, a request the proxy does not say came over
//! HTTPS (no header at all: a client on the application's own port) is
//! redirected, never served. `tests/proxy_nginx.rs` runs the same through a
//! real nginx.

mod common;

use axum::body::Body;
use common::{Browser, Harness, Layer, Logs, Reply};
use http::{Method, StatusCode};
use serde_json::json;

/// The origin browsers use.
const PUBLIC: &str = "https://tickets.example";
/// What nginx's `proxy_pass http://127.0.0.1:3000;` sends as `Host`.
const UPSTREAM_HOST: &str = "127.0.0.1:3000";
const T: &str = "/tickets/abc";

/// A deployment behind a TLS-terminating proxy, as the README configures it.
fn behind_proxy(layer: Layer) -> Layer {
    layer
        .with_cookie_secure(true)
        .with_public_origin(PUBLIC)
        .expect("a valid origin")
        .with_trusted_forwarded_proto(true)
}

/// A request as nginx forwards it from a browser on HTTPS: `Host`
/// rewritten, `X-Forwarded-Proto: https`, then `extra` (the browser's own
/// headers, or what a client adds).
async fn via_proxy(
    b: &mut Browser,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
    body: Body,
) -> Reply {
    let mut headers = vec![
        ("host", UPSTREAM_HOST),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    headers.extend_from_slice(extra);
    b.send_with(method, path, &headers, body).await
}

/// A JSON action POSTed by a page on `origin` (a browser without Fetch
/// Metadata: it sends `Origin` only).
async fn action(b: &mut Browser, origin: &str, body: serde_json::Value) -> Reply {
    let headers = [
        ("origin", origin),
        ("accept", "application/json"),
        ("content-type", "application/json"),
    ];
    via_proxy(b, Method::POST, T, &headers, Body::from(body.to_string())).await
}

/// GET through the proxy, following the first device's round trip.
async fn open(b: &mut Browser, path: &str) -> Reply {
    let mut reply = via_proxy(b, Method::GET, path, &[], Body::empty()).await;
    for _ in 0..3 {
        if reply.status != StatusCode::SEE_OTHER {
            break;
        }
        let location = reply.header("location").unwrap().to_owned();
        reply = via_proxy(b, Method::GET, &location, &[], Body::empty()).await;
    }
    reply
}

/// The device cookie a response sets on an HTTPS site (`__Secure-otp-…`).
fn secure_device_cookie(reply: &Reply) -> Option<cookie::Cookie<'static>> {
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.name().starts_with("__Secure-otp-"))
}

#[tokio::test]
async fn behind_a_proxy_that_rewrites_host_the_whole_flow_works() {
    let h = Harness::with(behind_proxy);
    // The first device, through the proxy: trusted, with a Secure cookie.
    let mut owner = h.browser();
    let mut reply = via_proxy(&mut owner, Method::GET, T, &[], Body::empty()).await;
    let mut device_cookie = None;
    for _ in 0..2 {
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        device_cookie = device_cookie.or(secure_device_cookie(&reply));
        let location = reply.header("location").unwrap().to_owned();
        reply = via_proxy(&mut owner, Method::GET, &location, &[], Body::empty()).await;
    }
    assert!(reply.is_ticket(), "{reply:?}");
    let cookie = device_cookie.expect("a device cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");

    // Another device is challenged, and POSTs from the public origin pass.
    let mut phone = h.browser();
    let page = open(&mut phone, T).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let sent = action(
        &mut phone,
        PUBLIC,
        json!({"action": "send", "email": "buyer@example.com"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let code = h.last_code_for("buyer@example.com");
    let verified = action(
        &mut phone,
        PUBLIC,
        json!({"action": "verify", "code": code}),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.json()["state"], "verified");
    let cookie = secure_device_cookie(&verified).expect("a device cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    assert!(open(&mut phone, T).await.is_ticket());
}

/// Without the setting, the same proxy refuses every POST of a browser
/// without Fetch Metadata: its `Origin` is the public one, and `Host` is
/// the proxy's upstream. The log names the fix.
#[tokio::test]
async fn without_a_public_origin_a_host_rewrite_refuses_posts_and_the_log_says_why() {
    let (logs, _guard) = Logs::capture();
    let h = Harness::with(|l| {
        l.with_cookie_secure(true)
            .with_trusted_forwarded_proto(true)
    });
    let mut b = h.browser();
    let forwarded_host = ("x-forwarded-host", "tickets.example");
    let reply = via_proxy(
        &mut b,
        Method::POST,
        T,
        &[
            forwarded_host,
            ("origin", PUBLIC),
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ],
        Body::from(json!({"action": "send", "email": "buyer@example.com"}).to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.json()["error"], "csrf");
    assert_eq!(h.mailer.count(), 0);
    let warnings = logs.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OtpLayer::with_public_origin")),
        "{warnings:?}"
    );
}

/// With a public origin, it is the only origin of the site's own pages:
/// `Host` and `X-Forwarded-Host`, which a client can set when it reaches
/// the application or the proxy passes them, make no other origin the
/// site's own.
#[tokio::test]
async fn only_the_public_origin_may_post() {
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        bool,
    );
    let cases: &[Case] = &[
        ("the public origin", PUBLIC, &[], true),
        (
            "the public origin, X-Forwarded-Host passed on",
            PUBLIC,
            &[("x-forwarded-host", "tickets.example")],
            true,
        ),
        (
            "an origin that names X-Forwarded-Host",
            "https://evil.example",
            &[("x-forwarded-host", "evil.example")],
            false,
        ),
        ("the proxy's upstream", "http://127.0.0.1:3000", &[], false),
        (
            "the upstream over https",
            "https://127.0.0.1:3000",
            &[],
            false,
        ),
        (
            "the public host over http",
            "http://tickets.example",
            &[],
            false,
        ),
        ("another port", "https://tickets.example:8443", &[], false),
        ("null", "null", &[], false),
    ];
    for (name, origin, extra, want) in cases {
        let h = Harness::with(behind_proxy);
        let mut b = h.browser();
        let mut headers = vec![
            ("origin", *origin),
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let body = json!({"action": "send", "email": "buyer@example.com"}).to_string();
        let reply = via_proxy(&mut b, Method::POST, T, &headers, Body::from(body)).await;
        assert_eq!(reply.status == StatusCode::OK, *want, "{name}: {reply:?}");
        assert_eq!(h.mailer.count(), usize::from(*want), "{name}");
    }
    // A client on the application's own port that makes up `Host` and
    // `Origin` to match, and says https: still another origin.
    let h = Harness::with(behind_proxy);
    let mut b = h.browser();
    let reply = b
        .send_with(
            Method::POST,
            T,
            &[
                ("host", "evil.example"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://evil.example"),
                ("accept", "application/json"),
                ("content-type", "application/json"),
            ],
            Body::from(json!({"action": "send", "email": "a@example.com"}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
}

/// Under a trusted proxy, a request counts as HTTPS only when the proxy
/// says so: one with no `X-Forwarded-Proto` (a client that reaches the
/// application's port directly) is redirected, not served, even with a
/// valid device cookie, and is given no cookie.
#[tokio::test]
async fn under_a_trusted_proxy_no_forwarded_scheme_is_plain_http() {
    let h = Harness::with(|l| l.with_trusted_forwarded_proto(true));
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        StatusCode,
    );
    let cases: &[Case] = &[
        ("no header", &[], StatusCode::PERMANENT_REDIRECT),
        (
            "http",
            &[("x-forwarded-proto", "http")],
            StatusCode::PERMANENT_REDIRECT,
        ),
        (
            "https then http",
            &[("x-forwarded-proto", "https, http")],
            StatusCode::PERMANENT_REDIRECT,
        ),
        (
            "Forwarded without a scheme",
            &[("forwarded", "for=203.0.113.7")],
            StatusCode::PERMANENT_REDIRECT,
        ),
        (
            "https",
            &[("x-forwarded-proto", "https")],
            StatusCode::SEE_OTHER,
        ),
        (
            "Forwarded https",
            &[("forwarded", "for=203.0.113.7;proto=https")],
            StatusCode::SEE_OTHER,
        ),
    ];
    for (name, extra, want) in cases {
        let mut b = h.browser();
        let mut headers = vec![("host", "tickets.test")];
        headers.extend_from_slice(extra);
        let reply = b
            .send_with(Method::GET, "/tickets/new?x=1", &headers, Body::empty())
            .await;
        assert_eq!(reply.status, *want, "{name}: {reply:?}");
        if *want == StatusCode::PERMANENT_REDIRECT {
            assert_eq!(
                reply.header("location"),
                Some("https://tickets.test/tickets/new?x=1"),
                "{name}"
            );
            assert!(reply.set_cookies().is_empty(), "{name}");
        }
    }
    // A verified device's cookie is not honoured without the proxy's word.
    let mut owner = h.browser();
    let https = [("host", "tickets.test"), ("x-forwarded-proto", "https")];
    let mut reply = owner.send_with(Method::GET, T, &https, Body::empty()).await;
    while reply.status == StatusCode::SEE_OTHER {
        let location = reply.header("location").unwrap().to_owned();
        reply = owner
            .send_with(Method::GET, &location, &https, Body::empty())
            .await;
    }
    assert!(reply.is_ticket(), "{reply:?}");
    let direct = owner
        .send_with(Method::GET, T, &[("host", "tickets.test")], Body::empty())
        .await;
    assert_eq!(direct.status, StatusCode::PERMANENT_REDIRECT);
    assert!(!direct.body.contains(common::TICKET_BODY));
}

/// With a public origin the redirect goes there: never to the `Host` the
/// proxy rewrote or a client made up.
#[tokio::test]
async fn the_https_redirect_goes_to_the_public_origin() {
    let h = Harness::with(behind_proxy);
    for host in [UPSTREAM_HOST, "evil.example", "evil.example/@x"] {
        for proto in [None, Some("http")] {
            let mut b = h.browser();
            let mut headers = vec![("host", host)];
            headers.extend(proto.map(|p| ("x-forwarded-proto", p)));
            let reply = b
                .send_with(Method::GET, "/tickets/abc?x=1", &headers, Body::empty())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::PERMANENT_REDIRECT,
                "{host} {proto:?}"
            );
            assert_eq!(
                reply.header("location"),
                Some("https://tickets.example/tickets/abc?x=1"),
                "{host} {proto:?}"
            );
        }
    }
    // JSON clients are told the same address.
    let mut b = h.browser();
    let reply = b
        .send_with(
            Method::GET,
            T,
            &[("host", UPSTREAM_HOST), ("accept", "application/json")],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        reply.json()["location"],
        "https://tickets.example/tickets/abc"
    );
}

/// An `http://` public origin is a plain-HTTP site (a proxy on one's own
/// machine): nothing is redirected, and its own origin may POST.
#[tokio::test]
async fn an_http_public_origin_redirects_nothing() {
    let h = Harness::with(|l| {
        l.with_public_origin("http://localhost:8080/")
            .unwrap()
            .with_trusted_forwarded_proto(true)
    });
    let mut b = h.browser();
    let headers = [("host", UPSTREAM_HOST), ("x-forwarded-proto", "http")];
    let reply = b.send_with(Method::GET, T, &headers, Body::empty()).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
    let reply = b
        .send_with(
            Method::POST,
            "/tickets/other",
            &[
                ("host", UPSTREAM_HOST),
                ("origin", "http://localhost:8080"),
                ("accept", "application/json"),
                ("content-type", "application/json"),
            ],
            Body::from(json!({"action": "send", "email": "a@example.com"}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn a_malformed_public_origin_is_refused_with_a_clear_message() {
    let h = Harness::new();
    for origin in [
        "tickets.example",
        "https://tickets.example/shop",
        "ftp://tickets.example",
        "https://user@tickets.example",
        "https://tickets.example:99999",
    ] {
        let err = h
            .layer
            .clone()
            .with_public_origin(origin)
            .expect_err(origin);
        assert_eq!(
            err.to_string(),
            "public origin must be a scheme (https or http) and a host, with an optional \
             port and nothing after it, such as https://tickets.example",
            "{origin}"
        );
    }
}

/// The origin e-mails show is the flow's; a layer whose public origin is
/// another says so once, when it is applied.
#[tokio::test]
async fn a_public_origin_unlike_the_mails_origin_is_warned_about() {
    use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer};
    let (logs, _guard) = Logs::capture();
    for (mailed, public, warned) in [
        ("https://tickets.example", "https://tickets.example", false),
        (
            "https://Tickets.example/",
            "https://tickets.example:443",
            false,
        ),
        (
            "https://www.tickets.example",
            "https://tickets.example",
            true,
        ),
        ("Tickets Example", "https://tickets.example", true),
    ] {
        let before = logs.warnings().len();
        let flow = Flow::new(
            &Secret::random(),
            MemoryStore::new(),
            CapturingMailer::new(),
        )
        .with_site_origin(mailed);
        let layer = OtpLayer::new(flow)
            .with_ticket_path("/tickets/{ticket}")
            .unwrap()
            .with_first_device(tower_otp::FirstDevice::Challenge)
            .with_public_origin(public)
            .unwrap();
        let _app = common::app().layer(layer);
        let new: Vec<String> = logs.warnings().split_off(before);
        let said = new.iter().any(|w| w.contains("public origin"));
        assert_eq!(said, warned, "{mailed} / {public}: {new:?}");
    }
}
