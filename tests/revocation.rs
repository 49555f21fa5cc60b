//! Revocation on by default: device generations are cached per instance for
//! a few seconds and read again in the background, so the verified path does
//! no store I/O, a revoked device is refused at once on the instance that
//! revoked it, and within the TTL on the others. A failed background read
//! is retried by the next request.

mod common;

use std::time::Duration;

use common::{Browser, Harness};
use http::StatusCode;
use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{MemoryStore, Revocation, Secret, TicketId};

const T: &str = "/tickets/abc";

async fn revoke(h: &Harness) {
    let flow = h.layer.flow();
    let revoked = flow
        .revoke_devices(&flow.ticket_key(&TicketId::new("abc")))
        .await
        .unwrap();
    assert!(revoked.enforced, "on by default");
}

#[tokio::test]
async fn the_revoking_instance_refuses_the_device_at_once() {
    let h = Harness::new();
    let mut b = h.browser();
    assert!(b.open(T).await.is_ticket());
    revoke(&h).await;
    assert_eq!(b.get(T).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn other_instances_refuse_it_within_the_ttl_without_store_reads_meanwhile() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let ttl = Duration::from_secs(5);
    let cached = |l: common::Layer| l.with_revocation(Revocation::Cached { ttl });
    let a = Harness::build(&secret, store.clone(), cached);
    let b = Harness::build(&secret, store.clone(), cached);
    let mut device = a.browser();
    assert!(device.open(T).await.is_ticket());
    // The same browser on instance B: its first request reads the generation
    // (B has none yet); the next ones within the TTL read nothing.
    let mut on_b = Browser::on(b.app.clone());
    on_b.copy_cookies_from(&device);
    assert!(on_b.get(T).await.is_ticket());
    b.layer.flow().settled().await;
    let loads = store.calls(StoreCall::Load);
    for _ in 0..50 {
        assert!(on_b.get(T).await.is_ticket());
    }
    b.layer.flow().settled().await;
    assert_eq!(
        store.calls(StoreCall::Load),
        loads,
        "no store I/O on the verified path"
    );

    // Revoked through instance A: B still trusts its cached generation...
    revoke(&a).await;
    assert!(on_b.get(T).await.is_ticket(), "stale for at most the TTL");
    // ...until the TTL has passed: one more request passes on the stale
    // reading while it is read again, then the device is refused.
    b.advance(ttl);
    assert!(
        on_b.get(T).await.is_ticket(),
        "the stale reading, while read"
    );
    b.layer.flow().settled().await;
    assert_eq!(on_b.get(T).await.status, StatusCode::UNAUTHORIZED);
}

/// A failed background read is retried by the next request, which still
/// passes on the generation read before; once a read lands, the revoked
/// device is refused.
#[tokio::test]
async fn a_failed_read_is_retried_and_the_device_passes_meanwhile() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let ttl = Duration::from_secs(5);
    let cached = |l: common::Layer| l.with_revocation(Revocation::Cached { ttl });
    let a = Harness::build(&secret, store.clone(), cached);
    let b = Harness::build(&secret, store.clone(), cached);
    let mut device = a.browser();
    assert!(device.open(T).await.is_ticket());
    let mut on_b = Browser::on(b.app.clone());
    on_b.copy_cookies_from(&device);
    assert!(on_b.get(T).await.is_ticket(), "B reads generation 0");
    b.layer.flow().settled().await;

    // Revoked through A; B's reading goes stale and its next read fails.
    revoke(&a).await;
    b.advance(ttl);
    store.fail_next(StoreCall::Load, 1);
    let loads = store.calls(StoreCall::Load);
    assert!(on_b.get(T).await.is_ticket(), "passes on the last reading");
    b.layer.flow().settled().await;
    assert_eq!(store.calls(StoreCall::Load), loads + 1, "one read");
    assert_eq!(store.failures_left(StoreCall::Load), 0, "it failed");
    // The next request, at the same instant (no TTL waited), reads again.
    assert!(on_b.get(T).await.is_ticket(), "still the last reading");
    b.layer.flow().settled().await;
    assert_eq!(
        store.calls(StoreCall::Load),
        loads + 2,
        "the failed read is retried"
    );
    // The retry read the revocation.
    assert_eq!(on_b.get(T).await.status, StatusCode::UNAUTHORIZED);
}
