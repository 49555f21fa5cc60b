//! A mailer that keeps messages in memory, for tests.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{MailError, MailKind, Mailer, OtpMail};
use crate::email::EmailAddress;

/// A [`Mailer`] that keeps every message in memory instead of sending it, for
/// tests (feature `test-util`).
///
/// Clones share one inbox, so keep a clone to read what the layer sent:
///
/// ```
/// use std::time::Duration;
/// use tower_otp::{testing::CapturingMailer, EmailAddress, Locale};
/// use tower_otp::mail::{Code, MailKind, Mailer, OtpMail};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mailer = CapturingMailer::new();
/// let inbox = mailer.clone(); // give `mailer` to the layer, keep `inbox`
///
/// let to = EmailAddress::parse("taro@example.com")?;
/// let kind = MailKind::Code { code: Code::normalize("123456", 6)?, valid_for: Duration::from_secs(300) };
/// mailer.send(&OtpMail::new(to.clone(), kind, Locale::En, "Example Tickets")).await?;
///
/// assert_eq!(inbox.count(), 1);
/// assert_eq!(inbox.last_code_for(&to).as_deref(), Some("123456"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// Delivery failures are simulated with [`fail_next`](Self::fail_next) or
/// [`set_failing`](Self::set_failing); a failed send is not kept (it was not
/// delivered) but is counted by [`attempts`](Self::attempts). A delay set with
/// [`set_delay`](Self::set_delay) makes every send slow, to test timeouts and
/// concurrent requests; under Tokio's paused time it costs no real time.
///
/// `Debug` shows counts only, never codes or addresses.
#[derive(Clone, Default)]
pub struct CapturingMailer {
    inner: Arc<Mutex<Inbox>>,
}

#[derive(Default)]
struct Inbox {
    messages: Vec<OtpMail>,
    attempts: usize,
    fail_next: usize,
    failing: bool,
    delay: Option<Duration>,
}

/// The error a [`CapturingMailer`] returns when told to fail.
#[derive(Debug, thiserror::Error)]
#[error("simulated delivery failure (CapturingMailer)")]
struct SimulatedFailure;

impl CapturingMailer {
    /// An empty inbox that accepts every message.
    ///
    /// ```
    /// let mailer = tower_otp::testing::CapturingMailer::new();
    /// assert_eq!(mailer.count(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // A test that panicked while holding the lock must not hide the inbox.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every message delivered so far, oldest first.
    ///
    /// ```
    /// let mailer = tower_otp::testing::CapturingMailer::new();
    /// assert!(mailer.messages().is_empty());
    /// ```
    pub fn messages(&self) -> Vec<OtpMail> {
        self.lock().messages.clone()
    }

    /// The messages delivered to `to`, oldest first.
    ///
    /// ```
    /// # use tower_otp::{testing::CapturingMailer, EmailAddress};
    /// let mailer = CapturingMailer::new();
    /// assert!(mailer.messages_to(&EmailAddress::parse("taro@example.com")?).is_empty());
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn messages_to(&self, to: &EmailAddress) -> Vec<OtpMail> {
        let inbox = self.lock();
        inbox
            .messages
            .iter()
            .filter(|m| &m.to == to)
            .cloned()
            .collect()
    }

    /// The last message delivered, if any.
    ///
    /// ```
    /// assert!(tower_otp::testing::CapturingMailer::new().last().is_none());
    /// ```
    pub fn last(&self) -> Option<OtpMail> {
        self.lock().messages.last().cloned()
    }

    /// The digits of the last code delivered to `to`, a one-time password
    /// ([`MailKind::Code`]) or one that confirms a transfer
    /// ([`MailKind::TransferCode`]); notices and links are skipped. To type
    /// into the form that asked for it in a test.
    ///
    /// ```
    /// # use tower_otp::{testing::CapturingMailer, EmailAddress};
    /// let mailer = CapturingMailer::new();
    /// assert_eq!(mailer.last_code_for(&EmailAddress::parse("taro@example.com")?), None);
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn last_code_for(&self, to: &EmailAddress) -> Option<String> {
        let inbox = self.lock();
        inbox
            .messages
            .iter()
            .rev()
            .filter(|m| &m.to == to)
            .find_map(code_of)
    }

