//! Support actions: what an operator does for a ticket's holder, behind the
//! application's own authentication. Each one is one atomic store step and
//! emits an [`OtpEvent`] (and so a `tracing` record) that says what changed,
//! with addresses masked; who did it is the application's to log.

use std::fmt;

use super::Flow;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::locale::Locale;
use crate::mail::MailKind;
use crate::store::{BindRequest, LockoutCleared, RebindOutcome, StoreError, TicketSnapshot};
use crate::ticket::TicketKey;

/// A ticket as support sees it ([`Flow::inspect`]): addresses masked.
///
/// The full addresses are there only in a report from
/// [`Flow::inspect_unmasked`], through
/// [`bound_address_unmasked`](TicketReport::bound_address_unmasked) and
/// [`pending_address_unmasked`](TicketReport::pending_address_unmasked);
/// `Debug` never shows them.
///
/// # Serialization
///
/// It implements [`serde::Serialize`], for a support endpoint that answers
/// in JSON: one object whose keys are the field names above (snake case),
/// timestamps as integer milliseconds since the Unix epoch (as
/// [`Timestamp`] serializes), `None` as `null`, the locale as its tag
/// (`"ja"`), and the masked addresses as they are. A report from
/// [`Flow::inspect`] holds no full address, so its JSON holds none either.
///
/// A report from [`Flow::inspect_unmasked`] serializes what it holds: two
/// more keys, `bound_address_unmasked` and `pending_address_unmasked`,
/// carry the **full addresses** (or `null`). Send that JSON only to
/// operators allowed to see them, and do not log it.
///
/// ```
/// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
/// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
/// let buyer = EmailAddress::parse("taro@example.com").unwrap();
/// flow.pre_bind_in(&key, &buyer, Locale::Ja).await?;
///
/// let before = flow.now().as_millis();
/// let json = serde_json::to_value(flow.inspect(&key).await?).unwrap();
/// assert_eq!(json["bound_address"], "t***@e***.com");
/// assert_eq!(json["bound_locale"], "ja");
/// let at = json["at"].as_u64().unwrap(); // milliseconds since the epoch
/// assert!((before..=flow.now().as_millis()).contains(&at));
/// assert_eq!(json["locked_until"], serde_json::Value::Null);
/// assert!(json.get("bound_address_unmasked").is_none());
///
/// let full = serde_json::to_value(flow.inspect_unmasked(&key).await?).unwrap();
/// assert_eq!(full["bound_address_unmasked"], "taro@example.com");
/// # Ok::<(), tower_otp::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TicketReport {
    /// The time of the report (the flow's clock).
    pub at: Timestamp,
    /// A first device was trusted without a code (or support unbound the
    /// ticket, which closes first-device trust for good). A bound ticket
    /// trusts no first device either way.
    pub claimed: bool,
    /// When the claim lapses: a first-device claim on an unbound ticket
    /// (`None`: no claim, or one that holds for good).
    pub claim_until: Option<Timestamp>,
    /// The bound address, masked (`t***@e***.com`).
    pub bound_address: Option<String>,
    /// The language the bound address last used, if known.
    pub bound_locale: Option<Locale>,
    /// When the current binding was made (`None`: unbound, or bound before
    /// tower-otp recorded it).
    pub bound_at: Option<Timestamp>,
    /// A device was verified by a code on this ticket.
    pub device_verified: bool,
    /// The address the pending codes of an unbound ticket went to, masked.
    pub pending_address: Option<String>,
    /// Codes sent for this ticket in the send window (an hour by default).
    pub sends_in_window: u32,
    /// Codes allowed per ticket in the window.
    pub sends_per_window: u32,
    /// When the next send will be allowed, if later than now.
    pub next_send_at: Option<Timestamp>,
    /// Codes that would verify now.
    pub live_codes: u32,
    /// When the last of them expires.
    pub codes_expire_at: Option<Timestamp>,
    /// Wrong entries left in this round (0: its codes are void).
    pub attempts_left: u32,
    /// Consecutive failures counted towards the next lockout.
    pub consecutive_failures: u32,
    /// New devices are locked out until then.
    pub locked_until: Option<Timestamp>,
    /// The revocation generation: device cookies from an older one are revoked.
    pub generation: u64,
    unmasked: Option<Unmasked>,
}

