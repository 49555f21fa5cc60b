//! The bound on the flow's store calls in flight: past it, a call waits
//! [`WAIT`] at most for a place, with a bounded number of others, and is
//! then refused (the gate answers 503 with `Retry-After`) instead of
//! waiting in a queue behind a store that does not answer. A busy store
//! frees places within that wait, so a burst is served, not turned away; a
//! stalled one does not, and its callers are answered within it.
//!
//! A store that stalls (a paused Redis, a PostgreSQL row or table held
//! locked, a pool with no free connection) holds each call until its own
//! timeout. Without a bound every request that reaches the store while it
//! stalls waits that long, and an on-sale spike piles up thousands of
//! waiting tasks, each holding its request. With the bound, at most
//! [`DEFAULT_LIMIT`] calls wait; the rest are told at once to come back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::{CheckedStore, StateWatch};
use crate::error::ConfigError;
use crate::flow::Flow;
use crate::store::StoreError;

/// Store calls in flight per flow unless
/// [`Flow::with_store_concurrency`] says otherwise. The on-sale spike is
/// about 4,000 store calls a second (1,700 first-device claims and 170
/// sends, two calls each); at a healthy store's few milliseconds a call,
/// that is 10 to 20 in flight. 128 leaves room for a slow moment (a
/// checkpoint, a failover) six times over, and is about 30 ms of the
/// spike's calls: a store further behind than that is stalled, not busy,
/// and a visitor is better told at once than held for the store's timeout.
pub(crate) const DEFAULT_LIMIT: usize = 128;

/// The largest bound [`Flow::with_store_concurrency`] takes.
const MAX_LIMIT: usize = 65_536;

/// How long a call waits for a place once the bound is reached: a healthy
/// store finishes a call in a few milliseconds, so places free up well
/// within it; a stalled store's callers are answered after it.
pub(crate) const WAIT: Duration = Duration::from_millis(50);

/// Calls that may wait for a place at once, per place: past them a call is
/// refused without waiting, so waiting tasks stay bounded too.
const WAITERS_PER_PLACE: usize = 8;

/// Store calls in flight, up to a bound.
#[derive(Debug)]
pub(crate) struct InFlight {
    calls: Semaphore,
    limit: usize,
    /// Calls waiting for a place now.
    waiting: AtomicUsize,
}

/// A call's place in the wait: counted while it lives (a request dropped
/// while waiting leaves the count right).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One store call in flight: ends when dropped.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        crate::metrics::store_call_ended();
    }
}

