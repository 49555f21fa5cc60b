//! The in-process store.
//!
//! Tickets live in `shards` maps, each behind its own `std::sync::Mutex`, so
//! tickets in different shards never contend and every operation on one ticket
//! is one critical section (no lock is held across an `.await`: the methods
//! never await). The per-address send counters live in a second sharded map.
//! When an operation needs both, it takes the ticket shard first, then the
//! address shard, always in that order.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    AddressKey, BindOutcome, ClaimOutcome, CodeRecord, IssueOutcome, IssueRequest, Policy,
    RestartOutcome, Store, StoreError, TicketSnapshot, VerifyOutcome, VerifyRequest,
};
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::ticket::TicketKey;

/// Shards of each map unless [`MemoryStore::with_shards`] says otherwise.
const DEFAULT_SHARDS: usize = 64;

/// How often (in the time the callers pass in) a shard drops what expired.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Keeps challenge state in this process's memory. The embedded default.
///
/// Use it for a single instance; several instances behind a load balancer need
/// a shared store. It follows the [`Store`] contract, checked by the
/// conformance suite including the races.
///
/// # Memory
///
/// A pending challenge (one code sent to one address) costs about 450 to 550
/// bytes of resident memory, the per-address counter and the hash tables'
/// slack included (measured: 444 bytes each at 100,000, 532 at 1,000,000), so
/// a million pending challenges stay well under 1 GiB. What expired is dropped as the
/// store is used: each shard sweeps itself at most once a minute, driven by
/// the `now` passed to the operations (no background thread, so a manual
/// clock works), and [`MemoryStore::sweep`] sweeps everything at once.
///
/// Sweeping drops a ticket's challenge once nothing in it can matter any
/// more: its codes and its round have expired, no send is left in the send
/// window and no lockout is running. What stays is a compact record of the
/// long-lived facts: first-device claim, binding, revocation generation and
/// consecutive-failure count. That record grows with the number of tickets
/// ever claimed, bound, revoked or failed: 64 bytes in the table plus the
/// bound address, about 150 to 200 bytes per ticket in all (measured: 151 at
/// 100,000 bound tickets, 200 at 1,000,000). A ticket with none of these is
/// removed.
///
/// The sweep trusts the times it is given: every caller of one store must
/// use the same clock.
///
/// ```
/// use tower_otp::store::{BindOutcome, Store};
/// use tower_otp::{EmailAddress, MemoryStore, TicketKey};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let ticket = TicketKey::from_bytes([7; 16]);
/// let address = EmailAddress::parse("taro@example.com").unwrap();
/// assert_eq!(store.bind(&ticket, &address).await.unwrap(), BindOutcome::Bound);
/// assert_eq!(store.ticket_count(), 1);
/// # });
/// ```
pub struct MemoryStore {
    tickets: Box<[Mutex<TicketShard>]>,
    addresses: Box<[Mutex<AddressShard>]>,
    hasher: RandomState,
}

