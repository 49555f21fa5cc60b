//! The whole journey through the real layer, as browsers would walk it.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{Browser, Harness};
use http::{Method, StatusCode};

const T: &str = "/tickets/abc";

#[tokio::test]
async fn first_device_passes_after_a_cookie_round_trip() {
    let h = Harness::new();
    let mut first = h.browser();
    let probe = first.get(T).await;
    assert_eq!(probe.status, StatusCode::SEE_OTHER, "{}", probe.body);
    let marked = common::probe_location(T);
    assert_eq!(probe.header("location"), Some(marked.as_str()));
    assert!(
        probe.device_cookie().is_none(),
        "no device cookie before the round trip"
    );
    // Back with the probe cookie: claimed, and sent to the unmarked URL.
    let claimed = first.get(&marked).await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{claimed:?}");
    assert_eq!(claimed.header("location"), Some(T));
    let device = claimed.device_cookie().expect("device cookie set");
    assert_eq!(device.path(), Some(T));
    assert_eq!(device.http_only(), Some(true));
    assert_eq!(device.same_site(), Some(cookie::SameSite::Lax));
    // Visits pass on the cookie alone.
    assert!(first.get(T).await.is_ticket());
    assert!(first.get("/tickets/abc/pdf").await.is_ticket());
    assert_eq!(h.mailer.count(), 0);
}

