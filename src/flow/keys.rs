//! The per-purpose keys the flow derives from the [`Secret`], and the keys
//! of the counters a send or a claim is counted under.

use std::net::IpAddr;

use super::client::client_network;
use crate::email::EmailAddress;
use crate::secret::{HmacKey, Secret};
use crate::store::{AddressKey, CounterKeys, StateFingerprint};
use crate::ticket::TicketKeyer;

/// The per-purpose keys derived from a [`Secret`].
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// Ticket id → [`TicketKey`](crate::ticket::TicketKey).
    pub(crate) ticket: TicketKeyer,
    /// Code → stored code hash.
    pub(crate) code: HmacKey,
    /// CSRF tokens.
    pub(crate) csrf: HmacKey,
    /// Address → per-address counter key, and masked log labels.
    pub(crate) address: HmacKey,
    /// What the store keeps to know which secret wrote it.
    pub(crate) state: StateFingerprint,
    /// Ticket key → the keys of records the flow keeps beside a ticket (a
    /// transfer's confirmation, its count): no ticket id derives them.
    pub(crate) beside: HmacKey,
}

impl Keys {
    pub(crate) fn derive(secret: &Secret) -> Self {
        Self {
            ticket: TicketKeyer::new(HmacKey::new(&secret.derive("ticket"))),
            code: HmacKey::new(&secret.derive("code")),
            csrf: HmacKey::new(&secret.derive("csrf")),
            address: HmacKey::new(&secret.derive("address")),
            state: Self::state_fingerprint(secret),
            beside: HmacKey::new(&secret.derive("records beside a ticket")),
        }
    }

    /// The key of the record kept beside `ticket` for `purpose`: a ticket
    /// key no request can name (none is derived from an id under this key).
    pub(crate) fn beside(
        &self,
        ticket: &crate::ticket::TicketKey,
        purpose: &[u8],
    ) -> crate::ticket::TicketKey {
        let full = self.beside.sign(&[purpose, ticket.as_bytes()]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&full[..16]);
        crate::ticket::TicketKey::from_bytes(bytes)
    }

    /// The fingerprint of `secret` the store's state record keeps.
    pub(crate) fn state_fingerprint(secret: &Secret) -> StateFingerprint {
        let derived = secret.derive("state fingerprint");
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&derived[..16]);
        StateFingerprint::from_bytes(bytes)
    }

    /// The key of one of `ip`'s client counters (by its IPv4 address, or its
    /// IPv6 /64): `purpose` keeps its sends and its claims apart.
    pub(super) fn client_key(&self, purpose: &[u8], ip: IpAddr) -> AddressKey {
        let (network, len) = client_network(ip);
        let full = self.address.sign(&[purpose, &network[..len]]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&full[..16]);
        AddressKey::from_bytes(bytes)
    }

    /// The keys of the send counters for `address` asked for by `client`:
    /// its normalised mailbox ([`EmailAddress::mailbox`]) for strangers and
    /// for its owner, its domain (unless the provider's spellings are all
    /// known), the site, and the client's network, each under its own label.
    pub(super) fn counter_keys(
        &self,
        address: &EmailAddress,
        client: Option<IpAddr>,
    ) -> CounterKeys {
        let key = |parts: &[&[u8]]| {
            let full = self.address.sign(parts);
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&full[..16]);
            AddressKey::from_bytes(bytes)
        };
        let mailbox = address.mailbox();
        let keys = CounterKeys::new(
            key(&[b"mailbox", mailbox.as_bytes()]),
            key(&[b"owner", mailbox.as_bytes()]),
            key(&[b"domain", address.mailbox_domain().as_bytes()]),
            key(&[b"site"]),
        )
        .with_client(client.map(|ip| self.client_key(b"client sends", ip)));
        if address.spellings_known() {
            keys.without_domain()
        } else {
            keys
        }
    }
}