/// The full addresses, kept only on explicit request.
#[derive(Clone, PartialEq, Eq)]
struct Unmasked {
    bound: Option<EmailAddress>,
    pending: Option<EmailAddress>,
}

impl TicketReport {
    fn new(flow: &Flow, s: TicketSnapshot, at: Timestamp, unmasked: bool) -> Self {
        let limits = &flow.inner.limits;
        let policy = limits.policy();
        let live = !s.exhausted && !s.live_codes.is_empty();
        Self {
            at,
            claimed: s.claimed,
            claim_until: s.claim_until,
            bound_address: s.binding.as_ref().map(EmailAddress::masked),
            bound_locale: s.bound_locale,
            bound_at: s.bound_at,
            device_verified: s.device_verified,
            pending_address: s.pending.as_ref().map(EmailAddress::masked),
            sends_in_window: u32::try_from(s.recent_sends.len()).unwrap_or(u32::MAX),
            sends_per_window: policy.sends_per_ticket,
            next_send_at: policy.next_send_at(&s.recent_sends).filter(|t| *t > at),
            live_codes: if live {
                u32::try_from(s.live_codes.len()).unwrap_or(u32::MAX)
            } else {
                0
            },
            codes_expire_at: s
                .live_codes
                .iter()
                .map(|c| c.expires_at)
                .max()
                .filter(|_| live),
            attempts_left: if s.exhausted {
                0
            } else {
                limits.max_attempts().saturating_sub(s.attempts_used)
            },
            consecutive_failures: s.consecutive_failures,
            locked_until: s.locked_until.filter(|t| *t > at),
            generation: s.generation,
            unmasked: unmasked.then_some(Unmasked {
                bound: s.binding,
                pending: s.pending,
            }),
        }
    }

    /// The full bound address, when the report came from
    /// [`Flow::inspect_unmasked`]; `None` otherwise (or when unbound).
    pub fn bound_address_unmasked(&self) -> Option<&EmailAddress> {
        self.unmasked.as_ref()?.bound.as_ref()
    }

    /// The full pending address, when the report came from
    /// [`Flow::inspect_unmasked`]; `None` otherwise (or when there is none).
    pub fn pending_address_unmasked(&self) -> Option<&EmailAddress> {
        self.unmasked.as_ref()?.pending.as_ref()
    }
}

impl fmt::Debug for TicketReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketReport")
            .field("at", &self.at)
            .field("claimed", &self.claimed)
            .field("claim_until", &self.claim_until)
            .field("bound_address", &self.bound_address)
            .field("bound_locale", &self.bound_locale)
            .field("bound_at", &self.bound_at)
            .field("device_verified", &self.device_verified)
            .field("pending_address", &self.pending_address)
            .field("sends_in_window", &self.sends_in_window)
            .field("next_send_at", &self.next_send_at)
            .field("live_codes", &self.live_codes)
            .field("attempts_left", &self.attempts_left)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("locked_until", &self.locked_until)
            .field("generation", &self.generation)
            .field(
                "unmasked",
                &if self.unmasked.is_some() {
                    "REDACTED"
                } else {
                    "no"
                },
            )
            .finish_non_exhaustive()
    }
}

