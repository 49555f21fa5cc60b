//! A development mailer that prints each message, code included, to standard
//! output.

use std::io::Write as _;
use std::time::Duration;

use async_trait::async_trait;

use super::render::{link_to_show, one_line};
use super::{MailError, MailKind, Mailer, OtpMail};

/// **For development only:** prints every message to the process's
/// standard output, with the full recipient address, the one-time password
/// and any link in clear, instead of sending it. Nothing leaves the machine.
///
/// Whoever reads the process's output (a terminal, a log collector, a
/// container's logs) can read every code and open every ticket, so never
/// use it where the output is kept or shared. Use
/// [`SmtpMailer`](crate::SmtpMailer) in production, or
/// [`FileMailer`](super::FileMailer) to keep messages on the machine as
/// `.eml` files. [`TerminalMailer::new`] logs a warning (without any code)
/// so that a deployment that uses it by mistake says so.
///
/// It writes to standard output, not standard error, so that a tool that
/// starts the application and reads its output can pick the codes up. Each
/// message is a short block between blank lines:
///
/// ```text
///
///   ✉  one-time password for taro@example.com: 123456  (valid 5 min)
///
/// ```
///
/// A new-device, rebinding or transfer notice prints `notice to <address>:`
/// and what happened, without a code. A hand-over or transfer offer prints
/// its link (`hand-over link for <address>: https://...`), a transfer code
/// `transfer code for <address>: <code>` with its validity and the masked
/// address the ticket would go to.
///
/// ```
/// use tower_otp::mail::TerminalMailer;
/// use tower_otp::{Flow, MemoryStore, Secret};
///
/// // Development: codes appear in this process's output.
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), TerminalMailer::new());
/// # let _ = flow;
/// ```
#[derive(Debug, Clone)]
pub struct TerminalMailer {
    _private: (),
}

impl TerminalMailer {
    /// A mailer printing to standard output. Logs one `tracing` warning
    /// that codes are being printed (the warning holds no code).
    ///
    /// ```
    /// let mailer = tower_otp::mail::TerminalMailer::new();
    /// # let _ = mailer;
    /// ```
    pub fn new() -> Self {
        tracing::warn!(
            "TerminalMailer prints every one-time password to standard output: for development only, never in production"
        );
        Self { _private: () }
    }
}

impl Default for TerminalMailer {
    /// The same as [`TerminalMailer::new`] (and so logs its warning).
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Mailer for TerminalMailer {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        let block = render(mail);
        let mut out = std::io::stdout().lock();
        out.write_all(block.as_bytes())
            .and_then(|()| out.flush())
            .map_err(MailError::new)
    }
}

/// The block printed for `mail`: a blank line, one line saying what the
/// message is, and a blank line.
fn render(mail: &OtpMail) -> String {
    let to = mail.to.as_str();
    let line = match &mail.kind {
        MailKind::Code { code, valid_for } => format!(
            "one-time password for {to}: {}  (valid {})",
            code.as_str(),
            validity(*valid_for)
        ),
        MailKind::NewDevice { .. } => format!("notice to {to}: a new device was verified"),
        MailKind::Rebound { .. } => {
            format!("notice to {to}: the ticket was bound to another address")
        }
        MailKind::HandedOver { link } => format!("hand-over link for {to}: {}", shown(link)),
        MailKind::TransferOffered { link } => {
            format!("transfer link for {to}: {}", shown(link))
        }
        MailKind::TransferCode {
            code,
            valid_for,
            to: recipient,
        } => format!(
            "transfer code for {to}: {}  (valid {}, to {})",
            code.as_str(),
            validity(*valid_for),
            one_line(recipient)
        ),
        MailKind::Transferred { to: recipient, .. } => format!(
            "notice to {to}: the ticket was transferred to {}",
            one_line(recipient)
        ),
    };
    format!("\n  ✉  {line}\n\n")
}

/// The link as the message shows it, or why it shows none.
fn shown(link: &str) -> &str {
    link_to_show(link).unwrap_or("(none: not an http:// or https:// URL)")
}

/// `5 min` for whole minutes, `90 s` otherwise.
fn validity(valid_for: Duration) -> String {
    let secs = valid_for.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::code::Code;
    use crate::email::EmailAddress;
    use crate::locale::Locale;

    fn mail(kind: MailKind) -> OtpMail {
        let to = EmailAddress::parse("taro@example.com").unwrap();
        OtpMail::new(to, kind, Locale::En, "Example Tickets")
    }

    #[test]
    fn a_code_shows_the_full_address_the_code_and_its_validity() {
        let code = Code::generate(6);
        let block = render(&mail(MailKind::Code {
            code: code.clone(),
            valid_for: Duration::from_secs(300),
        }));
        assert_eq!(
            block,
            format!(
                "\n  ✉  one-time password for taro@example.com: {}  (valid 5 min)\n\n",
                code.as_str()
            )
        );
        // What a tool reading the output looks for: the code after "com: ".
        let line = block.lines().find(|l| l.contains("one-time password for"));
        let (_, rest) = line.unwrap().split_once("com: ").unwrap();
        assert_eq!(rest.split_whitespace().next(), Some(code.as_str()));

        let block = render(&mail(MailKind::Code {
            code,
            valid_for: Duration::from_secs(90),
        }));
        assert!(block.contains("(valid 90 s)"), "{block}");
    }

    #[test]
    fn notices_name_the_address_and_carry_no_code() {
        let at = Timestamp::from_millis(1_754_051_696_000);
        assert_eq!(
            render(&mail(MailKind::NewDevice { at })),
            "\n  ✉  notice to taro@example.com: a new device was verified\n\n"
        );
        assert_eq!(
            render(&mail(MailKind::Rebound { at })),
            "\n  ✉  notice to taro@example.com: the ticket was bound to another address\n\n"
        );
    }

    #[test]
    fn links_codes_and_transfers_are_one_line_each() {
        let link = "https://tickets.example/claim/Zq8x?a=1&b=2";
        assert_eq!(
            render(&mail(MailKind::HandedOver { link: link.into() })),
            format!("\n  ✉  hand-over link for taro@example.com: {link}\n\n")
        );
        assert_eq!(
            render(&mail(MailKind::TransferOffered { link: link.into() })),
            format!("\n  ✉  transfer link for taro@example.com: {link}\n\n")
        );
        assert_eq!(
            render(&mail(MailKind::HandedOver {
                link: "javascript:alert(1)\nBcc: x".into()
            })),
            "\n  ✉  hand-over link for taro@example.com: (none: not an http:// or https:// URL)\n\n"
        );
        let code = Code::generate(6);
        assert_eq!(
            render(&mail(MailKind::TransferCode {
                code: code.clone(),
                valid_for: Duration::from_secs(600),
                to: "h***@example.com".into(),
            })),
            format!(
                "\n  ✉  transfer code for taro@example.com: {}  (valid 10 min, to h***@example.com)\n\n",
                code.as_str()
            )
        );
        assert_eq!(
            render(&mail(MailKind::Transferred {
                at: Timestamp::from_millis(1_754_051_696_000),
                to: "h***@example.com\r\n".into(),
            })),
            "\n  ✉  notice to taro@example.com: the ticket was transferred to h***@example.com\n\n"
        );
    }

    #[tokio::test]
    async fn send_succeeds() {
        let mailer = TerminalMailer::new();
        let at = Timestamp::from_millis(0);
        mailer
            .send(&mail(MailKind::NewDevice { at }))
            .await
            .unwrap();
    }
}
