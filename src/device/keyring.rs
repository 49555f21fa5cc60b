//! Signing keys for device tokens, named by `kid` so they can rotate.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Sha256;

use crate::secret::{HmacKey, KeyError, Secret, check_key_material, decode_hex};

/// The `typ` header of every device token (RFC 8725 §3.11: explicit typing).
pub(crate) const TOKEN_TYPE: &str = "device+jwt";

/// The longest key id.
const MAX_KID_LEN: usize = 32;

/// One HMAC-SHA256 signing key for device tokens, with its key id (`kid`).
///
/// The key id is 1-32 characters of `[A-Za-z0-9_-]`; it goes into every token
/// header so that a [`KeyRing`] can tell which key signed a token. The key is at
/// least 32 random bytes (RFC 7518 §3.2), never a passphrase.
///
/// `Debug` shows the key id and never the key.
///
/// ```
/// use tower_otp::DeviceKey;
///
/// let key = DeviceKey::from_hex("2024-06", "5f0c9a1e7b3d4c2a8e6f10b2d4c6e8fa1b3d5f7092a4c6e8f0b1d3f5a7c9e0b2")?;
/// assert_eq!(key.kid(), "2024-06");
/// assert_eq!(format!("{key:?}"), r#"DeviceKey { kid: "2024-06", key: "REDACTED" }"#);
/// assert!(DeviceKey::new("../etc", &[0x5a; 16]).is_err());
/// # Ok::<(), tower_otp::KeyError>(())
/// ```
#[derive(Clone)]
pub struct DeviceKey {
    kid: String,
    bytes: Box<[u8]>,
}

impl DeviceKey {
    /// A key from raw bytes.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyError};
    ///
    /// let bytes: Vec<u8> = (1..=32).collect();
    /// assert_eq!(DeviceKey::new("k1", &bytes)?.kid(), "k1");
    /// assert_eq!(DeviceKey::new("k1", &bytes[..16]).unwrap_err(), KeyError::TooShort(16));
    /// assert_eq!(DeviceKey::new("", &bytes).unwrap_err(), KeyError::InvalidKeyId);
    /// # Ok::<(), KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::InvalidKeyId`] for a bad key id, and the errors of
    /// [`Secret::from_bytes`] for short or passphrase-like bytes.
    pub fn new(kid: impl Into<String>, bytes: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        check_key_material(bytes)?;
        Ok(Self {
            kid,
            bytes: bytes.into(),
        })
    }

    /// A key from a hex string (64 or more hex digits), for example the
    /// output of `openssl rand -hex 32`.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyError};
    ///
    /// assert!(DeviceKey::from_hex("k1", "not hex").is_err());
    /// let key = DeviceKey::from_hex("k1", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
    /// # Ok::<(), KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::InvalidHex`] and the errors of [`DeviceKey::new`].
    pub fn from_hex(kid: impl Into<String>, hex: &str) -> Result<Self, KeyError> {
        Self::new(kid, &decode_hex(hex.trim())?)
    }

    /// The key derived from the server [`Secret`] (purpose `"device"`), with a
    /// key id derived from the key (`d` and 8 hex digits), so every instance
    /// that shares the secret signs and verifies alike.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, Secret};
    ///
    /// let secret = Secret::random();
    /// let a = DeviceKey::derived(&secret);
    /// assert_eq!(a.kid(), DeviceKey::derived(&secret.clone()).kid());
    /// assert_eq!(a.kid().len(), 9);
    /// ```
    pub fn derived(secret: &Secret) -> Self {
        let bytes = secret.derive("device");
        let tag = HmacKey::new(&bytes).sign(&[b"tower-otp/device/kid"]);
        let mut kid = String::with_capacity(9);
        kid.push('d');
        for b in &tag[..4] {
            kid.push_str(&format!("{b:02x}"));
        }
        // HMAC output is uniformly random: no need for the passphrase check.
        Self {
            kid,
            bytes: bytes.into(),
        }
    }

    /// The key id.
    ///
    /// ```
    /// use tower_otp::DeviceKey;
    ///
    /// let key = DeviceKey::from_hex("2025-01", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
    /// assert_eq!(key.kid(), "2025-01");
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("kid", &self.kid)
            .field("key", &"REDACTED")
            .finish()
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKeyId)
    }
}

/// A key ready for use: the exact header segment our tokens carry for it, and
/// pre-keyed MAC states (keying happens once, each use clones the state).
#[derive(Clone)]
pub(crate) struct PreparedKey {
    pub(crate) kid: String,
    /// Base64url of the header JSON, byte-equal to what [`jsonwebtoken::encode`] writes.
    pub(crate) header_segment: Box<str>,
    pub(crate) mac: Hmac<Sha256>,
}

