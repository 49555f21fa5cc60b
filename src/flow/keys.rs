//! The per-purpose keys the flow derives from the [`Secret`].

use crate::secret::{HmacKey, Secret};
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
}

impl Keys {
    pub(crate) fn derive(secret: &Secret) -> Self {
        Self {
            ticket: TicketKeyer::new(HmacKey::new(&secret.derive("ticket"))),
            code: HmacKey::new(&secret.derive("code")),
            csrf: HmacKey::new(&secret.derive("csrf")),
            address: HmacKey::new(&secret.derive("address")),
        }
    }
}
