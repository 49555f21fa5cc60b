//! The server secret and the keys derived from it.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The least number of bytes a secret or signing key may have ([`Secret::MIN_BYTES`]).
const MIN_KEY_BYTES: usize = 32;

/// A server secret: at least 32 random bytes, from which tower-otp derives one
/// key per purpose (ticket hashing, code hashing, CSRF tokens, address hashing,
/// and the default device-token signing key).
///
/// Every instance of an application must use the same secret. Changing it
/// forgets every first-device claim, binding and pending code, because stored
/// state is keyed by a keyed hash of the ticket id.
///
/// `Debug` never prints key material.
///
/// ```
/// use tower_otp::Secret;
///
/// let secret = Secret::from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
/// assert_eq!(format!("{secret:?}"), "Secret(REDACTED)");
/// assert!(Secret::from_bytes(b"too short").is_err());
/// # Ok::<(), tower_otp::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: Box<[u8]>,
}

/// Why a secret or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than 32 bytes.
    #[error("key must be at least {MIN_KEY_BYTES} bytes, got {0}")]
    TooShort(usize),
    /// Looks like a passphrase rather than random bytes (printable ASCII, or every byte the same).
    #[error(
        "key looks like a passphrase, not random bytes; generate one with `Secret::random()` or `openssl rand -hex 32`"
    )]
    LowEntropy,
    /// Not valid hexadecimal.
    #[error("key is not valid hex")]
    InvalidHex,
    /// A key id that is empty, longer than 32 bytes or not `[A-Za-z0-9_-]`.
    #[error("key id must be 1-32 characters of [A-Za-z0-9_-]")]
    InvalidKeyId,
    /// A key ring with no key, or whose current key id is not in it.
    #[error("key ring has no current signing key")]
    NoCurrentKey,
    /// The same key id twice in a key ring.
    #[error("duplicate key id in key ring")]
    DuplicateKeyId,
}

impl Secret {
    /// The least number of bytes a secret or signing key may have (256
    /// bits, RFC 7518 §3.2).
    ///
    /// ```
    /// use tower_otp::Secret;
    ///
    /// let random: Vec<u8> = (0..Secret::MIN_BYTES).map(|_| rand::random()).collect();
    /// assert!(Secret::from_bytes(&random[1..]).is_err());
    /// assert!(Secret::from_bytes(&random).is_ok());
    /// ```
    pub const MIN_BYTES: usize = MIN_KEY_BYTES;

    /// A secret from raw bytes.
    ///
    /// # Errors
    /// [`KeyError::TooShort`] below 32 bytes; [`KeyError::LowEntropy`] for
    /// printable-ASCII input under 43 bytes or a single repeated byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        check_key_material(bytes)?;
        Ok(Self {
            bytes: bytes.into(),
        })
    }

    /// A secret from a hex string (64 or more hex digits).
    ///
    /// # Errors
    /// [`KeyError::InvalidHex`] or the errors of [`Secret::from_bytes`].
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&decode_hex(hex.trim())?)
    }

    /// The secret as lower-case hex, two digits a byte: what
    /// [`Secret::from_hex`] reads back. For keeping a generated secret, e.g.
    /// in a file only the service's user can read (mode `0600`).
    ///
    /// The string *is* the secret: whoever reads it can forge device tokens
    /// and match stored state to tickets. Keep it as a password is kept:
    /// never log it, print it or put it in an error message (`Debug` on
    /// [`Secret`] stays redacted; this is the only way out).
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, TicketId};
    ///
    /// let secret = Secret::random();
    /// let kept = secret.to_hex(); // e.g. written to a 0600 file, read at the next start
    /// let restored = Secret::from_hex(&kept)?;
    ///
    /// // The same secret: both flows name a ticket by the same key.
    /// let before = Flow::new(&secret, MemoryStore::new(), CapturingMailer::new());
    /// let after = Flow::new(&restored, MemoryStore::new(), CapturingMailer::new());
    /// let ticket = TicketId::new("A7x9Qz");
    /// assert_eq!(before.ticket_key(&ticket), after.ticket_key(&ticket));
    /// assert_eq!(kept.len(), 64);
    /// assert_eq!(format!("{restored:?}"), "Secret(REDACTED)");
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.bytes.len() * 2);
        for byte in &self.bytes {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// A fresh random 32-byte secret from the operating system's CSPRNG.
    ///
    /// Fine for a single process in development; in production every instance
    /// needs the same secret, so load it from configuration.
    pub fn random() -> Self {
        let mut bytes = [0u8; MIN_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            bytes: bytes.into(),
        }
    }

    /// Derives the 32-byte key for one purpose.
    pub(crate) fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        mac.update(b"tower-otp/v1/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

/// Checks that key material is long enough and not obviously a passphrase.
pub(crate) fn check_key_material(bytes: &[u8]) -> Result<(), KeyError> {
    if bytes.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort(bytes.len()));
    }
    let printable = bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    let repeated = bytes.iter().all(|b| *b == bytes[0]);
    if (printable && bytes.len() < 43) || repeated {
        return Err(KeyError::LowEntropy);
    }
    Ok(())
}

