//! Transfers on the flow ([`crate::transfer`]): start, confirm, accept,
//! cancel, and where they stand.
//!
//! Three records beside the ticket's own keep a transfer, each touched by
//! the store's plain operations, each atomic:
//! - the *offer*, the ticket [`Flow::transfer_id`] names, bound to the
//!   recipient while a transfer is under way: the acceptance page's
//!   challenge sends the recipient a code;
//! - the *confirmation*, bound to the owner's address while a transfer is
//!   under way, holding the code that confirms it; a device verified on it
//!   marks the transfer confirmed. Unbinding it is what ends a transfer,
//!   accepted or cancelled: of an acceptance and a cancellation that meet,
//!   the one whose unbind the store takes first wins;
//! - the *count*, whose generation counts the transfers made.
//!
//! No request can name the confirmation or the count: their keys are
//! derived from the ticket's key under a key of their own.

pub(crate) mod terms;

use self::terms::{
    PendingTransfer, TransferAsk, TransferError, TransferRefusal, TransferRules, TransferStarted,
    TransferStatus, Transferred,
};
use super::Flow;
use crate::code::Code;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::extract::VerifiedDevice;
use crate::locale::Locale;
use crate::mail::{MailKind, OtpMail};
use crate::store::{
    BindRequest, IssueOutcome, IssueRequest, RebindOutcome, SendBudget, StoreError,
};
use crate::ticket::{TicketId, TicketKey};

use super::{Rejection, wait};

/// The keys of a ticket's transfer records.
struct Records {
    /// The ticket given (a family's own id for a member).
    id: TicketId,
    ticket: TicketKey,
    offer: TicketKey,
    confirmation: TicketKey,
    count: TicketKey,
}

impl Flow {
    /// The rules of transfers (default: [`TransferRules::default`], one
    /// transfer per ticket).
    pub fn with_transfer_rules(self, rules: TransferRules) -> Self {
        self.edit(|i| i.transfer_rules = rules)
    }

    /// The ticket id of `ticket`'s transfer offer: the application's
    /// acceptance route names it (a route behind the layer, whose ticket
    /// source answers this id), so that the layer challenges the recipient
    /// there with a code to their address. For a family's member, the
    /// family's.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, TicketId};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// assert_eq!(flow.transfer_id(&TicketId::new("A7x9Qz")).as_str(), "A7x9Qz~transfer");
    /// ```
    pub fn transfer_id(&self, ticket: &TicketId) -> TicketId {
        let owner = self
            .membership(ticket)
            .map_or_else(|| ticket.clone(), |m| m.family().clone());
        TicketId::new(format!("{}~transfer", owner.as_str()))
    }

    fn transfer_records(&self, ticket: &TicketId) -> Records {
        let id = self
            .membership(ticket)
            .map_or_else(|| ticket.clone(), |m| m.family().clone());
        let key = self.ticket_key(&id);
        Records {
            offer: self.ticket_key(&self.transfer_id(&id)),
            confirmation: self.inner.keys.beside(&key, b"transfer confirmation"),
            count: self.inner.keys.beside(&key, b"transfer count"),
            ticket: key,
            id,
        }
    }

    fn owner_device(device: &VerifiedDevice, records: &Records) -> Result<(), TransferRefusal> {
        if *device.ticket_key() == records.ticket {
            Ok(())
        } else {
            Err(TransferRefusal::NotTheOwner)
        }
    }

    async fn transfers_done(&self, records: &Records) -> Result<u32, StoreError> {
        let now = self.now();
        let count = self
            .inner
            .store
            .load(&records.count, now, self.inner.limits.policy())
            .await?;
        Ok(u32::try_from(count.generation).unwrap_or(u32::MAX))
    }

