//! Verifying device tokens: the hot path, in one pass without allocation.
//!
//! We only ever accept tokens we issued, so the verifier need not be a general
//! JWS parser: the header segment must be byte-equal to one our issuer writes
//! for a key in the ring (which pins `alg`, `typ` and `kid` and rules out `jwk`,
//! `jku`, `crit` and friends without parsing them), then the HMAC is checked,
//! and only then is the payload parsed, once, into borrowed fields.
//!
//! A token this thread has verified before is taken from `seen` (same
//! bytes, same settings, same ticket; the expiry checked again), so a
//! browser's repeat requests skip all of that.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::Deserialize;

use super::claims::{DeviceClaims, DeviceId, InClaims, from_secs};
use super::keyring::{KeyRing, TOKEN_TYPE};
use super::seen;
use super::tokens::DeviceTokens;
use crate::clock::Timestamp;
use crate::ticket::TicketKey;

/// The longest token accepted (ours are under 600 bytes).
pub(crate) const MAX_TOKEN_LEN: usize = 2048;
/// The longest decoded payload accepted (ours are under 300 bytes).
const MAX_PAYLOAD_LEN: usize = 512;
/// Unpadded base64url of a 32-byte HMAC-SHA256.
const SIGNATURE_LEN: usize = 43;

/// Why a device token was refused. Every variant means "challenge this
/// device"; the distinction is for logs and tests.
///
/// ```
/// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
/// use tower_otp::device::{DeviceTokens, TokenError};
///
/// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
/// let ticket = TicketKey::from_bytes([1; 16]);
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let token = tokens.issue(&ticket, 0, now).token;
/// let tampered = format!("{}x", &token[..token.len() - 1]);
/// let err = tokens.verify(&tampered, &ticket, now).unwrap_err();
/// assert!(matches!(err, TokenError::BadSignature));
/// assert_eq!(err.to_string(), "bad device token signature");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than 2 KiB, or a payload too long to be ours.
    #[error("device token too large")]
    TooLarge,
    /// Not three segments of base64url, or a payload that is not the JSON we write.
    #[error("malformed device token")]
    Malformed,
    /// The header names another algorithm than HS256.
    #[error("device token algorithm is not HS256")]
    WrongAlgorithm,
    /// The header's `typ` is not `device+jwt`.
    #[error("not a device token (typ)")]
    WrongType,
    /// The header's `kid` is missing or not in the key ring.
    #[error("device token signed with an unknown key")]
    UnknownKey,
    /// A header with the right algorithm, type and key that is still not the
    /// one we write (extra parameters such as `jwk` or `crit`).
    #[error("unexpected device token header")]
    UnexpectedHeader,
    /// The signature does not match.
    #[error("bad device token signature")]
    BadSignature,
    /// A required claim is absent.
    #[error("device token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// `iss` is not our issuer.
    #[error("device token has the wrong issuer")]
    WrongIssuer,
    /// `aud` is not our audience.
    #[error("device token has the wrong audience")]
    WrongAudience,
    /// `sub` is another ticket.
    #[error("device token is for another ticket")]
    WrongTicket,
    /// `exp` plus the leeway has passed.
    #[error("device token expired")]
    Expired,
}

