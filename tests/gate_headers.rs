//! Security headers on every class of gate response, and caching of the
//! ticket page the gate lets through (checklist 9.4, 10.4, 12.1-12.4).

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{Browser, Harness, Reply, csp_directives, failing_store, nonces_in};
use http::header::CACHE_CONTROL;
use http::{Method, StatusCode};
use serde_json::json;
use tower_otp::{EmailAddress, FirstDevice, Limits, MemoryStore, Secret};

const T: &str = "/tickets/abc";

/// Checks the headers every gate response carries; `case` names it.
fn assert_gate_headers(case: &str, reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{case}"
    );
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{case}"
    );
    let content_type = reply.header("content-type").unwrap_or("");
    assert!(
        content_type.to_ascii_lowercase().contains("charset=utf-8"),
        "{case}: Content-Type {content_type:?}"
    );
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{case}: no CSP"));
    let d = csp_directives(csp);
    assert_eq!(d["default-src"], ["'none'"], "{case}: {csp}");
    assert_eq!(d["frame-ancestors"], ["'none'"], "{case}: {csp}");
    for directive in ["script-src", "default-src", "style-src"] {
        for bad in [
            "'unsafe-inline'",
            "'unsafe-eval'",
            "*",
            "data:",
            "http:",
            "https:",
        ] {
            if directive == "style-src" && bad != "'unsafe-eval'" && bad != "*" {
                continue;
            }
            assert!(
                !d.get(directive).is_some_and(|v| v.iter().any(|s| s == bad)),
                "{case}: {directive} allows {bad}: {csp}"
            );
        }
    }
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        retry_after_seconds(case, reply);
    }
    if content_type.starts_with("text/html") {
        assert_eq!(d["form-action"], ["'self'"], "{case}: {csp}");
        assert_eq!(d["base-uri"], ["'none'"], "{case}: {csp}");
        // The nonce: one per response, the same in the header and on every element.
        let nonce = d["script-src"]
            .iter()
            .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
            .unwrap_or_else(|| panic!("{case}: script-src has no nonce: {csp}"));
        assert!(nonce.len() >= 16, "{case}: a short nonce");
        assert_eq!(d["style-src"], [format!("'nonce-{nonce}'")], "{case}");
        let in_page = nonces_in(&reply.body);
        // (HEAD responses have no body.)
        assert!(
            !in_page.is_empty() || case.contains("HEAD"),
            "{case}: the page's <style> has a nonce"
        );
        assert!(
            in_page.iter().all(|n| n == nonce),
            "{case}: {in_page:?} vs {nonce}"
        );
        assert!(
            !reply.body.contains(" style=\""),
            "{case}: inline style attribute"
        );
        assert!(!reply.body.contains(" onclick="), "{case}: inline handler");
    } else if content_type.starts_with("application/json") {
        reply.json();
    }
}

