//! Sending a code ([`Flow::send`], for Send and Resend, with the
//! [`SendRequest`] it takes) and forgetting the address it went to
//! ([`Flow::restart`]).

use std::net::IpAddr;

use super::outcome::{Challenge, ChallengeState, Rejection, Sent};
use super::recipients::Recipient;
use super::{Flow, wait};
use crate::clock::Timestamp;
use crate::code::Code;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::locale::Locale;
use crate::mail::outbox::{Delivery, Letter};
use crate::mail::{MailKind, OtpMail};
use crate::store::{IssueOutcome, IssueRequest, RestartOutcome, SendBudget};
use crate::ticket::TicketKey;

/// What the store said of an issued code.
struct Issued {
    expires_at: Timestamp,
    next_send_at: Timestamp,
    bound: bool,
    attempts_used: u32,
}

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
    /// Send only to the ticket's binding: a ticket with none is refused
    /// ([`Rejection::NotPrebound`]) whatever is typed, as under
    /// [`Flow::with_require_prebound`] (the layer asks it for a seat
    /// handed to a companion: its codes go to the companion or nowhere).
    pub bound_only: bool,
}

impl<'a> SendRequest<'a> {
    /// A request with no address and no hint.
    pub fn new(locale: Locale) -> Self {
        Self {
            email: None,
            locale,
            ticket_hint: None,
            client: None,
            bound_only: false,
        }
    }

    /// Sends only to the ticket's binding ([`bound_only`](Self::bound_only)).
    pub fn bound_only(mut self) -> Self {
        self.bound_only = true;
        self
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
        self.send_and_view(ticket, request)
            .await
            .map(|(sent, _)| sent)
    }

    /// [`send`](Self::send), and where the challenge stands after it.
    ///
    /// One store step when this instance knows where the ticket's codes go
    /// (it served the ticket's page, say): the issue itself, which the store
    /// refuses if that knowledge is stale. Otherwise, or after such a
    /// refusal, the ticket is read first. A typed address on a bound ticket
    /// is never compared with the binding, so neither the answer nor its
    /// timing says whether it was the bound one (checklist 6.3); the one
    /// exception is a binding made on another instance since this one last
    /// read the ticket, which one send finds out and forgets.
    pub(crate) async fn send_and_view(
        &self,
        ticket: &TicketKey,
        request: SendRequest<'_>,
    ) -> Result<(Sent, Challenge), Rejection> {
        let inner = &self.inner;
        let now = self.now();
        let policy = inner.limits.policy();
        let code = Code::generate(inner.limits.code_digits());
        let hash = code.hash(&inner.keys.code, ticket);
        let mut known = inner.recipients.get(ticket, now);
        // The remembered recipient, then a fresh read, then (only when the
        // binding went away between that read and the issue) one more.
        for _ in 0..3 {
            let read = known.is_none();
            let recipient = match known.take() {
                Some(recipient) => recipient,
                None => Recipient::of(&self.snapshot(ticket).await?.0),
            };
            let (address, expect_bound) = match (recipient, request.email) {
                (Recipient::Bound(bound), _) => (bound, true),
                (Recipient::Unbound { .. }, _) if inner.require_prebound || request.bound_only => {
                    if read {
                        return Err(self.not_prebound(ticket));
                    }
                    continue;
                }
                (Recipient::Unbound { .. }, Some(typed)) => match EmailAddress::parse(typed) {
                    Ok(address) => (address, false),
                    Err(_) if !read => continue,
                    Err(error) => return Err(Rejection::InvalidAddress(error)),
                },
                (
                    Recipient::Unbound {
                        pending: Some(pending),
                    },
                    None,
                ) => (pending, false),
                (Recipient::Unbound { pending: None }, None) if read => {
                    return Err(Rejection::AddressRequired);
                }
                (Recipient::Unbound { pending: None }, None) => continue,
            };
            let keys = inner.keys.counter_keys(&address, request.client);
            let mut issue = IssueRequest::new(ticket, &address, &keys, &hash, now, policy);
            if expect_bound {
                issue = issue.expecting_binding();
            }
            let outcome = inner.store.issue_code(&issue).await?;
            let issued = match outcome {
                IssueOutcome::Issued {
                    expires_at,
                    next_send_at,
                    bound,
                    attempts_used,
                } => Issued {
                    expires_at,
                    next_send_at,
                    bound,
                    attempts_used,
                },
                IssueOutcome::BoundElsewhere | IssueOutcome::NotBound => {
                    inner.recipients.forget(ticket);
                    if read && outcome == IssueOutcome::BoundElsewhere {
                        return Err(Rejection::Bound);
                    }
                    continue;
                }
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
            };
            let recipient = if issued.bound {
                Recipient::Bound(address.clone())
            } else {
                Recipient::Unbound {
                    pending: Some(address.clone()),
                }
            };
            inner.recipients.set(ticket, recipient, now);
            let delivery = self
                .mail_code(ticket, &issue, issued.expires_at, code, &request)
                .await?;
            let view = self.view_after_send(&address, &issued, now);
            let to = address.masked();
            inner.events.emit(OtpEvent::CodeSent {
                ticket: *ticket,
                to: to.clone(),
            });
            let sent = Sent {
                to,
                expires_at: issued.expires_at,
                resend_at: issued.next_send_at,
                delivery,
            };
            return Ok((sent, view));
        }
        // The binding came and went under three reads in a row.
        Err(Rejection::Bound)
    }

