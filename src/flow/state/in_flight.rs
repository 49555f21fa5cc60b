//! The bound on the flow's store calls in flight: past it, a call is
//! refused at once (the gate answers 503 with `Retry-After`) instead of
//! waiting in a queue behind a store that does not answer.
//!
//! A store that stalls (a paused Redis, a PostgreSQL row or table held
//! locked, a pool with no free connection) holds each call until its own
//! timeout. Without a bound every request that reaches the store while it
//! stalls waits that long, and an on-sale spike piles up thousands of
//! waiting tasks, each holding its request. With the bound, at most
//! [`DEFAULT_LIMIT`] calls wait; the rest are told at once to come back.

use std::sync::Arc;

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

/// Store calls in flight, up to a bound.
#[derive(Debug)]
pub(crate) struct InFlight {
    calls: Semaphore,
    limit: usize,
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

    /// Starts a call of `op`, or refuses it at once when the bound is
    /// reached (never waits).
    pub(crate) fn enter(&self, op: &'static str) -> Result<Call<'_>, StoreError> {
        match self.calls.try_acquire() {
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
                    "the store is busy: as many calls as this flow allows are in flight \
                     (Flow::with_store_concurrency), so this one was refused at once rather than \
                     queued",
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
    /// call is refused at once, and the gate answers `503` with
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

    #[test]
    fn calls_past_the_bound_are_refused_at_once_and_a_finished_call_frees_its_place() {
        let calls = InFlight::new(2);
        let first = calls.enter("load").unwrap();
        let second = calls.enter("load").unwrap();
        assert_eq!(calls.in_flight(), 2);
        let refused = calls.enter("issue_code").unwrap_err();
        assert!(refused.to_string().contains("busy"), "{refused}");
        drop(first);
        assert_eq!(calls.in_flight(), 1);
        let third = calls.enter("load").unwrap();
        drop((second, third));
        assert_eq!(calls.in_flight(), 0);
    }
}
