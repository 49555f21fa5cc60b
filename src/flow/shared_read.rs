//! One store read of a ticket's revocation generation, shared by every
//! request that waits for it at the same time: a burst of requests on a
//! ticket this instance has never read (after a restart, say) costs the
//! store one read, not one per request.
//!
//! No request waits for the read longer than [`READ_TIMEOUT`]: past it, it
//! goes on without the generation (the gate answers 503), whatever the
//! store does meanwhile.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::ticket::TicketKey;

/// The longest a request waits for a generation read. A healthy store
/// answers in milliseconds; one that takes longer than this is stalled,
/// and the device is told so (503) rather than held for the store's own
/// timeout (seconds).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// What one read found: the generation, or `None` when the store failed.
type Read = Arc<OnceCell<Option<u64>>>;

/// The reads in flight, by ticket.
#[derive(Debug, Default)]
pub(crate) struct SharedReads {
    in_flight: Mutex<HashMap<TicketKey, Read>>,
}

impl SharedReads {
    /// Runs `read` unless a read of `ticket` is already in flight, and
    /// answers what that one read found, or `None` after [`READ_TIMEOUT`].
    /// A waiter whose reader was dropped (its client went away, or its
    /// wait timed out) runs its own `read` in its place.
    pub(crate) async fn read(
        &self,
        ticket: &TicketKey,
        read: impl Future<Output = Option<u64>>,
    ) -> Option<u64> {
        self.read_within(ticket, READ_TIMEOUT, read).await
    }

    /// [`read`](Self::read), waiting at most `limit`.
    async fn read_within(
        &self,
        ticket: &TicketKey,
        limit: Duration,
        read: impl Future<Output = Option<u64>>,
    ) -> Option<u64> {
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(in_flight.entry(*ticket).or_default())
        };
        let found = match tokio::time::timeout(limit, cell.get_or_init(|| read)).await {
            Ok(found) => *found,
            Err(_) => {
                tracing::warn!(
                    ticket = ticket.label(),
                    waited_ms = limit.as_millis() as u64,
                    "the store did not answer a generation read in time"
                );
                None
            }
        };
        // Done: the next request reads afresh (unless a newer read took the
        // slot). A read that did not finish stays while others wait on it.
        // Clones are taken and dropped under the lock, so the count is
        // every waiter's.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let finished = cell.initialized();
        let ours = in_flight
            .get(ticket)
            .is_some_and(|current| Arc::ptr_eq(current, &cell));
        drop(cell);
        if ours
            && (finished
                || in_flight
                    .get(ticket)
                    .is_some_and(|c| Arc::strong_count(c) == 1))
        {
            in_flight.remove(ticket);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_waiters_share_one_read() {
        let reads = Arc::new(SharedReads::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let ticket = TicketKey::from_bytes([7; 16]);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (reads, calls, gate) = (reads.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                reads
                    .read(&ticket, async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Some(3)
                    })
                    .await
            }));
        }
        // Every task is waiting on the one read before it finishes.
        while reads
            .in_flight
            .lock()
            .unwrap()
            .get(&ticket)
            .map(Arc::strong_count)
            != Some(51)
        {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Some(3));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            reads.in_flight.lock().unwrap().is_empty(),
            "nothing left behind"
        );
        // A later request reads afresh.
        let again = reads.read(&ticket, async { Some(4) }).await;
        assert_eq!(again, Some(4));
    }

    /// A read the store never answers holds no waiter past the limit, and
    /// leaves nothing behind once they are gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_read_holds_its_waiters_no_longer_than_the_limit() {
        let reads = Arc::new(SharedReads::default());
        let ticket = TicketKey::from_bytes([9; 16]);
        let limit = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let reads = reads.clone();
            tasks.push(tokio::spawn(async move {
                let stalled = std::future::pending::<Option<u64>>();
                reads.read_within(&ticket, limit, stalled).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), None);
        }
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(reads.in_flight.lock().unwrap().is_empty(), "nothing left");
        // The store answers again: the next read finds the generation.
        assert_eq!(reads.read(&ticket, async { Some(2) }).await, Some(2));
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let reads = SharedReads::default();
        let ticket = TicketKey::from_bytes([8; 16]);
        assert_eq!(reads.read(&ticket, async { None }).await, None);
        assert_eq!(reads.read(&ticket, async { Some(1) }).await, Some(1));
    }
}