    /// The link of the last hand-over ([`MailKind::HandedOver`]) or transfer
    /// offer ([`MailKind::TransferOffered`]) delivered to `address`, as the
    /// flow gave it; `None` when there is none or `address` is not an
    /// address. Addresses are compared as [`last_code_for`](Self::last_code_for)
    /// compares them.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Locale};
    /// use tower_otp::mail::{MailKind, Mailer, OtpMail};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let to = EmailAddress::parse("hanako@example.com")?;
    /// let kind = MailKind::HandedOver { link: "https://tickets.example/claim/Zq8x".into() };
    /// mailer.send(&OtpMail::new(to, kind, Locale::Ja, "Example Tickets")).await?;
    ///
    /// assert_eq!(mailer.link_for("hanako@example.com").as_deref(), Some("https://tickets.example/claim/Zq8x"));
    /// assert_eq!(mailer.link_for("taro@example.com"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn link_for(&self, address: &str) -> Option<String> {
        let address = EmailAddress::parse(address).ok()?;
        let inbox = self.lock();
        inbox
            .messages
            .iter()
            .rev()
            .filter(|m| m.to == address)
            .find_map(|m| match &m.kind {
                MailKind::HandedOver { link } | MailKind::TransferOffered { link } => {
                    Some(link.clone())
                }
                _ => None,
            })
    }

    /// The digits of the last code delivered to anyone, a one-time password
    /// or a transfer code (as in [`last_code_for`](Self::last_code_for)).
    ///
    /// ```
    /// assert_eq!(tower_otp::testing::CapturingMailer::new().last_code(), None);
    /// ```
    pub fn last_code(&self) -> Option<String> {
        let inbox = self.lock();
        inbox.messages.iter().rev().find_map(code_of)
    }

    /// How many messages were delivered.
    ///
    /// ```
    /// assert_eq!(tower_otp::testing::CapturingMailer::new().count(), 0);
    /// ```
    pub fn count(&self) -> usize {
        self.lock().messages.len()
    }

    /// How many sends were attempted, failed ones included.
    ///
    /// ```
    /// assert_eq!(tower_otp::testing::CapturingMailer::new().attempts(), 0);
    /// ```
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    /// Forgets every delivered message (settings and the attempt count stay).
    ///
    /// ```
    /// let mailer = tower_otp::testing::CapturingMailer::new();
    /// mailer.clear();
    /// assert_eq!(mailer.count(), 0);
    /// ```
    pub fn clear(&self) {
        self.lock().messages.clear();
    }

    /// Makes the next `n` sends fail with a [`MailError`], then succeed
    /// again. Adds to any failures still pending.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_otp::{testing::CapturingMailer, EmailAddress, Locale};
    /// # use tower_otp::mail::{Code, MailKind, Mailer, OtpMail};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// mailer.fail_next(1);
    /// # let to = EmailAddress::parse("taro@example.com")?;
    /// # let kind = MailKind::Code { code: Code::generate(6), valid_for: Duration::from_secs(300) };
    /// let mail = OtpMail::new(to, kind, Locale::En, "Example Tickets");
    /// assert!(mailer.send(&mail).await.is_err());
    /// assert!(mailer.send(&mail).await.is_ok());
    /// assert_eq!((mailer.count(), mailer.attempts()), (1, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn fail_next(&self, n: usize) {
        let mut inbox = self.lock();
        inbox.fail_next = inbox.fail_next.saturating_add(n);
    }

    /// Makes every send fail (`true`) until set back to `false`. Off by default.
    ///
    /// ```
    /// let mailer = tower_otp::testing::CapturingMailer::new();
    /// mailer.set_failing(true); // the mail server is down
    /// mailer.set_failing(false); // and back
    /// ```
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Makes every send wait `delay` before it is delivered (or fails).
    /// `None` (the default) delivers at once.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let mailer = tower_otp::testing::CapturingMailer::new();
    /// mailer.set_delay(Some(Duration::from_millis(200)));
    /// ```
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay;
    }
}

/// The digits of `mail`'s code, if it carries one.
fn code_of(mail: &OtpMail) -> Option<String> {
    match &mail.kind {
        MailKind::Code { code, .. } | MailKind::TransferCode { code, .. } => {
            Some(code.as_str().to_owned())
        }
        _ => None,
    }
}

#[async_trait]
impl Mailer for CapturingMailer {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        let delay = self.lock().delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut inbox = self.lock();
        inbox.attempts += 1;
        if inbox.failing {
            return Err(MailError::new(SimulatedFailure));
        }
        if inbox.fail_next > 0 {
            inbox.fail_next -= 1;
            return Err(MailError::new(SimulatedFailure));
        }
        inbox.messages.push(mail.clone());
        Ok(())
    }
}

