//! Request forgery, cross-site POSTs, escaping, and side-effect-free GET/HEAD/prefetch,
//! through the real layer (checklist 2, 3, 4.2, 9, 12.6, 14.1).

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use common::{Browser, Harness, ticket_path};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;
use tower_otp::{FirstDevice, MemoryStore, Secret};

const T: &str = "/tickets/abc";

fn form_headers<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("host", "tickets.test"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    headers
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

// ---------------------------------------------------------------------------
// CSRF (9.1, 4.2)

#[tokio::test]
async fn forged_forms_are_refused_and_change_nothing() {
    let h = Harness::new();
    h.claim("abc").await;
    h.claim("other").await;
    // A code is pending and the cooldown is over: a forged send would go out,
    // a forged verify would bind, a forged restart would forget the address.
    let (_, code) = h.sent("abc", "a@example.com").await;
    h.advance(Duration::from_secs(61));
    let mails = h.mailer.count();

    let mut victim = h.browser();
    victim.get(T).await;
    let own = victim.csrf.clone().expect("the page has a token");
    let mut stranger = h.browser();
    stranger.get(T).await;
    let strangers = stranger.csrf.clone().unwrap();
    let mut elsewhere = victim.clone();
    elsewhere.get("/tickets/other").await;
    let other_ticket = elsewhere.csrf.clone().unwrap();
    assert_ne!(own, other_ticket, "tokens are tied to the ticket");
    assert_ne!(own, strangers, "tokens are tied to the browser");

    let mut no_cookie = victim.clone();
    no_cookie.remove_cookies_containing("csrf", T);
    let cases: Vec<(&str, Browser, Option<String>)> = vec![
        ("no token", victim.clone(), None),
        ("empty token", victim.clone(), Some(String::new())),
        ("wrong token", victim.clone(), Some("A".repeat(22))),
        ("token of another browser", victim.clone(), Some(strangers)),
        (
            "token of another ticket",
            victim.clone(),
            Some(other_ticket),
        ),
        ("right token, no CSRF cookie", no_cookie, Some(own.clone())),
    ];
    let actions: [&[(&str, &str)]; 5] = [
        &[("action", "send"), ("email", "mallory@evil.test")],
        &[("action", "resend")],
        &[("action", "verify"), ("code", &code)],
        &[("action", "verify"), ("code", wrong(&code))],
        &[("action", "restart")],
    ];
    for (name, browser, token) in cases {
        for fields in actions {
            let before = h.state("abc").await;
            let mut b = browser.clone();
            b.csrf = token.clone();
            let reply = b.post_form(T, fields).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name} {fields:?}");
            assert!(reply.device_cookie().is_none(), "{name} {fields:?}");
            assert!(!reply.is_ticket());
            assert_eq!(h.mailer.count(), mails, "{name} {fields:?}: no mail");
            assert_eq!(h.state("abc").await, before, "{name} {fields:?}: state");
        }
    }
    // Nothing was consumed: the victim's own form still works.
    let page = victim
        .submit(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(page.is_ticket(), "{page:?}");
}

#[tokio::test]
async fn a_csrf_token_is_reusable_on_its_page() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    let token = b.csrf.clone().unwrap();
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    // The same token again (a second tab, or a Back button): still accepted.
    b.csrf = Some(token);
    let reply = b.post_form(T, &[("action", "restart")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[tokio::test]
async fn the_csrf_refusal_page_can_be_submitted() {
    // The browser lost its session cookies (an in-app browser closed, the OS
    // evicted them) but still shows the page: the refusal must offer a form
    // that works, since "reload" re-posts the same stale form.
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    b.remove_cookies_containing("csrf", T);
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Pressing Send again on the refusal page (its token, any cookie it set).
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

// ---------------------------------------------------------------------------
// Sec-Fetch-Site × Origin (9.2)

const OWN: &str = "http://tickets.test";

/// Whether a POST with these headers must be allowed (the CSRF token is valid).
fn expected(site: Option<&str>, origin: Option<&str>) -> bool {
    match site {
        // Fetch Metadata, when present, decides (browsers that send it send a
        // consistent Origin). `same-site` is refused by default: sibling
        // subdomains are not trusted.
        Some("same-origin" | "none") => true,
        Some(_) => false,
        // Without it, Origin: absent passes (the token guards forms), own host passes.
        None => matches!(origin, None | Some(OWN)),
    }
}

#[tokio::test]
async fn fetch_metadata_and_origin_matrix_html_and_json() {
    let sites = [
        Some("same-origin"),
        Some("same-site"),
        Some("cross-site"),
        Some("none"),
        None,
    ];
    let origins = [Some(OWN), Some("https://evil.example"), Some("null"), None];
    for site in sites {
        for origin in origins {
            let want = expected(site, origin);
            let mut extra = Vec::new();
            if let Some(site) = site {
                extra.push(("sec-fetch-site", site));
            }
            if let Some(origin) = origin {
                extra.push(("origin", origin));
            }
            let case = format!("Sec-Fetch-Site {site:?} × Origin {origin:?}");

            // HTML form, valid CSRF token.
            let h = Harness::new();
            h.claim("abc").await;
            let mut b = h.browser();
            b.get(T).await;
            let before = h.state("abc").await;
            let body = b.form_body(&[("action", "send"), ("email", "a@example.com")]);
            let reply = b
                .send_with(Method::POST, T, &form_headers(&extra), Body::from(body))
                .await;
            if want {
                assert_eq!(reply.status, StatusCode::SEE_OTHER, "form {case}");
                assert_eq!(h.mailer.count(), 1, "form {case}");
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "form {case}");
                assert_eq!(h.mailer.count(), 0, "form {case}");
                assert_eq!(h.state("abc").await, before, "form {case}");
            }

            // JSON API.
            let h = Harness::new();
            h.claim("abc").await;
            let mut b = h.browser();
            let before = h.state("abc").await;
            let reply = b
                .post_json_with(
                    T,
                    &extra,
                    json!({"action": "send", "email": "a@example.com"}),
                )
                .await;
            if want {
                assert_eq!(reply.status, StatusCode::OK, "json {case}: {}", reply.body);
                assert_eq!(h.mailer.count(), 1, "json {case}");
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "json {case}");
                assert_eq!(reply.json()["error"], "csrf", "json {case}");
                assert_eq!(h.mailer.count(), 0, "json {case}");
                assert_eq!(h.state("abc").await, before, "json {case}");
            }
        }
    }
}

#[tokio::test]
async fn origin_must_be_exactly_the_own_host_or_listed() {
    // The harness serves plain http (cookies not Secure).
    let cases = [
        ("http://TICKETS.test", true),
        // Another scheme is another origin (RFC 6454: scheme, host, port).
        ("https://tickets.test", false),
        ("http://tickets.test:8080", false),
        ("http://tickets.test.evil.example", false),
        ("http://evil.example/tickets.test", false),
        ("http://user@tickets.test", false),
        ("tickets.test", false),
        ("https://app.example", false),
    ];
    for (origin, want) in cases {
        let h = Harness::new();
        h.claim("abc").await;
        let mut b = h.browser();
        let reply = b
            .post_json_with(
                T,
                &[("origin", origin)],
                json!({"action": "send", "email": "a@example.com"}),
            )
            .await;
        assert_eq!(reply.status == StatusCode::OK, want, "{origin}: {reply:?}");
        assert_eq!(h.mailer.count(), usize::from(want), "{origin}");
    }
    // A site on HTTPS (Secure cookies, or a trusted proxy) takes its https
    // origin only.
    for layer in [
        |l: common::Layer| l.with_cookie_secure(true),
        |l: common::Layer| l.with_trusted_forwarded_proto(true),
    ] {
        for (origin, want) in [
            ("https://tickets.test", true),
            ("http://tickets.test", false),
        ] {
            let h = Harness::with(layer);
            let mut b = h.browser();
            let reply = b
                .post_json_with(
                    T,
                    &[("origin", origin), ("x-forwarded-proto", "https")],
                    json!({"action": "send", "email": "a@example.com"}),
                )
                .await;
            let refused = reply.status == StatusCode::FORBIDDEN;
            assert_eq!(!refused, want, "{origin}: {reply:?}");
        }
    }
    // An allow-listed origin (an SPA elsewhere) passes; same-site is opt-in.
    let h = Harness::with(|l| {
        l.with_allowed_origins(["https://app.example"])
            .with_trust_same_site(true)
    });
    h.claim("abc").await;
    let mut b = h.browser();
    let reply = b
        .post_json_with(
            T,
            &[("origin", "https://app.example")],
            json!({"action": "send", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    h.advance(Duration::from_secs(61));
    let reply = b
        .post_json_with(
            T,
            &[("sec-fetch-site", "same-site")],
            json!({"action": "resend"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Over HTTP/2 the host is the URI's authority (`:authority`) and there is
/// no `Host` header; a same-origin POST from a browser without Fetch
/// Metadata must still be accepted.
#[tokio::test]
async fn same_origin_post_over_http2_without_host_header() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let reply = b
        .send_with(
            Method::POST,
            "http://tickets.test/tickets/abc",
            &[
                ("accept", "application/json"),
                ("content-type", "application/json"),
                ("origin", OWN),
            ],
            Body::from(json!({"action": "send", "email": "a@example.com"}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn a_cors_preflight_gets_no_cors_permission() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let reply = b
        .send_with(
            Method::OPTIONS,
            T,
            &[
                ("host", "tickets.test"),
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Body::empty(),
        )
        .await;
    assert!(!reply.is_ticket());
    for (name, _) in reply.headers.iter() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "no CORS header: {name}"
        );
    }
    assert_eq!(h.mailer.count(), 0);
}

// ---------------------------------------------------------------------------
// Redirects (13)

/// Whether a browser resolves `location` (from a same-origin page) to our own origin.
fn stays_home(location: &str) -> bool {
    location.starts_with('/')
        && !location.starts_with("//")
        && !location.starts_with("/\\")
        && !location.contains(['\t', '\n', '\r'])
}

/// Row 13.1's payload table, under the `/tickets/{ticket}` pattern: each
/// path tries to make the request's own URL, where every redirect goes,
/// look like another host. Beside each, the URL the gate redirects to
/// (a backslash percent-encoded; the router decodes it back), or `None`
/// where it answers 404 (an id with a control character, or a raw
/// backslash, which no browser sends and no cookie can be scoped to) with
/// no `Location` at all. The answers are exact, so a payload that stopped
/// redirecting, or started, fails the test too.
const REDIRECT_PAYLOADS: &[(&str, Option<&str>)] = &[
    (
        "/tickets/abc?next=https://evil.com",
        Some("/tickets/abc?next=https://evil.com"),
    ),
    (
        "/tickets/abc?return_to=//evil.com",
        Some("/tickets/abc?return_to=//evil.com"),
    ),
    (
        "/tickets/abc?next=/%09/evil.com",
        Some("/tickets/abc?next=/%09/evil.com"),
    ),
    ("/tickets/%2F%2Fevil.com", Some("/tickets/%2F%2Fevil.com")),
    ("/tickets/%5Cevil.com", Some("/tickets/%5Cevil.com")),
    ("/tickets/\\evil.com", None),
    ("/tickets/%09/evil.com", None),
    ("/tickets/%09evil.com", None),
    ("/tickets/abc%09/x", None),
    (
        "/tickets/abc/..%2F..%2Fevil.com",
        Some("/tickets/abc/..%2F..%2Fevil.com"),
    ),
    ("/tickets/../../admin", Some("/tickets/../../admin")),
    (
        "/tickets/javascript:alert(1)",
        Some("/tickets/javascript:alert(1)"),
    ),
    ("/tickets/http:evil.com", Some("/tickets/http:evil.com")),
    (
        "/tickets/https:%2F%2Fevil.com",
        Some("/tickets/https:%2F%2Fevil.com"),
    ),
];

/// Checks one answer against the table: a 303 to `want` exactly, or a 404
/// without a `Location`.
fn assert_redirect(path: &str, reply: &common::Reply, want: Option<&str>) {
    let location = reply.header("location");
    match want {
        Some(want) => {
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}: {reply:?}");
            let location = location.expect("a redirect names where");
            assert!(stays_home(location), "{path} → {location}");
            assert_eq!(location, want, "{path}");
        }
        None => {
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {reply:?}");
            assert_eq!(location, None, "{path}");
        }
    }
}

#[tokio::test]
async fn redirects_never_leave_the_site() {
    // The first-device probe's redirect (GET, trust mode): the URL, marked.
    let h = Harness::new();
    for &(path, want) in REDIRECT_PAYLOADS {
        let reply = h.browser().get(path).await;
        let want = want.map(common::probe_location);
        assert_redirect(path, &reply, want.as_deref());
    }
    // The redirect after an action (POST, every device challenged).
    // Each send to its own address, past the resend cooldown: the answer
    // is the redirect, never a budget's refusal.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    for (i, &(path, want)) in REDIRECT_PAYLOADS.iter().enumerate() {
        h.advance(Duration::from_secs(120));
        let mut b = h.browser();
        b.get(path).await;
        let email = format!("redirect{i}@example.com");
        let reply = b
            .post_form(path, &[("action", "send"), ("email", &email)])
            .await;
        assert_redirect(path, &reply, want);
    }
}

#[tokio::test]
async fn a_root_level_ticket_pattern_is_no_open_redirect() {
    let h = Harness::with(|l| l.with_ticket_path("/{ticket}").unwrap());
    for (path, want) in [
        ("/%5Cevil.com", Some("/%5Cevil.com")),
        ("/%5C/evil.com", Some("/%5C/evil.com")),
        ("/%5Cevil.com?x=1", Some("/%5Cevil.com?x=1")),
        ("/\\evil.com", None),
        ("/\\/evil.com", None),
        ("/%09/evil.com", None),
        ("/%09evil.com", None),
        ("//evil.com", None),
    ] {
        // The probe redirect of an unclaimed ticket.
        let reply = h.browser().get(path).await;
        let want = want.map(common::probe_location);
        assert_redirect(path, &reply, want.as_deref());
    }
    // The redirect after an action.
    let h = Harness::with(|l| {
        l.with_ticket_path("/{ticket}")
            .unwrap()
            .with_first_device(FirstDevice::Challenge)
    });
    let mut b = h.browser();
    b.get("/%5Cevil.com").await;
    let reply = b
        .post_form(
            "/%5Cevil.com",
            &[("action", "send"), ("email", "a@example.com")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.header("location").unwrap();
    assert!(stays_home(location), "→ {location}");
}

// ---------------------------------------------------------------------------
// Codes are bound to the ticket, single use, and counted atomically (2, 3)

#[tokio::test]
async fn a_code_for_one_ticket_does_not_open_another() {
    let h = Harness::new();
    h.claim("abc").await;
    let (_, code) = h.sent("abc", "a@example.com").await;
    // Another ticket whose code differs from abc's (two equal codes are a
    // one-in-a-million draw: then the next ticket).
    let mut other = None;
    for n in 0..5 {
        let id = format!("xyz{n}");
        h.claim(&id).await;
        let (browser, other_code) = h.sent(&id, "a@example.com").await;
        if other_code != code {
            other = Some((id, browser));
            break;
        }
    }
    let (id, mut other) = other.expect("five draws, all equal to the first");
    let reply = other
        .post_form(&ticket_path(&id), &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.device_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_right_codes_verify_exactly_once() {
    let h = Harness::new();
    h.claim("abc").await;
    let (_, code) = h.sent("abc", "a@example.com").await;
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let mut b = h.browser();
        let barrier = Arc::clone(&barrier);
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            b.post_json(T, json!({"action": "verify", "code": code}))
                .await
        }));
    }
    let mut verified = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == StatusCode::OK {
            assert_eq!(reply.json()["state"], "verified");
            assert!(reply.device_cookie().is_some());
            verified += 1;
        } else {
            assert!(reply.device_cookie().is_none(), "{reply:?}");
        }
    }
    assert_eq!(verified, 1);
    // A replay later fails too.
    let reply = h
        .browser()
        .post_json(T, json!({"action": "verify", "code": code}))
        .await;
    assert_ne!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_wrong_codes_evaluate_at_most_the_budget() {
    for _round in 0..5 {
        let h = Harness::new();
        h.claim("abc").await;
        let (_, code) = h.sent("abc", "a@example.com").await;
        let barrier = Arc::new(Barrier::new(200));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let mut b = h.browser();
            let barrier = Arc::clone(&barrier);
            let guess = wrong(&code);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                b.post_json(T, json!({"action": "verify", "code": guess}))
                    .await
            }));
        }
        let mut evaluated = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            match reply.status {
                StatusCode::UNPROCESSABLE_ENTITY => {
                    assert_eq!(reply.json()["error"], "invalid_code");
                    evaluated += 1;
                }
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("unexpected {other}: {}", reply.body),
            }
        }
        assert_eq!(evaluated, 5, "exactly the budget was evaluated");
        assert_eq!(h.state("abc").await.attempts_left, 0);
        let reply = h
            .browser()
            .post_json(T, json!({"action": "verify", "code": code}))
            .await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn sends_per_ticket_are_spaced_and_capped() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let send = json!({"action": "send", "email": "a@example.com"});
    // Cooldowns 60 → 120 → 300 s; a send one second early is refused and mails nothing.
    for (i, wait) in [60u64, 120, 300, 300].into_iter().enumerate() {
        let reply = b.post_json(T, send.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "send {i}: {}", reply.body);
        h.advance(Duration::from_secs(wait - 1));
        let reply = b.post_json(T, send.clone()).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "send {i}");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert_eq!(h.mailer.count(), i + 1);
        h.advance(Duration::from_secs(1));
    }
    // The fifth send of the hour is the last one.
    assert_eq!(b.post_json(T, send.clone()).await.status, StatusCode::OK);
    h.advance(Duration::from_secs(300));
    let reply = b.post_json(T, send.clone()).await;
    assert_eq!(reply.json()["error"], "throttled");
    // 0 + 3600 - (60 + 120 + 300 + 300 + 300)
    assert_eq!(reply.header("retry-after"), Some("2520"));
    assert_eq!(h.mailer.count(), 5);
    h.advance(Duration::from_secs(2520));
    assert_eq!(b.post_json(T, send).await.status, StatusCode::OK);
}

#[tokio::test]
async fn sends_to_one_address_are_capped_across_tickets() {
    let h = Harness::new();
    let mut refused = None;
    for i in 0..12 {
        let id = format!("t{i}");
        h.claim(&id).await;
        let reply = h
            .browser()
            .post_json(
                &ticket_path(&id),
                json!({"action": "send", "email": "victim@example.com"}),
            )
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.json()["error"], "throttled");
            // Every send was at the same instant: the cap lifts in an hour.
            assert_eq!(reply.header("retry-after"), Some("3600"), "send {i}");
            refused.get_or_insert(i);
        } else {
            assert_eq!(reply.status, StatusCode::OK, "send {i}: {}", reply.body);
            assert_eq!(refused, None, "send {i} went out after a refusal");
        }
    }
    assert_eq!(refused, Some(10), "the 11th send to one address is refused");
    assert_eq!(h.mailer.count(), 10);
}

// ---------------------------------------------------------------------------
// Escaping (12.6)

/// Asserts the page reflects none of `needles` raw and has only our own scripts.
fn assert_escaped(page: &str, needles: &[&str], case: &str) {
    for needle in needles {
        assert!(
            !page.contains(needle),
            "{case}: raw {needle:?} reflected:\n{page}"
        );
    }
    for (at, _) in page.match_indices("<script") {
        assert!(
            page[at..].starts_with("<script nonce=\""),
            "{case}: foreign script"
        );
    }
    assert!(!page.contains("<img"), "{case}: an <img> crept in");
}

#[tokio::test]
async fn the_ticket_hint_and_site_name_are_escaped() {
    let h = Harness::build_with_flow(
        &Secret::random(),
        MemoryStore::new(),
        |flow| flow.with_site_name("Evil <b>\"Tickets\"</b> & 'co'"),
        |l| l.with_ticket_hint(|_| Some("<script>alert(1)</script>".to_owned())),
    );
    h.claim("abc").await;
    let mut b = h.browser();
    for page in [b.get(T).await, b.get_json(T).await] {
        assert_escaped(
            &page.body,
            &["<script>alert(1)", "<b>", "\"Tickets\""],
            "hint/site",
        );
    }
    let page = b.get(T).await;
    assert!(
        page.body.contains("&#60;script&#62;alert(1)") || page.body.contains("&lt;script&gt;"),
        "the hint is shown, escaped"
    );
    assert!(page.body.contains("Evil"), "the site name is shown");
    // The e-mail carries the hint too, but never as HTML markup.
    b.submit(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    let mail = h.mailer.last().unwrap().render();
    assert!(!mail.html.contains("<script>alert(1)"), "{}", mail.html);
    assert!(!mail.subject.contains("<script>"), "{}", mail.subject);
}

#[tokio::test]
async fn the_query_string_is_escaped_in_form_actions_and_language_links() {
    // Every device is challenged, so each odd ticket id shows its page at once.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    let urls = [
        "/tickets/abc?x=%22%3E%3Cimg%20src=x%3E",
        "/tickets/abc?x=%22%3E%3Cimg+src%3Dx%3E&otp_lang=en",
        "/tickets/abc?x='onfocus='alert(1)'autofocus='",
        "/tickets/abc?%22%3E%3Cimg%20src=x%3E",
        "/tickets/abc?x='%20onmouseover='alert(1)",
    ];
    for url in urls {
        let mut b = h.browser();
        let page = b.get(url).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{url}");
        assert_escaped(
            &page.body,
            &[
                "\"><img",
                "<img src=x>",
                "' onmouseover='",
                "\"onfocus=\"",
                "'onfocus='",
            ],
            url,
        );
        // And the page re-rendered after a failed POST to that URL.
        let reply = b
            .post_form(url, &[("action", "send"), ("email", "x")])
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert_escaped(
            &reply.body,
            &["\"><img", "<img src=x>", "\"onfocus=\"", "'onfocus='"],
            url,
        );
    }
    // A raw quote in the path reaches no page: no cookie can be scoped to
    // such a path, so the gate answers 404.
    let url = "/tickets/abc\"onfocus=\"alert(1)\"autofocus=\"/pdf";
    let reply = h.browser().get(url).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{url}");
    assert!(!reply.body.contains("onfocus"), "{url}");
}

#[tokio::test]
async fn a_typed_address_is_never_reflected_raw() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    for typed in [
        "\"><img src=x>@a.b",
        "<script>alert(1)</script>@a.b",
        "a@b.c\r\nBcc: x@y.z",
    ] {
        let reply = b
            .post_form(T, &[("action", "send"), ("email", typed)])
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{typed}");
        assert_escaped(&reply.body, &[typed, "<img", "<script>alert"], typed);
        let reply = b
            .post_json(T, json!({"action": "send", "email": typed}))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{typed}");
        assert_eq!(reply.json()["error"], "invalid_email");
        assert!(!reply.body.contains("<img"), "{}", reply.body);
    }
    assert_eq!(h.mailer.count(), 0);
}

