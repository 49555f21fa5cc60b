//! [`StoreTap`]: a store that hands every call to another, counts the calls,
//! and fails the calls a test tells it to.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::store::{
    BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome, IssueRequest,
    LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateRead, Store,
    StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use crate::ticket::TicketKey;

/// One method of [`Store`], as [`StoreTap`] counts and fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreCall {
    /// [`Store::load`].
    Load,
    /// [`Store::claim_first_device`].
    ClaimFirstDevice,
    /// [`Store::bind`].
    Bind,
    /// [`Store::issue_code`].
    IssueCode,
    /// [`Store::withdraw_code`].
    WithdrawCode,
    /// [`Store::verify_code`].
    VerifyCode,
    /// [`Store::restart`].
    Restart,
    /// [`Store::revoke_devices`].
    RevokeDevices,
    /// [`Store::withdraw_binding`].
    WithdrawBinding,
    /// [`Store::unbind`].
    Unbind,
    /// [`Store::rebind`].
    Rebind,
    /// [`Store::clear_lockout`].
    ClearLockout,
    /// [`Store::forget`].
    Forget,
    /// [`Store::state`].
    State,
}

impl StoreCall {
    /// Every method, in the order [`Store`] declares them.
    pub const ALL: [StoreCall; 14] = [
        StoreCall::Load,
        StoreCall::ClaimFirstDevice,
        StoreCall::Bind,
        StoreCall::IssueCode,
        StoreCall::WithdrawCode,
        StoreCall::VerifyCode,
        StoreCall::Restart,
        StoreCall::RevokeDevices,
        StoreCall::WithdrawBinding,
        StoreCall::Unbind,
        StoreCall::Rebind,
        StoreCall::ClearLockout,
        StoreCall::Forget,
        StoreCall::State,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Fail every call of a method until told otherwise.
const ALWAYS: u64 = u64::MAX;

struct Shared<S> {
    inner: RwLock<Arc<S>>,
    calls: [AtomicU64; StoreCall::ALL.len()],
    /// Per method: calls still to fail (0: none; [`ALWAYS`]: every one).
    failing: [AtomicU64; StoreCall::ALL.len()],
    down: AtomicBool,
    held: Mutex<Vec<Box<dyn Any + Send + Sync>>>,
}

/// A [`Store`] that hands every call to another store, counts the calls by
/// method, and fails the calls a test tells it to, with a [`StoreError`],
/// as a database that is down or drops a connection would.
///
/// Clones share the inner store, the counts and the failures: give one
/// clone to the layer (or to several layers, as instances of one site) and
/// keep another to steer it.
///
/// ```
/// use tower_otp::store::Store;
/// use tower_otp::testing::{StoreCall, StoreTap};
/// use tower_otp::{MemoryStore, TicketKey, Timestamp};
/// use tower_otp::store::Policy;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = StoreTap::new(MemoryStore::new());
/// let ticket = TicketKey::from_bytes([1; 16]);
/// let now = Timestamp::from_millis(1_000);
/// assert!(store.load(&ticket, now, &Policy::default()).await.is_ok());
///
/// store.fail_next(StoreCall::Load, 1);
/// assert!(store.load(&ticket, now, &Policy::default()).await.is_err());
/// assert!(store.load(&ticket, now, &Policy::default()).await.is_ok());
/// assert_eq!(store.calls(StoreCall::Load), 3);
///
/// store.set_down(true);
/// assert!(store.forget(&ticket).await.is_err());
/// # });
/// ```
pub struct StoreTap<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for StoreTap<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Default> Default for StoreTap<S> {
    fn default() -> Self {
        Self::new(S::default())
    }
}

impl<S> fmt::Debug for StoreTap<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreTap")
            .field("down", &self.shared.down.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<S> StoreTap<S> {
    /// A tap on `inner`: every call passes, and is counted.
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// assert_eq!(store.calls(StoreCall::IssueCode), 0);
    /// ```
    pub fn new(inner: S) -> Self {
        Self {
            shared: Arc::new(Shared {
                inner: RwLock::new(Arc::new(inner)),
                calls: Default::default(),
                failing: Default::default(),
                down: AtomicBool::new(false),
                held: Mutex::default(),
            }),
        }
    }

    /// Keeps `value` alive as long as the tap (or a clone of it): a
    /// temporary directory that holds the database, a schema dropped on
    /// drop.
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// let store = tower_otp::testing::StoreTap::new(tower_otp::MemoryStore::new()).holding(dir);
    /// # drop(store);
    /// ```
    pub fn holding(self, value: impl Any + Send + Sync) -> Self {
        self.shared
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(value));
        self
    }

    /// The store the calls go to.
    ///
    /// ```
    /// let store = tower_otp::testing::StoreTap::new(tower_otp::MemoryStore::new());
    /// assert_eq!(store.inner().ticket_count(), 0);
    /// ```
    pub fn inner(&self) -> Arc<S> {
        self.shared
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `inner` in place of the store the calls go to: what the old one
    /// kept is gone for every clone, as after a restart of a store that
    /// does not persist.
    ///
    /// ```
    /// use tower_otp::MemoryStore;
    ///
    /// let store = tower_otp::testing::StoreTap::new(MemoryStore::new());
    /// store.replace(MemoryStore::new());
    /// ```
    pub fn replace(&self, inner: S) {
        *self
            .shared
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(inner);
    }

    /// How many calls of `call` were made so far, failed ones included.
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// assert_eq!(store.calls(StoreCall::VerifyCode), 0);
    /// ```
    pub fn calls(&self, call: StoreCall) -> u64 {
        self.shared.calls[call.index()].load(Ordering::SeqCst)
    }

    /// How many calls were made so far, of every method.
    ///
    /// ```
    /// let store = tower_otp::testing::StoreTap::new(tower_otp::MemoryStore::new());
    /// assert_eq!(store.total_calls(), 0);
    /// ```
    pub fn total_calls(&self) -> u64 {
        StoreCall::ALL.iter().map(|&c| self.calls(c)).sum()
    }

    /// Every call of `call` fails from now on, until [`pass`](Self::pass).
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// store.fail(StoreCall::IssueCode);
    /// store.pass(StoreCall::IssueCode);
    /// ```
    pub fn fail(&self, call: StoreCall) {
        self.shared.failing[call.index()].store(ALWAYS, Ordering::SeqCst);
    }

    /// The next `n` calls of `call` fail; the ones after pass.
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// store.fail_next(StoreCall::Load, 2);
    /// assert_eq!(store.failures_left(StoreCall::Load), 2);
    /// ```
    pub fn fail_next(&self, call: StoreCall, n: u64) {
        self.shared.failing[call.index()].store(n.min(ALWAYS - 1), Ordering::SeqCst);
    }

    /// Calls of `call` pass again.
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// store.pass(StoreCall::Load);
    /// assert_eq!(store.failures_left(StoreCall::Load), 0);
    /// ```
    pub fn pass(&self, call: StoreCall) {
        self.shared.failing[call.index()].store(0, Ordering::SeqCst);
    }

    /// How many more calls of `call` will fail (`u64::MAX`: every one).
    ///
    /// ```
    /// use tower_otp::testing::{StoreCall, StoreTap};
    ///
    /// let store = StoreTap::new(tower_otp::MemoryStore::new());
    /// store.fail(StoreCall::Bind);
    /// assert_eq!(store.failures_left(StoreCall::Bind), u64::MAX);
    /// ```
    pub fn failures_left(&self, call: StoreCall) -> u64 {
        self.shared.failing[call.index()].load(Ordering::SeqCst)
    }

    /// Takes the store down (`true`: every call of every method fails) or
    /// brings it back (`false`: each method as set by
    /// [`fail`](Self::fail) and [`fail_next`](Self::fail_next)).
    ///
    /// ```
    /// let store = tower_otp::testing::StoreTap::new(tower_otp::MemoryStore::new());
    /// store.set_down(true);
    /// assert!(store.is_down());
    /// ```
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Whether the store is [down](Self::set_down).
    ///
    /// ```
    /// assert!(!tower_otp::testing::StoreTap::new(tower_otp::MemoryStore::new()).is_down());
    /// ```
    pub fn is_down(&self) -> bool {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Counts a call, and gives the store to call unless this call must fail.
    fn enter(&self, call: StoreCall) -> Result<Arc<S>, StoreError> {
        let i = call.index();
        self.shared.calls[i].fetch_add(1, Ordering::SeqCst);
        if self.is_down() {
            return Err(StoreError::msg("the store is down (StoreTap)"));
        }
        let failing = self.shared.failing[i]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                ALWAYS => Some(ALWAYS),
                n => Some(n - 1),
            })
            .is_ok();
        if failing {
            return Err(StoreError::msg("the call failed (StoreTap)"));
        }
        Ok(self.inner())
    }
}

#[async_trait]
impl<S: Store> Store for StoreTap<S> {
    async fn load(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<TicketSnapshot, StoreError> {
        self.enter(StoreCall::Load)?.load(ticket, now, policy).await
    }
    async fn claim_first_device(
        &self,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, StoreError> {
        self.enter(StoreCall::ClaimFirstDevice)?
            .claim_first_device(request)
            .await
    }
    async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
        self.enter(StoreCall::Bind)?.bind(request).await
    }
    async fn issue_code(&self, request: &IssueRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.enter(StoreCall::IssueCode)?.issue_code(request).await
    }
    async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
        self.enter(StoreCall::WithdrawCode)?
            .withdraw_code(request)
            .await
    }
    async fn verify_code(&self, request: &VerifyRequest<'_>) -> Result<VerifyOutcome, StoreError> {
        self.enter(StoreCall::VerifyCode)?
            .verify_code(request)
            .await
    }
    async fn restart(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<RestartOutcome, StoreError> {
        self.enter(StoreCall::Restart)?.restart(ticket, now).await
    }
    async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        self.enter(StoreCall::RevokeDevices)?
            .revoke_devices(ticket)
            .await
    }
    async fn withdraw_binding(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.enter(StoreCall::WithdrawBinding)?
            .withdraw_binding(ticket, now, generation)
            .await
    }
    async fn unbind(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<UnbindOutcome, StoreError> {
        self.enter(StoreCall::Unbind)?.unbind(ticket, now).await
    }
    async fn rebind(&self, request: &BindRequest<'_>) -> Result<RebindOutcome, StoreError> {
        self.enter(StoreCall::Rebind)?.rebind(request).await
    }
    async fn clear_lockout(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<LockoutCleared, StoreError> {
        self.enter(StoreCall::ClearLockout)?
            .clear_lockout(ticket, now)
            .await
    }
    async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        self.enter(StoreCall::Forget)?.forget(ticket).await
    }
    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        self.enter(StoreCall::State)?.state(change).await
    }
    fn is_durable(&self) -> bool {
        self.inner().is_durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[test]
    fn every_call_is_listed_once_in_order() {
        for (i, call) in StoreCall::ALL.iter().enumerate() {
            assert_eq!(call.index(), i);
        }
    }

    #[tokio::test]
    async fn failures_are_per_method_and_counted() {
        let store = StoreTap::new(MemoryStore::new());
        let ticket = TicketKey::from_bytes([3; 16]);
        let now = Timestamp::from_millis(1_000);
        store.fail(StoreCall::Restart);
        for _ in 0..3 {
            assert!(store.restart(&ticket, now).await.is_err());
        }
        assert!(store.revoke_devices(&ticket).await.is_ok());
        store.pass(StoreCall::Restart);
        assert!(store.restart(&ticket, now).await.is_ok());
        assert_eq!(store.calls(StoreCall::Restart), 4);
        assert_eq!(store.total_calls(), 5);
        store.set_down(true);
        assert!(store.revoke_devices(&ticket).await.is_err());
        store.set_down(false);
        assert_eq!(store.revoke_devices(&ticket).await.unwrap(), 2);
        store.replace(MemoryStore::new());
        assert_eq!(store.revoke_devices(&ticket).await.unwrap(), 1);
    }
}
