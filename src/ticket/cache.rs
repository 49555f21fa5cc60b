//! Ticket keys with a small per-thread cache, so the verified path skips the
//! HMAC for tickets this thread saw recently.

use super::{TicketId, TicketKey};
use crate::secret::HmacKey;
use crate::slot::ThreadSlots;

const SLOTS: usize = 256;

/// Derives [`TicketKey`]s under one key. Clones share the cache entries.
#[derive(Clone, Debug)]
pub(crate) struct TicketKeyer {
    key: HmacKey,
    /// Tells this key's cache entries from those of other keys in the process.
    id: u64,
}

struct Entry {
    owner: u64,
    // Short ids inline: the comparison follows no pointer.
    ticket: TicketId,
    key: TicketKey,
}

thread_local! {
    static CACHE: ThreadSlots<Entry, SLOTS> = const { ThreadSlots::new() };
}

impl TicketKeyer {
    pub(crate) fn new(key: HmacKey) -> Self {
        Self {
            key,
            id: crate::slot::new_owner(),
        }
    }

    /// The keyed hash of `ticket`.
    pub(crate) fn key(&self, ticket: &TicketId) -> TicketKey {
        let id = ticket.as_bytes();
        if id.len() > 128 {
            return TicketKey::derive(&self.key, ticket);
        }
        CACHE.with(|cache| {
            cache.write(self.id, id, |slot| match slot {
                Some(entry) if entry.owner == self.id && entry.ticket == *ticket => entry.key,
                _ => {
                    let key = TicketKey::derive(&self.key, ticket);
                    *slot = Some(Entry {
                        owner: self.id,
                        ticket: ticket.clone(),
                        key,
                    });
                    key
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn cached_keys_equal_derived_keys_and_never_cross_secrets() {
        let a = TicketKeyer::new(HmacKey::new(&Secret::random().derive("ticket")));
        let b = TicketKeyer::new(HmacKey::new(&Secret::random().derive("ticket")));
        for round in 0..3 {
            for n in 0..1000 {
                let ticket = TicketId::new(format!("ticket-{n}"));
                let (ka, kb) = (a.key(&ticket), b.key(&ticket));
                assert_eq!(ka, TicketKey::derive(&a.key, &ticket), "round {round}");
                assert_eq!(kb, TicketKey::derive(&b.key, &ticket), "round {round}");
                assert_ne!(ka, kb);
            }
        }
        // Ids of exactly `len` bytes, told apart by their last byte: held on
        // the heap but cached (47 to 128 bytes), and not cached (over 128).
        let id = |len: usize, last: char| {
            let mut id = format!("{len}-");
            id.push_str(&"x".repeat(len - id.len() - 1));
            id.push(last);
            TicketId::new(id)
        };
        for len in [47, 100, 128, 129, 200] {
            for round in 0..2 {
                let long = id(len, 'x');
                assert_eq!(long.as_str().len(), len);
                assert_eq!(
                    a.key(&long),
                    TicketKey::derive(&a.key, &long),
                    "{len}, {round}"
                );
                assert_ne!(a.key(&long), a.key(&id(len, 'y')), "{len}");
            }
        }
    }
}
