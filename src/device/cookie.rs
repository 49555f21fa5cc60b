//! The device cookie: its name, attributes, and finding it in a request;
//! and the one writer of every `Set-Cookie` the layer sends.

use std::fmt;
use std::ops::Deref;
use std::sync::LazyLock;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::{COOKIE, ValueIter};
use http::{HeaderMap, HeaderValue};
use memchr::memmem::Finder;

use super::tokens::{DeviceTokens, LIFETIME_OUT_OF_RANGE, MAX_DEVICE_LIFETIME};
use crate::error::ConfigError;
use crate::ticket::TicketKey;

const SECURE_PREFIX: &str = "__Secure-otp-";
const PLAIN_PREFIX: &str = "otp-";
/// Characters of the ticket key in the cookie name (96 bits).
const NAME_KEY_CHARS: usize = 16;
const NAME_CAPACITY: usize = SECURE_PREFIX.len() + NAME_KEY_CHARS;
/// Browsers ignore longer attribute values (RFC 6265bis §5.6).
const MAX_PATH_LEN: usize = 1024;

/// How the device cookie is named and scoped.
///
/// Every ticket has its own cookie, named from the ticket's keyed hash
/// (`__Secure-otp-` and 16 characters of [`TicketKey::as_str`]), so one
/// browser can hold devices for many tickets, and scoped with `Path` to the
/// ticket's URL prefix, so a browser with twenty tickets sends only the one
/// cookie that matters on each request (RFC 6265bis §6.1: few, small cookies).
///
/// Attributes: `HttpOnly`; `Secure` (unless turned off for local http
/// development); `SameSite=Lax`, never `Strict`, because ticket links are
/// opened from mail apps, a cross-site navigation on which a `Strict` cookie
/// would not be sent; no `Domain`, so the cookie stays on the host that set it;
/// `Max-Age` equal to the token lifetime (the token's own `exp` remains the
/// authority).
///
/// A deviation from the usual advice: the `__Host-` prefix requires `Path=/`,
/// which would send every ticket's cookie on every request. We use
/// `__Secure-` with a `Path` scope instead; what `__Host-` adds beyond it (no
/// `Domain`) we keep by never setting `Domain`, and a cookie planted by a
/// sibling host cannot pass verification because it lacks our signature.
///
/// ```
/// use tower_otp::TicketKey;
/// use tower_otp::device::DeviceCookie;
///
/// let ticket = TicketKey::from_bytes([1; 16]);
/// let cookies = DeviceCookie::new();
/// let set = cookies.set_cookie(&ticket, "header.payload.signature", "/tickets/abc");
/// assert_eq!(
///     set.to_string(),
///     "__Secure-otp-AQEBAQEBAQEBAQEB=header.payload.signature; HttpOnly; SameSite=Lax; Secure; Path=/tickets/abc; Max-Age=2592000"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCookie {
    secure: bool,
    /// Whole seconds.
    max_age: u64,
}

impl Default for DeviceCookie {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceCookie {
    /// `Secure`, with a 30-day `Max-Age` (the default token lifetime).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let c = DeviceCookie::new();
    /// assert!(c.is_secure());
    /// assert_eq!(c.max_age(), Duration::from_secs(30 * 24 * 3600));
    /// ```
    pub const fn new() -> Self {
        Self {
            secure: true,
            max_age: 30 * 24 * 3600,
        }
    }

    /// `Secure`, with `Max-Age` equal to `tokens`' lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::{KeyRing, Secret};
    /// use tower_otp::device::{DeviceCookie, DeviceTokens};
    ///
    /// let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()))
    ///     .with_lifetime(Duration::from_secs(3600))?;
    /// assert_eq!(DeviceCookie::for_tokens(&tokens).max_age(), Duration::from_secs(3600));
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn for_tokens(tokens: &DeviceTokens) -> Self {
        Self {
            secure: true,
            max_age: tokens.lifetime().as_secs(),
        }
    }

