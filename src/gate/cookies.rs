//! The cookies the layer reads and writes: the device cookie found on every
//! request, the gate's own cookies read only when the gate answers, and one
//! function that writes every `Set-Cookie`.

use std::sync::LazyLock;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use memchr::memmem::Finder;

use crate::device::{
    PLAIN_PREFIX, SECURE_PREFIX, cookie_octets, pairs, safe_path, unquote, value_of,
};

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

/// Finds the device cookie's name prefix in a header at SIMD speed; built
/// once, since building a searcher costs more than one search.
static PLAIN_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(PLAIN_PREFIX));
static SECURE_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(SECURE_PREFIX));

/// Offers each value of the cookie called `name` in the `Cookie` headers,
/// in order, to `accept` until it returns `true` (a browser sends several
/// when another path or host planted one with the same name), and says
/// whether one was accepted. Allocates nothing.
///
/// The header is split into pairs at `;` and each pair trimmed, as
/// [`DeviceCookie::find_all`](crate::device::DeviceCookie::find_all) does;
/// the name matches exactly; a value in double quotes is unquoted; an empty
/// value is skipped. Values are offered unchecked otherwise: `accept` is the
/// device token's verifier, which refuses anything but base64url and dots (a
/// narrower set than cookie-octets), so checking the octets here too would
/// scan the ~300-byte token twice on every verified request.
///
/// This runs on every verified request, so instead of visiting each pair it
/// jumps to the occurrences of the name's fixed prefix (`otp-` or
/// `__Secure-otp-`) and checks that each one starts a pair.
pub(crate) fn device<'a>(
    headers: &'a HeaderMap,
    name: &[u8],
    mut accept: impl FnMut(&'a [u8]) -> bool,
) -> bool {
    let own;
    let finder: &Finder<'_> = if name.starts_with(SECURE_PREFIX.as_bytes()) {
        &SECURE_FINDER
    } else if name.starts_with(PLAIN_PREFIX.as_bytes()) {
        &PLAIN_FINDER
    } else {
        own = Finder::new(name);
        &own
    };
    // A browser sends one `Cookie` header over HTTP/1.1 (HTTP/2 may split
    // it). A map with as many values as names repeats no header, so `get`
    // finds the only one without the iterator over repeated values.
    if headers.len() == headers.keys_len() {
        return headers
            .get(COOKIE)
            .is_some_and(|header| offer(header.as_bytes(), finder, name, &mut accept));
    }
    headers
        .get_all(COOKIE)
        .iter()
        .any(|header| offer(header.as_bytes(), finder, name, &mut accept))
}

