//! The in-process store.
//!
//! It follows the [record contract](super::records): the rules run on its
//! records from there; this file only keeps the records and the locks.
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

use super::records::RecordStore;
use super::rules::{AddressSends, TicketRecord};
use super::{AddressKey, StateChange, StateRead, StateRecord, StoreError};
use crate::clock::Timestamp;
use crate::ticket::TicketKey;

/// Shards of each map unless [`MemoryStore::with_shards`] says otherwise.
const DEFAULT_SHARDS: usize = 64;

/// How often (in the time the callers pass in) a shard drops what expired.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Keeps challenge state in this process's memory: for tests and for
/// explicitly ephemeral use.
///
/// **A restart forgets everything**: every first-device claim, every binding,
/// every lockout, every revocation and every send counted. With
/// [`FirstDevice::Trust`](crate::FirstDevice::Trust), a ticket that was bound
/// (even one locked out after failed guesses) is then unclaimed again, and the
/// next browser that opens it, anyone's, is trusted as its first device and
/// may bind its own address. A service that runs for real keeps its state in
/// a durable store: `SqliteStore` (feature `sqlite`, one process),
/// `PostgresStore` (feature `postgres`) or `RedisStore` (feature `redis`,
/// with persistence) for several instances. [`Store::is_durable`](super::Store::is_durable) is `false`
/// here, so the layer can warn about it.
///
/// It serves one instance only; several instances behind a load balancer
/// need a shared store. It follows the [`Store`](super::Store) contract, checked by the
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
/// consecutive-failure count. A claim on a ticket that stays unbound lapses
/// after [`Policy::claim_lifetime`](super::Policy::claim_lifetime) (30 days by default) and is swept then,
/// so requests on made-up ticket ids leave nothing for ever. That record grows with the number of tickets
/// ever claimed, bound, revoked or failed: 72 bytes in the table plus the
/// bound address, about 150 to 200 bytes per ticket in all (measured: 151 at
/// 100,000 bound tickets, 200 at 1,000,000, before a binding kept its
/// time and language, 8 bytes more). A ticket with none of these is
/// removed.
///
/// The sweep trusts the times it is given: every caller of one store must
/// use the same clock.
///
/// ```
/// use tower_otp::store::{BindOutcome, BindRequest, Store};
/// use tower_otp::{EmailAddress, MemoryStore, TicketKey, Timestamp};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let ticket = TicketKey::from_bytes([7; 16]);
/// let address = EmailAddress::parse("taro@example.com").unwrap();
/// let request = BindRequest::new(&ticket, &address, Timestamp::from_millis(1_000));
/// assert_eq!(store.bind(&request).await.unwrap(), BindOutcome::Bound);
/// assert_eq!(store.ticket_count(), 1);
/// # });
/// ```
pub struct MemoryStore {
    tickets: Box<[Mutex<TicketShard>]>,
    addresses: Box<[Mutex<AddressShard>]>,
    hasher: RandomState,
    state: Mutex<Option<StateRecord>>,
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
            state: Mutex::default(),
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

    /// Runs `f` with the counters named by `keys` taken out of their
    /// shards, whose locks are held (taken in ascending shard order, so two
    /// operations never wait on each other in a cycle), and puts back those
    /// left non-empty.
    fn with_counters<R>(
        &self,
        keys: &[AddressKey],
        now: Option<Timestamp>,
        f: impl FnOnce(&mut [AddressSends]) -> R,
    ) -> R {
        let index: Vec<usize> = keys
            .iter()
            .map(|key| self.shard_index(key.as_bytes()))
            .collect();
        let mut order = index.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<MutexGuard<'_, AddressShard>> = order
            .iter()
            .map(|&i| {
                let mut shard = lock(&self.addresses[i]);
                if let Some(now) = now {
                    shard.maybe_sweep(now);
                }
                shard
            })
            .collect();
        let slot = |i: usize| order.binary_search(&index[i]).expect("locked above");
        let mut counters: Vec<AddressSends> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                guards[slot(i)]
                    .map
                    .remove(key.as_bytes())
                    .unwrap_or_default()
            })
            .collect();
        let out = f(&mut counters);
        for (i, (key, counter)) in keys.iter().zip(counters).enumerate() {
            if !counter.is_empty() {
                guards[slot(i)].map.insert(*key.as_bytes(), counter);
            }
        }
        out
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

#[derive(Default)]
struct TicketShard {
    map: HashMap<[u8; 16], TicketRecord>,
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
            ticket.sweep(now);
            !ticket.is_empty()
        });
        self.next_sweep = now + SWEEP_INTERVAL;
    }

    /// Runs `f` on the ticket's record (a fresh one if there is none) and
    /// removes the record again if it is left empty.
    fn update<R>(&mut self, key: &TicketKey, f: impl FnOnce(&mut TicketRecord) -> R) -> R {
        let bytes = *key.as_bytes();
        let ticket = self.map.entry(bytes).or_default();
        let out = f(ticket);
        if ticket.is_empty() {
            self.map.remove(&bytes);
        }
        out
    }
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
        self.map.retain(|_, a| !a.expired(now));
        self.next_sweep = now + SWEEP_INTERVAL;
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn read<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        read: impl for<'r> FnOnce(Option<&'r TicketRecord>) -> T + Send,
    ) -> Result<T, StoreError> {
        let shard = self.ticket_shard(ticket, Some(now));
        Ok(read(shard.map.get(ticket.as_bytes())))
    }

    async fn update<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Option<Timestamp>,
        counters: impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync,
        rule: impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync,
    ) -> Result<T, StoreError> {
        let mut shard = self.ticket_shard(ticket, now);
        Ok(shard.update(ticket, |record| {
            let keys = counters(record);
            if keys.is_empty() {
                return rule(record, &mut []);
            }
            // The counters, under their own locks, taken after the ticket's.
            self.with_counters(&keys, now, |c| rule(record, c))
        }))
    }

    async fn remove(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        Ok(self
            .ticket_shard(ticket, None)
            .map
            .remove(ticket.as_bytes())
            .is_some())
    }

    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(apply_state_change(&mut state, change))
    }

    fn is_durable(&self) -> bool {
        false
    }
}

/// [`Store::state`] on a record held in memory.
fn apply_state_change(state: &mut Option<StateRecord>, change: StateChange) -> StateRead {
    match (change, *state) {
        (StateChange::Init(_), Some(record)) => StateRead {
            record,
            written: false,
            store_time: None,
        },
        (StateChange::Init(record) | StateChange::Replace(record), _) => {
            *state = Some(record);
            StateRead {
                record,
                written: true,
                store_time: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CodeRecord;
    use crate::store::rules::Challenge;

    #[test]
    fn state_stays_compact() {
        // The long-lived record, inline in the table next to its 16-byte key.
        // (56 since claims lapse: the claim's end time; 64 since bindings
        // keep their time and their owner's language.)
        assert!(std::mem::size_of::<TicketRecord>() <= 64);
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
