//! Gates sharing one Redis: two application instances behave as one site,
//! and an outage fails closed and heals by itself.
//!
//! The two-instance test reads `OTP_TEST_REDIS_URL` at run time; the fault
//! test runs a `redis-server` of its own (from PATH) on a free port, so it can
//! stop it without disturbing anyone. Each says why when it is skipped.

#![cfg(feature = "redis")]

mod common;
mod needs;
mod redis_support;

use std::time::{Duration, Instant};

use common::{Browser, Harness};
use http::StatusCode;
use redis_support::{PrivateRedis, single_store, single_url};
use tower_otp::{CapturingMailer, Flow, ManualClock, OtpLayer, RedisStore, Secret, Timestamp};

/// One application instance: its own layer, store connection and mailer;
/// the key material comes from `secret`, the time from `clock`.
fn instance(secret: &Secret, store: RedisStore, clock: &ManualClock) -> Harness {
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
fn through(instance: &Harness, browser: &Browser) -> Browser {
    let mut moved = instance.browser();
    moved.jar = browser.jar.clone();
    moved.csrf = browser.csrf.clone();
    moved
}

fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_system_time(std::time::SystemTime::now()))
}

/// A unique ticket path: Redis keeps what earlier runs left.
fn ticket_path() -> String {
    format!("/tickets/t{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let Some(url) = single_url() else { return };
    let secret = Secret::random();
    let clock = clock();
    let a = instance(&secret, single_store(&url).await, &clock);
    let b = instance(&secret, single_store(&url).await, &clock);
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

#[tokio::test]
async fn an_outage_fails_closed_and_heals() {
    let Some(mut server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url())
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let clock = clock();
    let gate = instance(&Secret::random(), store, &clock);
    let t = "/tickets/outage";
    let mut owner = gate.browser();
    assert!(owner.open(t).await.is_ticket());

    server.stop();
    // Unverified requests get the 503 page or `unavailable`, never the ticket.
    let mut stranger = gate.browser();
    let reply = stranger.get_json(t).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"], "unavailable");
    let reply = stranger.get(t).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!reply.is_ticket());
    let reply = stranger
        .post_json(
            t,
            serde_json::json!({"action": "send", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        gate.mailer.count(),
        0,
        "nothing is sent while the store is down"
    );
    // The verified device keeps passing: its cookie needs no store.
    for _ in 0..3 {
        assert!(owner.get(t).await.is_ticket());
    }

    // Redis comes back (empty: this one keeps nothing); the same app heals.
    server.resume();
    let started = Instant::now();
    let t = "/tickets/after-outage";
    let mut first = gate.browser();
    loop {
        let reply = first.get(t).await;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "the first-device probe"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the store did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("store back {:?} after Redis", started.elapsed());
    assert!(first.get(t).await.is_ticket());
    let mut second = gate.browser();
    assert_eq!(second.get(t).await.status, StatusCode::UNAUTHORIZED);
    second
        .submit(t, &[("action", "send"), ("email", "hanako@example.com")])
        .await;
    let code = gate.last_code_for("hanako@example.com");
    let page = second
        .submit(t, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(page.is_ticket(), "{page:?}");
    assert!(owner.get("/tickets/outage").await.is_ticket());
}
