//! Where the redirect to HTTPS goes.

use bytes::Bytes;
use http::header::HOST;
use http::request::Parts;
use http::{Response, StatusCode};

use super::request::wants_json;
use super::respond;
use crate::public_origin::PublicOrigin;

/// The answer to a request that arrived over plain HTTP behind a trusted
/// proxy: 308 to the same URL over HTTPS, or 400 without a usable host.
/// No cookie is read or set.
pub(crate) fn upgrade(parts: &Parts, public: Option<&PublicOrigin>) -> Response<Bytes> {
    let json = wants_json(&parts.headers);
    match https_url(parts, public) {
        Some(url) => respond::redirect_to_https(&url, json),
        None => respond::plain(StatusCode::BAD_REQUEST, "bad_request", "bad request", json),
    }
}

/// The HTTPS URL of the request: under the public origin when the operator
/// named one (`public`), else `https://` and the request's `Host`; `None`
/// without a usable host.
fn https_url(parts: &Parts, public: Option<&PublicOrigin>) -> Option<String> {
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