impl DeviceTokens {
    /// Verifies a device token for `ticket` at time `now`.
    ///
    /// Checks, in order: size and characters; three segments; the header is
    /// exactly one we write for a key in the ring; the HMAC-SHA256 signature
    /// (constant time); the claims `iss`, `aud`, `sub`, `exp`, `iat`, `jti`,
    /// `gen` are present with JSON types we write; `iss` and `aud` are ours;
    /// `sub` is `ticket`; and `exp + leeway > now`. The revocation generation
    /// is returned for the caller to compare with the store.
    ///
    /// ```
    /// use tower_otp::{KeyRing, Secret, TicketKey, Timestamp};
    /// use tower_otp::device::{DeviceTokens, TokenError};
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// let ticket = TicketKey::from_bytes([1; 16]);
    /// let now = Timestamp::from_millis(1_700_000_000_000);
    /// assert_eq!(tokens.verify("a.b", &ticket, now), Err(TokenError::Malformed));
    ///
    /// let stranger = DeviceTokens::new(KeyRing::derived(&Secret::random()));
    /// let forged = stranger.issue(&ticket, 0, now).token;
    /// assert_eq!(tokens.verify(&forged, &ticket, now), Err(TokenError::UnknownKey));
    /// ```
    ///
    /// # Errors
    /// A [`TokenError`] saying which check failed.
    pub fn verify(
        &self,
        token: &str,
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<DeviceClaims, TokenError> {
        self.verify_bytes(token.as_bytes(), ticket, now)
    }

    /// [`verify`](DeviceTokens::verify) over the cookie's bytes as they came
    /// (the hot path: no UTF-8 pass over the token).
    pub(crate) fn verify_bytes(
        &self,
        bytes: &[u8],
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<DeviceClaims, TokenError> {
        let inner = &*self.inner;
        // A token this thread verified: the same bytes give the same claims;
        // only the expiry can have changed.
        if let Some(claims) = seen::get(inner.id, bytes, ticket)
            && !expired(claims.expires_at, inner.leeway, now)
        {
            return Ok(claims);
        }
        let claims = self.verify_full(bytes, ticket, now)?;
        seen::put(inner.id, bytes, ticket, claims);
        Ok(claims)
    }

    /// Every check, from the bytes.
    fn verify_full(
        &self,
        bytes: &[u8],
        ticket: &TicketKey,
        now: Timestamp,
    ) -> Result<DeviceClaims, TokenError> {
        let inner = &*self.inner;
        if bytes.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge);
        }
        let (first, second) = split(bytes)?;
        let (header, payload, signature) = (
            &bytes[..first],
            &bytes[first + 1..second],
            &bytes[second + 1..],
        );
        if payload.len() > MAX_PAYLOAD_LEN / 3 * 4 {
            return Err(TokenError::TooLarge);
        }

        let key = inner
            .ring
            .by_header_segment(header)
            .ok_or_else(|| classify_header(header, &inner.ring))?;

        if signature.len() != SIGNATURE_LEN {
            return Err(TokenError::BadSignature);
        }
        let mut tag = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(32) => {}
            _ => return Err(TokenError::BadSignature),
        }
        let mut mac = key.mac.clone();
        mac.update(&bytes[..second]);
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;

        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let n = URL_SAFE_NO_PAD
            .decode_slice(payload, &mut buf)
            .map_err(|_| TokenError::Malformed)?;
        // Our own tokens have one exact layout: read it without a JSON parser.
        // Anything else (another layout, a missing or mistyped claim) takes the
        // serde path, which names what is wrong.
        let claims = match own_layout(&buf[..n], &inner.issuer, &inner.audience) {
            Some(claims) => claims,
            None => {
                let claims: InClaims<'_> =
                    serde_json::from_slice(&buf[..n]).map_err(|_| TokenError::Malformed)?;
                let iss = claims.iss.ok_or(TokenError::MissingClaim("iss"))?;
                let aud = claims.aud.ok_or(TokenError::MissingClaim("aud"))?;
                let sub = claims.sub.ok_or(TokenError::MissingClaim("sub"))?;
                let exp = claims.exp.ok_or(TokenError::MissingClaim("exp"))?;
                let iat = claims.iat.ok_or(TokenError::MissingClaim("iat"))?;
                let jti = claims.jti.ok_or(TokenError::MissingClaim("jti"))?;
                let generation = claims.generation.ok_or(TokenError::MissingClaim("gen"))?;
                if iss != inner.issuer {
                    return Err(TokenError::WrongIssuer);
                }
                if aud != inner.audience {
                    return Err(TokenError::WrongAudience);
                }
                OwnClaims {
                    sub,
                    jti,
                    iat,
                    exp,
                    generation,
                }
            }
        };
        let OwnClaims {
            sub,
            jti,
            iat,
            exp,
            generation,
        } = claims;
        if sub.as_bytes() != ticket.text_bytes() {
            return Err(TokenError::WrongTicket);
        }
        let expires_at = from_secs(exp);
        if expired(expires_at, inner.leeway, now) {
            return Err(TokenError::Expired);
        }
        let device_id = DeviceId::parse(jti).ok_or(TokenError::Malformed)?;
        if iat > exp {
            return Err(TokenError::Malformed);
        }
        Ok(DeviceClaims {
            device_id,
            issued_at: from_secs(iat),
            expires_at,
            generation,
        })
    }
}

