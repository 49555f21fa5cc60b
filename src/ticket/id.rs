//! Ticket ids and their keyed hashes.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::HmacKey;

/// The id of a ticket, as taken from the request (for example the `{ticket}`
/// path segment).
///
/// The ticket URL is a bearer secret, so `Debug` does not print the id and
/// tower-otp never logs it: logs and stores see only its [`TicketKey`].
///
/// ```
/// use tower_otp::TicketId;
///
/// let id = TicketId::new("A7x9-Qz");
/// assert_eq!(id.as_str(), "A7x9-Qz");
/// assert_eq!(format!("{id:?}"), "TicketId(REDACTED)");
/// ```
#[derive(Clone)]
pub struct TicketId(Repr);

/// Ids up to this many bytes (a UUID's 36, 256 random bits in base64's 43)
/// are kept inline: the verified path takes one from every request, and an
/// allocation for it showed in the profile.
const INLINE: usize = 46;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Arc<str>),
}

impl TicketId {
    /// Wraps a ticket id.
    pub fn new(id: impl AsRef<str>) -> Self {
        let id = id.as_ref();
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            let len = id.len() as u8;
            Self(Repr::Inline { len, bytes })
        } else {
            Self(Repr::Heap(id.into()))
        }
    }

    /// The raw id.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).expect("copied from a str, whole")
            }
            Repr::Heap(id) => id,
        }
    }

    /// The raw id's bytes (no UTF-8 check, for the hot path).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(id) => id.as_bytes(),
        }
    }
}

impl PartialEq for TicketId {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            // Inline ids are zero past their length, so the whole arrays
            // compare: a fixed-size comparison the compiler does in three
            // loads, with no call (the ticket key cache runs this on every
            // verified request).
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for TicketId {}

// Hashes the bytes, not as `str` does: with `Borrow<str>`, lookups by
// `&str` would need `str`'s hash.
impl Hash for TicketId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketId(REDACTED)")
    }
}

impl From<&str> for TicketId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for TicketId {
    fn from(id: String) -> Self {
        Self::new(id)
    }
}

/// A keyed hash (HMAC-SHA256 under a key derived from the [`Secret`](crate::Secret))
/// of a ticket id: how stores, device tokens and logs name a ticket without
/// holding the id itself.
///
/// Its text form ([`TicketKey::as_str`]) is 22 URL-safe base64 characters
/// (128 bits), safe to use in store keys, cookie names and claims.
/// [`TicketKey::label`] is a shorter form for logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketKey {
    bytes: [u8; 16],
    text: [u8; 22],
}

impl TicketKey {
    pub(crate) fn derive(key: &HmacKey, id: &TicketId) -> Self {
        let full = key.sign(&[id.as_bytes()]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&full[..16]);
        Self::from_bytes(bytes)
    }

    /// A ticket key from its 16 bytes (for stores that keep the bytes).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut text = [0u8; 22];
        URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("16 bytes encode to 22 characters");
        Self { bytes, text }
    }

    /// Parses the 22-character text form.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        if text.len() != 22 {
            return None;
        }
        let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
        (n == 16).then(|| Self::from_bytes(bytes))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// The 22-character URL-safe text form.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("base64 is ASCII")
    }

    /// The text form's bytes (no UTF-8 check, for the hot path).
    pub(crate) fn text_bytes(&self) -> &[u8; 22] {
        &self.text
    }

    /// A short label for logs: the first 8 characters of the text form.
    pub fn label(&self) -> &str {
        &self.as_str()[..8]
    }
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketKey({})", self.label())
    }
}

impl fmt::Display for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ticket ids are 1 to 256 bytes without control characters.
#[inline]
pub(super) fn valid_id(id: &str) -> bool {
    if id.is_empty() || id.len() > 256 {
        return false;
    }
    // Printable ASCII, the common case, in one pass without decoding
    // characters; branch-free, so the compiler vectorizes it.
    let printable = !id
        .bytes()
        .fold(false, |bad, b| bad | !(0x20..0x7f).contains(&b));
    printable || !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn keyed_hash_is_stable_per_secret_and_hides_the_id() {
        let secret = Secret::random();
        let key = HmacKey::new(&secret.derive("ticket"));
        let a = TicketKey::derive(&key, &TicketId::new("abc"));
        assert_eq!(a, TicketKey::derive(&key, &TicketId::new("abc")));
        assert_ne!(a, TicketKey::derive(&key, &TicketId::new("abd")));
        assert!(!a.as_str().contains("abc"));
        assert_eq!(TicketKey::parse(a.as_str()), Some(a));
        assert_eq!(TicketKey::parse("short"), None);
        let other = HmacKey::new(&Secret::random().derive("ticket"));
        assert_ne!(a, TicketKey::derive(&other, &TicketId::new("abc")));
    }

    /// Ids of every length around the inline limit, ASCII and not, read
    /// back whole; equality and hashing follow the id's bytes.
    #[test]
    fn ids_read_back_whatever_their_length() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |id: &TicketId| {
            let mut h = DefaultHasher::new();
            id.hash(&mut h);
            h.finish()
        };
        for len in [0, 1, 22, 36, INLINE - 1, INLINE, INLINE + 1, 200] {
            for unit in ["a", "é", "票"] {
                let text: String = unit.repeat(len.div_ceil(unit.len()));
                let id = TicketId::new(&text);
                assert_eq!(id.as_str(), text);
                assert_eq!(id.as_bytes(), text.as_bytes());
                let same = TicketId::from(text.clone());
                assert_eq!(id, same);
                assert_eq!(hash(&id), hash(&same));
                let mut bytes = DefaultHasher::new();
                text.as_bytes().hash(&mut bytes);
                assert_eq!(hash(&id), bytes.finish());
                assert_eq!(id.clone().as_str(), text);
                let other = TicketId::new(format!("{text}x"));
                assert_ne!(id, other);
            }
        }
        // Equality compares whole inline arrays: the zeros past an id's end
        // never make two ids equal, nor a trailing NUL or one changed byte.
        let pairs = [("a", "a\0", false), ("a\0", "a\0", true), ("", "\0", false)];
        for (a, b, equal) in pairs {
            assert_eq!(TicketId::new(a) == TicketId::new(b), equal, "{a:?} {b:?}");
        }
        for at in 0..INLINE {
            let base = "k".repeat(INLINE);
            let mut changed = base.clone().into_bytes();
            changed[at] = b'l';
            let changed = String::from_utf8(changed).unwrap();
            assert_ne!(TicketId::new(&base), TicketId::new(&changed), "byte {at}");
        }
        assert!(matches!(
            TicketId::new("x".repeat(INLINE)).0,
            Repr::Inline { .. }
        ));
        assert!(matches!(
            TicketId::new("x".repeat(INLINE + 1)).0,
            Repr::Heap(_)
        ));
        assert_eq!(
            format!("{:?}", TicketId::new("secret")),
            "TicketId(REDACTED)"
        );
    }
}
