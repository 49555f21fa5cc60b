//! Work the flow does after answering: notices mailed in the background,
//! generation reads, and [`Flow::settled`] to wait for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use super::Flow;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::mail::{MailKind, OtpMail};

/// Counts the work in flight in the background, so tests can wait for it.
#[derive(Debug, Default)]
pub(super) struct Background {
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Flow {
    pub(super) fn notify_new_device(&self, to: EmailAddress, at: Timestamp, locale: Locale) {
        self.mail_in_background(to, MailKind::NewDevice { at }, locale, "new-device notice");
    }

    /// Sends a notice (no code) in the background; a failure is logged.
    pub(super) fn mail_in_background(
        &self,
        to: EmailAddress,
        kind: MailKind,
        locale: Locale,
        what: &'static str,
    ) {
        let inner = &self.inner;
        let mail = OtpMail::new(to, kind, locale, inner.site_name.clone())
            .with_site_origin(inner.site_origin.clone());
        let mailer = Arc::clone(&inner.mailer);
        self.spawn_background(async move {
            if let Err(error) = mailer.send(&mail).await {
                tracing::warn!(error = %error, what, "notice not delivered");
            }
        });
    }

    /// Runs `task` in the background, counted until it ends (see [`Flow::settled`]).
    pub(super) fn spawn_background(&self, task: impl Future<Output = ()> + Send + 'static) {
        let background = Arc::clone(&self.inner.background);
        let counted = async move {
            task.await;
            if background.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                background.idle.notify_waiters();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                self.inner
                    .background
                    .in_flight
                    .fetch_add(1, Ordering::AcqRel);
                drop(handle.spawn(counted));
            }
            Err(_) => tracing::warn!("no tokio runtime: background work skipped"),
        }
    }

    /// Waits until everything this flow does in the background has ended:
    /// mail (the new-device notice) handed to the mailer or failed, and
    /// revocation generations read. A
    /// test that counts mails calls it first, instead of yielding or sleeping.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// flow.settled().await; // nothing in flight: returns at once
    /// # });
    /// ```
    pub async fn settled(&self) {
        self.outbox_idle().await;
        let background = &self.inner.background;
        loop {
            let idle = background.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if background.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}
