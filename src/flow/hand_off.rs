//! Ticket families on the flow: which tickets belong together
//! ([`Flow::with_ticket_families`]), and seats handed from a family to a
//! companion ([`Flow::hand_off`], [`Flow::cancel_hand_off`],
//! [`Flow::seat_states`]).
//!
//! A handed seat is a ticket of its own in the store, bound to the
//! companion's address (a plain [`bind`](crate::store::Store::bind), which
//! the store makes atomic: of two hand-offs of one seat, one binds and the
//! other is refused). A seat whose own record is unbound belongs to its
//! family. Cancelling unbinds it, which moves its generation: the seat's
//! generation counts its cancellations.

use std::sync::Arc;

use super::Flow;
use crate::email::EmailAddress;
use crate::events::OtpEvent;
use crate::extract::VerifiedDevice;
use crate::family::{
    HandOffAsk, HandOffError, HandOffRefusal, HandOffRules, HandedOff, Membership, SeatState,
};
use crate::locale::Locale;
use crate::mail::{MailKind, OtpMail};
use crate::store::{BindOutcome, BindRequest, StoreError};
use crate::ticket::{TicketId, TicketKey};

/// A seat's family and the keys of both.
struct Seat {
    membership: Membership,
    seat: TicketKey,
    family: TicketKey,
}