    /// Whether the cookie is `Secure` and `__Secure-` prefixed. Default: `true`.
    ///
    /// Turn it off **only for local development over plain http**: browsers
    /// refuse `Secure` cookies from `http://` origins other than localhost.
    /// The cookie is then named `otp-…`.
    ///
    /// ```
    /// use tower_otp::TicketKey;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let dev = DeviceCookie::new().with_secure(false);
    /// assert_eq!(dev.name(&TicketKey::from_bytes([1; 16])).as_str(), "otp-AQEBAQEBAQEBAQEB");
    /// ```
    pub const fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `Max-Age` (whole seconds). Default: 30 days; at most 400 days.
    /// Keep it equal to the token lifetime ([`DeviceCookie::for_tokens`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let c = DeviceCookie::new().with_max_age(Duration::from_secs(3600))?;
    /// assert_eq!(c.max_age(), Duration::from_secs(3600));
    /// assert!(c.with_max_age(Duration::from_secs(401 * 24 * 3600)).is_err());
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] under one second or over 400 days.
    pub fn with_max_age(mut self, max_age: Duration) -> Result<Self, ConfigError> {
        if max_age < Duration::from_secs(1) || max_age > MAX_DEVICE_LIFETIME {
            return Err(LIFETIME_OUT_OF_RANGE);
        }
        self.max_age = max_age.as_secs();
        Ok(self)
    }

    /// Whether the cookie is `Secure`.
    ///
    /// ```
    /// # use tower_otp::device::DeviceCookie;
    /// assert!(!DeviceCookie::new().with_secure(false).is_secure());
    /// ```
    pub const fn is_secure(&self) -> bool {
        self.secure
    }

    /// The cookie's `Max-Age`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_otp::device::DeviceCookie;
    /// assert_eq!(DeviceCookie::default().max_age(), Duration::from_secs(2_592_000));
    /// ```
    pub const fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age)
    }

    /// The cookie name for `ticket`.
    ///
    /// ```
    /// use tower_otp::TicketKey;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let name = DeviceCookie::new().name(&TicketKey::from_bytes([1; 16]));
    /// assert_eq!(name.as_str(), "__Secure-otp-AQEBAQEBAQEBAQEB");
    /// ```
    pub fn name(&self, ticket: &TicketKey) -> CookieName {
        let prefix = if self.secure {
            SECURE_PREFIX
        } else {
            PLAIN_PREFIX
        };
        let key = &ticket.text_bytes()[..NAME_KEY_CHARS];
        let mut buf = [0u8; NAME_CAPACITY];
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        buf[prefix.len()..prefix.len() + key.len()].copy_from_slice(key);
        CookieName {
            buf,
            len: (prefix.len() + key.len()) as u8,
        }
    }

    /// The `Set-Cookie` for a new device token for `ticket`.
    ///
    /// `path` is the ticket's URL prefix (for example `/tickets/abc`). A path
    /// that does not start with `/`, is over 1024 bytes, or holds `;`, spaces,
    /// control or non-ASCII characters is replaced by `/`: the cookie then
    /// reaches more of the site, which is safe because it opens only its own
    /// ticket. (The layer itself sets no cookie on a ticket URL whose path
    /// is such a path: it answers 404.)
    ///
    /// ```
    /// use tower_otp::cookie::SameSite;
    /// use tower_otp::TicketKey;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let set = DeviceCookie::new().set_cookie(&TicketKey::from_bytes([1; 16]), "t.o.k", "/tickets/abc");
    /// assert_eq!(set.path(), Some("/tickets/abc"));
    /// assert_eq!(set.same_site(), Some(SameSite::Lax));
    /// assert_eq!((set.secure(), set.http_only(), set.domain()), (Some(true), Some(true), None));
    /// ```
    pub fn set_cookie(&self, ticket: &TicketKey, token: &str, path: &str) -> Cookie<'static> {
        let name = self.name(ticket);
        let max_age = Some(self.max_age());
        build(&name, token, path, max_age, self.secure).into_owned()
    }

    /// The `Set-Cookie` header of a device token for `ticket` that lives
    /// `max_age` (a device whose trust lapses sooner than the cookie's
    /// configured `Max-Age` gets a cookie that lapses with it).
    pub(crate) fn header(
        &self,
        ticket: &TicketKey,
        token: &str,
        path: &str,
        max_age: Duration,
    ) -> HeaderValue {
        set_cookie(&self.name(ticket), token, path, Some(max_age), self.secure)
    }

    /// The `Set-Cookie` that clears `ticket`'s device cookie (same name and
    /// path, empty value, `Max-Age=0`).
    ///
    /// ```
    /// use tower_otp::TicketKey;
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let clear = DeviceCookie::new().removal_cookie(&TicketKey::from_bytes([1; 16]), "/tickets/abc");
    /// assert_eq!(clear.value(), "");
    /// assert_eq!(clear.max_age(), Some(tower_otp::cookie::time::Duration::ZERO));
    /// ```
    pub fn removal_cookie(&self, ticket: &TicketKey, path: &str) -> Cookie<'static> {
        let mut cookie = self.set_cookie(ticket, "", path);
        cookie.make_removal();
        cookie
    }

    /// The value of the first cookie called `name` in the request's `Cookie`
    /// headers, without allocating. Names match exactly (not by prefix);
    /// a value in double quotes is unquoted; an empty value, or one with
    /// characters a cookie value may not hold, is skipped.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::COOKIE};
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append(COOKIE, HeaderValue::from_static("theme=dark; otp-abcx=no"));
    /// headers.append(COOKIE, HeaderValue::from_static("otp-abc=\"t.o.k\""));
    /// assert_eq!(DeviceCookie::find(&headers, "otp-abc"), Some("t.o.k"));
    /// assert_eq!(DeviceCookie::find(&headers, "otp-ab"), None);
    /// ```
    pub fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        Self::values(headers, name.as_bytes()).find_map(as_cookie_value)
    }

    /// Every value of cookies called `name`, in header order. A browser sends
    /// several when cookies with the same name but different paths or
    /// domains exist; a caller may try each.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::COOKIE};
    /// use tower_otp::device::DeviceCookie;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append(COOKIE, HeaderValue::from_static("a=1; a=2"));
    /// assert_eq!(DeviceCookie::find_all(&headers, "a").collect::<Vec<_>>(), ["1", "2"]);
    /// ```
    pub fn find_all<'a>(
        headers: &'a HeaderMap,
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        Self::values(headers, name.as_bytes()).filter_map(as_cookie_value)
    }

    /// The values of the cookies called `name` in the `Cookie` headers, in
    /// order, unchecked: what [`find`](Self::find) and
    /// [`find_all`](Self::find_all) check, and what the layer offers the
    /// token verifier. Allocates nothing.
    ///
    /// The headers are split into pairs at `;` and each pair trimmed; the
    /// name matches exactly; a value in double quotes is unquoted; an empty
    /// value is skipped. The layer offers the values to the device token's
    /// verifier as they are: it refuses anything but base64url and dots (a
    /// narrower set than cookie-octets), so checking the octets here too
    /// would read the token twice.
    ///
    /// Instead of visiting each pair, the scan jumps to the occurrences of
    /// the name's fixed prefix (`otp-` or `__Secure-otp-`) and checks that
    /// each one starts a pair.
    #[inline]
    pub(crate) fn values<'a, 'n>(headers: &'a HeaderMap, name: &'n [u8]) -> Values<'a, 'n> {
        let prefix = if name.starts_with(SECURE_PREFIX.as_bytes()) {
            Some(&*SECURE_FINDER)
        } else if name.starts_with(PLAIN_PREFIX.as_bytes()) {
            Some(&*PLAIN_FINDER)
        } else {
            None
        };
        let mut headers = headers.get_all(COOKIE).iter();
        let header = headers.next().map_or(&[][..], HeaderValue::as_bytes);
        Values {
            headers,
            header,
            from: 0,
            name,
            prefix,
        }
    }
}

