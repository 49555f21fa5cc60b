//! The cookie jar of a [`TestBrowser`](crate::testing::TestBrowser): RFC 6265 storage
//! and path matching, enough to behave as a browser does with the gate.

use cookie::Cookie;

use crate::clock::Timestamp;

/// One stored cookie.
#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    path: String,
    secure: bool,
    /// `None`: a session cookie.
    expires: Option<Timestamp>,
}

/// Cookies by name and path.
#[derive(Debug, Clone, Default)]
pub(super) struct Jar {
    cookies: Vec<Stored>,
}

impl Jar {
    /// Stores (or deletes) what one `Set-Cookie` says, as a browser on a
    /// secure (`https`) or plain origin would, for a response to `request_path`.
    pub(super) fn store(
        &mut self,
        set_cookie: &str,
        request_path: &str,
        secure_origin: bool,
        now: Timestamp,
    ) {
        let Ok(cookie) = Cookie::parse(set_cookie) else {
            return;
        };
        let secure = cookie.secure() == Some(true);
        let path = match cookie.path() {
            Some(path) if path.starts_with('/') => path.to_owned(),
            _ => default_path(request_path),
        };
        let name = cookie.name();
        // RFC 6265bis §4.1.3: the prefixes bind the attributes.
        let prefixed_ok = if name.starts_with("__Host-") {
            secure && path == "/" && cookie.domain().is_none()
        } else {
            !name.starts_with("__Secure-") || secure
        };
        if (secure && !secure_origin) || !prefixed_ok {
            return;
        }
        self.cookies.retain(|c| !(c.name == name && c.path == path));
        let expires = match cookie.max_age() {
            Some(age) if age.is_positive() => {
                let millis = u64::try_from(age.whole_milliseconds()).unwrap_or(u64::MAX / 4);
                Some(Timestamp::from_millis(
                    now.as_millis().saturating_add(millis),
                ))
            }
            Some(_) => return, // Max-Age=0 (or less): deleted.
            None => None,
        };
        self.cookies.push(Stored {
            name: name.to_owned(),
            value: cookie.value().to_owned(),
            path,
            secure,
            expires,
        });
    }

    fn matching(&self, path: &str, secure_origin: bool, now: Timestamp) -> Vec<&Stored> {
        let mut matching: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .filter(|c| secure_origin || !c.secure)
            .filter(|c| c.expires.is_none_or(|at| at > now))
            .collect();
        // Longer paths first (RFC 6265 §5.4).
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        matching
    }

    /// The `Cookie` header for a request to `path`.
    pub(super) fn header(&self, path: &str, secure_origin: bool, now: Timestamp) -> Option<String> {
        let pairs: Vec<String> = self
            .matching(path, secure_origin, now)
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// The value of `name` a request to `path` would carry.
    pub(super) fn get(
        &self,
        name: &str,
        path: &str,
        secure_origin: bool,
        now: Timestamp,
    ) -> Option<&str> {
        self.matching(path, secure_origin, now)
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }

    /// The names stored, for `Debug` (never the values).
    pub(super) fn names(&self) -> Vec<&str> {
        self.cookies.iter().map(|c| c.name.as_str()).collect()
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4 default-path: the request path up to its last `/`.
fn default_path(request: &str) -> String {
    match request.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(at) => request[..at].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_000_000);

    #[test]
    fn paths_match_as_in_rfc_6265() {
        for (request, cookie, want) in [
            ("/tickets/abc", "/tickets/abc", true),
            ("/tickets/abc/pdf", "/tickets/abc", true),
            ("/tickets/abcd", "/tickets/abc", false),
            ("/tickets/abc", "/", true),
            ("/tickets/abc", "/tickets/", true),
            ("/tickets", "/tickets/abc", false),
        ] {
            assert_eq!(path_matches(request, cookie), want, "{request} vs {cookie}");
        }
        assert_eq!(default_path("/tickets/abc"), "/tickets");
        assert_eq!(default_path("/abc"), "/");
    }

    #[test]
    fn secure_prefixes_max_age_and_deletion() {
        let mut jar = Jar::default();
        jar.store("a=1; Path=/t; Max-Age=10", "/t/x", false, NOW);
        jar.store("b=2; Secure; Path=/", "/", false, NOW); // refused over http
        jar.store("__Secure-c=3; Path=/", "/", true, NOW); // refused: no Secure
        jar.store("__Host-d=4; Secure; Path=/t", "/", true, NOW); // refused: Path is not /
        jar.store("__Host-e=5; Secure; Path=/", "/", true, NOW);
        assert_eq!(
            jar.header("/t/x", true, NOW).as_deref(),
            Some("a=1; __Host-e=5")
        );
        assert_eq!(jar.header("/t/x", false, NOW).as_deref(), Some("a=1"));
        assert_eq!(
            jar.header("/other", true, NOW).as_deref(),
            Some("__Host-e=5")
        );
        let later = Timestamp::from_millis(NOW.as_millis() + 10_000);
        assert_eq!(jar.get("a", "/t", true, later), None, "expired by Max-Age");
        jar.store("__Host-e=; Secure; Path=/; Max-Age=0", "/", true, NOW);
        assert_eq!(jar.header("/", true, NOW), None, "deleted");
    }
}
