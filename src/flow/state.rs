//! Whether this process may use the store: the store's record of the secret
//! that wrote its state ([`StateRecord`]), checked before the first store
//! operation and again every [`RECHECK`] while the process runs.
//!
//! - A store written with another secret is refused: every operation fails
//!   (the gate answers 503) until the process runs with that secret, or the
//!   store is handed over on purpose ([`Flow::adopt_store`](crate::Flow::adopt_store)).
//! - A store that lost its record after this process saw it (a Redis
//!   restarted without persistence, a wiped database) has lost what it
//!   kept: the record is written again with first devices held, so no
//!   browser is trusted as a ticket's first device on any instance until an
//!   operator says so ([`Flow::trust_first_devices`](crate::Flow::trust_first_devices)).
//!
//! Every operation also takes a place among the store calls in flight
//! (`in_flight`), or is refused when none frees up within 50 ms; a read (`load`)
//! the store does not answer within half a second is given up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, Timestamp};
use crate::flow::Flow;
use crate::flow::keys::Keys;
use crate::flow::shared_read::READ_TIMEOUT;
use crate::secret::Secret;
use crate::store::{
    BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateFingerprint,
    StateRead, StateRecord, Store, StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome,
    VerifyRequest,
};
use crate::ticket::TicketKey;

use self::in_flight::InFlight;

mod in_flight;

/// How often a running process reads the record again: the longest a
/// hold set by another instance, or a store that lost its state, goes
/// unnoticed here.
pub(crate) const RECHECK: Duration = Duration::from_secs(10);

/// The most this process's clock may be from a shared store's: beyond, a
/// code's expiry, a cooldown or a lockout would depend on which instance
/// answers, and the process refuses to work until its clock is set right.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// What the store's record says to this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not read yet: the first operation reads it.
    Unchecked,
    /// Written with this process's secret.
    Ours,
    /// Written with another secret: every operation is refused.
    OtherSecret,
    /// Ours, but this process's clock is this far (milliseconds, positive:
    /// ahead) from the store's: every operation is refused.
    Skewed(i64),
}

#[derive(Debug)]
struct Watch {
    status: Status,
    checked_at: Option<Timestamp>,
    /// This process has seen its record in the store (so a missing one
    /// later means the store lost it).
    seen: bool,
    /// One request is reading the record again.
    rechecking: bool,
}

/// Ends a re-read of the record when dropped.
struct Rechecking<'a>(&'a StateWatch);

impl Drop for Rechecking<'_> {
    fn drop(&mut self) {
        self.0.lock().rechecking = false;
    }
}

/// The process's view of the store: its record, and the calls in flight;
/// shared by the flow's clones.
#[derive(Debug)]
pub(crate) struct StateWatch {
    fingerprint: StateFingerprint,
    /// The flow's store calls in flight, bounded.
    calls: InFlight,
    watch: Mutex<Watch>,
    /// One foreground check at a time (the first operations of a process).
    checking: tokio::sync::Mutex<()>,
    held: AtomicBool,
    refused: AtomicBool,
}

/// Why a store is refused, as an operation's error.
fn refusal(status: Status) -> Result<(), StoreError> {
    match status {
        Status::OtherSecret => Err(StoreError::msg(
            "the store's state was written with another secret: refusing to use it \
             (run with the secret that wrote it, or hand the store over with Flow::adopt_store)",
        )),
        Status::Skewed(_) => Err(StoreError::msg(
            "this instance's clock is more than 5 seconds from the store's: refusing to use it \
             until the clock is set right (NTP)",
        )),
        Status::Unchecked | Status::Ours => Ok(()),
    }
}

/// The skew between `now` (this process) and the store's clock, when the
/// store has one and this process's clock tells the real time.
fn skew(now: Timestamp, read: &StateRead, real_time: bool) -> Option<i64> {
    let store = read.store_time.filter(|_| real_time)?;
    let diff = i128::from(now.as_millis()) - i128::from(store.as_millis());
    let diff = i64::try_from(diff).unwrap_or(i64::MAX);
    (diff.unsigned_abs() > MAX_CLOCK_SKEW.as_millis() as u64).then_some(diff)
}

impl StateWatch {
    pub(crate) fn new(fingerprint: StateFingerprint) -> Self {
        Self::with_limit(fingerprint, in_flight::DEFAULT_LIMIT)
    }

    /// A watch whose flow has at most `limit` store calls in flight.
    pub(crate) fn with_limit(fingerprint: StateFingerprint, limit: usize) -> Self {
        Self {
            fingerprint,
            calls: InFlight::new(limit),
            watch: Mutex::new(Watch {
                status: Status::Unchecked,
                checked_at: None,
                seen: false,
                rechecking: false,
            }),
            checking: tokio::sync::Mutex::new(()),
            held: AtomicBool::new(false),
            refused: AtomicBool::new(false),
        }
    }

