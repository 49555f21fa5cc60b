//! The record a store keeps about itself: which key wrote its state, and
//! whether first devices are held (challenged like any other device).
//!
//! Ticket keys, code hashes and address counters are keyed hashes under the
//! flow's [`Secret`](crate::Secret): a process with another secret finds none
//! of them, and would take every bound ticket for a new one. The record's
//! fingerprint lets it notice and refuse instead.

/// A keyed fingerprint of the secret that wrote a store's state: 16 bytes
/// of an HMAC under a key derived from the secret, so it tells nothing of
/// the secret itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateFingerprint([u8; 16]);

impl StateFingerprint {
    /// From its bytes, as a store keeps them.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Its bytes, for a store to keep.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lower-case hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// From [`to_hex`](Self::to_hex)'s form; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl std::fmt::Debug for StateFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix tells two apart in a log; the whole is no secret either.
        write!(f, "StateFingerprint({}…)", &self.to_hex()[..8])
    }
}

/// What a store keeps about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRecord {
    /// The secret that wrote the state.
    pub fingerprint: StateFingerprint,
    /// First devices are held: every device verifies by code, the first
    /// included, until an operator trusts first devices again (after the
    /// store lost state, a restore, or a change of secret).
    pub first_devices_held: bool,
}

/// How [`Store::state`](crate::store::Store::state) changes the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    /// Writes this record only when the store has none (a new store, or
    /// one that lost it); otherwise changes nothing.
    Init(StateRecord),
    /// Writes this record whatever the store has.
    Replace(StateRecord),
}

/// What [`Store::state`](crate::store::Store::state) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRead {
    /// The record the store holds after the call.
    pub record: StateRecord,
    /// This call wrote it (`Replace` always; `Init` when there was none).
    pub written: bool,
    /// The store's own clock at the call, for a store that several
    /// machines share and that has one (PostgreSQL, Redis); `None` for a
    /// store on the process's own machine. The flow compares it with its
    /// own clock: expiry, cooldowns and lockouts must not depend on which
    /// instance answers.
    pub store_time: Option<crate::clock::Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_the_rest() {
        let fingerprint = StateFingerprint::from_bytes(*b"0123456789abcdef");
        let hex = fingerprint.to_hex();
        assert_eq!(hex.len(), 32);
        assert_eq!(StateFingerprint::from_hex(&hex), Some(fingerprint));
        for bad in [
            "",
            "00",
            &hex[..31],
            &format!("{hex}0"),
            &hex.replace('3', "g"),
        ] {
            assert_eq!(StateFingerprint::from_hex(bad), None, "{bad}");
        }
        assert!(!format!("{fingerprint:?}").contains(&hex));
    }
}
