//! Trusting a ticket's first device: [`Flow::claim_first_device`], and the
//! layer's claims of ticket ids no validator vouched for.

use std::net::IpAddr;

use super::Flow;
use crate::events::OtpEvent;
use crate::store::{ClaimOutcome, ClaimRequest, SendBudget, StoreError};
use crate::ticket::TicketKey;

impl Flow {
    /// Trusts the first device of an unclaimed, unbound ticket. Returns the
    /// generation for its device token, or `None` if the ticket was claimed
    /// or bound already.
    ///
    /// The ticket is taken as one the application vouches for: its claim
    /// lasts the [claim lifetime](crate::Limits::with_claim_lifetime).
    ///
    /// # Errors
    /// The store's error.
    pub async fn claim_first_device(&self, ticket: &TicketKey) -> Result<Option<u64>, StoreError> {
        let now = self.now();
        let request = ClaimRequest::new(ticket, now, self.inner.limits.policy());
        self.claim(&request).await
    }

    /// [`claim_first_device`](Self::claim_first_device) for a ticket id no
    /// validator vouched for, asked by `client`: the claim lapses sooner and
    /// counts against the client's budget of such claims (refused at it:
    /// `None`, as for a claimed ticket).
    pub(crate) async fn claim_unvouched(
        &self,
        ticket: &TicketKey,
        client: Option<IpAddr>,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.now();
        let request = ClaimRequest::new(ticket, now, self.inner.limits.policy())
            .unvouched(client.map(|ip| self.inner.keys.client_key(b"client claims", ip)));
        self.claim(&request).await
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Option<u64>, StoreError> {
        match self.inner.store.claim_first_device(request).await? {
            ClaimOutcome::Claimed { generation } => {
                self.inner.events.emit(OtpEvent::FirstDeviceClaimed {
                    ticket: *request.ticket,
                });
                Ok(Some(generation))
            }
            ClaimOutcome::Throttled { retry_at } => {
                self.inner.events.emit(OtpEvent::ClaimThrottled {
                    ticket: *request.ticket,
                    retry_at,
                    budget: SendBudget::Client,
                });
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}