/// Finds the device cookie's name prefix in a header at SIMD speed; built
/// once, since building a searcher costs more than one search.
static PLAIN_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(PLAIN_PREFIX));
static SECURE_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(SECURE_PREFIX));

/// The values of the cookies of one name: see [`DeviceCookie::values`].
pub(crate) struct Values<'a, 'n> {
    /// The `Cookie` headers after the one being searched.
    headers: ValueIter<'a, HeaderValue>,
    /// The header being searched, from `from` on.
    header: &'a [u8],
    from: usize,
    name: &'n [u8],
    /// The finder of the name's fixed prefix; none for another name, which
    /// is searched whole.
    prefix: Option<&'static Finder<'static>>,
}

impl<'a> Values<'a, '_> {
    /// The next value in the header being searched.
    #[inline(always)]
    fn scan(&mut self) -> Option<&'a [u8]> {
        let header = self.header;
        loop {
            let rest = &header[self.from..];
            let found = match self.prefix {
                Some(finder) => finder.find(rest),
                None => memchr::memmem::find(rest, self.name),
            }?;
            let at = self.from + found;
            self.from = at + 1;
            // A pair starts at the header's start or after `;` and blanks.
            let before = header[..at].trim_ascii_end();
            if !(before.is_empty() || before.ends_with(b";")) {
                continue;
            }
            let Some(rest) = value_of(&header[at..], self.name) else {
                continue;
            };
            let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
            self.from = header.len() - rest.len() + end;
            let value = unquote(rest[..end].trim_ascii_end());
            if !value.is_empty() {
                return Some(value);
            }
        }
    }
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(value) = self.scan() {
                return Some(value);
            }
            self.header = self.headers.next()?.as_bytes();
            self.from = 0;
        }
    }
}

