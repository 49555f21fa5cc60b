//! The gate's own cookies: the first-device probe, the CSRF cookie and the
//! remembered language, read only when the gate answers (the device cookie
//! is [`DeviceCookie`](crate::device::DeviceCookie)'s).

use http::HeaderMap;
use http::header::COOKIE;

use crate::device::{cookie_octets, pairs, value_of};

/// The first-device probe: path-scoped, so `__Secure-` (not `__Host-`) when secure.
pub(crate) fn probe_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-otp_probe"
    } else {
        "otp_probe"
    }
}

/// The browser's CSRF cookie: site-wide, so `__Host-` when secure.
pub(crate) fn csrf_name(secure: bool) -> &'static str {
    if secure {
        "__Host-otp_csrf"
    } else {
        "otp_csrf"
    }
}

/// The remembered language (not a secret; the same name as the query parameter).
pub(crate) const LANG: &str = "otp_lang";

/// The gate's own cookies a request carries (not the device cookie).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Jar<'a> {
    pub(crate) probe: Option<&'a str>,
    pub(crate) csrf: Option<&'a str>,
    pub(crate) lang: Option<&'a str>,
}

/// Reads the gate's own cookies (probe, CSRF, language) from every `Cookie`
/// header, without allocating: the first value of each counts; a value with
/// characters a cookie value may not hold is skipped. Only requests the
/// gate answers need these, so the verified path never runs this.
pub(crate) fn jar(headers: &HeaderMap, secure: bool) -> Jar<'_> {
    let (probe, csrf) = (probe_name(secure), csrf_name(secure));
    let mut jar = Jar::default();
    for header in headers.get_all(COOKIE) {
        for pair in pairs(header.as_bytes()) {
            // The gate's own cookies all start `otp_` or `__`: skip the rest cheaply.
            if !matches!(pair.first(), Some(b'o' | b'_')) {
                continue;
            }
            for (slot, name) in [
                (&mut jar.probe, probe),
                (&mut jar.csrf, csrf),
                (&mut jar.lang, LANG),
            ] {
                if let Some(value) = value_of(pair, name.as_bytes()) {
                    if slot.is_none() {
                        *slot = cookie_octets(value).and_then(|v| std::str::from_utf8(v).ok());
                    }
                    break;
                }
            }
        }
    }
    jar
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_jar_is_found() {
        let h = headers(&[
            "theme=dark; otp-abcx=no; otp_probe=p1",
            "otp-abc=\"t.o.k\"; otp_csrf=c; otp_lang=ja; otp_probe=p2",
        ]);
        assert_eq!(
            jar(&h, false),
            Jar {
                probe: Some("p1"),
                csrf: Some("c"),
                lang: Some("ja")
            }
        );
    }

    #[test]
    fn values_a_cookie_cannot_hold_are_skipped() {
        let bad = headers(&["otp_csrf=a b; otp_lang=x\\y; otp_probe=p,q"]);
        assert_eq!(jar(&bad, false), Jar::default());
        let both = headers(&["otp_probe=1; __Secure-otp_probe=2"]);
        assert_eq!(jar(&both, true).probe, Some("2"));
    }
}
