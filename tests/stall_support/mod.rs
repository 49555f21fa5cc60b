//! A store that stalls on demand, for the tests of what a stalled store
//! does to the site.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tower_otp::store::{
    BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateRead, Store,
    StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use tower_otp::{MemoryStore, TicketKey, Timestamp};

/// A memory store that can be paused: while it is, every call waits (as on
/// a Redis under `CLIENT PAUSE`, or a PostgreSQL table held locked) and is
/// counted among the calls waiting.
pub struct Stall {
    inner: MemoryStore,
    paused: tokio::sync::watch::Sender<bool>,
    waiting: AtomicUsize,
}

impl Stall {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            paused: tokio::sync::watch::Sender::new(false),
            waiting: AtomicUsize::new(0),
        })
    }

    pub fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Calls held by the pause right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    async fn pass(&self) {
        let mut paused = self.paused.subscribe();
        if !*paused.borrow_and_update() {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted out however the wait ends (a caller that gives up too).
        struct Out<'a>(&'a AtomicUsize);
        impl Drop for Out<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _out = Out(&self.waiting);
        let _ = paused.wait_for(|paused| !*paused).await;
    }
}

#[tower_otp::async_trait]
impl Store for Stall {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        self.pass().await;
        self.inner.load(ticket, now, policy).await
    }
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        self.pass().await;
        self.inner.claim_first_device(request).await
    }
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        self.pass().await;
        self.inner.bind(request).await
    }
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.pass().await;
        self.inner.issue_code(request).await
    }
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        self.pass().await;
        self.inner.withdraw_code(request).await
    }
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        self.pass().await;
        self.inner.verify_code(request).await
    }
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        self.pass().await;
        self.inner.restart(ticket, now).await
    }
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        self.pass().await;
        self.inner.revoke_devices(ticket).await
    }
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.pass().await;
        self.inner.withdraw_binding(ticket, now, generation).await
    }
    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        self.pass().await;
        self.inner.unbind(ticket, now).await
    }
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        self.pass().await;
        self.inner.rebind(request).await
    }
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        self.pass().await;
        self.inner.clear_lockout(ticket, now).await
    }
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        self.pass().await;
        self.inner.forget(ticket).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        self.pass().await;
        self.inner.state(change).await
    }
}