/// A value [`DeviceCookie::values`] found, if every byte is a cookie-octet.
fn as_cookie_value(value: &[u8]) -> Option<&str> {
    if !octets(value) {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// The pairs of one `Cookie` header, split at `;` (found by SIMD `memchr`:
/// values run to hundreds of bytes) and trimmed.
pub(crate) fn pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b';', header)
        .chain([header.len()])
        .map(move |end| {
            let pair = header[start..end].trim_ascii();
            start = end + 1;
            pair
        })
}

/// The value of `pair` when it is `name=value`, unchecked.
#[inline]
pub(crate) fn value_of<'a>(pair: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    pair.strip_prefix(name)?.strip_prefix(b"=")
}

/// A cookie value without its double quotes, if it has them.
#[inline]
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// A cookie value without its quotes, if it is not empty and every byte is
/// a cookie-octet, so it is also ASCII.
#[inline]
pub(crate) fn cookie_octets(value: &[u8]) -> Option<&[u8]> {
    let value = unquote(value);
    octets(value).then_some(value)
}

/// Whether `value` is not empty and every byte is a cookie-octet (RFC 6265
/// §4.1.1: visible ASCII except `"`, `,`, `;`, `\`).
#[inline]
fn octets(value: &[u8]) -> bool {
    // Branch-free, so the compiler can vectorize it.
    let bad = value.iter().fold(false, |bad, &b| {
        bad | (b.wrapping_sub(0x21) > 0x7e - 0x21) | (b == b'"') | (b == b',') | (b == b'\\')
    });
    !bad && !value.is_empty()
}

/// Whether `path` can be a `Path` attribute as it is: it starts with `/`,
/// is at most 1024 bytes, and holds no `;` (the attribute separator), `,`
/// (which old parsers read as a cookie separator), `"`, `\`, spaces, control
/// or non-ASCII characters. The gate sets no cookie at all on a ticket URL
/// whose cookie path is not one of these.
pub(crate) fn scopable(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

/// A `Path` attribute that holds nothing an attribute cannot hold: a path
/// that is not [`scopable`] becomes `/` (the cookie then reaches more of the
/// site, which is safe because every cookie is bound to its own ticket).
pub(crate) fn safe_path(path: &str) -> &str {
    if scopable(path) { path } else { "/" }
}

/// Every `Set-Cookie` the layer sends, as a header: see [`build`].
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> HeaderValue {
    let cookie = build(name, value, path, max_age, secure);
    HeaderValue::from_str(&cookie.to_string())
        .expect("names are ours, values are cookie-octets and paths are checked")
}

/// The one place the layer's cookies get their attributes: `HttpOnly`,
/// `SameSite=Lax`, `Secure` when `secure`, the path, and `Max-Age` when
/// given (zero removes).
///
/// The layer passes `/` or a ticket's path that is [`scopable`] (a ticket
/// URL whose path is not gets no cookie at all); any other path is written
/// as `/`, never as attributes.
fn build<'c>(
    name: &'c str,
    value: &'c str,
    path: &'c str,
    max_age: Option<Duration>,
    secure: bool,
) -> Cookie<'c> {
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
    cookie
}

/// A device cookie name, held inline (at most 29 bytes).
///
/// ```
/// use tower_otp::TicketKey;
/// use tower_otp::device::DeviceCookie;
///
/// let name = DeviceCookie::new().name(&TicketKey::from_bytes([1; 16]));
/// assert!(name.starts_with("__Secure-otp-"));
/// assert_eq!(format!("{name:?}"), r#""__Secure-otp-AQEBAQEBAQEBAQEB""#);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CookieName {
    buf: [u8; NAME_CAPACITY],
    len: u8,
}