impl serde::Serialize for TicketReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;

        let len = if self.unmasked.is_some() { 19 } else { 17 };
        let mut s = serializer.serialize_struct("TicketReport", len)?;
        s.serialize_field("at", &self.at)?;
        s.serialize_field("claimed", &self.claimed)?;
        s.serialize_field("claim_until", &self.claim_until)?;
        s.serialize_field("bound_address", &self.bound_address)?;
        s.serialize_field("bound_locale", &self.bound_locale.map(Locale::tag))?;
        s.serialize_field("bound_at", &self.bound_at)?;
        s.serialize_field("device_verified", &self.device_verified)?;
        s.serialize_field("pending_address", &self.pending_address)?;
        s.serialize_field("sends_in_window", &self.sends_in_window)?;
        s.serialize_field("sends_per_window", &self.sends_per_window)?;
        s.serialize_field("next_send_at", &self.next_send_at)?;
        s.serialize_field("live_codes", &self.live_codes)?;
        s.serialize_field("codes_expire_at", &self.codes_expire_at)?;
        s.serialize_field("attempts_left", &self.attempts_left)?;
        s.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        s.serialize_field("locked_until", &self.locked_until)?;
        s.serialize_field("generation", &self.generation)?;
        match &self.unmasked {
            // Only a report from `inspect_unmasked` has these keys at all.
            Some(unmasked) => {
                s.serialize_field(
                    "bound_address_unmasked",
                    &unmasked.bound.as_ref().map(EmailAddress::as_str),
                )?;
                s.serialize_field(
                    "pending_address_unmasked",
                    &unmasked.pending.as_ref().map(EmailAddress::as_str),
                )?;
            }
            None => {
                s.skip_field("bound_address_unmasked")?;
                s.skip_field("pending_address_unmasked")?;
            }
        }
        s.end()
    }
}

/// What [`Flow::unbind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unbound {
    /// The address that was bound, masked (`None`: it was not bound).
    pub previous: Option<String>,
    /// The new generation: devices verified before are revoked.
    pub generation: u64,
}

/// What [`Flow::rebind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebound {
    /// The address bound before, masked (`None`: the ticket was unbound).
    pub previous: Option<String>,
    /// `false` when the ticket was bound to this address already (nothing
    /// changed, no mail).
    pub changed: bool,
    /// The old address is being told, in its language (the mail goes out in
    /// the background; a failure is logged).
    pub notified: bool,
    /// The ticket's generation: moved by a change, so devices verified under
    /// the old binding are revoked.
    pub generation: u64,
}

impl Flow {
    /// Looks a ticket up for support, addresses masked; emits
    /// [`OtpEvent::Inspected`]. A read: changes nothing.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let buyer = EmailAddress::parse("taro@example.com").unwrap();
    /// flow.pre_bind_in(&key, &buyer, Locale::Ja).await?;
    ///
    /// let report = flow.inspect(&key).await?;
    /// assert_eq!(report.bound_address.as_deref(), Some("t***@e***.com"));
    /// assert_eq!(report.bound_locale, Some(Locale::Ja));
    /// assert_eq!(report.bound_address_unmasked(), None);
    /// assert_eq!(flow.inspect_unmasked(&key).await?.bound_address_unmasked(), Some(&buyer));
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn inspect(&self, ticket: &TicketKey) -> Result<TicketReport, StoreError> {
        self.report(ticket, false).await
    }

    /// [`inspect`](Flow::inspect), with the full addresses available on the
    /// report; the event says they were asked for.
    ///
    /// # Errors
    /// The store's error.
    pub async fn inspect_unmasked(&self, ticket: &TicketKey) -> Result<TicketReport, StoreError> {
        self.report(ticket, true).await
    }

    async fn report(&self, ticket: &TicketKey, unmasked: bool) -> Result<TicketReport, StoreError> {
        let (snapshot, now) = self.snapshot(ticket).await?;
        self.inner.events.emit(OtpEvent::Inspected {
            ticket: *ticket,
            unmasked,
        });
        Ok(TicketReport::new(self, snapshot, now, unmasked))
    }

    /// Forgets the ticket's binding and pending challenge ("that address was
    /// a mistake"): the next address whose code is verified is bound, as on
    /// a new ticket. Devices verified so far are revoked (the generation
    /// moves, as with [`revoke_devices`](Flow::revoke_devices)), and no
    /// browser is trusted as a first device afterwards: every device verifies
    /// by a code. A running lockout, the failure count and the sends of the
    /// hour stay (see [`clear_lockout`](Flow::clear_lockout)). No mail is sent.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// flow.pre_bind(&key, &EmailAddress::parse("typo@example.com").unwrap()).await?;
    /// let unbound = flow.unbind(&key).await?;
    /// assert_eq!(unbound.previous.as_deref(), Some("t***@e***.com"));
    /// assert_eq!(flow.inspect(&key).await?.bound_address, None);
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn unbind(&self, ticket: &TicketKey) -> Result<Unbound, StoreError> {
        let now = self.now();
        let outcome = self.inner.store.unbind(ticket, now).await?;
        self.inner.recipients.forget(ticket);
        let previous = outcome.previous.as_ref().map(EmailAddress::masked);
        self.inner.events.emit(OtpEvent::Unbound {
            ticket: *ticket,
            previous: previous.clone(),
            generation: outcome.generation,
        });
        self.revoked(ticket, outcome.generation, now);
        Ok(Unbound {
            previous,
            generation: outcome.generation,
        })
    }

