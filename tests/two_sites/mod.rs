//! Application instances that share one store behave as one site: the
//! scenario every store that can be shared runs through the real layer.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use http::StatusCode;
use tower_otp::store::Store;
use tower_otp::{
    Flow, OtpLayer, Secret, Timestamp, testing::CapturingMailer, testing::ManualClock,
};

use crate::common::{self, Browser, Harness};

/// One application instance: its own layer, store handle and mailer; the
/// key material comes from `secret`, the time from `clock`.
pub fn instance(secret: &Secret, store: impl Store, clock: &ManualClock) -> Harness {
    let mailer = CapturingMailer::new();
    let flow = Flow::new(secret, store, mailer.clone())
        .with_clock(clock.clone())
        .with_site_name("Test Tickets")
        .with_new_device_notice(false);
    let layer = OtpLayer::new(flow)
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false);
    Harness {
        app: common::app().layer(layer.clone()),
        clock: clock.clone(),
        mailer,
        layer,
    }
}

/// The same browser (cookie jar and page) talking to another instance.
pub fn through(instance: &Harness, browser: &Browser) -> Browser {
    let mut moved = instance.browser();
    moved.copy_cookies_from(browser);
    moved.csrf = browser.csrf.clone();
    moved
}

/// A clock at the real time (a store may expire records on its own clock).
pub fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_system_time(std::time::SystemTime::now()))
}

/// A ticket path of its own (a shared store keeps what earlier runs left).
pub fn ticket_path() -> String {
    format!("/tickets/t{:016x}", rand::random::<u64>())
}

/// Two instances, one on `a` and one on `b` (handles onto one state): a
/// first device claimed through one is known to the other, a cookie minted
/// by one passes the other, a code sent through one verifies through the
/// other, and the binding and the resend cooldown hold on both.
pub async fn two_instances_behave_as_one_site(a: impl Store, b: impl Store) {
    let secret = Secret::random();
    let clock = clock();
    let a = instance(&secret, a, &clock);
    let b = instance(&secret, b, &clock);
    let t = ticket_path();
    let t = t.as_str();

    // The first device, claimed through A, is known to B: no second claim there.
    let mut owner = a.browser();
    assert!(owner.open(t).await.is_ticket());
    let mut scanner = b.browser();
    let page = scanner.open(t).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.body.contains(r#"type="email""#), "address entry on B");

    // A cookie minted by A passes B.
    assert!(through(&b, &owner).get(t).await.is_ticket());

    // A code sent through B verifies through A.
    let mut phone = b.browser();
    phone.get(t).await;
    let page = phone
        .submit(t, &[("action", "send"), ("email", "taro@example.com")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert_eq!((a.mailer.count(), b.mailer.count()), (0, 1));
    let code = b.last_code_for("taro@example.com");
    clock.advance(Duration::from_secs(30));
    let mut phone = through(&a, &phone);
    let page = phone.get(t).await;
    assert!(
        page.body.contains("t***@e***.com"),
        "A shows the challenge pending through B"
    );
    let reply = phone
        .post_form(t, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(reply.device_cookie().is_some());
    assert!(phone.get(t).await.is_ticket());

    // That cookie, minted by A, passes B; the binding made through A holds on B.
    assert!(through(&b, &phone).get(t).await.is_ticket());
    let mut laptop = b.browser();
    let page = laptop.get(t).await;
    assert!(
        !page.body.contains(r#"type="email""#),
        "bound: no address field"
    );
    assert!(page.body.contains("t***@e***.com"));

    // The resend cooldown started by B holds on A.
    let reply = through(&a, &laptop)
        .post_form(t, &[("action", "send")])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
}