impl fmt::Debug for CapturingMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inbox = self.lock();
        f.debug_struct("CapturingMailer")
            .field("count", &inbox.messages.len())
            .field("attempts", &inbox.attempts)
            .field("fail_next", &inbox.fail_next)
            .field("failing", &inbox.failing)
            .field("delay", &inbox.delay)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Code;
    use crate::{Locale, Timestamp};

    fn code_mail(to: &str, code: &str) -> OtpMail {
        let kind = MailKind::Code {
            code: Code::normalize(code, 6).unwrap(),
            valid_for: Duration::from_secs(300),
        };
        OtpMail::new(EmailAddress::parse(to).unwrap(), kind, Locale::En, "Site")
    }

    #[tokio::test]
    async fn clones_share_the_inbox_and_codes_are_found_per_recipient() {
        let mailer = CapturingMailer::new();
        let inbox = mailer.clone();
        mailer
            .send(&code_mail("a@example.com", "111111"))
            .await
            .unwrap();
        mailer
            .send(&code_mail("b@example.com", "222222"))
            .await
            .unwrap();
        mailer
            .send(&code_mail("a@example.com", "333333"))
            .await
            .unwrap();
        let notice = OtpMail::new(
            EmailAddress::parse("a@example.com").unwrap(),
            MailKind::NewDevice {
                at: Timestamp::from_millis(0),
            },
            Locale::En,
            "Site",
        );
        mailer.send(&notice).await.unwrap();
        let a = EmailAddress::parse("a@example.com").unwrap();
        let b = EmailAddress::parse("B@EXAMPLE.com").unwrap();
        assert_eq!(inbox.count(), 4);
        assert_eq!(inbox.last_code_for(&a).as_deref(), Some("333333"));
        assert_eq!(
            inbox.last_code_for(&b),
            None,
            "local part is case-sensitive"
        );
        let b = EmailAddress::parse("b@EXAMPLE.com").unwrap();
        assert_eq!(inbox.last_code_for(&b).as_deref(), Some("222222"));
        assert_eq!(inbox.last_code().as_deref(), Some("333333"));
        assert_eq!(inbox.messages_to(&a).len(), 3);
        assert!(matches!(
            inbox.last().unwrap().kind,
            MailKind::NewDevice { .. }
        ));
        inbox.clear();
        assert_eq!((mailer.count(), mailer.attempts()), (0, 4));
    }

    fn mail(to: &str, kind: MailKind) -> OtpMail {
        OtpMail::new(EmailAddress::parse(to).unwrap(), kind, Locale::En, "Site")
    }

    #[tokio::test]
    async fn links_are_found_per_recipient_and_transfer_codes_are_codes() {
        let mailer = CapturingMailer::new();
        let link = |l: &str| l.to_owned();
        mailer
            .send(&mail(
                "a@example.com",
                MailKind::HandedOver {
                    link: link("https://tickets.example/h/1"),
                },
            ))
            .await
            .unwrap();
        mailer
            .send(&mail(
                "b@example.com",
                MailKind::TransferOffered {
                    link: link("https://tickets.example/t/2"),
                },
            ))
            .await
            .unwrap();
        mailer
            .send(&mail(
                "a@example.com",
                MailKind::TransferOffered {
                    link: link("https://tickets.example/t/3"),
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            mailer.link_for("a@example.com").as_deref(),
            Some("https://tickets.example/t/3")
        );
        assert_eq!(
            mailer.link_for("b@EXAMPLE.com").as_deref(),
            Some("https://tickets.example/t/2")
        );
        assert_eq!(mailer.link_for("B@example.com"), None);
        assert_eq!(mailer.link_for("not an address"), None);
        // A later mail of another kind does not hide the link.
        mailer
            .send(&code_mail("a@example.com", "111111"))
            .await
            .unwrap();
        assert_eq!(
            mailer.link_for("a@example.com").as_deref(),
            Some("https://tickets.example/t/3")
        );
        assert_eq!(
            mailer.last_code_for(&EmailAddress::parse("b@example.com").unwrap()),
            None
        );

        let a = EmailAddress::parse("a@example.com").unwrap();
        mailer
            .send(&mail(
                "a@example.com",
                MailKind::TransferCode {
                    code: Code::normalize("222222", 6).unwrap(),
                    valid_for: Duration::from_secs(300),
                    to: "b***@example.com".into(),
                },
            ))
            .await
            .unwrap();
        mailer
            .send(&mail(
                "a@example.com",
                MailKind::Transferred {
                    at: Timestamp::from_millis(0),
                    to: "b***@example.com".into(),
                },
            ))
            .await
            .unwrap();
        assert_eq!(mailer.last_code_for(&a).as_deref(), Some("222222"));
        assert_eq!(mailer.last_code().as_deref(), Some("222222"));
        mailer
            .send(&code_mail("a@example.com", "333333"))
            .await
            .unwrap();
        assert_eq!(mailer.last_code_for(&a).as_deref(), Some("333333"));
        assert_eq!(
            mailer.link_for("a@example.com").as_deref(),
            Some("https://tickets.example/t/3")
        );
    }

    #[tokio::test]
    async fn failures_are_simulated_and_not_delivered() {
        let mailer = CapturingMailer::new();
        let mail = code_mail("a@example.com", "123456");
        mailer.fail_next(2);
        assert!(mailer.send(&mail).await.is_err());
        assert!(mailer.send(&mail).await.is_err());
        assert!(mailer.send(&mail).await.is_ok());
        mailer.set_failing(true);
        assert!(mailer.send(&mail).await.is_err());
        mailer.set_failing(false);
        assert!(mailer.send(&mail).await.is_ok());
        assert_eq!((mailer.count(), mailer.attempts()), (2, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn delay_holds_the_send() {
        let mailer = CapturingMailer::new();
        mailer.set_delay(Some(Duration::from_secs(5)));
        let start = tokio::time::Instant::now();
        mailer
            .send(&code_mail("a@example.com", "123456"))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[test]
    fn debug_shows_no_code_or_address() {
        let mailer = CapturingMailer::new();
        mailer
            .lock()
            .messages
            .push(code_mail("taro@example.com", "987654"));
        let debug = format!("{mailer:?}");
        assert!(
            !debug.contains("987654") && !debug.contains("taro"),
            "{debug}"
        );
    }
}