impl InFlight {
    /// At most `limit` calls at once.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            calls: Semaphore::new(limit),
            limit,
            waiting: AtomicUsize::new(0),
        }
    }

    /// The bound.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Calls in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.limit - self.calls.available_permits()
    }

    /// A place, waiting [`WAIT`] at most, among a bounded number of waiters.
    async fn place(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.calls.try_acquire() {
            return Some(permit);
        }
        let waiters = self.limit.saturating_mul(WAITERS_PER_PLACE);
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= waiters {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let _waiting = Waiting(&self.waiting);
        tokio::time::timeout(WAIT, self.calls.acquire())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Starts a call of `op`; when the bound is reached, waits [`WAIT`] at
    /// most for a place, then refuses it.
    pub(crate) async fn enter(&self, op: &'static str) -> Result<Call<'_>, StoreError> {
        match self.place().await.ok_or(()) {
            Ok(permit) => {
                #[cfg(feature = "metrics")]
                crate::metrics::store_call_started();
                Ok(Call { _permit: permit })
            }
            Err(_) => {
                #[cfg(feature = "metrics")]
                crate::metrics::store_busy(op);
                let _ = op;
                Err(StoreError::msg(
                    "the store is busy: as many calls as this flow allows were in flight \
                     (Flow::with_store_concurrency) for as long as a call waits for a place, \
                     so this one was refused rather than queued",
                ))
            }
        }
    }
}

impl Default for InFlight {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl Flow {
    /// How many store calls may be in flight at once; past the bound a
    /// call waits 50 ms at most for a place (among at most eight waiters a
    /// place: the rest are refused without waiting), then is refused, and
    /// the gate answers `503` with
    /// `Retry-After` (a JSON client reads `"error": "unavailable"`), instead
    /// of queueing behind a store that does not answer. Devices whose
    /// ticket generation this instance knows keep passing: they make no
    /// store call. Default: 128 (about 30 ms of an on-sale spike's store
    /// calls; a store that far behind is stalled, not busy).
    ///
    /// Size it from the store's capacity: a pool of 10 PostgreSQL
    /// connections serves 10 calls at a time, and the calls beyond wait
    /// for a connection.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_store_concurrency(32)?;
    /// assert_eq!(flow.store_concurrency(), 32);
    /// assert!(Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_store_concurrency(0)
    ///     .is_err());
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 to 65,536.
    pub fn with_store_concurrency(self, limit: usize) -> Result<Self, ConfigError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ConfigError::out_of_range(
                "store concurrency",
                "1 to 65536 calls",
            ));
        }
        Ok(self.edit(|i| {
            i.state = Arc::new(StateWatch::with_limit(i.state.fingerprint(), limit));
            i.store = Arc::new(CheckedStore {
                inner: Arc::clone(&i.raw_store),
                watch: Arc::clone(&i.state),
                clock: Arc::clone(&i.clock),
            });
        }))
    }

    /// The bound on store calls in flight ([`Flow::with_store_concurrency`]).
    pub fn store_concurrency(&self) -> usize {
        self.inner.state.calls.limit()
    }

    /// Store calls in flight now.
    pub fn store_calls_in_flight(&self) -> usize {
        self.inner.state.calls.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_bound_wait_briefly_then_are_refused_and_a_finished_call_frees_its_place()
     {
        let calls = InFlight::new(2);
        let first = calls.enter("load").await.unwrap();
        let second = calls.enter("load").await.unwrap();
        assert_eq!(calls.in_flight(), 2);
        let started = tokio::time::Instant::now();
        let refused = calls.enter("issue_code").await.unwrap_err();
        assert_eq!(
            started.elapsed(),
            WAIT,
            "refused after the wait, not sooner"
        );
        assert!(refused.to_string().contains("busy"), "{refused}");
        assert_eq!(calls.waiting.load(Ordering::Relaxed), 0);
        drop(first);
        assert_eq!(calls.in_flight(), 1);
        let third = calls.enter("load").await.unwrap();
        drop((second, third));
        assert_eq!(calls.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_freed_within_the_wait_is_taken() {
        let calls = Arc::new(InFlight::new(1));
        let first = calls.enter("load").await.unwrap();
        let waiter = {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move { calls.enter("issue_code").await.map(drop).is_ok() })
        };
        tokio::time::sleep(WAIT / 2).await;
        drop(first);
        assert!(
            waiter.await.unwrap(),
            "the freed place went to the waiting call"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn past_its_waiters_a_call_is_refused_without_waiting() {
        let calls = Arc::new(InFlight::new(1));
        let _held = calls.enter("load").await.unwrap();
        let waiters: Vec<_> = (0..WAITERS_PER_PLACE)
            .map(|_| {
                let calls = Arc::clone(&calls);
                tokio::spawn(async move { calls.enter("load").await.map(drop).is_err() })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(calls.waiting.load(Ordering::Relaxed), WAITERS_PER_PLACE);
        let started = tokio::time::Instant::now();
        assert!(calls.enter("issue_code").await.is_err());
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
        for waiter in waiters {
            assert!(
                waiter.await.unwrap(),
                "each waiter is refused after the wait"
            );
        }
        assert_eq!(calls.waiting.load(Ordering::Relaxed), 0);
    }
}