    /// Starts giving `ticket` (a family's member: the family) to `to`, from
    /// `device`, verified on it: records the offer, and mails a code to the
    /// ticket's bound address, in `locale`, that
    /// [`confirm_transfer`](Flow::confirm_transfer) takes. Starting again
    /// before the confirmation sends a new code (within the code's send
    /// limits).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    /// use tower_otp::transfer::TransferError;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    /// let order = TicketId::new("A7x9Qz");
    /// let owner = EmailAddress::parse("taro@example.com").unwrap();
    /// flow.pre_bind(&flow.ticket_key(&order), &owner).await?;
    /// let device = tower_otp::testing::verified_device(&flow, &order);
    ///
    /// let friend = EmailAddress::parse("hanako@example.com").unwrap();
    /// let started = flow.start_transfer(&device, &order, &friend, Locale::En).await?;
    /// assert_eq!(started.code_to, owner.masked());
    /// let code = mailer.last_code_for(&owner).expect("a confirmation code");
    /// flow.confirm_transfer(&device, &order, &code, "https://tickets.example/orders/A7x9Qz/accept", Locale::En).await?;
    /// assert!(mailer.link_for("hanako@example.com").is_some());
    /// # Ok::<(), TransferError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`TransferError::Refused`]: not the owner's device, no bound
    /// address, `to` is that address, the cap reached, the application's
    /// check, a transfer already confirmed; [`TransferError::Code`]: the
    /// code's send limits or the mailer; or the store's error.
    pub async fn start_transfer(
        &self,
        device: &VerifiedDevice,
        ticket: &TicketId,
        to: &EmailAddress,
        locale: Locale,
    ) -> Result<TransferStarted, TransferError> {
        let records = self.transfer_records(ticket);
        let result = self.try_start_transfer(device, &records, to, locale).await;
        self.refused(&records, &result);
        result
    }

    fn refused<T>(&self, records: &Records, result: &Result<T, TransferError>) {
        if let Err(TransferError::Refused(refusal)) = result {
            self.inner.events.emit(OtpEvent::TransferRefused {
                ticket: records.ticket,
                reason: refusal.code(),
            });
        }
    }

    async fn try_start_transfer(
        &self,
        device: &VerifiedDevice,
        records: &Records,
        to: &EmailAddress,
        locale: Locale,
    ) -> Result<TransferStarted, TransferError> {
        Self::owner_device(device, records)?;
        let rules = &self.inner.transfer_rules;
        let ask = TransferAsk {
            ticket: &records.id,
            to,
        };
        if !rules.allows(&ask) {
            return Err(TransferRefusal::RefusedBySite.into());
        }
        if self.transfers_done(records).await? >= rules.cap() {
            return Err(TransferRefusal::TooManyTransfers.into());
        }
        let now = self.now();
        let store = &self.inner.store;
        let policy = self.inner.limits.policy();
        let owner = store
            .load(&records.ticket, now, policy)
            .await?
            .binding
            .ok_or(TransferRefusal::NotBound)?;
        if owner == *to {
            return Err(TransferRefusal::SameAddress.into());
        }
        // The confirmation, bound to the owner: a transfer under way.
        let confirmation = store.load(&records.confirmation, now, policy).await?;
        match &confirmation.binding {
            Some(_) if confirmation.device_verified => {
                return Err(TransferRefusal::AlreadyUnderWay.into());
            }
            Some(bound) if *bound == owner => {}
            Some(_) => {
                store
                    .rebind(&BindRequest::new(&records.confirmation, &owner, now))
                    .await?;
            }
            None => {
                store
                    .bind(&BindRequest::new(&records.confirmation, &owner, now))
                    .await?;
            }
        }
        // The offer, bound to the recipient: whatever it held before (an
        // earlier offer, or an address someone verified on the acceptance
        // page while no transfer was under way) is replaced, its devices
        // signed out.
        let offer = BindRequest::new(&records.offer, to, now).with_locale(Some(locale));
        if let RebindOutcome::Rebound { generation, .. } = store.rebind(&offer).await? {
            self.inner
                .generations
                .record(&records.offer, Some(generation), now);
        }
        self.inner.recipients.forget(&records.offer);
        // The code, to the owner.
        let code = Code::generate(self.inner.limits.code_digits());
        let hash = code.hash(&self.inner.keys.code, &records.confirmation);
        let keys = self.inner.keys.counter_keys(&owner, None);
        let issue = IssueRequest::new(&records.confirmation, &owner, &keys, &hash, now, policy)
            .expecting_binding();
        match store.issue_code(&issue).await? {
            IssueOutcome::Issued { .. } => {}
            IssueOutcome::TicketThrottled { retry_at } => {
                return Err(self
                    .throttled(&records.confirmation, now, retry_at, SendBudget::Ticket)
                    .into());
            }
            IssueOutcome::AddressThrottled { retry_at, budget } => {
                return Err(self
                    .throttled(&records.confirmation, now, retry_at, budget)
                    .into());
            }
            IssueOutcome::Locked { until } => {
                return Err(TransferError::Code(Rejection::Locked {
                    until,
                    retry_after: wait(now, until),
                }));
            }
            IssueOutcome::BoundElsewhere | IssueOutcome::NotBound => {
                // The owner changed meanwhile: start again.
                return Err(
                    StoreError::msg("the ticket's owner changed during the transfer").into(),
                );
            }
        }
        let valid_for = policy.code_ttl;
        let mail = OtpMail::new(
            owner.clone(),
            MailKind::TransferCode {
                code,
                valid_for,
                to: to.masked(),
            },
            locale,
            self.inner.site_name.clone(),
        )
        .with_site_origin(self.inner.site_origin.clone());
        if let Err(error) = self.inner.mailer.send(&mail).await {
            tracing::warn!(ticket = records.ticket.label(), %error, "transfer code not delivered");
            if let Err(error) = store.withdraw_code(&issue).await {
                tracing::error!(%error, "transfer code not withdrawn after the mail failed");
            }
            return Err(TransferError::Code(Rejection::MailFailed(error)));
        }
        self.inner.events.emit(OtpEvent::TransferStarted {
            ticket: records.ticket,
            to: to.masked(),
        });
        Ok(TransferStarted {
            to: to.masked(),
            code_to: owner.masked(),
            valid_for,
        })
    }

