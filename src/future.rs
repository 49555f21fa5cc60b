//! [`ResponseFuture`]: the future of [`OtpService`](crate::OtpService)'s responses.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::body::GateBody;
use crate::pass::no_store_unless_set;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pin_project! {
    /// The future of [`OtpService`](crate::OtpService)'s responses.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        // The inner service's response; `verified` marks it `no-store` unless it says otherwise.
        Inner { #[pin] future: F, verified: bool },
        // An answer known at once (404, 500, the HTTPS redirect).
        Ready { response: Option<Response<Bytes>> },
        // The gate, which reads the store.
        Gate { future: BoxFuture<Result<Response<B>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    /// The inner service's response, untouched.
    pub(crate) fn passed(future: F) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                verified: false,
            },
        }
    }

    /// The inner service's response to a verified device.
    pub(crate) fn verified(future: F) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                verified: true,
            },
        }
    }

    pub(crate) fn ready(response: Response<Bytes>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn gate(future: BoxFuture<Result<Response<B>, E>>) -> Self {
        Self {
            kind: Kind::Gate { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: GateBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, verified } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                if *verified {
                    no_store_unless_set(&mut response);
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Ready { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(B::from_gate)))
            }
            KindProj::Gate { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
