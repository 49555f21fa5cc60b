//! A mailer that records how long each mail took, and its failures.

use async_trait::async_trait;

use super::{names, timed};
use crate::mail::{MailError, MailKind, Mailer, OtpMail};

/// Wraps the flow's mailer when the `metrics` feature is on.
pub(crate) struct MeteredMailer<M>(pub(crate) M);

#[async_trait]
impl<M: Mailer> Mailer for MeteredMailer<M> {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        let kind = match mail.kind {
            MailKind::Code { .. } | MailKind::TransferCode { .. } => "code",
            MailKind::NewDevice { .. }
            | MailKind::Rebound { .. }
            | MailKind::Transferred { .. } => "notice",
            MailKind::HandedOver { .. } | MailKind::TransferOffered { .. } => "link",
            #[allow(unreachable_patterns)]
            _ => "other",
        };
        timed(
            names::MAIL_DURATION,
            names::MAIL_ERRORS,
            "kind",
            kind,
            self.0.send(mail),
        )
        .await
    }
}
