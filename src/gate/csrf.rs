//! CSRF tokens tied to the browser: a random cookie, and an HMAC of it in
//! each form, masked afresh for every page.
//!
//! A page carries its token next to text the request chose (the path and
//! query in the language links). Were the token's bytes the same on every
//! page, compressing pages (`tower_http::compression`, a proxy's gzip) would
//! let an attacker who can make a browser load chosen URLs and can see the
//! responses' sizes guess it a character at a time. Each page therefore
//! carries the token XORed with a fresh random mask, and the mask: the
//! bytes differ every time, and compression has nothing to match.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::secret::HmacKey;
use crate::ticket::TicketKey;

/// The browser's CSRF cookie value: 16 random bytes, base64url.
pub(crate) fn new_cookie_value() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a cookie value has the form we issue.
pub(crate) fn well_formed(value: &str) -> bool {
    value.len() == 22
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The form token for a browser's cookie value and a ticket, unmasked (as
/// pages rendered before masking carried it; [`check`] still takes it).
#[cfg(test)]
pub(crate) fn token(key: &HmacKey, cookie_value: &str, ticket: &TicketKey) -> String {
    let mac = key.sign(&[cookie_value.as_bytes(), ticket.as_bytes()]);
    URL_SAFE_NO_PAD.encode(&mac[..16])
}

/// [`token`], masked for one page: a fresh 16-byte mask, then the token's
/// 16 bytes XORed with it, base64url (43 characters).
pub(crate) fn masked_token(key: &HmacKey, cookie_value: &str, ticket: &TicketKey) -> String {
    let mac = key.sign(&[cookie_value.as_bytes(), ticket.as_bytes()]);
    let mut out = [0u8; 32];
    rand::rng().fill_bytes(&mut out[..16]);
    for i in 0..16 {
        out[16 + i] = mac[i] ^ out[i];
    }
    URL_SAFE_NO_PAD.encode(out)
}

/// The token's 16 bytes from a submitted one: masked (43 characters) or
/// plain (22, as pages rendered before masking carried).
fn unmask(submitted: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    match submitted.len() {
        43 => {
            let bytes = URL_SAFE_NO_PAD.decode(submitted).ok()?;
            let (mask, masked) = bytes.split_at(16);
            for i in 0..16 {
                out[i] = mask[i] ^ masked[i];
            }
        }
        22 => out.copy_from_slice(&URL_SAFE_NO_PAD.decode(submitted).ok()?),
        _ => return None,
    }
    Some(out)
}

/// Checks a submitted token (masked or plain) in constant time.
pub(crate) fn check(
    key: &HmacKey,
    cookie_value: Option<&str>,
    ticket: &TicketKey,
    submitted: Option<&str>,
) -> bool {
    let (Some(cookie), Some(submitted)) = (cookie_value, submitted) else {
        return false;
    };
    if !well_formed(cookie) {
        return false;
    }
    let Some(submitted) = unmask(submitted) else {
        return false;
    };
    let mac = key.sign(&[cookie.as_bytes(), ticket.as_bytes()]);
    bool::from(mac[..16].ct_eq(&submitted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn token_is_tied_to_cookie_and_ticket() {
        let key = HmacKey::new(&Secret::random().derive("csrf"));
        let a = TicketKey::from_bytes([1; 16]);
        let b = TicketKey::from_bytes([2; 16]);
        let cookie = new_cookie_value();
        let other = new_cookie_value();
        assert!(well_formed(&cookie));
        let t = token(&key, &cookie, &a);
        assert!(check(&key, Some(&cookie), &a, Some(&t)));
        assert!(!check(&key, Some(&other), &a, Some(&t)));
        assert!(!check(&key, Some(&cookie), &b, Some(&t)));
        assert!(!check(&key, None, &a, Some(&t)));
        assert!(!check(&key, Some(&cookie), &a, None));
        assert!(!check(&key, Some(&cookie), &a, Some("")));
        assert!(!check(&key, Some("short"), &a, Some(&t)));
    }

    #[test]
    fn masked_tokens_differ_on_every_page_and_all_check() {
        let key = HmacKey::new(&Secret::random().derive("csrf"));
        let (a, b) = (
            TicketKey::from_bytes([1; 16]),
            TicketKey::from_bytes([2; 16]),
        );
        let cookie = new_cookie_value();
        let pages: Vec<String> = (0..50).map(|_| masked_token(&key, &cookie, &a)).collect();
        for (i, t) in pages.iter().enumerate() {
            assert_eq!(t.len(), 43);
            assert!(check(&key, Some(&cookie), &a, Some(t)), "page {i}");
            assert!(!check(&key, Some(&cookie), &b, Some(t)), "another ticket");
            assert!(!check(&key, Some(&new_cookie_value()), &a, Some(t)));
        }
        let distinct: std::collections::HashSet<_> = pages.iter().collect();
        assert_eq!(
            distinct.len(),
            pages.len(),
            "no two pages carry the same bytes"
        );
        // No 4-byte run of the plain token's text survives on a masked page.
        let plain = token(&key, &cookie, &a);
        for page in &pages {
            let shared = (0..plain.len() - 3).filter(|i| page.contains(&plain[*i..*i + 4]));
            assert!(shared.count() <= 1, "{page} repeats {plain}");
        }
        // A flipped byte of the mask or of the masked token fails.
        let mut bytes = URL_SAFE_NO_PAD.decode(&pages[0]).unwrap();
        bytes[3] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(!check(&key, Some(&cookie), &a, Some(&flipped)));
        assert!(!check(&key, Some(&cookie), &a, Some(&"A".repeat(43))));
        assert!(!check(&key, Some(&cookie), &a, Some(&"*".repeat(43))));
    }
}