// ---------------------------------------------------------------------------
// HEAD and prefetch, GET safety (14.1)

fn quiet_requests() -> Vec<(Method, Vec<(&'static str, &'static str)>)> {
    vec![
        (Method::HEAD, vec![]),
        (Method::HEAD, vec![("accept", "application/json")]),
        (Method::GET, vec![("sec-purpose", "prefetch")]),
        (Method::GET, vec![("sec-purpose", "prefetch;prerender")]),
        (Method::GET, vec![("purpose", "prefetch")]),
        (
            Method::GET,
            vec![("sec-purpose", "prefetch"), ("accept", "application/json")],
        ),
    ]
}

#[tokio::test]
async fn head_and_prefetch_never_claim_send_or_set_cookies() {
    let h = Harness::new();
    let before = h.state("abc").await;
    assert!(before.claimable);
    // A scanner with an empty jar, and one that already earned the probe cookie.
    let mut empty = h.browser();
    let mut probed = h.browser();
    assert_eq!(probed.get(T).await.status, StatusCode::SEE_OTHER);
    assert!(probed.cookie_names().iter().any(|k| k.contains("probe")));
    for scanner in [&mut empty, &mut probed] {
        for _ in 0..5 {
            for (method, headers) in quiet_requests() {
                let case = format!("{method} {headers:?}");
                let reply = scanner.send_with(method, T, &headers, Body::empty()).await;
                assert!(!reply.is_ticket(), "{case}");
                assert_ne!(reply.status, StatusCode::OK, "{case}");
                assert!(
                    reply.set_cookies().is_empty(),
                    "{case}: sets {:?}",
                    reply.set_cookies()
                );
            }
        }
    }
    assert_eq!(h.mailer.count(), 0);
    assert_eq!(h.state("abc").await, before, "not claimed, nothing changed");

    // A person is still the first device.
    let mut person = h.browser();
    assert!(person.open(T).await.is_ticket());
    // And a second device can still verify by POST.
    let (mut phone, code) = h.sent("abc", "a@example.com").await;
    let page = phone
        .submit(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(page.is_ticket(), "{page:?}");
}

#[tokio::test]
async fn head_and_prefetch_leave_a_pending_challenge_alone() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    let before = h.state("abc").await;
    for _ in 0..5 {
        for (method, headers) in quiet_requests() {
            let reply = b.send_with(method, T, &headers, Body::empty()).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
            assert!(reply.device_cookie().is_none());
        }
    }
    assert_eq!(h.state("abc").await, before);
    assert_eq!(h.mailer.count(), 1);
    assert!(
        b.submit(T, &[("action", "verify"), ("code", &code)])
            .await
            .is_ticket()
    );
}

