//! Where each record lives: the key layout.
//!
//! Every key of a ticket carries the ticket's key text as its hash tag
//! (`{...}`), so one script can touch all of them on Redis Cluster; an
//! address's send counter has a hash tag of its own.

use crate::code::CodeHash;
use crate::error::ConfigError;
use crate::store::AddressKey;
use crate::ticket::TicketKey;

/// The default key prefix.
pub(super) const DEFAULT_PREFIX: &str = "otp";

/// The longest prefix allowed.
const MAX_PREFIX_BYTES: usize = 64;

/// Builds the keys under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: std::sync::Arc<str>,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
        }
    }
}

impl Keys {
    /// Keys under `prefix`: 1 to 64 printable ASCII characters, without
    /// braces (a brace would move the hash tag) or spaces.
    pub(super) fn new(prefix: &str) -> Result<Self, ConfigError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_BYTES
            && prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
        if !ok {
            return Err(ConfigError::OutOfRange {
                setting: "redis key prefix",
                range: "1 to 64 printable ASCII characters without braces",
            });
        }
        Ok(Self {
            prefix: prefix.into(),
        })
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The long-lived record (a hash, no TTL): claimed, bound, gen, fails.
    pub(super) fn record(&self, ticket: &TicketKey) -> String {
        format!("{}:{{{}}}:rec", self.prefix, ticket.as_str())
    }

    /// The pending challenge (a string with a TTL).
    pub(super) fn challenge(&self, ticket: &TicketKey) -> String {
        format!("{}:{{{}}}:chal", self.prefix, ticket.as_str())
    }

    /// What undoes one split issue (a string with a short TTL).
    pub(super) fn undo(&self, ticket: &TicketKey, code: &CodeHash) -> String {
        format!(
            "{}:{{{}}}:undo:{}",
            self.prefix,
            ticket.as_str(),
            &hex(code.as_bytes())[..16]
        )
    }

    /// The store's record of itself (a string, no TTL).
    pub(super) fn state(&self) -> String {
        format!("{}:state", self.prefix)
    }

    /// An address's send times (a string with a TTL), in its own slot.
    pub(super) fn address(&self, address: &AddressKey) -> String {
        format!("{}:addr:{{{}}}", self.prefix, hex(address.as_bytes()))
    }
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Parses lower-case hex into exactly `N` bytes.
pub(super) fn unhex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Redis Cluster hash tag of a key: what lies between the first `{`
    /// and the next `}`, when that is not empty.
    fn hash_tag(key: &str) -> &str {
        let Some(open) = key.find('{') else {
            return key;
        };
        match key[open + 1..].find('}') {
            Some(0) | None => key,
            Some(len) => &key[open + 1..open + 1 + len],
        }
    }

    #[test]
    fn every_key_of_a_ticket_shares_its_slot() {
        let keys = Keys::new("app:otp").unwrap();
        let ticket = TicketKey::from_bytes([7; 16]);
        let code = CodeHash::from_bytes([9; 32]);
        let tag = ticket.as_str();
        assert_eq!(hash_tag(&keys.record(&ticket)), tag);
        assert_eq!(hash_tag(&keys.challenge(&ticket)), tag);
        assert_eq!(hash_tag(&keys.undo(&ticket, &code)), tag);
        assert_eq!(
            keys.record(&ticket),
            format!("app:otp:{{{tag}}}:rec"),
            "the documented layout"
        );
        let address = AddressKey::from_bytes([0xab; 16]);
        assert_eq!(hash_tag(&keys.address(&address)), "ab".repeat(16));
    }

    #[test]
    fn prefixes_that_would_move_the_hash_tag_are_refused() {
        for bad in ["", "a{b", "a}b", "with space", "é", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Keys::new("tenant-1:otp").unwrap().prefix(), "tenant-1:otp");
        assert_eq!(Keys::default().prefix(), "otp");
    }

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let text = hex(&bytes);
        assert_eq!(text.len(), 64);
        assert_eq!(unhex::<32>(text.as_bytes()), Some(bytes));
        assert_eq!(unhex::<2>(b"0g00"), None);
        assert_eq!(unhex::<2>(b"000"), None);
    }
}
