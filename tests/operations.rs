//! The gate through the ordinary life of a deployment: a restart, a second
//! instance, a store that goes down, a layer built with other settings. In
//! each, no device passes that the store says must not.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Browser, Harness};
use http::StatusCode;
use tokio::sync::Barrier;
use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{MemoryStore, OtpLayer, Revocation, Secret};

const T: &str = "/tickets/abc";
const BURST: usize = 200;

/// `BURST` requests at once, each from its own copy of `device`, on `app`.
async fn burst(app: &axum::Router, device: &Browser) -> Vec<common::Reply> {
    let barrier = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let mut browser = Browser::on(app.clone());
            browser.copy_cookies_from(device);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                browser.get(T).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

/// A device, then its instance stops; the device's browser for the next one.
async fn device_on(secret: &Secret, store: &StoreTap<MemoryStore>) -> Browser {
    let before = Harness::build(secret, store.clone(), |l| l);
    let mut device = before.browser();
    assert!(device.open(T).await.is_ticket());
    device
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_no_revoked_device_passes() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let before = Harness::build(&secret, store.clone(), |l| l);
    let mut device = before.browser();
    assert!(device.open(T).await.is_ticket());
    let revoked = before
        .layer
        .flow()
        .revoke_devices(&before.key("abc"))
        .await
        .unwrap();
    assert!(revoked.enforced);
    drop(before);

    // The restart: a new process (flow, cache, layer) on the same store.
    let after = Harness::build(&secret, store.clone(), |l| l);
    let replies = burst(&after.app, &device).await;
    let passed = replies.iter().filter(|r| r.is_ticket()).count();
    assert_eq!(passed, 0, "revoked devices passed after the restart");
    assert!(
        replies.iter().all(|r| r.status == StatusCode::UNAUTHORIZED),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_a_burst_of_devices_shares_one_read() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let device = device_on(&secret, &store).await;
    let after = Harness::build(&secret, store.clone(), |l| l);
    let loads = store.calls(StoreCall::Load);
    let replies = burst(&after.app, &device).await;
    assert!(replies.iter().all(common::Reply::is_ticket));
    let read = store.calls(StoreCall::Load) - loads;
    // One read, shared; a request that saw no reading a moment before the
    // read landed, and looked for it a moment after, may read once more.
    assert!(
        (1..=3).contains(&read),
        "{read} store reads for {BURST} requests"
    );
    // Warm now: the verified path reads nothing.
    let loads = store.calls(StoreCall::Load);
    let mut browser = Browser::on(after.app.clone());
    browser.copy_cookies_from(&device);
    for _ in 0..20 {
        assert!(browser.get(T).await.is_ticket());
    }
    after.layer.flow().settled().await;
    assert_eq!(store.calls(StoreCall::Load), loads);
}

#[tokio::test]
async fn a_cold_instance_answers_503_while_the_store_is_down() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let device = device_on(&secret, &store).await;
    let after = Harness::build(&secret, store.clone(), |l| l);
    store.set_down(true);
    let mut browser = Browser::on(after.app.clone());
    browser.copy_cookies_from(&device);
    let reply = browser.get(T).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    // Back up: the device passes.
    store.set_down(false);
    assert!(browser.get(T).await.is_ticket());
}

#[tokio::test]
async fn a_warm_instance_keeps_passing_devices_while_the_store_is_down() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let ttl = Duration::from_secs(5);
    let h = Harness::build(&secret, store.clone(), |l| {
        l.with_revocation(Revocation::Cached { ttl })
    });
    let mut device = h.browser();
    assert!(device.open(T).await.is_ticket());
    assert!(device.get(T).await.is_ticket());
    store.set_down(true);
    // Past the TTL, every request asks for a refresh, which fails and is
    // asked for again; the device keeps passing on the last generation read.
    for round in 0..3 {
        h.advance(ttl);
        let loads = store.calls(StoreCall::Load);
        assert!(device.get(T).await.is_ticket(), "round {round}");
        h.layer.flow().settled().await;
        assert_eq!(
            store.calls(StoreCall::Load),
            loads + 1,
            "round {round}: one refresh tried"
        );
    }
    // Back up: the next refresh lands, and the reads stop.
    store.set_down(false);
    assert!(device.get(T).await.is_ticket());
    h.layer.flow().settled().await;
    let loads = store.calls(StoreCall::Load);
    assert!(device.get(T).await.is_ticket());
    h.layer.flow().settled().await;
    assert_eq!(store.calls(StoreCall::Load), loads, "fresh again");
}

#[tokio::test]
async fn revoking_says_enforced_only_when_every_serving_layer_checks() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let off = Harness::build(&secret, store.clone(), |l| {
        l.with_revocation(Revocation::Off)
    });
    let flow = off.layer.flow().clone();
    let key = off.key("abc");
    let mut device = off.browser();
    assert!(device.open(T).await.is_ticket());
    // A default layer (revocation on) built and dropped changes nothing.
    drop(OtpLayer::new(flow.clone()));
    let revoked = flow.revoke_devices(&key).await.unwrap();
    assert!(!revoked.enforced, "the layer that serves does not check");
    assert!(
        device.get(T).await.is_ticket(),
        "and the revoked device passes"
    );

    // A checking layer over the same flow beside it: still not enforced.
    let beside = OtpLayer::new(flow.clone())
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false);
    assert!(!flow.revoke_devices(&key).await.unwrap().enforced);
    // Only the checking layer left (the browser held a router with the
    // other): enforced, and true of what it serves.
    let jar = device.jar_copy();
    drop((off, device));
    assert!(flow.revoke_devices(&key).await.unwrap().enforced);
    let mut on_beside = Browser::on(common::app().layer(beside));
    on_beside.copy_cookies_from(&jar);
    assert_eq!(on_beside.get(T).await.status, StatusCode::UNAUTHORIZED);
    // A layer changed to `Off` after it was built counts as `Off`.
    let _changed = OtpLayer::new(flow.clone()).with_revocation(Revocation::Off);
    assert!(!flow.revoke_devices(&key).await.unwrap().enforced);
}

