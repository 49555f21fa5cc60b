//! One store read of a ticket's revocation generation, shared by every
//! request that waits for it at the same time: a burst of requests on a
//! ticket this instance has never read (after a restart, say) costs the
//! store one read, not one per request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::ticket::TicketKey;

/// What one read found: the generation, or `None` when the store failed.
type Read = Arc<OnceCell<Option<u64>>>;

/// The reads in flight, by ticket.
#[derive(Debug, Default)]
pub(crate) struct SharedReads {
    in_flight: Mutex<HashMap<TicketKey, Read>>,
}

impl SharedReads {
    /// Runs `read` unless a read of `ticket` is already in flight, and
    /// answers what that one read found. A waiter whose reader was dropped
    /// (its client went away) runs its own `read` in its place.
    pub(crate) async fn read(
        &self,
        ticket: &TicketKey,
        read: impl Future<Output = Option<u64>>,
    ) -> Option<u64> {
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(in_flight.entry(*ticket).or_default())
        };
        let found = *cell.get_or_init(|| read).await;
        // Done: the next request reads afresh (unless a newer read took the slot).
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight
            .get(ticket)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
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

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let reads = SharedReads::default();
        let ticket = TicketKey::from_bytes([8; 16]);
        assert_eq!(reads.read(&ticket, async { None }).await, None);
        assert_eq!(reads.read(&ticket, async { Some(1) }).await, Some(1));
    }
}