impl CookieName {
    /// The name.
    ///
    /// ```
    /// # use tower_otp::TicketKey;
    /// # use tower_otp::device::DeviceCookie;
    /// let name = DeviceCookie::new().with_secure(false).name(&TicketKey::from_bytes([1; 16]));
    /// assert_eq!(name.as_str(), "otp-AQEBAQEBAQEBAQEB");
    /// ```
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("ASCII")
    }

    /// The name's bytes (no UTF-8 check, for the hot path).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl Deref for CookieName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for CookieName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::KeyRing;
    use crate::{Secret, Timestamp};

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(COOKIE, HeaderValue::from_static(v));
        }
        h
    }

    /// Every value `values` yields for `name`.
    fn offered<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
        DeviceCookie::values(h, name.as_bytes()).collect()
    }

    /// What `find_all` answered when it read every pair of every header
    /// (split at `;`, trimmed): the reference the scan must match.
    fn by_pairs<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        h.get_all(COOKIE)
            .iter()
            .flat_map(|header| pairs(header.as_bytes()))
            .filter_map(|pair| {
                let value = cookie_octets(value_of(pair, name.as_bytes())?)?;
                std::str::from_utf8(value).ok()
            })
            .collect()
    }

    #[test]
    fn values_come_in_order_and_stop_when_taken() {
        let h = headers(&["otp-a=1; otp-a=2", "otp-a=3"]);
        let mut seen = Vec::new();
        let taken = DeviceCookie::values(&h, b"otp-a").find(|v| {
            seen.push(*v);
            *v == b"2"
        });
        assert_eq!(taken, Some(&b"2"[..]));
        assert_eq!(seen, [b"1", b"2"]);
        assert_eq!(offered(&h, "otp-a"), [b"1", b"2", b"3"]);
        let h = headers(&[
            "theme=dark; otp-abcx=no; otp_probe=p1",
            "otp-abc=\"t.o.k\"; otp_csrf=c",
        ]);
        assert_eq!(offered(&h, "otp-abc"), [b"t.o.k"]);
    }

    /// Whether the map repeats a header or not, every `Cookie` header is searched.
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
    /// cookie's name or value, whichever prefix the scan looks for; and the
    /// public finders answer as they did when they read every pair.
    #[test]
    fn the_name_must_start_a_pair() {
        for name in ["otp-abc", "__Secure-otp-abc", "device"] {
            let cases: [(String, &[&[u8]]); 14] = [
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
                (format!("{name}=\"\"v\"\"; {name}=\""), &[b"\"v\"", b"\""]),
                (
                    format!("{name}=a b; {name}=x\\y; {name}=p,q"),
                    &[b"a b", b"x\\y", b"p,q"],
                ),
                (format!(";;{name}=v;;"), &[b"v"]),
                (format!("{name}=v\t;{name}=\tw"), &[b"v", b"\tw"]),
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
                let public: Vec<&str> = DeviceCookie::find_all(&h, name).collect();
                assert_eq!(public, by_pairs(&h, name), "public, {header}");
                assert_eq!(
                    DeviceCookie::find(&h, name),
                    by_pairs(&h, name).first().copied(),
                    "first, {header}"
                );
            }
        }
    }

    #[test]
    fn names_match_exactly_and_empty_values_are_skipped() {
        let h = headers(&["otp-ab=1; otp-abcd=2; otp-abc=; otp-abc=\"\"; otp-abc=ok"]);
        assert_eq!(offered(&h, "otp-abc"), [b"ok"]);
        // Values are the verifier's to refuse, as they came.
        let odd = headers(&["otp-abc=a b; otp-abc=x\\y"]);
        assert_eq!(offered(&odd, "otp-abc"), [&b"a b"[..], b"x\\y"]);
        assert_eq!(DeviceCookie::find(&odd, "otp-abc"), None);
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
            assert!(!scopable(path), "{path}");
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
            assert!(scopable(path), "{path}");
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

    /// The public `Set-Cookie` and the layer's header are one writer's.
    #[test]
    fn the_public_cookie_and_the_layers_header_agree() {
        let ticket = TicketKey::from_bytes([3; 16]);
        for secure in [true, false] {
            let c = DeviceCookie::new().with_secure(secure);
            let public = c.set_cookie(&ticket, "a.b.c", "/t/1").to_string();
            let header = c.header(&ticket, "a.b.c", "/t/1", c.max_age());
            assert_eq!(header.to_str().unwrap(), public);
        }
    }

    #[test]
    fn find_cases() {
        let cases: &[(&[&'static str], Option<&str>)] = &[
            (&["otp-a=1"], Some("1")),
            (&["x=0; otp-a=1; y=2"], Some("1")),
            (&["x=0;otp-a=1"], Some("1")),
            (&["x=0;   otp-a=1  ;y=2"], Some("1")),
            (&["x=0", "otp-a=1"], Some("1")),
            (&["otp-a=1", "otp-a=2"], Some("1")),
            (&["otp-ab=1"], None),
            (&["xotp-a=1"], None),
            (&["otp-a"], None),
            (&["otp-a="], None),
            (&["otp-a=; otp-a=2"], Some("2")),
            (&["otp-a=\"1.2\""], Some("1.2")),
            (&["otp-a=\"1"], None),
            (&["otp-a=\""], None),
            (&["otp-a=1\\2"], None),
            (&["otp-a=1,2"], None),
            (&["otp-a=1 2"], None),
            (&["otp-a =1"], None),
            (&[""], None),
            (&[], None),
        ];
        for (values, want) in cases {
            assert_eq!(
                DeviceCookie::find(&headers(values), "otp-a"),
                *want,
                "{values:?}"
            );
        }
        // Non-UTF-8 bytes elsewhere in the header do not hide our cookie.
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_bytes(b"x=\xff\xfe; otp-a=ok").unwrap(),
        );
        assert_eq!(DeviceCookie::find(&h, "otp-a"), Some("ok"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"otp-a=\xff").unwrap());
        assert_eq!(DeviceCookie::find(&h, "otp-a"), None);
    }

    #[test]
    fn attributes() {
        let ticket = TicketKey::from_bytes([3; 16]);
        let set = DeviceCookie::new().set_cookie(&ticket, "a.b.c", "/tickets/abc");
        let parsed = Cookie::parse(set.to_string()).unwrap();
        assert!(parsed.name().starts_with("__Secure-otp-"));
        assert_eq!(parsed.value(), "a.b.c");
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_eq!(parsed.path(), Some("/tickets/abc"));
        assert_eq!(parsed.domain(), None);
        assert_eq!(parsed.max_age(), Some(cookie::time::Duration::days(30)));

        let dev = DeviceCookie::new().with_secure(false);
        let parsed = Cookie::parse(dev.set_cookie(&ticket, "a.b.c", "/t/x").to_string()).unwrap();
        assert!(parsed.name().starts_with("otp-"));
        assert_eq!(parsed.secure(), None);
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_eq!(parsed.http_only(), Some(true));
    }

    #[test]
    fn bad_paths_fall_back_to_root() {
        let ticket = TicketKey::from_bytes([3; 16]);
        let long = format!("/{}", "a".repeat(1024));
        for bad in ["", "tickets", "/a;b", "/a b", "/a\u{e9}", "/a\nb", &long] {
            let c = DeviceCookie::new().set_cookie(&ticket, "x", bad);
            assert_eq!(c.path(), Some("/"), "{bad:?}");
        }
    }

    #[test]
    fn removal_matches_name_and_path() {
        let ticket = TicketKey::from_bytes([3; 16]);
        let c = DeviceCookie::new();
        let set = c.set_cookie(&ticket, "x", "/t/1");
        let clear = Cookie::parse(c.removal_cookie(&ticket, "/t/1").to_string()).unwrap();
        assert_eq!(clear.name(), set.name());
        assert_eq!(clear.path(), Some("/t/1"));
        assert_eq!(clear.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(clear.secure(), Some(true));
    }

    #[test]
    fn max_age_follows_tokens() {
        let tokens = DeviceTokens::new(KeyRing::derived(&Secret::random()))
            .with_lifetime(Duration::from_secs(400 * 24 * 3600))
            .unwrap();
        let c = DeviceCookie::for_tokens(&tokens);
        let ticket = TicketKey::from_bytes([3; 16]);
        let issued = tokens.issue(&ticket, 0, Timestamp::from_millis(0));
        let set = c.set_cookie(&ticket, &issued.token, "/");
        let max_age = set.max_age().unwrap().whole_seconds() as u64;
        assert_eq!(max_age, 400 * 24 * 3600);
        assert!(max_age <= issued.expires_at.as_secs());
        assert!(
            DeviceCookie::new()
                .with_max_age(Duration::from_millis(10))
                .is_err()
        );
    }

    #[test]
    fn names_differ_per_ticket() {
        let c = DeviceCookie::new();
        let a = c.name(&TicketKey::from_bytes([1; 16]));
        let b = c.name(&TicketKey::from_bytes([2; 16]));
        assert_ne!(a, b);
        assert_eq!(a.len(), 29);
        assert_eq!(
            c.with_secure(false)
                .name(&TicketKey::from_bytes([1; 16]))
                .len(),
            20
        );
    }
}
