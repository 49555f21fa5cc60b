//! Refusing cross-site POSTs: Fetch Metadata first, then `Origin`.

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

/// Whether a POST may proceed, judged from its headers (checklist 9.2):
///
/// - `Sec-Fetch-Site`: `same-origin` and `none` pass, `same-site` passes only
///   when `trust_same_site`, anything else is refused;
/// - without it, `Origin`: absent passes (the CSRF token still guards forms),
///   `null` is refused, and any other origin passes only when its host equals
///   the request's `Host` (or, without one, the URI's `authority`) or it is
///   listed in `allowed`.
pub(crate) fn post_allowed(
    headers: &HeaderMap,
    uri_authority: Option<&str>,
    allowed: &[String],
    trust_same_site: bool,
) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => true,
            b"same-site" => trust_same_site,
            _ => false,
        };
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((_scheme, origin_host)) = origin.split_once("://") else {
        return false;
    };
    // HTTP/1.1 names the host in `Host`; HTTP/2 in the URI's authority.
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(uri_authority);
    host.is_some_and(|host| !origin_host.contains('/') && host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Sec-Fetch-Site × Origin matrix (checklist 9.2).
    #[test]
    fn fetch_metadata_and_origin_matrix() {
        let site_values = [
            None,
            Some("same-origin"),
            Some("same-site"),
            Some("cross-site"),
            Some("none"),
            Some("bogus"),
        ];
        let origins = [
            None,
            Some("https://tickets.example"),
            Some("https://evil.example"),
            Some("null"),
        ];
        for site in site_values {
            for origin in origins {
                let mut headers = HeaderMap::new();
                headers.insert(HOST, "tickets.example".parse().unwrap());
                if let Some(site) = site {
                    headers.insert("sec-fetch-site", site.parse().unwrap());
                }
                if let Some(origin) = origin {
                    headers.insert(ORIGIN, origin.parse().unwrap());
                }
                let want = match site {
                    Some("same-origin" | "none") => true,
                    Some(_) => false,
                    None => matches!(origin, None | Some("https://tickets.example")),
                };
                assert_eq!(
                    post_allowed(&headers, None, &[], false),
                    want,
                    "site {site:?} origin {origin:?}"
                );
            }
        }
    }

    #[test]
    fn http2_requests_use_the_uri_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, "https://tickets.example".parse().unwrap());
        assert!(post_allowed(&headers, Some("tickets.example"), &[], false));
        assert!(!post_allowed(&headers, Some("other.example"), &[], false));
        assert!(!post_allowed(&headers, None, &[], false));
    }

    #[test]
    fn same_site_and_allow_list_are_opt_in() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(!post_allowed(&headers, None, &[], false));
        assert!(post_allowed(&headers, None, &[], true));
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "api.example".parse().unwrap());
        headers.insert(ORIGIN, "https://app.example".parse().unwrap());
        assert!(!post_allowed(&headers, None, &[], false));
        assert!(post_allowed(
            &headers,
            None,
            &["https://app.example".to_owned()],
            false
        ));
        headers.insert(ORIGIN, "https://api.example/evil".parse().unwrap());
        assert!(!post_allowed(&headers, None, &[], false));
    }
}
