//! Reading a ticket: where its challenge stands ([`Flow::challenge`]), as
//! the layer and the pages see it.

use super::Flow;
use super::outcome::{Challenge, ChallengeState};
use super::recipients::Recipient;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::store::{StoreError, TicketSnapshot};
use crate::ticket::TicketKey;

impl Flow {
    /// Where the ticket's challenge stands (a read; changes nothing).
    ///
    /// # Errors
    /// The store's error.
    pub async fn challenge(&self, ticket: &TicketKey) -> Result<Challenge, StoreError> {
        Ok(self.lookup(ticket).await?.0)
    }

    fn view(&self, s: &TicketSnapshot, now: Timestamp) -> Challenge {
        let locked_until = s.locked_until.filter(|until| *until > now);
        let live = !s.live_codes.is_empty() && !s.exhausted;
        let address = s.binding.as_ref().or(s.pending.as_ref());
        let not_prebound = self.inner.require_prebound && s.binding.is_none();
        let state = if not_prebound {
            ChallengeState::NotPrebound
        } else if locked_until.is_some() {
            ChallengeState::Locked
        } else if live {
            ChallengeState::CodeSent
        } else if address.is_some() {
            ChallengeState::SendRequired
        } else {
            ChallengeState::EmailRequired
        };
        let max = self.inner.limits.max_attempts();
        Challenge {
            state,
            bound: s.binding.is_some(),
            masked_address: address.map(EmailAddress::masked),
            expires_at: if live {
                s.live_codes.iter().map(|c| c.expires_at).max()
            } else {
                None
            },
            resend_at: self
                .inner
                .limits
                .policy()
                .next_send_at(&s.recent_sends)
                .filter(|at| *at > now),
            attempts_left: if s.exhausted {
                0
            } else {
                max.saturating_sub(s.attempts_used)
            },
            locked_until,
            exhausted: s.exhausted,
            expired: s.live_codes.is_empty() && s.had_codes,
            claimable: !s.claimed && s.binding.is_none() && !self.inner.state.first_devices_held(),
            now,
        }
    }

    /// The challenge and the ticket's revocation generation, in one read.
    pub(crate) async fn lookup(&self, ticket: &TicketKey) -> Result<(Challenge, u64), StoreError> {
        let (snapshot, now) = self.snapshot(ticket).await?;
        Ok((self.view(&snapshot, now), snapshot.generation))
    }

    /// The ticket as the store has it now (one read), with that "now"; the
    /// generation it holds refreshes this instance's revocation cache.
    pub(super) async fn snapshot(
        &self,
        ticket: &TicketKey,
    ) -> Result<(TicketSnapshot, Timestamp), StoreError> {
        let now = self.now();
        let snapshot = self
            .inner
            .store
            .load(ticket, now, self.inner.limits.policy())
            .await?;
        self.inner
            .generations
            .record(ticket, Some(snapshot.generation), now);
        self.inner
            .recipients
            .set(ticket, Recipient::of(&snapshot), now);
        Ok((snapshot, now))
    }
}
