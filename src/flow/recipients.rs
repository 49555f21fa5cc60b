//! Where a ticket's codes go, as this instance last read it, so a send can
//! issue in one store step instead of reading the ticket first.
//!
//! The store stays the authority: a send to a remembered binding asks the
//! store to issue only while the ticket is still bound to it
//! ([`IssueRequest::expecting_binding`](crate::store::IssueRequest::expecting_binding)),
//! and a send to a remembered pending or typed address is refused by the
//! store when the ticket was bound to another address meanwhile. Either
//! refusal makes the flow read the ticket and decide again, so a stale
//! entry costs a round trip, never a code sent to the wrong address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::store::TicketSnapshot;
use crate::ticket::TicketKey;

const SHARDS: usize = 16;

/// How long an entry is used: longer than a person takes between the
/// challenge page and its button, short enough that an instance that never
/// hears of a binding made elsewhere reads the ticket again soon.
const TTL: Duration = Duration::from_secs(600);

/// Where a send with no typed address goes, and whether a typed one counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Recipient {
    /// Bound: every code goes to the binding; a typed address is ignored.
    Bound(EmailAddress),
    /// Not bound: codes go to the typed address, else to the pending one.
    Unbound { pending: Option<EmailAddress> },
}

impl Recipient {
    /// What `snapshot` says.
    pub(super) fn of(snapshot: &TicketSnapshot) -> Self {
        match &snapshot.binding {
            Some(bound) => Recipient::Bound(bound.clone()),
            None => Recipient::Unbound {
                pending: snapshot.pending.clone(),
            },
        }
    }
}

type Shard = HashMap<[u8; 16], (Recipient, Timestamp)>;

/// Ticket → recipient, sharded and bounded: a full shard is emptied, which
/// costs the tickets it held one read each.
#[derive(Debug)]
pub(super) struct Recipients {
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
}

impl Recipients {
    /// A cache of at most about `capacity` tickets.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, ticket: &TicketKey) -> std::sync::MutexGuard<'_, Shard> {
        let index = usize::from(ticket.as_bytes()[0]) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The recipient remembered for `ticket`, if it was read within the TTL.
    pub(super) fn get(&self, ticket: &TicketKey, now: Timestamp) -> Option<Recipient> {
        let shard = self.shard(ticket);
        let (recipient, at) = shard.get(ticket.as_bytes())?;
        (now.saturating_since(*at) < TTL && *at <= now).then(|| recipient.clone())
    }

    /// Remembers `recipient` for `ticket`, as known at `now`.
    pub(super) fn set(&self, ticket: &TicketKey, recipient: Recipient, now: Timestamp) {
        let mut shard = self.shard(ticket);
        if shard.len() >= self.per_shard && !shard.contains_key(ticket.as_bytes()) {
            shard.clear();
        }
        shard.insert(*ticket.as_bytes(), (recipient, now));
    }

    /// Forgets `ticket` (its binding changed here, or the store disagreed).
    pub(super) fn forget(&self, ticket: &TicketKey) {
        self.shard(ticket).remove(ticket.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(n: u32) -> TicketKey {
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        TicketKey::from_bytes(bytes)
    }

    fn address(text: &str) -> EmailAddress {
        EmailAddress::parse(text).unwrap()
    }

    #[test]
    fn remembers_within_the_ttl_only() {
        let cache = Recipients::new(100);
        let t0 = Timestamp::from_millis(1_000_000);
        let bound = Recipient::Bound(address("minji@example.com"));
        cache.set(&ticket(1), bound.clone(), t0);
        assert_eq!(cache.get(&ticket(1), t0), Some(bound.clone()));
        assert_eq!(
            cache.get(&ticket(1), t0 + TTL - Duration::from_millis(1)),
            Some(bound)
        );
        assert_eq!(cache.get(&ticket(1), t0 + TTL), None);
        assert_eq!(cache.get(&ticket(2), t0), None);
        // A clock that went back does not make an entry young.
        assert_eq!(cache.get(&ticket(1), Timestamp::from_millis(1)), None);
    }

    #[test]
    fn forget_and_bound() {
        let cache = Recipients::new(SHARDS);
        let t0 = Timestamp::from_millis(1_000);
        for n in 0..1_000 {
            cache.set(&ticket(n), Recipient::Unbound { pending: None }, t0);
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS, "bounded: {held}");
        cache.set(&ticket(5), Recipient::Unbound { pending: None }, t0);
        cache.forget(&ticket(5));
        assert_eq!(cache.get(&ticket(5), t0), None);
    }
}
