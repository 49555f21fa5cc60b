//! The demo's operator page (`examples/support/admin.rs`): signed in with the
//! token, CSRF-protected, masked, and each action does what it says.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;
use tower::ServiceExt;

use tower_otp::mail::MailKind;
use tower_otp::{
    CapturingMailer, Flow, Limits, Locale, ManualClock, MemoryStore, Secret, SendRequest, TicketId,
    Timestamp,
};

#[path = "../examples/support/admin.rs"]
mod admin;

const TOKEN: &str = "operator-token-0123456789";
const TICKET: &str = "A7x9Qz-2026-LIVE";

struct Site {
    app: Router,
    flow: Flow,
    mailer: CapturingMailer,
}

fn site() -> Site {
    let mailer = CapturingMailer::new();
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
        .with_clock(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)))
        .with_limits(
            Limits::default()
                .with_lockout(2, Duration::from_secs(3600))
                .unwrap(),
        );
    Site {
        app: admin::router(flow.clone(), TOKEN, false),
        flow,
        mailer,
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
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::from(body)).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).header("host", "127.0.0.1:3000");
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
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
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
    assert!(answer.body.contains("h***@e******.jp"), "{}", answer.body);
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

/// SECURITY-CHECKLIST 6.5: a change of binding needs the operator's
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
    assert_eq!(report.bound_address.as_deref(), Some("t***@e******.com"));
    assert!(report.generation > before, "every device is revoked");
    let notice = site.mailer.last().unwrap();
    assert_eq!(
        notice.to.as_str(),
        "hanako@example.jp",
        "the old address is told"
    );
    assert!(matches!(notice.kind, MailKind::Rebound { .. }));
}
