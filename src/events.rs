//! What happened: events for logs, metrics and the application.

use std::fmt;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::store::SendBudget;
use crate::ticket::TicketKey;

/// Something the flow did. Carries no code, token, raw ticket id or full
/// address: tickets appear as [`TicketKey`]s, addresses masked.
///
/// Every event is also emitted as a `tracing` event (target `tower_otp`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtpEvent {
    /// The first device of a ticket was trusted.
    FirstDeviceClaimed {
        /// The ticket.
        ticket: TicketKey,
    },
    /// A code was sent.
    CodeSent {
        /// The ticket.
        ticket: TicketKey,
        /// The masked recipient.
        to: String,
    },
    /// A send was refused by a limit.
    SendThrottled {
        /// The ticket.
        ticket: TicketKey,
        /// When a send will be allowed.
        retry_at: Timestamp,
        /// Which limit refused it.
        budget: SendBudget,
    },
    /// A first-device claim of an id no validator vouched for was refused
    /// by a limit: the browser gets the challenge instead.
    ClaimThrottled {
        /// The ticket.
        ticket: TicketKey,
        /// When the client may claim again.
        retry_at: Timestamp,
        /// Which limit refused it.
        budget: SendBudget,
    },
    /// The mailer failed; the code was withdrawn.
    MailFailed {
        /// The ticket.
        ticket: TicketKey,
    },
    /// A device was verified.
    Verified {
        /// The ticket.
        ticket: TicketKey,
        /// The address was bound by this verification.
        newly_bound: bool,
    },
    /// A wrong code was entered.
    VerifyFailed {
        /// The ticket.
        ticket: TicketKey,
        /// Attempts left in the round.
        attempts_left: u32,
    },
    /// New devices were locked out of the ticket.
    Locked {
        /// The ticket.
        ticket: TicketKey,
        /// Until then.
        until: Timestamp,
    },
    /// The pending address was forgotten.
    Restarted {
        /// The ticket.
        ticket: TicketKey,
    },
    /// The application bound an address.
    PreBound {
        /// The ticket.
        ticket: TicketKey,
    },
    /// Device tokens issued so far were revoked.
    DevicesRevoked {
        /// The ticket.
        ticket: TicketKey,
        /// The new generation.
        generation: u64,
    },
    /// Support looked the ticket up ([`Flow::inspect`](crate::Flow::inspect)).
    Inspected {
        /// The ticket.
        ticket: TicketKey,
        /// The full addresses were asked for
        /// ([`Flow::inspect_unmasked`](crate::Flow::inspect_unmasked)).
        unmasked: bool,
    },
    /// Support unbound the ticket ([`Flow::unbind`](crate::Flow::unbind)).
    Unbound {
        /// The ticket.
        ticket: TicketKey,
        /// The address that was bound, masked (`None`: it was not bound).
        previous: Option<String>,
        /// The new generation (devices verified before are revoked).
        generation: u64,
    },
    /// Support bound the ticket to another address
    /// ([`Flow::rebind`](crate::Flow::rebind)).
    Rebound {
        /// The ticket.
        ticket: TicketKey,
        /// The address bound before, masked (`None`: it was not bound).
        previous: Option<String>,
        /// The address bound now, masked.
        to: String,
        /// The new generation (devices verified before are revoked).
        generation: u64,
    },
    /// Support ended a lockout ([`Flow::clear_lockout`](crate::Flow::clear_lockout)).
    LockoutCleared {
        /// The ticket.
        ticket: TicketKey,
        /// The lockout that was running, if any.
        locked_until: Option<Timestamp>,
        /// The consecutive failures that were counted.
        consecutive_failures: u32,
    },
    /// Support forgot the ticket ([`Flow::forget`](crate::Flow::forget)).
    Forgotten {
        /// The ticket.
        ticket: TicketKey,
        /// The store held something for it.
        existed: bool,
    },
    /// A seat was handed from its family to a companion
    /// ([`Flow::hand_off`](crate::Flow::hand_off)).
    HandedOver {
        /// The family.
        family: TicketKey,
        /// The seat.
        seat: TicketKey,
        /// The masked companion.
        to: String,
    },
    /// A seat's hand-off was cancelled before the companion received it
    /// ([`Flow::cancel_hand_off`](crate::Flow::cancel_hand_off)).
    HandOffCancelled {
        /// The family.
        family: TicketKey,
        /// The seat.
        seat: TicketKey,
    },
    /// A transfer was started: a confirmation code went to the bound
    /// address ([`Flow::start_transfer`](crate::Flow::start_transfer)).
    TransferStarted {
        /// The ticket.
        ticket: TicketKey,
        /// The masked recipient.
        to: String,
    },
    /// The owner confirmed a transfer with its code; the recipient was mailed.
    TransferConfirmed {
        /// The ticket.
        ticket: TicketKey,
    },
    /// The recipient accepted: the ticket is theirs, earlier devices are
    /// signed out ([`Flow::accept_transfer`](crate::Flow::accept_transfer)).
    Transferred {
        /// The ticket.
        ticket: TicketKey,
        /// The masked previous owner.
        from: String,
        /// The masked new owner.
        to: String,
        /// The ticket's new generation.
        generation: u64,
    },
    /// A transfer under way was cancelled by the owner.
    TransferCancelled {
        /// The ticket.
        ticket: TicketKey,
    },
    /// A step of a transfer was refused by a rule.
    TransferRefused {
        /// The ticket.
        ticket: TicketKey,
        /// Why ([`TransferRefusal::code`](crate::transfer::TransferRefusal::code)).
        reason: &'static str,
    },
    /// A hand-off or its cancellation was refused.
    HandOffRefused {
        /// The seat named.
        seat: TicketKey,
        /// Why ([`HandOffRefusal::code`](crate::family::HandOffRefusal::code)).
        reason: &'static str,
    },
}

