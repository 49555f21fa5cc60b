//! The per-thread caches of the verified path ([`ticket::cache`](crate::ticket)
//! keeps ticket keys, the device token cache keeps verified tokens): an array
//! of slots per thread, and where an entry lives in it, by a fast,
//! non-cryptographic hash, eight bytes at a time.
//!
//! Nothing secret depends on the slot. A slot is only where an entry may be:
//! every entry records its owner and what it was made from, and a reader
//! checks both, so a crafted id that shares a slot with another only evicts
//! it, which costs the next request the work the cache saves.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique id for a new owner of cache entries (a set of token
/// settings, a ticket keyer, a generation cache), so that one owner's
/// entries are never taken for another's.
pub(crate) fn new_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `N` cache slots of one thread, each empty or holding an `E`, allocated on
/// first write. A cache is a `thread_local!` of its own entry type, so no
/// lock is taken and nothing is shared between threads:
///
/// ```ignore
/// thread_local! {
///     static CACHE: ThreadSlots<Entry, 64> = const { ThreadSlots::new() };
/// }
/// ```
pub(crate) struct ThreadSlots<E, const N: usize> {
    slots: RefCell<Vec<Option<E>>>,
}

impl<E, const N: usize> ThreadSlots<E, N> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: RefCell::new(Vec::new()),
        }
    }

    /// What `read` finds in the entry of the slot of `key` under `owner`;
    /// `None` when the slot is empty. `read` checks that the entry is the
    /// one it wants.
    pub(crate) fn read<R>(
        &self,
        owner: u64,
        key: &[u8],
        read: impl FnOnce(&E) -> Option<R>,
    ) -> Option<R> {
        let slots = self.slots.borrow();
        read(slots.get(slot(owner, key, N))?.as_ref()?)
    }

    /// Runs `write` on the slot of `key` under `owner`, to fill, replace or
    /// reuse its entry.
    pub(crate) fn write<R>(
        &self,
        owner: u64,
        key: &[u8],
        write: impl FnOnce(&mut Option<E>) -> R,
    ) -> R {
        let mut slots = self.slots.borrow_mut();
        if slots.is_empty() {
            slots.resize_with(N, || None);
        }
        write(&mut slots[slot(owner, key, N)])
    }
}

/// The multiplier of the Fx hash (rustc's): odd, with well-mixed bits.
const K: u64 = 0x517c_c1b7_2722_0a95;

/// The slot of `bytes` under `seed`, in `0..slots`.
fn slot(seed: u64, bytes: &[u8], slots: usize) -> usize {
    let mut hash = seed.wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        // The length tells `a` from `a\0`.
        let word = u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59);
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    // A multiply carries differences only upward: fold the high bits down
    // and mix once more (murmur3's finalizer), so every input bit reaches
    // the bits the modulo keeps.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    (hash as usize) % slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_in_range_and_depend_on_seed_and_bytes() {
        for slots in [1, 64, 256] {
            for len in 0..40 {
                let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
                assert!(slot(7, &bytes, slots) < slots);
            }
        }
        assert_ne!(slot(1, b"ticket-1", 1 << 20), slot(2, b"ticket-1", 1 << 20));
        assert_ne!(slot(1, b"a", 1 << 20), slot(1, b"a\0", 1 << 20));
        // A change in a word's last byte reaches the slot too.
        let base = *b"0123456789abcdef";
        for at in 0..16 {
            let mut other = base;
            other[at] ^= 0x80;
            assert_ne!(slot(5, &base, 1 << 16), slot(5, &other, 1 << 16), "{at}");
        }
    }

    #[test]
    fn an_entry_is_read_from_the_slot_it_was_written_to() {
        let slots: ThreadSlots<(u64, Vec<u8>), 8> = ThreadSlots::new();
        let mine = |owner: u64, key: &'static [u8]| {
            move |entry: &(u64, Vec<u8>)| (entry.0 == owner && entry.1 == key).then_some(())
        };
        assert_eq!(
            slots.read(1, b"a", mine(1, b"a")),
            None,
            "nothing allocated yet"
        );
        slots.write(1, b"a", |slot| *slot = Some((1, b"a".to_vec())));
        assert_eq!(slots.read(1, b"a", mine(1, b"a")), Some(()));
        // Whatever shares the slot, the reader tells its entry from others.
        for owner in 2..20 {
            assert_eq!(slots.read(owner, b"a", mine(owner, b"a")), None);
        }
        // A write replaces the slot's entry: eight slots, so some key shares
        // the first one's slot and evicts it.
        for n in 0..64u8 {
            slots.write(1, &[n], |slot| *slot = Some((1, vec![n])));
        }
        assert_eq!(slots.read(1, b"a", mine(1, b"a")), None, "evicted");
        assert_eq!(
            slots.read(1, &[63], |entry| Some(entry.1.clone())),
            Some(vec![63])
        );
        assert_eq!(slots.slots.borrow().len(), 8);
    }

    /// Sequential ids (`ticket-0` ... `ticket-9999`) spread over the slots:
    /// no slot holds more than three times its share.
    #[test]
    fn sequential_ids_spread() {
        let slots = 256;
        let mut counts = vec![0usize; slots];
        for n in 0..10_000 {
            counts[slot(3, format!("ticket-{n}").as_bytes(), slots)] += 1;
        }
        let share = 10_000 / slots;
        assert!(counts.iter().all(|&c| c <= 3 * share), "{counts:?}");
        assert!(counts.iter().all(|&c| c > 0));
    }
}
