//! Sending a code ([`Flow::send`], for Send and Resend, with the
//! [`SendRequest`] it takes) and forgetting the address it went to
//! ([`Flow::restart`]).

use std::net::IpAddr;

use super::outcome::{Rejection, Sent};
use super::{Flow, wait};
use crate::clock::Timestamp;
use crate::code::Code;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::locale::Locale;
use crate::mail::{MailKind, OtpMail};
use crate::store::{IssueOutcome, IssueRequest, RestartOutcome, SendBudget};
use crate::ticket::TicketKey;

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
    /// use tower_otp::{Locale, flow::SendRequest};
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

impl Flow {
    /// Sends a code (Send and Resend): to the bound address if there is one
    /// (a typed address is then ignored), else to the typed address, else to
    /// the pending one. Within the limits; a mail failure withdraws the code
    /// and counts nothing.
    ///
    /// # Errors
    /// A [`Rejection`] saying why nothing was sent:
    /// [`Rejection::NotPrebound`] for an unbound ticket when the flow
    /// [requires pre-bound addresses](Flow::with_require_prebound).
    pub async fn send(
        &self,
        ticket: &TicketKey,
        request: SendRequest<'_>,
    ) -> Result<Sent, Rejection> {
        let inner = &self.inner;
        let now = self.now();
        let policy = inner.limits.policy();
        // Read first, then issue: a typed address on a bound ticket is never
        // compared with the binding, so neither the answer nor its timing says
        // whether it was the bound one (checklist 6.3).
        let snapshot = inner.store.load(ticket, now, policy).await?;
        if snapshot.binding.is_none() && inner.require_prebound {
            return Err(self.not_prebound(ticket));
        }
        let address = match (&snapshot.binding, request.email, &snapshot.pending) {
            (Some(bound), _, _) => bound.clone(),
            (None, Some(typed), _) => {
                EmailAddress::parse(typed).map_err(Rejection::InvalidAddress)?
            }
            (None, None, Some(pending)) => pending.clone(),
            (None, None, None) => return Err(Rejection::AddressRequired),
        };
        let code = Code::generate(inner.limits.code_digits());
        let hash = code.hash(&inner.keys.code, ticket);
        let keys = inner.keys.counter_keys(&address, request.client);
        let issue = IssueRequest::new(ticket, &address, &keys, &hash, now, policy);
        let (expires_at, resend_at) = match inner.store.issue_code(&issue).await? {
            IssueOutcome::Issued {
                expires_at,
                next_send_at,
            } => (expires_at, next_send_at),
            IssueOutcome::TicketThrottled { retry_at } => {
                return Err(self.throttled(ticket, now, retry_at, SendBudget::Ticket));
            }
            IssueOutcome::AddressThrottled { retry_at, budget } => {
                return Err(self.throttled(ticket, now, retry_at, budget));
            }
            IssueOutcome::Locked { until } => {
                return Err(Rejection::Locked {
                    until,
                    retry_after: wait(now, until),
                });
            }
            IssueOutcome::BoundElsewhere => return Err(Rejection::Bound),
        };
        let mail = OtpMail::new(
            address.clone(),
            MailKind::Code {
                code,
                valid_for: policy.code_ttl,
            },
            request.locale,
            inner.site_name.clone(),
        )
        .with_site_origin(inner.site_origin.clone())
        .with_ticket_hint(request.ticket_hint.map(str::to_owned));
        if let Err(error) = inner.mailer.send(&mail).await {
            inner.events.emit(OtpEvent::MailFailed { ticket: *ticket });
            tracing::warn!(ticket = ticket.label(), error = %error, "withdrawing the undelivered code");
            if let Err(withdraw) = inner.store.withdraw_code(&issue).await {
                tracing::error!(ticket = ticket.label(), error = %withdraw, "could not withdraw an undelivered code");
            }
            return Err(Rejection::MailFailed(error));
        }
        let to = address.masked();
        inner.events.emit(OtpEvent::CodeSent {
            ticket: *ticket,
            to: to.clone(),
        });
        Ok(Sent {
            to,
            expires_at,
            resend_at,
        })
    }

    /// Forgets the pending address and its codes so another address can be
    /// entered (unbound tickets only). The attempt budget is kept.
    ///
    /// # Errors
    /// [`Rejection::Bound`] for bound tickets, or the store's error.
    pub async fn restart(&self, ticket: &TicketKey) -> Result<(), Rejection> {
        match self.inner.store.restart(ticket, self.now()).await? {
            RestartOutcome::Restarted => {
                self.inner
                    .events
                    .emit(OtpEvent::Restarted { ticket: *ticket });
                Ok(())
            }
            RestartOutcome::Bound => Err(Rejection::Bound),
        }
    }

    /// A send refused by `budget` until `retry_at`: said as an event (with
    /// the budget's name, for logs and metrics) and as a rejection (without
    /// it, for the page).
    fn throttled(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        retry_at: Timestamp,
        budget: SendBudget,
    ) -> Rejection {
        self.inner.events.emit(OtpEvent::SendThrottled {
            ticket: *ticket,
            retry_at,
            budget,
        });
        Rejection::Throttled {
            retry_after: wait(now, retry_at),
        }
    }
}
