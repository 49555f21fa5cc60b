//! [`GateRequest`]: the head of a request the gate answers, read once into a
//! plain value that the renderers and the action take by reference.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use rand::RngCore;

use super::cookies::Jar;
use super::{csrf, lang, origin};
use crate::client_address;
use crate::config::Config;
use crate::decision::Verb;
use crate::device::scopable;
use crate::locale::Locale;
use crate::ticket::{TicketId, TicketKey, TicketMatch};

/// The query pair that marks the request following the probe's redirect.
const PROBE_MARK: &str = "otp_probe=1";

/// What a POST body claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyType {
    Form,
    Json,
    Other,
}

/// Everything the gate needs from a request head.
#[derive(Debug)]
pub(crate) struct GateRequest {
    pub(crate) ticket: TicketId,
    pub(crate) key: TicketKey,
    /// The ticket is a family's seat gated as its own (handed to a
    /// companion): its codes go to its binding or nowhere.
    pub(crate) bound_only: bool,
    /// The `Path` of the cookies this ticket's pages set: always
    /// [`scopable`].
    pub(crate) cookie_path: String,
    pub(crate) prefetch: bool,
    /// Answers in JSON (`Accept` or `Content-Type` says so).
    pub(crate) json: bool,
    pub(crate) body_type: BodyType,
    pub(crate) content_length: Option<u64>,
    /// The request's own path and query (without the probe's mark): form
    /// action and redirect target.
    pub(crate) url: String,
    /// The length of the path in `url`.
    path_len: usize,
    pub(crate) locale: Locale,
    /// The language chosen by `?otp_lang=`, to remember in a cookie.
    pub(crate) lang_choice: Option<Locale>,
    /// The browser's CSRF cookie, when well formed.
    pub(crate) csrf_cookie: Option<String>,
    /// A CSRF cookie to set (a page-viewing browser without one).
    pub(crate) new_csrf: Option<String>,
    /// The browser returned this ticket's first-device probe.
    pub(crate) probe: bool,
    /// The URL carried the probe's mark (`otp_probe=1`; `url` is without it).
    pub(crate) probe_marked: bool,
    /// Fetch Metadata and `Origin` allow a POST (checklist 9.2).
    pub(crate) same_origin: bool,
    /// The application's hint of which ticket this is.
    pub(crate) hint: Option<String>,
    /// The CSP nonce of this response.
    pub(crate) nonce: String,
    /// The client's address ([`Config::client_address`]), read for POSTs
    /// only: the only requests that send a code. `None` when not known.
    pub(crate) client: Option<IpAddr>,
}

impl GateRequest {
    /// Reads the head once; `jar` holds the gate's own cookies
    /// ([`jar`](super::cookies::jar)).
    /// `None` when the ticket's cookie path cannot be a cookie's `Path`
    /// ([`scopable`]): the gate sets no cookie on such a URL, since the only
    /// scope left would be the whole site.
    pub(crate) fn read(
        config: &Config,
        parts: &Parts,
        found: &TicketMatch,
        key: TicketKey,
        jar: &Jar<'_>,
    ) -> Option<Self> {
        let headers = &parts.headers;
        let query = parts.uri.query();
        let verb = Verb::of(&parts.method);
        let prefetch = is_prefetch(headers);
        let body_type = match media_type(headers) {
            Some(t) if t.eq_ignore_ascii_case("application/json") => BodyType::Json,
            Some(t) if t.eq_ignore_ascii_case("application/x-www-form-urlencoded") => {
                BodyType::Form
            }
            _ => BodyType::Other,
        };
        let json = wants_json(headers);
        // HEAD, prefetches and other methods set no cookie at all.
        let quiet = !matches!(verb, Verb::Get | Verb::Post) || prefetch;
        let csrf_cookie = jar.csrf.filter(|v| csrf::well_formed(v)).map(str::to_owned);
        // A browser without a CSRF cookie gets one, so the page it is shown
        // (a refused POST's page included) can be submitted. The JSON API
        // needs none: its POSTs must be application/json (a CORS preflight).
        let new_csrf = (csrf_cookie.is_none() && !quiet && !json).then(csrf::new_cookie_value);
        // Cookies, forms and redirects use the path the browser asked for,
        // which a router in front may have shortened (axum's `nest`).
        let stripped = stripped_prefix(parts);
        let full_path;
        let path = if stripped.is_empty() {
            parts.uri.path()
        } else {
            full_path = format!("{stripped}{}", parts.uri.path());
            &full_path
        };
        let cookie_path = found.cookie_path_in(path, parts.uri.path());
        if !scopable(cookie_path) {
            return None;
        }
        // Pages, forms and redirects use the URL without the probe's mark.
        let probe_marked = query.is_some_and(|q| q.split('&').any(|pair| pair == PROBE_MARK));
        let url = match query {
            Some(query) if probe_marked => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| *pair != PROBE_MARK)
                    .collect();
                if kept.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}?{}", kept.join("&"))
                }
            }
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        // A member of a family gated under its own key was handed over.
        let bound_only = config.flow.has_families()
            && config.flow.membership(&found.id).is_some()
            && config.flow.ticket_key(&found.id) == key;
        Some(Self {
            ticket: found.id.clone(),
            key,
            bound_only,
            cookie_path: cookie_path.to_owned(),
            prefetch,
            json,
            body_type,
            content_length: headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            path_len: path.len(),
            url,
            locale: lang::negotiate(
                query,
                jar.lang,
                headers,
                config.pages.languages(),
                config.flow.default_locale(),
            ),
            lang_choice: if quiet { None } else { lang::from_query(query) },
            csrf_cookie,
            new_csrf,
            probe: jar.probe == Some(probe_value(&key)),
            probe_marked,
            same_origin: verb != Verb::Post || same_origin_post(config, parts),
            hint: config.ticket_hint.as_ref().and_then(|hint| hint(&found.id)),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            client: if verb == Verb::Post {
                client_address::client_of(&config.client_address, &parts.extensions, headers)
            } else {
                None
            },
        })
    }

    /// The request's path.
    pub(crate) fn path(&self) -> &str {
        &self.url[..self.path_len]
    }

    /// The request's query, if any.
    pub(crate) fn query(&self) -> Option<&str> {
        self.url.get(self.path_len + 1..)
    }

    /// The URL with the probe's mark added: where the probe redirects.
    pub(crate) fn marked_url(&self) -> String {
        let join = if self.query().is_some() { '&' } else { '?' };
        format!("{}{join}{PROBE_MARK}", self.url)
    }
}