    pub(crate) fn fingerprint(&self) -> StateFingerprint {
        self.fingerprint
    }

    /// First devices are held: every device verifies by code.
    pub(crate) fn first_devices_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// The store was found written with another secret, or with a clock
    /// too far from this process's.
    pub(crate) fn refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before a store operation at `now`: reads the record when this
    /// process has not yet (all callers wait for that one read), and again
    /// when the last read is older than [`RECHECK`] (one caller reads, the
    /// others go on with what is known). Errors when the store is another
    /// secret's or its clock too far from `now`, or when the first read
    /// fails.
    pub(crate) async fn ready(
        &self,
        store: &dyn Store,
        now: Timestamp,
        real_time: bool,
    ) -> Result<(), StoreError> {
        let recheck = {
            let mut watch = self.lock();
            let stale = watch
                .checked_at
                .is_none_or(|at| now.saturating_since(at) >= RECHECK);
            match watch.status {
                Status::Unchecked => false,
                _ if stale && !watch.rechecking => {
                    watch.rechecking = true;
                    true
                }
                status => return refusal(status),
            }
        };
        if recheck {
            // Cleared however this ends, a dropped request included.
            let _rechecking = Rechecking(self);
            if let Err(error) = self.check(store, now, real_time).await {
                // The store is down: the operation itself will say so.
                tracing::warn!(%error, "tower-otp: could not read the store's state record");
            }
        } else {
            // The first read: everyone waits for one.
            let _one = self.checking.lock().await;
            if self.lock().status == Status::Unchecked {
                self.check(store, now, real_time).await?;
            }
        }
        let status = self.lock().status;
        refusal(status)
    }

    /// Reads the record (writing this secret's when there is none) and
    /// takes in what it says.
    pub(crate) async fn check(
        &self,
        store: &dyn Store,
        now: Timestamp,
        real_time: bool,
    ) -> Result<StateRead, StoreError> {
        let seen = self.lock().seen;
        // A record missing after this process saw one: the store lost what
        // it kept, so the new record holds first devices.
        let initial = StateRecord {
            fingerprint: self.fingerprint,
            first_devices_held: seen,
        };
        let read = store.state(StateChange::Init(initial)).await?;
        self.take(read, now, real_time);
        Ok(read)
    }

    /// Takes in a record read or written at `now` (by a clock that tells
    /// the real time, or not).
    pub(crate) fn take(&self, read: StateRead, now: Timestamp, real_time: bool) {
        let mut watch = self.lock();
        let ours = read.record.fingerprint == self.fingerprint;
        let status = match (ours, skew(now, &read, real_time)) {
            (false, _) => Status::OtherSecret,
            (true, Some(skew)) => Status::Skewed(skew),
            (true, None) => Status::Ours,
        };
        if status != watch.status {
            match status {
                Status::OtherSecret => tracing::error!(
                    stored = ?read.record.fingerprint,
                    ours = ?self.fingerprint,
                    "tower-otp: the store's state was written with another secret; refusing \
                     every ticket (503) until this process runs with that secret, or the store \
                     is handed over with Flow::adopt_store"
                ),
                Status::Skewed(skew) => tracing::error!(
                    skew_ms = skew,
                    "tower-otp: this instance's clock is {} s {} the store's: a code's expiry, a \
                     cooldown or a lockout would depend on which instance answers; refusing \
                     every ticket (503) until the clock is set right (NTP)",
                    skew.unsigned_abs() / 1000,
                    if skew > 0 { "ahead of" } else { "behind" }
                ),
                _ if watch.status != Status::Unchecked => {
                    tracing::info!("tower-otp: the store may be used again");
                }
                _ => {}
            }
        }
        if ours && read.written && watch.seen && read.record.first_devices_held {
            tracing::error!(
                "tower-otp: the store lost its state record, and with it what it kept: first \
                 devices are held (every device verifies by code) until an operator calls \
                 Flow::trust_first_devices"
            );
        }
        if ours && read.record.first_devices_held != self.first_devices_held() {
            tracing::warn!(
                held = read.record.first_devices_held,
                "tower-otp: first devices are {}",
                if read.record.first_devices_held {
                    "held: every device verifies by code"
                } else {
                    "trusted again"
                }
            );
        }
        watch.status = status;
        watch.checked_at = Some(now);
        watch.seen |= ours;
        self.refused
            .store(status != Status::Ours, Ordering::Release);
        self.held
            .store(ours && read.record.first_devices_held, Ordering::Release);
    }
}

