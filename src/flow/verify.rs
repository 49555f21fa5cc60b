//! Checking a code typed by a person: [`Flow::verify`] and [`Flow::verify_in`].

use super::outcome::{Rejection, Verified};
use super::recipients::Recipient;
use super::{Flow, wait};
use crate::code::Code;
use crate::events::OtpEvent;
use crate::locale::Locale;
use crate::store::{VerifyOutcome, VerifyRequest};
use crate::ticket::TicketKey;

impl Flow {
    /// Checks a code typed by a person, without a page language: the bound
    /// locale stays as it is (see [`verify_in`](Flow::verify_in), which the
    /// layer uses). On success the code's address is bound (if the ticket
    /// was unbound) and the layer mints a device token.
    ///
    /// # Errors
    /// A [`Rejection`]: format errors, expired or missing codes and lockouts
    /// count nothing; wrong codes count against the round's budget. An
    /// unbound ticket is [`Rejection::NotPrebound`] when the flow
    /// [requires pre-bound addresses](Flow::with_require_prebound).
    pub async fn verify(&self, ticket: &TicketKey, input: &str) -> Result<Verified, Rejection> {
        self.verify_with(ticket, input, None, false).await
    }

    /// Checks a code typed on a page in `locale`, as [`verify`](Flow::verify)
    /// does, and on success remembers `locale` as the language of the bound
    /// address. The new-device notice that a success may send to the bound
    /// address goes out in the language that address used before (the bound
    /// locale as it was, falling back to the
    /// [default](Flow::with_default_locale)), never in the new device's.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, Locale, MemoryStore, Secret, flow::SendRequest, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// flow.send(&ticket, SendRequest::new(Locale::Ko).with_email("minji@example.com")).await?;
    /// let verified = flow.verify_in(&ticket, &mailer.last_code().unwrap(), Locale::Ko).await?;
    /// assert!(verified.newly_bound);
    /// assert_eq!(flow.inspect(&ticket).await?.bound_locale, Some(Locale::Ko));
    /// # Ok::<(), tower_otp::flow::Rejection>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`verify`](Flow::verify).
    pub async fn verify_in(
        &self,
        ticket: &TicketKey,
        input: &str,
        locale: Locale,
    ) -> Result<Verified, Rejection> {
        self.verify_with(ticket, input, Some(locale), false).await
    }

    /// [`verify_in`](Flow::verify_in), verifying only a ticket that is
    /// bound ([`SendRequest::bound_only`](crate::flow::SendRequest::bound_only)).
    pub(crate) async fn verify_bound_only(
        &self,
        ticket: &TicketKey,
        input: &str,
        locale: Locale,
    ) -> Result<Verified, Rejection> {
        self.verify_with(ticket, input, Some(locale), true).await
    }

    async fn verify_with(
        &self,
        ticket: &TicketKey,
        input: &str,
        locale: Option<Locale>,
        bound_only: bool,
    ) -> Result<Verified, Rejection> {
        let inner = &self.inner;
        // Codes on a bound ticket verify only its bound address (the store
        // voids any other), and one cannot be unbound but by support, which
        // drops its codes: a binding read here cannot be lost before the
        // verify below.
        if inner.require_prebound || bound_only {
            let known = inner.recipients.get(ticket, self.now());
            let recipient = match known {
                Some(bound @ Recipient::Bound(_)) => bound,
                _ => Recipient::of(&self.snapshot(ticket).await?.0),
            };
            if !matches!(recipient, Recipient::Bound(_)) {
                return Err(self.not_prebound(ticket));
            }
        }
        let code = Code::normalize(input, inner.limits.code_digits()).map_err(|error| {
            count_verification("invalid");
            Rejection::InvalidCode(error)
        })?;
        let hash = code.hash(&inner.keys.code, ticket);
        let now = self.now();
        let request =
            VerifyRequest::new(ticket, &hash, now, inner.limits.policy()).with_locale(locale);
        match inner.store.verify_code(&request).await? {
            VerifyOutcome::Verified {
                address,
                newly_bound,
                earlier_device,
                generation,
                previous_locale,
                ..
            } => {
                count_verification("verified");
                inner
                    .recipients
                    .set(ticket, Recipient::Bound(address.clone()), now);
                inner.events.emit(OtpEvent::Verified {
                    ticket: *ticket,
                    newly_bound,
                });
                // News only when another device already had the ticket: the
                // first device to verify a pre-bound address is its owner's.
                if !newly_bound && earlier_device && inner.notify_new_device {
                    let locale = previous_locale.unwrap_or(inner.default_locale);
                    self.notify_new_device(address, now, locale);
                }
                Ok(Verified {
                    generation,
                    newly_bound,
                })
            }
            VerifyOutcome::Wrong {
                attempts_left,
                locked_until,
            } => {
                count_verification("wrong");
                #[cfg(feature = "metrics")]
                crate::metrics::wrong_code(
                    inner.limits.max_attempts().saturating_sub(attempts_left),
                );
                inner.events.emit(OtpEvent::VerifyFailed {
                    ticket: *ticket,
                    attempts_left,
                });
                if let Some(until) = locked_until {
                    inner.events.emit(OtpEvent::Locked {
                        ticket: *ticket,
                        until,
                    });
                    return Err(Rejection::Locked {
                        until,
                        retry_after: wait(now, until),
                    });
                }
                Err(Rejection::WrongCode { attempts_left })
            }
            VerifyOutcome::Expired => {
                count_verification("expired");
                Err(Rejection::Expired)
            }
            VerifyOutcome::NoCode => {
                count_verification("no_code");
                Err(Rejection::NoCode)
            }
            VerifyOutcome::Exhausted => {
                count_verification("exhausted");
                Err(Rejection::TooManyAttempts)
            }
            VerifyOutcome::Locked { until } => {
                count_verification("locked");
                Err(Rejection::Locked {
                    until,
                    retry_after: wait(now, until),
                })
            }
        }
    }
}

/// Counts a code entry by its outcome (feature `metrics`).
fn count_verification(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    crate::metrics::verification(outcome);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}
