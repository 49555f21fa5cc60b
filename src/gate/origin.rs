//! Refusing cross-site POSTs: Fetch Metadata first, then `Origin`.

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

/// Whether a POST may proceed, judged from its headers (checklist 9.2):
///
/// - `Sec-Fetch-Site`: `same-origin` and `none` pass, `same-site` passes only
///   when `trust_same_site`, anything else is refused;
/// - without it, `Origin`: absent passes (the CSRF token still guards forms),
///   `null` is refused, and any other origin passes only when it is listed in
///   `allowed`, or when its scheme is the one the request `arrived` over and
///   its host equals the request's `Host` (or, without one, the URI's
///   `authority`): `https://host` is not the origin of `http://host`.
pub(crate) fn post_allowed(
    headers: &HeaderMap,
    arrived: &Arrival<'_>,
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
    let Some((scheme, origin_host)) = origin.split_once("://") else {
        return false;
    };
    // HTTP/1.1 names the host in `Host`; HTTP/2 in the URI's authority.
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(arrived.authority);
    scheme.eq_ignore_ascii_case(arrived.scheme)
        && host.is_some_and(|host| {
            !origin_host.contains('/') && host.eq_ignore_ascii_case(origin_host)
        })
}

/// How a request arrived, as far as its origin is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    /// `http` or `https`: the URI's scheme when it has one (HTTP/2), else
    /// what a trusted proxy says, else what the cookie setting implies.
    pub(crate) scheme: &'a str,
    /// The URI's authority (HTTP/2's `:authority`).
    pub(crate) authority: Option<&'a str>,
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
                    post_allowed(&headers, &HTTPS, &[], false),
                    want,
                    "site {site:?} origin {origin:?}"
                );
            }
        }
    }

    const HTTPS: Arrival<'static> = Arrival {
        scheme: "https",
        authority: None,
    };

    #[test]
    fn http2_requests_use_the_uri_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, "https://tickets.example".parse().unwrap());
        let at = |authority| Arrival {
            scheme: "https",
            authority,
        };
        assert!(post_allowed(
            &headers,
            &at(Some("tickets.example")),
            &[],
            false
        ));
        assert!(!post_allowed(
            &headers,
            &at(Some("other.example")),
            &[],
            false
        ));
        assert!(!post_allowed(&headers, &at(None), &[], false));
    }

    /// Issue 11, finding 7: `https://host` is another origin than `http://host`.
    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let cases = [
            ("https://tickets.example", "https", true),
            ("HTTPS://tickets.example", "https", true),
            ("http://tickets.example", "http", true),
            ("https://tickets.example", "http", false),
            ("http://tickets.example", "https", false),
            ("ftp://tickets.example", "https", false),
        ];
        for (origin, scheme, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, "tickets.example".parse().unwrap());
            headers.insert(ORIGIN, origin.parse().unwrap());
            let arrived = Arrival {
                scheme,
                authority: None,
            };
            assert_eq!(
                post_allowed(&headers, &arrived, &[], false),
                want,
                "{origin} over {scheme}"
            );
        }
    }

    #[test]
    fn same_site_and_allow_list_are_opt_in() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(!post_allowed(&headers, &HTTPS, &[], false));
        assert!(post_allowed(&headers, &HTTPS, &[], true));
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "api.example".parse().unwrap());
        headers.insert(ORIGIN, "https://app.example".parse().unwrap());
        assert!(!post_allowed(&headers, &HTTPS, &[], false));
        assert!(post_allowed(
            &headers,
            &HTTPS,
            &["https://app.example".to_owned()],
            false
        ));
        headers.insert(ORIGIN, "https://api.example/evil".parse().unwrap());
        assert!(!post_allowed(&headers, &HTTPS, &[], false));
    }
}
