//! [`OtpService`]: classifies each request and passes it or answers it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::config::Config;
use crate::device::DeviceCookie;
use crate::gate;
use crate::mail::BoxError;
use crate::ticket::{Found, TicketSource};
use crate::verified::VerifiedDevice;
use crate::web::{proto, respond};

/// The service [`OtpLayer`](crate::OtpLayer) wraps around `S`.
#[derive(Debug, Clone)]
pub struct OtpService<S, T> {
    inner: S,
    config: Arc<Config>,
    source: T,
}

impl<S, T> OtpService<S, T> {
    pub(crate) fn new(inner: S, config: Arc<Config>, source: T) -> Self {
        Self {
            inner,
            config,
            source,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for OtpService<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    T: TicketSource,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let found = match self.source.find(&mut parts) {
            Found::None => {
                return ResponseFuture::inner(
                    self.inner.call(Request::from_parts(parts, body)),
                    false,
                );
            }
            Found::Ticket(found) => found,
            Found::Malformed => {
                return ResponseFuture::ready(respond::text(StatusCode::NOT_FOUND, "not found"));
            }
            Found::Misconfigured(why) => {
                tracing::error!(why, "tower-otp is misconfigured; refusing the request");
                return ResponseFuture::ready(respond::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server error",
                ));
            }
        };
        let config = &self.config;
        if config.trust_forwarded_proto && proto::arrived_over_http(&parts.headers) {
            // Checklist 16.1: no device cookie is minted or accepted over plain HTTP.
            return ResponseFuture::ready(match proto::https_url(&parts) {
                Some(url) => respond::redirect_to_https(&url),
                None => respond::text(StatusCode::BAD_REQUEST, "bad request"),
            });
        }
        let key = config.flow.ticket_key(&found.id);
        let name = config.cookie.name(&key);
        // Try each cookie of that name: another host may plant one with a more specific path.
        let now = config.flow.now();
        let claims = DeviceCookie::find_all(&parts.headers, name.as_str())
            .find_map(|token| config.tokens.verify(token, &key, now).ok());
        match claims {
            Some(claims) if !config.revocation_check => {
                parts
                    .extensions
                    .insert(VerifiedDevice::new(found.id, key, claims));
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), true)
            }
            claims => {
                // The gate may call the inner service later: take the one that was
                // driven to readiness and leave a fresh clone behind.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let config = Arc::clone(config);
                let request = Request::from_parts(parts, body);
                ResponseFuture::boxed(Box::pin(gate::run(
                    config, inner, request, found, key, claims,
                )))
            }
        }
    }
}

pin_project! {
    /// The future of [`OtpService`]'s responses.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] future: F, no_store: bool },
        Ready { response: Option<Response<Bytes>> },
        Boxed { future: BoxFuture<Result<Response<ResponseBody<B>>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn inner(future: F, no_store: bool) -> Self {
        Self {
            kind: Kind::Inner { future, no_store },
        }
    }

    fn ready(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn boxed(future: BoxFuture<Result<Response<ResponseBody<B>>, E>>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, no_store } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                if *no_store {
                    gate::no_store_unless_set(&mut response);
                }
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            KindProj::Ready { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(ResponseBody::gate)))
            }
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
