//! The narrow contract of the stores that can lock: [`RecordStore`], and the
//! one [`Store`] implementation every such store gets from it.
//!
//! A store that can hold a ticket's record (and the send counters an
//! operation needs) locked for the length of one step says how it reads,
//! locks, writes back and deletes records; the operations of [`Store`] are
//! then the [rules](super::rules) run on those records, written here once.
//! [`MemoryStore`](crate::MemoryStore) (shard locks) and the SQL stores (one
//! transaction, rows read `FOR UPDATE` or under `BEGIN IMMEDIATE`) follow it.
//! The Redis store does not: it runs each operation as one Lua script, so it
//! implements [`Store`] directly and keeps a second copy of the rules, which
//! the conformance suite holds equal to this one.
//!
//! A new store operation is one rule function and one method below; no store
//! that follows this contract changes.

use async_trait::async_trait;

use super::rules::{self, AddressSends, TicketRecord};
use super::{
    AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateRead, Store,
    StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use crate::clock::Timestamp;
use crate::ticket::TicketKey;

/// How a store that can lock keeps its records.
///
/// Every method is atomic for its ticket. Times come from the callers: a
/// store may use `now` to drop what expired, never its own clock.
#[async_trait]
pub(crate) trait RecordStore: Send + Sync + 'static {
    /// Runs `read` on the ticket's record as stored (`None`: there is none),
    /// without locking it.
    async fn read<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        read: impl for<'r> FnOnce(Option<&'r TicketRecord>) -> T + Send,
    ) -> Result<T, StoreError>;

    /// One atomic step on a ticket: locks its record (an empty one when
    /// there is none), then the send counters `counters` names for that
    /// record, always after the ticket and in one fixed order among
    /// themselves (so two steps never wait on each other in a cycle); runs
    /// `rule` on the record and the counters, in the order named; writes
    /// back what changed and deletes what is left empty.
    ///
    /// `rule` may run more than once on a fresh empty record (a store that
    /// cannot lock a missing record may try the rule first, to learn
    /// whether there is anything to write): it must depend on its inputs
    /// only. `now`, when given, lets the store sweep what expired.
    async fn update<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Option<Timestamp>,
        counters: impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync,
        rule: impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync,
    ) -> Result<T, StoreError>;

    /// Deletes the ticket's record; returns whether there was one.
    async fn remove(&self, ticket: &TicketKey) -> Result<bool, StoreError>;

    /// [`Store::state`].
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError>;

    /// [`Store::is_durable`].
    fn is_durable(&self) -> bool {
        true
    }
}

/// No counters: the operation touches the ticket only.
fn ticket_only(_: &TicketRecord) -> Vec<AddressKey> {
    Vec::new()
}

/// The counters of [`rules::budgets`], in its order.
fn budget_keys(ticket: &TicketRecord, r: &IssueRequest<'_>) -> Vec<AddressKey> {
    rules::budgets(ticket, r).iter().map(|b| b.key).collect()
}

// Errors name `Store`, which users implement, not this crate-private trait.
#[diagnostic::do_not_recommend]
#[async_trait]
impl<R: RecordStore> Store for R {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        self.read(ticket, now, |record| {
            record.map_or_else(TicketSnapshot::default, |t| rules::load(t, now, policy))
        })
        .await
    }

    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        let counter = request.counter().map(|(key, _)| key);
        self.update(
            request.ticket,
            Some(request.now),
            |_| counter.into_iter().collect(),
            |t, c| rules::claim(t, c.first_mut(), request),
        )
        .await
    }

    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        self.update(request.ticket, None, ticket_only, |t, _| {
            rules::bind(t, request)
        })
        .await
    }

    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.update(
            request.ticket,
            Some(request.now),
            |t| budget_keys(t, request),
            |t, c| rules::issue(t, c, request),
        )
        .await
    }

    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        self.update(
            request.ticket,
            Some(request.now),
            |t| budget_keys(t, request),
            |t, c| rules::withdraw(t, c, request),
        )
        .await
    }

    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        self.update(request.ticket, Some(request.now), ticket_only, |t, _| {
            rules::verify(t, request)
        })
        .await
    }

    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        self.update(ticket, Some(now), ticket_only, |t, _| rules::restart(t))
            .await
    }

    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        self.update(ticket, None, ticket_only, |t, _| rules::revoke(t))
            .await
    }

    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        // A refused withdrawal leaves the record as it was: nothing is
        // written, and an unknown ticket stays without a record.
        self.update(ticket, Some(now), ticket_only, |t, _| {
            rules::withdraw_binding(t, generation)
        })
        .await
    }

    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        self.update(ticket, Some(now), ticket_only, |t, _| rules::unbind(t))
            .await
    }

    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        self.update(request.ticket, Some(request.now), ticket_only, |t, _| {
            rules::rebind(t, request)
        })
        .await
    }

    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        self.update(ticket, Some(now), ticket_only, |t, _| {
            rules::clear_lockout(t, now)
        })
        .await
    }

    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        self.remove(ticket).await
    }

    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        RecordStore::state(self, change).await
    }

    fn is_durable(&self) -> bool {
        RecordStore::is_durable(self)
    }
}
