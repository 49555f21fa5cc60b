//! The demo's operator page (`examples/support/admin.rs`): a strong token,
//! a budget for wrong ones, a fresh session per sign-in that ends, actions
//! only from the page itself (CSRF token, exact `Origin`, `Sec-Fetch-Site`),
//! addresses masked, and each action does what it says.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;
use tower::ServiceExt;

use tower_otp::mail::MailKind;
use tower_otp::{
    Flow, Limits, Locale, MemoryStore, Secret, TicketId, Timestamp, flow::SendRequest,
    testing::CapturingMailer, testing::ManualClock,
};

#[path = "../examples/support/admin.rs"]
mod admin;

const TOKEN: &str = "3f9c2a7e5b1d4086c9e2f7a1b3d5c8e0";
const TICKET: &str = "A7x9Qz-2026-LIVE";

struct Site {
    app: Router,
    flow: Flow,
    mailer: CapturingMailer,
    clock: ManualClock,
}

/// The page of a site served over plain http.
fn site() -> Site {
    site_over(false)
}

/// The page of a site served over https when `https`.
fn site_over(https: bool) -> Site {
    let mailer = CapturingMailer::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
        .with_clock(clock.clone())
        .with_limits(
            Limits::default()
                .with_lockout(2, Duration::from_secs(3600))
                .unwrap(),
        );
    Site {
        app: admin::router(flow.clone(), TOKEN, https),
        flow,
        mailer,
        clock,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn form(path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Request<Body> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::post(path)
        .header("host", "127.0.0.1:3000")
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::from(body)).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path)
        .header("host", "127.0.0.1:3000")
        .header("accept-language", "en");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// Signs in; the session cookie as a `Cookie` header value.
async fn sign_in(app: &Router) -> String {
    let answer = call(app, form("/admin/login", None, &[("token", TOKEN)])).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let set = answer.headers["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=28800",
    ] {
        assert!(set.contains(attribute), "{set} has {attribute}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// The page's CSRF token, read from its hidden field.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 64].to_owned()
}

async fn bind(site: &Site) {
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    site.flow
        .send(
            &key,
            SendRequest::new(Locale::En).with_email("hanako@example.jp"),
        )
        .await
        .unwrap();
    let code = site.mailer.last_code().unwrap();
    site.flow.verify(&key, code.as_str()).await.unwrap();
}

#[tokio::test]
async fn nothing_is_shown_or_done_without_signing_in() {
    let site = site();
    bind(&site).await;
    let lookup = format!("/admin?ticket={TICKET}");
    let answer = call(&site.app, get(&lookup, None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("Operator token"));
    assert!(
        !answer.body.contains("h***"),
        "no ticket data: {}",
        answer.body
    );

    let forged = call(
        &site.app,
        get(
            &lookup,
            Some("otp_admin=0000000000000000000000000000000000000000000000000000000000000000"),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    let wrong = call(&site.app, form("/admin/login", None, &[("token", "guess")])).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.headers.get("set-cookie").is_none());

    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    let before = site.flow.generation(&key).await.unwrap();
    let action = form(
        "/admin/action",
        None,
        &[("csrf", "x"), ("ticket", TICKET), ("action", "revoke")],
    );
    assert_eq!(
        call(&site.app, action).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(site.flow.generation(&key).await.unwrap(), before);
}

#[tokio::test]
async fn lookup_shows_the_ticket_with_its_address_masked_and_escapes_the_id() {
    let site = site();
    bind(&site).await;
    let session = sign_in(&site.app).await;
    let answer = call(
        &site.app,
        get(&format!("/admin?ticket={TICKET}"), Some(&session)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let csp = answer.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert!(answer.body.contains("h***@e***.jp"), "{}", answer.body);
    assert!(!answer.body.contains("hanako"), "the address is masked");

    let hostile = call(
        &site.app,
        get(
            "/admin?ticket=%3Cscript%3Ealert(1)%3C/script%3E",
            Some(&session),
        ),
    )
    .await;
    assert!(!hostile.body.contains("<script>"), "{}", hostile.body);
    assert!(hostile.body.contains("&#60;script&#62;") || hostile.body.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn actions_need_the_pages_csrf_token_and_a_same_site_origin() {
    let site = site();
    bind(&site).await;
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    let session = sign_in(&site.app).await;
    let page = call(
        &site.app,
        get(&format!("/admin?ticket={TICKET}"), Some(&session)),
    )
    .await;
    let csrf = csrf_of(&page.body);
    let before = site.flow.generation(&key).await.unwrap();

    let bad = form(
        "/admin/action",
        Some(&session),
        &[
            ("csrf", &"0".repeat(64)),
            ("ticket", TICKET),
            ("action", "revoke"),
        ],
    );
    assert_eq!(call(&site.app, bad).await.status, StatusCode::FORBIDDEN);
    let mut cross = form(
        "/admin/action",
        Some(&session),
        &[("csrf", &csrf), ("ticket", TICKET), ("action", "revoke")],
    );
    cross
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(call(&site.app, cross).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        site.flow.generation(&key).await.unwrap(),
        before,
        "nothing done"
    );

    let good = form(
        "/admin/action",
        Some(&session),
        &[("csrf", &csrf), ("ticket", TICKET), ("action", "revoke")],
    );
    let answer = call(&site.app, good).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers["location"],
        format!("/admin?ticket={TICKET}&done=revoke")
    );
    assert_eq!(site.flow.generation(&key).await.unwrap(), before + 1);
}

/// Signs in, opens the ticket's page and posts `action` (plus `extra`
/// fields) with the page's CSRF token; the answer.
async fn act(site: &Site, action: &str, extra: &[(&str, &str)]) -> Answer {
    let session = sign_in(&site.app).await;
    let page = call(
        &site.app,
        get(&format!("/admin?ticket={TICKET}"), Some(&session)),
    )
    .await;
    let csrf = csrf_of(&page.body);
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("ticket", TICKET),
        ("action", action),
    ];
    fields.extend_from_slice(extra);
    call(&site.app, form("/admin/action", Some(&session), &fields)).await
}

#[tokio::test]
async fn clear_lockout_lets_new_devices_try_again() {
    let site = site();
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    site.flow
        .send(
            &key,
            SendRequest::new(Locale::En).with_email("hanako@example.jp"),
        )
        .await
        .unwrap();
    let code = site.mailer.last_code().unwrap();
    let wrong = if code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..2 {
        assert!(site.flow.verify(&key, wrong).await.is_err());
    }
    assert!(
        site.flow
            .inspect(&key)
            .await
            .unwrap()
            .locked_until
            .is_some()
    );

    let answer = act(&site, "clear_lockout", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let report = site.flow.inspect(&key).await.unwrap();
    assert_eq!(report.locked_until, None);
    assert_eq!(report.consecutive_failures, 0);
}

#[tokio::test]
async fn unbind_forgets_the_address_and_revokes_every_device() {
    let site = site();
    bind(&site).await;
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    let before = site.flow.generation(&key).await.unwrap();
    let answer = act(&site, "unbind", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let report = site.flow.inspect(&key).await.unwrap();
    assert_eq!(report.bound_address, None);
    assert!(report.generation > before);
}

/// Security checklist row 6.5: a change of binding needs the operator's
/// credential, tells the old address, and revokes every device.
#[tokio::test]
async fn row_6_5_rebind_needs_the_operator_tells_the_old_address_and_revokes() {
    let site = site();
    bind(&site).await;
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    let before = site.flow.generation(&key).await.unwrap();
    let mails = site.mailer.count();

    // Without signing in: refused, nothing changes, nobody is mailed.
    let anonymous = form(
        "/admin/action",
        None,
        &[
            ("csrf", "x"),
            ("ticket", TICKET),
            ("action", "rebind"),
            ("address", "mallory@example.net"),
        ],
    );
    assert_eq!(
        call(&site.app, anonymous).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(site.mailer.count(), mails);
    assert_eq!(site.flow.generation(&key).await.unwrap(), before);

    let bad = act(&site, "rebind", &[("address", "not an address")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    let answer = act(&site, "rebind", &[("address", "taro@example.com")]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    site.flow.settled().await;
    let report = site.flow.inspect(&key).await.unwrap();
    assert_eq!(report.bound_address.as_deref(), Some("t***@e***.com"));
    assert!(report.generation > before, "every device is revoked");
    let notice = site.mailer.last().unwrap();
    assert_eq!(
        notice.to.as_str(),
        "hanako@example.jp",
        "the old address is told"
    );
    assert!(matches!(notice.kind, MailKind::Rebound { .. }));
}

/// Opens the ticket's page with `session`; its CSRF token.
async fn csrf_for(site: &Site, session: &str) -> String {
    let page = call(
        &site.app,
        get(&format!("/admin?ticket={TICKET}"), Some(session)),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    csrf_of(&page.body)
}

/// A revoke posted with `session` and `csrf`, with `headers` added.
fn revoke(session: &str, csrf: &str, headers: &[(&'static str, &str)]) -> Request<Body> {
    let mut request = form(
        "/admin/action",
        Some(session),
        &[("csrf", csrf), ("ticket", TICKET), ("action", "revoke")],
    );
    for (name, value) in headers {
        request.headers_mut().append(*name, value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn the_origin_must_be_the_requests_own_scheme_and_host() {
    for (https, own, other) in [
        (false, "http://127.0.0.1:3000", "https://127.0.0.1:3000"),
        (true, "https://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ] {
        let site = site_over(https);
        bind(&site).await;
        let key = site.flow.ticket_key(&TicketId::new(TICKET));
        let session = sign_in(&site.app).await;
        let csrf = csrf_for(&site, &session).await;
        let before = site.flow.generation(&key).await.unwrap();
        for origin in [
            other,
            "http://127.0.0.1:3001",
            "http://127.0.0.1",
            "http://evil.example",
            "null",
        ] {
            let answer = call(&site.app, revoke(&session, &csrf, &[("origin", origin)])).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "https: {https}, {origin}"
            );
        }
        let two = revoke(&session, &csrf, &[("origin", own), ("origin", other)]);
        assert_eq!(call(&site.app, two).await.status, StatusCode::FORBIDDEN);
        let login = {
            let mut request = form("/admin/login", None, &[("token", TOKEN)]);
            request
                .headers_mut()
                .insert("origin", other.parse().unwrap());
            request
        };
        let refused = call(&site.app, login).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.headers.get("set-cookie").is_none());
        assert_eq!(
            site.flow.generation(&key).await.unwrap(),
            before,
            "nothing done"
        );

        let answer = call(&site.app, revoke(&session, &csrf, &[("origin", own)])).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "https: {https}");
        assert_eq!(site.flow.generation(&key).await.unwrap(), before + 1);
    }
}

#[tokio::test]
async fn only_a_same_origin_fetch_may_act() {
    let site = site();
    bind(&site).await;
    let key = site.flow.ticket_key(&TicketId::new(TICKET));
    let session = sign_in(&site.app).await;
    let csrf = csrf_for(&site, &session).await;
    let before = site.flow.generation(&key).await.unwrap();
    for fetch_site in ["cross-site", "same-site", "none"] {
        let request = revoke(
            &session,
            &csrf,
            &[
                ("origin", "http://127.0.0.1:3000"),
                ("sec-fetch-site", fetch_site),
            ],
        );
        let answer = call(&site.app, request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fetch_site}");
        let mut login = form("/admin/login", None, &[("token", TOKEN)]);
        login
            .headers_mut()
            .insert("sec-fetch-site", fetch_site.parse().unwrap());
        let answer = call(&site.app, login).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fetch_site}");
        assert!(answer.headers.get("set-cookie").is_none());
    }
    assert_eq!(
        site.flow.generation(&key).await.unwrap(),
        before,
        "nothing done"
    );

    let request = revoke(&session, &csrf, &[("sec-fetch-site", "same-origin")]);
    assert_eq!(call(&site.app, request).await.status, StatusCode::SEE_OTHER);
    assert_eq!(site.flow.generation(&key).await.unwrap(), before + 1);
}

#[tokio::test]
async fn each_sign_in_has_its_own_session_that_signs_out_and_expires() {
    let site = site();
    let lookup = format!("/admin?ticket={TICKET}");
    let first = sign_in(&site.app).await;
    let second = sign_in(&site.app).await;
    assert_ne!(first, second, "each sign-in mints its own session");
    let (first_csrf, second_csrf) = (
        csrf_for(&site, &first).await,
        csrf_for(&site, &second).await,
    );
    assert_ne!(first_csrf, second_csrf);
    // One session's CSRF token is no good with another.
    let crossed = call(&site.app, revoke(&first, &second_csrf, &[])).await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);

    // Sign-out needs the session's CSRF token, ends it, and clears the cookie.
    let forged = form("/admin/logout", Some(&first), &[("csrf", &second_csrf)]);
    assert_eq!(call(&site.app, forged).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&site.app, get(&lookup, Some(&first))).await.status,
        StatusCode::OK
    );
    let out = call(
        &site.app,
        form("/admin/logout", Some(&first), &[("csrf", &first_csrf)]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("otp_admin=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        call(&site.app, get(&lookup, Some(&first))).await.status,
        StatusCode::UNAUTHORIZED,
        "signed out"
    );
    assert_eq!(
        call(&site.app, get(&lookup, Some(&second))).await.status,
        StatusCode::OK,
        "the other session lives on"
    );

    // An hour without a request ends a session.
    site.clock
        .advance(admin::SESSION_IDLE - Duration::from_secs(1));
    assert_eq!(
        call(&site.app, get(&lookup, Some(&second))).await.status,
        StatusCode::OK
    );
    site.clock.advance(admin::SESSION_IDLE);
    assert_eq!(
        call(&site.app, get(&lookup, Some(&second))).await.status,
        StatusCode::UNAUTHORIZED,
        "idle too long"
    );

    // Eight hours after sign-in at the latest, however busy.
    let busy = sign_in(&site.app).await;
    let step = admin::SESSION_IDLE / 2;
    let mut used = Duration::ZERO;
    while used + step < admin::SESSION_LIFETIME {
        site.clock.advance(step);
        used += step;
        assert_eq!(
            call(&site.app, get(&lookup, Some(&busy))).await.status,
            StatusCode::OK
        );
    }
    site.clock.advance(admin::SESSION_LIFETIME - used);
    assert_eq!(
        call(&site.app, get(&lookup, Some(&busy))).await.status,
        StatusCode::UNAUTHORIZED,
        "past its lifetime"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_on_an_https_site() {
    for (https, secure) in [(false, false), (true, true)] {
        let site = site_over(https);
        let answer = call(&site.app, form("/admin/login", None, &[("token", TOKEN)])).await;
        let set = answer.headers["set-cookie"].to_str().unwrap();
        assert_eq!(set.contains("; Secure"), secure, "{set}");
    }
}

#[tokio::test]
async fn wrong_tokens_close_the_sign_in_for_longer_each_time() {
    let site = site();
    let wrong = || {
        form(
            "/admin/login",
            None,
            &[("token", "0123456789abcdef0123456789abcdef")],
        )
    };
    let right = || form("/admin/login", None, &[("token", TOKEN)]);

    let mut refused = 0;
    let mut closed = 0;
    for _ in 0..200 {
        let answer = call(&site.app, wrong()).await;
        match answer.status {
            StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                closed += 1;
                assert_eq!(answer.headers["retry-after"], "1");
                assert!(answer.body.contains("closed for 1 s"), "{}", answer.body);
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(
        refused,
        admin::FREE_FAILURES + 1,
        "then closed, the token unchecked"
    );
    assert_eq!(closed, 200 - refused);
    // Closed for the right token too, or the budget would tell it apart.
    let answer = call(&site.app, right()).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers.get("set-cookie").is_none());

    // Each further wrong token closes it twice as long: 2 s, 4 s, 8 s ...
    for seconds in [1, 2, 4, 8] {
        site.clock.advance(Duration::from_secs(seconds));
        assert_eq!(call(&site.app, wrong()).await.status, StatusCode::FORBIDDEN);
        let answer = call(&site.app, wrong()).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            answer.headers["retry-after"],
            (2 * seconds).to_string().as_str()
        );
    }
    // ... at most five minutes.
    for _ in 0..20 {
        site.clock.advance(admin::MAX_CLOSED);
        assert_eq!(call(&site.app, wrong()).await.status, StatusCode::FORBIDDEN);
    }
    let answer = call(&site.app, wrong()).await;
    assert_eq!(answer.headers["retry-after"], "300");

    // Once open again, the right token signs in and makes the budget whole.
    site.clock.advance(admin::MAX_CLOSED);
    assert_eq!(call(&site.app, right()).await.status, StatusCode::SEE_OTHER);
    for _ in 0..admin::FREE_FAILURES {
        assert_eq!(call(&site.app, wrong()).await.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(call(&site.app, right()).await.status, StatusCode::SEE_OTHER);

    // An hour without a wrong token makes it whole too.
    for _ in 0..=admin::FREE_FAILURES {
        assert_eq!(call(&site.app, wrong()).await.status, StatusCode::FORBIDDEN);
    }
    site.clock.advance(admin::FAILURES_FORGOTTEN);
    for _ in 0..=admin::FREE_FAILURES {
        assert_eq!(call(&site.app, wrong()).await.status, StatusCode::FORBIDDEN);
    }
}

#[test]
fn weak_tokens_are_refused_at_start() {
    for weak in [
        "aaaaaaaaaaaaaaaa",
        "operator-token-0123456789",
        &"a".repeat(64),
        &"ab".repeat(32),
        "01234567890123456789012345678901234567890",
        "abcdefghijklmnopqrstuvwxyzabcdefgh",
        "3f9c2a7e5b1d4086c9e2f7a1b3d5c8e",
        "3f9c2a7e5b1d4086 9e2f7a1b3d5c8e0a",
    ] {
        let why = admin::check_token(weak).expect_err(weak);
        assert!(why.contains("openssl rand -hex 16"), "{why}");
    }
    assert!(
        admin::check_token("aaaaaaaaaaaaaaaa")
            .unwrap_err()
            .contains("32 characters")
    );
    for strong in [
        TOKEN,
        "0123456789ABCDEF0123456789abcdefXY",
        "kJ8#mQ2$vL9!pR4&xT7*wZ1@nB5^cF3%",
    ] {
        assert_eq!(admin::check_token(strong), Ok(()), "{strong}");
    }
}

#[test]
#[should_panic(expected = "OTP_ADMIN_TOKEN")]
fn the_router_refuses_a_weak_token() {
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    );
    let _ = admin::router(flow, "aaaaaaaaaaaaaaaa", false);
}