impl MemoryStore {
    /// An empty store with 64 shards.
    ///
    /// ```
    /// let store = tower_otp::MemoryStore::new();
    /// assert_eq!(store.ticket_count(), 0);
    /// ```
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// An empty store with `shards` shards per map (rounded up to a power of
    /// two, at least 1). More shards mean less contention between tickets.
    ///
    /// ```
    /// let store = tower_otp::MemoryStore::with_shards(256);
    /// assert_eq!(store.ticket_count(), 0);
    /// ```
    pub fn with_shards(shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        Self {
            tickets: (0..n).map(|_| Mutex::default()).collect(),
            addresses: (0..n).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// How many tickets have a record (a challenge or a long-lived fact).
    ///
    /// ```
    /// assert_eq!(tower_otp::MemoryStore::new().ticket_count(), 0);
    /// ```
    pub fn ticket_count(&self) -> usize {
        self.tickets.iter().map(|s| lock(s).map.len()).sum()
    }

    /// How many tickets hold challenge data (codes, counters, send times).
    ///
    /// ```
    /// assert_eq!(tower_otp::MemoryStore::new().challenge_count(), 0);
    /// ```
    pub fn challenge_count(&self) -> usize {
        self.tickets
            .iter()
            .map(|s| {
                let shard = lock(s);
                shard.map.values().filter(|t| t.challenge.is_some()).count()
            })
            .sum()
    }

    /// How many addresses have sends counted in their window.
    ///
    /// ```
    /// assert_eq!(tower_otp::MemoryStore::new().address_count(), 0);
    /// ```
    pub fn address_count(&self) -> usize {
        self.addresses.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Drops everything that can no longer matter at `now` (see the
    /// [type documentation](MemoryStore#memory)), in every shard.
    ///
    /// The store also does this by itself, a shard at a time; call it when
    /// memory must be given back at once.
    ///
    /// ```
    /// use tower_otp::{MemoryStore, Timestamp};
    ///
    /// let store = MemoryStore::new();
    /// store.sweep(Timestamp::from_millis(1_000));
    /// assert_eq!(store.ticket_count(), 0);
    /// ```
    pub fn sweep(&self, now: Timestamp) {
        for shard in self.tickets.iter() {
            lock(shard).sweep(now);
        }
        for shard in self.addresses.iter() {
            lock(shard).sweep(now);
        }
    }

    fn shard_index(&self, bytes: &[u8; 16]) -> usize {
        // The length is a power of two.
        (self.hasher.hash_one(bytes) as usize) & (self.tickets.len() - 1)
    }

    /// The ticket's shard, swept first when its time has come.
    fn ticket_shard(&self, key: &TicketKey, now: Option<Timestamp>) -> MutexGuard<'_, TicketShard> {
        let mut shard = lock(&self.tickets[self.shard_index(key.as_bytes())]);
        if let Some(now) = now {
            shard.maybe_sweep(now);
        }
        shard
    }

    fn address_shard(&self, key: &AddressKey, now: Timestamp) -> MutexGuard<'_, AddressShard> {
        let mut shard = lock(&self.addresses[self.shard_index(key.as_bytes())]);
        shard.maybe_sweep(now);
        shard
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.tickets.len())
            .finish_non_exhaustive()
    }
}

/// A poisoned lock still guards consistent data: every update below is a
/// sequence of plain field writes that cannot panic half-way.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `at` lies in the window of length `window` that ends at `now`
/// (`now - window`, exclusive, to `now`).
fn in_window(at: Timestamp, window: Duration, now: Timestamp) -> bool {
    at + window > now
}

#[derive(Default)]
struct TicketShard {
    map: HashMap<[u8; 16], TicketState>,
    next_sweep: Timestamp,
}

impl TicketShard {
    fn maybe_sweep(&mut self, now: Timestamp) {
        if now >= self.next_sweep {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Timestamp) {
        self.map.retain(|_, ticket| {
            if ticket
                .challenge
                .as_ref()
                .is_some_and(|c| now >= c.keep_until)
            {
                ticket.challenge = None;
            }
            !ticket.is_empty()
        });
        self.next_sweep = now + SWEEP_INTERVAL;
    }

    /// Runs `f` on the ticket's record (a fresh one if there is none) and
    /// removes the record again if it is left empty.
    fn update<R>(&mut self, key: &TicketKey, f: impl FnOnce(&mut TicketState) -> R) -> R {
        let bytes = *key.as_bytes();
        let ticket = self.map.entry(bytes).or_default();
        let out = f(ticket);
        if ticket.is_empty() {
            self.map.remove(&bytes);
        }
        out
    }
}

/// What the store keeps per ticket: the long-lived facts inline, the
/// challenge boxed so that tickets without one stay small.
#[derive(Default)]
struct TicketState {
    binding: Option<EmailAddress>,
    challenge: Option<Box<Challenge>>,
    generation: u64,
    /// Consecutive failures across rounds; survives the challenge (a success
    /// or a lockout resets it).
    consecutive_failures: u32,
    claimed: bool,
}

impl TicketState {
    fn is_empty(&self) -> bool {
        !self.claimed
            && self.binding.is_none()
            && self.challenge.is_none()
            && self.generation == 0
            && self.consecutive_failures == 0
    }

    fn locked_until(&self, now: Timestamp) -> Option<Timestamp> {
        let until = self.challenge.as_ref()?.locked_until;
        (now < until).then_some(until)
    }

