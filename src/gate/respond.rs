//! Gate responses: status codes, security headers, HTML, JSON and redirects.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::flow::{Challenge, Rejection};
use crate::mail::outbox::Delivery;
use crate::pages::RequestProblem;

/// The status of a rejected action.
pub(crate) fn rejection_status(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::InvalidAddress(_) | Rejection::AddressRequired | Rejection::InvalidCode(_) => {
            StatusCode::BAD_REQUEST
        }
        Rejection::WrongCode { .. } | Rejection::Expired | Rejection::NoCode => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Rejection::TooManyAttempts | Rejection::Throttled { .. } | Rejection::Locked { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Rejection::Bound => StatusCode::CONFLICT,
        // No address can be typed here, whoever asks: not a matter of
        // authenticating (401) nor of retrying.
        Rejection::NotPrebound => StatusCode::FORBIDDEN,
        Rejection::MailFailed(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The status and JSON error code of a request problem.
pub(crate) fn problem_status(problem: RequestProblem) -> (StatusCode, &'static str) {
    match problem {
        RequestProblem::Csrf => (StatusCode::FORBIDDEN, "csrf"),
        RequestProblem::CrossSite => (StatusCode::FORBIDDEN, "csrf"),
        RequestProblem::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        RequestProblem::UnsupportedMediaType => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        RequestProblem::CookiesRequired => (StatusCode::BAD_REQUEST, "cookies_required"),
        _ => (StatusCode::BAD_REQUEST, "bad_request"),
    }
}

/// The CSP of HTML pages: nothing but the page's own nonce'd style and script.
pub(crate) fn html_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

const JSON_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every gate response (checklist 12).
pub(crate) fn secure(headers: &mut HeaderMap, csp: &str) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}

/// The `Retry-After` of every `503` the gate answers, in seconds: the
/// store failed, or refused a call at once because as many as the flow
/// allows were in flight. Long enough for a burst to drain, short enough
/// that a person who taps again is not held back by it.
pub(crate) const UNAVAILABLE_RETRY_AFTER: u64 = 2;

fn build(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    csp: &str,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(headers, csp);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Every 503 says when to come back.
        retry_after(&mut response, UNAVAILABLE_RETRY_AFTER);
    }
    response
}

/// An HTML page.
pub(crate) fn html(status: StatusCode, page: String, nonce: &str) -> Response<Bytes> {
    build(
        status,
        "text/html; charset=utf-8",
        Bytes::from(page),
        &html_csp(nonce),
    )
}

/// A JSON document.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Bytes> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    build(
        status,
        "application/json; charset=utf-8",
        Bytes::from(body),
        JSON_CSP,
    )
}

/// An answer outside any page (404, 500, 400): plain text, or
/// `{"error": code, "message": ...}` for a JSON client.
pub(crate) fn plain(
    status: StatusCode,
    code: &str,
    message: &'static str,
    json: bool,
) -> Response<Bytes> {
    if json {
        return self::json(status, &json!({ "error": code, "message": message }));
    }
    build(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(message.as_bytes()),
        JSON_CSP,
    )
}