    /// Binds the ticket to `address` in place of its current binding, in one
    /// step ("I no longer have that mailbox"). Codes pending for the old
    /// address stop working, and devices verified so far are revoked (the
    /// generation moves, as with [`revoke_devices`](Flow::revoke_devices)):
    /// a change of binding is confirmed by a code sent to the new address
    /// (checklist 6.5), which goes out at once (the old address's resend
    /// cooldown goes with it). The old address is told by mail, in the
    /// language it last used (falling back to the flow's default), that its
    /// ticket was moved. The new address's language is not known until its
    /// owner verifies from a page (see [`rebind_in`](Flow::rebind_in)).
    /// Rebinding an unbound ticket binds it; rebinding to the bound address
    /// changes nothing.
    ///
    /// ```
    /// use tower_otp::mail::MailKind;
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    /// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let old = EmailAddress::parse("old@example.com").unwrap();
    /// flow.pre_bind_in(&key, &old, Locale::Ja).await?;
    ///
    /// let rebound = flow.rebind(&key, &EmailAddress::parse("new@example.com").unwrap()).await?;
    /// assert!(rebound.changed && rebound.notified);
    /// flow.settled().await;
    /// let notice = mailer.last().unwrap();
    /// assert_eq!((&notice.to, notice.locale), (&old, Locale::Ja));
    /// assert!(matches!(notice.kind, MailKind::Rebound { .. }));
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn rebind(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
    ) -> Result<Rebound, StoreError> {
        self.rebind_with(ticket, address, None).await
    }

    /// [`rebind`](Flow::rebind), with the new owner's language (used for the
    /// new-device notice until they verify from a page).
    ///
    /// # Errors
    /// The store's error.
    pub async fn rebind_in(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Locale,
    ) -> Result<Rebound, StoreError> {
        self.rebind_with(ticket, address, Some(locale)).await
    }

    async fn rebind_with(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Option<Locale>,
    ) -> Result<Rebound, StoreError> {
        let now = self.now();
        let request = BindRequest::new(ticket, address, now).with_locale(locale);
        self.inner.recipients.forget(ticket);
        let RebindOutcome::Rebound {
            previous,
            previous_locale,
            generation,
        } = self.inner.store.rebind(&request).await?
        else {
            return Ok(Rebound {
                previous: Some(address.masked()),
                changed: false,
                notified: false,
                generation: self.generation(ticket).await?,
            });
        };
        self.revoked(ticket, generation, now);
        let masked = previous.as_ref().map(EmailAddress::masked);
        self.inner.events.emit(OtpEvent::Rebound {
            ticket: *ticket,
            previous: masked.clone(),
            to: address.masked(),
            generation,
        });
        let notified = previous.is_some();
        if let Some(old) = previous {
            let locale = previous_locale.unwrap_or(self.inner.default_locale);
            self.mail_in_background(old, MailKind::Rebound { at: now }, locale, "rebound notice");
        }
        Ok(Rebound {
            previous: masked,
            changed: true,
            notified,
            generation,
        })
    }

    /// A support action moved the generation: this instance refuses the
    /// revoked devices from their next request, and a warning says when the
    /// live layers do not all refuse them.
    fn revoked(&self, ticket: &TicketKey, generation: u64, now: Timestamp) {
        self.inner.generations.record(ticket, Some(generation), now);
        let _ = self.warn_unless_enforced(ticket);
    }

