//! What support sees of a family: its own ticket's report, where each seat
//! stands (with the family, or handed to a companion), and its transfers
//! ([`Flow::inspect_family`]).

use super::Flow;
use super::support::TicketReport;
use super::transfer::terms::TransferStatus;
use crate::family::SeatState;
use crate::store::StoreError;
use crate::ticket::TicketId;

/// A family as support sees it ([`Flow::inspect_family`]). Addresses are
/// masked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FamilyReport {
    /// The family's own ticket id.
    pub family: TicketId,
    /// The family's own ticket: its binding, challenge, lockout.
    pub ticket: TicketReport,
    /// Each seat asked about, and where it stands.
    pub seats: Vec<(TicketId, SeatState)>,
    /// The family's transfers: the one under way, how many were made.
    pub transfers: TransferStatus,
}

impl Flow {
    /// Support's view of the family of `ticket` (the family's own id, or a
    /// member's): the family's ticket report, where each of `seats` stands,
    /// and the family's transfers. Emits [`OtpEvent::Inspected`](crate::OtpEvent::Inspected)
    /// for the family's ticket.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    /// use tower_otp::family::{Membership, SeatState};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_ticket_families(|id: &TicketId| {
    ///         let (order, _) = id.as_str().rsplit_once('-')?;
    ///         Some(Membership::new(TicketId::new(order), format!("/orders/{order}")))
    ///     });
    /// let order = TicketId::new("A7x9Qz");
    /// flow.pre_bind(&flow.ticket_key(&order), &EmailAddress::parse("taro@example.com").unwrap()).await?;
    /// let device = tower_otp::testing::verified_device(&flow, &order);
    /// let seat = TicketId::new("A7x9Qz-2");
    /// let friend = EmailAddress::parse("hanako@example.com").unwrap();
    /// flow.hand_off(&device, &seat, &friend, "https://tickets.example/orders/A7x9Qz/seats/2", Locale::En).await.unwrap();
    ///
    /// let report = flow.inspect_family(&seat, &[seat.clone()]).await?;
    /// assert_eq!(report.family, order);
    /// assert_eq!(report.ticket.bound_address.as_deref(), Some("t***@e***.com"));
    /// assert!(matches!(&report.seats[0].1, SeatState::Pending { to } if to == "h***@e***.com"));
    /// assert_eq!(report.transfers.done, 0);
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn inspect_family(
        &self,
        ticket: &TicketId,
        seats: &[TicketId],
    ) -> Result<FamilyReport, StoreError> {
        let family = self
            .membership(ticket)
            .map_or_else(|| ticket.clone(), |m| m.family().clone());
        let report = self.inspect(&self.ticket_key(&family)).await?;
        let states = self.seat_states(seats).await?;
        let transfers = self.transfer_status(&family).await?;
        Ok(FamilyReport {
            family,
            ticket: report,
            seats: seats.iter().cloned().zip(states).collect(),
            transfers,
        })
    }
}