    /// Confirms the transfer [`start_transfer`](Flow::start_transfer)
    /// began, with the code it mailed to the bound address, from a device
    /// verified on the ticket: mails the recipient `link` (the absolute URL
    /// of the acceptance page, on the site) in `locale`.
    ///
    /// # Errors
    /// [`TransferError::Refused`] (not the owner's device, no transfer
    /// under way, a bad link), [`TransferError::Code`] for the code (wrong,
    /// expired, locked: the same attempt budget as any code), or the
    /// store's error.
    pub async fn confirm_transfer(
        &self,
        device: &VerifiedDevice,
        ticket: &TicketId,
        code: &str,
        link: &str,
        locale: Locale,
    ) -> Result<(), TransferError> {
        let records = self.transfer_records(ticket);
        let result = self
            .try_confirm_transfer(device, &records, code, link, locale)
            .await;
        self.refused(&records, &result);
        result
    }

    async fn try_confirm_transfer(
        &self,
        device: &VerifiedDevice,
        records: &Records,
        input: &str,
        link: &str,
        locale: Locale,
    ) -> Result<(), TransferError> {
        Self::owner_device(device, records)?;
        if !self.mailable(link) {
            return Err(TransferRefusal::BadLink.into());
        }
        let now = self.now();
        let store = &self.inner.store;
        let policy = self.inner.limits.policy();
        let confirmation = store.load(&records.confirmation, now, policy).await?;
        if confirmation.binding.is_none() {
            return Err(TransferRefusal::NoTransfer.into());
        }
        let recipient = store
            .load(&records.offer, now, policy)
            .await?
            .binding
            .ok_or(TransferRefusal::NoTransfer)?;
        // The code is checked as any code is: the same attempt budget,
        // lockout, events and metrics.
        self.verify_in(&records.confirmation, input, locale).await?;
        self.inner.events.emit(OtpEvent::TransferConfirmed {
            ticket: records.ticket,
        });
        let mail = OtpMail::new(
            recipient.clone(),
            MailKind::TransferOffered {
                link: link.to_owned(),
            },
            locale,
            self.inner.site_name.clone(),
        )
        .with_site_origin(self.inner.site_origin.clone());
        if let Err(error) = self.inner.mailer.send(&mail).await {
            // Confirmed all the same: the owner can give the recipient the link.
            tracing::warn!(ticket = records.ticket.label(), %error, "transfer offer not delivered");
        }
        Ok(())
    }

