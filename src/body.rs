//! [`GateBody`]: response bodies the gate can write its own pages into.

use bytes::Bytes;
use http_body::Body;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt as _, Full};

/// A response body type that can also hold the gate's own answers: its
/// challenge pages, JSON documents and empty redirects.
///
/// [`OtpService`](crate::OtpService) answers with the inner service's body
/// type, so a verified request's response passes through untouched: no
/// wrapper to poll through, and axum, seeing its own `Body` come back, does
/// not box it again. The gate's answers are built with
/// [`from_gate`](GateBody::from_gate).
///
/// Implemented for axum's `Body` (feature `axum`), `http_body_util`'s
/// [`Full<Bytes>`], [`BoxBody`] and [`UnsyncBoxBody`].
///
/// With axum, a route's service answers with axum's `Body`, so `route_layer`
/// and `layer` just work. Layers stacked *inside* the gate in one
/// `ServiceBuilder` may answer with their own body types (tower-http's
/// `TraceLayer` or `CompressionLayer`, say), which cannot hold a page: turn
/// their responses back into axum's with `IntoResponse::into_response`, or
/// apply them with their own `route_layer` call.
///
/// ```
/// use axum::{Router, response::IntoResponse, routing::get};
/// use tower::ServiceBuilder;
/// use tower_http::trace::TraceLayer;
/// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
///
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
/// let app: Router = Router::new()
///     .route("/tickets/{ticket}", get(|| async { "ticket" }))
///     .route_layer(
///         ServiceBuilder::new()
///             .layer(OtpLayer::new(flow).with_ticket_param("ticket"))
///             .map_response(IntoResponse::into_response)
///             .layer(TraceLayer::new_for_http()),
///     );
/// ```
///
/// Outside axum, a service with another body type boxes it first:
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt as _, Empty};
/// use tower::{ServiceBuilder, ServiceExt as _};
/// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A body type the gate cannot write into (hyper's `Incoming` from a
/// // proxied upstream, say); `Empty` stands in for it here.
/// let upstream = tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<Bytes>::new()))
/// });
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
/// let otp = OtpLayer::new(flow).with_ticket_path("/tickets/{ticket}").unwrap();
/// let service = ServiceBuilder::new()
///     .layer(otp)
///     .map_response(|r: http::Response<Empty<Bytes>>| r.map(|body| body.boxed_unsync()))
///     .service(upstream);
///
/// // A first visit: the gate answers itself (its probe), in the boxed body type.
/// let request = http::Request::get("/tickets/abc").body(String::new()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), http::StatusCode::SEE_OTHER);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "the gate cannot write its pages into a `{Self}` response body",
    note = "the inner service's body must implement `tower_otp::GateBody`: axum's `Body`, \
            `http_body_util::Full<Bytes>`, `BoxBody` or `UnsyncBoxBody`; with axum, map the \
            inner responses with `IntoResponse::into_response`; otherwise box the body with \
            `http_body_util::BodyExt::boxed_unsync`"
)]
pub trait GateBody: Body<Data = Bytes> + Sized {
    /// A body holding `bytes`, which may be empty.
    ///
    /// The body must yield exactly `bytes` and end, report their length as
    /// an exact size hint (servers write it as `Content-Length`, also for
    /// `HEAD`), and, when `bytes` is empty, report at once that it has
    /// ended. The implementations here all do.
    fn from_gate(bytes: Bytes) -> Self;
}

#[cfg(feature = "axum")]
impl GateBody for axum::body::Body {
    fn from_gate(bytes: Bytes) -> Self {
        Self::from(bytes)
    }
}

impl GateBody for Full<Bytes> {
    fn from_gate(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl<E: 'static> GateBody for UnsyncBoxBody<Bytes, E> {
    fn from_gate(bytes: Bytes) -> Self {
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

impl<E: 'static> GateBody for BoxBody<Bytes, E> {
    fn from_gate(bytes: Bytes) -> Self {
        Full::new(bytes).map_err(|never| match never {}).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bytes_of<B: GateBody>(body: B) -> Bytes
    where
        B::Error: std::fmt::Debug,
    {
        body.collect().await.unwrap().to_bytes()
    }

    /// Every body type yields the page once, with its exact size; an empty
    /// one ends at once.
    #[tokio::test]
    async fn every_body_holds_the_page() {
        async fn check<B: GateBody>()
        where
            B::Error: std::fmt::Debug,
        {
            let page = B::from_gate(Bytes::from_static(b"page"));
            assert_eq!(page.size_hint().exact(), Some(4));
            assert_eq!(bytes_of(page).await, "page");
            let empty = B::from_gate(Bytes::new());
            assert!(empty.is_end_stream());
            assert_eq!(bytes_of(empty).await, "");
        }
        check::<Full<Bytes>>().await;
        check::<UnsyncBoxBody<Bytes, std::io::Error>>().await;
        check::<BoxBody<Bytes, std::io::Error>>().await;
        #[cfg(feature = "axum")]
        check::<axum::body::Body>().await;
    }
}