#[tokio::test]
async fn the_whole_journey_of_a_second_device() {
    let h = Harness::new();
    let mut first = h.test_browser();
    assert!(first.open(T).await.text().starts_with(common::TICKET_BODY));

    // A second browser is challenged: address entry.
    let mut phone = h.test_browser();
    let page = phone.open(T).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(!page.text().contains(common::TICKET_BODY));
    assert!(
        page.text().contains(r#"type="email""#),
        "address entry page"
    );

    // Send: back to the page, which now asks for the code.
    let page = phone.send_email("Taro@Example.COM").await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(page.text().contains(r#"autocomplete="one-time-code""#));
    assert!(
        page.text().contains("T***@e***.com"),
        "masked address shown"
    );
    assert_eq!(h.mailer.count(), 1);
    let code = phone
        .code_for("Taro@example.com")
        .expect("a code was mailed");

    // Reloading, and opening the link in a fresh browser (an in-app browser), issue no new code.
    for _ in 0..2 {
        assert_eq!(phone.open(T).await.status(), StatusCode::UNAUTHORIZED);
    }
    let mut in_app = h.test_browser();
    let page = in_app.open(T).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(
        page.text().contains(r#"autocomplete="one-time-code""#),
        "same pending challenge"
    );
    assert_eq!(h.mailer.count(), 1, "GET never sends");

    // The pending code works in the fresh browser, two minutes later.
    h.advance(Duration::from_secs(120));
    assert!(
        in_app
            .enter_code(&code)
            .await
            .text()
            .starts_with(common::TICKET_BODY)
    );
    assert!(in_app.open(T).await.text().starts_with(common::TICKET_BODY));

    // The code was consumed.
    let page = phone.enter_code(&code).await;
    assert_eq!(
        page.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.text()
    );

    // Now bound: another device gets no address field, and a typed address is ignored.
    let mut laptop = h.test_browser();
    let page = laptop.open(T).await;
    assert!(
        !page.text().contains(r#"type="email""#),
        "no address field once bound"
    );
    assert!(page.text().contains("T***@e***.com"));
    h.advance(Duration::from_secs(600));
    laptop.send_email("mallory@evil.test").await;
    assert_eq!(h.mailer.count(), 2);
    assert!(laptop.code_for("mallory@evil.test").is_none());
    let code = laptop
        .code_for("Taro@example.com")
        .expect("sent to the bound address");
    assert!(
        laptop
            .enter_code(&code)
            .await
            .text()
            .starts_with(common::TICKET_BODY)
    );
}

#[tokio::test]
async fn resend_keeps_earlier_codes_valid_until_each_expires() {
    let h = Harness::new();
    assert!(h.browser().open(T).await.is_ticket(), "the first device");
    let mut c = h.browser();
    c.get(T).await;
    let page = c
        .submit(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert_eq!(h.mailer.count(), 1);
    let first = h.last_code();
    h.advance(Duration::from_secs(61));
    let page = c.submit(T, &[("action", "resend")]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert_eq!(h.mailer.count(), 2);
    // A resend within the growing cooldown (120 s after the 2nd send) is refused with Retry-After.
    let reply = c.post_form(T, &[("action", "resend")]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("retry-after"), Some("120"));
    assert_eq!(h.mailer.count(), 2);
    // The first code still works (4 minutes after its issue).
    h.advance(Duration::from_secs(180));
    let mut d = h.browser();
    d.get(T).await;
    let reply = d
        .post_form(T, &[("action", "verify"), ("code", &first)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[tokio::test]
async fn codes_expire_after_five_minutes() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    h.advance(Duration::from_secs(300));
    let reply = b
        .post_form(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.device_cookie().is_none());
    let json = b.get_json(T).await.json();
    assert_eq!(json["state"], "send_required");
}

#[tokio::test]
async fn wrong_codes_spend_the_budget_then_the_right_code_is_refused() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let reply = b
            .post_form(T, &[("action", "verify"), ("code", wrong)])
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(h.state("abc").await.attempts_left, left);
    }
    let reply = b
        .post_form(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert!(reply.device_cookie().is_none());
}

#[tokio::test]
async fn full_width_digits_and_spaces_are_accepted() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    let wide: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap())
        .collect();
    let typed = format!("{} {}", &wide[..9], &wide[9..]);
    let page = b.submit(T, &[("action", "verify"), ("code", &typed)]).await;
    assert!(page.is_ticket(), "{page:?}");
}

#[tokio::test]
async fn restart_lets_another_address_be_entered() {
    let h = Harness::new();
    assert!(h.browser().open(T).await.is_ticket(), "the first device");
    let mut b = h.browser();
    b.get(T).await;
    let page = b
        .submit(T, &[("action", "send"), ("email", "typo@exmaple.com")])
        .await;
    assert!(page.body.contains(r#"autocomplete="one-time-code""#));
    let page = b.submit(T, &[("action", "restart")]).await;
    assert!(page.body.contains(r#"type="email""#), "address entry again");
    h.advance(Duration::from_secs(61));
    let page = b
        .submit(T, &[("action", "send"), ("email", "right@example.com")])
        .await;
    assert!(page.body.contains(r#"autocomplete="one-time-code""#));
    assert_eq!(h.mailer.count(), 2);
    let code = h.last_code_for("right@example.com");
    assert!(
        b.submit(T, &[("action", "verify"), ("code", &code)])
            .await
            .is_ticket()
    );
}

#[tokio::test]
async fn a_cookie_for_one_ticket_never_opens_another() {
    let h = Harness::new();
    let mut b = h.browser();
    assert!(b.open(T).await.is_ticket());
    // Other tickets, already claimed by someone else.
    let mut other = h.browser();
    for path in ["/tickets/other", "/tickets/ABC", "/tickets/abc%2f.."] {
        assert!(other.open(path).await.is_ticket());
    }
    // A client that sends abc's cookie whatever its Path: the server must still refuse.
    let cookie = b.cookie_header(T).expect("abc's cookie");
    for path in ["/tickets/other", "/tickets/ABC", "/tickets/abc%2f.."] {
        let reply = Browser::on(h.app.clone())
            .send_with(Method::GET, path, &[("cookie", &cookie)], Body::empty())
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!reply.is_ticket(), "{path}");
    }
    // And a probe cookie earned on one ticket does not claim another.
    let mut scanner = h.browser();
    assert_eq!(
        scanner.get("/tickets/fresh-1").await.status,
        StatusCode::SEE_OTHER
    );
    let probe = scanner
        .cookie_header("/tickets/fresh-1")
        .expect("the probe cookie");
    let reply = Browser::on(h.app.clone())
        .send_with(
            Method::GET,
            "/tickets/fresh-2",
            &[("cookie", &probe)],
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn requests_without_a_ticket_pass_untouched() {
    let h = Harness::new();
    let reply = h.browser().get("/").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "home")
    );
    assert!(reply.set_cookies().is_empty());
}

#[tokio::test]
async fn lockout_after_twenty_failures_spares_verified_devices() {
    let policy = tower_otp::Limits::default().policy().clone();
    let (threshold, per_round) = (policy.lockout_threshold, policy.max_attempts);
    assert_eq!(
        (threshold, per_round),
        (20, 5),
        "the defaults this test walks"
    );
    let lockout = policy.lockout_duration.as_secs();
    assert_eq!(lockout, 3600);
    let h = Harness::new();
    let mut owner = h.browser();
    assert!(owner.open(T).await.is_ticket(), "the owner's first device");
    let mut b = h.browser();
    assert_eq!(b.get(T).await.status, StatusCode::UNAUTHORIZED);
    // Four rounds of five wrong codes: the twentieth consecutive failure
    // locks, none before it. Each round begins with a send, past the cooldown.
    let mut failures = 0;
    let mut code = String::new();
    for round in 0..threshold / per_round {
        h.advance(Duration::from_secs(301));
        let action = if round == 0 { "send" } else { "resend" };
        let sent = b
            .post_form(T, &[("action", action), ("email", "a@example.com")])
            .await;
        assert_eq!(
            sent.status,
            StatusCode::SEE_OTHER,
            "round {round}: {}",
            sent.body
        );
        assert_eq!(
            h.mailer.count(),
            round as usize + 1,
            "round {round}: mailed"
        );
        code = h.last_code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for attempt in 1..=per_round {
            failures += 1;
            let reply = b
                .post_json(T, serde_json::json!({"action": "verify", "code": wrong}))
                .await;
            let body = reply.json();
            if failures < threshold {
                assert_eq!(
                    reply.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "failure {failures}: {body}"
                );
                assert_eq!(body["error"], "invalid_code", "failure {failures}");
                assert_eq!(
                    body["attempts_left"],
                    per_round - attempt,
                    "failure {failures}"
                );
                assert_eq!(reply.header("retry-after"), None, "failure {failures}");
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::TOO_MANY_REQUESTS,
                    "failure {failures}: {body}"
                );
                assert_eq!(body["error"], "locked", "failure {failures}");
                assert_eq!(body["retry_after"], lockout);
                assert_eq!(reply.header("retry-after"), Some("3600"));
            }
        }
    }
    assert_eq!(failures, threshold);
    assert_eq!(
        h.state("abc").await.state,
        tower_otp::flow::ChallengeState::Locked
    );
    // The 21st try is refused as locked, even with the last code mailed; so
    // is a new send.
    let reply = b
        .post_json(T, serde_json::json!({"action": "verify", "code": code}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"], "locked");
    assert_eq!(reply.header("retry-after"), Some("3600"));
    assert!(reply.device_cookie().is_none());
    let reply = b
        .post_json(T, serde_json::json!({"action": "resend"}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"], "locked");
    assert_eq!(h.mailer.count(), 4, "no mail while locked");
    let reply = b.get_json(T).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["state"], "locked");
    // The verified owner still passes.
    assert!(owner.get(T).await.is_ticket());
    // The lock lasts exactly the hour: one second before, still locked...
    h.advance(Duration::from_secs(lockout - 1));
    assert_eq!(b.get_json(T).await.json()["state"], "locked");
    // ...then new devices may try again.
    h.advance(Duration::from_secs(1));
    assert_eq!(b.get_json(T).await.json()["state"], "send_required");
    let sent = b
        .post_json(T, serde_json::json!({"action": "resend"}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(h.mailer.count(), 5);
}

#[tokio::test]
async fn revoked_devices_are_challenged_when_revocation_checks_are_on() {
    let h = Harness::with(|layer| layer.with_revocation(tower_otp::Revocation::EveryRequest));
    let mut b = h.browser();
    assert!(b.open(T).await.is_ticket());
    assert!(
        b.get(T).await.is_ticket(),
        "a valid, unrevoked cookie passes"
    );
    let flow = h.layer.flow();
    let key = flow.ticket_key(&tower_otp::TicketId::new("abc"));
    assert!(flow.revoke_devices(&key).await.unwrap().enforced);
    let reply = b.get(T).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "revoked");

    // With revocation off, the same cookie keeps passing (no store I/O).
    let h = Harness::with(|layer| layer.with_revocation(tower_otp::Revocation::Off));
    let mut b = h.browser();
    assert!(b.open(T).await.is_ticket());
    let flow = h.layer.flow();
    let revoked = flow
        .revoke_devices(&flow.ticket_key(&tower_otp::TicketId::new("abc")))
        .await
        .unwrap();
    assert!(
        !revoked.enforced,
        "the result says the revocation is not enforced"
    );
    assert!(b.get(T).await.is_ticket());
}

#[tokio::test]
async fn works_around_a_plain_tower_service() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    let flow = tower_otp::Flow::new(
        &tower_otp::Secret::random(),
        tower_otp::MemoryStore::new(),
        tower_otp::testing::CapturingMailer::new(),
    );
    let layer = tower_otp::OtpLayer::new(flow)
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false);
    let service = ServiceBuilder::new().layer(layer).service(service_fn(
        |request: http::Request<Full<Bytes>>| async move {
            let verified = request
                .extensions()
                .get::<tower_otp::VerifiedDevice>()
                .is_some();
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                "inner verified={verified}"
            )))))
        },
    ));
    let get = |cookie: Option<String>| {
        let mut request = http::Request::get(T).body(Full::new(Bytes::new())).unwrap();
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert(http::header::COOKIE, cookie.parse().unwrap());
        }
        request
    };
    let probe = service.clone().oneshot(get(None)).await.unwrap();
    assert_eq!(probe.status(), StatusCode::SEE_OTHER);
    let probe_cookie = probe.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let first = service
        .clone()
        .oneshot(get(Some(probe_cookie)))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let body = first.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "inner verified=true");
    // Another client is gated with the page, never the inner service.
    let other = service.oneshot(get(None)).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    let body = other.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains(r#"type="email""#), "the challenge page");
    assert!(!body.contains("inner verified"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_plain_http_gets_no_cookie_only_a_redirect_to_https() {
    use axum::body::Body;
    let request = |proto: &str| {
        http::Request::get(T)
            .header("host", "tickets.test")
            .header("x-forwarded-proto", proto)
            .body(Body::empty())
            .unwrap()
    };
    let h = Harness::with(|layer| layer.with_trusted_forwarded_proto(true));
    let mut b = h.browser();
    for _ in 0..2 {
        let reply = b.send(request("http")).await;
        assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            reply.header("location"),
            Some("https://tickets.test/tickets/abc")
        );
        assert!(
            reply.set_cookies().is_empty(),
            "nothing is minted over http"
        );
    }
    // Over https (as the proxy says) the first device is trusted as usual.
    assert_eq!(b.send(request("https")).await.status, StatusCode::SEE_OTHER);
    assert!(b.send(request("https")).await.is_ticket());
    // Its cookie is not accepted over http either.
    assert_eq!(
        b.send(request("http")).await.status,
        StatusCode::PERMANENT_REDIRECT
    );
    // Without the setting the header is the client's and is ignored.
    let h = Harness::new();
    let mut b = h.browser();
    assert_eq!(b.send(request("http")).await.status, StatusCode::SEE_OTHER);
}