    /// Drops the challenge when nothing in it is left.
    fn tidy(&mut self) {
        if self.challenge.as_ref().is_some_and(|c| c.is_empty()) {
            self.challenge = None;
        }
    }
}

/// The pending challenge of a ticket.
#[derive(Default)]
struct Challenge {
    /// Where the current codes were sent (the pending address, or the binding).
    address: Option<EmailAddress>,
    /// The current codes, oldest first (expired ones stay until the next
    /// issue, so that a verify can say "expired").
    codes: Vec<CodeRecord>,
    /// This ticket's sends, oldest first (those before the window are pruned
    /// at the next issue).
    sends: Vec<Timestamp>,
    /// The round continues until every code it issued has expired, including
    /// codes since dropped by `restart` or an address change: neither resets
    /// the attempt budget.
    round_until: Timestamp,
    /// New devices are locked out until then.
    locked_until: Timestamp,
    /// Nothing here can matter after this time: the sweep may drop it.
    keep_until: Timestamp,
    /// Wrong entries in this round.
    attempts: u32,
    /// The round's budget is spent; its codes are void.
    exhausted: bool,
}

impl Challenge {
    fn is_empty(&self) -> bool {
        self.address.is_none()
            && self.codes.is_empty()
            && self.sends.is_empty()
            && self.attempts == 0
            && !self.exhausted
            && self.locked_until == Timestamp::default()
            && self.round_until == Timestamp::default()
    }

    fn live_codes(&self, now: Timestamp) -> impl Iterator<Item = &CodeRecord> {
        self.codes
            .iter()
            .filter(move |c| !self.exhausted && now < c.expires_at)
    }

    fn clear_codes(&mut self) {
        self.codes = Vec::new();
    }

    fn extend_keep(&mut self, until: Timestamp) {
        self.keep_until = self.keep_until.max(until);
    }
}

/// Removes the last occurrence of `at` from `times`.
fn remove_time(times: &mut Vec<Timestamp>, at: Timestamp) {
    if let Some(i) = times.iter().rposition(|t| *t == at) {
        times.remove(i);
    }
}

/// Pushes without the doubling growth of `Vec`: these lists are short.
fn push_exact<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

#[derive(Default)]
struct AddressShard {
    map: HashMap<[u8; 16], AddressSends>,
    next_sweep: Timestamp,
}

impl AddressShard {
    fn maybe_sweep(&mut self, now: Timestamp) {
        if now >= self.next_sweep {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Timestamp) {
        self.map.retain(|_, a| now < a.keep_until);
        self.next_sweep = now + SWEEP_INTERVAL;
    }
}

#[derive(Default)]
struct AddressSends {
    /// Sends to this address, oldest first.
    sends: Vec<Timestamp>,
    keep_until: Timestamp,
}

impl MemoryStore {
    fn load_now(&self, key: &TicketKey, now: Timestamp, policy: &Policy) -> TicketSnapshot {
        let shard = self.ticket_shard(key, Some(now));
        let Some(ticket) = shard.map.get(key.as_bytes()) else {
            return TicketSnapshot::default();
        };
        let mut snapshot = TicketSnapshot {
            claimed: ticket.claimed,
            binding: ticket.binding.clone(),
            generation: ticket.generation,
            consecutive_failures: ticket.consecutive_failures,
            ..TicketSnapshot::default()
        };
        if let Some(c) = &ticket.challenge {
            if ticket.binding.is_none() {
                snapshot.pending = c.address.clone();
            }
            snapshot.live_codes = c.live_codes(now).copied().collect();
            snapshot.attempts_used = c.attempts;
            snapshot.exhausted = c.exhausted;
            snapshot.locked_until = ticket.locked_until(now);
            snapshot.recent_sends = c
                .sends
                .iter()
                .copied()
                .filter(|t| in_window(*t, policy.send_window, now))
                .collect();
            snapshot.had_codes =
                !c.exhausted && !c.codes.is_empty() && snapshot.live_codes.is_empty();
        }
        snapshot
    }

    fn claim_now(&self, key: &TicketKey) -> ClaimOutcome {
        self.ticket_shard(key, None).update(key, |ticket| {
            if ticket.claimed || ticket.binding.is_some() {
                ClaimOutcome::Refused
            } else {
                ticket.claimed = true;
                ClaimOutcome::Claimed {
                    generation: ticket.generation,
                }
            }
        })
    }

