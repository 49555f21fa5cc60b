//! Revocation on by default: device generations are cached per instance for
//! a few seconds and read again in the background, so the verified path does
//! no store I/O, a revoked device is refused at once on the instance that
//! revoked it, and within the TTL on the others. A failed background read
//! is retried by the next request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Browser, Harness};
use http::StatusCode;
use tower_otp::store::{
    BindOutcome, BindRequest, ClaimOutcome, IssueOutcome, IssueRequest, LockoutCleared, Policy,
    RebindOutcome, RestartOutcome, StateChange, StateRead, Store, StoreError, TicketSnapshot,
    UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use tower_otp::{MemoryStore, Revocation, Secret, TicketId, TicketKey, Timestamp};

const T: &str = "/tickets/abc";

/// A shared memory store that counts its reads, and fails the next
/// `failing_loads` of them.
#[derive(Clone, Default)]
struct Counted {
    inner: Arc<MemoryStore>,
    loads: Arc<AtomicUsize>,
    failing_loads: Arc<AtomicUsize>,
}

#[tower_otp::async_trait]
impl Store for Counted {
    async fn load(
        &self,
        t: &TicketKey,
        now: Timestamp,
        p: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .failing_loads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StoreError::msg("down"));
        }
        self.inner.load(t, now, p).await
    }
    async fn claim_first_device(
        &self,
        t: &TicketKey,
        now: Timestamp,
        p: &Policy,
    ) -> Result<ClaimOutcome, StoreError> {
        self.inner.claim_first_device(t, now, p).await
    }
    async fn bind(&self, r: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        self.inner.bind(r).await
    }
    async fn issue_code(&self, r: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.inner.issue_code(r).await
    }
    async fn withdraw_code(&self, r: &IssueRequest<'_>) -> Result<(), StoreError> {
        self.inner.withdraw_code(r).await
    }
    async fn verify_code(&self, r: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        self.inner.verify_code(r).await
    }
    async fn restart(&self, t: &TicketKey, now: Timestamp) -> Result<RestartOutcome, StoreError> {
        self.inner.restart(t, now).await
    }
    async fn revoke_devices(&self, t: &TicketKey) -> Result<u64, StoreError> {
        self.inner.revoke_devices(t).await
    }
    async fn unbind(&self, t: &TicketKey, now: Timestamp) -> Result<UnbindOutcome, StoreError> {
        self.inner.unbind(t, now).await
    }
    async fn rebind(&self, r: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        self.inner.rebind(r).await
    }
    async fn clear_lockout(
        &self,
        t: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        self.inner.clear_lockout(t, now).await
    }
    async fn forget(&self, t: &TicketKey) -> Result<bool, StoreError> {
        self.inner.forget(t).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        self.inner.state(change).await
    }
    fn is_durable(&self) -> bool {
        false
    }
}

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
    let store = Counted::default();
    let ttl = Duration::from_secs(5);
    let cached = |l: common::Layer| l.with_revocation(Revocation::Cached { ttl });
    let a = Harness::build(&secret, store.clone(), cached);
    let b = Harness::build(&secret, store.clone(), cached);
    let mut device = a.browser();
    assert!(device.open(T).await.is_ticket());
    // The same browser on instance B: its first request reads the generation
    // (B has none yet); the next ones within the TTL read nothing.
    let mut on_b = Browser::on(b.app.clone());
    on_b.jar = device.jar.clone();
    assert!(on_b.get(T).await.is_ticket());
    b.layer.flow().settled().await;
    let loads = store.loads.load(Ordering::SeqCst);
    for _ in 0..50 {
        assert!(on_b.get(T).await.is_ticket());
    }
    b.layer.flow().settled().await;
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
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
    let store = Counted::default();
    let ttl = Duration::from_secs(5);
    let cached = |l: common::Layer| l.with_revocation(Revocation::Cached { ttl });
    let a = Harness::build(&secret, store.clone(), cached);
    let b = Harness::build(&secret, store.clone(), cached);
    let mut device = a.browser();
    assert!(device.open(T).await.is_ticket());
    let mut on_b = Browser::on(b.app.clone());
    on_b.jar = device.jar.clone();
    assert!(on_b.get(T).await.is_ticket(), "B reads generation 0");
    b.layer.flow().settled().await;

    // Revoked through A; B's reading goes stale and its next read fails.
    revoke(&a).await;
    b.advance(ttl);
    store.failing_loads.store(1, Ordering::SeqCst);
    let loads = store.loads.load(Ordering::SeqCst);
    assert!(on_b.get(T).await.is_ticket(), "passes on the last reading");
    b.layer.flow().settled().await;
    assert_eq!(store.loads.load(Ordering::SeqCst), loads + 1, "one read");
    assert_eq!(store.failing_loads.load(Ordering::SeqCst), 0, "it failed");
    // The next request, at the same instant (no TTL waited), reads again.
    assert!(on_b.get(T).await.is_ticket(), "still the last reading");
    b.layer.flow().settled().await;
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        loads + 2,
        "the failed read is retried"
    );
    // The retry read the revocation.
    assert_eq!(on_b.get(T).await.status, StatusCode::UNAUTHORIZED);
}
