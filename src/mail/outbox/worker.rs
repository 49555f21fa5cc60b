//! The worker: takes letters from the front at the configured pace and
//! delivers each in its own task (checks, sends, retries, withdraws).

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::queue::Entry;
use super::{Delivery, Letter, Shared};
use crate::mail::Mailer;

/// Runs until the outbox is closed and drained.
pub(super) async fn run<M: Mailer>(shared: Arc<Shared<M>>) {
    let period = shared.settings.period();
    loop {
        // Wait for a letter (or the end).
        loop {
            let wake = shared.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            {
                let state = shared.lock();
                if !state.queue.is_empty() {
                    break;
                }
                if state.closed {
                    return;
                }
            }
            wake.await;
        }
        // Wait for its slot, then for a free connection; a letter that
        // arrives meanwhile for the same ticket still replaces it.
        let next_slot = shared.lock().next_slot;
        if let Some(at) = next_slot {
            tokio::time::sleep_until(at).await;
        }
        let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else {
            return;
        };
        let entry = {
            let mut state = shared.lock();
            let Some(entry) = state.queue.pop() else {
                continue;
            };
            // The next slot counts from this one's, so timer lateness does
            // not add up over a long queue; after a quiet spell (a period
            // or more late) it counts from now, so no burst follows.
            let now = Instant::now();
            let from = match state.next_slot {
                Some(at) if now.saturating_duration_since(at) < period => at,
                _ => now,
            };
            state.next_slot = Some(from + period);
            state.in_flight += 1;
            state
                .ledger
                .record(entry.letter.ticket, entry.slot, Delivery::Sending, now);
            #[cfg(feature = "metrics")]
            super::metrics::depth(state.queue.len());
            entry
        };
        #[cfg(feature = "metrics")]
        super::metrics::waited(entry.enqueued_at.elapsed());
        drop(tokio::spawn(deliver(Arc::clone(&shared), entry, permit)));
    }
}

/// Delivers one letter and records what became of it.
async fn deliver<M: Mailer>(shared: Arc<Shared<M>>, entry: Entry, permit: OwnedSemaphorePermit) {
    let Entry { letter, slot, .. } = entry;
    let delivery = attempt(&shared, &letter).await;
    drop(permit);
    #[cfg(feature = "metrics")]
    super::metrics::outcome(delivery.as_str());
    let mut state = shared.lock();
    state
        .ledger
        .record(letter.ticket, slot, delivery, Instant::now());
    state.in_flight -= 1;
    if state.in_flight == 0 && state.queue.is_empty() {
        shared.idle.notify_waiters();
    }
}

/// Sends the letter if its code is still live and wanted, retrying what may
/// pass later; withdraws the code of what will not be delivered.
async fn attempt<M: Mailer>(shared: &Shared<M>, letter: &Letter) -> Delivery {
    let settings = &shared.settings;
    let (ticket, to) = (letter.ticket.label(), letter.mail.to.masked());
    let mut backoff = settings.backoff();
    let mut tries = 0;
    loop {
        if shared.clock.now() >= letter.expires_at {
            tracing::info!(ticket, to = %to, "code mail dropped: the code expired before its turn");
            return Delivery::Expired;
        }
        if !shared.recall.still_wanted(letter).await {
            tracing::info!(ticket, to = %to, "code mail dropped: the code is no longer live or a newer one was issued");
            return Delivery::Superseded;
        }
        tries += 1;
        let error = match shared.mailer.send(&letter.mail).await {
            Ok(()) => return Delivery::Sent,
            Err(error) => error,
        };
        if error.is_permanent() {
            tracing::warn!(ticket, to = %to, error = %error, "code mail refused by the mail server: withdrawing the code");
            shared.recall.withdraw(letter).await;
            return Delivery::Refused;
        }
        if tries > settings.retries() {
            tracing::warn!(ticket, to = %to, error = %error, tries, "code mail failed every try: withdrawing the code");
            shared.recall.withdraw(letter).await;
            return Delivery::Failed;
        }
        tracing::info!(ticket, to = %to, error = %error, tries, retry_in = ?backoff, "code mail refused for now: retrying");
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}