    /// Accepts the transfer of `ticket`, from the recipient's `device`,
    /// verified on [`transfer_id`](Flow::transfer_id) (the acceptance page,
    /// after a code to the recipient's address): the ticket is bound to
    /// the recipient, every earlier device is signed out (refused on its
    /// next request here, within the revocation TTL on other instances),
    /// and both addresses are told. The recipient's browser then opens the
    /// ticket with a code to their address, now the ticket's.
    ///
    /// # Errors
    /// [`TransferError::Refused`] (not the recipient's device, no transfer
    /// under way, not confirmed yet, the cap reached), or the store's error
    /// (then nothing moved).
    pub async fn accept_transfer(
        &self,
        device: &VerifiedDevice,
        ticket: &TicketId,
    ) -> Result<Transferred, TransferError> {
        let records = self.transfer_records(ticket);
        let result = self.try_accept_transfer(device, &records).await;
        self.refused(&records, &result);
        result
    }

    async fn try_accept_transfer(
        &self,
        device: &VerifiedDevice,
        records: &Records,
    ) -> Result<Transferred, TransferError> {
        if *device.ticket_key() != records.offer {
            return Err(TransferRefusal::NotTheRecipient.into());
        }
        let now = self.now();
        let store = &self.inner.store;
        let policy = self.inner.limits.policy();
        let confirmation = store.load(&records.confirmation, now, policy).await?;
        if confirmation.binding.is_none() {
            return Err(TransferRefusal::NoTransfer.into());
        }
        if !confirmation.device_verified {
            return Err(TransferRefusal::NotConfirmed.into());
        }
        // Confirmed by the owner it still belongs to (support may have
        // bound it elsewhere since).
        let owner = store.load(&records.ticket, now, policy).await?.binding;
        if owner.is_none() || owner != confirmation.binding {
            return Err(TransferRefusal::NoTransfer.into());
        }
        let offer = store.load(&records.offer, now, policy).await?;
        let (Some(recipient), locale) = (offer.binding, offer.bound_locale) else {
            return Err(TransferRefusal::NoTransfer.into());
        };
        if self.transfers_done(records).await? >= self.inner.transfer_rules.cap() {
            return Err(TransferRefusal::TooManyTransfers.into());
        }
        // The binding moves first: a store that fails here leaves the
        // transfer as it stood, confirmed.
        let request = BindRequest::new(&records.ticket, &recipient, now).with_locale(locale);
        let (previous, previous_locale, generation) = match store.rebind(&request).await? {
            RebindOutcome::Rebound {
                previous,
                previous_locale,
                generation,
            } => (previous, previous_locale, generation),
            _ => (None, None, store.revoke_devices(&records.ticket).await?),
        };
        self.inner
            .generations
            .record(&records.ticket, Some(generation), now);
        self.inner.recipients.forget(&records.ticket);
        // Then the transfer ends: of this and a cancellation, the first to
        // unbind the confirmation wins. A cancellation that came first
        // takes the ticket back to its owner (whose devices are signed out
        // all the same).
        if store
            .unbind(&records.confirmation, now)
            .await?
            .previous
            .is_none()
        {
            self.take_back(records, previous, previous_locale, now)
                .await;
            return Err(TransferRefusal::NoTransfer.into());
        }
        // Counted, and the acceptance page's devices signed out.
        if let Err(error) = store.revoke_devices(&records.count).await {
            tracing::error!(ticket = records.ticket.label(), %error, "transfer not counted");
        }
        if let Ok(outcome) = store.unbind(&records.offer, now).await {
            self.inner
                .generations
                .record(&records.offer, Some(outcome.generation), now);
        }
        self.inner.recipients.forget(&records.offer);
        let from = previous
            .as_ref()
            .map(EmailAddress::masked)
            .unwrap_or_default();
        self.inner.events.emit(OtpEvent::Transferred {
            ticket: records.ticket,
            from: from.clone(),
            to: recipient.masked(),
            generation,
        });
        let notice = MailKind::Transferred {
            at: now,
            to: recipient.masked(),
        };
        let default = self.inner.default_locale;
        if let Some(previous) = previous {
            let locale = previous_locale.unwrap_or(default);
            self.mail_in_background(previous, notice.clone(), locale, "transfer notice");
        }
        let locale = locale.unwrap_or(default);
        self.mail_in_background(recipient, notice, locale, "transfer notice");
        Ok(Transferred { generation, from })
    }

