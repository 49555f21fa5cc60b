//! First-device modes (trust, confirm, challenge), pre-bound tickets, and
//! the race for the first device.

mod common;

use std::sync::Arc;

use axum::body::Body;
use common::{Browser, Harness, ticket_path};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;
use tower_otp::{EmailAddress, FirstDevice, flow::ChallengeState};

const T: &str = "/tickets/abc";

fn cookie_names(reply: &common::Reply) -> Vec<String> {
    reply
        .set_cookies()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}

#[tokio::test]
async fn trust_mode_needs_a_cookie_round_trip() {
    let h = Harness::new();
    // A client without a cookie jar (a link previewer) never claims.
    let mut previewer = h.browser();
    for _ in 0..5 {
        previewer.clear_cookies();
        let reply = previewer.get(T).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert!(reply.device_cookie().is_none());
    }
    assert!(h.state("abc").await.claimable);
    // The probe cookie: scoped to the ticket, short-lived, HttpOnly.
    let mut b = h.browser();
    let reply = b.get(T).await;
    let probe = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.name().contains("probe"))
        .expect("a probe cookie");
    assert_eq!(probe.path(), Some(T));
    assert_eq!(probe.http_only(), Some(true));
    assert_eq!(probe.same_site(), Some(cookie::SameSite::Lax));
    assert!(probe.max_age().unwrap() <= cookie::time::Duration::minutes(10));
    // The round trip claims, and the probe is cleared.
    let reply = b.get(T).await;
    assert!(
        reply.is_ticket(),
        "a probe cookie on the plain URL claims too"
    );
    let cleared = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.name().contains("probe"))
        .expect("the probe is cleared");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));
    assert!(!h.state("abc").await.claimable);
    assert!(!b.cookie_names().iter().any(|k| k.contains("probe")));
}