/// The flow's store: every operation takes a place among the calls in
/// flight (refused when none frees up within 50 ms), then makes sure the store is
/// this secret's ([`StateWatch::ready`]).
pub(crate) struct CheckedStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) watch: Arc<StateWatch>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl CheckedStore {
    /// A place among the calls in flight for `op`, or the refusal.
    async fn enter(&self, op: &'static str) -> Result<in_flight::Call<'_>, StoreError> {
        self.watch.calls.enter(op).await
    }

    async fn ready(&self) -> Result<&dyn Store, StoreError> {
        let real_time = self.clock.follows_real_time();
        self.watch
            .ready(&*self.inner, self.clock.now(), real_time)
            .await?;
        Ok(&*self.inner)
    }
}

#[async_trait]
impl Store for CheckedStore {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        let _call = self.enter("load").await?;
        // A read changes nothing: one the store does not answer in time is
        // given up, and its request answered (503) rather than held.
        let read = async { self.ready().await?.load(ticket, now, policy).await };
        tokio::time::timeout(READ_TIMEOUT, read)
            .await
            .map_err(|_| StoreError::msg("the store did not answer a read within 500 ms"))?
    }
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        let _call = self.enter("claim_first_device").await?;
        let store = self.ready().await?;
        if self.watch.first_devices_held() {
            return Ok(ClaimOutcome::Refused);
        }
        store.claim_first_device(request).await
    }
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        let _call = self.enter("bind").await?;
        self.ready().await?.bind(request).await
    }
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        let _call = self.enter("issue_code").await?;
        self.ready().await?.issue_code(request).await
    }
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        // Undoing a code issued a moment ago: never refused on the way.
        self.inner.withdraw_code(request).await
    }
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        let _call = self.enter("verify_code").await?;
        self.ready().await?.verify_code(request).await
    }
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        let _call = self.enter("restart").await?;
        self.ready().await?.restart(ticket, now).await
    }
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        let _call = self.enter("revoke_devices").await?;
        self.ready().await?.revoke_devices(ticket).await
    }
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        let _call = self.enter("withdraw_binding").await?;
        self.ready()
            .await?
            .withdraw_binding(ticket, now, generation)
            .await
    }
    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        let _call = self.enter("unbind").await?;
        self.ready().await?.unbind(ticket, now).await
    }
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        let _call = self.enter("rebind").await?;
        self.ready().await?.rebind(request).await
    }
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        let _call = self.enter("clear_lockout").await?;
        self.ready().await?.clear_lockout(ticket, now).await
    }
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        let _call = self.enter("forget").await?;
        self.ready().await?.forget(ticket).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        let _call = self.enter("state").await?;
        let read = self.inner.state(change).await?;
        let real_time = self.clock.follows_real_time();
        self.watch.take(read, self.clock.now(), real_time);
        Ok(read)
    }
    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }
}

/// What [`Flow::check_state`](crate::Flow::check_state) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateCheck {
    /// The store had no record: this secret's was written now (a new store,
    /// or one that lost its state before this process saw it).
    pub new_store: bool,
    /// First devices are held: every device verifies by code, the first
    /// included, until [`Flow::trust_first_devices`](crate::Flow::trust_first_devices).
    pub first_devices_held: bool,
}

