//! How a request passes to the inner service: with its [`VerifiedDevice`],
//! under the `tracing` record of the decision that let it, and with a
//! response kept out of caches.

use http::header::{CACHE_CONTROL, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::decision::Decision;
use crate::extract::VerifiedDevice;
use crate::ticket::TicketKey;

/// The only way a request reaches the inner service with a [`VerifiedDevice`].
pub(crate) fn pass<S, B>(
    inner: &mut S,
    mut parts: Parts,
    body: B,
    device: VerifiedDevice,
) -> S::Future
where
    S: Service<Request<B>>,
{
    parts.extensions.insert(device);
    inner.call(Request::from_parts(parts, body))
}

/// The span of one decision, at DEBUG so it costs a level check when
/// disabled: the check comes first, because `tracing`'s `log` feature
/// (which tower turns on) otherwise records the fields for `log` even with
/// no subscriber. Its fields: `decision`, what the request head decided;
/// `outcome`, `passed` (to the inner service), `answered` (a response the
/// layer wrote at once) or what the gate decided after reading the store
/// (`probe`, `page`, `action`...); `status`, of a response the layer wrote;
/// `ticket`, the label of the ticket's keyed hash. Never a code, a token, a
/// ticket id or an address.
pub(crate) fn span(
    decision: Decision,
    key: Option<&TicketKey>,
    outcome: Option<&'static str>,
    status: Option<StatusCode>,
) -> tracing::Span {
    if !tracing::level_enabled!(tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        "tower_otp.gate",
        decision = decision.name(),
        outcome,
        status = status.map(|s| s.as_u16()),
        ticket = key.map(TicketKey::label),
    )
}

/// The [`span`] of a decision that nothing follows inside the layer (the
/// request passed to the inner service, or was answered at once): opened
/// and closed in place. With DEBUG off this is one level check, and no
/// `Span` to build and drop.
#[inline]
pub(crate) fn note(
    decision: Decision,
    key: Option<&TicketKey>,
    outcome: &'static str,
    status: Option<StatusCode>,
) {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        drop(span(decision, key, Some(outcome), status));
    }
}

/// A ticket page is a capability page: keep it out of caches unless the app says otherwise.
///
/// Two lookups rather than the entry API: `insert` is code axum already runs
/// on every response, so the pair adds less code to the verified path.
pub(crate) fn no_store_unless_set<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
