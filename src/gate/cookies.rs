//! The cookies the layer reads and writes: one scan of the `Cookie` headers
//! per request, and one function that writes every `Set-Cookie`.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};

use crate::device::safe_path;

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

/// What one scan found besides the device cookie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Jar<'a> {
    pub(crate) probe: Option<&'a str>,
    pub(crate) csrf: Option<&'a str>,
    pub(crate) lang: Option<&'a str>,
}

/// Reads every `Cookie` header once, without allocating. Each value of a
/// cookie called `device` (its bytes, all cookie-octets) is offered to
/// `accept` until it returns `true` (a
/// browser sends several when another path or host planted one with the same
/// name). For the probe, CSRF and language cookies the first value counts.
/// Names match exactly; a value in double quotes is unquoted; an empty value,
/// or one with characters a cookie value may not hold, is skipped.
pub(crate) fn scan<'a>(
    headers: &'a HeaderMap,
    device: &[u8],
    secure: bool,
    mut accept: impl FnMut(&'a [u8]) -> bool,
) -> Jar<'a> {
    let (probe, csrf) = (probe_name(secure), csrf_name(secure));
    let mut jar = Jar::default();
    let mut verified = false;
    for header in headers.get_all(COOKIE) {
        let mut rest = header.as_bytes();
        while !rest.is_empty() {
            let pair = match memchr::memchr(b';', rest) {
                Some(end) => {
                    let pair = &rest[..end];
                    rest = &rest[end + 1..];
                    pair
                }
                None => std::mem::take(&mut rest),
            };
            let pair = pair.trim_ascii();
            if let Some(value) = value_of(pair, device) {
                if !verified {
                    verified = cookie_octets(value).is_some_and(&mut accept);
                }
                continue;
            }
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

/// The value of `pair` when it is `name=value`, unchecked.
#[inline]
fn value_of<'a>(pair: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    pair.strip_prefix(name)?.strip_prefix(b"=")
}

/// A cookie value without its quotes, if every byte is a cookie-octet
/// (RFC 6265 §4.1.1: visible ASCII except `"`, `,`, `;`, `\\`), so it is
/// also ASCII.
#[inline]
fn cookie_octets(value: &[u8]) -> Option<&[u8]> {
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    };
    // Branch-free, so the compiler can vectorize it.
    let bad = value.iter().fold(false, |bad, &b| {
        bad | (b.wrapping_sub(0x21) > 0x7e - 0x21) | (b == b'"') | (b == b',') | (b == b'\\')
    });
    (!bad && !value.is_empty()).then_some(value)
}

/// One `Set-Cookie` of the layer's: `HttpOnly`, `SameSite=Lax`, `Secure` when
/// `secure`, the path made safe, and `Max-Age` when given (zero removes).
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path(safe_path(path))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .build();
    if let Some(age) = max_age {
        let seconds = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        cookie.set_max_age(cookie::time::Duration::seconds(seconds));
    }
    HeaderValue::from_str(&cookie.to_string())
        .expect("names are ours, values are cookie-octets and paths are checked")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn one_scan_finds_every_cookie() {
        let h = headers(&[
            "theme=dark; otp-abcx=no; otp_probe=p1",
            "otp-abc=\"t.o.k\"; otp_csrf=c; otp_lang=ja; otp_probe=p2",
        ]);
        let mut seen = Vec::new();
        let jar = scan(&h, b"otp-abc", false, |v| {
            seen.push(v);
            false
        });
        assert_eq!(seen, [b"t.o.k"]);
        assert_eq!(
            jar,
            Jar {
                probe: Some("p1"),
                csrf: Some("c"),
                lang: Some("ja")
            }
        );
    }

    #[test]
    fn device_values_are_offered_until_one_is_accepted() {
        let h = headers(&["a=1; a=2", "a=3"]);
        let mut seen = Vec::new();
        scan(&h, b"a", true, |v| {
            seen.push(v);
            v == b"2"
        });
        assert_eq!(seen, [b"1", b"2"]);
    }

    #[test]
    fn names_match_exactly_and_bad_values_are_skipped() {
        let h = headers(&["otp-ab=1; otp-abcd=2; otp-abc=; otp-abc=a b; otp-abc=x\\y; otp-abc=ok"]);
        let mut seen = Vec::new();
        scan(&h, b"otp-abc", true, |v| {
            seen.push(v);
            false
        });
        assert_eq!(seen, [b"ok"]);
        let both = headers(&["otp_probe=1; __Secure-otp_probe=2"]);
        let secure = scan(&both, b"d", true, |_| false);
        assert_eq!(secure.probe, Some("2"));
    }

    #[test]
    fn hostile_paths_never_become_attributes() {
        for path in [
            "/tickets/x1;Domain=evil.example",
            "/tickets/x1; SameSite=None",
            "/tickets/a b",
            "/tickets/x1,Domain=evil.example",
            "/tickets/x1\"",
            "/tickets/\u{e9}",
            "tickets/x",
            "",
        ] {
            let value = set_cookie("otp_probe", "v", path, None, true);
            let text = value.to_str().unwrap();
            assert!(
                text.contains("Path=/;") || text.ends_with("Path=/"),
                "{path}: {text}"
            );
            assert!(
                !text.contains("Domain") && !text.contains("SameSite=None"),
                "{text}"
            );
        }
        let text = set_cookie(
            "otp_probe",
            "v",
            "/tickets/abc",
            Some(Duration::from_secs(300)),
            true,
        );
        assert_eq!(
            text.to_str().unwrap(),
            "otp_probe=v; HttpOnly; SameSite=Lax; Secure; Path=/tickets/abc; Max-Age=300"
        );
    }
}
