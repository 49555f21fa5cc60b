//! A store that records how long each call took, and its failures.

use async_trait::async_trait;

use super::{names, timed};
use crate::clock::Timestamp;
use crate::store::{
    BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateRead, Store,
    StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use crate::ticket::TicketKey;

/// Wraps the flow's store when the `metrics` feature is on.
pub(crate) struct MeteredStore<S>(pub(crate) S);

async fn op<T>(
    name: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    timed(names::STORE_DURATION, names::STORE_ERRORS, "op", name, call).await
}

#[async_trait]
impl<S: Store> Store for MeteredStore<S> {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        op("load", self.0.load(ticket, now, policy)).await
    }
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        op("claim_first_device", self.0.claim_first_device(request)).await
    }
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        op("bind", self.0.bind(request)).await
    }
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        op("issue_code", self.0.issue_code(request)).await
    }
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        op("withdraw_code", self.0.withdraw_code(request)).await
    }
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        op("verify_code", self.0.verify_code(request)).await
    }
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        op("restart", self.0.restart(ticket, now)).await
    }
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        op("revoke_devices", self.0.revoke_devices(ticket)).await
    }
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        op(
            "withdraw_binding",
            self.0.withdraw_binding(ticket, now, generation),
        )
        .await
    }
    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        op("unbind", self.0.unbind(ticket, now)).await
    }
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        op("rebind", self.0.rebind(request)).await
    }
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        op("clear_lockout", self.0.clear_lockout(ticket, now)).await
    }
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        op("forget", self.0.forget(ticket)).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        op("state", self.0.state(change)).await
    }
    fn is_durable(&self) -> bool {
        self.0.is_durable()
    }
}