/// [`device`] over one `Cookie` header.
#[inline(always)]
fn offer<'a>(
    header: &'a [u8],
    finder: &Finder<'_>,
    name: &[u8],
    accept: &mut impl FnMut(&'a [u8]) -> bool,
) -> bool {
    let mut from = 0;
    while let Some(found) = finder.find(&header[from..]) {
        let at = from + found;
        from = at + 1;
        // A pair starts at the header's start or after `;` and blanks.
        let before = header[..at].trim_ascii_end();
        if !(before.is_empty() || before.ends_with(b";")) {
            continue;
        }
        let Some(rest) = value_of(&header[at..], name) else {
            continue;
        };
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        from = header.len() - rest.len() + end;
        let value = unquote(rest[..end].trim_ascii_end());
        if !value.is_empty() && accept(value) {
            return true;
        }
    }
    false
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

/// One `Set-Cookie` of the layer's: `HttpOnly`, `SameSite=Lax`, `Secure` when
/// `secure`, the path, and `Max-Age` when given (zero removes).
///
/// The gate passes `/` or a ticket's path that is
/// [`scopable`](crate::device::scopable) (a ticket URL whose path is not
/// gets no cookie at all); any other path is written as `/`, never as
/// attributes.
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

    /// Every value `device` offers for `name`, none accepted.
    fn offered<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
        let mut seen = Vec::new();
        assert!(!device(h, name.as_bytes(), |v| {
            seen.push(v);
            false
        }));
        seen
    }

    #[test]
    fn the_device_cookie_and_the_jar_are_found() {
        let h = headers(&[
            "theme=dark; otp-abcx=no; otp_probe=p1",
            "otp-abc=\"t.o.k\"; otp_csrf=c; otp_lang=ja; otp_probe=p2",
        ]);
        assert_eq!(offered(&h, "otp-abc"), [b"t.o.k"]);
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
    fn device_values_are_offered_until_one_is_accepted() {
        let h = headers(&["otp-a=1; otp-a=2", "otp-a=3"]);
        let mut seen = Vec::new();
        assert!(device(&h, b"otp-a", |v| {
            seen.push(v);
            v == b"2"
        }));
        assert_eq!(seen, [b"1", b"2"]);
        assert_eq!(offered(&h, "otp-a"), [b"1", b"2", b"3"]);
    }

    /// Whether the map repeats a header or not (`device` reads a map with no
    /// repeated name through `get`), every `Cookie` header is searched.
    #[test]
    fn every_cookie_header_is_searched_whatever_else_repeats() {
        use http::HeaderName;
        use http::header::{ACCEPT, HOST};
        type Headers<'a> = &'a [(&'a HeaderName, &'static str)];
        let cases: [(Headers<'_>, &[&[u8]]); 7] = [
            (&[], &[]),
            (&[(&HOST, "a")], &[]),
            (&[(&COOKIE, "otp-a=1")], &[b"1"]),
            (&[(&HOST, "a"), (&COOKIE, "x=0; otp-a=1")], &[b"1"]),
            (
                &[(&ACCEPT, "a"), (&ACCEPT, "b"), (&COOKIE, "otp-a=1")],
                &[b"1"],
            ),
            (&[(&COOKIE, "x=0"), (&COOKIE, "otp-a=2")], &[b"2"]),
            (
                &[
                    (&ACCEPT, "a"),
                    (&COOKIE, "otp-a=1"),
                    (&ACCEPT, "b"),
                    (&COOKIE, "otp-a=2"),
                ],
                &[b"1", b"2"],
            ),
        ];
        for (pairs, want) in cases {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.append(*name, HeaderValue::from_static(value));
            }
            assert_eq!(offered(&h, "otp-a"), want, "{pairs:?}");
        }
    }

    /// Only a name that starts a pair counts: not one inside another
    /// cookie's name or value, whichever prefix finder looks for it.
    #[test]
    fn the_name_must_start_a_pair() {
        for name in ["otp-abc", "__Secure-otp-abc", "device"] {
            let cases: [(String, &[&[u8]]); 10] = [
                (format!("{name}=v"), &[b"v"]),
                (format!("  {name}=v  "), &[b"v"]),
                (format!("a=1;{name}=v;b=2"), &[b"v"]),
                (format!("a=1 ;\t {name}=v ; b=2"), &[b"v"]),
                (format!("x{name}=no; {name}=v"), &[b"v"]),
                (format!("a={name}=no; b=\"{name}=no\"; {name}=v"), &[b"v"]),
                (format!("x {name}=no"), &[]),
                (format!("{name} =no; {name}x=no; {name}"), &[]),
                (
                    format!("{name}=1;{name}=;{name}=\"\";{name}=2"),
                    &[b"1", b"2"],
                ),
                (format!("{name}={name}=v; {name}=w"), &[b"otp-abc=v", b"w"]),
            ];
            for (header, want) in cases {
                let value = HeaderValue::from_str(&header).unwrap();
                let mut h = HeaderMap::new();
                h.append(COOKIE, value);
                let want: Vec<Vec<u8>> = want
                    .iter()
                    .map(|w| {
                        String::from_utf8_lossy(w)
                            .replace("otp-abc", name)
                            .into_bytes()
                    })
                    .collect();
                let got: Vec<Vec<u8>> = offered(&h, name).into_iter().map(<[u8]>::to_vec).collect();
                assert_eq!(got, want, "{header}");
                // The public finder agrees on every value made of cookie-octets.
                let public: Vec<Vec<u8>> = crate::device::DeviceCookie::find_all(&h, name)
                    .map(|v| v.as_bytes().to_vec())
                    .collect();
                assert_eq!(public, want, "public, {header}");
            }
        }
    }

    #[test]
    fn names_match_exactly_and_empty_values_are_skipped() {
        let h = headers(&["otp-ab=1; otp-abcd=2; otp-abc=; otp-abc=\"\"; otp-abc=ok"]);
        assert_eq!(offered(&h, "otp-abc"), [b"ok"]);
        // Device values are the verifier's to refuse, as they came.
        let odd = headers(&["otp-abc=a b; otp-abc=x\\y"]);
        assert_eq!(offered(&odd, "otp-abc"), [&b"a b"[..], b"x\\y"]);
        // The gate's own cookies still skip what a cookie value cannot hold.
        let bad = headers(&["otp_csrf=a b; otp_lang=x\\y; otp_probe=p,q"]);
        assert_eq!(jar(&bad, false), Jar::default());
        let both = headers(&["otp_probe=1; __Secure-otp_probe=2"]);
        assert_eq!(jar(&both, true).probe, Some("2"));
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
            assert!(!crate::device::scopable(path), "{path}");
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
        for path in [
            "/",
            "/tickets/abc",
            "/tickets/x1%3BDomain=evil",
            "/a/b-c_d.e~f",
        ] {
            assert!(crate::device::scopable(path), "{path}");
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
