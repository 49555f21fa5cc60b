//! The scheme a trusted reverse proxy reports.

use http::HeaderMap;

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
}