#[tokio::test]
async fn confirm_mode_claims_on_one_tap() {
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let mut b = h.browser();
    for _ in 0..3 {
        let page = b.get(T).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body
                .contains(r#"<button name="action" value="confirm""#),
            "{}",
            page.body
        );
        assert!(!page.body.contains(r#"type="email""#));
        assert!(page.device_cookie().is_none());
        assert!(!cookie_names(&page).iter().any(|n| n.contains("probe")));
    }
    // HEAD and prefetch do not get the button's effect.
    for headers in [vec![], vec![("sec-purpose", "prefetch")]] {
        let method = if headers.is_empty() {
            Method::HEAD
        } else {
            Method::GET
        };
        let reply = b.send_with(method, T, &headers, Body::empty()).await;
        assert!(reply.set_cookies().is_empty());
    }
    assert!(h.state("abc").await.claimable, "GET never claims");

    // Without the CSRF token, or cross-site: refused, not claimed.
    let mut forged = b.clone();
    forged.csrf = None;
    let reply = forged.post_form(T, &[("action", "confirm")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = b
        .post_json_with(
            T,
            &[("sec-fetch-site", "cross-site")],
            json!({"action": "confirm"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(h.state("abc").await.claimable);

    // One tap.
    let reply = b.post_form(T, &[("action", "confirm")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.header("location"), Some(T));
    let cookie = reply.device_cookie().expect("device cookie");
    assert_eq!(cookie.path(), Some(T));
    assert!(b.get(T).await.is_ticket());
    assert_eq!(h.mailer.count(), 0);

    // A second browser is challenged; its tap claims nothing.
    let mut other = h.browser();
    let page = other.get(T).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains(r#"type="email""#), "the challenge");
    assert!(!page.body.contains(r#"value="confirm""#));
    let reply = other.post_form(T, &[("action", "confirm")]).await;
    assert!(reply.device_cookie().is_none(), "{reply:?}");
    assert!(!other.get(T).await.is_ticket());
}

#[tokio::test]
async fn confirm_through_the_json_api() {
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let mut app = h.browser();
    let reply = app.post_json(T, json!({"action": "confirm"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({"state": "verified"}));
    assert!(reply.device_cookie().is_some());
    assert!(app.get_json(T).await.is_ticket());
}

#[tokio::test]
async fn confirm_is_refused_outside_confirm_mode() {
    for mode in [FirstDevice::Trust, FirstDevice::Challenge] {
        for claimed in [false, true] {
            let h = Harness::with(|l| l.with_first_device(mode));
            if claimed {
                h.layer
                    .flow()
                    .claim_first_device(&h.key("abc"))
                    .await
                    .unwrap();
            }
            let case = format!("{mode:?}, claimed {claimed}");
            let before = h.state("abc").await;
            let mut b = h.browser();
            b.get(T).await;
            if b.csrf.is_none() {
                // Trust mode, unclaimed: the probe redirect has no form (so no
                // token); the JSON API needs none.
                let reply = b.post_json(T, json!({"action": "confirm"})).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{case}");
                assert_eq!(reply.json()["error"], "bad_request", "{case}");
                assert!(reply.device_cookie().is_none(), "{case}");
            } else {
                let reply = b.post_form(T, &[("action", "confirm")]).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{case}");
                assert!(reply.device_cookie().is_none(), "{case}");
                let reply = b.post_json(T, json!({"action": "confirm"})).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{case}");
            }
            assert_eq!(h.state("abc").await, before, "{case}");
        }
    }
}

#[tokio::test]
async fn challenge_mode_challenges_the_very_first_browser() {
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    let mut b = h.browser();
    for _ in 0..3 {
        let page = b.get(T).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "no probe redirect");
        assert!(page.body.contains(r#"type="email""#));
        assert!(page.device_cookie().is_none());
        assert!(!cookie_names(&page).iter().any(|n| n.contains("probe")));
    }
    assert_eq!(b.get_json(T).await.json()["state"], "email_required");
    let page = b
        .submit(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let code = h.last_code();
    let page = b.submit(T, &[("action", "verify"), ("code", &code)]).await;
    assert!(page.is_ticket(), "{page:?}");
    // The next browser too.
    let page = h.browser().get(T).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_pre_bound_ticket_has_no_first_device_and_mails_only_its_address() {
    for mode in [
        FirstDevice::Trust,
        FirstDevice::Confirm,
        FirstDevice::Challenge,
    ] {
        let h = Harness::with(|l| l.with_first_device(mode));
        // A browser that earned the probe before the application pre-bound.
        let mut early = h.browser();
        early.get(T).await;
        let owner = EmailAddress::parse("owner@example.com").unwrap();
        h.layer
            .flow()
            .pre_bind(&h.key("abc"), &owner)
            .await
            .unwrap();

        for b in [&mut early, &mut h.browser()] {
            let page = b.get(T).await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{mode:?}");
            assert!(!page.is_ticket());
            assert!(page.device_cookie().is_none());
            assert!(
                !page.body.contains(r#"type="email""#),
                "{mode:?}: no address field"
            );
            assert!(
                !page.body.contains(r#"value="confirm""#),
                "{mode:?}: no confirm"
            );
            assert!(page.body.contains("o***@e***.com"), "{mode:?}: masked");
            assert!(!page.body.contains("owner@"), "{mode:?}");
        }
        let state = h.state("abc").await;
        assert!(state.bound && !state.claimable);
        assert_eq!(state.state, ChallengeState::SendRequired);

        // A typed address is ignored: the code goes to the bound address.
        let mut b = h.browser();
        b.get(T).await;
        let reply = b
            .post_form(T, &[("action", "send"), ("email", "mallory@evil.test")])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let messages = h.mailer.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].to, owner);
        let code = h.last_code_for("owner@example.com");
        let page = b.submit(T, &[("action", "verify"), ("code", &code)]).await;
        assert!(page.is_ticket(), "{mode:?}: {page:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_first_devices_make_exactly_one() {
    for round in 0..10 {
        let h = Harness::new();
        let path = ticket_path(&format!("race-{round}"));
        let mut browsers: Vec<Browser> = Vec::new();
        for _ in 0..20 {
            let mut b = h.browser();
            assert_eq!(b.get(&path).await.status, StatusCode::SEE_OTHER);
            browsers.push(b);
        }
        let barrier = Arc::new(Barrier::new(20));
        let tasks: Vec<_> = browsers
            .into_iter()
            .map(|mut b| {
                let barrier = Arc::clone(&barrier);
                let path = path.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    b.get(&path).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            if reply.is_ticket() {
                assert!(reply.device_cookie().is_some());
                winners += 1;
            } else {
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
                assert!(reply.device_cookie().is_none());
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_confirm_taps_make_exactly_one() {
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let mut b = h.browser();
        b.get(T).await;
        browsers.push(b);
    }
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|mut b| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                // (`post_form` holds a non-Send serializer across its await.)
                let body = b.form_body(&[("action", "confirm")]);
                let headers = [
                    ("host", "tickets.test"),
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("sec-fetch-site", "same-origin"),
                ];
                barrier.wait().await;
                b.send_with(Method::POST, T, &headers, Body::from(body))
                    .await
            })
        })
        .collect();
    let mut cookies = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        cookies += usize::from(reply.device_cookie().is_some());
    }
    assert_eq!(cookies, 1);
}

/// A browser that refuses cookies follows the probe's redirect without the
/// probe: it is told that cookies are needed (in its language; in JSON, an
/// error code), never sent round again.
#[tokio::test]
async fn a_browser_refusing_cookies_is_told_instead_of_looping() {
    let h = Harness::new();
    let marked = common::probe_location(T);
    for (language, needle) in [
        ("ja", "Cookie を保存しない"),
        ("en", "does not keep cookies"),
    ] {
        let mut refuser = h.browser();
        let first = refuser
            .send_with(
                Method::GET,
                T,
                &[("accept-language", language)],
                Body::empty(),
            )
            .await;
        assert_eq!(first.header("location"), Some(marked.as_str()));
        refuser.clear_cookies(); // the browser dropped the probe
        let page = refuser
            .send_with(
                Method::GET,
                &marked,
                &[("accept-language", language)],
                Body::empty(),
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{page:?}");
        assert!(page.body.contains(needle), "{language}: {}", page.body);
        assert!(page.header("location").is_none(), "no redirect: no loop");
        assert!(
            page.body.contains(&format!("action=\"{T}\"")),
            "the form posts to the unmarked URL"
        );
    }
    let mut api = h.browser();
    let reply = api.get_json(&marked).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "cookies_required");
    assert!(h.state("abc").await.claimable, "nothing was claimed");
}

/// The three modes as a browser walks them, with `TestBrowser`.
#[tokio::test]
async fn each_mode_walked_with_the_test_browser() {
    // Trust: the first browser's round trip is followed by `open`.
    let h = Harness::new();
    let mut first = h.test_browser();
    assert!(first.open(T).await.text().starts_with(common::TICKET_BODY));
    let mut second = h.test_browser();
    assert_eq!(second.open(T).await.status(), StatusCode::UNAUTHORIZED);

    // Confirm: one tap on the page's button.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let mut first = h.test_browser();
    assert_eq!(first.open(T).await.status(), StatusCode::UNAUTHORIZED);
    assert!(
        first
            .confirm()
            .await
            .text()
            .starts_with(common::TICKET_BODY)
    );
    let mut late = h.test_browser();
    late.open(T).await;
    assert_eq!(
        late.confirm().await.status(),
        StatusCode::UNAUTHORIZED,
        "claimed already"
    );

    // Challenge: even the first browser verifies by code.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    let mut first = h.test_browser();
    assert_eq!(first.open(T).await.status(), StatusCode::UNAUTHORIZED);
    first.send_email("a@example.com").await;
    let code = first.code_for("a@example.com").expect("a code");
    assert!(
        first
            .enter_code(&code)
            .await
            .text()
            .starts_with(common::TICKET_BODY)
    );
}
