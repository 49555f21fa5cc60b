//! Failing mailers and stores: the gate fails closed, says what happened, and
//! counts nothing it did not do (checklist 3.6, 3.7, 4.3, 11.3).

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{Browser, Harness, Reply, failing_store, stable};
use http::{Method, StatusCode};
use serde_json::json;
use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{MemoryStore, Revocation, Secret, flow::ChallengeState};

const T: &str = "/tickets/abc";

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

// ---------------------------------------------------------------------------
// The mailer fails

#[tokio::test]
async fn a_failed_mail_is_reported_and_counts_nothing() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    let before = h.state("abc").await;

    h.mailer.set_failing(true);
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        reply.body.contains("role=\"alert\""),
        "the failure is announced"
    );
    assert!(reply.device_cookie().is_none());
    assert!(!reply.is_ticket());
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["error"], "mail_failed");
    assert!(reply.device_cookie().is_none());
    assert_eq!((h.mailer.count(), h.mailer.attempts()), (0, 2));
    let state = h.state("abc").await;
    assert_ne!(state.state, ChallengeState::CodeSent, "no code was issued");
    assert_eq!(state.resend_at, None, "no send was counted");
    assert_eq!(state.attempts_left, before.attempts_left);
    assert!(!state.bound);

    // The mail server is back: an immediate send works (no cooldown was started).
    h.mailer.set_failing(false);
    let page = b
        .submit(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.mailer.count(), 1);
    let first = h.last_code();

    // A failed resend leaves the earlier code and the cooldown as they were.
    h.advance(Duration::from_secs(61));
    h.mailer.fail_next(1);
    let reply = b.post_form(T, &[("action", "resend")]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let reply = b.post_form(T, &[("action", "resend")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(h.mailer.count(), 2);
    let state = h.state("abc").await;
    assert_eq!(
        state.resend_in(),
        Duration::from_secs(120),
        "two sends counted, not three"
    );
    // The first code still works.
    let page = b.submit(T, &[("action", "verify"), ("code", &first)]).await;
    assert!(page.is_ticket(), "{page:?}");
}

#[tokio::test]
async fn a_failed_mail_on_a_bound_ticket_changes_nothing() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    assert!(
        b.submit(T, &[("action", "verify"), ("code", &code)])
            .await
            .is_ticket()
    );
    h.advance(Duration::from_secs(3600));
    let mut other = h.browser();
    let before = h.state("abc").await;
    h.mailer.set_failing(true);
    let reply = other.post_json(T, json!({"action": "send"})).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(h.state("abc").await, before);
}

// ---------------------------------------------------------------------------
// The store fails

#[tokio::test]
async fn a_failing_store_answers_503_and_never_the_app() {
    let h = Harness::build(&Secret::random(), failing_store(), |l| l);
    for mode in ["html", "json"] {
        let mut b = h.browser();
        let accept = if mode == "json" {
            "application/json"
        } else {
            "text/html"
        };
        // GET twice: the first device's probe and its return both fail closed.
        for _ in 0..2 {
            let reply = b
                .send_with(Method::GET, T, &[("accept", accept)], Body::empty())
                .await;
            assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{mode}");
            assert!(!reply.is_ticket());
            assert!(reply.device_cookie().is_none());
            assert!(
                !reply
                    .set_cookies()
                    .iter()
                    .any(|c| c.name().contains("probe"))
            );
        }
        for method in [Method::HEAD, Method::OPTIONS, Method::PUT, Method::DELETE] {
            let reply = b
                .send_with(method.clone(), T, &[("accept", accept)], Body::empty())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{mode} {method}"
            );
        }
    }
    let mut b = h.browser();
    let page = b.get(T).await;
    assert!(page.body.contains("<!doctype html>"));
    assert_eq!(b.get_json(T).await.json()["error"], "unavailable");
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = b
        .post_json(T, json!({"action": "verify", "code": "123456"}))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.device_cookie().is_none());
    assert_eq!(h.mailer.count(), 0);
    // Outside any ticket, the app is untouched.
    assert_eq!(b.get("/").await.body, "home");
}

