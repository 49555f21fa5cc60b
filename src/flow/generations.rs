//! A small in-process cache of ticket revocation generations, so revocation
//! can be checked on the verified path without store I/O: a generation is
//! trusted for a short time, then refreshed in the background.
//!
//! In front of the shared, locked map, each thread keeps a copy of the fresh
//! entries it read, valid while the map's *epoch* is the one it read them
//! under. Every [`record`](Generations::record) bumps the epoch, so a
//! revocation made on this instance is seen by every thread's next request,
//! and the verified path takes no lock (two atomic read-modify-writes) while
//! nothing is recorded.
//!
//! A generation is used for at most [`max_age`] after it was read: older
//! than that it counts as unknown, and the ticket's next device waits for
//! one read (or, the store not answering, is refused: 503).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::ticket::TicketKey;

const SHARDS: usize = 16;

/// The least time a generation is used after it was read, however short
/// the TTL: while the store does not answer, a device whose ticket's
/// generation is younger passes, and one whose ticket's generation is
/// older (or unknown) is refused. A minute rides out a store's restart or
/// failover; a revocation made before the store failed is missed for at
/// most that long, on an instance that has not read it yet.
const MAX_AGE_FLOOR: Duration = Duration::from_secs(60);

/// How long after it was read a generation is used, for entries trusted
/// `ttl`: twice the TTL, at least [`MAX_AGE_FLOOR`].
pub(crate) fn max_age(ttl: Duration) -> Duration {
    ttl.saturating_mul(2).max(MAX_AGE_FLOOR)
}

/// What the cache knows of a ticket right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    /// The generation last read (none yet for a ticket never read).
    pub(crate) generation: Option<u64>,
    /// The caller should read the store again (in the background).
    pub(crate) refresh: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    generation: Option<u64>,
    read_at: Timestamp,
    refreshing: bool,
}

/// A ticket key is an HMAC output, uniform and out of an attacker's control,
/// so its own bits serve as the hash (SipHash cost more than the lookup).
#[derive(Debug, Default)]
struct KeyBits(u64);