    /// Binds the ticket back to `previous` after a cancellation won over
    /// an acceptance that had moved it.
    async fn take_back(
        &self,
        records: &Records,
        previous: Option<EmailAddress>,
        previous_locale: Option<Locale>,
        now: crate::clock::Timestamp,
    ) {
        let Some(previous) = previous else { return };
        let request =
            BindRequest::new(&records.ticket, &previous, now).with_locale(previous_locale);
        match self.inner.store.rebind(&request).await {
            Ok(RebindOutcome::Rebound { generation, .. }) => {
                self.inner
                    .generations
                    .record(&records.ticket, Some(generation), now);
            }
            Ok(_) => {}
            Err(error) => tracing::error!(
                ticket = records.ticket.label(),
                %error,
                "a cancelled transfer's ticket could not be given back: bind it to its owner again"
            ),
        }
    }

    /// Cancels the transfer of `ticket` under way, from a device verified
    /// on it, until the recipient accepts.
    ///
    /// # Errors
    /// [`TransferError::Refused`] (not the owner's device; no transfer
    /// under way: never started, cancelled, or accepted already), or the
    /// store's error.
    pub async fn cancel_transfer(
        &self,
        device: &VerifiedDevice,
        ticket: &TicketId,
    ) -> Result<(), TransferError> {
        let records = self.transfer_records(ticket);
        let result = self.try_cancel_transfer(device, &records).await;
        self.refused(&records, &result);
        result
    }

    async fn try_cancel_transfer(
        &self,
        device: &VerifiedDevice,
        records: &Records,
    ) -> Result<(), TransferError> {
        Self::owner_device(device, records)?;
        let now = self.now();
        let store = &self.inner.store;
        if store
            .unbind(&records.confirmation, now)
            .await?
            .previous
            .is_none()
        {
            return Err(TransferRefusal::NoTransfer.into());
        }
        let offer = store.unbind(&records.offer, now).await?;
        self.inner
            .generations
            .record(&records.offer, Some(offer.generation), now);
        self.inner.recipients.forget(&records.offer);
        self.inner.events.emit(OtpEvent::TransferCancelled {
            ticket: records.ticket,
        });
        Ok(())
    }

    /// Where `ticket`'s transfers stand: the one under way (to whom, and
    /// whether confirmed), how many were made, how many are allowed.
    ///
    /// # Errors
    /// The store's error.
    pub async fn transfer_status(&self, ticket: &TicketId) -> Result<TransferStatus, StoreError> {
        let records = self.transfer_records(ticket);
        let now = self.now();
        let store = &self.inner.store;
        let policy = self.inner.limits.policy();
        let confirmation = store.load(&records.confirmation, now, policy).await?;
        let pending = match confirmation.binding {
            Some(_) => store
                .load(&records.offer, now, policy)
                .await?
                .binding
                .map(|to| PendingTransfer {
                    to: to.masked(),
                    confirmed: confirmation.device_verified,
                }),
            None => None,
        };
        Ok(TransferStatus {
            pending,
            done: self.transfers_done(&records).await?,
            cap: self.inner.transfer_rules.cap(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::CapturingMailer;
    use crate::{Flow, MemoryStore, Secret, TicketId};

    #[test]
    fn no_ticket_id_names_a_transfers_confirmation_or_count() {
        let flow = Flow::new(
            &Secret::random(),
            MemoryStore::new(),
            CapturingMailer::new(),
        );
        let records = flow.transfer_records(&TicketId::new("A7x9Qz"));
        for id in ["A7x9Qz", "A7x9Qz~transfer", "A7x9Qz~confirmation", ""] {
            let key = flow.ticket_key(&TicketId::new(id));
            assert_ne!(key, records.confirmation);
            assert_ne!(key, records.count);
        }
        assert_eq!(
            records.offer,
            flow.ticket_key(&TicketId::new("A7x9Qz~transfer"))
        );
        assert_ne!(records.confirmation, records.count);
    }
}