impl Flow {
    /// Says which tickets belong together: `families` answers, for a ticket
    /// id, the family it is a member of (`None`: a ticket of its own, the
    /// family's own id included).
    ///
    /// A request naming a member is gated as its family: the family's
    /// binding, challenge and device cookie (scoped to
    /// [`Membership::cookie_path`]), so one verification opens every
    /// member. A member handed to a companion ([`Flow::hand_off`]) is gated
    /// as a ticket of its own, bound to the companion.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, TicketId};
    /// use tower_otp::family::Membership;
    ///
    /// // Seats `{order}-{n}` belong to order `{order}`; seat 1 is the buyer's.
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new())
    ///     .with_ticket_families(|id: &TicketId| {
    ///         let (order, n) = id.as_str().rsplit_once('-')?;
    ///         let member = Membership::new(TicketId::new(order), format!("/orders/{order}"));
    ///         Some(if n == "1" { member.holders_own() } else { member })
    ///     });
    /// assert!(flow.membership(&TicketId::new("A7x9Qz-2")).is_some());
    /// assert!(flow.membership(&TicketId::new("A7x9Qz")).is_none());
    /// ```
    pub fn with_ticket_families(
        self,
        families: impl Fn(&TicketId) -> Option<Membership> + Send + Sync + 'static,
    ) -> Self {
        let families: crate::family::Families = Arc::new(families);
        self.edit(|i| i.families = Some(families))
    }

    /// The rules of hand-offs (default: [`HandOffRules::default`]).
    pub fn with_hand_off_rules(self, rules: HandOffRules) -> Self {
        self.edit(|i| i.hand_off_rules = rules)
    }

    /// The family `ticket` is a member of, as
    /// [`with_ticket_families`](Flow::with_ticket_families) says (`None`
    /// when it says none, or was not given).
    pub fn membership(&self, ticket: &TicketId) -> Option<Membership> {
        let families = self.inner.families.as_ref()?;
        families(ticket).filter(|m| m.family() != ticket)
    }

    /// Whether this flow has families (the gate then asks of every ticket).
    pub(crate) fn has_families(&self) -> bool {
        self.inner.families.is_some()
    }

    fn seat(&self, seat: &TicketId) -> Result<Seat, HandOffRefusal> {
        let membership = self.membership(seat).ok_or(HandOffRefusal::NotInFamily)?;
        Ok(Seat {
            seat: self.ticket_key(seat),
            family: self.ticket_key(membership.family()),
            membership,
        })
    }

    /// The device may act for the seat's family.
    fn holder(device: &VerifiedDevice, seat: &Seat) -> Result<(), HandOffRefusal> {
        if *device.ticket_key() == seat.seat {
            return Err(HandOffRefusal::ReceivedSeat);
        }
        if *device.ticket_key() != seat.family {
            return Err(HandOffRefusal::NotTheHolder);
        }
        Ok(())
    }

    /// Whether `link` may go into a companion's mail: an absolute `http(s)`
    /// URL with no space or control character, on the site's origin when
    /// one is configured.
    pub(super) fn mailable(&self, link: &str) -> bool {
        let scheme = link.starts_with("https://") || link.starts_with("http://");
        let clean = !link.chars().any(|c| c.is_whitespace() || c.is_control());
        let on_site = self.site_origin().is_none_or(|origin| {
            let origin = origin.trim_end_matches('/');
            link.strip_prefix(origin)
                .is_some_and(|rest| rest.starts_with('/'))
        });
        scheme && clean && on_site && link.len() <= 2048
    }

    /// Hands `seat` to a companion at `to`, from `device`, verified on the
    /// seat's family: the seat leaves the family, bound to `to`; the
    /// family's devices are challenged on it from their next request on
    /// this instance (within the layer's revocation TTL on others); the
    /// companion is mailed `link` (the seat's absolute URL) in `locale`, and
    /// verifies on their own device with a code sent to `to`.
    ///
    /// Refused ([`HandOffError::Refused`]) for: a ticket in no family, a
    /// device not verified on the family (a companion's included: a
    /// received seat is not handed on), the holder's own seat, a seat
    /// handed over already, a family past its deadline, the application's
    /// check, a link that is not an absolute `http(s)` URL on the site.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, EmailAddress, Flow, Locale, MemoryStore, Secret, TicketId};
    /// use tower_otp::family::{HandOffError, HandOffRefusal, Membership, SeatState};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
    ///     .with_ticket_families(|id: &TicketId| {
    ///         let (order, n) = id.as_str().rsplit_once('-')?;
    ///         let member = Membership::new(TicketId::new(order), format!("/orders/{order}"));
    ///         Some(if n == "1" { member.holders_own() } else { member })
    ///     });
    /// // The holder's device, verified on the order (as the gate hands it to a handler).
    /// let device = tower_otp::testing::verified_device(&flow, &TicketId::new("A7x9Qz"));
    /// let friend = EmailAddress::parse("hanako@example.com").unwrap();
    /// let seat = TicketId::new("A7x9Qz-2");
    ///
    /// flow.hand_off(&device, &seat, &friend, "https://tickets.example/orders/A7x9Qz/seats/2", Locale::Ja).await?;
    /// assert!(matches!(flow.seat_states(&[seat.clone()]).await?[0], SeatState::Pending { .. }));
    ///
    /// // Seat 1 is the holder's own.
    /// let refused = flow.hand_off(&device, &TicketId::new("A7x9Qz-1"), &friend, "https://tickets.example/x", Locale::Ja).await;
    /// assert!(matches!(refused, Err(HandOffError::Refused(HandOffRefusal::OwnSeat))));
    /// # Ok::<(), HandOffError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`HandOffError::Refused`], or the store's error (nothing was handed over).
    pub async fn hand_off(
        &self,
        device: &VerifiedDevice,
        seat: &TicketId,
        to: &EmailAddress,
        link: &str,
        locale: Locale,
    ) -> Result<HandedOff, HandOffError> {
        let result = self.try_hand_off(device, seat, to, link, locale).await;
        if let Err(HandOffError::Refused(refusal)) = &result {
            self.inner.events.emit(OtpEvent::HandOffRefused {
                seat: self.ticket_key(seat),
                reason: refusal.code(),
            });
        }
        result
    }

    async fn try_hand_off(
        &self,
        device: &VerifiedDevice,
        seat_id: &TicketId,
        to: &EmailAddress,
        link: &str,
        locale: Locale,
    ) -> Result<HandedOff, HandOffError> {
        let seat = self.seat(seat_id)?;
        Self::holder(device, &seat)?;
        if seat.membership.is_holders_own() {
            return Err(HandOffRefusal::OwnSeat.into());
        }
        if !self.mailable(link) {
            return Err(HandOffRefusal::BadLink.into());
        }
        let now = self.now();
        let rules = &self.inner.hand_off_rules;
        let family = seat.membership.family();
        if rules.closed(family, now) {
            return Err(HandOffRefusal::Closed.into());
        }
        let ask = HandOffAsk {
            family,
            seat: seat_id,
            to,
        };
        if !rules.allows(&ask) {
            return Err(HandOffRefusal::RefusedBySite.into());
        }
        let request = BindRequest::new(&seat.seat, to, now).with_locale(Some(locale));
        match self.inner.store.bind(&request).await? {
            BindOutcome::Bound => {}
            _ => {
                self.inner.seats.record(&seat.seat, true, now);
                return Err(HandOffRefusal::AlreadyHandedOver.into());
            }
        }
        // The family's devices are refused on the seat from their next
        // request here.
        self.inner.seats.record(&seat.seat, true, now);
        self.inner.recipients.forget(&seat.seat);
        self.inner.events.emit(OtpEvent::HandedOver {
            family: seat.family,
            seat: seat.seat,
            to: to.masked(),
        });
        let mail = OtpMail::new(
            to.clone(),
            MailKind::HandedOver {
                link: link.to_owned(),
            },
            locale,
            self.inner.site_name.clone(),
        )
        .with_site_origin(self.inner.site_origin.clone());
        let mailed = match self.inner.mailer.send(&mail).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    seat = seat.seat.label(),
                    %error,
                    "hand-off mail not delivered; the seat is handed over all the same"
                );
                false
            }
        };
        Ok(HandedOff {
            to: to.masked(),
            mailed,
        })
    }

    /// Cancels the hand-off of `seat` from `device`, verified on its
    /// family, before the companion received it: the seat is the family's
    /// again (on other instances within the layer's revocation TTL plus one
    /// read), and a code the companion was sent is void. Refused once the
    /// companion verified a device on it, past the
    /// family's deadline, and after [`HandOffRules::with_cancellations`]
    /// cancellations of this seat (a support action that signs out the
    /// seat's devices counts as one).
    ///
    /// A cancellation and the companion's verification that meet are
    /// settled by the store in the order it takes them: if the
    /// cancellation comes second, it is refused; if it comes first, the
    /// code the companion typed is void.
    ///
    /// # Errors
    /// [`HandOffError::Refused`], or the store's error (nothing changed).
    pub async fn cancel_hand_off(
        &self,
        device: &VerifiedDevice,
        seat: &TicketId,
    ) -> Result<(), HandOffError> {
        let result = self.try_cancel_hand_off(device, seat).await;
        if let Err(HandOffError::Refused(refusal)) = &result {
            self.inner.events.emit(OtpEvent::HandOffRefused {
                seat: self.ticket_key(seat),
                reason: refusal.code(),
            });
        }
        result
    }

    async fn try_cancel_hand_off(
        &self,
        device: &VerifiedDevice,
        seat_id: &TicketId,
    ) -> Result<(), HandOffError> {
        let seat = self.seat(seat_id)?;
        Self::holder(device, &seat)?;
        let now = self.now();
        let rules = &self.inner.hand_off_rules;
        if rules.closed(seat.membership.family(), now) {
            return Err(HandOffRefusal::Closed.into());
        }
        let store = &self.inner.store;
        let snapshot = store
            .load(&seat.seat, now, self.inner.limits.policy())
            .await?;
        if snapshot.binding.is_none() {
            self.inner.seats.record(&seat.seat, false, now);
            return Err(HandOffRefusal::NotHandedOver.into());
        }
        if snapshot.device_verified {
            return Err(HandOffRefusal::AlreadyReceived.into());
        }
        if snapshot.generation >= u64::from(rules.cancellations()) {
            return Err(HandOffRefusal::TooManyCancellations.into());
        }
        let unbound = store
            .withdraw_binding(&seat.seat, now, snapshot.generation)
            .await?;
        let Some(generation) = unbound else {
            // Since the read: the companion verified, or another
            // cancellation came first (and the seat may have been handed
            // again).
            let now = self.now();
            let snapshot = store
                .load(&seat.seat, now, self.inner.limits.policy())
                .await?;
            let refusal = match snapshot.binding {
                None => HandOffRefusal::NotHandedOver,
                Some(_) if snapshot.device_verified => HandOffRefusal::AlreadyReceived,
                Some(_) => HandOffRefusal::AlreadyHandedOver,
            };
            return Err(refusal.into());
        };
        self.inner.seats.record(&seat.seat, false, now);
        self.inner.recipients.forget(&seat.seat);
        self.inner
            .generations
            .record(&seat.seat, Some(generation), now);
        self.inner.events.emit(OtpEvent::HandOffCancelled {
            family: seat.family,
            seat: seat.seat,
        });
        Ok(())
    }

    /// Where each of `seats` stands: with its family, handed over and
    /// pending, or received. One store read per seat.
    ///
    /// # Errors
    /// The store's error.
    pub async fn seat_states(&self, seats: &[TicketId]) -> Result<Vec<SeatState>, StoreError> {
        let now = self.now();
        let mut states = Vec::with_capacity(seats.len());
        for seat in seats {
            let key = self.ticket_key(seat);
            let snapshot = self
                .inner
                .store
                .load(&key, now, self.inner.limits.policy())
                .await?;
            let handed = snapshot.binding.is_some() && self.membership(seat).is_some();
            self.inner.seats.record(&key, handed, now);
            states.push(match snapshot.binding {
                Some(to) if handed && snapshot.device_verified => {
                    SeatState::Received { to: to.masked() }
                }
                Some(to) if handed => SeatState::Pending { to: to.masked() },
                _ => SeatState::Family,
            });
        }
        Ok(states)
    }

    /// Whether `seat` was handed over, as this instance read it (see
    /// `Seats::known`); a stale
    /// reading is read again in the background.
    pub(crate) fn known_seat(
        &self,
        seat: &TicketKey,
        now: crate::clock::Timestamp,
        ttl: std::time::Duration,
    ) -> Option<bool> {
        let reading = self.inner.seats.known(seat, now, ttl)?;
        if reading.refresh {
            let (flow, seat) = (self.clone(), *seat);
            self.spawn_background(async move {
                if flow.read_seat(&seat).await.is_none() {
                    flow.inner.seats.refresh_failed(&seat);
                }
            });
        }
        Some(reading.handed)
    }

    /// Reads whether `seat` was handed over (bound to a companion), once
    /// for every request waiting on it; `None` when the store failed or did
    /// not answer in time.
    pub(crate) async fn read_seat(&self, seat: &TicketKey) -> Option<bool> {
        let read = async {
            let now = self.now();
            match self
                .inner
                .store
                .load(seat, now, self.inner.limits.policy())
                .await
            {
                Ok(snapshot) => {
                    let handed = snapshot.binding.is_some();
                    self.inner.seats.record(seat, handed, now);
                    Some(u64::from(handed))
                }
                Err(error) => {
                    tracing::error!(seat = seat.label(), %error, "store unavailable");
                    None
                }
            }
        };
        self.inner
            .seat_reads
            .read(seat, read)
            .await
            .map(|handed| handed == 1)
    }
}
