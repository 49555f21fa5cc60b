//! An outbox for code mails: sends queue and leave at a steady pace, a
//! newer code replaces an older one still waiting, and what became of each
//! ticket's mail is kept so the visitor is told the truth.
//!
//! [`Outbox::enqueue`] returns at once with the letter's place and the
//! expected wait (`position × period`, from when the next one leaves). A
//! background task takes letters from the front, one per
//! [period](OutboxSettings::period), and before each send asks the
//! [`Recall`] whether the code is still wanted (another instance may have
//! issued a newer one); a code that expired while it waited is dropped. The
//! mailer's answer decides the rest: accepted → [`Delivery::Sent`]; refused
//! for good ([`MailError::is_permanent`](crate::mail::MailError::is_permanent),
//! an SMTP `5xx`) → the code is withdrawn through the `Recall` and the
//! outcome is [`Delivery::Refused`]; refused for now → retried with backoff
//! a bounded number of times, then withdrawn as [`Delivery::Failed`].
//! [`Outbox::status`] tells where a ticket's latest mail stands.
//!
//! Each instance paces itself: with several instances sharing a mail
//! account, give each its share of the account's rate. The queue lives in
//! memory: a process that stops loses what waits in it (the codes stay
//! issued until they expire), so stop an instance after
//! [`Outbox::idle`].
//!
//! Every mail dropped, refused or failed is logged with the ticket's label
//! and the masked address, never the code.
//!
//! ```
//! use std::time::Duration;
//! use tower_otp::mail::outbox::{Delivery, Letter, Outbox, OutboxSettings};
//! use tower_otp::mail::{Code, MailKind, OtpMail};
//! use tower_otp::store::CodeHash;
//! use tower_otp::testing::CapturingMailer;
//! use tower_otp::{EmailAddress, Locale, SystemClock, Clock, TicketKey};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mailer = CapturingMailer::new();
//! let outbox = Outbox::new(mailer.clone(), OutboxSettings::default().with_rate(5)?);
//!
//! let kind = MailKind::Code { code: Code::generate(6), valid_for: Duration::from_secs(300) };
//! let mail = OtpMail::new(EmailAddress::parse("taro@example.com")?, kind, Locale::En, "Tickets");
//! let now = SystemClock.now();
//! let ticket = TicketKey::from_bytes([7; 16]);
//! let letter = Letter::new(ticket, CodeHash::from_bytes([1; 32]), now, now + Duration::from_secs(300), mail);
//!
//! let queued = outbox.enqueue(letter)?;
//! assert_eq!(queued.position, 0);
//! outbox.idle().await;
//! assert_eq!(outbox.status(&ticket), Some(Delivery::Sent));
//! assert_eq!(mailer.count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use self::ledger::Ledger;
use self::queue::Queue;
use crate::clock::{Clock, SystemClock};
use crate::mail::Mailer;
use crate::ticket::TicketKey;

mod delivery;
mod ledger;
mod letter;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
mod queue;
mod recall;
mod settings;
#[cfg(test)]
mod tests;
mod worker;

pub use self::delivery::Delivery;
pub use self::letter::Letter;
pub use self::recall::{KeepAll, Recall};
pub use self::settings::OutboxSettings;

/// A paced queue of code mails over a [`Mailer`] (see the [module](self)).
///
/// Cheap to clone; clones share the queue. The worker starts with the first
/// letter, inside the Tokio runtime that enqueues it, and stops once every
/// clone is dropped and the queue is drained.
pub struct Outbox<M> {
    shared: Arc<Shared<M>>,
    _owner: Arc<Owner<M>>,
}

impl<M> Clone for Outbox<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _owner: Arc::clone(&self._owner),
        }
    }
}

/// Where a letter was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queued {
    /// Letters ahead of it.
    pub position: usize,
    /// The expected wait until it leaves: its position times the period,
    /// from when the next letter leaves.
    pub eta: Duration,
    /// It replaced an older letter of the same ticket that was still waiting.
    pub replaced: bool,
}

impl Queued {
    /// Where it stands, as a [`Delivery`].
    pub fn delivery(&self) -> Delivery {
        Delivery::Queued { eta: self.eta }
    }
}