/// The start of the path the browser asked for that a router in front of
/// the layer stripped (axum's `nest` does, and keeps the whole URI as
/// `OriginalUri`): `/api` for `/api/tickets/abc` seen here as `/tickets/abc`.
/// Empty when nothing was stripped, or when the two paths do not tell.
pub(crate) fn stripped_prefix(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        let (asked, seen) = (original.path(), parts.uri.path());
        if asked.len() > seen.len() && asked.ends_with(seen) {
            return &asked[..asked.len() - seen.len()];
        }
    }
    #[cfg(not(feature = "axum"))]
    let _ = parts;
    ""
}

/// Whether Fetch Metadata and `Origin` allow this POST (checklist 9.2).
fn same_origin_post(config: &Config, parts: &Parts) -> bool {
    let public = config.public_origin.as_ref().map(|o| o.as_str());
    let allowed = origin::post_allowed(
        &parts.headers,
        &origin::Arrival {
            scheme: arrival_scheme(config, parts),
            authority: parts.uri.authority().map(|a| a.as_str()),
            public,
        },
        &config.allowed_origins,
        config.trust_same_site,
    );
    if !allowed && public.is_none() && origin::refused_behind_a_host_rewrite(&parts.headers) {
        tracing::warn!(
            "tower-otp refused a POST whose Origin names the X-Forwarded-Host but not the Host: \
             a reverse proxy rewrites Host. Name the site's origin with \
             OtpLayer::with_public_origin (README: \"Behind a reverse proxy\")"
        );
    }
    allowed
}

/// The scheme the request came over: the URI's own (HTTP/2), else `https`
/// behind a trusted proxy (plain HTTP was redirected before the gate), else
/// what the cookie setting implies (`Secure` cookies: the site is on HTTPS).
/// With a public origin, POSTs are checked against it instead.
fn arrival_scheme<'a>(config: &Config, parts: &'a Parts) -> &'a str {
    match parts.uri.scheme_str() {
        Some(scheme) => scheme,
        None if config.trust_forwarded_proto || config.secure() => "https",
        None => "http",
    }
}

/// Whether the client speaks the JSON API: it accepts JSON, or sends it.
pub(crate) fn wants_json(headers: &http::HeaderMap) -> bool {
    let says = |name, mime: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(mime))
    };
    says(ACCEPT, "application/json") || says(CONTENT_TYPE, "application/json")
}

/// Whether the request is a prefetch that must change nothing.
fn is_prefetch(headers: &http::HeaderMap) -> bool {
    ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("prefetch"))
        })
}

/// The probe's value names the ticket, so a probe earned on one ticket claims no other.
pub(crate) fn probe_value(key: &TicketKey) -> &str {
    &key.as_str()[..16]
}

/// The media type of `Content-Type`, without parameters.
fn media_type(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "axum")]
    #[test]
    fn stripped_prefix_table() {
        let cases = [
            (Some("/api/tickets/a"), "/tickets/a", "/api"),
            (Some("/api/v1/tickets/a?x=1"), "/tickets/a", "/api/v1"),
            (Some("/tickets/a"), "/tickets/a", ""),
            // Paths that do not tell (a rewrite in front): nothing is added.
            (Some("/x/y"), "/z", ""),
            (Some("/a"), "/tickets/a", ""),
            (None, "/tickets/a", ""),
        ];
        for (asked, seen, want) in cases {
            let mut request = http::Request::get(seen).body(()).unwrap();
            if let Some(asked) = asked {
                let uri: http::Uri = asked.parse().unwrap();
                request
                    .extensions_mut()
                    .insert(axum::extract::OriginalUri(uri));
            }
            let (parts, ()) = request.into_parts();
            assert_eq!(stripped_prefix(&parts), want, "{asked:?} {seen}");
        }
    }

    #[test]
    fn prefetch_headers() {
        for (name, value, want) in [
            ("sec-purpose", "prefetch", true),
            ("sec-purpose", "prefetch;prerender", true),
            ("purpose", "prefetch", true),
            ("x-moz", "prefetch", true),
            ("sec-purpose", "other", false),
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            assert_eq!(is_prefetch(&headers), want, "{name}: {value}");
        }
        assert!(!is_prefetch(&http::HeaderMap::new()));
    }
}
