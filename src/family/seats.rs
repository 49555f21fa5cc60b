//! Whether a family's seat was handed over, as this instance last read it.
//!
//! The gate asks on every request that names a member of a family: a seat
//! handed over is gated as a ticket of its own, the others as the family.
//! A reading is used for the layer's revocation TTL, then read again before
//! the next request on that seat is decided: a hand-off made on another
//! instance is seen within that bound, as a revocation is. A hand-off or a
//! cancellation made on this instance is recorded at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::ticket::TicketKey;

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Entry {
    handed: bool,
    read_at: Timestamp,
}

/// Seat → handed over or not, sharded, bounded.
#[derive(Debug)]
pub(crate) struct Seats {
    shards: [Mutex<HashMap<TicketKey, Entry>>; SHARDS],
    per_shard: usize,
}

impl Seats {
    /// A cache of at most `capacity` seats.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, seat: &TicketKey) -> std::sync::MutexGuard<'_, HashMap<TicketKey, Entry>> {
        let index = usize::from(seat.as_bytes()[0]) % SHARDS;
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `seat` was handed over, when read less than `ttl` before `now`.
    pub(crate) fn known(&self, seat: &TicketKey, now: Timestamp, ttl: Duration) -> Option<bool> {
        let shard = self.shard(seat);
        let entry = shard.get(seat)?;
        (now.saturating_since(entry.read_at) < ttl).then_some(entry.handed)
    }

    /// Records what was read (or done) at `now`.
    pub(crate) fn record(&self, seat: &TicketKey, handed: bool, now: Timestamp) {
        let mut shard = self.shard(seat);
        if shard.len() >= self.per_shard && !shard.contains_key(seat) {
            // Bounded: drop any one entry (it is read again when needed).
            if let Some(old) = shard.keys().next().copied() {
                shard.remove(&old);
            }
        }
        shard.insert(
            *seat,
            Entry {
                handed,
                read_at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_lasts_its_ttl_and_the_cache_stays_bounded() {
        let seats = Seats::new(32);
        let ttl = Duration::from_secs(5);
        let t0 = Timestamp::from_millis(1_000_000);
        let seat = TicketKey::from_bytes([7; 16]);
        assert_eq!(seats.known(&seat, t0, ttl), None);
        seats.record(&seat, true, t0);
        assert_eq!(
            seats.known(&seat, t0 + Duration::from_millis(4_999), ttl),
            Some(true)
        );
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), None);
        seats.record(&seat, false, t0 + ttl);
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), Some(false));
        // A zero TTL (revocation on every request) never answers from memory.
        assert_eq!(seats.known(&seat, t0 + ttl, Duration::ZERO), None);
        for i in 0..=255u8 {
            for j in 0..4u8 {
                let mut bytes = [0; 16];
                bytes[0] = i;
                bytes[1] = j;
                seats.record(&TicketKey::from_bytes(bytes), false, t0);
            }
        }
        let held: usize = seats.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 32, "{held}");
    }
}
