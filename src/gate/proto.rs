//! The scheme a trusted reverse proxy reports, and the redirect to HTTPS.

use http::HeaderMap;
use http::header::HOST;
use http::request::Parts;

use super::public_origin::PublicOrigin;

/// Whether the proxy says the request reached it over HTTPS: every scheme
/// in `X-Forwarded-Proto` (each comma-separated value) and in `Forwarded`
/// (each `proto=`) is `https`, and there is at least one. No header, or one
/// without a scheme, is not HTTPS: a client that reaches the application's
/// port directly, past the proxy, sends none. A client can add a header the
/// proxy does not overwrite, but a value it adds can only make the request
/// count as plain HTTP (answered with the redirect), never as HTTPS.
pub(crate) fn arrived_over_https(headers: &HeaderMap) -> bool {
    let mut said = false;
    let mut all_https = true;
    let mut hear = |proto: &str| {
        said = true;
        all_https &= proto.trim().trim_matches('"').eq_ignore_ascii_case("https");
    };
    for value in headers.get_all("x-forwarded-proto") {
        match value.to_str() {
            Ok(value) => value.split(',').for_each(&mut hear),
            Err(_) => hear(""),
        }
    }
    for value in headers.get_all(http::header::FORWARDED) {
        let Ok(value) = value.to_str() else {
            hear("");
            continue;
        };
        for pair in value.split([',', ';']) {
            let Some((name, proto)) = pair.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("proto") {
                hear(proto);
            }
        }
    }
    said && all_https
}