/// 303 See Other to `location` (always the request's own path and query).
pub(crate) fn see_other(location: &str) -> Response<Bytes> {
    let mut response = build(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        Bytes::new(),
        JSON_CSP,
    );
    if let Ok(value) = HeaderValue::from_str(&same_site_location(location)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 308 Permanent Redirect to the same URL over HTTPS (with a JSON body
/// `{"error": "https_required", "location": ...}` for a JSON client).
pub(crate) fn redirect_to_https(url: &str, json: bool) -> Response<Bytes> {
    let mut response = if json {
        let value = json!({ "error": "https_required", "message": "use HTTPS", "location": url });
        self::json(StatusCode::PERMANENT_REDIRECT, &value)
    } else {
        build(
            StatusCode::PERMANENT_REDIRECT,
            "text/plain; charset=utf-8",
            Bytes::new(),
            JSON_CSP,
        )
    };
    if let Ok(value) = HeaderValue::from_str(url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A request's own path and query made safe as a `Location`: browsers read
/// `\` as `/`, and a path starting with `//` as another host, so `\` is
/// percent-encoded (the router decodes it back to the same ticket) and a
/// leading `//` becomes `/.//`.
pub(crate) fn same_site_location(path_and_query: &str) -> String {
    let location = path_and_query.replace('\\', "%5C");
    if location.starts_with("//") {
        format!("/.{location}")
    } else if location.starts_with('/') {
        location
    } else {
        format!("/{location}")
    }
}

/// Adds `Retry-After` (seconds).
pub(crate) fn retry_after(response: &mut Response<Bytes>, seconds: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// The JSON picture of a challenge.
pub(crate) fn challenge_json(challenge: &Challenge) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("state".into(), json!(challenge.state.as_str()));
    map.insert("bound".into(), json!(challenge.bound));
    map.insert("masked_email".into(), json!(challenge.masked_address));
    map.insert("expires_in".into(), json!(challenge.expires_in().as_secs()));
    map.insert("resend_in".into(), json!(challenge.resend_in().as_secs()));
    map.insert("attempts_left".into(), json!(challenge.attempts_left));
    map.insert(
        "locked_until".into(),
        json!(challenge.locked_until.map(|t| t.as_secs())),
    );
    map
}

/// Adds where the ticket's latest code mail stands to a challenge's JSON:
/// `"delivery"` (`queued`, `sending`, `sent`, `refused`, `failed`,
/// `expired`, `superseded`; absent without news) and, while queued,
/// `"delivery_eta"` (whole seconds until it should leave).
pub(crate) fn delivery_json(map: &mut Map<String, Value>, delivery: Option<Delivery>) {
    let Some(delivery) = delivery else {
        return;
    };
    map.insert("delivery".into(), json!(delivery.as_str()));
    if let Some(eta) = delivery.eta() {
        map.insert(
            "delivery_eta".into(),
            json!(eta.as_secs_f64().ceil() as u64),
        );
    }
}

/// The message of a request problem, for the JSON API.
pub(crate) fn problem_message(problem: RequestProblem) -> &'static str {
    match problem {
        RequestProblem::Csrf => "the form's CSRF token is missing or wrong; reload the page",
        RequestProblem::CrossSite => "cross-site requests are refused",
        RequestProblem::TooLarge => "the request body is too large",
        RequestProblem::UnsupportedMediaType => {
            "the JSON API takes only Content-Type: application/json"
        }
        RequestProblem::CookiesRequired => {
            "the first-device cookie did not come back: keep cookies and repeat the request"
        }
        _ => "the request is not a valid gate action",
    }
}

/// The JSON body of a rejected action.
pub(crate) fn rejection_json(rejection: &Rejection, challenge: Option<&Challenge>) -> Value {
    let mut map = challenge.map(challenge_json).unwrap_or_default();
    map.insert("error".into(), json!(rejection.error_code()));
    map.insert("message".into(), json!(rejection.to_string()));
    if let Rejection::WrongCode { attempts_left } = rejection {
        map.insert("attempts_left".into(), json!(attempts_left));
    }
    if let Some(wait) = rejection.retry_after() {
        map.insert("retry_after".into(), json!(wait.as_secs()));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_says_where_the_mail_stands() {
        let mut map = Map::new();
        delivery_json(&mut map, None);
        assert!(map.is_empty());
        let queued = Delivery::Queued {
            eta: std::time::Duration::from_millis(12_100),
        };
        delivery_json(&mut map, Some(queued));
        assert_eq!(
            Value::Object(map.clone()),
            json!({"delivery": "queued", "delivery_eta": 13})
        );
        let mut map = Map::new();
        delivery_json(&mut map, Some(Delivery::Refused));
        assert_eq!(Value::Object(map), json!({"delivery": "refused"}));
    }

    #[test]
    fn redirect_locations_stay_on_the_site() {
        let cases = [
            ("/tickets/abc", "/tickets/abc"),
            ("/tickets/abc?x=1", "/tickets/abc?x=1"),
            ("/\\evil.com", "/%5Cevil.com"),
            ("//evil.com", "/.//evil.com"),
            ("/\\/evil.com", "/%5C/evil.com"),
            ("evil", "/evil"),
        ];
        for (input, want) in cases {
            assert_eq!(same_site_location(input), want, "{input}");
        }
    }

    #[test]
    fn every_gate_response_carries_the_security_headers() {
        for response in [
            html(StatusCode::UNAUTHORIZED, "<p>x</p>".into(), "n0nce"),
            json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": "throttled"}),
            ),
            plain(StatusCode::NOT_FOUND, "not_found", "not found", false),
            plain(StatusCode::NOT_FOUND, "not_found", "not found", true),
            see_other("/tickets/a"),
        ] {
            let h = response.headers();
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
            assert!(!csp.contains("unsafe-inline"));
            assert!(
                h[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .contains("charset=utf-8")
            );
        }
        let csp = html_csp("abc");
        for directive in [
            "style-src 'nonce-abc'",
            "script-src 'nonce-abc'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive}");
        }
    }

    /// Every 503, page, JSON or plain, says when to come back; no other
    /// status gets a `Retry-After` from here.
    #[test]
    fn every_503_carries_retry_after() {
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        for response in [
            html(unavailable, "<p>x</p>".into(), "n0nce"),
            json(unavailable, &json!({"error": "unavailable"})),
            plain(unavailable, "unavailable", "service unavailable", false),
        ] {
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        }
        let ok = html(StatusCode::UNAUTHORIZED, "<p>x</p>".into(), "n0nce");
        assert!(ok.headers().get(header::RETRY_AFTER).is_none());
    }
}