/// A bound ticket, a locked-out one and a verified device on a store; then
/// a process with another secret starts on the same store.
#[tokio::test]
async fn a_new_secret_on_the_same_store_refuses_instead_of_reopening() {
    let store = StoreTap::new(MemoryStore::new());
    let old = Secret::random();
    let before = Harness::build(&old, store.clone(), |l| l);
    before.layer.flow().check_state().await.unwrap();
    before.claim("abc").await;
    let (mut owner, code) = before.sent("abc", "owner@example.com").await;
    let verified = owner
        .submit(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(verified.is_ticket(), "bound to the owner");
    drop(before);

    let after = Harness::build(&Secret::random(), store.clone(), |l| l);
    // At start: an error that names the cause and the fix.
    let error = after.layer.flow().check_state().await.unwrap_err();
    assert!(matches!(error, tower_otp::flow::StateError::OtherSecret));
    let message = error.to_string();
    assert!(message.contains("another secret") && message.contains("adopt_store"));
    // And if nobody asked at start: a stranger is never served, nor probed
    // as a first device; nothing is claimed or written.
    let mut stranger = after.browser();
    for path in [T, "/tickets/never-seen"] {
        let reply = stranger.open(path).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(reply.device_cookie().is_none());
    }
    // The owner's device (its cookie signed with the old secret) neither.
    let mut owner_here = Browser::on(after.app.clone());
    owner_here.copy_cookies_from(&owner);
    assert_eq!(
        owner_here.get(T).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(after.mailer.count(), 0);

    // The old secret back: everything as it was.
    let back = Harness::build(&old, store.clone(), |l| l);
    assert!(!back.layer.flow().check_state().await.unwrap().new_store);
    let mut owner_back = Browser::on(back.app.clone());
    owner_back.copy_cookies_from(&owner);
    assert!(owner_back.get(T).await.is_ticket());
    assert_eq!(
        back.browser().open(T).await.status,
        StatusCode::UNAUTHORIZED,
        "a stranger is challenged, as before"
    );
}

/// The deliberate change of secret: the store handed over, first devices
/// held until the bindings are applied again; the old process refuses.
#[tokio::test]
async fn changing_the_secret_on_purpose_holds_first_devices() {
    let store = StoreTap::new(MemoryStore::new());
    let old = Secret::random();
    let running = Harness::build(&old, store.clone(), |l| l);
    running.claim("abc").await;

    let new = Secret::random();
    let next = Harness::build(&new, store.clone(), |l| l);
    assert!(matches!(
        next.layer.flow().adopt_store(&Secret::random()).await,
        Err(tower_otp::flow::StateError::NotThePreviousSecret)
    ));
    next.layer.flow().adopt_store(&old).await.unwrap();
    let check = next.layer.flow().check_state().await.unwrap();
    assert!(check.first_devices_held && !check.new_store);
    // Under the new secret the ticket reads as new, but no first device is
    // trusted: the browser is challenged.
    let reply = next.browser().open(T).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.device_cookie().is_none());
    // The bindings applied again, first devices trusted again.
    let flow = next.layer.flow();
    let owner = tower_otp::EmailAddress::parse("owner@example.com").unwrap();
    flow.pre_bind(&next.key("abc"), &owner).await.unwrap();
    flow.trust_first_devices().await.unwrap();
    assert!(next.browser().open("/tickets/new-one").await.is_ticket());
    assert_eq!(
        next.browser().open(T).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The process still on the old secret refuses from its next check.
    running.advance(Duration::from_secs(10));
    assert_eq!(
        running.browser().open("/tickets/other").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A store that lost its state (a Redis restarted without persistence):
/// the running process notices within its next check, and holds first
/// devices on every instance until an operator trusts them again.
#[tokio::test]
async fn a_store_that_forgot_is_not_taken_for_a_new_one() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let h = Harness::build(&secret, store.clone(), |l| l);
    h.claim("abc").await;
    // Everything gone: a new, empty store behind the same handle.
    store.replace(MemoryStore::new());
    h.advance(Duration::from_secs(10));
    let reply = h.browser().open(T).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "challenged, not trusted"
    );
    assert!(reply.device_cookie().is_none());
    // A second instance starting now finds first devices held too.
    let second = Harness::build(&secret, store.clone(), |l| l);
    let check = second.layer.flow().check_state().await.unwrap();
    assert!(check.first_devices_held);
    assert_eq!(
        second.browser().open("/tickets/other").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The operator says so: first devices are trusted again.
    second.layer.flow().trust_first_devices().await.unwrap();
    assert!(second.browser().open("/tickets/other").await.is_ticket());
    h.advance(Duration::from_secs(10));
    assert!(h.browser().open("/tickets/third").await.is_ticket());
}