/// Why a letter was not queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue is at capacity, or so long that the code would expire
    /// before its turn: nothing was queued. `retry_after` is the wait before
    /// a code sent then would make it (at least a second).
    #[error("the outbox is full, retry in {} s", retry_after.as_secs())]
    Full {
        /// How long to wait.
        retry_after: Duration,
    },
    /// There is no Tokio runtime to run the worker in.
    #[error("the outbox needs a Tokio runtime")]
    NoRuntime,
}

pub(super) struct Shared<M> {
    mailer: Arc<M>,
    recall: Arc<dyn Recall>,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
    state: Mutex<State>,
    /// A letter was queued, or the outbox closed.
    wake: Notify,
    /// The queue emptied with nothing in flight.
    idle: Notify,
    permits: Arc<Semaphore>,
}

#[derive(Debug)]
struct State {
    queue: Queue,
    ledger: Ledger,
    /// When the next letter may leave (`None`: at once).
    next_slot: Option<Instant>,
    in_flight: usize,
    started: bool,
    closed: bool,
}

/// Closes the outbox when the last clone is dropped.
struct Owner<M>(Arc<Shared<M>>);

impl<M> Drop for Owner<M> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

impl<M: Mailer> Outbox<M> {
    /// An outbox over `mailer`: every code is wanted and nothing withdrawn
    /// ([`KeepAll`]) until [`with_recall`](Outbox::with_recall), and the
    /// system clock decides expiry until [`with_clock`](Outbox::with_clock).
    pub fn new(mailer: M, settings: OutboxSettings) -> Self {
        Self::from_parts(
            Arc::new(mailer),
            settings,
            Arc::new(KeepAll),
            Arc::new(SystemClock),
        )
    }

    fn from_parts(
        mailer: Arc<M>,
        settings: OutboxSettings,
        recall: Arc<dyn Recall>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let state = State {
            queue: Queue::new(settings.capacity()),
            ledger: Ledger::new(settings.remember()),
            next_slot: None,
            in_flight: 0,
            started: false,
            closed: false,
        };
        let shared = Arc::new(Shared {
            mailer,
            recall,
            clock,
            permits: Arc::new(Semaphore::new(settings.in_flight())),
            settings,
            state: Mutex::new(state),
            wake: Notify::new(),
            idle: Notify::new(),
        });
        Self {
            _owner: Arc::new(Owner(Arc::clone(&shared))),
            shared,
        }
    }

    /// Asks `recall` whether a code is still wanted before it leaves, and
    /// withdraws through it what could not be delivered. Default: [`KeepAll`].
    /// Set it before the first letter.
    ///
    /// ```
    /// use tower_otp::mail::outbox::{KeepAll, Outbox, OutboxSettings};
    /// use tower_otp::testing::CapturingMailer;
    ///
    /// let outbox = Outbox::new(CapturingMailer::new(), OutboxSettings::default()).with_recall(KeepAll);
    /// # drop(outbox);
    /// ```
    pub fn with_recall(self, recall: impl Recall) -> Self {
        self.rebuild(|parts| parts.0 = Arc::new(recall))
    }