/// Whether a token expiring at `expires_at` is refused at `now`.
fn expired(expires_at: Timestamp, leeway: u64, now: Timestamp) -> bool {
    expires_at.as_millis().saturating_add(leeway) <= now.as_millis()
}

/// The claims the verifier needs once `iss` and `aud` are checked.
struct OwnClaims<'a> {
    sub: &'a str,
    jti: &'a str,
    iat: u64,
    exp: u64,
    generation: u64,
}

/// Reads a payload laid out exactly as the issuer writes it
/// (`{"iss":..,"aud":..,"sub":..,"jti":..,"iat":..,"exp":..,"gen":..}`, no
/// spaces, no escapes) with this issuer and audience; `None` for anything else.
fn own_layout<'a>(json: &'a [u8], issuer: &str, audience: &str) -> Option<OwnClaims<'a>> {
    let rest = json
        .strip_prefix(br#"{"iss":""#)?
        .strip_prefix(issuer.as_bytes())?
        .strip_prefix(br#"","aud":""#)?
        .strip_prefix(audience.as_bytes())?
        .strip_prefix(br#"","sub":""#)?;
    let (sub, rest) = plain_string(rest)?;
    let (jti, rest) = plain_string(rest.strip_prefix(br#","jti":""#)?)?;
    let (iat, rest) = number(rest.strip_prefix(br#","iat":"#)?)?;
    let (exp, rest) = number(rest.strip_prefix(br#","exp":"#)?)?;
    let (generation, rest) = number(rest.strip_prefix(br#","gen":"#)?)?;
    (rest == b"}").then_some(OwnClaims {
        sub,
        jti,
        iat,
        exp,
        generation,
    })
}

/// A base64url string up to its closing quote, and what follows the quote.
fn plain_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = memchr::memchr(b'"', bytes)?;
    let text = &bytes[..end];
    if !is_base64url(text) {
        return None;
    }
    Some((std::str::from_utf8(text).ok()?, &bytes[end + 1..]))
}

/// A JSON unsigned integer that fits `u64` (no sign, fraction, exponent or
/// leading zero), and what follows it.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 || (len > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in &bytes[..len] {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some((value, &bytes[len..]))
}

/// Splits `header.payload.signature` at the first and last dot, and checks
/// that payload and signature are base64url. The header needs no check: it
/// is either byte-equal to one of ours or rejected.
fn split(bytes: &[u8]) -> Result<(usize, usize), TokenError> {
    let first = memchr::memchr(b'.', bytes);
    let second = memchr::memrchr(b'.', bytes);
    match (first, second) {
        (Some(first), Some(second))
            if first < second
                && is_base64url(&bytes[first + 1..second])
                && is_base64url(&bytes[second + 1..]) =>
        {
            Ok((first, second))
        }
        _ => Err(TokenError::Malformed),
    }
}

/// Whether every byte is in the base64url alphabet. Branch-free, so the
/// compiler vectorizes it.
fn is_base64url(bytes: &[u8]) -> bool {
    !bytes.iter().fold(false, |bad, &b| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        bad | !(letter | digit | (b == b'-') | (b == b'_'))
    })
}

/// Says why a header is not one of ours. Cold: only for rejected tokens, and
/// the header is at most 2 KiB (it is decoded into a stack buffer, and any
/// non-base64url byte makes it `Malformed`).
#[cold]
fn classify_header(segment: &[u8], ring: &KeyRing) -> TokenError {
    #[derive(Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        alg: Option<&'a str>,
        #[serde(borrow)]
        typ: Option<&'a str>,
        #[serde(borrow)]
        kid: Option<&'a str>,
    }
    let mut buf = [0u8; MAX_TOKEN_LEN / 4 * 3];
    let Ok(n) = URL_SAFE_NO_PAD.decode_slice(segment, &mut buf) else {
        return TokenError::Malformed;
    };
    let Ok(header) = serde_json::from_slice::<Header<'_>>(&buf[..n]) else {
        return TokenError::Malformed;
    };
    if header.alg != Some("HS256") {
        TokenError::WrongAlgorithm
    } else if header.typ != Some(TOKEN_TYPE) {
        TokenError::WrongType
    } else if !header.kid.is_some_and(|kid| ring.contains_kid(kid)) {
        TokenError::UnknownKey
    } else {
        TokenError::UnexpectedHeader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_payloads_take_the_fast_path_and_it_agrees_with_serde() {
        let ours = br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"AQEBAQEBAQEBAQEBAQEBAQ","jti":"-Dfnm_mRP-V1BDRZ6J4TEg","iat":1795623523,"exp":1798215523,"gen":0}"#;
        let fast = own_layout(ours, "tower-otp", "tower-otp/device").expect("fast path");
        // And what the issuer really writes has that layout.
        let tokens = DeviceTokens::new(crate::KeyRing::derived(&crate::Secret::random()));
        let issued = tokens.issue(
            &TicketKey::from_bytes([7; 16]),
            3,
            Timestamp::from_millis(1_700_000_000_000),
        );
        let payload = issued.token.split('.').nth(1).unwrap();
        let json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let claims = own_layout(&json, tokens.issuer(), tokens.audience())
            .expect("issued tokens take the fast path");
        assert_eq!(
            (claims.generation, claims.sub),
            (3, TicketKey::from_bytes([7; 16]).as_str())
        );
        let slow: InClaims<'_> = serde_json::from_slice(ours).unwrap();
        assert_eq!(Some(fast.sub), slow.sub);
        assert_eq!(Some(fast.jti), slow.jti);
        assert_eq!(
            (Some(fast.iat), Some(fast.exp), Some(fast.generation)),
            (slow.iat, slow.exp, slow.generation)
        );
        // Anything off the exact layout falls back to serde (which then decides).
        for other in [
            &br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":2,"gen":0} "#[..],
            br#"{"aud":"tower-otp/device","iss":"tower-otp","sub":"A","jti":"B","iat":1,"exp":2,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"other","sub":"A","jti":"B","iat":1,"exp":2,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A\u0041","jti":"B","iat":1,"exp":2,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":01,"exp":2,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":"2","gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":2.0,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":99999999999999999999,"gen":0}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":2,"gen":0,"gen":1}"#,
            br#"{"iss":"tower-otp","aud":"tower-otp/device","sub":"A","jti":"B","iat":1,"exp":2}"#,
        ] {
            assert!(own_layout(other, "tower-otp", "tower-otp/device").is_none(), "{}", String::from_utf8_lossy(other));
        }
    }
    use crate::{DeviceKey, KeyRing};
    use std::time::Duration;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn setup() -> (DeviceTokens, TicketKey) {
        let key = DeviceKey::new("k1", &[0x42, 0x13, 0x37, 0x99].repeat(8)).unwrap();
        (
            DeviceTokens::new(KeyRing::new(key)),
            TicketKey::from_bytes([9; 16]),
        )
    }

    #[test]
    fn split_checks_segments_and_characters() {
        assert_eq!(split(b"a.b.c"), Ok((1, 3)));
        assert_eq!(split(b"..").map(|_| ()), Ok(()));
        // The header is not checked here: it must equal one of ours.
        assert_eq!(split(b"{ \xff.b.c"), Ok((3, 5)));
        for bad in [
            &b""[..],
            b"abc",
            b"a.b",
            b"a.b.c.d",
            b"a.b.c ",
            b"a.b.c=",
            b"a.b+.c",
            b"a.{.c",
            b"a.b.\xc3\xa9",
        ] {
            assert_eq!(
                split(bad),
                Err(TokenError::Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The verified path offers device cookie values unchecked
    /// (`DeviceCookie::values`): a byte a cookie value cannot hold must make
    /// any token fail, warm cache or not.
    #[test]
    fn bytes_a_cookie_cannot_hold_never_verify() {
        let (tokens, ticket) = setup();
        let token = tokens.issue(&ticket, 0, NOW).token.into_bytes();
        // Warm this thread's cache with the genuine token.
        assert!(tokens.verify_bytes(&token, &ticket, NOW).is_ok());
        let dots: Vec<usize> = (0..token.len()).filter(|&i| token[i] == b'.').collect();
        let places = [0, dots[0], dots[0] + 1, dots[1], dots[1] + 1, token.len()];
        for bad in [b' ', b'"', b',', b';', b'\\', b'\t', 0x7f, 0x80, 0xff] {
            for &at in &places {
                let mut inserted = token.clone();
                inserted.insert(at, bad);
                assert!(tokens.verify_bytes(&inserted, &ticket, NOW).is_err());
                if at < token.len() {
                    let mut replaced = token.clone();
                    replaced[at] = bad;
                    assert!(tokens.verify_bytes(&replaced, &ticket, NOW).is_err());
                }
            }
        }
        assert!(tokens.verify_bytes(&token, &ticket, NOW).is_ok());
    }

    #[test]
    fn round_trip_and_claims() {
        let (tokens, ticket) = setup();
        let issued = tokens.issue(&ticket, 7, NOW);
        let claims = tokens.verify(&issued.token, &ticket, NOW).unwrap();
        assert_eq!(claims.device_id, issued.device_id);
        assert_eq!(claims.generation, 7);
        assert_eq!(claims.issued_at, NOW);
        assert_eq!(claims.expires_at, issued.expires_at);
        assert_eq!(claims.expires_at, NOW + tokens.lifetime());
    }

    #[test]
    fn expiry_uses_the_leeway() {
        let (tokens, ticket) = setup();
        let issued = tokens.issue(&ticket, 0, NOW);
        let exp = issued.expires_at;
        let leeway = tokens.leeway();
        let just_before = exp + leeway - Duration::from_millis(1);
        assert!(tokens.verify(&issued.token, &ticket, just_before).is_ok());
        assert_eq!(
            tokens.verify(&issued.token, &ticket, exp + leeway),
            Err(TokenError::Expired)
        );
        let strict = tokens.with_leeway(Duration::ZERO).unwrap();
        assert_eq!(
            strict.verify(&issued.token, &ticket, exp),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn other_issuer_or_audience_settings_reject() {
        let (tokens, ticket) = setup();
        let token = tokens.issue(&ticket, 0, NOW).token;
        let other_iss = tokens.clone().with_issuer("someone-else").unwrap();
        assert_eq!(
            other_iss.verify(&token, &ticket, NOW),
            Err(TokenError::WrongIssuer)
        );
        let other_aud = tokens.with_audience("tower-otp/other").unwrap();
        assert_eq!(
            other_aud.verify(&token, &ticket, NOW),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn signature_segment_must_be_canonical() {
        let (tokens, ticket) = setup();
        let token = tokens.issue(&ticket, 0, NOW).token;
        let (message, sig) = token.rsplit_once('.').unwrap();
        // The last character of 43 carries 4 spare bits that must be zero.
        let last = sig.as_bytes()[42];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pos = alphabet.iter().position(|&c| c == last).unwrap();
        let tweaked = alphabet[pos ^ 1] as char;
        let forged = format!("{message}.{}{tweaked}", &sig[..42]);
        assert_eq!(
            tokens.verify(&forged, &ticket, NOW),
            Err(TokenError::BadSignature)
        );
        let padded = format!("{token}=");
        assert_eq!(
            tokens.verify(&padded, &ticket, NOW),
            Err(TokenError::Malformed)
        );
    }
}