#[tokio::test]
async fn get_never_sends_consumes_or_binds() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    let before = h.state("abc").await;
    for i in 0..10 {
        let mut fresh = h.browser();
        let reply = match i % 4 {
            0 => b.get(T).await,
            1 => b.get_json(T).await,
            2 => fresh.get("/tickets/abc?action=verify&code=000000").await,
            _ => fresh.get(&format!("{T}?otp_lang=ja")).await,
        };
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "GET {i}");
        assert!(reply.device_cookie().is_none());
        assert!(!reply.body.contains(&code), "GET {i} shows no code");
    }
    assert_eq!(h.mailer.count(), 1, "GET never sends");
    assert_eq!(h.state("abc").await, before, "GET never consumes or binds");
    assert!(!h.state("abc").await.bound);
    // A code in the query string is ignored by GET (7.10), the POSTed one still works.
    let page = b.submit(T, &[("action", "verify"), ("code", &code)]).await;
    assert!(page.is_ticket(), "{page:?}");
}

/// An application that knows its ticket ids refuses the
/// others before the gate stores anything for them.
#[tokio::test]
async fn unknown_ticket_ids_are_refused_before_anything_is_stored() {
    let h = Harness::with(|l| {
        l.with_ticket_validator(|id: &tower_otp::TicketId| id.as_str().starts_with("T-"))
    });
    for path in ["/tickets/abc", "/tickets/abc/pdf", "/tickets/t-1"] {
        let mut b = h.browser();
        for _ in 0..2 {
            // Twice: the probe round trip would otherwise claim.
            let reply = b.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert!(reply.set_cookies().is_empty(), "{path}: {reply:?}");
            assert!(!reply.body.contains(common::TICKET_BODY));
        }
        let json = b.get_json(path).await;
        assert_eq!(json.json()["error"], "not_found");
    }
    assert!(h.state("abc").await.claimable, "nothing was stored for abc");
    // Known ids go through the gate as before.
    let mut owner = h.browser();
    assert!(owner.open("/tickets/T-1").await.is_ticket());
    assert!(!h.state("T-1").await.claimable);
}

/// Compression-safe pages: each page carries the browser's CSRF token under
/// a fresh mask, so no two pages (whatever the query they reflect) hold the
/// same token bytes; a token from any earlier page of the browser still
/// works, and one from another browser does not.
#[tokio::test]
async fn every_page_carries_its_csrf_token_under_a_fresh_mask() {
    let h = Harness::new();
    h.claim("mask").await;
    let path = ticket_path("mask");
    let mut browser = h.browser();
    let mut tokens = Vec::new();
    for k in 0..5 {
        let page = browser.get(&format!("{path}?guess=AAAA{k}")).await;
        tokens.push(common::csrf_in(&page.body).expect("a form"));
    }
    let distinct: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len(), "{tokens:?}");
    // The oldest page's token sends the code.
    browser.csrf = Some(tokens[0].clone());
    let sent = browser
        .post_form(&path, &[("action", "send"), ("email", "m@example.com")])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    // Another browser's page token is refused.
    let mut other = h.browser();
    other.get(&path).await;
    other.csrf = Some(tokens[1].clone());
    let refused = other.post_form(&path, &[("action", "restart")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
