//! [`SendRequest`]: what a send needs besides the ticket.

use crate::locale::Locale;

/// What [`Flow::send`](crate::Flow::send) needs besides the ticket.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SendRequest<'a> {
    /// The address typed, if any (ignored once the ticket is bound).
    pub email: Option<&'a str>,
    /// The language of the e-mail.
    pub locale: Locale,
    /// A hint the e-mail shows so the person knows which ticket it is about.
    pub ticket_hint: Option<&'a str>,
}

impl<'a> SendRequest<'a> {
    /// A request with no address and no hint.
    pub fn new(locale: Locale) -> Self {
        Self {
            email: None,
            locale,
            ticket_hint: None,
        }
    }

    /// Sets the typed address.
    pub fn with_email(mut self, email: &'a str) -> Self {
        self.email = Some(email);
        self
    }

    /// Sets the ticket hint.
    pub fn with_ticket_hint(mut self, hint: Option<&'a str>) -> Self {
        self.ticket_hint = hint;
        self
    }
}