/// One reply of every class: (name, reply).
async fn every_response_class() -> Vec<(String, Reply)> {
    let mut out: Vec<(String, Reply)> = Vec::new();
    let mut push = |name: &str, reply: Reply| out.push((name.to_owned(), reply));

    let h = Harness::new();
    // 303: the first-device probe.
    let mut first = h.browser();
    push("303 probe", first.get(T).await);
    // 200 + Set-Cookie: the claim is the app's page (checked separately).
    assert!(first.get(T).await.is_ticket());

    let mut b = h.browser();
    push("401 challenge page", b.get(T).await);
    push("401 challenge JSON", b.get_json(T).await);
    push(
        "400 invalid address (HTML)",
        b.post_form(T, &[("action", "send"), ("email", "nope")])
            .await,
    );
    push(
        "400 invalid address (JSON)",
        b.post_json(T, json!({"action": "send", "email": "nope"}))
            .await,
    );
    push(
        "400 unknown action (HTML)",
        b.post_form(T, &[("action", "launch")]).await,
    );
    push(
        "400 unknown field (JSON)",
        b.post_json(T, json!({"action": "send", "extra": 1})).await,
    );
    let mut forged = b.clone();
    forged.csrf = None;
    push(
        "403 CSRF (HTML)",
        forged.post_form(T, &[("action", "restart")]).await,
    );
    push(
        "403 cross-site (JSON)",
        b.post_json_with(
            T,
            &[("sec-fetch-site", "cross-site")],
            json!({"action": "restart"}),
        )
        .await,
    );
    let big = "x".repeat(1 << 20);
    push(
        "413 too large (HTML)",
        b.post_form(T, &[("action", "send"), ("email", &big)]).await,
    );
    push(
        "413 too large (JSON)",
        b.post_json(T, json!({"action": "send", "email": big}))
            .await,
    );
    push(
        "415 text/plain (HTML)",
        b.send_with(
            Method::POST,
            T,
            &[
                ("content-type", "text/plain"),
                ("sec-fetch-site", "same-origin"),
            ],
            Body::from("action=send"),
        )
        .await,
    );
    push(
        "415 form to the JSON API",
        b.send_with(
            Method::POST,
            T,
            &[
                ("accept", "application/json"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Body::from("action=send"),
        )
        .await,
    );
    push(
        "422 no code yet (JSON)",
        b.post_json(T, json!({"action": "verify", "code": "123456"}))
            .await,
    );
    // 502: the mail server is down.
    h.mailer.set_failing(true);
    push(
        "502 mail failed (HTML)",
        b.post_form(T, &[("action", "send"), ("email", "a@example.com")])
            .await,
    );
    push(
        "502 mail failed (JSON)",
        b.post_json(T, json!({"action": "send", "email": "a@example.com"}))
            .await,
    );
    h.mailer.set_failing(false);
    push(
        "303 after an action",
        b.post_form(T, &[("action", "send"), ("email", "a@example.com")])
            .await,
    );
    push("401 code sent page", b.get(T).await);
    push(
        "429 throttled (HTML)",
        b.post_form(T, &[("action", "resend")]).await,
    );
    push(
        "429 throttled (JSON)",
        b.post_json(T, json!({"action": "resend"})).await,
    );
    let code = h.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    push(
        "422 wrong code (HTML)",
        b.post_form(T, &[("action", "verify"), ("code", wrong)])
            .await,
    );
    push(
        "422 wrong code (JSON)",
        b.post_json(T, json!({"action": "verify", "code": wrong}))
            .await,
    );
    push(
        "200 JSON verified (with Set-Cookie)",
        b.clone()
            .post_json(T, json!({"action": "verify", "code": code}))
            .await,
    );
    // Bound now: restart is refused by another device.
    let mut other = h.browser();
    push("401 bound page", other.get(T).await);
    push(
        "409 restart on a bound ticket (HTML)",
        other.post_form(T, &[("action", "restart")]).await,
    );
    push(
        "409 restart on a bound ticket (JSON)",
        other.post_json(T, json!({"action": "restart"})).await,
    );
    // 303 with a device cookie: a verify by form.
    h.advance(Duration::from_secs(3600));
    let sent = other.post_form(T, &[("action", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let code = h.last_code();
    push(
        "303 verified (with Set-Cookie)",
        other
            .post_form(T, &[("action", "verify"), ("code", &code)])
            .await,
    );

    // 200: JSON actions.
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    push(
        "200 JSON send",
        b.post_json(T, json!({"action": "send", "email": "a@example.com"}))
            .await,
    );
    push(
        "200 JSON restart",
        b.post_json(T, json!({"action": "restart"})).await,
    );

    // 429 locked: 20 wrong codes over four rounds.
    let (mut lb, _locked, _) = lock("locked").await;
    push("401 locked page", lb.get("/tickets/locked").await);
    push("401 locked JSON", lb.get_json("/tickets/locked").await);
    push(
        "429 locked (HTML)",
        lb.post_form(
            "/tickets/locked",
            &[("action", "verify"), ("code", "123456")],
        )
        .await,
    );
    push(
        "429 locked (JSON)",
        lb.post_json(
            "/tickets/locked",
            json!({"action": "verify", "code": "123456"}),
        )
        .await,
    );

    // 429 too many attempts.
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let reply = b
            .post_form(T, &[("action", "verify"), ("code", wrong)])
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let reply = b
        .post_form(T, &[("action", "verify"), ("code", wrong)])
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    push("429 too many attempts (HTML)", reply);

    // 503: the store is down.
    let h = Harness::build(&Secret::random(), failing_store(), |l| l);
    let mut b = h.browser();
    push("503 unavailable page", b.get(T).await);
    push("503 unavailable JSON", b.get_json(T).await);
    push(
        "503 unavailable POST (JSON)",
        b.post_json(T, json!({"action": "send", "email": "a@example.com"}))
            .await,
    );
    push(
        "503 unavailable HEAD",
        b.send_with(Method::HEAD, T, &[], Body::empty()).await,
    );

    // 401 first-device confirmation page.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let mut b = h.browser();
    push("401 confirm page", b.get(T).await);
    push("401 confirm JSON", b.get_json(T).await);

    // 404: a malformed ticket segment.
    push("404 malformed ticket", b.get("/tickets//abc").await);
    out
}

/// A ticket locked for new devices, the browser that locked it, and the
/// answer to its twentieth wrong code (the one that locked).
async fn lock(id: &str) -> (Browser, Harness, Reply) {
    let h = Harness::new();
    h.claim(id).await;
    let path = common::ticket_path(id);
    let mut b = h.browser();
    assert_eq!(b.get(&path).await.status, StatusCode::UNAUTHORIZED);
    let mut failures = 0;
    let mut last = None;
    for round in 0..4 {
        h.advance(Duration::from_secs(301));
        let action = if round == 0 { "send" } else { "resend" };
        let reply = b
            .post_form(&path, &[("action", action), ("email", "a@example.com")])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let code = h.last_code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            failures += 1;
            let reply = b
                .post_form(&path, &[("action", "verify"), ("code", wrong)])
                .await;
            if failures < 20 {
                assert_eq!(
                    reply.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "failure {failures}"
                );
            }
            last = Some(reply);
        }
    }
    assert_eq!(
        h.state(id).await.state,
        tower_otp::flow::ChallengeState::Locked
    );
    (b, h, last.expect("twenty failures"))
}

#[tokio::test]
async fn every_gate_response_carries_the_security_headers() {
    let replies = every_response_class().await;
    let mut statuses: Vec<u16> = replies.iter().map(|(_, r)| r.status.as_u16()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(
        statuses,
        [
            200, 303, 400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503
        ],
        "every class is covered"
    );
    for (name, reply) in &replies {
        let expected: u16 = name[..3].parse().unwrap();
        assert_eq!(reply.status.as_u16(), expected, "{name}: {}", reply.body);
        assert_gate_headers(name, reply);
        assert!(!reply.is_ticket(), "{name}");
    }
}

#[tokio::test]
async fn each_nonce_is_fresh() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let one = nonces_in(&b.get(T).await.body);
    let two = nonces_in(&b.get(T).await.body);
    assert_ne!(one[0], two[0]);
}

#[tokio::test]
async fn redirects_point_to_the_same_url_and_carry_nothing_secret() {
    let h = Harness::new();
    let mut b = h.browser();
    let url = "/tickets/abc?utm=1";
    let reply = b.get(url).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let marked = common::probe_location(url);
    assert_eq!(reply.header("location"), Some(marked.as_str()));
    b.get(url).await;
    let mut c = h.browser();
    c.get(url).await;
    let reply = c
        .post_form(url, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some(url));
    let code = h.last_code();
    let reply = c
        .post_form(url, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let location = reply.header("location").unwrap();
    assert_eq!(location, url);
    assert!(!location.contains(&code));
}

// ---------------------------------------------------------------------------
// The ticket page the gate lets through (12.1)

#[tokio::test]
async fn the_passed_ticket_page_is_not_stored_by_caches() {
    let h = Harness::new();
    let mut b = h.browser();
    b.get(T).await;
    let claim = b.get(T).await;
    assert!(claim.is_ticket());
    assert!(claim.device_cookie().is_some());
    assert_eq!(claim.header("cache-control"), Some("no-store"), "claim");
    let page = b.get(T).await;
    assert!(page.is_ticket());
    assert_eq!(page.header("cache-control"), Some("no-store"), "verified");
    // Outside any ticket the gate adds nothing.
    let home = b.get("/").await;
    assert_eq!(home.header("cache-control"), None);
    assert_eq!(home.header("content-security-policy"), None);
}

#[tokio::test]
async fn the_app_s_own_cache_control_is_kept() {
    let h = Harness::new();
    let app: Router = Router::new()
        .route(
            "/tickets/{ticket}",
            get(|| async { ([(CACHE_CONTROL, "private, max-age=60")], "TICKET PAGE") }),
        )
        .layer(h.layer.clone());
    let mut b = Browser::on(app);
    b.get(T).await;
    let claim = b.get(T).await;
    assert!(claim.is_ticket(), "{claim:?}");
    // The claim sets the device cookie: never cacheable.
    assert_eq!(claim.header("cache-control"), Some("no-store"));
    let page = b.get(T).await;
    assert!(page.is_ticket());
    assert_eq!(page.header("cache-control"), Some("private, max-age=60"));
}

#[tokio::test]
async fn the_passed_ticket_page_is_not_stored_with_revocation_checks_on() {
    let h = Harness::with(|l| l.with_revocation(tower_otp::Revocation::EveryRequest));
    let mut b = h.browser();
    assert!(b.open(T).await.is_ticket());
    let page = b.get(T).await;
    assert!(page.is_ticket());
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

/// The `Retry-After` of a 429: a whole, positive number of seconds.
fn retry_after_seconds(case: &str, reply: &Reply) -> u64 {
    let value = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("{case}: a 429 without Retry-After"));
    assert!(
        !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
        "{case}: Retry-After {value:?} is not whole seconds"
    );
    let seconds: u64 = value.parse().unwrap();
    assert!(seconds > 0, "{case}: Retry-After {seconds}");
    seconds
}

/// Checks a 429: its JSON error code (for a JSON reply), and a `Retry-After`
/// of exactly `wait` seconds, the same as the body's `retry_after` if it has one.
fn assert_429(case: &str, reply: &Reply, error: &str, wait: u64) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{case}: {}",
        reply.body
    );
    assert_eq!(
        retry_after_seconds(case, reply),
        wait,
        "{case}: Retry-After"
    );
    if reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
    {
        let body = reply.json();
        assert_eq!(body["error"], error, "{case}: {body}");
        if error != "too_many_attempts" {
            assert_eq!(body["retry_after"], wait, "{case}: {body}");
        }
    }
}

/// A send by form and by JSON, both refused with `error` and `wait`; a
/// refused send changes nothing, so both see the same.
async fn assert_send_429(
    case: &str,
    b: &mut Browser,
    path: &str,
    email: &str,
    error: &str,
    wait: u64,
) {
    let mut fields = vec![("action", "resend")];
    let mut json = json!({"action": "resend"});
    if !email.is_empty() {
        fields = vec![("action", "send"), ("email", email)];
        json = json!({"action": "send", "email": email});
    }
    let html = b.post_form(path, &fields).await;
    assert_429(&format!("{case} (HTML)"), &html, error, wait);
    let reply = b.post_json(path, json).await;
    assert_429(&format!("{case} (JSON)"), &reply, error, wait);
}

/// A harness with these limits.
fn limited(limits: Limits) -> Harness {
    Harness::build_with_flow(
        &Secret::random(),
        MemoryStore::new(),
        |flow| flow.with_limits(limits),
        |layer| layer,
    )
}

/// A browser sends a code to `email` through ticket `id` (claimed by another
/// device first, unless it is bound).
async fn send_through(h: &Harness, id: &str, email: &str, claim: bool) -> Browser {
    if claim {
        h.claim(id).await;
    }
    let path = common::ticket_path(id);
    let mut b = h.browser();
    assert_eq!(b.get(&path).await.status, StatusCode::UNAUTHORIZED, "{id}");
    let reply = b
        .post_form(&path, &[("action", "send"), ("email", email)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{id}: {}", reply.body);
    b
}

/// Every kind of 429 the gate answers, in HTML and JSON, says when to retry:
/// a whole, positive number of seconds, the wait the clock gives (rounded up).
#[tokio::test]
async fn every_429_says_when_to_retry() {
    let mailbox = "taro@example.com";

    // The resend cooldown: 60 s after the first send, 120 s after the second.
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, _) = h.sent("abc", mailbox).await;
    h.advance(Duration::from_millis(17_300));
    assert_send_429("first cooldown", &mut b, T, "", "throttled", 43).await;
    h.advance(Duration::from_millis(42_700));
    let sent = b.post_form(T, &[("action", "resend")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    h.advance(Duration::from_secs(1));
    assert_send_429("second cooldown", &mut b, T, "", "throttled", 119).await;

    // The ticket's budget: five sends an hour (at 0, 60, 180, 480 and 780 s);
    // past the last cooldown, the first send must leave the hour.
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, _) = h.sent("abc", mailbox).await;
    for wait in [60, 120, 300, 300] {
        h.advance(Duration::from_secs(wait));
        let sent = b.post_form(T, &[("action", "resend")]).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    }
    h.advance(Duration::from_secs(300));
    assert_send_429("ticket budget", &mut b, T, "", "throttled", 3600 - 1080).await;

    // A mailbox's budget, across tickets and spellings (two an hour here).
    let h = limited(Limits::default().with_sends_per_address(2).unwrap());
    send_through(&h, "m1", mailbox, true).await;
    h.advance(Duration::from_secs(10));
    send_through(&h, "m2", "Taro+news@example.com", true).await;
    h.advance(Duration::from_secs(15));
    h.claim("m3").await;
    let mut b = h.browser();
    b.get("/tickets/m3").await;
    assert_send_429(
        "mailbox budget",
        &mut b,
        "/tickets/m3",
        "TARO@example.com",
        "throttled",
        3600 - 25,
    )
    .await;

    // The owner's budget: tickets bound to the mailbox, counted apart from
    // strangers' sends (two an hour here).
    let h = limited(Limits::default().with_sends_per_address(2).unwrap());
    let owner = EmailAddress::parse(mailbox).unwrap();
    for id in ["o1", "o2", "o3"] {
        let bound = h.layer.flow().pre_bind(&h.key(id), &owner).await.unwrap();
        assert_eq!(bound, tower_otp::store::BindOutcome::Bound, "{id}");
    }
    send_through(&h, "o1", "", false).await;
    h.advance(Duration::from_secs(20));
    send_through(&h, "o2", "", false).await;
    h.advance(Duration::from_secs(30));
    let mut b = h.browser();
    b.get("/tickets/o3").await;
    assert_send_429(
        "owner budget",
        &mut b,
        "/tickets/o3",
        "",
        "throttled",
        3600 - 50,
    )
    .await;
    // Strangers' budget for the same mailbox is untouched.
    send_through(&h, "s1", mailbox, true).await;

    // A domain's budget, whatever the mailbox (two an hour here).
    let h = limited(Limits::default().with_sends_per_domain(2).unwrap());
    send_through(&h, "d1", "a@example.com", true).await;
    h.advance(Duration::from_secs(5));
    send_through(&h, "d2", "b@example.com", true).await;
    h.advance(Duration::from_secs(5));
    h.claim("d3").await;
    let mut b = h.browser();
    b.get("/tickets/d3").await;
    assert_send_429(
        "domain budget",
        &mut b,
        "/tickets/d3",
        "c@example.com",
        "throttled",
        3600 - 10,
    )
    .await;

    // The site-wide budget, whatever the domain (two an hour here).
    let h = limited(Limits::default().with_sends_site_wide(Some(2)).unwrap());
    send_through(&h, "w1", "a@example.com", true).await;
    h.advance(Duration::from_secs(40));
    send_through(&h, "w2", "b@example.org", true).await;
    h.advance(Duration::from_secs(40));
    h.claim("w3").await;
    let mut b = h.browser();
    b.get("/tickets/w3").await;
    assert_send_429(
        "site-wide budget",
        &mut b,
        "/tickets/w3",
        "c@example.net",
        "throttled",
        3600 - 80,
    )
    .await;

    // A spent round: the wait is the next send's. Never 0, even when that
    // send is allowed now.
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", mailbox).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let reply = b
            .post_form(T, &[("action", "verify"), ("code", wrong)])
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    h.advance(Duration::from_secs(7));
    for (wait, case) in [(53, "spent round"), (1, "spent round, send allowed")] {
        let html = b
            .post_form(T, &[("action", "verify"), ("code", &code)])
            .await;
        assert_429(&format!("{case} (HTML)"), &html, "too_many_attempts", wait);
        let reply = b
            .post_json(T, json!({"action": "verify", "code": code}))
            .await;
        assert_429(&format!("{case} (JSON)"), &reply, "too_many_attempts", wait);
        h.advance(Duration::from_secs(53));
    }

    // The lockout: the twentieth failure, then any verify or send until the
    // hour has passed.
    let (mut b, h, twentieth) = lock("locked").await;
    assert_429("the locking failure", &twentieth, "locked", 3600);
    h.advance(Duration::from_millis(1_234_500));
    let path = "/tickets/locked";
    let html = b
        .post_form(path, &[("action", "verify"), ("code", "123456")])
        .await;
    assert_429("locked verify (HTML)", &html, "locked", 3600 - 1234);
    let reply = b
        .post_json(path, json!({"action": "verify", "code": "123456"}))
        .await;
    assert_429("locked verify (JSON)", &reply, "locked", 3600 - 1234);
    assert_send_429("locked send", &mut b, path, "", "locked", 3600 - 1234).await;
}

#[tokio::test]
async fn every_cookie_the_gate_sets_is_locked_down() {
    let h = Harness::with(|l| l.with_cookie_secure(true));
    let mut first = h.browser();
    let mut set = Vec::new();
    let probe = first.get("/tickets/abc?otp_lang=ja").await;
    set.extend(probe.set_cookies());
    let claim = first.get("/tickets/abc").await;
    assert!(claim.is_ticket());
    set.extend(claim.set_cookies());
    let mut b = h.browser();
    set.extend(b.get(T).await.set_cookies());
    b.post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    let code = h.last_code();
    set.extend(
        b.post_form(T, &[("action", "verify"), ("code", &code)])
            .await
            .set_cookies(),
    );
    let names: Vec<&str> = set.iter().map(|c| c.name()).collect();
    assert!(names.iter().any(|n| n.contains("csrf")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("probe")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("lang")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("__Secure-otp-")),
        "{names:?}"
    );
    for c in &set {
        let name = c.name();
        assert_eq!(c.http_only(), Some(true), "{name}");
        assert_eq!(c.secure(), Some(true), "{name}");
        assert_eq!(c.same_site(), Some(cookie::SameSite::Lax), "{name}");
        assert_eq!(c.domain(), None, "{name}");
        if name.starts_with("__Host-") {
            assert_eq!(c.path(), Some("/"), "{name}");
        }
        if name.contains("csrf") {
            assert!(
                name.starts_with("__Host-"),
                "{name}: not overwritable by a sibling host"
            );
        }
        if c.path() != Some("/") {
            assert_eq!(c.path(), Some(T), "{name}");
        }
    }
}
