//! The flow's outbox: with [`Flow::with_outbox`], a code mail is queued and
//! paced instead of sent while the visitor waits; the outbox asks the store
//! whether a code is still wanted before it leaves, and withdraws through
//! the store a code the mail server refused or that failed every try.
//! Without it, codes are mailed inline as before.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::outcome::Rejection;
use super::{Flow, Keys};
use crate::clock::Clock;
use crate::events::OtpEvent;
use crate::mail::outbox::{Delivery, EnqueueError, Letter, Outbox, OutboxSettings, Recall};
use crate::mail::{MailError, Mailer};
use crate::store::{IssueRequest, Policy, Store};
use crate::ticket::TicketKey;

/// The outbox a flow holds (none by default), started on its first letter.
#[derive(Clone, Default)]
pub(super) struct CodeOutbox {
    settings: Option<OutboxSettings>,
    started: Arc<OnceLock<Outbox<Arc<dyn Mailer>>>>,
}

impl CodeOutbox {
    fn new(settings: OutboxSettings) -> Self {
        Self {
            settings: Some(settings),
            started: Arc::default(),
        }
    }
}

/// Answers the outbox from the flow's store.
struct StoreRecall {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Keys,
    policy: Policy,
}

#[async_trait]
impl Recall for StoreRecall {
    /// Wanted while the code is the ticket's newest live one (no newer code
    /// was issued, by this instance or another) and the round is not spent.
    /// A store that cannot answer leaves the code wanted: a needless mail
    /// costs less than a missing one.
    async fn still_wanted(&self, letter: &Letter) -> bool {
        let now = self.clock.now();
        match self.store.load(&letter.ticket, now, &self.policy).await {
            Ok(snapshot) => {
                // Live codes are oldest first.
                let newest = snapshot
                    .live_codes
                    .last()
                    .is_some_and(|code| code.hash.ct_eq(&letter.code));
                newest && !snapshot.exhausted
            }
            Err(error) => {
                tracing::warn!(ticket = letter.ticket.label(), error = %error, "could not tell whether a queued code is still wanted: sending it");
                true
            }
        }
    }

    async fn withdraw(&self, letter: &Letter) {
        let address = &letter.mail.to;
        let keys = self.keys.counter_keys(address, letter.client);
        let issue = IssueRequest::new(
            &letter.ticket,
            address,
            &keys,
            &letter.code,
            letter.issued_at,
            &self.policy,
        );
        if let Err(error) = self.store.withdraw_code(&issue).await {
            tracing::error!(ticket = letter.ticket.label(), error = %error, "could not withdraw an undelivered code");
        }
    }
}

/// The flow's clock, for the outbox.
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> crate::clock::Timestamp {
        self.0.now()
    }
}

impl Flow {
    /// Queues code mails in an outbox that sends them at a steady pace
    /// ([`OutboxSettings`]: rate, capacity, retries), instead of mailing
    /// each while the visitor waits. Default: off, each code is mailed
    /// before [`send`](Flow::send) returns.
    ///
    /// With it, [`send`](Flow::send) returns once the mail is queued, with
    /// the expected wait ([`Delivery::Queued`]); a newer code for a ticket
    /// replaces an older one still waiting; a code that expired, or that the
    /// store no longer has as the ticket's newest, is not sent; a mail the
    /// server refuses (SMTP `5xx`), or that fails every try, has its code
    /// withdrawn. [`delivery`](Flow::delivery) tells what became of it. A
    /// full outbox refuses the send ([`Rejection::OutboxFull`]) and issues
    /// nothing.
    ///
    /// ```
    /// use tower_otp::mail::outbox::OutboxSettings;
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_outbox(OutboxSettings::default().with_rate(5)?);
    /// # drop(flow);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_outbox(self, settings: OutboxSettings) -> Self {
        self.edit(|i| i.outbox = CodeOutbox::new(settings))
    }

    /// Where the ticket's latest code mail stands in this instance's outbox:
    /// queued (with the wait), being sent, sent, refused, failed, or dropped.
    /// `None` without an outbox, or when this instance has no news of it.
    pub fn delivery(&self, ticket: &TicketKey) -> Option<Delivery> {
        self.inner.outbox.started.get()?.status(ticket)
    }

    /// Waits until this flow's outbox has nothing waiting or being sent.
    pub async fn outbox_idle(&self) {
        if let Some(outbox) = self.inner.outbox.started.get() {
            outbox.idle().await;
        }
    }

    /// The outbox, started with the flow's store, clock, keys and limits as
    /// they are at the first letter; `None` when the flow has none.
    fn outbox(&self) -> Option<&Outbox<Arc<dyn Mailer>>> {
        let inner = &self.inner;
        let settings = inner.outbox.settings.as_ref()?;
        Some(inner.outbox.started.get_or_init(|| {
            let recall = StoreRecall {
                store: Arc::clone(&inner.store),
                clock: Arc::clone(&inner.clock),
                keys: inner.keys.clone(),
                policy: inner.limits.policy().clone(),
            };
            Outbox::new(Arc::clone(&inner.mailer), settings.clone())
                .with_recall(recall)
                .with_clock(SharedClock(Arc::clone(&inner.clock)))
        }))
    }

    /// Delivers the code mail of `issue` (just issued, valid until
    /// `letter.expires_at`): queued in the outbox if the flow has one, else
    /// mailed now. A mail that cannot be queued or sent has its code
    /// withdrawn, counting nothing.
    ///
    /// # Errors
    /// [`Rejection::OutboxFull`] (the outbox is at capacity), or
    /// [`Rejection::MailFailed`] (the mailer refused it, or there is no
    /// runtime for the outbox).
    pub(super) async fn deliver_code(
        &self,
        issue: &IssueRequest<'_>,
        letter: Letter,
    ) -> Result<Delivery, Rejection> {
        let ticket = issue.ticket;
        let failure = match self.outbox() {
            Some(outbox) => match outbox.enqueue(letter) {
                Ok(queued) => return Ok(queued.delivery()),
                Err(EnqueueError::Full { retry_after }) => Rejection::OutboxFull { retry_after },
                Err(other) => Rejection::MailFailed(MailError::new(other)),
            },
            None => match self.inner.mailer.send(&letter.mail).await {
                Ok(()) => return Ok(Delivery::Sent),
                Err(error) => {
                    self.inner
                        .events
                        .emit(OtpEvent::MailFailed { ticket: *ticket });
                    Rejection::MailFailed(error)
                }
            },
        };
        tracing::warn!(ticket = ticket.label(), error = %failure, "withdrawing the undelivered code");
        if let Err(withdraw) = self.inner.store.withdraw_code(issue).await {
            tracing::error!(ticket = ticket.label(), error = %withdraw, "could not withdraw an undelivered code");
        }
        Err(failure)
    }
}