/// The HTTPS URL of the request: under the public origin when the operator
/// named one (`public`), else `https://` and the request's `Host`; `None`
/// without a usable host.
pub(crate) fn https_url(parts: &Parts, public: Option<&PublicOrigin>) -> Option<String> {
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    // The path the browser asked for, with what a router in front stripped.
    let stripped = super::request::stripped_prefix(parts);
    if let Some(public) = public.filter(|p| p.is_https()) {
        return Some(format!("{}{stripped}{path}", public.as_str()));
    }
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then(|| format!("https://{host}{stripped}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under a trusted proxy, a request counts as HTTPS only when every
    /// scheme the headers name is `https`: none at all (a client on the
    /// application's own port) is plain HTTP.
    #[test]
    fn forwarded_proto_table() {
        type Case = (&'static str, &'static [(&'static str, &'static str)], bool);
        let cases: &[Case] = &[
            ("no header: straight to the app's port", &[], false),
            ("http", &[("x-forwarded-proto", "http")], false),
            ("HTTP", &[("x-forwarded-proto", "HTTP")], false),
            ("https", &[("x-forwarded-proto", "https")], true),
            ("HTTPS", &[("x-forwarded-proto", "HTTPS")], true),
            ("https, spaced", &[("x-forwarded-proto", " https ")], true),
            ("empty", &[("x-forwarded-proto", "")], false),
            ("another scheme", &[("x-forwarded-proto", "wss")], false),
            (
                "http then https",
                &[("x-forwarded-proto", "http, https")],
                false,
            ),
            (
                "https then http",
                &[("x-forwarded-proto", "https, http")],
                false,
            ),
            ("https twice", &[("x-forwarded-proto", "https,https")], true),
            (
                "Forwarded http",
                &[("forwarded", "for=1.2.3.4;proto=http")],
                false,
            ),
            (
                "Forwarded https",
                &[("forwarded", "for=1.2.3.4;proto=https")],
                true,
            ),
            (
                "Forwarded quoted",
                &[("forwarded", "proto=\"https\";host=x")],
                true,
            ),
            (
                "Forwarded upper case",
                &[("forwarded", "Proto=HTTPS")],
                true,
            ),
            (
                "Forwarded without proto",
                &[("forwarded", "for=1.2.3.4")],
                false,
            ),
            (
                "Forwarded, two hops",
                &[("forwarded", "proto=https, for=10.0.0.1;proto=https")],
                true,
            ),
            (
                "Forwarded, a hop on http",
                &[("forwarded", "proto=https, proto=http")],
                false,
            ),
            (
                "Forwarded, a hop says nothing",
                &[("forwarded", "proto=https, for=10.0.0.1")],
                true,
            ),
            (
                "both https",
                &[("x-forwarded-proto", "https"), ("forwarded", "proto=https")],
                true,
            ),
            (
                "a client's Forwarded http beside the proxy's https",
                &[("x-forwarded-proto", "https"), ("forwarded", "proto=http")],
                false,
            ),
            (
                "a client's X-Forwarded-Proto http beside the proxy's Forwarded",
                &[("x-forwarded-proto", "http"), ("forwarded", "proto=https")],
                false,
            ),
            (
                "Forwarded without proto beside https",
                &[("x-forwarded-proto", "https"), ("forwarded", "for=1.2.3.4")],
                true,
            ),
        ];
        for (name, headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.insert(*k, v.parse().unwrap());
            }
            assert_eq!(arrived_over_https(&map), *want, "{name}");
        }
        // A header repeated: every line counts.
        let mut map = HeaderMap::new();
        map.append("x-forwarded-proto", "https".parse().unwrap());
        map.append("x-forwarded-proto", "http".parse().unwrap());
        assert!(!arrived_over_https(&map));
        let opaque = http::HeaderValue::from_bytes(b"https\xff").unwrap();
        let mut map = HeaderMap::new();
        map.insert("x-forwarded-proto", opaque);
        assert!(!arrived_over_https(&map), "a value that is not text");
    }

    #[test]
    fn https_urls_use_the_host_and_refuse_odd_ones() {
        let parts = |host: &str| {
            http::Request::get("/tickets/a?x=1")
                .header(HOST, host)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            https_url(&parts("tickets.example"), None).as_deref(),
            Some("https://tickets.example/tickets/a?x=1")
        );
        assert_eq!(https_url(&parts("evil.example/@x"), None), None);
        assert_eq!(https_url(&parts(""), None), None);
    }

    /// With a public origin, the redirect goes there, whatever `Host` the
    /// proxy sent or a client made up; an `http://` public origin is not
    /// an HTTPS address, so the request's own host is used.
    #[test]
    fn https_urls_go_to_the_public_origin() {
        let public = PublicOrigin::parse("https://tickets.example:8443").unwrap();
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (
                Some("127.0.0.1:3000"),
                Some("https://tickets.example:8443/tickets/a?x=1"),
            ),
            (
                Some("evil.example"),
                Some("https://tickets.example:8443/tickets/a?x=1"),
            ),
            (
                Some("evil.example/@x"),
                Some("https://tickets.example:8443/tickets/a?x=1"),
            ),
            (None, Some("https://tickets.example:8443/tickets/a?x=1")),
        ];
        for (host, want) in cases {
            let mut request = http::Request::get("/tickets/a?x=1");
            if let Some(host) = host {
                request = request.header(HOST, *host);
            }
            let parts = request.body(()).unwrap().into_parts().0;
            assert_eq!(
                https_url(&parts, Some(&public)).as_deref(),
                *want,
                "{host:?}"
            );
        }
        let plain = PublicOrigin::parse("http://localhost:8080").unwrap();
        let parts = http::Request::get("/t")
            .header(HOST, "tickets.example")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(
            https_url(&parts, Some(&plain)).as_deref(),
            Some("https://tickets.example/t")
        );
    }

    /// Inside a nested router the layer sees the path without the nest's
    /// prefix; the redirect goes to the URL the browser asked for.
    #[cfg(feature = "axum")]
    #[test]
    fn https_urls_keep_what_a_nest_stripped() {
        let mut request = http::Request::get("/tickets/a?x=1")
            .header(HOST, "tickets.example")
            .body(())
            .unwrap();
        let asked: http::Uri = "/api/v1/tickets/a?x=1".parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::OriginalUri(asked));
        let parts = request.into_parts().0;
        assert_eq!(
            https_url(&parts, None).as_deref(),
            Some("https://tickets.example/api/v1/tickets/a?x=1")
        );
        let public = PublicOrigin::parse("https://tickets.example").unwrap();
        assert_eq!(
            https_url(&parts, Some(&public)).as_deref(),
            Some("https://tickets.example/api/v1/tickets/a?x=1")
        );
    }
}
