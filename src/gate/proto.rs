//! The scheme a trusted reverse proxy reports, and the redirect to HTTPS.

use http::HeaderMap;
use http::header::HOST;
use http::request::Parts;

/// Whether the proxy says the request arrived over plain HTTP: the first
/// `X-Forwarded-Proto` value, else the first `proto=` of `Forwarded`.
pub(crate) fn arrived_over_http(headers: &HeaderMap) -> bool {
    let first = |value: &str| {
        value
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    if let Some(proto) = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        return first(proto) == "http";
    }
    headers
        .get(http::header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .map(first)
        .and_then(|element| {
            element.split(';').find_map(|pair| {
                pair.trim()
                    .strip_prefix("proto=")
                    .map(|p| p.trim_matches('"').to_owned())
            })
        })
        .is_some_and(|proto| proto == "http")
}

/// `https://host/path?query` for the request, or `None` without a usable host.
pub(crate) fn https_url(parts: &Parts) -> Option<String> {
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    // The path the browser asked for, with what a router in front stripped.
    let stripped = super::request::stripped_prefix(parts);
    valid.then(|| format!("https://{host}{stripped}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_proto_table() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], false),
            (&[("x-forwarded-proto", "http")], true),
            (&[("x-forwarded-proto", "HTTP")], true),
            (&[("x-forwarded-proto", "https")], false),
            (&[("x-forwarded-proto", "http, https")], true),
            (&[("forwarded", "for=1.2.3.4;proto=http")], true),
            (&[("forwarded", "proto=\"https\";host=x")], false),
            (
                &[("x-forwarded-proto", "https"), ("forwarded", "proto=http")],
                false,
            ),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.insert(*k, v.parse().unwrap());
            }
            assert_eq!(arrived_over_http(&map), *want, "{headers:?}");
        }
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
            https_url(&parts("tickets.example")).as_deref(),
            Some("https://tickets.example/tickets/a?x=1")
        );
        assert_eq!(https_url(&parts("evil.example/@x")), None);
        assert_eq!(https_url(&parts("")), None);
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
        assert_eq!(
            https_url(&request.into_parts().0).as_deref(),
            Some("https://tickets.example/api/v1/tickets/a?x=1")
        );
    }
}
