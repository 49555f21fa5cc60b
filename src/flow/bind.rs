//! Binding an address the application knows before anyone verifies:
//! [`Flow::pre_bind`] and [`Flow::pre_bind_in`].

use super::Flow;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::locale::Locale;
use crate::store::{BindOutcome, BindRequest, StoreError};
use crate::ticket::TicketKey;

impl Flow {
    /// Binds an address the application already knows (the purchaser's)
    /// before anyone verifies. A pre-bound ticket has no first-device trust:
    /// every device verifies by a code sent to this address. The owner's
    /// language is not known until they verify from a page; until then a
    /// new-device notice goes out in the [default](Flow::with_default_locale)
    /// (see [`pre_bind_in`](Flow::pre_bind_in)).
    ///
    /// # Errors
    /// The store's error.
    pub async fn pre_bind(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
    ) -> Result<BindOutcome, StoreError> {
        self.pre_bind_with(ticket, address, None).await
    }

    /// [`pre_bind`](Flow::pre_bind), with the owner's language (the one of
    /// their order, say): a new-device notice goes out in it until they
    /// verify from a page in another.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// let buyer = EmailAddress::parse("wang@example.com").unwrap();
    /// flow.pre_bind_in(&ticket, &buyer, Locale::ZhHant).await?;
    /// assert_eq!(flow.inspect(&ticket).await?.bound_locale, Some(Locale::ZhHant));
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn pre_bind_in(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Locale,
    ) -> Result<BindOutcome, StoreError> {
        self.pre_bind_with(ticket, address, Some(locale)).await
    }

    async fn pre_bind_with(
        &self,
        ticket: &TicketKey,
        address: &EmailAddress,
        locale: Option<Locale>,
    ) -> Result<BindOutcome, StoreError> {
        let request = BindRequest::new(ticket, address, self.now()).with_locale(locale);
        let outcome = self.inner.store.bind(&request).await?;
        self.inner.recipients.forget(ticket);
        if outcome == BindOutcome::Bound {
            self.inner
                .events
                .emit(OtpEvent::PreBound { ticket: *ticket });
        }
        Ok(outcome)
    }
}