    /// Gives the ticket's holder their way in back ("I am locked out", "it
    /// says to wait an hour"): ends a lockout of new devices and resets the
    /// consecutive-failure count (returns both as they were), voids the
    /// round's codes and restores its attempts, and forgets the ticket's
    /// sends of the hour, so the next code goes out at once. See
    /// [`Store::clear_lockout`](crate::store::Store::clear_lockout).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let cleared = flow.clear_lockout(&key).await?;
    /// assert_eq!(cleared.locked_until, None); // nothing was running
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn clear_lockout(&self, ticket: &TicketKey) -> Result<LockoutCleared, StoreError> {
        let cleared = self.inner.store.clear_lockout(ticket, self.now()).await?;
        self.inner.events.emit(OtpEvent::LockoutCleared {
            ticket: *ticket,
            locked_until: cleared.locked_until,
            consecutive_failures: cleared.consecutive_failures,
        });
        Ok(cleared)
    }

    /// Deletes everything the store keeps for the ticket (a data-deletion
    /// request): claim, binding and its language, generation, challenge.
    /// Returns whether there was anything.
    ///
    /// What remains, and why:
    /// - the per-mailbox, per-domain and site send counters: they are keyed
    ///   by a keyed hash of the mailbox (never the ticket, never the address
    ///   in clear), hold only send times, and expire an hour after the last
    ///   send; deleting them would hand back the e-mail-bombing budget;
    /// - on Redis Cluster, the undo record of a send made in the last minute
    ///   (`…:undo:…`), which expires within 60 s by itself;
    /// - device cookies in browsers: they hold no personal data, and since
    ///   the generation is forgotten too, cookies minted before keep passing
    ///   until they expire. Forget tickets the application no longer serves,
    ///   or serve nothing under the id afterwards.
    ///
    /// The ticket then reads as new: unclaimed, unbound.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// flow.pre_bind(&key, &EmailAddress::parse("taro@example.com").unwrap()).await?;
    /// assert!(flow.forget(&key).await?);
    /// assert!(!flow.forget(&key).await?);
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        let existed = self.inner.store.forget(ticket).await?;
        self.inner.recipients.forget(ticket);
        self.inner.events.emit(OtpEvent::Forgotten {
            ticket: *ticket,
            existed,
        });
        self.inner.generations.record(ticket, Some(0), self.now());
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::clock::{ManualClock, Timestamp};
    use crate::email::EmailAddress;
    use crate::locale::Locale;
    use crate::mail::capture::CapturingMailer;
    use crate::store::memory::MemoryStore;
    use crate::ticket::TicketId;
    use crate::{Flow, Secret};

    #[tokio::test]
    async fn a_report_serializes_with_snake_case_keys_and_millisecond_times() {
        let clock = ManualClock::new(Timestamp::from_millis(1_754_051_696_000));
        let flow = Flow::new(
            &Secret::random(),
            MemoryStore::new(),
            CapturingMailer::new(),
        )
        .with_clock(clock.clone());
        let key = flow.ticket_key(&TicketId::new("A7x9Qz"));
        let buyer = EmailAddress::parse("taro@example.com").unwrap();
        flow.pre_bind_in(&key, &buyer, Locale::Ko).await.unwrap();
        clock.advance(Duration::from_secs(1));

        let report = flow.inspect(&key).await.unwrap();
        let json = serde_json::to_value(&report).unwrap();
        let policy = flow.limits().policy();
        assert_eq!(
            json,
            json!({
                "at": 1_754_051_697_000_u64,
                "claimed": report.claimed,
                "claim_until": null,
                "bound_address": "t***@e***.com",
                "bound_locale": "ko",
                "bound_at": report.bound_at.map(Timestamp::as_millis),
                "device_verified": false,
                "pending_address": null,
                "sends_in_window": 0,
                "sends_per_window": policy.sends_per_ticket,
                "next_send_at": null,
                "live_codes": 0,
                "codes_expire_at": null,
                "attempts_left": report.attempts_left,
                "consecutive_failures": 0,
                "locked_until": null,
                "generation": report.generation,
            })
        );
        assert!(!json.to_string().contains("taro@"), "{json}");

        let full = serde_json::to_value(flow.inspect_unmasked(&key).await.unwrap()).unwrap();
        assert_eq!(full["bound_address_unmasked"], "taro@example.com");
        assert_eq!(full["pending_address_unmasked"], serde_json::Value::Null);
        assert_eq!(full["bound_address"], "t***@e***.com");
    }
}
