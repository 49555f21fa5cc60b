//! Refusing cross-site POSTs: Fetch Metadata first, then `Origin`.

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

/// Whether a POST may proceed, judged from its headers (checklist 9.2):
///
/// - `Sec-Fetch-Site`: `same-origin` and `none` pass, `same-site` passes only
///   when `trust_same_site`, anything else is refused;
/// - without it, `Origin`: absent passes (the CSRF token still guards forms),
///   `null` is refused, and any other origin passes only when it is listed in
///   `allowed`, or when it is the site's own: the public origin when the
///   operator named one (`Host` and `X-Forwarded-Host` are then ignored:
///   a proxy may rewrite the one, a client may send the other), else the
///   request's, when its scheme is the one the request `arrived` over and
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
    if let Some(public) = arrived.public {
        return public.eq_ignore_ascii_case(origin);
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
    /// The site's public origin, when the operator named one: the only
    /// origin of the site's own pages.
    pub(crate) public: Option<&'a str>,
}

/// Whether a refused POST looks like one from the site's own page behind a
/// proxy that rewrote `Host`: its `Origin` names the `X-Forwarded-Host`.
/// Said in the log, so the operator learns to name the public origin.
pub(crate) fn refused_behind_a_host_rewrite(headers: &HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = value("x-forwarded-host").and_then(|h| h.split(',').next());
    let origin_host = value(ORIGIN.as_str()).and_then(|o| o.split_once("://"));
    matches!(
        (forwarded, origin_host),
        (Some(forwarded), Some((_, host))) if forwarded.trim().eq_ignore_ascii_case(host)
    )
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
        public: None,
    };

    #[test]
    fn http2_requests_use_the_uri_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, "https://tickets.example".parse().unwrap());
        let at = |authority| Arrival {
            scheme: "https",
            authority,
            public: None,
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

    /// `https://host` is another origin than `http://host`.
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
                public: None,
            };
            assert_eq!(
                post_allowed(&headers, &arrived, &[], false),
                want,
                "{origin} over {scheme}"
            );
        }
    }

    /// With a public origin, `Origin` is compared with it alone: a proxy
    /// that rewrites `Host` (nginx's default sends `Host: 127.0.0.1:3000`)
    /// changes nothing, and neither `Host` nor `X-Forwarded-Host`, which
    /// a client can set, makes another origin the site's own.
    #[test]
    fn a_public_origin_is_the_only_own_origin() {
        const PUBLIC: &str = "https://tickets.example";
        type Case = (&'static str, &'static [(&'static str, &'static str)], bool);
        let cases: &[Case] = &[
            (
                "behind nginx's Host rewrite",
                &[("host", "127.0.0.1:3000")],
                true,
            ),
            (
                "Host rewritten, X-Forwarded-Host kept",
                &[
                    ("host", "127.0.0.1:3000"),
                    ("x-forwarded-host", "tickets.example"),
                ],
                true,
            ),
            ("no Host at all", &[], true),
            (
                "the public host as Host",
                &[("host", "tickets.example")],
                true,
            ),
            (
                "an origin that spoofs Host",
                &[("host", "evil.example"), ("origin", "https://evil.example")],
                false,
            ),
            (
                "an origin that spoofs X-Forwarded-Host",
                &[
                    ("host", "127.0.0.1:3000"),
                    ("x-forwarded-host", "evil.example"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (
                "the proxy's upstream as origin",
                &[
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://127.0.0.1:3000"),
                ],
                false,
            ),
            (
                "the public host over http",
                &[
                    ("host", "tickets.example"),
                    ("origin", "http://tickets.example"),
                ],
                false,
            ),
            (
                "the public host on another port",
                &[("origin", "https://tickets.example:8443")],
                false,
            ),
            (
                "a sibling subdomain",
                &[("origin", "https://www.tickets.example")],
                false,
            ),
            (
                "a longer host",
                &[("origin", "https://tickets.example.evil")],
                false,
            ),
            (
                "a path after the origin",
                &[("origin", "https://tickets.example/x")],
                false,
            ),
            ("upper case", &[("origin", "HTTPS://TICKETS.EXAMPLE")], true),
            ("null", &[("origin", "null")], false),
        ];
        for (name, headers, want) in cases {
            let mut map = HeaderMap::new();
            map.insert(ORIGIN, PUBLIC.parse().unwrap());
            for (k, v) in *headers {
                map.insert(*k, v.parse().unwrap());
            }
            let arrived = Arrival {
                scheme: "https",
                authority: None,
                public: Some(PUBLIC),
            };
            assert_eq!(post_allowed(&map, &arrived, &[], false), *want, "{name}");
        }
        // The allow-list still adds origins; Fetch Metadata still decides first.
        let mut map = HeaderMap::new();
        map.insert(ORIGIN, "https://app.example".parse().unwrap());
        let arrived = Arrival {
            scheme: "https",
            authority: None,
            public: Some(PUBLIC),
        };
        assert!(!post_allowed(&map, &arrived, &[], false));
        assert!(post_allowed(
            &map,
            &arrived,
            &["https://app.example".to_owned()],
            false
        ));
        map.insert("sec-fetch-site", "cross-site".parse().unwrap());
        map.insert(ORIGIN, PUBLIC.parse().unwrap());
        assert!(!post_allowed(&map, &arrived, &[], false));
    }

    /// Without a public origin, a proxy's `Host` rewrite refuses the
    /// site's own POSTs: the log then names the setting that fixes it.
    #[test]
    fn a_host_rewrite_is_recognised_for_the_log() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (
                &[
                    ("x-forwarded-host", "tickets.example"),
                    ("origin", "https://tickets.example"),
                ],
                true,
            ),
            (
                &[
                    ("x-forwarded-host", "Tickets.Example, proxy.internal"),
                    ("origin", "https://tickets.example"),
                ],
                true,
            ),
            (
                &[
                    ("x-forwarded-host", "tickets.example"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (&[("origin", "https://tickets.example")], false),
            (&[("x-forwarded-host", "tickets.example")], false),
            (
                &[("x-forwarded-host", "tickets.example"), ("origin", "null")],
                false,
            ),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.insert(*k, v.parse().unwrap());
            }
            assert_eq!(refused_behind_a_host_rewrite(&map), *want, "{headers:?}");
            // And without the setting, such a POST is indeed refused.
            if *want {
                map.insert(HOST, "127.0.0.1:3000".parse().unwrap());
                assert!(!post_allowed(&map, &HTTPS, &[], false), "{headers:?}");
            }
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
