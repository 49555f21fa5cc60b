//! The JSON API: state shapes, actions, stable error codes, strict bodies
//! (checklist 10).

mod common;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::{Browser, Harness, Reply, failing_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower_otp::{FirstDevice, Secret};

const T: &str = "/tickets/abc";

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// A 401 challenge answer and its JSON.
fn challenge(reply: &Reply) -> Value {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    reply.json()
}

/// Asserts an error answer: status, stable code, a message; returns the JSON.
fn error(reply: &Reply, status: StatusCode, code: &str) -> Value {
    assert_eq!(reply.status, status, "{code}: {}", reply.body);
    let json = reply.json();
    assert_eq!(json["error"], code, "{}", reply.body);
    json
}

#[tokio::test]
async fn each_state_has_a_stable_shape() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    assert_eq!(
        challenge(&b.get_json(T).await),
        json!({
            "state": "email_required", "bound": false, "masked_email": null,
            "expires_in": 0, "resend_in": 0, "attempts_left": 5, "locked_until": null,
        })
    );

    let sent = b
        .post_json(T, json!({"action": "send", "email": "Taro@Example.COM"}))
        .await;
    let code_sent = json!({
        "state": "code_sent", "bound": false, "masked_email": "T***@e***.com",
        "expires_in": 300, "resend_in": 60, "attempts_left": 5, "locked_until": null,
    });
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.json(), code_sent);
    assert_eq!(challenge(&b.get_json(T).await), code_sent);
    h.advance(Duration::from_secs(30));
    assert_eq!(
        challenge(&h.browser().get_json(T).await),
        json!({
            "state": "code_sent", "bound": false, "masked_email": "T***@e***.com",
            "expires_in": 270, "resend_in": 30, "attempts_left": 5, "locked_until": null,
        }),
        "any browser sees the same pending challenge"
    );

    h.advance(Duration::from_secs(271));
    assert_eq!(
        challenge(&b.get_json(T).await),
        json!({
            "state": "send_required", "bound": false, "masked_email": "T***@e***.com",
            "expires_in": 0, "resend_in": 0, "attempts_left": 5, "locked_until": null,
        })
    );

    // Bound: another device sees the masked binding and no address field.
    let reply = b.post_json(T, json!({"action": "resend"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let code = h.last_code();
    let reply = b
        .post_json(T, json!({"action": "verify", "code": code}))
        .await;
    assert_eq!(reply.json(), json!({"state": "verified"}));
    h.advance(Duration::from_secs(3600));
    assert_eq!(
        challenge(&h.browser().get_json(T).await),
        json!({
            "state": "send_required", "bound": true, "masked_email": "T***@e***.com",
            "expires_in": 0, "resend_in": 0, "attempts_left": 5, "locked_until": null,
        })
    );

    // Locked.
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    for round in 0..4 {
        h.advance(Duration::from_secs(301));
        let action = if round == 0 { "send" } else { "resend" };
        let reply = b
            .post_json(T, json!({"action": action, "email": "a@example.com"}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let guess = wrong(&h.last_code());
        for _ in 0..5 {
            b.post_json(T, json!({"action": "verify", "code": guess}))
                .await;
        }
    }
    let locked = challenge(&b.get_json(T).await);
    let until = h.layer.flow().now().as_secs() + 3600;
    assert_eq!(
        locked,
        json!({
            "state": "locked", "bound": false, "masked_email": "a***@e***.com",
            "expires_in": 0, "resend_in": 300, "attempts_left": 0, "locked_until": until,
        })
    );

    // First-device confirmation.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Confirm));
    let reply = h.browser().get_json(T).await;
    assert_eq!(challenge(&reply), json!({"state": "confirm_required"}));
}

#[tokio::test]
async fn actions_answer_with_the_new_state() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["state"], "code_sent");
    assert!(reply.device_cookie().is_none());
    h.advance(Duration::from_secs(61));
    let reply = b.post_json(T, json!({"action": "resend"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["resend_in"], 120);
    assert_eq!(h.mailer.count(), 2);

    let reply = b.post_json(T, json!({"action": "restart"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["state"], "email_required");
    h.advance(Duration::from_secs(121));
    let reply = b
        .post_json(T, json!({"action": "send", "email": "b@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let code = h.last_code_for("b@example.com");

    let reply = b
        .post_json(T, json!({"action": "verify", "code": wrong(&code)}))
        .await;
    let json = error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_code");
    assert_eq!(json["attempts_left"], 4);
    let reply = b
        .post_json(T, json!({"action": "verify", "code": code}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"state": "verified"}));
    let cookie = reply.device_cookie().expect("the device cookie");
    assert_eq!(cookie.path(), Some(T));
    assert_eq!(cookie.http_only(), Some(true));
    // The app now answers (its own response).
    let page = b.get_json(T).await;
    assert!(page.is_ticket(), "{page:?}");
}

#[tokio::test]
async fn every_error_has_a_stable_code() {
    // Fresh, claimed ticket.
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let json = error(
        &b.post_json(T, json!({"action": "send", "email": "not an address"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_email",
    );
    assert_eq!(json["state"], "email_required");
    error(
        &b.post_json(T, json!({"action": "send"})).await,
        StatusCode::BAD_REQUEST,
        "email_required",
    );
    error(
        &b.post_json(T, json!({"action": "resend"})).await,
        StatusCode::BAD_REQUEST,
        "email_required",
    );
    error(
        &b.post_json(T, json!({"action": "verify", "code": "123456"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_code",
    );
    for bad in ["12ab56", "12345", "1234567", "", "１２３"] {
        error(
            &b.post_json(T, json!({"action": "verify", "code": bad}))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_code",
        );
    }
    assert_eq!(
        h.state("abc").await.attempts_left,
        5,
        "format errors count nothing"
    );

    let reply = b
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let code = h.last_code();
    let json = error(
        &b.post_json(T, json!({"action": "resend"})).await,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
    );
    assert_eq!(json["retry_after"], 60);
    let reply = b.post_json(T, json!({"action": "resend"})).await;
    assert_eq!(reply.header("retry-after"), Some("60"));

    let json = error(
        &b.post_json(T, json!({"action": "verify", "code": wrong(&code)}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_code",
    );
    assert_eq!(json["attempts_left"], 4);
    for left in (0..4).rev() {
        let json = error(
            &b.post_json(T, json!({"action": "verify", "code": wrong(&code)}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_code",
        );
        assert_eq!(json["attempts_left"], left);
    }
    error(
        &b.post_json(T, json!({"action": "verify", "code": code}))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );

    h.advance(Duration::from_secs(61));
    b.post_json(T, json!({"action": "resend"})).await;
    let code = h.last_code();
    h.advance(Duration::from_secs(301));
    error(
        &b.post_json(T, json!({"action": "verify", "code": code}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_expired",
    );

    error(
        &b.post_json_with(
            T,
            &[("sec-fetch-site", "cross-site")],
            json!({"action": "verify", "code": code}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "csrf",
    );

    h.mailer.set_failing(true);
    error(
        &b.post_json(T, json!({"action": "resend"})).await,
        StatusCode::BAD_GATEWAY,
        "mail_failed",
    );
    h.mailer.set_failing(false);

    // Bound: restart is refused.
    let reply = b.post_json(T, json!({"action": "resend"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let code = h.last_code();
    b.post_json(T, json!({"action": "verify", "code": code}))
        .await;
    let mut other = h.browser();
    error(
        &other.post_json(T, json!({"action": "restart"})).await,
        StatusCode::CONFLICT,
        "bound",
    );

    // Locked.
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    for round in 0..4 {
        h.advance(Duration::from_secs(301));
        let action = if round == 0 { "send" } else { "resend" };
        b.post_json(T, json!({"action": action, "email": "a@example.com"}))
            .await;
        let guess = wrong(&h.last_code());
        for _ in 0..5 {
            b.post_json(T, json!({"action": "verify", "code": guess}))
                .await;
        }
    }
    for request in [
        json!({"action": "verify", "code": "123456"}),
        json!({"action": "resend"}),
    ] {
        let reply = b.post_json(T, request).await;
        let json = error(&reply, StatusCode::TOO_MANY_REQUESTS, "locked");
        assert_eq!(json["retry_after"], 3600);
        assert_eq!(reply.header("retry-after"), Some("3600"));
    }

    // The store is down.
    let h = Harness::build(&Secret::random(), failing_store(), |l| l);
    let mut b = h.browser();
    error(
        &b.get_json(T).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    error(
        &b.post_json(T, json!({"action": "send", "email": "a@example.com"}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
}

#[tokio::test]
async fn every_json_error_has_a_message() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let replies = [
        b.post_json(T, json!({"action": "send", "extra": 1})).await,
        b.post_json_with(
            T,
            &[("sec-fetch-site", "cross-site")],
            json!({"action": "send"}),
        )
        .await,
        b.post_json(T, json!({"action": "send", "email": "x".repeat(8192)}))
            .await,
        b.send_with(
            Method::POST,
            T,
            &[
                ("accept", "application/json"),
                ("content-type", "text/plain"),
            ],
            Body::from("{}"),
        )
        .await,
        Harness::build(&Secret::random(), failing_store(), |l| l)
            .browser()
            .get_json(T)
            .await,
    ];
    for reply in replies {
        let json = reply.json();
        assert!(json["error"].is_string(), "{}", reply.body);
        assert!(json["message"].is_string(), "{}", reply.body);
    }
}

#[tokio::test]
async fn only_application_json_is_accepted() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let body = json!({"action": "send", "email": "a@example.com"}).to_string();
    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nsend\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--XyZ--\r\n";
    let cases: [(Option<&str>, &str); 6] = [
        (Some("text/plain"), &body),
        (Some("text/plain;charset=UTF-8"), &body),
        (
            Some("application/x-www-form-urlencoded"),
            "action=send&email=a%40example.com",
        ),
        (Some("multipart/form-data; boundary=XyZ"), multipart),
        (Some("application/json-seq"), &body),
        (None, &body),
    ];
    let before = h.state("abc").await;
    for (content_type, payload) in cases {
        let mut headers = vec![("host", "tickets.test"), ("accept", "application/json")];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let reply = b
            .send_with(Method::POST, T, &headers, Body::from(payload.to_owned()))
            .await;
        error(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
    assert_eq!(h.mailer.count(), 0);
    assert_eq!(h.state("abc").await, before);
    // Parameters and case do not matter.
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let mut b = h.browser();
        let reply = b
            .send_with(
                Method::POST,
                T,
                &[("accept", "application/json"), ("content-type", ct)],
                Body::from(json!({"action": "restart"}).to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{ct}: {}", reply.body);
    }
}

#[tokio::test]
async fn bodies_are_strict() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    b.post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    let code = h.last_code();
    let before = h.state("abc").await;
    let bad = [
        json!({"action": "verify", "code": code.parse::<u64>().unwrap()}),
        json!({"action": "verify", "code": code, "extra": true}),
        json!({"action": "verify", "code": code, "csrf_token": "x"}),
        json!({"action": "verify", "code": [code]}),
        json!({"action": "launch"}),
        json!({"code": code}),
        json!([{"action": "verify", "code": code}]),
        json!("verify"),
        json!({"action": "send", "email": 42}),
    ];
    for body in bad {
        let reply = b.post_json(T, body.clone()).await;
        error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(reply.device_cookie().is_none(), "{body}");
    }
    for raw in [
        "",
        "{",
        "not json",
        "{\"action\":\"verify\",\"code\":\"1\"}}",
    ] {
        let reply = b
            .send_with(
                Method::POST,
                T,
                &[
                    ("accept", "application/json"),
                    ("content-type", "application/json"),
                ],
                Body::from(raw),
            )
            .await;
        error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(h.state("abc").await, before, "nothing counted");
    // The right code, as a string, still works.
    let reply = b
        .post_json(T, json!({"action": "verify", "code": code}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

fn stream(chunks: usize, size: usize) -> Body {
    let chunk = Bytes::from(vec![b' '; size]);
    Body::from_stream(futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ))
}

#[tokio::test]
async fn large_bodies_are_refused() {
    let h = Harness::new();
    h.claim("abc").await;
    let mut b = h.browser();
    let megabyte = format!(
        "{{\"action\":\"send\",\"email\":\"a@example.com\"{}}}",
        " ".repeat(1 << 20)
    );
    let json_headers = [
        ("accept", "application/json"),
        ("content-type", "application/json"),
    ];
    let len = megabyte.len().to_string();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Body);
    let cases: Vec<Case<'_>> = vec![
        (
            "1 MB with its Content-Length",
            vec![json_headers[0], json_headers[1], ("content-length", &len)],
            Body::from(megabyte.clone()),
        ),
        (
            "1 MB without Content-Length",
            json_headers.to_vec(),
            Body::from(megabyte.clone()),
        ),
        (
            "streamed, lying Content-Length",
            vec![json_headers[0], json_headers[1], ("content-length", "64")],
            stream(256, 4096),
        ),
        (
            "streamed, no Content-Length",
            json_headers.to_vec(),
            stream(256, 4096),
        ),
        (
            "streamed, just over the limit",
            json_headers.to_vec(),
            stream(4097, 1),
        ),
    ];
    for (name, headers, body) in cases {
        let reply = b.send_with(Method::POST, T, &headers, body).await;
        error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
        assert_eq!(h.mailer.count(), 0, "{name}");
    }
    // Forms too.
    let mut b = h.browser();
    b.get(T).await;
    let reply = b
        .send_with(
            Method::POST,
            T,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            stream(1024, 1024),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.mailer.count(), 0);
}

/// The body without its masked address: what is left must hold no `@`.
fn without_mask(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut map)) => {
            map.remove("masked_email");
            Value::Object(map).to_string()
        }
        _ => body.to_owned(),
    }
}

#[tokio::test]
async fn a_bound_ticket_never_shows_its_address_and_no_body_shows_a_code() {
    let h = Harness::new();
    h.claim("abc").await;
    let address = "taro.yamada@example.co.jp";
    let mut owner = h.browser();
    owner
        .post_json(T, json!({"action": "send", "email": address}))
        .await;
    let first = h.last_code();
    let reply = owner
        .post_json(T, json!({"action": "verify", "code": first}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let mut codes = vec![first];
    let mut replies: Vec<Reply> = Vec::new();
    let mut b = h.browser();
    h.advance(Duration::from_secs(120));
    replies.push(b.get_json(T).await);
    replies.push(b.get(T).await);
    replies.push(
        b.post_json(T, json!({"action": "send", "email": "mallory@evil.test"}))
            .await,
    );
    codes.push(h.last_code_for(address));
    replies.push(b.post_json(T, json!({"action": "resend"})).await);
    replies.push(b.post_json(T, json!({"action": "restart"})).await);
    replies.push(
        b.post_json(T, json!({"action": "send", "email": "bad"}))
            .await,
    );
    replies.push(
        b.post_json(T, json!({"action": "verify", "code": wrong(&codes[1])}))
            .await,
    );
    replies.push(
        b.post_json(T, json!({"action": "verify", "code": "12"}))
            .await,
    );
    replies.push(b.get_json(T).await);
    replies.push(b.get(T).await);
    replies.push(b.post_form(T, &[("action", "resend")]).await);
    h.advance(Duration::from_secs(61));
    replies.push(b.post_json(T, json!({"action": "resend"})).await);
    codes.push(h.last_code_for(address));
    replies.push(b.get(T).await);
    replies.push(b.get_json(T).await);
    h.mailer.set_failing(true);
    h.advance(Duration::from_secs(300));
    replies.push(b.post_json(T, json!({"action": "resend"})).await);
    h.mailer.set_failing(false);
    assert!(
        h.mailer.messages().iter().all(|m| m.to.as_str() == address),
        "codes go only to the bound address"
    );
    for reply in &replies {
        assert!(!reply.is_ticket());
        assert!(!reply.body.contains("taro.yamada"), "{}", reply.body);
        assert!(!reply.body.contains("example.co.jp"), "{}", reply.body);
        if reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
        {
            assert!(
                !without_mask(&reply.body).contains('@'),
                "only the masked address holds an @: {}",
                reply.body
            );
            assert_eq!(reply.json()["masked_email"], "t***@e***.jp");
        }
        for code in &codes {
            assert!(
                !reply.body.contains(code.as_str()),
                "a code in {}",
                reply.body
            );
            for (name, value) in reply.headers.iter() {
                assert!(
                    !value.to_str().unwrap_or("").contains(code.as_str()),
                    "a code in {name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_api_works_without_any_cookie_or_csrf_token() {
    // A native app: no cookie jar until the device cookie, no page scraping.
    let h = Harness::new();
    h.claim("abc").await;
    let mut app = h.browser();
    let reply = app
        .post_json(T, json!({"action": "send", "email": "a@example.com"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    let reply = app
        .post_json(T, json!({"action": "verify", "code": h.last_code()}))
        .await;
    assert_eq!(reply.set_cookies().len(), 1, "only the device cookie");
    let mut fresh = Browser::on(h.app.clone());
    let cookie = reply.device_cookie().unwrap();
    fresh.set_cookie(cookie.name(), cookie.value());
    assert!(fresh.get_json(T).await.is_ticket());
}

#[tokio::test]
async fn every_answer_of_the_gate_is_json_for_a_json_client() {
    // The first-device step: 303 with a `cookie_check` state and the probe
    // cookie; the same request with that cookie passes, as the first device.
    let h = Harness::new();
    let mut app = h.browser();
    let step = app.get_json(T).await;
    assert_eq!(step.status, StatusCode::SEE_OTHER, "{}", step.body);
    assert!(
        step.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(step.json()["state"], "cookie_check");
    let marked = common::probe_location(T);
    assert_eq!(step.header("location"), Some(marked.as_str()));
    assert!(
        step.set_cookies()
            .iter()
            .any(|c| c.name().contains("probe"))
    );
    let claimed = app.get_json(&marked).await;
    assert_eq!(
        claimed.status,
        StatusCode::SEE_OTHER,
        "claimed: back to the unmarked URL"
    );
    assert_eq!(claimed.header("location"), Some(T));
    let passed = app.get_json(T).await;
    assert!(passed.is_ticket(), "{passed:?}");

    // Outside any page: a malformed ticket (404), a misplaced layer (500),
    // and plain HTTP behind a trusted proxy (308).
    let mut b = h.browser();
    error(
        &b.get_json("/tickets//abc").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let misplaced = axum::Router::new()
        .route(
            "/orders/{order_id}",
            axum::routing::get(|| async { "ORDER" }),
        )
        .route_layer(h.layer.clone().with_ticket_param("id"));
    let mut b = Browser::on(misplaced);
    error(
        &b.get_json("/orders/1").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
    );
    let proxied = Harness::with(|l| l.with_trusted_forwarded_proto(true));
    let mut b = proxied.browser();
    let reply = b
        .send_with(
            Method::GET,
            T,
            &[
                ("accept", "application/json"),
                ("x-forwarded-proto", "http"),
                ("host", "tickets.test"),
            ],
            Body::empty(),
        )
        .await;
    let json = error(&reply, StatusCode::PERMANENT_REDIRECT, "https_required");
    assert_eq!(json["location"], "https://tickets.test/tickets/abc");
}
