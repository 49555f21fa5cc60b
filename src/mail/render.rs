//! Renders an [`OtpMail`] into subject, text and HTML (Japanese and English).

use super::OtpMail;

/// A message ready for a transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RenderedMail {
    /// The subject: fixed text and the site name, never the code.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

pub(crate) fn render(mail: &OtpMail) -> RenderedMail {
    // Placeholder: replaced by the mail module's templates.
    let _ = mail;
    RenderedMail {
        subject: String::new(),
        text: String::new(),
        html: String::new(),
    }
}