/// Why the store's state cannot be used with this flow's secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The store's state was written with another secret.
    #[error(
        "the store's state was written with another secret than this process's: every \
         ticket, binding and lockout in it is keyed by that secret, so this process would take \
         bound tickets for new ones. Run with the secret that wrote it (OTP_SECRET), or, to \
         change the secret on purpose, hand the store over with Flow::adopt_store(previous \
         secret), which holds first devices until you trust them again"
    )]
    OtherSecret,
    /// This process's clock is more than 5 seconds from the store's (shared
    /// by several machines): a code's expiry, a cooldown or a lockout would
    /// depend on which instance answers.
    #[error(
        "this process's clock is {} ms {} the store's (more than 5 s): a code's expiry, a \
         cooldown or a lockout would depend on which instance answers. Set the clock right \
         (NTP) on every instance",
        skew_ms.unsigned_abs(),
        if *skew_ms > 0 { "ahead of" } else { "behind" }
    )]
    ClockSkew {
        /// How far ahead (positive) or behind this process's clock is.
        skew_ms: i64,
    },
    /// The previous secret given to [`Flow::adopt_store`](crate::Flow::adopt_store)
    /// did not write the store's state either.
    #[error("the store's state was written with neither this secret nor the previous one given")]
    NotThePreviousSecret,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Flow {
    /// Checks that the store's state was written with this flow's secret,
    /// and writes this secret's fingerprint into a store that has none (a
    /// new one). Call it at start, after `migrate`, to fail at once with a
    /// message that names the cause and the fix; a flow that was not asked
    /// checks on its first store operation, and refuses every operation
    /// (the gate answers 503, never a pass) on a store written with
    /// another secret, whose tickets it cannot read.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, flow::StateError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = std::sync::Arc::new(MemoryStore::new());
    /// let flow = Flow::new(&Secret::random(), store.clone(), CapturingMailer::new());
    /// assert!(flow.check_state().await?.new_store);
    ///
    /// // Another secret on the same store is refused.
    /// let other = Flow::new(&Secret::random(), store, CapturingMailer::new());
    /// assert!(matches!(other.check_state().await, Err(StateError::OtherSecret)));
    /// # Ok::<(), StateError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`StateError::OtherSecret`], or the store's error.
    pub async fn check_state(&self) -> Result<StateCheck, StateError> {
        let real_time = self.inner.clock.follows_real_time();
        let now = self.now();
        let read = self
            .inner
            .state
            .check(&*self.inner.raw_store, now, real_time)
            .await?;
        if read.record.fingerprint != self.inner.state.fingerprint() {
            return Err(StateError::OtherSecret);
        }
        if let Some(skew_ms) = skew(now, &read, real_time) {
            return Err(StateError::ClockSkew { skew_ms });
        }
        Ok(StateCheck {
            new_store: read.written,
            first_devices_held: read.record.first_devices_held,
        })
    }

    /// Holds first devices on every instance sharing the store: no browser
    /// is trusted as a ticket's first device, every one verifies by code,
    /// until [`trust_first_devices`](Flow::trust_first_devices). For when the
    /// store may have forgotten claims and bindings (restored from a backup,
    /// say): bound tickets then stay with their owners while the bindings
    /// are applied again ([`pre_bind`](Flow::pre_bind) from the orders).
    /// Other instances notice within 10 seconds.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// flow.hold_first_devices().await?;
    /// assert!(flow.check_state().await?.first_devices_held);
    /// flow.trust_first_devices().await?;
    /// assert!(!flow.check_state().await?.first_devices_held);
    /// # Ok::<(), tower_otp::flow::StateError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`StateError::OtherSecret`], or the store's error.
    pub async fn hold_first_devices(&self) -> Result<(), StateError> {
        self.set_first_devices_held(true).await
    }

    /// Trusts first devices again after
    /// [`hold_first_devices`](Flow::hold_first_devices), or after this flow
    /// found that the store had lost its state.
    ///
    /// # Errors
    /// [`StateError::OtherSecret`], or the store's error.
    pub async fn trust_first_devices(&self) -> Result<(), StateError> {
        self.set_first_devices_held(false).await
    }

    async fn set_first_devices_held(&self, held: bool) -> Result<(), StateError> {
        self.check_state().await?;
        let record = StateRecord {
            fingerprint: self.inner.state.fingerprint(),
            first_devices_held: held,
        };
        let read = self
            .inner
            .raw_store
            .state(StateChange::Replace(record))
            .await?;
        self.take_state(read);
        Ok(())
    }

    fn take_state(&self, read: StateRead) {
        let real_time = self.inner.clock.follows_real_time();
        self.inner.state.take(read, self.now(), real_time);
    }

    /// Hands a store written with `previous` over to this flow's secret: a
    /// deliberate change of secret. Everything the store keeps is keyed by
    /// the secret that wrote it, so under the new one every ticket reads as
    /// new: first devices are held (every device verifies by code) until the
    /// bindings are applied again ([`pre_bind`](Flow::pre_bind) from the
    /// orders) and [`trust_first_devices`](Flow::trust_first_devices) is
    /// called. Instances still running with `previous` refuse the store
    /// (503) from their next check, within 10 seconds.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let old = Secret::random();
    /// Flow::new(&old, store.clone(), CapturingMailer::new()).check_state().await?;
    ///
    /// let new = Flow::new(&Secret::random(), store, CapturingMailer::new());
    /// new.adopt_store(&old).await?;
    /// assert!(new.check_state().await?.first_devices_held);
    /// # Ok::<(), tower_otp::flow::StateError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`StateError::NotThePreviousSecret`] when neither secret wrote the
    /// store's state, or the store's error.
    pub async fn adopt_store(&self, previous: &Secret) -> Result<(), StateError> {
        let ours = self.inner.state.fingerprint();
        let held = StateRecord {
            fingerprint: ours,
            first_devices_held: true,
        };
        let store = &self.inner.raw_store;
        let read = store.state(StateChange::Init(held)).await?;
        let read = if read.record.fingerprint == ours {
            read
        } else if read.record.fingerprint == Keys::state_fingerprint(previous) {
            tracing::warn!(
                "tower-otp: the store was handed over to a new secret; first devices are held \
                 until Flow::trust_first_devices"
            );
            store.state(StateChange::Replace(held)).await?
        } else {
            return Err(StateError::NotThePreviousSecret);
        };
        self.take_state(read);
        Ok(())
    }
}