    /// Uses `clock` to tell whether a code expired while it waited.
    /// Default: [`SystemClock`]. Pacing runs on Tokio's clock. Set it
    /// before the first letter.
    ///
    /// ```
    /// use tower_otp::mail::outbox::{Outbox, OutboxSettings};
    /// use tower_otp::testing::{CapturingMailer, ManualClock};
    ///
    /// let outbox = Outbox::new(CapturingMailer::new(), OutboxSettings::default())
    ///     .with_clock(ManualClock::starting_now());
    /// # drop(outbox);
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.rebuild(|parts| parts.1 = Arc::new(clock))
    }

    /// The same outbox with its recall or clock changed (a new, empty queue).
    fn rebuild(self, change: impl FnOnce(&mut (Arc<dyn Recall>, Arc<dyn Clock>))) -> Self {
        let shared = &self.shared;
        let mut parts = (Arc::clone(&shared.recall), Arc::clone(&shared.clock));
        change(&mut parts);
        Self::from_parts(
            Arc::clone(&shared.mailer),
            shared.settings.clone(),
            parts.0,
            parts.1,
        )
    }

    /// The settings in force.
    pub fn settings(&self) -> &OutboxSettings {
        &self.shared.settings
    }

    /// Queues `letter` and returns at once with its place and expected wait.
    /// A letter for a ticket whose older letter still waits takes that
    /// letter's place (the older is not sent).
    ///
    /// # Errors
    /// [`EnqueueError::Full`] at capacity (nothing queued), or
    /// [`EnqueueError::NoRuntime`] outside a Tokio runtime.
    pub fn enqueue(&self, letter: Letter) -> Result<Queued, EnqueueError> {
        let shared = &self.shared;
        let mut state = shared.lock();
        if !state.started {
            let handle =
                tokio::runtime::Handle::try_current().map_err(|_| EnqueueError::NoRuntime)?;
            drop(handle.spawn(worker::run(Arc::clone(shared))));
            state.started = true;
        }
        let now = Instant::now();
        let ticket = letter.ticket;
        // A code that would expire before its turn is not queued: the wait
        // it would be given is not one the code survives.
        let position = state
            .queue
            .position(&ticket)
            .unwrap_or_else(|| state.queue.len());
        let wait = shared.eta(&state, position, now);
        let valid_for = letter.expires_at.saturating_since(shared.clock.now());
        if wait >= valid_for {
            drop(state);
            #[cfg(feature = "metrics")]
            self::metrics::outcome("full");
            tracing::warn!(
                ticket = ticket.label(),
                wait_secs = wait.as_secs(),
                "outbox too long: the code would expire before its mail leaves, not queued"
            );
            let retry_after = (wait - valid_for).max(Duration::from_secs(1));
            return Err(EnqueueError::Full { retry_after });
        }
        let Some(pushed) = state.queue.push(letter, now) else {
            drop(state);
            #[cfg(feature = "metrics")]
            self::metrics::outcome("full");
            tracing::warn!(ticket = ticket.label(), "outbox full: code mail not queued");
            let retry_after = shared.settings.period().max(Duration::from_secs(1));
            return Err(EnqueueError::Full { retry_after });
        };
        let eta = shared.eta(&state, pushed.position, now);
        #[cfg(feature = "metrics")]
        self::metrics::depth(state.queue.len());
        drop(state);
        if let Some(old) = &pushed.replaced {
            #[cfg(feature = "metrics")]
            self::metrics::outcome("superseded");
            tracing::info!(
                ticket = old.ticket.label(),
                to = %old.mail.to.masked(),
                "code mail dropped: a newer code for the ticket took its place in the outbox"
            );
        }
        shared.wake.notify_one();
        Ok(Queued {
            position: pushed.position,
            eta,
            replaced: pushed.replaced.is_some(),
        })
    }

    /// Where the ticket's latest mail stands: queued (with the wait from
    /// now), being sent, or what became of it, while remembered
    /// ([`OutboxSettings::with_remember`]); `None` if this outbox has no
    /// news of it.
    pub fn status(&self, ticket: &TicketKey) -> Option<Delivery> {
        let state = self.shared.lock();
        let now = Instant::now();
        match state.queue.position(ticket) {
            Some(position) => Some(Delivery::Queued {
                eta: self.shared.eta(&state, position, now),
            }),
            None => state.ledger.get(ticket, now),
        }
    }

    /// Letters waiting now.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Whether no letter waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until no letter waits and none is being sent (retries
    /// included): before stopping an instance, or in tests.
    pub async fn idle(&self) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let state = self.shared.lock();
                if state.queue.is_empty() && state.in_flight == 0 {
                    return;
                }
            }
            idle.await;
        }
    }
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The expected wait of the letter `position` places from the front:
    /// the front leaves at the next slot (or now), each next one a period
    /// later.
    fn eta(&self, state: &State, position: usize, now: Instant) -> Duration {
        let first = state
            .next_slot
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        first + self.settings.period() * u32::try_from(position).unwrap_or(u32::MAX)
    }
}

impl<M> fmt::Debug for Outbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("settings", &self.shared.settings)
            .field("waiting", &self.shared.lock().queue.len())
            .finish_non_exhaustive()
    }
}