pub(crate) fn decode_hex(hex: &str) -> Result<Vec<u8>, KeyError> {
    if !hex.len().is_multiple_of(2) {
        return Err(KeyError::InvalidHex);
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| KeyError::InvalidHex)?;
            u8::from_str_radix(s, 16).map_err(|_| KeyError::InvalidHex)
        })
        .collect()
}

/// A pre-keyed HMAC-SHA256: keying happens once, each use clones the state.
#[derive(Clone)]
pub(crate) struct HmacKey {
    mac: Hmac<Sha256>,
}

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"),
        }
    }

    /// HMAC over the parts, each prefixed with its length so parts cannot run together.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(REDACTED)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_rules() {
        let cases: &[(&[u8], Result<(), KeyError>)] = &[
            (b"short", Err(KeyError::TooShort(5))),
            (&[7u8; 32], Err(KeyError::LowEntropy)),
            (
                b"correct horse battery staple okay",
                Err(KeyError::LowEntropy),
            ),
            (
                &[
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a,
                    0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
                ],
                Ok(()),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(&check_key_material(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn hex_and_debug() {
        assert_eq!(Secret::from_hex("zz").unwrap_err(), KeyError::InvalidHex);
        assert_eq!(Secret::from_hex("abc").unwrap_err(), KeyError::InvalidHex);
        let s = Secret::random();
        assert_eq!(format!("{s:?}"), "Secret(REDACTED)");
    }

    #[test]
    fn to_hex_is_the_inverse_of_from_hex() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(Secret::from_hex(hex).unwrap().to_hex(), hex);
        // Upper-case input comes back lower-case, and means the same secret.
        let upper = Secret::from_hex(&hex.to_uppercase()).unwrap();
        assert_eq!(upper.to_hex(), hex);
        for _ in 0..16 {
            let s = Secret::random();
            let back = Secret::from_hex(&s.to_hex()).unwrap();
            assert_eq!(back.bytes, s.bytes);
            assert_eq!(back.derive("ticket"), s.derive("ticket"));
            assert_eq!(format!("{back:?}"), "Secret(REDACTED)");
        }
        // Longer secrets round-trip too.
        let long = Secret::from_bytes(&(0u8..48).collect::<Vec<_>>()).unwrap();
        assert_eq!(Secret::from_hex(&long.to_hex()).unwrap().bytes, long.bytes);
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_parts_do_not_run_together() {
        let s = Secret::random();
        assert_ne!(s.derive("ticket"), s.derive("code"));
        let k = HmacKey::new(&s.derive("ticket"));
        assert_ne!(k.sign(&[b"ab", b"c"]), k.sign(&[b"a", b"bc"]));
    }
}