    fn bind_now(&self, key: &TicketKey, address: &EmailAddress) -> BindOutcome {
        self.ticket_shard(key, None)
            .update(key, |ticket| match &ticket.binding {
                Some(bound) => BindOutcome::AlreadyBound {
                    same: bound == address,
                },
                None => {
                    ticket.binding = Some(address.clone());
                    BindOutcome::Bound
                }
            })
    }

    fn issue_now(&self, r: &IssueRequest<'_>) -> IssueOutcome {
        let (now, policy) = (r.now, r.policy);
        let mut shard = self.ticket_shard(r.ticket, Some(now));
        shard.update(r.ticket, |ticket| {
            if ticket.binding.as_ref().is_some_and(|b| b != r.address) {
                return IssueOutcome::BoundElsewhere;
            }
            if let Some(until) = ticket.locked_until(now) {
                return IssueOutcome::Locked { until };
            }
            let challenge = ticket.challenge.get_or_insert_with(Box::default);
            challenge
                .sends
                .retain(|t| in_window(*t, policy.send_window, now));
            if let Some(at) = policy.next_send_at(&challenge.sends)
                && now < at
            {
                ticket.tidy();
                return IssueOutcome::TicketThrottled { retry_at: at };
            }
            // The address counter, under its own lock, taken after the ticket's.
            let mut addresses = self.address_shard(r.address_key, now);
            let counter = addresses.map.entry(*r.address_key.as_bytes()).or_default();
            counter
                .sends
                .retain(|t| in_window(*t, policy.send_window, now));
            let cap = policy.sends_per_address as usize;
            if counter.sends.len() >= cap {
                let retry_at = counter
                    .sends
                    .get(counter.sends.len() - cap)
                    .map_or(now, |t| *t + policy.send_window);
                if counter.sends.is_empty() {
                    addresses.map.remove(r.address_key.as_bytes());
                }
                ticket.tidy();
                return IssueOutcome::AddressThrottled { retry_at };
            }
            push_exact(&mut counter.sends, now);
            counter.keep_until = counter.keep_until.max(now + policy.send_window);
            drop(addresses);

            if challenge.address.as_ref() != Some(r.address) {
                // A new pending address (or, on a bound ticket, codes sent
                // before the binding to another address, which are void).
                challenge.clear_codes();
                challenge.address = Some(r.address.clone());
            }
            if challenge.exhausted || now >= challenge.round_until {
                challenge.attempts = 0;
                challenge.exhausted = false;
                challenge.round_until = now;
            }
            challenge.codes.retain(|c| now < c.expires_at);
            let keep = policy.live_codes.max(1) as usize;
            while challenge.codes.len() >= keep {
                challenge.codes.remove(0);
            }
            let expires_at = now + policy.code_ttl;
            push_exact(
                &mut challenge.codes,
                CodeRecord::new(*r.code, now, expires_at),
            );
            challenge.round_until = challenge.round_until.max(expires_at);
            push_exact(&mut challenge.sends, now);
            challenge.extend_keep(expires_at.max(now + policy.send_window));
            let next_send_at = policy.next_send_at(&challenge.sends).unwrap_or(now);
            IssueOutcome::Issued {
                expires_at,
                next_send_at,
            }
        })
    }

    fn withdraw_now(&self, r: &IssueRequest<'_>) {
        let mut shard = self.ticket_shard(r.ticket, Some(r.now));
        if let Some(ticket) = shard.map.get_mut(r.ticket.as_bytes()) {
            if let Some(challenge) = ticket.challenge.as_mut() {
                if let Some(i) = challenge.codes.iter().rposition(|c| c.hash.ct_eq(r.code)) {
                    challenge.codes.remove(i);
                }
                remove_time(&mut challenge.sends, r.now);
            }
            ticket.tidy();
            if ticket.is_empty() {
                shard.map.remove(r.ticket.as_bytes());
            }
        }
        let mut addresses = self.address_shard(r.address_key, r.now);
        if let Some(counter) = addresses.map.get_mut(r.address_key.as_bytes()) {
            remove_time(&mut counter.sends, r.now);
            if counter.sends.is_empty() {
                addresses.map.remove(r.address_key.as_bytes());
            }
        }
    }

