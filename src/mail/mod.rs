//! Sending the code: the [`Mailer`] trait, the message, and its transports.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::error::BoxError;
use crate::locale::Locale;

mod blocks;
#[cfg(any(test, feature = "test-util"))]
pub(crate) mod capture;
pub(crate) mod catalog;
mod civil;
mod file;
pub(crate) mod message;
pub mod outbox;
mod render;
#[cfg(feature = "smtp")]
pub(crate) mod smtp;
mod terminal;

pub use self::file::FileMailer;
pub use self::outbox::Outbox;
pub use self::render::RenderedMail;
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use self::smtp::{SmtpConfigError, SmtpMailerBuilder};
pub use self::terminal::TerminalMailer;
pub use crate::code::Code;

/// Delivers [`OtpMail`]s.
///
/// Implementations must not log the code or the full address. Return an error
/// when the message was not accepted for delivery: tower-otp then withdraws
/// the code, counts nothing against the person, and shows the "mail failed"
/// page.
///
/// ```
/// use tower_otp::mail::{Mailer, MailError, OtpMail};
///
/// /// Hands messages to some HTTP mail API.
/// #[derive(Debug)]
/// struct ApiMailer;
///
/// #[async_trait::async_trait]
/// impl Mailer for ApiMailer {
///     async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
///         let rendered = mail.render();
///         // post rendered.subject, rendered.text and rendered.html to mail.to.as_str() ...
///         let _ = rendered;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError>;
}

#[async_trait]
impl<M: Mailer + ?Sized> Mailer for std::sync::Arc<M> {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        (**self).send(mail).await
    }
}

#[async_trait]
impl<M: Mailer + ?Sized> Mailer for Box<M> {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        (**self).send(mail).await
    }
}

/// A message was not accepted for delivery.
///
/// It says whether the refusal is [permanent](MailError::is_permanent) (the
/// mail server answered `5xx`: sending the same message again will fail the
/// same way) or may pass on a later try (a `4xx`, a timeout, a lost
/// connection): the [`Outbox`] retries only the latter.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed")]
pub struct MailError {
    #[source]
    source: BoxError,
    permanent: bool,
}

impl MailError {
    /// Wraps the transport's error, kept as the [`source`](std::error::Error::source).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use tower_otp::mail::MailError;
    ///
    /// let err = MailError::new("connection refused");
    /// assert_eq!(err.to_string(), "mail delivery failed");
    /// assert_eq!(err.source().unwrap().to_string(), "connection refused");
    /// ```
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
            permanent: false,
        }
    }

    /// Wraps an error the mail server gave as final: an SMTP `5xx` reply
    /// (the mailbox does not exist, the message is refused). Retrying it
    /// would only fail again.
    ///
    /// ```
    /// use tower_otp::mail::MailError;
    ///
    /// let refused = MailError::permanent("550 no such mailbox");
    /// assert!(refused.is_permanent());
    /// assert_eq!(refused.to_string(), "mail delivery failed");
    /// ```
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
            permanent: true,
        }
    }

    /// Whether the mail server refused the message for good (an SMTP `5xx`
    /// reply). `false` for everything that may pass later: a `4xx` reply, a
    /// timeout, a connection or TLS failure ([`MailError::new`]).
    ///
    /// ```
    /// use tower_otp::mail::MailError;
    ///
    /// assert!(!MailError::new("421 try again later").is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

/// What a message is about.
///
/// `Debug` shows no code, no link and no address a ticket goes to.
#[derive(Clone)]
#[non_exhaustive]
pub enum MailKind {
    /// A one-time code.
    Code {
        /// The code.
        code: Code,
        /// How long it stays valid (5 minutes by default).
        valid_for: Duration,
    },
    /// A notice to the bound address that a new device was verified for the ticket.
    NewDevice {
        /// When.
        at: Timestamp,
    },
    /// A notice to the address that was bound that the ticket was bound to
    /// another address by the site ([`Flow::rebind`](crate::Flow::rebind)),
    /// in that address's language.
    Rebound {
        /// When.
        at: Timestamp,
    },
    /// To a companion: a ticket (the mail's ticket hint says which) was
    /// handed over to them. They open it with `link` on their own device and
    /// confirm with a one-time password sent to this address.
    ///
    /// ```
    /// use tower_otp::{EmailAddress, Locale};
    /// use tower_otp::mail::{MailKind, OtpMail};
    ///
    /// let kind = MailKind::HandedOver { link: "https://tickets.example/claim/Zq8x?a=1&b=2".into() };
    /// let mail = OtpMail::new(EmailAddress::parse("hanako@example.com")?, kind, Locale::En, "Example Tickets")
    ///     .with_ticket_hint(Some("Summer Live, seat A-13".into()));
    /// let rendered = mail.render();
    /// assert_eq!(rendered.subject, "[Example Tickets] A ticket was handed over to you");
    /// assert!(rendered.text.contains("\nhttps://tickets.example/claim/Zq8x?a=1&b=2\n"));
    /// assert!(rendered.html.contains(r#"<a href="https://tickets.example/claim/Zq8x?a=1&amp;b=2""#));
    /// assert!(!format!("{:?}", mail.kind).contains("Zq8x"));
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    HandedOver {
        /// The absolute `https://` (or `http://`) URL that opens the ticket,
        /// shown as given. A link with another scheme, or with whitespace or
        /// a control character, is left out of the message.
        link: String,
    },
    /// To the recipient of a transfer: the ticket is being transferred to
    /// them. They receive it by opening `link` on their device and
    /// confirming with a one-time password sent to this address.
    TransferOffered {
        /// The absolute URL that opens the transfer, as in
        /// [`HandedOver`](MailKind::HandedOver).
        link: String,
    },
    /// To the bound address: a one-time code that confirms giving the ticket
    /// to `to`. The mail says never to share it and, if the transfer was not
    /// asked for, to enter it nowhere: the ticket then stays where it is.
    TransferCode {
        /// The code.
        code: Code,
        /// How long it stays valid.
        valid_for: Duration,
        /// The address the ticket would go to, masked by the flow
        /// (`h***@example.com`), shown as given.
        to: String,
    },
    /// A notice to the previous owner (and the recipient) that the ticket
    /// was transferred to `to`.
    Transferred {
        /// When.
        at: Timestamp,
        /// The address the ticket went to, masked by the flow
        /// (`h***@example.com`), shown as given.
        to: String,
    },
}