impl OtpEvent {
    /// Counts what the event says happened, in the series
    /// [`metrics`](crate::metrics) lists (feature `metrics`).
    #[cfg(feature = "metrics")]
    fn count(&self) {
        use crate::metrics::{increment, increment_with, names};
        let support = |action| increment_with(names::SUPPORT_ACTIONS, "action", action);
        match self {
            OtpEvent::FirstDeviceClaimed { .. } => increment(names::FIRST_DEVICE_CLAIMS),
            OtpEvent::CodeSent { .. } => increment(names::CODES_SENT),
            OtpEvent::ClaimThrottled { budget, .. } => {
                increment_with(names::CLAIMS_THROTTLED, "budget", budget.as_str());
            }
            OtpEvent::SendThrottled { budget, .. } => {
                increment_with(names::SENDS_THROTTLED, "budget", budget.as_str());
            }
            OtpEvent::Locked { .. } => increment(names::LOCKOUTS),
            OtpEvent::DevicesRevoked { .. } => increment(names::DEVICES_REVOKED),
            // Mail failures are counted where the mailer answers, with their
            // kind; code entries where the flow knows every outcome, the
            // uncounted refusals too. The rest are not worth a series.
            OtpEvent::Verified { .. } | OtpEvent::VerifyFailed { .. } => {}
            OtpEvent::MailFailed { .. }
            | OtpEvent::Restarted { .. }
            | OtpEvent::PreBound { .. } => {}
            OtpEvent::Inspected { .. } => support("inspect"),
            OtpEvent::Unbound { .. } => support("unbind"),
            OtpEvent::Rebound { .. } => support("rebind"),
            OtpEvent::LockoutCleared { .. } => support("clear_lockout"),
            OtpEvent::Forgotten { .. } => support("forget"),
            OtpEvent::HandedOver { .. } => {
                increment_with(names::HAND_OFFS, "outcome", "handed_over");
            }
            OtpEvent::HandOffCancelled { .. } => {
                increment_with(names::HAND_OFFS, "outcome", "cancelled");
            }
            OtpEvent::HandOffRefused { reason, .. } => {
                increment_with(names::HAND_OFFS, "outcome", reason);
            }
            OtpEvent::TransferStarted { .. } => {
                increment_with(names::TRANSFERS, "outcome", "started");
            }
            OtpEvent::TransferConfirmed { .. } => {
                increment_with(names::TRANSFERS, "outcome", "confirmed");
            }
            OtpEvent::Transferred { .. } => {
                increment_with(names::TRANSFERS, "outcome", "accepted");
            }
            OtpEvent::TransferCancelled { .. } => {
                increment_with(names::TRANSFERS, "outcome", "cancelled");
            }
            OtpEvent::TransferRefused { reason, .. } => {
                increment_with(names::TRANSFERS, "outcome", reason);
            }
        }
    }