    /// Mails `code`, issued by `issue` and valid until `expires_at`: queued
    /// in the outbox if the flow has one, else sent now. A mail that cannot
    /// be queued or sent withdraws the code.
    async fn mail_code(
        &self,
        ticket: &TicketKey,
        issue: &IssueRequest<'_>,
        expires_at: Timestamp,
        code: Code,
        request: &SendRequest<'_>,
    ) -> Result<Delivery, Rejection> {
        let inner = &self.inner;
        let mail = OtpMail::new(
            issue.address.clone(),
            MailKind::Code {
                code,
                valid_for: issue.policy.code_ttl,
            },
            request.locale,
            inner.site_name.clone(),
        )
        .with_site_origin(inner.site_origin.clone())
        .with_ticket_hint(request.ticket_hint.map(str::to_owned));
        let letter = Letter::new(*ticket, *issue.code, issue.now, expires_at, mail)
            .with_client(request.client);
        self.deliver_code(issue, letter).await
    }

    /// The challenge right after a code to `address` was issued: the store
    /// said all a page needs, so it is not read again.
    fn view_after_send(
        &self,
        address: &EmailAddress,
        issued: &Issued,
        now: Timestamp,
    ) -> Challenge {
        Challenge {
            state: ChallengeState::CodeSent,
            bound: issued.bound,
            masked_address: Some(address.masked()),
            expires_at: Some(issued.expires_at),
            resend_at: Some(issued.next_send_at).filter(|at| *at > now),
            attempts_left: self
                .inner
                .limits
                .max_attempts()
                .saturating_sub(issued.attempts_used),
            locked_until: None,
            exhausted: false,
            expired: false,
            // Never offered after a send; a page read shows the ticket as it is.
            claimable: false,
            now,
        }
    }

    /// Forgets the pending address and its codes so another address can be
    /// entered (unbound tickets only). The attempt budget is kept.
    ///
    /// # Errors
    /// [`Rejection::Bound`] for bound tickets, or the store's error.
    pub async fn restart(&self, ticket: &TicketKey) -> Result<(), Rejection> {
        let now = self.now();
        let recipients = &self.inner.recipients;
        match self.inner.store.restart(ticket, now).await? {
            RestartOutcome::Restarted => {
                recipients.set(ticket, Recipient::Unbound { pending: None }, now);
                self.inner
                    .events
                    .emit(OtpEvent::Restarted { ticket: *ticket });
                Ok(())
            }
            RestartOutcome::Bound => {
                recipients.forget(ticket);
                Err(Rejection::Bound)
            }
        }
    }

    /// A send refused by `budget` until `retry_at`: said as an event (with
    /// the budget's name, for logs and metrics) and as a rejection (without
    /// it, for the page).
    pub(super) fn throttled(
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
