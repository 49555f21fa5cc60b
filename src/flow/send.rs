//! [`SendRequest`]: what a send needs besides the ticket.

use std::net::IpAddr;

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
    /// The address of the client that asked, for the per-client send
    /// budget (`None`: not known, and that budget does not apply). IPv6
    /// clients are counted by their /64 network.
    pub client: Option<IpAddr>,
}

impl<'a> SendRequest<'a> {
    /// A request with no address and no hint.
    pub fn new(locale: Locale) -> Self {
        Self {
            email: None,
            locale,
            ticket_hint: None,
            client: None,
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

    /// Sets the client's address, for the per-client send budget.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tower_otp::{Locale, SendRequest};
    ///
    /// let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    /// let send = SendRequest::new(Locale::En).with_client(Some(client));
    /// assert_eq!(send.client, Some(client));
    /// ```
    pub fn with_client(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }
}