impl PreparedKey {
    fn new(key: &DeviceKey) -> Self {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes).expect("HMAC takes any key");
        Self {
            kid: key.kid.clone(),
            header_segment: header_segment(&key.kid).into(),
            mac,
        }
    }
}

/// The JWS header every device token carries for `kid`.
pub(crate) fn token_header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(kid.to_owned());
    header
}

/// Encodes the header exactly as `jsonwebtoken::encode` does (JSON, then
/// unpadded base64url), so the verifier can find the key by a byte comparison.
fn header_segment(kid: &str) -> String {
    let json = serde_json::to_vec(&token_header(kid)).expect("a header serializes");
    URL_SAFE_NO_PAD.encode(json)
}

/// The device-token keys: one current key that signs, and older keys that are
/// still accepted when verifying, so keys rotate without logging devices out.
///
/// To rotate, make the new key current and keep the old one as previous for
/// at least the token lifetime (30 days by default); then drop it. A token
/// whose `kid` is not in the ring is rejected without any lookup.
///
/// `Debug` shows only the key ids.
///
/// ```
/// use tower_otp::{DeviceKey, KeyRing};
///
/// let old = DeviceKey::from_hex("k1", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
/// let new = DeviceKey::from_hex("k2", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")?;
/// let ring = KeyRing::new(new).with_previous(old)?;
/// assert_eq!(ring.current_kid(), "k2");
/// assert_eq!(format!("{ring:?}"), r#"KeyRing { current: "k2", previous: ["k1"] }"#);
/// # Ok::<(), tower_otp::KeyError>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    /// The current signing key.
    pub(crate) encoding: EncodingKey,
    /// Every key, current first.
    pub(crate) keys: Vec<PreparedKey>,
}

impl KeyRing {
    /// A ring with one key, which signs.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyRing};
    ///
    /// let key = DeviceKey::from_hex("k1", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
    /// assert_eq!(KeyRing::new(key).current_kid(), "k1");
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    pub fn new(current: DeviceKey) -> Self {
        Self {
            encoding: EncodingKey::from_secret(&current.bytes),
            keys: vec![PreparedKey::new(&current)],
        }
    }

    /// A ring with the single key derived from the server secret
    /// ([`DeviceKey::derived`]). The default.
    ///
    /// ```
    /// use tower_otp::{KeyRing, Secret};
    ///
    /// let secret = Secret::random();
    /// assert_eq!(KeyRing::derived(&secret).current_kid(), KeyRing::derived(&secret).current_kid());
    /// ```
    pub fn derived(secret: &Secret) -> Self {
        Self::new(DeviceKey::derived(secret))
    }