    pub(crate) fn trace(&self) {
        match self {
            OtpEvent::FirstDeviceClaimed { ticket } => {
                tracing::info!(ticket = ticket.label(), "first device claimed");
            }
            OtpEvent::CodeSent { ticket, to } => {
                tracing::info!(ticket = ticket.label(), to, "code sent")
            }
            OtpEvent::SendThrottled {
                ticket,
                retry_at,
                budget,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    retry_at = retry_at.as_secs(),
                    budget = budget.as_str(),
                    "send throttled"
                );
            }
            OtpEvent::ClaimThrottled {
                ticket,
                retry_at,
                budget,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    retry_at = retry_at.as_secs(),
                    budget = budget.as_str(),
                    "first-device claim throttled"
                );
            }
            OtpEvent::MailFailed { ticket } => {
                tracing::warn!(ticket = ticket.label(), "mail delivery failed")
            }
            OtpEvent::Verified {
                ticket,
                newly_bound,
            } => {
                tracing::info!(ticket = ticket.label(), newly_bound, "device verified");
            }
            OtpEvent::VerifyFailed {
                ticket,
                attempts_left,
            } => {
                tracing::info!(ticket = ticket.label(), attempts_left, "wrong code");
            }
            OtpEvent::Locked { ticket, until } => {
                tracing::warn!(
                    ticket = ticket.label(),
                    until = until.as_secs(),
                    "ticket locked for new devices"
                );
            }
            OtpEvent::Restarted { ticket } => {
                tracing::info!(ticket = ticket.label(), "challenge restarted")
            }
            OtpEvent::PreBound { ticket } => {
                tracing::info!(ticket = ticket.label(), "address pre-bound")
            }
            OtpEvent::DevicesRevoked { ticket, generation } => {
                tracing::info!(ticket = ticket.label(), generation, "devices revoked");
            }
            OtpEvent::Inspected { ticket, unmasked } => {
                tracing::info!(
                    ticket = ticket.label(),
                    unmasked,
                    "support: ticket looked up"
                );
            }
            OtpEvent::Unbound {
                ticket,
                previous,
                generation,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    previous = previous.as_deref().unwrap_or(""),
                    generation,
                    "support: ticket unbound"
                );
            }
            OtpEvent::Rebound {
                ticket,
                previous,
                to,
                generation,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    previous = previous.as_deref().unwrap_or(""),
                    to,
                    generation,
                    "support: ticket bound to another address"
                );
            }
            OtpEvent::LockoutCleared {
                ticket,
                locked_until,
                consecutive_failures,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    locked_until = locked_until.map_or(0, |t| t.as_secs()),
                    consecutive_failures,
                    "support: lockout cleared"
                );
            }
            OtpEvent::Forgotten { ticket, existed } => {
                tracing::info!(
                    ticket = ticket.label(),
                    existed,
                    "support: ticket forgotten"
                );
            }
            OtpEvent::HandedOver { family, seat, to } => {
                tracing::info!(
                    family = family.label(),
                    seat = seat.label(),
                    to,
                    "seat handed to a companion"
                );
            }
            OtpEvent::HandOffCancelled { family, seat } => {
                tracing::info!(
                    family = family.label(),
                    seat = seat.label(),
                    "seat hand-off cancelled"
                );
            }
            OtpEvent::HandOffRefused { seat, reason } => {
                tracing::info!(seat = seat.label(), reason, "seat hand-off refused");
            }
            OtpEvent::TransferStarted { ticket, to } => {
                tracing::info!(ticket = ticket.label(), to, "transfer started");
            }
            OtpEvent::TransferConfirmed { ticket } => {
                tracing::info!(ticket = ticket.label(), "transfer confirmed by the owner");
            }
            OtpEvent::Transferred {
                ticket,
                from,
                to,
                generation,
            } => {
                tracing::info!(
                    ticket = ticket.label(),
                    from,
                    to,
                    generation,
                    "ticket transferred"
                );
            }
            OtpEvent::TransferCancelled { ticket } => {
                tracing::info!(ticket = ticket.label(), "transfer cancelled");
            }
            OtpEvent::TransferRefused { ticket, reason } => {
                tracing::info!(ticket = ticket.label(), reason, "transfer refused");
            }
        }
    }
}

/// Receives every [`OtpEvent`], for metrics or audit logs. Implemented for
/// closures.
///
/// ```
/// use tower_otp::{EventHook, OtpEvent};
///
/// let hook = |event: &OtpEvent| {
///     if let OtpEvent::Locked { ticket, .. } = event {
///         eprintln!("alert: ticket {} locked", ticket.label());
///     }
/// };
/// fn takes_hook(_: impl EventHook) {}
/// takes_hook(hook);
/// ```
pub trait EventHook: Send + Sync + 'static {
    /// Called once per event, on the request's task: keep it quick.
    fn on_event(&self, event: &OtpEvent);
}

impl<F> EventHook for F
where
    F: Fn(&OtpEvent) + Send + Sync + 'static,
{
    fn on_event(&self, event: &OtpEvent) {
        self(event)
    }
}

#[derive(Clone, Default)]
pub(crate) struct Events {
    hook: Option<Arc<dyn EventHook>>,
}

impl Events {
    pub(crate) fn new(hook: Option<Arc<dyn EventHook>>) -> Self {
        Self { hook }
    }

    pub(crate) fn emit(&self, event: OtpEvent) {
        event.trace();
        #[cfg(feature = "metrics")]
        event.count();
        if let Some(hook) = &self.hook {
            hook.on_event(&event);
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}