    fn verify_now(&self, r: &VerifyRequest<'_>) -> VerifyOutcome {
        let (now, policy) = (r.now, r.policy);
        let mut shard = self.ticket_shard(r.ticket, Some(now));
        let Some(ticket) = shard.map.get_mut(r.ticket.as_bytes()) else {
            return VerifyOutcome::NoCode;
        };
        if let Some(until) = ticket.locked_until(now) {
            return VerifyOutcome::Locked { until };
        }
        let Some(challenge) = ticket.challenge.as_mut() else {
            return VerifyOutcome::NoCode;
        };
        if challenge.exhausted {
            return VerifyOutcome::Exhausted;
        }
        if challenge.live_codes(now).next().is_none() {
            return if challenge.codes.is_empty() {
                VerifyOutcome::NoCode
            } else {
                VerifyOutcome::Expired
            };
        }
        // Compare against every live code, without stopping at a match.
        let matched = challenge
            .live_codes(now)
            .fold(false, |found, c| found | c.hash.ct_eq(r.code));
        let address = challenge.address.clone();
        let void = match (&ticket.binding, &address) {
            (Some(bound), Some(sent_to)) => bound != sent_to,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        if matched && !void {
            let address = address.expect("checked above");
            challenge.clear_codes();
            challenge.address = None;
            challenge.attempts = 0;
            challenge.exhausted = false;
            challenge.round_until = Timestamp::default();
            ticket.consecutive_failures = 0;
            let newly_bound = ticket.binding.is_none();
            if newly_bound {
                ticket.binding = Some(address.clone());
            }
            ticket.tidy();
            return VerifyOutcome::Verified {
                address,
                newly_bound,
                generation: ticket.generation,
            };
        }
        challenge.attempts = challenge.attempts.saturating_add(1);
        ticket.consecutive_failures = ticket.consecutive_failures.saturating_add(1);
        let attempts_left = policy.max_attempts.saturating_sub(challenge.attempts);
        if attempts_left == 0 {
            challenge.exhausted = true;
            challenge.clear_codes();
        }
        let mut locked_until = None;
        if ticket.consecutive_failures >= policy.lockout_threshold {
            let until = now + policy.lockout_duration;
            challenge.locked_until = until;
            challenge.extend_keep(until);
            ticket.consecutive_failures = 0;
            locked_until = Some(until);
        }
        VerifyOutcome::Wrong {
            attempts_left,
            locked_until,
        }
    }

    fn restart_now(&self, key: &TicketKey, now: Timestamp) -> RestartOutcome {
        let mut shard = self.ticket_shard(key, Some(now));
        let Some(ticket) = shard.map.get_mut(key.as_bytes()) else {
            return RestartOutcome::Restarted;
        };
        if ticket.binding.is_some() {
            return RestartOutcome::Bound;
        }
        if let Some(challenge) = ticket.challenge.as_mut() {
            challenge.address = None;
            challenge.clear_codes();
        }
        ticket.tidy();
        if ticket.is_empty() {
            shard.map.remove(key.as_bytes());
        }
        RestartOutcome::Restarted
    }

    fn revoke_now(&self, key: &TicketKey) -> u64 {
        self.ticket_shard(key, None).update(key, |ticket| {
            ticket.generation = ticket.generation.saturating_add(1);
            ticket.generation
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        Ok(self.load_now(ticket, now, policy))
    }

    async fn claim_first_device(&self, ticket: &TicketKey) -> Result<ClaimOutcome, StoreError> {
        Ok(self.claim_now(ticket))
    }

    async fn bind(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
    ) -> Result<BindOutcome, StoreError> {
        Ok(self.bind_now(ticket, address))
    }

    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        Ok(self.issue_now(request))
    }

    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        self.withdraw_now(request);
        Ok(())
    }

    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        Ok(self.verify_now(request))
    }

    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        Ok(self.restart_now(ticket, now))
    }

    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        Ok(self.revoke_now(ticket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_stays_compact() {
        // The long-lived record, inline in the table next to its 16-byte key.
        assert!(std::mem::size_of::<TicketState>() <= 48);
        // The boxed challenge.
        assert!(std::mem::size_of::<Challenge>() <= 112);
        assert_eq!(std::mem::size_of::<CodeRecord>(), 48);
    }

    #[test]
    fn shards_are_a_power_of_two() {
        assert_eq!(MemoryStore::with_shards(0).tickets.len(), 1);
        assert_eq!(MemoryStore::with_shards(3).tickets.len(), 4);
        assert_eq!(MemoryStore::new().addresses.len(), 64);
    }
}
