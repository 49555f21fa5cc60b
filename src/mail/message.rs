//! Builds the lettre [`Message`] that the SMTP and file transports send.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use rand::RngCore;

use super::{MailError, OtpMail};

/// The sender used when none is configured (development transports only).
pub(crate) const DEFAULT_FROM: &str = "tower-otp@localhost";

/// Parses an operator-given `From` (`Name <addr@example.com>` or a bare
/// address). Operator input, so a display name is allowed here, unlike
/// [`EmailAddress`](super::EmailAddress).
pub(crate) fn parse_from(from: &str) -> Option<Mailbox> {
    if from.chars().any(char::is_control) {
        return None;
    }
    from.trim().parse().ok()
}

/// One `multipart/alternative` message (plain text, then HTML) to the single
/// validated recipient. Only `To` comes from a person; the subject and bodies
/// come from [`OtpMail::render`]. A sender without a display name gets the
/// site name.
pub(crate) fn build_message(mail: &OtpMail, from: &Mailbox) -> Result<Message, MailError> {
    let rendered = mail.render();
    let to: lettre::Address = mail.to.as_str().parse().map_err(MailError::new)?;
    let mut from = from.clone();
    if from.name.is_none() {
        let name = super::render::one_line(&mail.site_name);
        from.name = (!name.is_empty()).then_some(name);
    }
    let message_id = message_id(from.email.domain());
    Message::builder()
        .from(from)
        .to(Mailbox::new(None, to))
        .subject(rendered.subject)
        .message_id(Some(message_id))
        // RFC 3834: keeps vacation responders and the like from answering.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .map_err(MailError::new)
}

/// `<random@sender-domain>`: 128 random bits, and the sender's domain rather
/// than this machine's host name, which would leak into every message.
fn message_id(domain: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mail::{Code, MailKind};
    use crate::{EmailAddress, Locale};

    #[test]
    fn message_has_one_recipient_site_sender_and_alternative_parts() {
        let to = EmailAddress::parse("taro@example.com").unwrap();
        let code = Code::normalize("493817", 6).unwrap();
        let kind = MailKind::Code {
            code,
            valid_for: Duration::from_secs(300),
        };
        let mail = OtpMail::new(to, kind, Locale::En, "Ticket Site");
        let from = parse_from("noreply@tickets.example").unwrap();
        let bytes = build_message(&mail, &from).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("To: taro@example.com\r\n"), "{head}");
        assert!(
            head.contains("From: \"Ticket Site\" <noreply@tickets.example>"),
            "{head}"
        );
        assert!(head.contains("Subject: [Ticket Site] Your one-time password\r\n"));
        assert!(head.contains("Auto-Submitted: auto-generated\r\n"));
        assert!(head.contains("@tickets.example>\r\n"), "message id: {head}");
        assert!(head.contains("multipart/alternative"));
        assert!(!head.contains("493817"));
        assert!(body.contains("text/plain") && body.contains("text/html"));
    }

    #[test]
    fn operator_from_is_parsed_but_control_characters_are_refused() {
        assert!(parse_from("Site <noreply@site.example>").is_some());
        assert!(parse_from("noreply@site.example").is_some());
        assert!(parse_from("noreply@site.example\r\nBcc: x@y.z").is_none());
        assert!(parse_from("not an address").is_none());
    }

    #[test]
    fn the_longest_address_stays_on_one_to_line() {
        let addr = format!(
            "{}@{}.{}.{}.com",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        assert_eq!(addr.len(), 254);
        let to = EmailAddress::parse(&addr).unwrap();
        let kind = MailKind::NewDevice {
            at: crate::Timestamp::from_millis(0),
        };
        let mail = OtpMail::new(to, kind, Locale::Ja, "長いサイト名".repeat(10));
        let from = parse_from("noreply@tickets.example").unwrap();
        let bytes = build_message(&mail, &from).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("\r\nTo: {addr}\r\n")), "{head}");
    }
}