/// Every 503 says when to come back (`Retry-After`): the page and its JSON
/// picture when the store is down, and an action whose own store call
/// failed after the ticket was read.
#[tokio::test]
async fn a_failing_store_says_when_to_retry() {
    let h = Harness::build(&Secret::random(), failing_store(), |l| l);
    let mut b = h.browser();
    let send = json!({"action": "send", "email": "a@example.com"});
    for reply in [
        b.get(T).await,
        b.get_json(T).await,
        b.post_json(T, send.clone()).await,
    ] {
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.header("retry-after"), Some("2"), "{reply:?}");
    }

    let flaky = StoreTap::new(MemoryStore::new());
    let h = Harness::build(&Secret::random(), flaky.clone(), |l| l);
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    flaky.fail(StoreCall::IssueCode);
    for reply in [
        b.post_json(T, send.clone()).await,
        b.post_form(T, &[("action", "send"), ("email", "a@example.com")])
            .await,
    ] {
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("2"), "{reply:?}");
    }
    assert_eq!(h.mailer.count(), 0);
}

#[tokio::test]
async fn verified_devices_keep_passing_while_the_store_is_down() {
    let secret = Secret::random();
    let working = Harness::build(&secret, MemoryStore::new(), |l| l);
    // One device by first-device trust, one by code.
    let first = working.claim("abc").await;
    let (mut second, code) = working.sent("abc", "a@example.com").await;
    assert!(
        second
            .submit(T, &[("action", "verify"), ("code", &code)])
            .await
            .is_ticket()
    );

    // An instance that checks cookies alone (no revocation check, so no
    // store read): a cold instance with the default cached revocation reads
    // each ticket's generation first, and answers 503 while it cannot
    // (tests/operations.rs).
    let down = Harness::build(&secret, failing_store(), |l| {
        l.with_revocation(Revocation::Off)
    });
    for (name, holder) in [("first device", &first), ("verified by code", &second)] {
        let mut b = Browser::on(down.app.clone());
        b.copy_cookies_from(holder);
        let page = b.get(T).await;
        assert!(page.is_ticket(), "{name}: {page:?}");
        assert!(b.get("/tickets/abc/pdf").await.is_ticket(), "{name}");
        // Not another ticket, though, were abc's cookie sent there.
        let cookie = b.cookie_header(T).expect("abc's cookie");
        let other = Browser::on(down.app.clone())
            .send_with(
                Method::GET,
                "/tickets/xyz",
                &[("cookie", &cookie)],
                Body::empty(),
            )
            .await;
        assert_eq!(other.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
    }
    // A tampered cookie does not pass.
    let mut b = Browser::on(down.app.clone());
    b.copy_cookies_from(&first);
    let names: Vec<String> = b.cookie_names().into_iter().map(str::to_owned).collect();
    for name in names {
        let mut value = b.cookie(&name, T).unwrap().to_owned();
        if value.matches('.').count() == 2 {
            // Change a significant bit of the signature's last character.
            let last = value.pop().unwrap();
            value.push(if last == 'A' { 'E' } else { 'A' });
            b.remove_cookie(&name, T);
            b.set_cookie(&name, &value);
        }
    }
    let reply = b.get(T).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    // Nor an expired one.
    down.advance(Duration::from_secs(31 * 24 * 3600));
    let mut b = Browser::on(down.app.clone());
    b.copy_cookies_from(&first);
    assert_eq!(b.get(T).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn with_revocation_checks_a_failing_store_fails_closed() {
    let secret = Secret::random();
    let working = Harness::build(&secret, MemoryStore::new(), |l| l);
    let first = working.claim("abc").await;
    let down = Harness::build(&secret, failing_store(), |l| {
        l.with_revocation(tower_otp::Revocation::EveryRequest)
    });
    let mut b = Browser::on(down.app.clone());
    b.copy_cookies_from(&first);
    let reply = b.get(T).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(!reply.is_ticket());
}

#[tokio::test]
async fn a_store_failing_mid_action_fails_closed() {
    let store = StoreTap::new(MemoryStore::new());
    let h = Harness::build(&Secret::random(), store.clone(), |l| l);

    // The claim fails: no cookie, no ticket page, not claimed.
    store.fail(StoreCall::ClaimFirstDevice);
    let mut first = h.browser();
    first.get(T).await;
    let reply = first.get(T).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(!reply.is_ticket());
    assert!(reply.device_cookie().is_none());
    assert!(h.state("abc").await.claimable);
    store.pass(StoreCall::ClaimFirstDevice);
    assert!(first.get(T).await.is_ticket());

    // Issuing fails: no mail.
    let mut b = h.browser();
    b.get(T).await;
    store.fail(StoreCall::IssueCode);
    let reply = b
        .post_form(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["error"], "unavailable");
    assert_eq!(h.mailer.attempts(), 0);
    store.pass(StoreCall::IssueCode);

    // The mail fails and so does the withdrawal: still a 502, and no cookie.
    store.fail(StoreCall::WithdrawCode);
    h.mailer.fail_next(1);
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    store.pass(StoreCall::WithdrawCode);

    // Verifying fails: no cookie, the code is not consumed.
    h.advance(Duration::from_secs(301));
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let code = h.last_code();
    store.fail(StoreCall::VerifyCode);
    let reply = b
        .post_form(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.device_cookie().is_none());
    store.pass(StoreCall::VerifyCode);

    // Restart fails: the pending address stays.
    store.fail(StoreCall::Restart);
    let reply = b.post_json(T, json!({"action": "restart"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.state("abc").await.state, ChallengeState::CodeSent);
    store.pass(StoreCall::Restart);

    let page = b.submit(T, &[("action", "verify"), ("code", &code)]).await;
    assert!(page.is_ticket(), "{page:?}");
}

// ---------------------------------------------------------------------------
// 429s say nothing about the code (3.7)

/// The reply with its per-response values blanked: status, headers but the
/// CSP (which holds the nonce), and the body.
fn comparable(reply: &Reply) -> (StatusCode, Vec<(String, String)>, String) {
    let headers = reply
        .headers
        .iter()
        .filter(|(name, _)| name.as_str() != "content-security-policy")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    (reply.status, headers, stable(&reply.body))
}

async fn right_and_wrong(b: &mut Browser, code: &str) {
    let mut pairs = Vec::new();
    for guess in [code, wrong(code)] {
        let html = b
            .post_form(T, &[("action", "verify"), ("code", guess)])
            .await;
        let json = b
            .post_json(T, json!({"action": "verify", "code": guess}))
            .await;
        pairs.push((html, json));
    }
    let (right, wrong) = (&pairs[0], &pairs[1]);
    assert_eq!(right.0.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(comparable(&right.0), comparable(&wrong.0), "HTML");
    assert_eq!(comparable(&right.1), comparable(&wrong.1), "JSON");
    assert!(!right.1.body.contains(code));
}

#[tokio::test]
async fn a_spent_budget_answers_the_same_for_right_and_wrong_codes() {
    let h = Harness::new();
    h.claim("abc").await;
    let (mut b, code) = h.sent("abc", "a@example.com").await;
    for _ in 0..5 {
        b.post_form(T, &[("action", "verify"), ("code", wrong(&code))])
            .await;
    }
    right_and_wrong(&mut b, &code).await;
}

#[tokio::test]
async fn a_lockout_answers_the_same_for_right_and_wrong_codes() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.get(T).await;
    for round in 0..4 {
        h.advance(Duration::from_secs(301));
        let action = if round == 0 { "send" } else { "resend" };
        let reply = b
            .post_form(T, &[("action", action), ("email", "a@example.com")])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let code = h.last_code();
        for _ in 0..(if round == 3 { 4 } else { 5 }) {
            b.post_form(T, &[("action", "verify"), ("code", wrong(&code))])
                .await;
        }
    }
    // 19 failures; the code of this round is still live and right.
    let code = h.last_code();
    let reply = b
        .post_form(T, &[("action", "verify"), ("code", wrong(&code))])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the 20th locks"
    );
    assert_eq!(h.state("abc").await.state, ChallengeState::Locked);
    right_and_wrong(&mut b, &code).await;
    // A locked-out new device cannot send either.
    let reply = b.post_json(T, json!({"action": "resend"})).await;
    assert_eq!(reply.json()["error"], "locked");
    // An hour later (the pending address forgotten with its codes) a new round works.
    h.advance(Duration::from_secs(3601));
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let code = h.last_code();
    let page = b.submit(T, &[("action", "verify"), ("code", &code)]).await;
    assert!(page.is_ticket());
}
