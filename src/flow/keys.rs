//! The per-purpose keys the flow derives from the [`Secret`].

use crate::secret::{HmacKey, Secret};
use crate::store::StateFingerprint;
use crate::ticket::TicketKeyer;

/// The per-purpose keys derived from a [`Secret`].
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// Ticket id → [`TicketKey`](crate::TicketKey).
    pub(crate) ticket: TicketKeyer,
    /// Code → stored code hash.
    pub(crate) code: HmacKey,
    /// CSRF tokens.
    pub(crate) csrf: HmacKey,
    /// Address → per-address counter key, and masked log labels.
    pub(crate) address: HmacKey,
    /// What the store keeps to know which secret wrote it.
    pub(crate) state: StateFingerprint,
}

impl Keys {
    pub(crate) fn derive(secret: &Secret) -> Self {
        Self {
            ticket: TicketKeyer::new(HmacKey::new(&secret.derive("ticket"))),
            code: HmacKey::new(&secret.derive("code")),
            csrf: HmacKey::new(&secret.derive("csrf")),
            address: HmacKey::new(&secret.derive("address")),
            state: Self::state_fingerprint(secret),
        }
    }

    /// The fingerprint of `secret` the store's state record keeps.
    pub(crate) fn state_fingerprint(secret: &Secret) -> StateFingerprint {
        let derived = secret.derive("state fingerprint");
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&derived[..16]);
        StateFingerprint::from_bytes(bytes)
    }
}
