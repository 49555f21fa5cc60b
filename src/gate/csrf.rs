//! CSRF tokens tied to the browser: a random cookie, and an HMAC of it in each form.

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

/// The form token for a browser's cookie value and a ticket (reusable on that page).
pub(crate) fn token(key: &HmacKey, cookie_value: &str, ticket: &TicketKey) -> String {
    let mac = key.sign(&[cookie_value.as_bytes(), ticket.as_bytes()]);
    URL_SAFE_NO_PAD.encode(&mac[..16])
}

/// Checks a submitted token in constant time.
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
    let expected = token(key, cookie, ticket);
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
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
}
