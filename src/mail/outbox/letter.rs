//! One code mail waiting in the outbox, with what identifies its code.

use std::fmt;
use std::net::IpAddr;

use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::mail::OtpMail;
use crate::ticket::TicketKey;

/// A code mail for a ticket: the message and what the [`Recall`](super::Recall)
/// needs to tell whether its code is still wanted, or to withdraw it.
///
/// `Debug` shows the ticket's label and the masked address only.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::mail::outbox::Letter;
/// use tower_otp::mail::{Code, MailKind, OtpMail};
/// use tower_otp::store::CodeHash;
/// use tower_otp::{EmailAddress, Locale, TicketKey, Timestamp};
///
/// let kind = MailKind::Code { code: Code::generate(6), valid_for: Duration::from_secs(300) };
/// let mail = OtpMail::new(EmailAddress::parse("taro@example.com")?, kind, Locale::En, "Tickets");
/// let issued_at = Timestamp::from_millis(1_000);
/// let letter = Letter::new(
///     TicketKey::from_bytes([7; 16]),
///     CodeHash::from_bytes([1; 32]),
///     issued_at,
///     issued_at + Duration::from_secs(300),
///     mail,
/// );
/// assert!(!format!("{letter:?}").contains("taro@"));
/// # Ok::<(), tower_otp::AddressError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Letter {
    /// The ticket the code is for.
    pub ticket: TicketKey,
    /// The code's keyed hash, as the store keeps it.
    pub code: CodeHash,
    /// When the code was issued (the send was counted then).
    pub issued_at: Timestamp,
    /// When the code stops being valid: not sent after that.
    pub expires_at: Timestamp,
    /// The client that asked, whose send budget counted it (`None`: not known).
    pub client: Option<IpAddr>,
    /// The message.
    pub mail: OtpMail,
}

impl Letter {
    /// A letter with no client.
    pub fn new(
        ticket: TicketKey,
        code: CodeHash,
        issued_at: Timestamp,
        expires_at: Timestamp,
        mail: OtpMail,
    ) -> Self {
        Self {
            ticket,
            code,
            issued_at,
            expires_at,
            client: None,
            mail,
        }
    }

    /// Sets the client that asked.
    pub fn with_client(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }
}

impl fmt::Debug for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Letter")
            .field("ticket", &self.ticket.label())
            .field("to", &self.mail.to.masked())
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
