//! Whether a family's seat was handed over, as this instance last read it.
//!
//! The gate asks on every request that names a member of a family: a seat
//! handed over is gated as a ticket of its own, the others as the family.
//! A reading is trusted as a revocation generation is: for the layer's
//! revocation TTL, then used while it is read again in the background, up
//! to [`max_age`] (twice the TTL, at least a minute: what rides out a
//! store's restart); older, the seat is read before the request is decided.
//! A hand-off made on another instance is thus seen within the TTL plus one
//! read, as a revocation is. A hand-off or a cancellation made on this
//! instance is recorded at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::generations::max_age;
use crate::clock::Timestamp;
use crate::ticket::TicketKey;

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Entry {
    handed: bool,
    read_at: Timestamp,
    refreshing: bool,
}

/// What the cache knows of a seat right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The seat was handed over.
    pub(crate) handed: bool,
    /// The caller should read it again, in the background.
    pub(crate) refresh: bool,
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

    /// Whether `seat` was handed over, as read less than [`max_age`] of
    /// `ttl` before `now` (none under a zero TTL: every request reads); a
    /// reading older than `ttl` asks for one refresh.
    pub(crate) fn known(&self, seat: &TicketKey, now: Timestamp, ttl: Duration) -> Option<Reading> {
        if ttl.is_zero() {
            return None;
        }
        let mut shard = self.shard(seat);
        let entry = shard.get_mut(seat)?;
        let age = now.saturating_since(entry.read_at);
        if age >= max_age(ttl) {
            return None;
        }
        let refresh = age >= ttl && !entry.refreshing;
        entry.refreshing |= refresh;
        Some(Reading {
            handed: entry.handed,
            refresh,
        })
    }

    /// A refresh that failed: the next stale request asks again.
    pub(crate) fn refresh_failed(&self, seat: &TicketKey) {
        if let Some(entry) = self.shard(seat).get_mut(seat) {
            entry.refreshing = false;
        }
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
                refreshing: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_fresh_for_its_ttl_then_refreshed_then_void() {
        let seats = Seats::new(32);
        let ttl = Duration::from_secs(5);
        let t0 = Timestamp::from_millis(1_000_000);
        let seat = TicketKey::from_bytes([7; 16]);
        let fresh = |handed| {
            Some(Reading {
                handed,
                refresh: false,
            })
        };
        let stale = Some(Reading {
            handed: true,
            refresh: true,
        });
        assert_eq!(seats.known(&seat, t0, ttl), None);
        seats.record(&seat, true, t0);
        let almost = t0 + Duration::from_millis(4_999);
        assert_eq!(seats.known(&seat, almost, ttl), fresh(true));
        // Stale: one caller refreshes, the others go on with it.
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), stale);
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), fresh(true));
        seats.refresh_failed(&seat);
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), stale);
        // Past the maximum age (a minute at a 5 s TTL): read before use.
        let minute = t0 + Duration::from_secs(60);
        assert_eq!(seats.known(&seat, minute, ttl), None);
        seats.record(&seat, false, t0 + ttl);
        assert_eq!(seats.known(&seat, t0 + ttl, ttl), fresh(false));
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
