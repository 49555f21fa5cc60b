//! Tokens this thread has already verified, so a browser's next request
//! with the same cookie skips the base64, the HMAC and the claims.
//!
//! Verification is a pure function of the token settings, the token's bytes,
//! the ticket and the time. An entry keeps what depends only on the first two
//! (the claims of a token that passed every check), under the id of the
//! settings ([`Inner::id`](super::tokens::Inner), new at every change, so a
//! retired key or another issuer never reuses an entry); the ticket and the
//! expiry are checked again on every hit. Only fully verified tokens enter,
//! and a hit needs the same bytes, compared in constant time, so a forged or
//! altered token always takes the full path.

use super::claims::DeviceClaims;
use crate::slot::ThreadSlots;
use crate::ticket::TicketKey;

/// Slots per thread: enough for the browsers one thread serves at once.
const SLOTS: usize = 64;
/// Longer tokens are not kept (ours are under 600 bytes).
const MAX_LEN: usize = 1024;

struct Entry {
    /// The settings' id.
    owner: u64,
    token: Box<[u8]>,
    ticket: TicketKey,
    claims: DeviceClaims,
}

thread_local! {
    static SEEN: ThreadSlots<Entry, SLOTS> = const { ThreadSlots::new() };
}

/// The claims of `token` if this thread verified it for `ticket` under the
/// settings `owner`. The caller still checks the expiry.
pub(super) fn get(owner: u64, token: &[u8], ticket: &TicketKey) -> Option<DeviceClaims> {
    SEEN.with(|seen| {
        seen.read(owner, signature(token), |entry| {
            let same = entry.owner == owner
                && entry.ticket == *ticket
                && constant_time_eq(&entry.token, token);
            same.then_some(entry.claims)
        })
    })
}

/// Remembers a token that passed every check.
pub(super) fn put(owner: u64, token: &[u8], ticket: &TicketKey, claims: DeviceClaims) {
    if token.len() > MAX_LEN {
        return;
    }
    SEEN.with(|seen| {
        seen.write(owner, signature(token), |slot| match slot {
            // Reuse the buffer when the lengths agree (they mostly do).
            Some(entry) if entry.token.len() == token.len() => {
                entry.token.copy_from_slice(token);
                entry.owner = owner;
                entry.ticket = *ticket;
                entry.claims = claims;
            }
            _ => {
                *slot = Some(Entry {
                    owner,
                    token: token.into(),
                    ticket: *ticket,
                    claims,
                });
            }
        })
    })
}

/// What the slot is chosen by: the token's last 16 bytes (the signature's).
fn signature(token: &[u8]) -> &[u8] {
    &token[token.len().saturating_sub(16)..]
}

/// Equal bytes, in time that depends only on the lengths (which are public):
/// no early exit that would tell how much of a cached token a guess matched.
/// One OR-fold (which the compiler vectorizes) and one `black_box` at the
/// end: `subtle`'s slice `ct_eq` puts a barrier on every byte, which costs
/// more than the rest of the verified path together (BENCHMARKS.md).
///
/// From 32 bytes on, the whole 32-byte blocks fold in one loop and the last
/// 32 bytes fold again as a fixed-size block (overlapping the loop's end),
/// so no byte-at-a-time tail runs.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    fn fold(a: &[u8], b: &[u8]) -> u8 {
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))
    }
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let diff = match (a.last_chunk::<32>(), b.last_chunk::<32>()) {
        (Some(a_end), Some(b_end)) => {
            let body = n / 32 * 32;
            fold(&a[..body], &b[..body]) | fold(a_end, b_end)
        }
        _ => fold(a, b),
    };
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::device::DeviceId;

    fn claims(generation: u64) -> DeviceClaims {
        DeviceClaims {
            device_id: DeviceId::from_bytes([5; 16]),
            issued_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(1000),
            generation,
        }
    }

    #[test]
    fn only_the_same_bytes_ticket_and_settings_hit() {
        let ticket = TicketKey::from_bytes([1; 16]);
        let other = TicketKey::from_bytes([2; 16]);
        let token = b"header.payload.signature-0123456789";
        put(7, token, &ticket, claims(3));
        assert_eq!(get(7, token, &ticket), Some(claims(3)));
        assert_eq!(get(8, token, &ticket), None, "other settings");
        assert_eq!(get(7, token, &other), None, "other ticket");
        let mut altered = token.to_vec();
        altered[3] ^= 1;
        assert_eq!(get(7, &altered, &ticket), None, "one bit changed");
        assert_eq!(get(7, &token[..token.len() - 1], &ticket), None);
        // The slot is replaced, not shared.
        put(7, token, &ticket, claims(4));
        assert_eq!(get(7, token, &ticket), Some(claims(4)));
    }

    #[test]
    fn long_tokens_are_not_kept() {
        let ticket = TicketKey::from_bytes([1; 16]);
        let token = vec![b'a'; MAX_LEN + 1];
        put(9, &token, &ticket, claims(0));
        assert_eq!(get(9, &token, &ticket), None);
    }

    #[test]
    fn constant_time_eq_table() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        // Every length around the 16-byte steps, every position of a difference.
        for len in [15, 16, 17, 31, 32, 33, 63, 64, 65, 312, 350] {
            let a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert!(constant_time_eq(&a, &a.clone()));
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!constant_time_eq(&a, &b), "len {len}, at {at}");
            }
        }
    }
}
