//! Revoking a ticket's devices ([`Flow::revoke_devices`]) and the
//! revocation generations the layer checks device tokens against: cached
//! per instance (`generations`), refreshed in the background, and read
//! once for every request waiting on the same ticket.

use std::time::Duration;

use super::Flow;
use super::enforcers::{Enforcement, Registration};
use super::outcome::Revoked;
use crate::clock::Timestamp;
use crate::events::OtpEvent;
use crate::store::StoreError;
use crate::ticket::TicketKey;

impl Flow {
    /// Revokes every device token of the ticket issued so far. They stop
    /// passing only where a layer over this flow checks revocation
    /// ([`OtpLayer::with_revocation`](crate::OtpLayer::with_revocation)):
    /// [`Revoked::enforced`] says whether every live layer over this flow
    /// does, and a warning is logged when they do not.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Revocation, Secret, TicketId};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let ticket = flow.ticket_key(&TicketId::new("A7x9Qz"));
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced);
    /// let layer = OtpLayer::new(flow.clone()); // revocation cached by default
    /// assert!(flow.revoke_devices(&ticket).await?.enforced);
    /// let off = OtpLayer::new(flow.clone()).with_revocation(Revocation::Off);
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced);
    /// drop((layer, off));
    /// assert!(!flow.revoke_devices(&ticket).await?.enforced); // no layer at all
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The store's error.
    pub async fn revoke_devices(&self, ticket: &TicketKey) -> Result<Revoked, StoreError> {
        let generation = self.inner.store.revoke_devices(ticket).await?;
        self.inner.events.emit(OtpEvent::DevicesRevoked {
            ticket: *ticket,
            generation,
        });
        // This instance refuses the revoked devices from their next request.
        self.inner
            .generations
            .record(ticket, Some(generation), self.now());
        let enforced = self.warn_unless_enforced(ticket);
        Ok(Revoked {
            generation,
            enforced,
        })
    }

    /// Whether every live layer over this flow refuses revoked devices; a
    /// warning names the cause when they do not.
    pub(crate) fn warn_unless_enforced(&self, ticket: &TicketKey) -> bool {
        match self.inner.enforcers.enforcement() {
            Enforcement::Enforced => true,
            Enforcement::NoLayer => {
                tracing::warn!(
                    ticket = ticket.label(),
                    "devices revoked in the store, but no layer over this flow is serving: \
                     nothing here refuses their cookies"
                );
                false
            }
            Enforcement::SomeLayerOff => {
                tracing::warn!(
                    ticket = ticket.label(),
                    "devices revoked in the store, but a layer over this flow does not check \
                     revocation: their cookies pass it until they expire \
                     (OtpLayer::with_revocation)"
                );
                false
            }
        }
    }

    /// The generation this instance last read for `ticket`, trusted for
    /// `ttl`; a stale one is read again in the background (counted by
    /// [`Flow::settled`]). No store I/O on the caller's path; `now` is the
    /// caller's reading of the clock. `None`: this instance has no reading
    /// (never read, evicted, or its read failed), and the caller reads it
    /// before anything passes ([`Flow::shared_generation`]).
    pub(crate) fn known_generation(
        &self,
        ticket: &TicketKey,
        now: Timestamp,
        ttl: Duration,
    ) -> Option<u64> {
        let known = self.inner.generations.known(ticket, now, ttl);
        if known.refresh && known.generation.is_some() {
            let flow = self.clone();
            let ticket = *ticket;
            self.spawn_background(async move {
                if let Err(error) = flow.read_generation(&ticket, now).await {
                    tracing::warn!(ticket = ticket.label(), %error, "generation not refreshed");
                }
            });
        }
        known.generation
    }

    /// The ticket's generation from the store, for a device whose ticket
    /// this instance has no reading of: one read, shared by every request
    /// that waits for it at the same time, and recorded for the ones after.
    /// `None` when the store failed (logged).
    pub(crate) async fn shared_generation(&self, ticket: &TicketKey) -> Option<u64> {
        let read = async {
            self.read_generation(ticket, self.now())
                .await
                .map_err(|error| {
                    tracing::error!(ticket = ticket.label(), %error, "store unavailable");
                })
                .ok()
        };
        self.inner.generation_reads.read(ticket, read).await
    }

    /// Reads the ticket's generation as of `now` and records what was read
    /// in this instance's cache (a failed read as failed), timed from `now`.
    async fn read_generation(&self, ticket: &TicketKey, now: Timestamp) -> Result<u64, StoreError> {
        let read = self
            .inner
            .store
            .load(ticket, now, self.inner.limits.policy())
            .await
            .map(|snapshot| snapshot.generation);
        self.inner
            .generations
            .record(ticket, read.as_ref().ok().copied(), now);
        read
    }

    /// The ticket's revocation generation (device tokens from an older one are revoked).
    ///
    /// # Errors
    /// The store's error.
    pub async fn generation(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
        Ok(self.snapshot(ticket).await?.0.generation)
    }

    /// Counts a layer's settings among this flow's layers while they live
    /// (`checks`: it checks revocation).
    pub(crate) fn register_layer(&self, checks: bool) -> Registration {
        Registration::new(&self.inner.enforcers, checks)
    }
}