impl fmt::Debug for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code { code, valid_for } => f
                .debug_struct("Code")
                .field("code", code)
                .field("valid_for", valid_for)
                .finish(),
            Self::NewDevice { at } => f.debug_struct("NewDevice").field("at", at).finish(),
            Self::Rebound { at } => f.debug_struct("Rebound").field("at", at).finish(),
            Self::HandedOver { .. } => f.debug_struct("HandedOver").finish_non_exhaustive(),
            Self::TransferOffered { .. } => {
                f.debug_struct("TransferOffered").finish_non_exhaustive()
            }
            Self::TransferCode {
                code, valid_for, ..
            } => f
                .debug_struct("TransferCode")
                .field("code", code)
                .field("valid_for", valid_for)
                .finish_non_exhaustive(),
            Self::Transferred { at, .. } => f
                .debug_struct("Transferred")
                .field("at", at)
                .finish_non_exhaustive(),
        }
    }
}

/// One message to send: everything a [`Mailer`] needs.
///
/// `Debug` shows neither the code nor the full address.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::{EmailAddress, Locale};
/// use tower_otp::mail::{Code, MailKind, OtpMail};
///
/// let kind = MailKind::Code { code: Code::generate(6), valid_for: Duration::from_secs(300) };
/// let mail = OtpMail::new(EmailAddress::parse("taro@example.com")?, kind, Locale::En, "Example Tickets")
///     .with_site_origin(Some("https://tickets.example".into()))
///     .with_ticket_hint(Some("Summer Live, seat A-12".into()));
/// let rendered = mail.render();
/// assert_eq!(rendered.subject, "[Example Tickets] Your one-time password");
/// assert!(rendered.text.contains("Summer Live, seat A-12"));
/// assert!(!format!("{mail:?}").contains("taro@"));
/// # Ok::<(), tower_otp::AddressError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OtpMail {
    /// The recipient (validated, bare address).
    pub to: EmailAddress,
    /// What the message says.
    pub kind: MailKind,
    /// The language of the person who asked.
    pub locale: Locale,
    /// The site's name, as configured.
    pub site_name: String,
    /// The site's canonical origin, as configured (never taken from the request).
    pub site_origin: Option<String>,
    /// A hint that tells the person which ticket this is about (given by the application), if any.
    pub ticket_hint: Option<String>,
}

impl OtpMail {
    /// A message.
    pub fn new(
        to: EmailAddress,
        kind: MailKind,
        locale: Locale,
        site_name: impl Into<String>,
    ) -> Self {
        Self {
            to,
            kind,
            locale,
            site_name: site_name.into(),
            site_origin: None,
            ticket_hint: None,
        }
    }

    /// Sets the site origin.
    pub fn with_site_origin(mut self, origin: Option<String>) -> Self {
        self.site_origin = origin;
        self
    }

    /// Sets the ticket hint.
    pub fn with_ticket_hint(mut self, hint: Option<String>) -> Self {
        self.ticket_hint = hint;
        self
    }

    /// The subject, plain text and HTML bodies in the message's language.
    ///
    /// The subject is `[site name]` and fixed words: never the code, the
    /// hint or anything a visitor typed. The bodies name the site (and its
    /// origin, as plain text), show the hint, and for a code say how long it
    /// is valid, that it must never be shared or typed on another site, and
    /// that an unrequested mail can be ignored. Only the
    /// [`HandedOver`](MailKind::HandedOver) and
    /// [`TransferOffered`](MailKind::TransferOffered) mails have a link: the
    /// one the flow gave, on a line of its own in the text body and as an
    /// `<a href>` in the HTML body, and only if it is an `http://` or
    /// `https://` URL (any other is left out). The HTML body escapes every
    /// value, the link included. Line breaks and control characters in
    /// the site name, origin and hint become spaces.
    ///
    /// ```
    /// use tower_otp::{EmailAddress, Locale, Timestamp};
    /// use tower_otp::mail::{MailKind, OtpMail};
    ///
    /// let kind = MailKind::NewDevice { at: Timestamp::from_millis(1_754_051_696_000) };
    /// let mail = OtpMail::new(EmailAddress::parse("taro@example.com")?, kind, Locale::Ja, "<b>Site</b>");
    /// let rendered = mail.render();
    /// assert!(rendered.text.contains("2025年8月1日 21:34（日本時間）"));
    /// assert!(rendered.html.contains("&lt;b&gt;Site&lt;/b&gt;"));
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn render(&self) -> RenderedMail {
        render::render(self)
    }
}
