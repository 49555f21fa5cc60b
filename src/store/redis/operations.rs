//! The [`Store`] operations: one script each, within the timeout.

use async_trait::async_trait;
use redis::{ScriptInvocation, Value};

use super::RedisStore;
use super::keys::hex;
use super::scripts::{self, SCRIPTS, budget_args, millis, policy_args};
use crate::clock::Timestamp;
use crate::locale::Locale;
use crate::store::{
    AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, SendBudget, StateChange, StateRead,
    Store, StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use crate::ticket::TicketKey;

impl RedisStore {
    /// Runs one Redis call within the timeout.
    pub(super) async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::new("redis call failed", error)),
            Err(elapsed) => Err(StoreError::new("redis call timed out", elapsed)),
        }
    }

    async fn run(&self, invocation: ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let mut connection = self.connection.clone();
        self.bounded(invocation.invoke_async(&mut connection)).await
    }

    /// The counters of rule 4 as (key, cap, name): the owner's or the
    /// strangers', then the client's (as `rules::budgets` and `budgets` in
    /// the prelude choose).
    fn counters(&self, r: &IssueRequest<'_>, owner: bool) -> Vec<(String, u32, SendBudget)> {
        let (p, keys) = (r.policy, r.keys);
        let mut out = Vec::with_capacity(4);
        if owner {
            out.push((
                self.keys.address(&keys.owner),
                p.sends_per_address,
                SendBudget::Owner,
            ));
        } else {
            out.push((
                self.keys.address(&keys.mailbox),
                p.sends_per_address,
                SendBudget::Mailbox,
            ));
            if let Some(domain) = &keys.domain {
                out.push((
                    self.keys.address(domain),
                    p.sends_per_domain,
                    SendBudget::Domain,
                ));
            }
            if p.sends_site_wide > 0 {
                out.push((
                    self.keys.address(&keys.site),
                    p.sends_site_wide,
                    SendBudget::Site,
                ));
            }
        }
        if let Some(client) = &keys.client
            && p.client_cap() > 0
        {
            out.push((
                self.keys.address(client),
                p.client_cap(),
                SendBudget::Client,
            ));
        }
        out
    }

    /// The five counter keys, as `issue.lua` and `withdraw.lua` take them (a
    /// counter the request does not have is named by the site's key, which
    /// the scripts then do not touch for it).
    fn counter_keys(&self, r: &IssueRequest<'_>) -> [String; 5] {
        let keys = r.keys;
        let site = self.keys.address(&keys.site);
        let or_site =
            |key: Option<&AddressKey>| key.map_or_else(|| site.clone(), |k| self.keys.address(k));
        [
            self.keys.address(&keys.owner),
            self.keys.address(&keys.mailbox),
            or_site(keys.domain.as_ref()),
            site.clone(),
            or_site(keys.client.as_ref()),
        ]
    }

    async fn issue_split(&self, r: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        let code = hex(r.code.as_bytes());
        let (challenge, undo) = (
            self.keys.challenge(r.ticket),
            self.keys.undo(r.ticket, r.code),
        );
        let mut ticket = SCRIPTS.issue_ticket.prepare_invoke();
        ticket
            .key(self.keys.record(r.ticket))
            .key(&challenge)
            .key(&undo)
            .arg(r.now.as_millis())
            .arg(r.address.as_str())
            .arg(&code);
        policy_args(&mut ticket, r.policy);
        ticket.arg(if r.expect_bound { "1" } else { "0" });
        let (issued, owner) = scripts::issue_ticket(self.run(ticket).await?)?;
        if !matches!(issued, IssueOutcome::Issued { .. }) {
            return Ok(issued);
        }
        // Each counter in its own slot, one after another; the first refusal
        // stops, and what was counted is given back.
        let mut taken = Vec::new();
        let mut refusal = Ok(None);
        for (key, cap, budget) in self.counters(r, owner) {
            let mut take = SCRIPTS.take_address.prepare_invoke();
            take.key(&key).arg(r.now.as_millis()).arg(cap);
            policy_args(&mut take, r.policy);
            match self.run(take).await.and_then(scripts::take_address) {
                Ok(None) => taken.push(key),
                other => {
                    refusal = other.map(|retry| retry.map(|at| (at, budget)));
                    break;
                }
            }
        }
        if let Ok(None) = refusal {
            return Ok(issued);
        }
        for key in taken {
            let mut back = SCRIPTS.withdraw_address.prepare_invoke();
            back.key(&key)
                .arg(r.now.as_millis())
                .arg(millis(r.policy.send_window));
            if let Err(error) = self.run(back).await {
                tracing::warn!(ticket = r.ticket.label(), error = %error, "could not give back a send counted for a refused code");
            }
        }
        // A counter refused the send (or could not be asked): put the ticket back.
        let mut back = SCRIPTS.undo_issue.prepare_invoke();
        back.key(&challenge)
            .key(&undo)
            .arg(r.now.as_millis())
            .arg(&code);
        let undone = self.run(back).await;
        match refusal {
            Ok(Some((retry_at, budget))) => {
                undone?;
                Ok(IssueOutcome::AddressThrottled { retry_at, budget })
            }
            Ok(None) => unreachable!("returned above"),
            Err(error) => {
                if let Err(undo) = undone {
                    tracing::warn!(ticket = r.ticket.label(), error = %undo, "could not take back a code whose address count failed");
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        let mut invocation = SCRIPTS.load.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket))
            .arg(now.as_millis())
            .arg(millis(policy.send_window));
        scripts::snapshot(self.run(invocation).await?)
    }

    async fn claim_first_device(&self, r: &ClaimRequest<'_>) -> Result<ClaimOutcome, StoreError> {
        let (now, window) = (r.now.as_millis(), millis(r.policy.send_window));
        let counter = r.counter().map(|(key, cap)| (self.keys.address(&key), cap));
        let claim = |counted_here: Option<&(String, u32)>| {
            let mut invocation = SCRIPTS.claim.prepare_invoke();
            invocation.key(self.keys.record(r.ticket));
            if let Some((key, _)) = counted_here {
                invocation.key(key);
            }
            invocation
                .arg(now)
                .arg(millis(r.lifetime()))
                .arg(counted_here.map_or(0, |(_, cap)| *cap))
                .arg(window);
            invocation
        };
        let (key, cap) = match counter {
            Some(counter) if self.per_slot => counter,
            counted_here => return scripts::claim(self.run(claim(counted_here.as_ref())).await?),
        };
        // The counter lives in another slot: count first, then claim, and
        // give the count back when the claim is refused.
        let mut take = SCRIPTS.take_address.prepare_invoke();
        take.key(&key).arg(now).arg(cap);
        policy_args(&mut take, r.policy);
        if let Some(retry_at) = scripts::take_address(self.run(take).await?)? {
            return Ok(ClaimOutcome::Throttled { retry_at });
        }
        let outcome = self.run(claim(None)).await.and_then(scripts::claim);
        if !matches!(outcome, Ok(ClaimOutcome::Claimed { .. })) {
            let mut back = SCRIPTS.withdraw_address.prepare_invoke();
            back.key(&key).arg(now).arg(window);
            if let Err(error) = self.run(back).await {
                tracing::warn!(ticket = r.ticket.label(), error = %error, "could not give back a claim counted for a refused claim");
            }
        }
        outcome
    }

    async fn bind(&self, r: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        let mut invocation = SCRIPTS.bind.prepare_invoke();
        invocation
            .key(self.keys.record(r.ticket))
            .arg(r.address.as_str())
            .arg(r.locale.map_or("", Locale::tag))
            .arg(r.now.as_millis());
        scripts::bind(self.run(invocation).await?)
    }

    async fn issue_code(&self, r: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        if self.per_slot {
            return self.issue_split(r).await;
        }
        let mut invocation = SCRIPTS.issue.prepare_invoke();
        invocation
            .key(self.keys.record(r.ticket))
            .key(self.keys.challenge(r.ticket));
        for key in self.counter_keys(r) {
            invocation.key(key);
        }
        invocation
            .arg(r.now.as_millis())
            .arg(r.address.as_str())
            .arg(hex(r.code.as_bytes()));
        policy_args(&mut invocation, r.policy);
        budget_args(&mut invocation, r);
        invocation.arg(if r.expect_bound { "1" } else { "0" });
        scripts::issue(self.run(invocation).await?)
    }

    async fn withdraw_code(&self, r: &IssueRequest<'_>) -> Result<(), StoreError> {
        let (now, code) = (r.now.as_millis(), hex(r.code.as_bytes()));
        if !self.per_slot {
            let mut invocation = SCRIPTS.withdraw.prepare_invoke();
            invocation
                .key(self.keys.record(r.ticket))
                .key(self.keys.challenge(r.ticket));
            for key in self.counter_keys(r) {
                invocation.key(key);
            }
            invocation.arg(now).arg(&code).arg(r.address.as_str());
            policy_args(&mut invocation, r.policy);
            budget_args(&mut invocation, r);
            return self.run(invocation).await.map(drop);
        }
        let mut ticket = SCRIPTS.withdraw_ticket.prepare_invoke();
        ticket
            .key(self.keys.record(r.ticket))
            .key(self.keys.challenge(r.ticket))
            .arg(now)
            .arg(&code)
            .arg(r.address.as_str());
        let owner = matches!(self.run(ticket).await?, Value::Int(1));
        let window = millis(r.policy.send_window);
        let mut result = Ok(());
        for (key, _, _) in self.counters(r, owner) {
            let mut address = SCRIPTS.withdraw_address.prepare_invoke();
            address.key(&key).arg(now).arg(window);
            result = result.and(self.run(address).await.map(drop));
        }
        result
    }

    async fn verify_code(&self, r: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        let mut invocation = SCRIPTS.verify.prepare_invoke();
        invocation
            .key(self.keys.record(r.ticket))
            .key(self.keys.challenge(r.ticket))
            .arg(r.now.as_millis())
            .arg(hex(r.code.as_bytes()))
            .arg(r.policy.max_attempts)
            .arg(r.policy.lockout_threshold)
            .arg(millis(r.policy.lockout_duration))
            .arg(r.locale.map_or("", Locale::tag));
        scripts::verify(self.run(invocation).await?)
    }

    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        let mut invocation = SCRIPTS.restart.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket))
            .arg(now.as_millis());
        match self.run(invocation).await? {
            Value::Int(1) => Ok(RestartOutcome::Bound),
            Value::Int(0) => Ok(RestartOutcome::Restarted),
            _ => Err(StoreError::msg("unexpected reply from redis")),
        }
    }

    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        let mut invocation = SCRIPTS.revoke.prepare_invoke();
        invocation.key(self.keys.record(ticket));
        match self.run(invocation).await? {
            Value::Int(n) => {
                u64::try_from(n).map_err(|_| StoreError::msg("unexpected reply from redis"))
            }
            _ => Err(StoreError::msg("unexpected reply from redis")),
        }
    }

    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut invocation = SCRIPTS.withdraw_binding.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket))
            .arg(now.as_millis())
            .arg(generation);
        scripts::withdraw_binding(self.run(invocation).await?)
    }

    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        let mut invocation = SCRIPTS.unbind.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket))
            .arg(now.as_millis());
        scripts::unbind(self.run(invocation).await?)
    }

    async fn rebind(&self, r: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        let mut invocation = SCRIPTS.rebind.prepare_invoke();
        invocation
            .key(self.keys.record(r.ticket))
            .key(self.keys.challenge(r.ticket))
            .arg(r.address.as_str())
            .arg(r.locale.map_or("", Locale::tag))
            .arg(r.now.as_millis());
        scripts::rebind(self.run(invocation).await?)
    }

    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        let mut invocation = SCRIPTS.clear_lockout.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket))
            .arg(now.as_millis());
        scripts::clear_lockout(self.run(invocation).await?)
    }

    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        let mut invocation = SCRIPTS.forget.prepare_invoke();
        invocation
            .key(self.keys.record(ticket))
            .key(self.keys.challenge(ticket));
        match self.run(invocation).await? {
            Value::Int(n) => Ok(n > 0),
            _ => Err(StoreError::msg("unexpected reply from redis")),
        }
    }

    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        let (mode, record) = match change {
            StateChange::Init(record) => ("init", record),
            StateChange::Replace(record) => ("replace", record),
        };
        let mut invocation = SCRIPTS.state.prepare_invoke();
        invocation
            .key(self.keys.state())
            .arg(mode)
            .arg(scripts::encode_state(&record));
        scripts::state(self.run(invocation).await?)
    }

    fn is_durable(&self) -> bool {
        self.persists
    }
}