    /// Adds a key that is accepted for verification but never signs.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyError, KeyRing};
    ///
    /// let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    /// let ring = KeyRing::new(DeviceKey::from_hex("k2", hex)?);
    /// let ring = ring.with_previous(DeviceKey::from_hex("k1", hex)?)?;
    /// assert_eq!(ring.current_kid(), "k2");
    /// assert_eq!(
    ///     ring.with_previous(DeviceKey::from_hex("k1", hex)?).unwrap_err(),
    ///     KeyError::DuplicateKeyId
    /// );
    /// # Ok::<(), KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::DuplicateKeyId`] if the ring already has that key id.
    pub fn with_previous(mut self, key: DeviceKey) -> Result<Self, KeyError> {
        if self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(KeyError::DuplicateKeyId);
        }
        self.keys.push(PreparedKey::new(&key));
        Ok(self)
    }

    /// A ring from a list of keys (for example read from configuration) and
    /// the id of the one that signs.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyError, KeyRing};
    ///
    /// let k1 = DeviceKey::from_hex("k1", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")?;
    /// let k2 = DeviceKey::from_hex("k2", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")?;
    /// let ring = KeyRing::from_keys("k2", [k1.clone(), k2])?;
    /// assert_eq!(ring.kids().collect::<Vec<_>>(), ["k2", "k1"]);
    /// assert_eq!(KeyRing::from_keys("k3", [k1]).unwrap_err(), KeyError::NoCurrentKey);
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::NoCurrentKey`] if no key has id `current`;
    /// [`KeyError::DuplicateKeyId`] if two keys share an id.
    pub fn from_keys(
        current: &str,
        keys: impl IntoIterator<Item = DeviceKey>,
    ) -> Result<Self, KeyError> {
        let mut keys: Vec<DeviceKey> = keys.into_iter().collect();
        let at = keys
            .iter()
            .position(|k| k.kid == current)
            .ok_or(KeyError::NoCurrentKey)?;
        let mut ring = Self::new(keys.remove(at));
        for key in keys {
            ring = ring.with_previous(key)?;
        }
        Ok(ring)
    }

    /// The id of the signing key.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyRing, Secret};
    ///
    /// let secret = Secret::random();
    /// assert_eq!(KeyRing::derived(&secret).current_kid(), DeviceKey::derived(&secret).kid());
    /// ```
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Every key id, the current one first.
    ///
    /// ```
    /// use tower_otp::{DeviceKey, KeyRing};
    ///
    /// let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    /// let ring = KeyRing::new(DeviceKey::from_hex("b", hex)?).with_previous(DeviceKey::from_hex("a", hex)?)?;
    /// assert_eq!(ring.kids().collect::<Vec<_>>(), ["b", "a"]);
    /// # Ok::<(), tower_otp::KeyError>(())
    /// ```
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// The key whose header segment is exactly `segment`.
    pub(crate) fn by_header_segment(&self, segment: &[u8]) -> Option<&PreparedKey> {
        self.keys
            .iter()
            .find(|k| k.header_segment.as_bytes() == segment)
    }

    pub(crate) fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.kids().skip(1).collect();
        f.debug_struct("KeyRing")
            .field("current", &self.current_kid())
            .field("previous", &previous)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "5f0c9a1e7b3d4c2a8e6f10b2d4c6e8fa1b3d5f7092a4c6e8f0b1d3f5a7c9e0b2";

    #[test]
    fn key_ids() {
        let long = "a".repeat(33);
        let cases: &[(&str, bool)] = &[
            ("k1", true),
            ("A-z_09", true),
            (&long[..32], true),
            ("", false),
            (&long, false),
            ("../../etc/passwd", false),
            ("k 1", false),
            ("k\u{e9}", false),
            ("k.1", false),
        ];
        for (kid, ok) in cases {
            assert_eq!(DeviceKey::from_hex(*kid, HEX).is_ok(), *ok, "{kid:?}");
        }
    }

    #[test]
    fn key_material_is_checked_and_never_printed() {
        assert_eq!(
            DeviceKey::new("k", b"short").unwrap_err(),
            KeyError::TooShort(5)
        );
        assert_eq!(
            DeviceKey::new("k", b"correct horse battery staple okay").unwrap_err(),
            KeyError::LowEntropy
        );
        let key = DeviceKey::from_hex("k", HEX).unwrap();
        let ring = KeyRing::new(key.clone());
        for shown in [format!("{key:?}"), format!("{ring:?}")] {
            assert!(!shown.to_lowercase().contains("5f0c"), "{shown}");
            assert!(!shown.contains("95, 12"), "{shown}");
        }
    }

    #[test]
    fn ring_rules() {
        let k = |kid: &str| DeviceKey::from_hex(kid, HEX).unwrap();
        assert_eq!(
            KeyRing::new(k("a")).with_previous(k("a")).unwrap_err(),
            KeyError::DuplicateKeyId
        );
        assert_eq!(
            KeyRing::from_keys("a", [k("a"), k("b"), k("b")]).unwrap_err(),
            KeyError::DuplicateKeyId
        );
        assert_eq!(
            KeyRing::from_keys("a", []).unwrap_err(),
            KeyError::NoCurrentKey
        );
        let ring = KeyRing::from_keys("b", [k("a"), k("b"), k("c")]).unwrap();
        assert_eq!(ring.kids().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert!(ring.contains_kid("c") && !ring.contains_kid("d"));
    }

    #[test]
    fn derived_key_is_stable_per_secret() {
        let secret = Secret::random();
        let a = DeviceKey::derived(&secret);
        let b = DeviceKey::derived(&secret);
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.bytes, b.bytes);
        assert!(a.kid().starts_with('d') && a.kid().len() == 9);
        assert!(check_kid(a.kid()).is_ok());
        let other = DeviceKey::derived(&Secret::random());
        assert_ne!(a.bytes, other.bytes);
        // The derived key is not the secret's other keys.
        assert_ne!(&*a.bytes, &secret.derive("ticket")[..]);
    }

    #[test]
    fn header_segment_is_what_jsonwebtoken_writes() {
        let key = DeviceKey::from_hex("k1", HEX).unwrap();
        let token = jsonwebtoken::encode(
            &token_header("k1"),
            &serde_json::json!({}),
            &EncodingKey::from_secret(&key.bytes),
        )
        .unwrap();
        let ring = KeyRing::new(key);
        let segment = token.split('.').next().unwrap();
        assert_eq!(&*ring.keys[0].header_segment, segment);
        let json = URL_SAFE_NO_PAD.decode(segment).unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"typ":"device+jwt","alg":"HS256","kid":"k1"}"#
        );
    }
}