impl Hasher for KeyBits {
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u128` keys; kept correct for any other use.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, bits: u128) {
        // The high half: the low byte of the low half picks the shard.
        self.0 = (bits >> 64) as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Shard = HashMap<u128, Entry, BuildHasherDefault<KeyBits>>;

/// The map key of a ticket.
fn bits(ticket: &TicketKey) -> u128 {
    u128::from_le_bytes(*ticket.as_bytes())
}

/// Ticket → generation, sharded, bounded.
#[derive(Debug)]
pub(crate) struct Generations {
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
    /// Tells this cache's thread-local copies from other caches'.
    id: u64,
    /// Bumped by every `record`: copies read under an older epoch are void.
    epoch: AtomicU64,
}

/// A thread's copy of a fresh entry.
#[derive(Clone, Copy)]
struct Copied {
    owner: u64,
    epoch: u64,
    ticket: u128,
    generation: u64,
    read_at: Timestamp,
}

/// Copies per thread: the tickets one thread serves at once.
const COPIES: usize = 64;

thread_local! {
    static COPIES_OF: RefCell<[Option<Copied>; COPIES]> = const { RefCell::new([None; COPIES]) };
}

impl Generations {
    /// A cache of at most `capacity` tickets.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            id: crate::slot::new_owner(),
            epoch: AtomicU64::new(0),
        }
    }

    fn shard(&self, ticket: &TicketKey) -> &Mutex<Shard> {
        &self.shards[usize::from(ticket.as_bytes()[0]) % SHARDS]
    }

    /// What is known of `ticket` at `now`, given entries live `ttl`. A
    /// missing or stale entry asks for a refresh once (later callers see
    /// `refresh: false` until it lands or fails). A generation read more than
    /// [`max_age`] ago is not known: the caller reads it before anything
    /// passes.
    pub(crate) fn known(&self, ticket: &TicketKey, now: Timestamp, ttl: Duration) -> Known {
        let key = bits(ticket);
        let slot = (key as usize) % COPIES;
        // Read before the map: a `record` after this voids the copy.
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(copy) = COPIES_OF.with(|copies| copies.borrow()[slot])
            && copy.owner == self.id
            && copy.epoch == epoch
            && copy.ticket == key
            && now.saturating_since(copy.read_at) < ttl
        {
            return Known {
                generation: Some(copy.generation),
                refresh: false,
            };
        }
        let mut shard = self.shard(ticket).lock().unwrap_or_else(|e| e.into_inner());
        match shard.get_mut(&key) {
            Some(entry) => {
                let age = now.saturating_since(entry.read_at);
                if entry.generation.is_some() && age >= max_age(ttl) {
                    return Known {
                        generation: None,
                        refresh: false,
                    };
                }
                let stale = age >= ttl;
                let refresh = stale && !entry.refreshing;
                entry.refreshing |= refresh;
                if let (false, Some(generation)) = (stale, entry.generation) {
                    let copy = Copied {
                        owner: self.id,
                        epoch,
                        ticket: key,
                        generation,
                        read_at: entry.read_at,
                    };
                    COPIES_OF.with(|copies| copies.borrow_mut()[slot] = Some(copy));
                }
                Known {
                    generation: entry.generation,
                    refresh,
                }
            }
            None => {
                if shard.len() >= self.per_shard {
                    // Bounded: drop any one entry (it is read again when needed).
                    if let Some(old) = shard.keys().next().copied() {
                        shard.remove(&old);
                    }
                }
                let entry = Entry {
                    generation: None,
                    read_at: now,
                    refreshing: true,
                };
                shard.insert(key, entry);
                Known {
                    generation: None,
                    refresh: true,
                }
            }
        }
    }

    /// Records a generation read (or set) at `now`. `None` is a failed read:
    /// a ticket never read is forgotten; one read before keeps its last
    /// generation, still stale, so the next request asks again
    /// (while the store is down, no revocation can be written either). A
    /// failed read changes no generation, so the threads' copies stay.
    pub(crate) fn record(&self, ticket: &TicketKey, generation: Option<u64>, now: Timestamp) {
        let key = bits(ticket);
        let mut shard = self.shard(ticket).lock().unwrap_or_else(|e| e.into_inner());
        match generation {
            Some(generation) => {
                let newest = shard
                    .get(&key)
                    .and_then(|e| e.generation)
                    .map_or(generation, |known| known.max(generation));
                shard.insert(
                    key,
                    Entry {
                        generation: Some(newest),
                        read_at: now,
                        refreshing: false,
                    },
                );
            }
            None => {
                match shard.get_mut(&key) {
                    Some(entry) if entry.generation.is_some() => entry.refreshing = false,
                    _ => {
                        shard.remove(&key);
                    }
                }
                return;
            }
        }
        drop(shard);
        // Every thread's copies are void from here on.
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// How many tickets are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(5);

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn misses_and_stale_entries_ask_for_one_refresh() {
        let cache = Generations::new(100);
        let t = TicketKey::from_bytes([1; 16]);
        let first = cache.known(&t, at(0), TTL);
        assert_eq!(
            first,
            Known {
                generation: None,
                refresh: true
            }
        );
        assert!(
            !cache.known(&t, at(0), TTL).refresh,
            "one refresh in flight"
        );
        cache.record(&t, Some(2), at(1));
        assert_eq!(
            cache.known(&t, at(5), TTL),
            Known {
                generation: Some(2),
                refresh: false
            }
        );
        let stale = cache.known(&t, at(6), TTL);
        assert_eq!(
            stale,
            Known {
                generation: Some(2),
                refresh: true
            }
        );
        assert!(!cache.known(&t, at(6), TTL).refresh);
    }

    /// The thread-local copies never outlive a `record`, on this thread or
    /// another, and never outlive the TTL.
    #[test]
    fn copies_are_void_after_a_record_and_after_the_ttl() {
        let cache = std::sync::Arc::new(Generations::new(100));
        let t = TicketKey::from_bytes([7; 16]);
        cache.record(&t, Some(2), at(0));
        assert_eq!(cache.known(&t, at(1), TTL).generation, Some(2)); // copied
        assert_eq!(cache.known(&t, at(1), TTL).generation, Some(2)); // from the copy
        cache.record(&t, Some(3), at(2));
        assert_eq!(cache.known(&t, at(2), TTL).generation, Some(3));
        // Another thread copies generation 3; a record here reaches it.
        let (to_main, from_thread) = std::sync::mpsc::channel();
        let (to_thread, from_main) = std::sync::mpsc::channel::<()>();
        let other = std::sync::Arc::clone(&cache);
        let thread = std::thread::spawn(move || {
            to_main
                .send(other.known(&t, at(3), TTL).generation)
                .unwrap();
            to_main
                .send(other.known(&t, at(3), TTL).generation)
                .unwrap();
            from_main.recv().unwrap();
            to_main
                .send(other.known(&t, at(4), TTL).generation)
                .unwrap();
        });
        assert_eq!(from_thread.recv().unwrap(), Some(3));
        assert_eq!(from_thread.recv().unwrap(), Some(3));
        cache.record(&t, Some(4), at(4));
        to_thread.send(()).unwrap();
        assert_eq!(from_thread.recv().unwrap(), Some(4));
        thread.join().unwrap();
        // Past the TTL the copy is not used: the map asks for one refresh.
        assert_eq!(cache.known(&t, at(5), TTL).generation, Some(4));
        let stale = cache.known(&t, at(9), TTL);
        assert_eq!((stale.generation, stale.refresh), (Some(4), true));
        assert!(!cache.known(&t, at(9), TTL).refresh);
    }

    #[test]
    fn generations_only_move_forward() {
        let cache = Generations::new(100);
        let t = TicketKey::from_bytes([2; 16]);
        cache.record(&t, Some(3), at(0));
        cache.record(&t, Some(1), at(1)); // an older read that finished late
        assert_eq!(cache.known(&t, at(1), TTL).generation, Some(3));
    }

    #[test]
    fn a_failed_read_keeps_what_was_read_and_asks_again() {
        let cache = Generations::new(100);
        // Never read: forgotten, the next request asks again.
        let fresh = TicketKey::from_bytes([3; 16]);
        assert!(cache.known(&fresh, at(0), TTL).refresh);
        cache.record(&fresh, None, at(0));
        assert_eq!(
            cache.known(&fresh, at(1), TTL),
            Known {
                generation: None,
                refresh: true
            }
        );
        // Read before: the stale generation stays, and each later request
        // asks for one more refresh until one lands.
        let t = TicketKey::from_bytes([2; 16]);
        cache.record(&t, Some(3), at(0));
        assert!(cache.known(&t, at(6), TTL).refresh);
        cache.record(&t, None, at(6));
        assert_eq!(
            cache.known(&t, at(7), TTL),
            Known {
                generation: Some(3),
                refresh: true
            }
        );
        assert!(
            !cache.known(&t, at(7), TTL).refresh,
            "one refresh in flight"
        );
        cache.record(&t, Some(4), at(8));
        assert_eq!(
            cache.known(&t, at(8), TTL),
            Known {
                generation: Some(4),
                refresh: false
            }
        );
    }

    /// A generation is used for `max_age` after its read, no longer: past
    /// it the ticket is unknown (read before anything passes), and a read
    /// that lands makes it known again.
    #[test]
    fn a_generation_older_than_its_max_age_is_not_known() {
        let cache = Generations::new(100);
        let t = TicketKey::from_bytes([4; 16]);
        assert_eq!(max_age(TTL), Duration::from_secs(60));
        assert_eq!(max_age(Duration::from_secs(45)), Duration::from_secs(90));
        cache.record(&t, Some(3), at(0));
        let old = cache.known(&t, at(59), TTL);
        assert_eq!((old.generation, old.refresh), (Some(3), true));
        // The refresh failed (the store does not answer): still used, until
        // the max age.
        cache.record(&t, None, at(59));
        assert_eq!(cache.known(&t, at(59), TTL).generation, Some(3));
        let expired = Known {
            generation: None,
            refresh: false,
        };
        assert_eq!(cache.known(&t, at(60), TTL), expired);
        assert_eq!(cache.known(&t, at(600), TTL), expired);
        cache.record(&t, Some(3), at(600));
        assert_eq!(cache.known(&t, at(600), TTL).generation, Some(3));
    }

    /// A failed read changes no generation: it voids no thread's copies.
    #[test]
    fn a_failed_refresh_voids_no_copies() {
        let cache = Generations::new(100);
        let t = TicketKey::from_bytes([5; 16]);
        cache.record(&t, Some(1), at(0));
        let epoch = cache.epoch.load(Ordering::Acquire);
        assert!(cache.known(&t, at(5), TTL).refresh);
        cache.record(&t, None, at(5));
        assert_eq!(cache.epoch.load(Ordering::Acquire), epoch, "copies stay");
        assert!(cache.known(&t, at(5), TTL).refresh, "asked again");
        cache.record(&t, Some(2), at(6));
        assert_ne!(
            cache.epoch.load(Ordering::Acquire),
            epoch,
            "a read voids them"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = Generations::new(64);
        for i in 0..10_000u32 {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            cache.known(&TicketKey::from_bytes(bytes), at(0), TTL);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
    }
}
